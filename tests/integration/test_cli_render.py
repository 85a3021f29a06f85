"""``vitae render``: a résumé file to a PDF on this machine, with no service running."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from vitae.cli import main
from vitae.settings import get_settings

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jsonresume-sample.json"

LETTER = (612.0, 792.0)


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment without any ``VITAE_*`` setting: no service is configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITAE_")}
    env["VITAE_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty working directory and an environment with no service in it."""
    for name in list(os.environ):
        if name.startswith("VITAE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VITAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def check_letter_pdf(path: Path) -> None:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    assert reader.pages
    for page in reader.pages:
        box = page.mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(LETTER, abs=0.5)
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Richard Hendriks" in text


def test_render_in_process_writes_a_letter_pdf(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "out" / "cv.pdf"
    out.parent.mkdir()
    code = main(["render", str(SAMPLE), "-t", "sidebar", "-o", str(out), "--paper", "letter"])
    assert code == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out
    check_letter_pdf(out)


def run_vitae(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``vitae ARGS`` as a person runs it, with no service configured."""
    return subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "vitae", *args],
        cwd=cwd,
        env=clean_env(cwd / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a foreseeable error prints (exit status 2, no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vitae: "), lines
    return lines[0]


def test_render_as_a_command(tmp_path: Path) -> None:
    out = tmp_path / "cv.pdf"
    result = run_vitae(
        tmp_path, "render", str(SAMPLE), "-t", "sidebar", "-o", str(out), "--paper", "letter"
    )
    assert result.returncode == 0, result.stderr
    check_letter_pdf(out)


def test_render_takes_the_apis_options(tmp_path: Path) -> None:
    out = tmp_path / "cv.pdf"
    result = run_vitae(
        tmp_path,
        "render",
        str(SAMPLE),
        "--option",
        "paperSize=letter",
        "--option",
        "sectionOrder=skills,work",
        "--option",
        "accentColor=#336699",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    check_letter_pdf(out)
    text = PdfReader(out).pages[0].extract_text()
    assert text.index("Skills") < text.index("Experience") < text.index("Summary"), text


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("glitter=1", "unknown option 'glitter' for template 'classic'; its options are"),
        ("accentColor=red", "option 'accentColor' must be a hex colour"),
        ("paperSize=a3", "option 'paperSize' must be one of 'a4', 'letter'"),
    ],
)
def test_a_bad_option_is_one_line(tmp_path: Path, option: str, says: str) -> None:
    result = run_vitae(tmp_path, "render", str(SAMPLE), "--option", option)
    assert says in one_line_error(result)
    assert not (tmp_path / "resume.pdf").exists()


def test_missing_unreadable_and_unwritable_files_are_one_line(tmp_path: Path) -> None:
    missing = one_line_error(run_vitae(tmp_path, "render", "nope.json"))
    assert missing == "vitae: cannot read nope.json: No such file or directory"
    folder = one_line_error(run_vitae(tmp_path, "render", "."))
    assert folder == "vitae: cannot read .: Is a directory"
    nowhere = one_line_error(run_vitae(tmp_path, "render", str(SAMPLE), "-o", "no/such/dir.pdf"))
    assert nowhere == "vitae: cannot write no/such/dir.pdf: No such file or directory"


def test_unknown_template_as_a_command_lists_the_templates(tmp_path: Path) -> None:
    result = run_vitae(tmp_path, "render", str(SAMPLE), "-t", "../classic", "-o", "cv.pdf")
    assert one_line_error(result) == (
        "vitae: unknown template '../classic'; "
        "the templates are: academic, classic, compact, sidebar"
    )
    assert not (tmp_path / "cv.pdf").exists()
