"""Lock files: an exclusive, non-blocking flock, and what its holder wrote in it.

The kernel frees the lock of a process that dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO


def try_lock(path: Path, holder: str) -> tuple[TextIO | None, str]:
    """Lock ``path`` (made if missing) and write ``holder`` into it: the open file, and "";
    or None, and what the process holding it wrote."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        written = handle.read().strip()
        handle.close()
        return None, written
    handle.seek(0)
    handle.truncate()
    handle.write(holder)
    handle.flush()
    return handle, ""


def same_file(path: Path, handle: TextIO) -> bool:
    """``path`` still names the file ``handle`` has open (not removed, nor made anew)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def release(handle: TextIO) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
