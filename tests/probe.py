"""A Typst template that misbehaves on request, for tests of the render limits: the résumé's
`mode` picks how (`slow`: `loops` thousand empty iterations, about 0.2 ms each; `hog`: an
array of 100 million integers, about 3 GB; `pages`: `pages` page breaks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

NAME = "probe"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# Thousands of iterations (minutes) that no deadline of a test waits for.
FOREVER = 1_000_000

MAIN = """\
#let data = json(bytes(sys.inputs.data))
#let mode = data.at("mode", default: "plain")
#if mode == "slow" { for i in range(data.at("loops")) { for j in range(1000) { } } }
#if mode == "hog" { let a = range(100000000); [#a.len()] }
#if mode == "pages" { for i in range(data.at("pages")) { [page #i]; pagebreak() } }
Hello #data.at("name", default: "")
"""
META = {
    "name": NAME,
    "title": "Probe",
    "description": "Misbehaves on request, for tests.",
    "options": [
        {
            "name": "paperSize",
            "type": "choice",
            "values": ["a4", "letter"],
            "default": "a4",
            "description": "Paper size.",
        }
    ],
}


def write_probe(templates_dir: Path) -> None:
    """Add the probe template to `templates_dir`."""
    folder = templates_dir / NAME
    folder.mkdir(parents=True)
    (folder / "main.typ").write_text(MAIN, encoding="utf-8")
    (folder / "template.json").write_text(json.dumps(META), encoding="utf-8")


def templates_with_probe(root: Path) -> Path:
    """A copy of the real templates plus the probe, under `root`."""
    templates = root / "templates"
    shutil.copytree(TEMPLATES, templates)
    write_probe(templates)
    return templates


def slow(seconds: float) -> dict[str, object]:
    """A résumé that the probe takes about `seconds` to render."""
    return {"mode": "slow", "loops": int(seconds * 5000)}
