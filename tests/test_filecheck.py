"""Runs the IR text tests under tests/filecheck: each file's RUN lines, FileCheck style.

A RUN line is a small shell pipeline: ``[not] tritium ARGS [2>&1] [| filecheck %s [ARGS]]``. The
tritium command runs in-process; ``filecheck`` is the Python FileCheck from PyPI. ``not`` expects a
non-zero exit. A file with no RUN line fails.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tritium.cli import main as tritium_main

ROOT = Path(__file__).parent / "filecheck"
FILES = sorted(ROOT.rglob("*.tir"))


def run_line(line: str, path: Path) -> None:
    line = line.replace("%s", str(path))
    stages = [s.strip() for s in line.split("|")]
    argv = shlex.split(stages[0])
    expect_fail = argv[0] == "not"
    if expect_fail:
        argv = argv[1:]
    merge = "2>&1" in argv
    argv = [a for a in argv if a != "2>&1"]
    assert argv[0] == "tritium", f"RUN line must run tritium: {line}"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out if merge else err):
        rc = tritium_main(argv[1:])
    if expect_fail:
        assert rc != 0, f"expected failure, got success:\n{out.getvalue()}"
    else:
        assert rc == 0, f"tritium failed ({rc}):\n{err.getvalue()}{out.getvalue()}"
    text = out.getvalue()
    for stage in stages[1:]:
        args = shlex.split(stage)
        assert args[0] == "filecheck", f"unknown pipeline stage {stage}"
        proc = subprocess.run(
            [sys.executable, "-m", "filecheck", *args[1:]], input=text, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"filecheck failed:\n{proc.stdout}{proc.stderr}\n--- input ---\n{text}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_filecheck_file(path: Path) -> None:
    runs = [ln.split("RUN:", 1)[1].strip() for ln in path.read_text().splitlines() if "RUN:" in ln]
    assert runs, f"{path} has no RUN line"
    for run in runs:
        run_line(run, path)


def test_there_are_filecheck_files() -> None:
    assert len(FILES) >= 5
