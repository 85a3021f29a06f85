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


def test_render_as_a_command(tmp_path: Path) -> None:
    out = tmp_path / "cv.pdf"
    command = ["render", str(SAMPLE), "-t", "sidebar", "-o", str(out), "--paper", "letter"]
    result = subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "vitae", *command],
        cwd=tmp_path,
        env=clean_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    check_letter_pdf(out)


def test_invalid_json_resume_names_the_field(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = workdir / "bad.json"
    bad.write_text('{"basics": {"name": 5}}', encoding="utf-8")
    out = workdir / "cv.pdf"
    assert main(["render", str(bad), "-o", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("vitae: ")
    assert "$.basics.name" in stderr
    assert "not a valid JSON Resume" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_a_file_that_is_not_json_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = workdir / "bad.json"
    bad.write_text("{basics:", encoding="utf-8")
    assert main(["render", str(bad), "-o", str(workdir / "cv.pdf")]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_unknown_template_is_a_readable_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "cv.pdf"
    assert main(["render", str(SAMPLE), "-t", "nope", "-o", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip() == "vitae: unknown template 'nope'"
    assert not out.exists()


def test_unknown_template_as_a_command_prints_no_traceback(tmp_path: Path) -> None:
    command = ["render", str(SAMPLE), "-t", "../classic", "-o", str(tmp_path / "cv.pdf")]
    result = subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "vitae", *command],
        cwd=tmp_path,
        env=clean_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown template" in result.stderr
    assert not (tmp_path / "cv.pdf").exists()
