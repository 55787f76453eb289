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


def report_into(out: Path):
    return outdir.replacing(out, outdir.REPORT_MARKER, "hfstats report")


def test_a_run_killed_between_its_two_renames_gets_its_earlier_result_back(tmp_path: Path):
    # Killed after moving the earlier result aside and before putting the new one in place.
    pid = dead_pid()
    aside = tmp_path / f".out.old-{pid}-0badc0de"
    aside.mkdir()
    (aside / "index.html").write_text("earlier")
    (aside / outdir.REPORT_MARKER).write_text("{}")
    half = tmp_path / f".out.new-{pid}-12345678"
    half.mkdir()
    (half / "partial").write_text("x")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with report_into(out):
            raise RuntimeError("this run fails too")
    assert (out / "index.html").read_text() == "earlier"
    assert siblings(tmp_path) == ["out"]


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path):
    pid = dead_pid()
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("earlier")
    (out / outdir.REPORT_MARKER).write_text("{}")
    for name in (f".out.new-{pid}-aaaaaaaa", f".out.old-{pid}-bbbbbbbb"):
        (tmp_path / name).mkdir()
    with report_into(out) as staging:
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
    with report_into(tmp_path / "out") as staging:
        (staging / "index.html").write_text("new")
    assert siblings(tmp_path) == [theirs.name, unrelated.name, "out"]


def test_what_a_killed_run_really_leaves_is_cleared_by_the_next(tmp_path: Path):
    # The leftovers' names come from the run itself, not made up by the test.
    out = tmp_path / "out"
    killed = (
        "import os, sys; from pathlib import Path; from hfstats import outdir\n"
        "with outdir.replacing(Path(sys.argv[1]), outdir.REPORT_MARKER, 'hfstats report') as s:\n"
        "    (s / 'index.html').write_text('half'); os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", killed, str(out)]).returncode == 9
    assert any(name.startswith(".out.new-") for name in siblings(tmp_path))
    with report_into(out) as staging:
        (staging / "index.html").write_text("new")
    assert siblings(tmp_path) == ["out"]


def test_leftovers_of_a_run_with_our_own_pid_are_cleared(tmp_path: Path):
    # In a container every run may get the same pid: a leftover carrying ours is not ours.
    (tmp_path / f".out.new-{os.getpid()}-aaaaaaaa").mkdir()
    with report_into(tmp_path / "out") as staging:
        (staging / "index.html").write_text("new")
    assert siblings(tmp_path) == ["out"]


def test_a_lock_file_removed_by_the_writer_before_is_locked_again(tmp_path: Path, monkeypatch):
    # The writer before unlinks the lock file as it finishes: a lock taken on the file it
    # removed (opened just before) locks nothing the next writer would meet.
    lock_file = tmp_path / ".out.lock"
    lock_file.write_text("")
    opened_before = open(lock_file, "a+")  # noqa: SIM115 - closed by the lock
    lock_file.unlink()
    real_open = open
    locked: list[str] = []

    def first_the_removed_file(*args, **kwargs):
        locked.append(str(args[0]))
        return opened_before if len(locked) == 1 else real_open(*args, **kwargs)

    monkeypatch.setattr(outdir.locks, "open", first_the_removed_file, raising=False)
    with report_into(tmp_path / "out"):
        assert (tmp_path / ".out.lock").exists()
    assert len(locked) == 2


def test_a_second_writer_of_the_same_folder_is_busy_not_swapped_in(tmp_path: Path):
    # Two reports into one folder at once swapped each other's folders away ('Directory not
    # empty'), leaving the earlier report hidden beside it.
    from hfstats.errors import BusyError

    out = tmp_path / "out"
    with report_into(out) as first:
        (first / "index.html").write_text("first")
        (first / outdir.REPORT_MARKER).write_text("{}")
        with pytest.raises(BusyError, match=rf"another export or report \(pid {os.getpid()}\)"):
            with report_into(out):
                pass
    assert (out / "index.html").read_text() == "first"
    assert siblings(tmp_path) == ["out"]  # no lock file left either


def test_a_folder_another_command_wrote_since_the_first_check_is_not_replaced(tmp_path: Path):
    # A report collects its data between its first check and the swap: an export into the same
    # folder may finish meanwhile, and must not be replaced by the report.
    from hfstats.errors import UsageError

    out = tmp_path / "out"
    outdir.check_replaceable(out, outdir.REPORT_MARKER, "hfstats report")  # absent: fine
    out.mkdir()
    (out / outdir.EXPORT_MARKER).write_text("{}")
    with pytest.raises(UsageError, match="not written by `hfstats report`"):
        with report_into(out):
            pass
    assert (out / outdir.EXPORT_MARKER).exists()


def test_an_earlier_export_put_back_is_not_deleted_by_a_report(tmp_path: Path):
    # An export killed between its renames, then a report into the same folder: the export is
    # put back, and the report refuses it as a folder it did not write.
    from hfstats.errors import UsageError

    aside = tmp_path / f".out.old-{dead_pid()}-0badc0de"
    aside.mkdir()
    (aside / outdir.EXPORT_MARKER).write_text("{}")
    with pytest.raises(UsageError, match="not written by `hfstats report`"):
        with report_into(tmp_path / "out"):
            pass
    assert (tmp_path / "out" / outdir.EXPORT_MARKER).exists()


def test_an_output_folder_whose_full_path_is_not_utf8_is_refused(tmp_path: Path):
    from hfstats.errors import UsageError

    odd = Path(os.fsdecode(str(tmp_path).encode() + b"/bad\xffdir")) / "out"
    with pytest.raises(UsageError, match="not valid UTF-8"):
        outdir.check_replaceable(odd, outdir.EXPORT_MARKER, "hfstats export")


def test_a_folder_where_nothing_can_be_written_names_that_folder(tmp_path: Path):
    from hfstats.errors import UsageError

    with pytest.raises(UsageError, match="cannot write in /proc"):
        with report_into(Path("/proc/hfstats-report")):
            pass


def test_an_existing_folder_in_a_folder_that_cannot_be_written_is_refused_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Found only when the swap began: after a report had run all its queries.
    from hfstats.errors import UsageError

    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.REPORT_MARKER).write_text("{}")
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: path != tmp_path and real_access(path, mode)
    )
    with pytest.raises(UsageError, match="cannot write in"):
        outdir.check_replaceable(out, outdir.REPORT_MARKER, "hfstats report")


def test_a_full_disk_leaves_no_lock_file_and_is_no_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import errno

    from hfstats import locks
    from hfstats.errors import HfstatsError, UsageError

    class FullDisk:
        """A file whose writes find no space left, as on a full disk."""

        def __init__(self, file) -> None:
            self._file = file

        def __getattr__(self, name: str):
            return getattr(self._file, name)

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    real_open = open
    monkeypatch.setattr(locks, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)
    with pytest.raises(HfstatsError, match="No space left on device; free some space") as caught:
        with report_into(tmp_path / "out"):
            pass
    assert not isinstance(caught.value, UsageError)  # exit 1: nothing the user typed is wrong
    assert siblings(tmp_path) == []


def test_a_replaced_folder_keeps_its_mode_and_group(tmp_path: Path):
    # An export may hold private models: a folder its owner locked down must stay so, and a
    # shared folder's group (and setgid bit) must survive the swap.
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.REPORT_MARKER).write_text("{}")
    group = os.getgid() if os.getuid() else 4242  # root may give any group
    os.chown(out, -1, group)
    out.chmod(0o2750)
    with report_into(out) as staging:
        (staging / outdir.REPORT_MARKER).write_text("{}")
        (staging / "new").write_text("new")
    assert (out / "new").read_text() == "new"
    assert out.stat().st_mode & 0o7777 == 0o2750
    assert out.stat().st_gid == group


def test_a_mount_point_is_refused_before_any_work(tmp_path: Path, monkeypatch):
    # The kernel refuses to rename a mount point (a container's volume): refused up front with
    # what to do, not after a whole export, as 'check the paths you passed'.
    from hfstats.errors import UsageError

    out = tmp_path / "volume"
    out.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == out or real_ismount(path))
    with pytest.raises(UsageError, match=f"mount point.*{out / 'hfstats'}"):
        outdir.check_replaceable(out, outdir.EXPORT_MARKER, "hfstats export")
    assert siblings(tmp_path) == ["volume"]


def test_a_file_put_into_a_written_folder_is_kept_and_the_folder_not_replaced(tmp_path: Path):
    # A docs site's notes beside the report's charts: replacing the folder would delete them.
    out = tmp_path / "out"
    with report_into(out) as staging:
        (staging / "charts").mkdir()
        (staging / "charts" / "a.svg").write_text("<svg/>")
        (staging / outdir.REPORT_MARKER).write_text('{"hfstats_version": "test"}')
    (out / "charts" / "notes.md").write_text("mine")
    (out / "index.md").write_text("mine too")
    with pytest.raises(outdir.UsageError) as refused:
        with report_into(out) as staging:
            (staging / outdir.REPORT_MARKER).write_text("{}")
    assert str(refused.value) == (
        f"{out} holds charts/notes.md and 1 more, which `hfstats report` did not write and "
        "replacing the folder would delete; move it out, or choose another folder"
    )
    assert (out / "charts" / "notes.md").read_text() == "mine"
    assert (out / "index.md").read_text() == "mine too"
    # Moved out, the folder is replaced as before; its own files never count as added, nor
    # what a file browser writes into any folder it shows.
    (out / "charts" / "notes.md").unlink()
    (out / "index.md").unlink()
    (out / "charts" / ".DS_Store").write_bytes(b"\0")
    with report_into(out) as staging:
        (staging / "b.svg").write_text("<svg/>")
        (staging / outdir.REPORT_MARKER).write_text("{}")
    assert siblings(out) == [outdir.REPORT_MARKER, "b.svg"]
    with report_into(out) as staging:
        (staging / outdir.REPORT_MARKER).write_text("{}")
    assert siblings(out) == [outdir.REPORT_MARKER]


def test_a_folder_an_earlier_hfstats_wrote_without_a_file_list_is_replaced(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.REPORT_MARKER).write_text('{"hfstats_version": "0.0.9"}')
    (out / "index.html").write_text("earlier")
    with report_into(out) as staging:
        (staging / outdir.REPORT_MARKER).write_text("{}")
    assert siblings(out) == [outdir.REPORT_MARKER]
