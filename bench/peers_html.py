# ruff: noqa: INP001, RUF001  (a helper of bench/pipeline.py; typographic dashes are meant)
"""The peers' input: the JSON Resume sample as one HTML page with its CSS, laid out like the
``classic`` Typst template (single column, serif, small-caps section headings with a rule,
entry heads with dates on the right, A4 with the same margins), for WeasyPrint and Chromium.

Only system fonts are used (DejaVu Serif from Debian), so nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from html import escape
from typing import Any

CSS = """
@page { size: A4; margin: 17mm 19mm 18mm 19mm; }
* { box-sizing: border-box; }
html { font-family: "DejaVu Serif", serif; font-size: 10.5pt; color: #1d1d1f;
       line-height: 1.35; }
body { margin: 0; }
header { text-align: center; margin-bottom: 10pt; }
h1 { font-variant: small-caps; font-weight: normal; color: #1f3a5f; font-size: 24pt;
     letter-spacing: 0.5pt; margin: 0; }
.label { font-style: italic; color: #5b5b60; margin: 2pt 0 4pt; }
.contact { font-size: 9pt; color: #5b5b60; }
.contact span + span::before { content: " · "; }
h2 { font-variant: small-caps; font-size: 12.5pt; color: #1f3a5f; font-weight: 600;
     margin: 15pt 0 7pt; display: flex; align-items: center; gap: 8pt;
     break-after: avoid; }
h2::after { content: ""; flex: 1; border-top: 0.6pt solid #b9bec8; }
.entry { margin-bottom: 8pt; break-inside: avoid; }
.head { display: flex; justify-content: space-between; gap: 12pt; }
.head .right { color: #5b5b60; white-space: nowrap; }
.title { font-weight: bold; }
.sub { font-style: italic; }
.note { color: #5b5b60; }
a { color: #1f3a5f; text-decoration: none; }
p { margin: 3pt 0; text-align: justify; }
ul { margin: 3pt 0 0; padding-left: 12pt; list-style: "– "; }
li { margin: 1.5pt 0; }
.keywords { font-size: 9.5pt; color: #5b5b60; }
"""

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _e(value: object) -> str:
    return escape(str(value)) if value not in (None, "") else ""


def _month(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        return escape(raw)
    return f"{MONTHS[day.month - 1]} {day.year}"


def _dates(item: dict[str, Any]) -> str:
    start, end = _month(item.get("startDate")), _month(item.get("endDate"))
    if not start:
        return end
    return f"{start} – {end or 'Present'}"


def _link(url: object) -> str:
    if not isinstance(url, str) or not url:
        return ""
    shown = url.removeprefix("https://").removeprefix("http://").rstrip("/")
    return f'<a href="{escape(url)}">{escape(shown)}</a>'


def _list(items: Iterable[object]) -> str:
    cells = "".join(f"<li>{_e(item)}</li>" for item in items)
    return f"<ul>{cells}</ul>" if cells else ""


def _entry(
    title: object, right: str, subtitle: object, right2: str, body: str = "", link: object = None
) -> str:
    head = f'<span class="title">{_e(title)}</span><span class="right">{right}</span>'
    lines = [f'<div class="head">{head}</div>']
    if subtitle or right2:
        lines.append(
            f'<div class="head"><span class="sub">{_e(subtitle)}</span>'
            f'<span class="right">{right2}</span></div>'
        )
    if link:
        lines.append(f"<div>{_link(link)}</div>")
    return f'<div class="entry">{"".join(lines)}{body}</div>'


def _section(
    title: str, items: list[dict[str, Any]], render: Callable[[dict[str, Any]], str]
) -> str:
    if not items:
        return ""
    return f"<section><h2>{title}</h2>{''.join(render(item) for item in items)}</section>"


def _work(item: dict[str, Any]) -> str:
    body = f"<p>{_e(item.get('summary'))}</p>" + _list(item.get("highlights") or [])
    return _entry(
        item.get("name"), _e(item.get("location")), item.get("position"), _dates(item), body,
        item.get("url"),
    )  # fmt: skip


def _volunteer(item: dict[str, Any]) -> str:
    body = f"<p>{_e(item.get('summary'))}</p>" + _list(item.get("highlights") or [])
    return _entry(
        item.get("organization"), "", item.get("position"), _dates(item), body, item.get("url")
    )


def _education(item: dict[str, Any]) -> str:
    courses = " · ".join(_e(c) for c in item.get("courses") or [])
    body = f'<p class="keywords"><em>Courses</em> {courses}</p>' if courses else ""
    subtitle = ", ".join(str(v) for v in (item.get("studyType"), item.get("area")) if v)
    score = f"Score: {_e(item.get('score'))}" if item.get("score") else ""
    return _entry(item.get("institution"), _dates(item), subtitle, score, body, item.get("url"))


def _project(item: dict[str, Any]) -> str:
    keywords = " · ".join(_e(k) for k in item.get("keywords") or [])
    body = f"<p>{_e(item.get('description'))}</p>" + _list(item.get("highlights") or [])
    if keywords:
        body += f'<p class="keywords"><em>Keywords</em>: {keywords}</p>'
    roles = ", ".join(str(r) for r in item.get("roles") or [])
    place = " · ".join(str(v) for v in (item.get("entity"), item.get("type")) if v)
    return _entry(item.get("name"), _dates(item), roles, _e(place), body, item.get("url"))


def _publication(item: dict[str, Any]) -> str:
    body = f"<p>{_e(item.get('summary'))}</p>"
    return _entry(
        item.get("name"), _month(item.get("releaseDate")), item.get("publisher"), "", body,
        item.get("url"),
    )  # fmt: skip


def _award(item: dict[str, Any]) -> str:
    body = f"<p>{_e(item.get('summary'))}</p>"
    return _entry(item.get("title"), _month(item.get("date")), item.get("awarder"), "", body)


def _skill(item: dict[str, Any]) -> str:
    level = f' <span class="note">({_e(item.get("level"))})</span>' if item.get("level") else ""
    keywords = ", ".join(_e(k) for k in item.get("keywords") or [])
    name = f'<span class="title">{_e(item.get("name"))}</span>'
    return f'<div class="entry">{name}{level} {keywords}</div>'


def _language(item: dict[str, Any]) -> str:
    fluency = _e(item.get("fluency"))
    return (
        f'<div class="entry"><span class="title">{_e(item.get("language"))}</span> {fluency}</div>'
    )


def _interest(item: dict[str, Any]) -> str:
    keywords = ", ".join(_e(k) for k in item.get("keywords") or [])
    return f'<div class="entry"><span class="title">{_e(item.get("name"))}</span> {keywords}</div>'


def _reference(item: dict[str, Any]) -> str:
    quote = f"<p><em>“{_e(item.get('reference'))}”</em></p>"
    return f'<div class="entry">{quote}<div class="note">— {_e(item.get("name"))}</div></div>'


def _header(basics: dict[str, Any]) -> str:
    location = basics.get("location") or {}
    place = ", ".join(
        str(v)
        for v in (
            location.get("address"),
            location.get("city"),
            location.get("region"),
            location.get("postalCode"),
            location.get("countryCode"),
        )
        if v
    )
    contact = [place, basics.get("email"), basics.get("phone")]
    links = [_link(basics.get("url"))] + [
        f"{_e(p.get('network'))}: {_e(p.get('username'))}" for p in basics.get("profiles") or []
    ]
    first = "".join(f"<span>{_e(c)}</span>" for c in contact if c)
    second = "".join(f"<span>{c}</span>" for c in links if c)
    return (
        f"<header><h1>{_e(basics.get('name'))}</h1>"
        f'<div class="label">{_e(basics.get("label"))}</div>'
        f'<div class="contact">{first}</div><div class="contact">{second}</div></header>'
    )


def resume_html(resume: dict[str, Any]) -> str:
    """The whole page: header, summary and every section of the sample, in Typst's order."""
    basics: dict[str, Any] = resume.get("basics") or {}
    summary = basics.get("summary")
    parts = [
        _header(basics),
        f"<section><h2>Summary</h2><p>{_e(summary)}</p></section>" if summary else "",
        _section("Experience", resume.get("work") or [], _work),
        _section("Volunteering", resume.get("volunteer") or [], _volunteer),
        _section("Education", resume.get("education") or [], _education),
        _section("Projects", resume.get("projects") or [], _project),
        _section("Publications", resume.get("publications") or [], _publication),
        _section("Awards", resume.get("awards") or [], _award),
        _section("Skills", resume.get("skills") or [], _skill),
        _section("Languages", resume.get("languages") or [], _language),
        _section("Interests", resume.get("interests") or [], _interest),
        _section("References", resume.get("references") or [], _reference),
    ]
    title = _e(basics.get("name")) or "Résumé"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
