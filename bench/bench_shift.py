"""How much does a trained U-Net lose when its held-out images are changed the way another
microscope or camera would change them, and does a prediction-time switch win it back?

Each *view* is a function of a uint8 RGB image (as ``DSBDataset.load_image`` gives it): the image
as it is, or with a gamma, saturation, blur, camera noise, JPEG compression, a background ramp or
dark corners (``VIEWS``). Each *arm* is a list of ``--set`` overrides for the run's prediction
(``bench/bench_magnify.py``'s ``unet_predictor``: normalisation, flip TTA, multiscale selection,
thresholds, as the run predicts). Every (arm, view, image) is predicted and scored (DSB mean AP)
against the image's labels, which no view moves. Nothing is trained.

Usage::

    .venv/bin/python bench/bench_shift.py --run WORK/runs/unet-fold3 --ids ids_g3.txt \\
        --views as-is,gamma-0.5,blur-1.5 --arm shipped: --arm flat:data.flatten_background=true \\
        --every 3 --out probe_g3.json

``--every N`` keeps every N-th fluorescence image (in id order) and every image of the other
types, which are rarer. Writes one JSON of rows (image_id, image type, arm, view, score, objects
predicted and true, chosen scale) with the command, commit and machine. Tables of such files:

    python bench/bench_shift.py --table probe_g3.json probe_g1.json   # each view against as-is
    python bench/bench_shift.py --table new_g3.json --base old_g3.json  # two networks of a fold
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "bench")) if p not in sys.path]

from common.io import atomic_write_text  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402
from common.paths import SHARED_DSB_DIR  # noqa: E402
from common.stats import format_mean_se  # noqa: E402

__all__ = ["VIEWS", "view", "main"]


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def gamma(g: float):
    """Intensities ``255 * (I / 255) ** g``: g < 1 lifts dim signal, g > 1 sinks it."""
    lut = _u8(255.0 * (np.arange(256) / 255.0) ** g)
    return lambda image: lut[image]


def saturate(gain: float):
    """Intensities times ``gain``, clipped at 255: an over-exposed camera (flat-topped nuclei)."""
    return lambda image: _u8(image.astype(np.float32) * gain)


def blur(sigma: float):
    """A Gaussian blur of ``sigma`` pixels: out of focus."""
    return lambda image: cv2.GaussianBlur(image, (0, 0), sigma)


def noise(sd: float, seed: int = 0):
    """Gaussian pixel noise of ``sd`` gray levels, the same in every channel (a gray camera)."""
    def add(image):
        rng = np.random.default_rng(seed)
        n = rng.normal(0.0, sd, image.shape[:2]).astype(np.float32)[..., None]
        return _u8(image.astype(np.float32) + n)
    return add


def jpeg(quality: int):
    """Saved as JPEG at ``quality`` and read back."""
    def recode(image):
        ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return recode


def vignette(corner: float):
    """Darkened towards the corners: x ``corner`` there, quadratic in the radius."""
    def darken(image):
        h, w = image.shape[:2]
        y, x = np.mgrid[0:h, 0:w]
        r2 = (((y - h / 2) / (h / 2)) ** 2 + ((x - w / 2) / (w / 2)) ** 2) / 2
        return _u8(image * (1 - (1 - corner) * r2)[..., None])
    return darken


def ramp(rise: float):
    """An additive background rising from 0 at the left edge to ``rise`` at the right."""
    def add(image):
        glow = np.linspace(0, rise, image.shape[1], dtype=np.float32)[None, :, None]
        return _u8(image.astype(np.float32) + glow)
    return add


VIEWS = {
    "as-is": lambda image: image,
    "gamma-0.5": gamma(0.5), "gamma-2": gamma(2.0),
    "saturate-3": saturate(3.0),
    "blur-1.5": blur(1.5), "blur-3": blur(3.0),
    "noise-6": noise(6.0), "jpeg-25": jpeg(25),
    "vignette-0.5": vignette(0.5), "ramp-40": ramp(40.0),
}


def view(name: str):
    """The view function named ``name`` (``VIEWS``); a clear error lists the names."""
    try:
        return VIEWS[name]
    except KeyError:
        raise SystemExit(f"unknown view {name!r}; choose from {', '.join(VIEWS)}") from None


def _images(ids_file: Path, data: Path, every: int) -> tuple[dict, dict, dict]:
    from common.cli import narrow_ids
    from common.data import DSBDataset
    from common.folds import image_type

    ds = DSBDataset(data, "stage1_train")
    ids = narrow_ids(sorted(ds.ids), only=ids_file)  # a clear error naming an unreadable or empty file
    if not ids:
        raise SystemExit(f"{ids_file}: none of its ids is an image of {data / 'stage1_train'}")
    images, types, fluo = {}, {}, 0
    for image_id in ids:
        image = ds.load_image(image_id)
        kind = image_type(image)
        if kind == "fluorescence":
            fluo += 1
            if (fluo - 1) % every:
                continue
        images[image_id], types[image_id] = image, kind
    return images, types, {i: ds.load_labels(i) for i in images}


def probe(args: argparse.Namespace) -> None:
    from bench_magnify import parse_variant, unet_predictor
    from common.metrics import image_ap

    images, types, truth = _images(args.ids, args.data, args.every)
    views = [(v, view(v)) for v in args.views.split(",")]
    arms = [parse_variant(a) for a in args.arm or ["shipped:"]]
    if len({name for name, _ in arms}) < len(arms):
        raise SystemExit(f"--arm names repeat: {[name for name, _ in arms]}")
    rows = []
    for arm, sets in arms:
        predict = unet_predictor(args.run, sets)
        for name, transform in views:
            t0, scores = time.time(), []
            for image_id, image in images.items():
                labels, info = predict(transform(image))
                s = image_ap(truth[image_id], labels)
                rows.append({"image_id": image_id, "type": types[image_id], "arm": arm, "view": name, "score": s,
                             "n_pred": int(labels.max()), "n_true": int(truth[image_id].max()),
                             "scale": info.get("scale", 1.0)})
                scores.append(s)
            print(f"{arm:10s} {name:14s} {len(scores)} {np.mean(scores):.4f} ({time.time() - t0:.0f} s)", flush=True)
    meta = {"command": shlex.join(sys.argv), "commit": git_commit(REPO, mark_dirty=True),
            "machine": machine_description(),
            "run": str(args.run), "ids": str(args.ids), "every": args.every}
    atomic_write_text(args.out, json.dumps({**meta, "rows": rows}))


def _rows(files: list[Path]) -> pd.DataFrame:
    """Every file's rows, each keyed by the file's place in ``files`` and the image id."""
    parts = []
    for k, f in enumerate(files):
        rows = pd.DataFrame(json.loads(f.read_text())["rows"])
        parts.append(rows.assign(key=f"{k}:" + rows["image_id"], file=str(f)))
    return pd.concat(parts)


def table(files: list[Path], ref_view: str) -> str:
    """Per arm and type: the mean score of each view and its difference from ``ref_view``
    (mean ± standard error over images, pooled over ``files``)."""
    rows = _rows(files)
    views = list(dict.fromkeys(rows["view"]))
    out = []
    for arm, by_arm in rows.groupby("arm", sort=False):
        out += [f"### arm `{arm}`", "", "| type | images | " + " | ".join(views) + " |",
                "|---|---:|" + "---:|" * len(views)]
        for kind, sub in [("all", by_arm)] + list(by_arm.groupby("type")):
            wide = sub.pivot(index="key", columns="view", values="score")
            cells = [f"{wide[v].mean():.3f}" if v == ref_view else
                     f"{wide[v].mean():.3f} ({format_mean_se(wide[v] - wide[ref_view])})" for v in views]
            out.append(f"| {kind} | {len(wide)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def compare(files: list[Path], base: list[Path]) -> str:
    """Per view and type: ``files``' mean score against ``base``'s on the same images (pair
    ``files[i]`` with ``base[i]``: two networks of one fold), ``files − base`` as mean ± standard
    error over the images both hold, and how many gained and lost. Each file's one arm."""
    if len(files) != len(base):
        raise SystemExit(f"--base needs one file per --table file, got {len(base)} for {len(files)}")
    a, b = _rows(files), _rows(base)
    for rows in (a, b):
        several = rows.groupby("file")["arm"].nunique()
        if (several > 1).any():
            raise SystemExit(f"{several[several > 1].index[0]}: holds several arms; compare files of one arm")
    both = a.merge(b[["key", "view", "score"]], on=["key", "view"], suffixes=("", "_base"))
    out = ["| view | type | images | base | this | this − base |", "|---|---|---:|---:|---:|---:|"]
    for name, by_view in both.groupby("view", sort=False):
        for kind, sub in [("all", by_view)] + list(by_view.groupby("type")):
            d = sub["score"] - sub["score_base"]
            out.append(f"| {name} | {kind} | {len(sub)} | {sub['score_base'].mean():.3f} | {sub['score'].mean():.3f} | "
                       f"{format_mean_se(d)} ({int((d > 0).sum())}+/{int((d < 0).sum())}−) |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="a trained watershed U-Net run folder")
    p.add_argument("--ids", type=Path, help="its held-out image ids, one per line")
    p.add_argument("--data", type=Path, default=SHARED_DSB_DIR)
    p.add_argument("--views", default="as-is," + ",".join(v for v in VIEWS if v != "as-is"))
    p.add_argument("--arm", action="append", help="NAME:KEY=VALUE,... (repeatable; default 'shipped:')")
    p.add_argument("--every", type=int, default=1, help="keep every N-th fluorescence image")
    p.add_argument("--out", type=Path)
    p.add_argument("--table", nargs="+", type=Path, metavar="JSON", help="tabulate probe files instead")
    p.add_argument("--ref-view", default="as-is")
    p.add_argument("--base", nargs="+", type=Path, metavar="JSON",
                   help="with --table: the other network's files of the same folds, in the same order; "
                        "tabulate --table's files against them per view")
    args = p.parse_args(argv)
    if args.base and not args.table:
        p.error("--base goes with --table")
    if args.table:
        print(compare(args.table, args.base) if args.base else table(args.table, args.ref_view))
        return
    if not (args.run and args.ids and args.out):
        p.error("--run, --ids and --out are needed to probe")
    if args.every < 1:
        p.error("--every must be at least 1")
    probe(args)


if __name__ == "__main__":
    main()
