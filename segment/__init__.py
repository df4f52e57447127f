"""Segment your own images with trained runs: ``./segment.sh`` / ``python -m segment``.

Python API (notebooks)::

    from segment import Segmenter
    seg = Segmenter.load("runs/unet-fold0")        # or a .dsbmodel file, or a list of them
    labels, table = seg(image)                      # uint32 [H,W] labels, one row per nucleus

Modules: ``models`` (loader registry: run folder -> model), ``archive`` (the one-file
``.dsbmodel`` format and ``export``), ``segmenter`` (ensembling, tiling), ``tiles`` (tile
grid and the seam rule), ``measure`` (measurements, outlines, polygons), ``outputs``
(the per-image files), ``inputs`` (folders and globs), ``cli`` (the command line).
"""

from __future__ import annotations

__all__ = ["Segmenter"]


def __getattr__(name: str):
    if name == "Segmenter":  # lazy: importing the package does not import Keras
        from segment.segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
