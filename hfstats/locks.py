"""Lock files: an exclusive, non-blocking flock, and what its holder wrote in it.

The kernel frees the lock of a process that dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

from .errors import BusyError


def try_lock(path: Path, holder: str) -> tuple[TextIO | None, str]:
    """Lock ``path`` (made if missing) and write ``holder`` into it: the open file, and "";
    or None, and what the process holding it wrote."""
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            written = handle.read().strip()
            handle.close()
            return None, written
        # The run that held it may have removed the file just before (done, or unable to
        # write its pid): a lock on a removed file keeps no one out, so lock the new one.
        if same_file(path, handle):
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(holder)
        handle.flush()
    except OSError:
        # A full disk: no empty lock file left behind (removed while still ours).
        if same_file(path, handle):
            path.unlink()
        handle.close()
        raise
    return handle, ""


def same_file(path: Path, handle: TextIO) -> bool:
    """``path`` still names the file ``handle`` has open (not removed, nor made anew)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def pid_note(pid: str) -> str:
    """The ' (pid N)' of a busy message, when the lock file names its holder's pid."""
    return f" (pid {pid})" if pid.isdigit() else ""


def release(handle: TextIO) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


class DatabaseLock:
    """The lock a command that writes a database (refresh, prune, upgrade) holds beside it:
    exclusive and non-blocking, so a second one exits at once instead of waiting."""

    def __init__(self, db_path: Path, command: str = "refresh") -> None:
        # Beside the file itself: two spellings of one database (a symlink) share one lock.
        real = Path(db_path).resolve()
        self.path = real.with_name(real.name + ".lock")
        self.command = command
        self._handle = None

    def __enter__(self) -> DatabaseLock:
        handle, holder = try_lock(self.path, f"{os.getpid()} {self.command}")
        if handle is None:
            pid, _, command = holder.partition(" ")
            raise BusyError(
                f"another {command or 'refresh'}{pid_note(pid)} is running on "
                f"{self.path.with_suffix('')}; this one exits without touching it"
            )
        self._handle = handle
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            release(self._handle)
            self._handle = None
