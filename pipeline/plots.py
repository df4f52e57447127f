"""Report pictures: score vs speed (one point per model) and prediction overlays."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.io import atomic_write

__all__ = ["speed_accuracy_plot", "overlay", "write_overlays", "STUDY_TABLE"]

#: The study's Table 4.4: stage-2 test score and training time on an NVIDIA K80.
STUDY_TABLE = pd.DataFrame(
    [("U-Net", 0.326, 510), ("Mask R-CNN MobileNet", 0.387, 7292),
     ("Mask R-CNN ResNet50", 0.406, 8750), ("Mask R-CNN ResNet101", 0.436, 10440),
     ("Mask R-CNN DenseNet201", 0.25, 8637)],
    columns=["model", "stage2_score", "train_seconds"]).set_index("model")


def _plain_log_ticks(ax) -> None:
    """Plain, non-overlapping tick labels on a log x axis at any range (``0.3``, ``2``, ``500``).

    Over several decades: 1-2-5 ticks (thinned to at most 8); within one decade, where a log
    axis would label its minor ticks in scientific notation and overlap: 4 ticks spread
    evenly in log space, rounded to 2 significant digits.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    lo, hi = ax.get_xlim()
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    if len(ticks) > 8:
        ticks = [t for t in ticks if f"{t:g}".lstrip("0.").startswith("1")] or ticks[::3]
    if len(ticks) < 3:
        ticks = sorted({float(f"{t:.2g}") for t in np.geomspace(lo, hi, 6)[1:-1]})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo, hi)


def speed_accuracy_plot(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Score vs training time and vs inference speed, one point per model.

    Args:
        table: Rows per model with ``oof_score``, ``test_score`` (may be NaN),
            ``train_seconds`` and ``images_per_s``.
        path: Output PNG.
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, col, xlabel in ((axes[0], "train_seconds", "training time, s (sum over folds, log)"),
                            (axes[1], "images_per_s", "inference, images/s (log)")):
        for name, row in table.iterrows():
            x = row.get(col)
            if x is None or not np.isfinite(x) or x <= 0:
                continue
            for key, marker, label in (("oof_score", "o", "OOF"), ("test_score", "s", "test")):
                y = row.get(key)
                if y is not None and np.isfinite(y):
                    ax.scatter(x, y, marker=marker, s=50, facecolors="none" if key == "test_score" else None,
                               edgecolors="C0" if key == "test_score" else None,
                               color=None if key == "test_score" else "C0")
            y = row["oof_score"] if np.isfinite(row.get("oof_score", np.nan)) else row.get("test_score")
            if y is not None and np.isfinite(y):
                ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if col == "train_seconds":
            ax.scatter(STUDY_TABLE["train_seconds"], STUDY_TABLE["stage2_score"], marker="x",
                       color="grey", label="the study (stage-2, K80)")
            for name, row in STUDY_TABLE.iterrows():
                ax.annotate(name, (row["train_seconds"], row["stage2_score"]), textcoords="offset points",
                            xytext=(5, -9), fontsize=7, color="grey")
        ax.set_xscale("log")
        _plain_log_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("DSB score")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color="C0", label="ours, OOF"),
               plt.Line2D([], [], marker="s", ls="", mfc="none", color="C0", label="ours, test"),
               plt.Line2D([], [], marker="x", ls="", color="grey", label="the study (stage-2, K80)")]
    axes[0].legend(handles=handles, fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    finally:
        plt.close(fig)
    return path


def overlay(image: np.ndarray, true: np.ndarray | None, pred: np.ndarray) -> np.ndarray:
    """Side by side: the image, and the image with true (green) and predicted (red) outlines.

    Args:
        image: uint8 [H,W,3] RGB.
        true: int [H,W] labels or None.
        pred: int [H,W] labels.

    Returns:
        uint8 [H, 2W + 4, 3] RGB; pixels on both outlines are yellow.
    """
    from skimage.segmentation import find_boundaries

    out = image.copy()
    pb = find_boundaries(pred, mode="inner")
    tb = find_boundaries(true, mode="inner") if true is not None else np.zeros_like(pb)
    out[tb] = (0, 255, 0)
    out[pb] = (255, 0, 0)
    out[tb & pb] = (255, 255, 0)
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([image, gap, out], axis=1)


def write_overlays(out_dir: Path, dataset, preds: Mapping[str, Path], clusters: Mapping[str, str],
                   per_type: int = 2, max_side: int = 512) -> list[Path]:
    """A few overlays per image type into ``out_dir/<type>_<id>.png``.

    Args:
        out_dir: Output folder.
        dataset: ``common.data.DSBDataset`` of the labelled split.
        preds: image id -> prediction file.
        clusters: image id -> image type (from ``folds.csv``).
        per_type: Images per type.
        max_side: Larger images are shown downscaled to this side.
    """
    import cv2

    from common.predictions import load_prediction

    out_dir.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, list[str]] = {}
    for image_id in sorted(preds):
        kind = clusters.get(image_id, "unknown")
        if len(chosen.setdefault(kind, [])) < per_type:
            chosen[kind].append(image_id)
    written = []
    for kind, ids in sorted(chosen.items()):
        for image_id in ids:
            image = dataset.load_image(image_id)
            true = dataset.load_labels(image_id) if dataset.has_labels else None
            pic = overlay(image, true, load_prediction(preds[image_id], prob=False).labels)
            scale = max_side / max(image.shape[:2])
            if scale < 1:
                pic = cv2.resize(pic, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            path = out_dir / f"{kind}_{image_id}.png"
            cv2.imwrite(str(path), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
            written.append(path)
    return written


def fmt(value, digits: int = 3) -> str:
    """A table cell: numbers rounded, NaN/None as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def markdown_table(df: pd.DataFrame, columns: Sequence[str] | None = None,
                   index_name: str = "") -> str:
    """A GitHub markdown table of ``df`` (index as the first column)."""
    columns = list(columns or df.columns)
    lines = ["| " + " | ".join([index_name or (df.index.name or "")] + columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, row in df.iterrows():
        lines.append("| " + " | ".join([str(name)] + [fmt(row[c]) for c in columns]) + " |")
    return "\n".join(lines)
