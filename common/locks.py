"""One owner per folder: an OS-level lock that a killed process can never leave behind.

``with folder_lock(path, "train"):`` takes an exclusive ``fcntl.flock`` on
``<path>/.lock`` without waiting. The kernel releases it when the holder exits, however
it exits (``kill -9`` included), so a stale lock file never blocks anyone. While held,
the file names the holder (PID, command line, start time); a second process that wants
the same folder gets :class:`FolderBusyError` at once, naming them.

Who locks what (``docs/CONTRACTS.md``): ``run_all`` its work folder, ``train`` and
``predict`` their run folder, ``python -m ensemble`` its work folder, and the data stage
the folder it fills. A child started by a lock holder locks other folders, so nothing
deadlocks. On systems without ``fcntl`` (Windows) locking is skipped.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "FolderBusyError", "folder_lock", "hold_until_exit", "lock_holder", "wait_free"]

#: folder -> the open lock of :func:`hold_until_exit` (kept until the process exits)
_HELD: dict[Path, object] = {}

LOCK_NAME = ".lock"


class FolderBusyError(RuntimeError):
    """Another living process holds the folder's lock; the message names it."""


def lock_holder(folder: str | os.PathLike) -> dict:
    """What the lock file of ``folder`` says about its holder (empty when unknown)."""
    try:
        return json.loads((Path(folder) / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _wait_for_holder(folder: Path, timeout_s: float = 2.0) -> dict:
    """The holder's info, waiting up to ``timeout_s`` for it: a process that has just taken
    the lock writes it a moment later (a second process racing the first read it empty)."""
    deadline = time.monotonic() + timeout_s
    holder = lock_holder(folder)
    while "pid" not in holder and time.monotonic() < deadline:
        time.sleep(0.05)
        holder = lock_holder(folder)
    return holder


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``folder``'s lock for the ``with`` block (the folder is created).

    Args:
        folder: The folder to own.
        what: What the holder does there (shown to a refused second process).

    Raises:
        FolderBusyError: another process holds it (names its PID and command).
        OSError: the folder cannot be created or written (names the path).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    if fcntl is None:  # pragma: no cover
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_holder(folder)
            who = (f"PID {holder.get('pid', '?')} ({holder.get('what', '?')}: "
                   f"{holder.get('cmd', '?')}, since {holder.get('since', '?')})")
            raise FolderBusyError(f"{folder}: in use by {who}; wait for it to finish or stop "
                                  "it, then run this again") from None
        info = {"pid": os.getpid(), "what": what, "cmd": " ".join(sys.argv),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the file stays (harmless); only a held flock means "busy"
    finally:
        os.close(fd)  # releases the flock


def wait_free(folder: str | os.PathLike, timeout_s: float, poll_s: float = 0.2) -> bool:
    """Wait until nobody holds ``folder``'s lock, for at most ``timeout_s`` seconds.

    For a retry that follows a killed attempt: its command may still be stopping (SIGTERM
    stops training between two writes). Takes nothing: the lock is tried and let go at once.

    Returns:
        Whether the folder was free (a folder or lock file that does not exist is free).
    """
    if fcntl is None:  # pragma: no cover
        return True
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fd = os.open(Path(folder) / LOCK_NAME, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # closing the file below lets it go
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def hold_until_exit(folder: str | os.PathLike, what: str) -> Path:
    """Take ``folder``'s lock for the rest of this process (a no-op when already held here).

    For command-line mains (``train``, ``predict``): the kernel releases the lock when the
    process ends, however it ends.

    Raises:
        FolderBusyError: another process holds it.
    """
    folder = Path(folder).resolve()
    if folder not in _HELD:
        ctx = folder_lock(folder, what)
        ctx.__enter__()
        _HELD[folder] = ctx
    return folder / LOCK_NAME
