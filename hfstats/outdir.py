"""Output folders that hfstats replaces as a whole (`report --out`, `export DIR`).

A folder is replaced only if hfstats wrote it (its marker file is there, listing the files
written, and no other file was put in since) or it is empty, never the current folder or one
containing it, and only once the new contents are complete: they are written to a staging
folder beside it and swapped in.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import locks
from .errors import FREE_SPACE, BusyError, HfstatsError, UsageError, disk_full, require_utf8_path

EXPORT_MARKER = ".hfstats-export"
REPORT_MARKER = ".hfstats-report"
# Marker file -> the command that replaces a folder holding it as a whole.
_MARKERS = {EXPORT_MARKER: "hfstats export", REPORT_MARKER: "hfstats report"}


def check_replaceable(out_dir: Path, marker: str, command: str, keep: Path | None = None) -> None:
    """Refuse ``out_dir`` (resolved) unless ``command`` may replace it; ``keep`` (e.g. the
    database) must not be inside it."""
    # The folder's name counts, and so do those of the folders above it.
    require_utf8_path(out_dir, "choose another folder")
    here = Path.cwd().resolve()
    if out_dir == here or out_dir in here.parents:
        # Swapping in a new folder would pull the current directory from under the shell.
        raise UsageError(f"{out_dir} is the current folder or contains it; name a subfolder")
    if keep is not None and out_dir in keep.resolve().parents:
        raise UsageError(f"{out_dir} holds {keep}, which replacing it would delete")
    for ancestor in out_dir.parents:
        for marker_name, replacer in _MARKERS.items():
            if (ancestor / marker_name).is_file():
                # The next run of that command would delete this folder with the rest.
                raise UsageError(
                    f"{out_dir} is inside {ancestor}, which `{replacer}` replaces as a whole; "
                    "name a folder outside it"
                )
    if not out_dir.exists():
        _check_creatable(out_dir)
        return
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; name a folder")
    if os.path.ismount(out_dir):
        # The kernel refuses to rename a mount point (a container's volume), which the swap does.
        raise UsageError(
            f"{out_dir} is a mount point, which hfstats cannot replace as a whole; name a "
            f"folder inside it (e.g. {out_dir / 'hfstats'})"
        )
    if not os.access(out_dir.parent, os.W_OK | os.X_OK):
        # The new folder is staged beside it: refused now, not after a report's queries.
        raise UsageError(f"cannot write in {out_dir.parent}, where {out_dir.name} is replaced")
    if (out_dir / marker).exists():
        _refuse_files_not_written(out_dir, marker, command)
        return
    if not any(out_dir.iterdir()):
        return
    raise UsageError(
        f"{out_dir} exists and was not written by `{command}`; choose another folder "
        "(hfstats replaces only folders it wrote)"
    )


# Written by file browsers into any folder they show, holding nothing of the user's.
_BROWSER_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _files_in(folder: Path, marker: str) -> list[str]:
    """The files under ``folder`` but its marker and file browsers' own, as sorted relative
    POSIX paths."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if not path.is_dir() and path.name != marker and path.name not in _BROWSER_FILES
    )


def _refuse_files_not_written(out_dir: Path, marker: str, command: str) -> None:
    """A file someone put into a folder hfstats wrote (notes beside a report in a docs site)
    would go with the folder: refuse instead. A marker that lists no files (an earlier
    hfstats wrote it) cannot tell them apart."""
    try:
        written = json.loads((out_dir / marker).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        written = None
    if not isinstance(written, list):
        return
    added = sorted(set(_files_in(out_dir, marker)) - set(written))
    if added:
        more = f" and {len(added) - 1} more" if len(added) > 1 else ""
        raise UsageError(
            f"{out_dir} holds {added[0]}{more}, which `{command}` did not write and replacing "
            "the folder would delete; move it out, or choose another folder"
        )


def _list_files(staging: Path, marker: str) -> None:
    """Record in the marker which files the command wrote: the next run knows the others."""
    path = staging / marker
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no marker (written by the command, not here): none to list in
        return
    if isinstance(facts, dict):
        facts["files"] = _files_in(staging, marker)
        path.write_text(json.dumps(facts) + "\n", encoding="utf-8")


def _check_creatable(out_dir: Path) -> None:
    """Refuse, before any work, a folder that could not be created where it is named."""
    ancestor = out_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"cannot create {out_dir}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create {out_dir}: no permission to write in {ancestor}")


@contextmanager
def replacing(out_dir: Path, marker: str, command: str, keep: Path | None = None) -> Iterator[Path]:
    """A staging folder beside ``out_dir`` (resolved), swapped in for it when the block ends
    without an error, removed otherwise. ``out_dir`` is checked again (``check_replaceable``)
    once no other run can write it: another command may have written it since the first check."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        _recover(out_dir)
        check_replaceable(out_dir, marker, command, keep)
        staging = _sibling(out_dir, "new")
        staging.mkdir()
        try:
            yield staging
            _list_files(staging, marker)
            _keep_permissions(out_dir, staging)  # now: a read-only mode would stop the writing
            _swap_in(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


@contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """One writer per output folder: two reports into one folder at once would swap each
    other's folders away. A lock file beside it, removed when done; the kernel frees the lock
    of a killed run."""
    path = out_dir.parent / f".{out_dir.name}.lock"
    try:
        handle, pid = locks.try_lock(path, str(os.getpid()))
    except OSError as exc:
        # A full disk is no mistake of the user's (exit 1, not 2).
        if disk_full(exc):
            raise HfstatsError(
                f"cannot write in {out_dir.parent}: {exc.strerror}; {FREE_SPACE}"
            ) from None
        raise UsageError(f"cannot write in {out_dir.parent}: {exc.strerror or exc}") from None
    if handle is None:
        who = locks.pid_note(pid)
        raise BusyError(
            f"another export or report{who} is writing {out_dir}; try again when it is done"
        )
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        locks.release(handle)


def _sibling(out_dir: Path, kind: str) -> Path:
    # Named with our PID, so that a later run can tell a killed run's leftovers from the
    # folders of one still running.
    return out_dir.parent / f".{out_dir.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _recover(out_dir: Path) -> None:
    """Clear what a killed run left beside ``out_dir``: its staging folder, and the earlier
    result it had moved aside, put back when it was killed before the new one was in place."""
    pattern = re.compile(re.escape(f".{out_dir.name}.") + r"(new|old)-(\d+)-[0-9a-f]{8}")
    left = []
    for path in out_dir.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not _running(int(match[2])):
            left.append((match[1], path))
    moved_aside = sorted(
        (path for kind, path in left if kind == "old"), key=lambda p: p.stat().st_mtime
    )
    if moved_aside and not out_dir.exists():
        moved_aside.pop().rename(out_dir)
    for _, path in left:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def _keep_permissions(out_dir: Path, staging: Path) -> None:
    """Give the new folder the mode and group of the one it replaces: a folder locked down to
    its owner (it may hold private models) must stay so."""
    try:
        previous = out_dir.stat()
    except FileNotFoundError:
        return
    try:
        os.chown(staging, -1, previous.st_gid)
    except PermissionError:
        pass  # only a member of that group, or root, may: the mode is still kept
    staging.chmod(previous.st_mode & 0o7777)


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    previous = _sibling(out_dir, "old")
    out_dir.rename(previous)
    try:
        staging.rename(out_dir)
    except BaseException:
        previous.rename(out_dir)
        raise
    shutil.rmtree(previous, ignore_errors=True)
