"""Output folders replaced as a whole (export, report): what a killed run leaves is cleared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hfstats import outdir


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_a_run_killed_between_its_two_renames_gets_its_earlier_result_back(tmp_path: Path):
    # Killed after moving the earlier result aside and before putting the new one in place.
    pid = dead_pid()
    aside = tmp_path / f".out.old-{pid}-0badc0de"
    aside.mkdir()
    (aside / "index.html").write_text("earlier")
    half = tmp_path / f".out.new-{pid}-12345678"
    half.mkdir()
    (half / "partial").write_text("x")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with outdir.replacing(out):
            raise RuntimeError("this run fails too")
    assert (out / "index.html").read_text() == "earlier"
    assert siblings(tmp_path) == ["out"]


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path):
    pid = dead_pid()
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("earlier")
    for name in (f".out.new-{pid}-aaaaaaaa", f".out.old-{pid}-bbbbbbbb"):
        (tmp_path / name).mkdir()
    with outdir.replacing(out) as staging:
        (staging / "index.html").write_text("new")
    assert (out / "index.html").read_text() == "new"
    assert siblings(tmp_path) == ["out"]


def test_a_run_still_going_keeps_its_staging_folder(tmp_path: Path):
    # Two reports into one folder at once: neither removes the other's work in progress.
    parent_pid = os.getppid()  # alive for the whole test
    theirs = tmp_path / f".out.new-{parent_pid}-cccccccc"
    theirs.mkdir()
    unrelated = tmp_path / ".out.new-notours"
    unrelated.mkdir()
    with outdir.replacing(tmp_path / "out") as staging:
        (staging / "index.html").write_text("new")
    assert siblings(tmp_path) == [theirs.name, unrelated.name, "out"]


def test_a_second_writer_of_the_same_folder_is_busy_not_swapped_in(tmp_path: Path):
    # Two reports into one folder at once swapped each other's folders away ('Directory not
    # empty'), leaving the earlier report hidden beside it.
    from hfstats.errors import BusyError

    out = tmp_path / "out"
    with outdir.replacing(out) as first:
        (first / "index.html").write_text("first")
        with pytest.raises(BusyError, match=rf"another export or report \(pid {os.getpid()}\)"):
            with outdir.replacing(out):
                pass
    assert (out / "index.html").read_text() == "first"
    assert siblings(tmp_path) == ["out"]  # no lock file left either
