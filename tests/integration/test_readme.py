"""The README's walk-through as a person pastes it: its ``sh`` blocks, in order, in bash,
twice in a row, against a running ``vitae dev`` (only the port differs: a free one)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from processes import spawn_vitae, wait_for_text

from support import ROOT, bare_environ, run_command
from vitae.embedded import free_port, wait_for_port

README = ROOT / "README.md"
# The walk-through: from "One export with curl" to the live status's example.
FIRST, LAST = "## One export with curl", "## Webhooks"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def walk_through() -> str:
    """The walk-through's ``sh`` blocks, joined in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(FIRST) : text.index(LAST)]
    blocks = SH_BLOCK.findall(section)
    assert len(blocks) >= 3, blocks  # the export, the local render, the live stream
    return "\n".join(blocks)


@pytest.mark.slow
def test_the_readme_walk_through_runs_as_pasted_twice(tmp_path: Path) -> None:
    port = free_port()
    env = bare_environ(
        VITAE_DATA_DIR=str(tmp_path / "data"), VITAE_PORT=str(port), TMPDIR=str(tmp_path)
    )
    script = walk_through().replace("localhost:8000", f"127.0.0.1:{port}")
    pdfs_before = set(ROOT.glob("*.pdf"))
    dev = spawn_vitae("dev", ["dev"], env=env, cwd=ROOT, logs=tmp_path)
    try:
        wait_for_port(port, dev.process, timeout=60)
        wait_for_text(dev, "Vitae is up", timeout=60)
        for run in (1, 2):
            result = run_command(["bash", "-euo", "pipefail", "-c", script], env, ROOT, 120)
            assert result.returncode == 0, (run, result.stdout, result.stderr, dev.tail())
            assert '"status": "completed"' in result.stdout, (run, result.stdout)
            assert "resume.pdf" in result.stdout, (run, result.stdout)
            assert "event: status" in result.stdout, (run, result.stdout)
    finally:
        assert dev.stop(signal.SIGINT) == 0, dev.tail()
    assert set(ROOT.glob("*.pdf")) == pdfs_before, "the walk-through writes into a temp folder"
