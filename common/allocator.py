"""Let glibc keep freed memory for reuse while TensorFlow trains on the CPU.

TensorFlow's ``from_generator`` datasets (every ``keras.utils.PyDataset`` under the
TensorFlow backend) call ``mallopt(M_TRIM_THRESHOLD, 128 kB)`` when their first
iterator starts ("Memory patch applied: M_TRIM_THRESHOLD=128 kb was set"). Setting
that switches off glibc's adaptive mmap threshold, so every buffer over 128 kB the
training step frees goes back to the kernel and the next step faults it in again:
measured as ~260,000 minor page faults per ``cpu30`` U-Net step and ~40 % of the CPU
time in the kernel on a 2-core machine (``bench/bench_train_memory.py``).
:func:`keep_freed_memory` raises both thresholds again; :class:`KeepFreedMemory` does
it after a fit's first batch, once TensorFlow has applied its patch.

Set ``DSB_KEEP_FREED_MEMORY=0`` to leave the allocator as TensorFlow set it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import keras

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
TRIM_MB, MMAP_MB = 1024, 256


def enabled() -> bool:
    """False when ``DSB_KEEP_FREED_MEMORY`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("DSB_KEEP_FREED_MEMORY", "1").strip().lower() not in {"0", "false", "no", "off"}


def keep_freed_memory(trim_mb: int = TRIM_MB, mmap_mb: int = MMAP_MB) -> bool:
    """Keep up to ``trim_mb`` of freed heap and serve blocks under ``mmap_mb`` from the heap.

    Returns:
        True when glibc accepted both settings; False on another C library or platform
        (nothing changes there).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mb = 1 << 20
    return mallopt(M_TRIM_THRESHOLD, trim_mb * mb) == 1 and mallopt(M_MMAP_THRESHOLD, mmap_mb * mb) == 1


class KeepFreedMemory(keras.callbacks.Callback):
    """Calls :func:`keep_freed_memory` after the first batch of each ``fit`` under TensorFlow.

    Attributes:
        applied: Whether the last call took effect (None before the first batch).
    """

    def __init__(self) -> None:
        super().__init__()
        self.applied: bool | None = None
        self._pending = False

    def on_train_begin(self, logs=None) -> None:
        self._pending = keras.backend.backend() == "tensorflow" and enabled()

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self._pending:
            self._pending = False
            self.applied = keep_freed_memory()
