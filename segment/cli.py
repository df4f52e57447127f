"""``./segment.sh`` / ``python -m segment``: segment a folder of your own images.

    ./segment.sh --model RUN_DIR_or_FILE [--model ...] IMAGES... --out DIR
        [--tta none|hflip|flip|d4] [--tile 2048] [--overlap 128] [--min-area N] [--channel K]
        [--format tif,png,csv,overlay,roi,geojson] [--force]

IMAGES are files, folders or globs (PNG, JPEG, TIFF, OME-TIFF; 8/16-bit, gray, RGB, RGBA;
``--channel K`` picks one channel of a multi-channel image). Per image: the outputs of
``segment.outputs``; over all images ``summary.csv`` (image, file, status, size, nuclei,
mean area, seconds, error). One progress line per image (and per tile of a tiled image),
then a final line naming the output folder.

Bad input (a missing, corrupt or unsupported image, an empty folder) is one line naming
the file; the other images still run, and the exit status is 2 if any failed. A bad
``--model`` stops before any image with one line and status 2. Without ``--force`` an
output folder that already holds a ``summary.csv``, or an existing output file, is refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.images import DataError
from segment.inputs import expand_inputs, unique_stems
from segment.outputs import DEFAULT_FORMATS, FORMATS, roi_available, write_outputs

__all__ = ["parse_args", "main"]

PROG = "segment"
SUMMARY = "summary.csv"


def _formats(text: str) -> list[str]:
    items = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown format(s) {bad or text!r}; choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(items))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from segment.segmenter import DEFAULT_OVERLAP, DEFAULT_TILE

    p = argparse.ArgumentParser(prog=PROG, description="Segment nuclei in your own images with trained runs "
                                "(python -m segment export --run RUN --out FILE makes a one-file model).")
    p.add_argument("images", nargs="+", metavar="IMAGES", help="image files, folders or globs")
    p.add_argument("--model", action="append", required=True,
                   help="training run folder or .dsbmodel file; repeat to average several (an ensemble)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tta", choices=("none", "hflip", "flip", "d4"), help="test-time augmentation (default: each run's own)")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE,
                   help=f"images larger than this (pixels) run tiled (default {DEFAULT_TILE})")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                   help=f"tile overlap in pixels, > 2x the largest nucleus (default {DEFAULT_OVERLAP})")
    p.add_argument("--min-area", type=int, help="drop nuclei under N pixels (default: the run's own)")
    p.add_argument("--channel", type=int, help="use this channel (0-based) of multi-channel images")
    p.add_argument("--format", type=_formats, default=list(DEFAULT_FORMATS),
                   help=f"comma list of {','.join(FORMATS)} (default {','.join(DEFAULT_FORMATS)})")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    if args.tile < 64 or not 0 <= args.overlap < args.tile // 2:
        p.error(f"--tile must be >= 64 and --overlap in [0, tile/2), got {args.tile} and {args.overlap}")
    if (args.min_area is not None and args.min_area < 0) or (args.channel is not None and args.channel < 0):
        p.error("--min-area and --channel must be >= 0")
    return args


def _say(text: str) -> None:
    print(f"[{PROG}] {text}", flush=True)


def _fail(text: str) -> None:
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    from common.cli import one_line

    return one_line(exc)


def segment_one(seg, path: Path, stem: str, args, index: int, total: int) -> dict:
    """Read, segment, measure and write one image; its summary row."""
    from common.images import raw_to_rgb_uint8, read_raw_image
    from segment.measure import measure

    t0 = time.monotonic()
    raw = read_raw_image(path, args.channel)  # its own values: the intensity columns
    rgb = raw_to_rgb_uint8(raw, path)  # what the models saw in training
    h, w = rgb.shape[:2]

    def tile_progress(done: int, n: int) -> None:
        _say(f"  {path.name}: tile {done}/{n} ({time.monotonic() - t0:.1f} s)")

    labels, scores = seg.segment(rgb, tile_progress)
    table = measure(labels, raw, scores)
    write_outputs(args.out, stem, args.format, labels, table, rgb, overwrite=args.force)
    seconds = time.monotonic() - t0
    n = len(table)
    _say(f"{index}/{total} {path.name}: {w}x{h}, {n} nuclei, {seconds:.1f} s")
    return {"image": stem, "file": str(path), "status": "ok", "height": h, "width": w, "n_nuclei": n,
            "mean_area": round(float(table["area"].mean()), 2) if n else 0.0, "seconds": round(seconds, 2),
            "error": ""}


def _remove_stale_staging(out: Path) -> None:
    """Staging folders and temp files a killed ``segment`` left in ``out`` (we hold its lock)."""
    import shutil

    from common.io import TEMP_MARK

    for path in out.glob(f".*{TEMP_MARK}*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = Path(args.out).expanduser()
    if "roi" in args.format and not roi_available():
        _say("the roi format needs the roifile package (pip install roifile); skipping ImageJ ROIs")
        args.format = [f for f in args.format if f != "roi"]
    if (args.out / SUMMARY).exists() and not args.force:
        raise FileExistsError(f"{args.out / SUMMARY} already exists (a previous run); use --force or another --out")
    files, errors = expand_inputs(args.images)
    for e in errors:
        _fail(e)
    if not files:
        _fail("no images to segment")
        return 2
    from common.locks import folder_lock
    from segment.segmenter import Segmenter

    seg = Segmenter.load(args.model, tta=args.tta, tile=args.tile, overlap=args.overlap, min_area=args.min_area)
    names = ", ".join(f"{m.info.get('solution', m.family)} ({m.name})" for m in seg.models)
    _say(f"{len(files)} image(s) with {len(seg.models)} model(s): {names}")
    rows = []
    t0 = time.monotonic()
    with folder_lock(args.out, "segment"):
        _remove_stale_staging(args.out)
        for i, (path, stem) in enumerate(zip(files, unique_stems(files)), 1):
            try:
                rows.append(segment_one(seg, path, stem, args, i, len(files)))
            except (DataError, ValueError, OSError, MemoryError) as exc:
                if args.debug:
                    raise
                _fail(_one_line(exc) if str(path) in str(exc) else f"{path}: {_one_line(exc)}")
                rows.append({"image": stem, "file": str(path), "status": "failed", "error": _one_line(exc)})
        from common.io import atomic_write

        summary = pd.DataFrame(rows, columns=["image", "file", "status", "height", "width", "n_nuclei",
                                              "mean_area", "seconds", "error"])
        summary = summary.astype({"height": "Int64", "width": "Int64", "n_nuclei": "Int64"})
        atomic_write(args.out / SUMMARY, lambda tmp: summary.to_csv(tmp, index=False))
    failed = int((summary["status"] != "ok").sum()) + len(errors)
    done = int((summary["status"] == "ok").sum())
    _say(f"{done} image(s) segmented{f', {failed} failed' if failed else ''} in "
         f"{time.monotonic() - t0:.1f} s; outputs in {args.out.resolve()}")
    return 2 if failed else 0
