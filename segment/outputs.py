"""The files ``segment`` writes for one image, all or none.

For an image named ``<stem>`` (its file name without the extension), in ``--out``:

| format    | file                       | content |
|-----------|----------------------------|---------|
| `tif`     | `<stem>_labels.tif`        | label image, uint16 (uint32 above 65,535 nuclei), 0 = background, zlib-compressed; opens in napari and Fiji |
| `png`     | `<stem>_labels.png`        | the same as a 16-bit PNG (not written above 65,535 nuclei) |
| `csv`     | `<stem>_measurements.csv`  | one row per nucleus (``segment.measure.measure``) |
| `overlay` | `<stem>_overlay.png`       | the image with each nucleus' outline in yellow |
| `roi`     | `<stem>_rois.zip`          | ImageJ/Fiji ROI set, one polygon per nucleus (``roifile``) |
| `geojson` | `<stem>.geojson`           | QuPath detections: a FeatureCollection of polygons, class ``Nucleus`` |

All of an image's files are written into a hidden staging folder inside ``--out`` first
and moved into place only when every one of them was written, so a failure (or a kill
before the moves) leaves no half-written file. Existing files are replaced only with
``overwrite``; otherwise the image fails with one line naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from common.io import TEMP_MARK
from segment.measure import outlines, polygons

__all__ = ["FORMATS", "DEFAULT_FORMATS", "output_paths", "roi_available", "write_outputs", "label_dtype"]

FORMATS = ("tif", "png", "csv", "overlay", "roi", "geojson")
DEFAULT_FORMATS = ("tif", "csv", "overlay")
_NAMES = {"tif": "{}_labels.tif", "png": "{}_labels.png", "csv": "{}_measurements.csv",
          "overlay": "{}_overlay.png", "roi": "{}_rois.zip", "geojson": "{}.geojson"}
OUTLINE_RGB = (255, 255, 0)


def roi_available() -> bool:
    """Whether ``roifile`` (ImageJ ROI writing) is installed."""
    try:
        import roifile  # noqa: F401
    except ImportError:
        return False
    return True


def output_paths(out_dir: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """format -> output file of one image."""
    return {f: Path(out_dir) / _NAMES[f].format(stem) for f in formats}


def label_dtype(labels: np.ndarray) -> type:
    """uint16 when the labels fit, else uint32."""
    return np.uint16 if int(labels.max(initial=0)) <= np.iinfo(np.uint16).max else np.uint32


def _write_tif(path: Path, labels: np.ndarray, **_) -> None:
    import tifffile

    tifffile.imwrite(path, labels.astype(label_dtype(labels), copy=False), compression="zlib",
                     photometric="minisblack", metadata={"axes": "YX"})


def _write_png(path: Path, labels: np.ndarray, **_) -> None:
    if label_dtype(labels) is not np.uint16:
        raise ValueError(f"{path.name}: {int(labels.max())} nuclei do not fit a 16-bit PNG; use --format tif")
    if not cv2.imwrite(str(path), labels.astype(np.uint16)):
        raise OSError(f"{path}: cannot write PNG")


def _write_csv(path: Path, table: pd.DataFrame, **_) -> None:
    table.to_csv(path, index=False, float_format="%.6g")


def _write_overlay(path: Path, labels: np.ndarray, rgb: np.ndarray, **_) -> None:
    out = np.ascontiguousarray(rgb[:, :, ::-1])  # OpenCV writes BGR
    out[outlines(labels)] = OUTLINE_RGB[::-1]
    if not cv2.imwrite(str(path), out):
        raise OSError(f"{path}: cannot write PNG")


def _write_roi(path: Path, polys: dict[int, np.ndarray], **_) -> None:
    import roifile

    digits = max(4, len(str(max(polys, default=0))))
    rois = [roifile.ImagejRoi.frompoints(pts, name=f"{label:0{digits}d}") for label, pts in polys.items()]
    if rois:
        roifile.roiwrite(path, rois, mode="w")
    else:  # no nuclei: an empty zip still opens in Fiji's ROI manager
        import zipfile

        zipfile.ZipFile(path, "w").close()


def _write_geojson(path: Path, polys: dict[int, np.ndarray], table: pd.DataFrame, **_) -> None:
    rows = table.set_index("label")
    features = []
    for label, pts in polys.items():
        ring = np.vstack([pts, pts[:1]]).round(2).tolist()  # closed ring, (x, y)
        row = rows.loc[label]
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"objectType": "detection", "classification": {"name": "Nucleus"},
                           "name": f"nucleus {label}",
                           "measurements": {"label": int(label), "area": float(row["area"]),
                                            "score": None if pd.isna(row["score"]) else round(float(row["score"]), 4)}},
        })
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}) + "\n")


_WRITERS = {"tif": _write_tif, "png": _write_png, "csv": _write_csv, "overlay": _write_overlay,
            "roi": _write_roi, "geojson": _write_geojson}


def write_outputs(out_dir: Path, stem: str, formats: Sequence[str], labels: np.ndarray, table: pd.DataFrame,
                  rgb: np.ndarray, overwrite: bool = False) -> dict[str, Path]:
    """Write one image's outputs, all or none (see the module docstring).

    Args:
        out_dir: The output folder.
        stem: The image's name.
        formats: Subset of :data:`FORMATS`.
        labels: uint [H,W] labels.
        table: Its measurements (``segment.measure.measure``).
        rgb: uint8 [H,W,3] image the overlay is drawn on.
        overwrite: Replace existing files.

    Returns:
        format -> the file written.

    Raises:
        FileExistsError: a target exists and ``overwrite`` is False (nothing written).
    """
    out_dir = Path(out_dir)
    targets = output_paths(out_dir, stem, formats)
    if not overwrite:
        for path in targets.values():
            if path.exists():
                raise FileExistsError(f"{path} already exists; use --force to overwrite it")
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{stem}{TEMP_MARK}"))
    try:
        polys = polygons(labels) if {"roi", "geojson"} & set(formats) else {}
        for fmt, target in targets.items():
            _WRITERS[fmt](stage / target.name, labels=labels, table=table, rgb=rgb, polys=polys)
        for target in targets.values():
            staged = stage / target.name
            os.chmod(staged, 0o644)
            if overwrite:
                os.replace(staged, target)
            else:
                try:
                    os.link(staged, target)  # fails if the target appeared meanwhile
                except FileExistsError:
                    raise FileExistsError(f"{target} already exists; use --force to overwrite it") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return targets
