"""A small synthetic dataset in the DSB2018 layout, for tests and smoke runs.

Three image types like the real data: fluorescence (gray, dark background, bright
nuclei), brightfield (gray, bright background, darker nuclei) and histology (pink
H&E-like background, purple nuclei). Nuclei are elliptic or irregular, of varied
size, partly touching and clustered; images get an illumination gradient, blur and
noise. Masks never overlap: nuclei are painted into one label image first.

Layout written::

    out/stage1_train/<id>/images/<id>.png   RGBA, like the real data
    out/stage1_train/<id>/masks/<k>.png     0/255, k zero-padded in label order
    out/stage1_test/<id>/images/<id>.png
    out/stage1_solution.csv                 ImageId,EncodedPixels,Height,Width,Usage

CLI::

    python -m common.synthetic OUT_DIR [--n-train 24] [--n-test 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from common.io import atomic_write_text
from common.rle import labels_to_rles

__all__ = ["SYNTH_TYPES", "synth_id", "render_sample", "generate_dataset", "main"]

SYNTH_TYPES = ("fluorescence", "brightfield", "histology")


def synth_id(kind: str, seed: int, index: int) -> str:
    """Readable image id, e.g. ``synth_histology_0_007``."""
    return f"synth_{kind}_{seed}_{index:03d}"


# -------------------------------------------------------------------- shapes
def _nucleus_polygon(rng: np.random.Generator, center: np.ndarray, radius: float) -> np.ndarray:
    """Polygon [K,2] (x, y) of an ellipse with smooth radial irregularity."""
    k = 24
    theta = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
    aspect = rng.uniform(0.6, 1.0)
    angle = rng.uniform(0, np.pi)
    wobble = rng.uniform(0.0, 0.18)
    # low-frequency radial noise: a few random harmonics
    harmonics = np.arange(2, 5)[:, None]
    phases = rng.uniform(0, 2 * np.pi, size=(3, 1))
    amps = rng.normal(0, wobble, size=(3, 1))
    r = 1.0 + (amps * np.cos(harmonics * theta + phases)).sum(axis=0)
    x = radius * r * np.cos(theta)
    y = radius * aspect * r * np.sin(theta)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (rot @ np.stack([x, y])).T + center
    return np.round(pts * 4).astype(np.int32)  # 2 fractional bits for cv2.fillPoly(shift=2)


def _draw_labels(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Paint non-overlapping nuclei into an int32 [H,W] label image (ids 1..N)."""
    h, w = shape
    labels = np.zeros(shape, dtype=np.int32)
    scratch = np.zeros(shape, dtype=np.uint8)
    base_radius = rng.uniform(4.0, 12.0) * np.sqrt(min(h, w) / 128)
    n_target = int(np.clip(h * w / (np.pi * base_radius**2) * rng.uniform(0.08, 0.25), 3, 60))
    centers: list[np.ndarray] = []
    next_id = 1
    for _ in range(n_target):
        radius = base_radius * rng.uniform(0.6, 1.5)
        if centers and rng.random() < 0.4:  # clustered: touch an existing nucleus
            anchor = centers[rng.integers(len(centers))]
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction) + 1e-9
            center = anchor + direction * radius * rng.uniform(1.4, 2.0)
        else:
            center = rng.uniform([0, 0], [w, h])
        scratch[:] = 0
        cv2.fillPoly(scratch, [_nucleus_polygon(rng, center, radius)], 1, lineType=cv2.LINE_8, shift=2)
        free = (scratch > 0) & (labels == 0)
        drawn = int(np.count_nonzero(scratch))
        if drawn == 0 or np.count_nonzero(free) < max(12, 0.6 * drawn):
            continue  # mostly hidden or off-image: skip rather than leave a sliver
        labels[free] = next_id
        centers.append(center)
        next_id += 1
    return labels


# ----------------------------------------------------------------- rendering
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """float32 [H,W] smooth noise with unit-ish std."""
    noise = rng.normal(size=shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def _gradient(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """float32 [H,W] linear illumination ramp in [-1, 1]."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * (xx / max(w - 1, 1) - 0.5) + np.sin(angle) * (yy / max(h - 1, 1) - 0.5)
    return (2 * ramp).astype(np.float32)


def _nucleus_alpha(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """float32 [H,W] in [0, 1]: per-nucleus strength with texture and soft edges."""
    n = int(labels.max())
    strength = np.concatenate([[0.0], rng.uniform(0.55, 1.0, size=n)]).astype(np.float32)
    alpha = strength[labels]
    alpha *= 1.0 + 0.15 * _smooth_noise(rng, labels.shape, 1.5)
    # darker rims between touching nuclei make them separable, as in real images
    edges = cv2.morphologyEx(labels.astype(np.float32), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    alpha[edges & (labels > 0)] *= 0.75
    return np.clip(cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.2)), 0.0, 1.0)


def _render(rng: np.random.Generator, labels: np.ndarray, kind: str) -> np.ndarray:
    """uint8 [H,W,3] RGB image of ``labels`` in the style of ``kind``."""
    shape = labels.shape
    alpha = _nucleus_alpha(rng, labels)[:, :, None]
    light = 1.0 + rng.uniform(0.05, 0.3) * _gradient(rng, shape)[:, :, None]
    texture = _smooth_noise(rng, shape, 4.0)[:, :, None]
    if kind == "fluorescence":
        bg = rng.uniform(2, 25) + 4 * texture
        fg = rng.uniform(120, 240)
        image = np.repeat(bg + (fg - bg) * alpha, 3, axis=2) * light
    elif kind == "brightfield":
        bg = rng.uniform(170, 225) + 6 * texture
        fg = rng.uniform(60, 130)
        image = np.repeat(bg + (fg - bg) * alpha, 3, axis=2) * light
    elif kind == "histology":
        bg = np.array([232, 190, 212], np.float32) + rng.normal(0, 8, 3) + 10 * texture
        fg = np.array([95, 55, 135], np.float32) + rng.normal(0, 12, 3)
        image = (bg + (fg - bg) * alpha) * light
    else:
        raise ValueError(f"unknown synthetic image type {kind!r}; expected one of {SYNTH_TYPES}")
    noise_shape = image.shape if kind == "histology" else image.shape[:2] + (1,)  # gray stays gray
    image = image + rng.normal(0, rng.uniform(2, 6), size=noise_shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def render_sample(seed: int, index: int, kind: str, size: tuple[int, int] = (128, 256)) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image and its labels, fully determined by ``(seed, index, kind, size)``.

    Args:
        seed: Dataset seed.
        index: Image index within the dataset.
        kind: One of :data:`SYNTH_TYPES`.
        size: ``(min_side, max_side)``; H and W are drawn independently from it.

    Returns:
        ``(image uint8 [H,W,3] RGB, labels int32 [H,W])``.
    """
    rng = np.random.default_rng([seed, index, SYNTH_TYPES.index(kind)])
    lo, hi = size
    shape = (int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)))
    labels = _draw_labels(rng, shape)
    return _render(rng, labels, kind), labels


# ------------------------------------------------------------------- writing
def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), array):
        raise OSError(f"{path}: cv2.imwrite failed")


def _write_image(split_dir: Path, image_id: str, image: np.ndarray) -> None:
    rgba = np.dstack([image[:, :, ::-1], np.full(image.shape[:2], 255, np.uint8)])  # BGRA for cv2
    _write_png(split_dir / image_id / "images" / f"{image_id}.png", rgba)


def _write_masks(split_dir: Path, image_id: str, labels: np.ndarray) -> None:
    n = int(labels.max())
    width = max(3, len(str(n)))
    for k in range(1, n + 1):  # one small loop per nucleus, not per pixel
        _write_png(split_dir / image_id / "masks" / f"{k:0{width}d}.png", (labels == k).astype(np.uint8) * 255)


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def generate_dataset(
    out_dir: str | Path,
    n_train: int = 24,
    n_test: int = 8,
    seed: int = 0,
    size: tuple[int, int] = (128, 256),
) -> Path:
    """Write a synthetic DSB-layout data folder.

    Image ``i`` (train ``0..n_train-1``, then test) has type ``SYNTH_TYPES[i % 3]`` and
    id :func:`synth_id`. The same arguments always give byte-identical files.

    Args:
        out_dir: Data folder to create (existing image folders of the same ids are replaced).
        n_train: Images in ``stage1_train`` (with masks).
        n_test: Images in ``stage1_test`` (labels in ``stage1_solution.csv``).
        seed: Seed for everything.
        size: ``(min_side, max_side)`` of the images in pixels.

    Returns:
        ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(n_train + n_test):
        kind = SYNTH_TYPES[index % len(SYNTH_TYPES)]
        image_id = synth_id(kind, seed, index)
        image, labels = render_sample(seed, index, kind, size)
        split_dir = out / ("stage1_train" if index < n_train else "stage1_test")
        shutil.rmtree(split_dir / image_id, ignore_errors=True)  # no stale masks from a previous run
        if index < n_train:
            _write_image(split_dir, image_id, image)
            _write_masks(split_dir, image_id, labels)
        else:
            _write_image(split_dir, image_id, image)
            h, w = labels.shape
            usage = "Public" if (index - n_train) % 2 == 0 else "Private"
            rles = labels_to_rles(labels) or [""]
            rows += [(image_id, rle, h, w, usage) for rle in rles]
    if n_test:
        df = pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "Usage"])
        _write_csv_atomic(df, out / "stage1_solution.csv")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.synthetic", description="Write a synthetic DSB dataset.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-size", type=int, default=128)
    parser.add_argument("--max-size", type=int, default=256)
    args = parser.parse_args(argv)
    out = generate_dataset(args.out_dir, args.n_train, args.n_test, args.seed, (args.min_size, args.max_size))
    print(f"wrote {args.n_train} train and {args.n_test} test images to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
