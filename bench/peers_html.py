"""The peers' input: a JSON Resume as one HTML page with its CSS, laid out like the ``classic``
Typst template (single column, serif, small-caps headings with a rule, entry heads with dates
on the right, A4 with the same margins), for WeasyPrint and Chromium. Only system fonts
(DejaVu Serif from Debian), so nothing is fetched.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

CSS = """
@page { size: A4; margin: 17mm 19mm 18mm 19mm; }
html { font-family: "DejaVu Serif", serif; font-size: 10.5pt; color: #1d1d1f; line-height: 1.35; }
body { margin: 0; }
header { text-align: center; margin-bottom: 10pt; }
h1 { font-variant: small-caps; font-weight: normal; color: #1f3a5f; font-size: 24pt; margin: 0; }
.label { font-style: italic; color: #5b5b60; margin: 2pt 0 4pt; }
.contact { font-size: 9pt; color: #5b5b60; }
.contact span + span::before { content: " · "; }
h2 { font-variant: small-caps; font-size: 12.5pt; color: #1f3a5f; font-weight: 600;
     margin: 15pt 0 7pt; display: flex; align-items: center; gap: 8pt; break-after: avoid; }
h2::after { content: ""; flex: 1; border-top: 0.6pt solid #b9bec8; }
.entry { margin-bottom: 8pt; break-inside: avoid; }
.head { display: flex; justify-content: space-between; gap: 12pt; }
.head .right { color: #5b5b60; white-space: nowrap; }
.title { font-weight: bold; }
.sub { font-style: italic; }
p { margin: 3pt 0; text-align: justify; }
ul { margin: 3pt 0 0; padding-left: 12pt; list-style: "– "; }
li { margin: 1.5pt 0; }
.keywords { font-size: 9.5pt; color: #5b5b60; }
"""
# Each section: its key, heading, and the fields of an entry's head (title, subtitle) and body.
SECTIONS = [
    ("work", "Experience", "name", "position", "summary"),
    ("volunteer", "Volunteering", "organization", "position", "summary"),
    ("education", "Education", "institution", "area", "studyType"),
    ("projects", "Projects", "name", "entity", "description"),
    ("publications", "Publications", "name", "publisher", "summary"),
    ("awards", "Awards", "title", "awarder", "summary"),
    ("skills", "Skills", "name", "level", ""),
    ("languages", "Languages", "language", "fluency", ""),
    ("interests", "Interests", "name", "", ""),
    ("references", "References", "name", "", "reference"),
]


def _e(value: object) -> str:
    return escape(str(value)) if value not in (None, "") else ""


def _month(raw: object) -> str:
    try:
        day = date.fromisoformat(str(raw)[:10])
    except ValueError:
        return _e(raw)
    return f"{day:%b %Y}"


def _entry(item: dict[str, Any], title: str, subtitle: str, body: str) -> str:
    start = item.get("startDate") or item.get("releaseDate") or item.get("date")
    dates = f"{_month(start)} – {_month(item.get('endDate')) or 'Present'}" if start else ""
    if start and not item.get("startDate"):
        dates = _month(start)
    head = f'<span class="title">{_e(item.get(title))}</span><span class="right">{dates}</span>'
    sub = f'<div class="head"><span class="sub">{_e(item.get(subtitle))}</span></div>'
    items = "".join(
        f"<li>{_e(h)}</li>" for h in item.get("highlights") or item.get("courses") or []
    )
    words = ", ".join(map(_e, item.get("keywords") or []))
    return (
        f'<div class="entry"><div class="head">{head}</div>{sub if subtitle else ""}'
        f"<p>{_e(item.get(body))}</p>{f'<ul>{items}</ul>' if items else ''}"
        f"{f'<p class=keywords>{words}</p>' if words else ''}</div>"
    )


def resume_html(resume: dict[str, Any]) -> str:
    """The whole page: header, summary and every section, in the template's order."""
    basics: dict[str, Any] = resume.get("basics") or {}
    place = ", ".join(_e(v) for v in (basics.get("location") or {}).values() if v)
    contact = [place, _e(basics.get("email")), _e(basics.get("phone")), _e(basics.get("url"))]
    contact += [
        f"{_e(p.get('network'))}: {_e(p.get('username'))}" for p in basics.get("profiles") or []
    ]
    parts = [
        (
            f"<header><h1>{_e(basics.get('name'))}</h1><div class='label'>"
            f"{_e(basics.get('label'))}</div><div class='contact'>"
            f"{''.join(f'<span>{c}</span>' for c in contact if c)}</div></header>"
            f"<section><h2>Summary</h2><p>{_e(basics.get('summary'))}</p></section>"
        )
    ]
    for key, heading, title, subtitle, body in SECTIONS:
        if entries := resume.get(key) or []:
            html = "".join(_entry(item, title, subtitle, body) for item in entries)
            parts.append(f"<section><h2>{heading}</h2>{html}</section>")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Résumé</title>'
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
