"""A child process that stops when the pipeline that started it dies, even by ``kill -9``.

``pipeline.tasks`` runs each solution command in its own process group with
``DSB_PARENT_PID`` set to its own PID. :func:`follow_parent` (called by every solution
CLI through ``common.cli.run_main``) asks Linux to send this process SIGTERM when its
parent dies (``prctl(PR_SET_PDEATHSIG)``), then checks that the parent is still the one
named, closing the race of a parent that died before the request. Elsewhere (macOS, or no
``DSB_PARENT_PID``) it does nothing. SIGTERM stops training between two writes: every
output is atomic, and a rerun resumes from the last completed epoch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["PARENT_ENV", "follow_parent"]

PARENT_ENV = "DSB_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def follow_parent() -> bool:
    """Arrange SIGTERM on the parent's death; returns whether that is in place."""
    expected = os.environ.get(PARENT_ENV)
    if not expected or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError, ValueError):
        return False
    if os.getppid() != int(expected):  # the parent died before prctl: we are an orphan already
        os.kill(os.getpid(), signal.SIGTERM)
    return True
