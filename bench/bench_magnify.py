"""How does a trained U-Net (or Mask R-CNN) hold up when the nuclei are larger or smaller than in training?

Issue 14's first suspect for the score lost on unfamiliar images is scale: on the DSB test
images a model has not seen, the typical nucleus is several times larger than in most of
stage1_train, and the U-Net cuts each one into pieces. The group folds of stage1_train hold
few such images, so this script makes them: it magnifies held-out images of a trained run
(image bilinear, labels nearest) by each ``--factors`` value (2 = nuclei with 4x the area,
as under a 2x stronger objective) and scores the run's predictions on them, once per
prediction variant (``--variant NAME:KEY=VALUE,...``: e.g. ``predict.scale_norm.enabled=true``
with some ``tolerance``). A variant that rescues magnified images but costs at factor 1 is a
trade the table shows. ``--family maskrcnn`` does the same for a Mask R-CNN run (e.g. the
variant ``predict.scale_select.candidates=[1.0,0.67,0.5,0.33]``).

Usage::

    .venv/bin/python bench/bench_magnify.py --run WORK/runs/unet-fold0 --data ../shared/dsb2018 \\
        --ids ids.txt --factors 0.5 1 2 3 --variant off: \\
        --variant sn:predict.scale_norm.enabled=true --out reports/magnify

Writes ``magnify.md`` (DSB per factor and variant, per image type, seconds per image, and
how many images scale normalisation rescaled) and ``magnify.json`` (per image scores,
estimated areas and factors, and with ``estimate: multiscale`` the certainty of the pass at
scale 1) to ``--out``, with the command, the commit and the machine.
The network is loaded once per variant; nothing is trained.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from common.stats import format_mean_se  # noqa: E402
from common.io import atomic_write_text, write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402

__all__ = ["magnify", "main"]


def magnify(image: np.ndarray, labels: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (bilinear) and ``labels`` (nearest) resized by ``factor``; instances that
    vanish when shrinking are dropped from the labels (they are then simply absent)."""
    if factor == 1.0:
        return image, labels
    from common.scale import rescale

    out = rescale(image, factor)
    size = (out.shape[1], out.shape[0])
    return out, cv2.resize(labels.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME:KEY=V,KEY=V`` -> (NAME, [KEY=V, ...]); ``NAME:`` has no overrides. A comma
    inside brackets belongs to a list value: ``n:a=[1,2],b=3`` -> ``["a=[1,2]", "b=3"]``."""
    name, _, sets = text.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: give NAME:KEY=VALUE,...")
    return name, [s for s in re.split(r",(?![^\[]*\])", sets) if s]


def unet_predictor(run: Path, sets: list[str]):
    """``predict(image) -> (labels, info)`` of a watershed U-Net run (``info``: area, scale)."""
    from common.instances import probs_to_instances
    from common.runs import RunDir
    from solutions.unet.inference import predict_image
    from common.instances import floors_at_scale
    from solutions.unet.predict import floor_scale, load_params, load_run, load_sizes

    cfg, model = load_run(run, sets)
    rd = RunDir(run)
    params, sizes = load_params(rd, cfg), load_sizes(rd, cfg)

    def predict(image):
        info: dict = {}
        prob = predict_image(model, image, cfg, params=params, info=info, **sizes)
        floors = floor_scale(cfg, info.get("scale", 1.0))
        return probs_to_instances(prob, floors_at_scale(params, floors))[0], info

    return predict


def maskrcnn_predictor(run: Path, sets: list[str]):
    """``predict(image) -> (labels, info)`` of a Mask R-CNN run (``info``: the scale
    ``predict.scale_select`` chose)."""
    from solutions.maskrcnn.predict import load_run, predict_images

    cfg, model = load_run(run, sets)

    def predict(image):
        chosen: list[float] = []
        inst = predict_images(model, cfg, [image], scales=chosen)[0]
        return inst.labels, {"scale": chosen[0]}

    return predict


PREDICTORS = {"unet": unet_predictor, "maskrcnn": maskrcnn_predictor}


def run_variant(run: Path, sets: list[str], images: dict, truth: dict, factors: Sequence[float],
                family: str = "unet") -> pd.DataFrame:
    """One row per (image, factor): DSB score, seconds, estimated area, chosen scale, and the
    ``predict.denoise`` and multiscale facts (``denoised``, ``noise``, ``certainty_1``; None when
    not measured)."""
    from common.metrics import score_dataset

    predict = PREDICTORS[family](run, sets)
    rows = []
    for factor in factors:
        for image_id, image in images.items():
            img, lab = magnify(image, truth[image_id], factor)
            t0 = time.perf_counter()
            labels, info = predict(img)
            seconds = time.perf_counter() - t0
            score = float(score_dataset({image_id: lab}, {image_id: labels}).per_image["score"].iloc[0])
            rows.append({"image_id": image_id, "factor": factor, "score": score, "seconds": seconds,
                         "n_true": int(len(np.unique(lab)) - (lab.min() == 0)),
                         "n_pred": int(labels.max()), "area": info.get("area"), "scale": info.get("scale", 1.0),
                         "denoised": info.get("denoised"), "noise": info.get("noise"),
                         "certainty_1": (info.get("certainty") or {}).get(1.0)})
        sub = [r for r in rows if r["factor"] == factor]
        print(f"[magnify]   x{factor:g}: DSB {np.mean([r['score'] for r in sub]):.4f}, "
              f"{np.mean([r['seconds'] for r in sub]):.2f} s/image", flush=True)
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, variants: list[str], types: dict, header: list[str]) -> str:
    """The Markdown report: DSB per factor x variant (paired difference from the first
    variant), per image type, seconds per image and images rescaled."""
    ref = variants[0]
    lines = [*header, "", "| factor | images | " + " | ".join(variants) + " |",
             "|---|---|" + "---:|" * len(variants)]
    for factor, fsub in table.groupby("factor"):
        for label in ["all", *sorted(set(types.values()))]:
            sub = fsub if label == "all" else fsub[fsub["image_id"].map(types) == label]
            if sub.empty:
                continue
            wide = sub.pivot(index="image_id", columns="variant", values="score")
            cells = []
            for v in variants:
                cell = f"{wide[v].mean():.3f}"
                if v != ref and len(wide) > 1:
                    cell += f" ({format_mean_se(wide[v] - wide[ref])})"
                cells.append(cell)
            lines.append(f"| x{factor:g} | {label} ({len(wide)}) | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per image, and images rescaled by scale normalisation (of all):", "",
              "| factor | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]
    for factor, fsub in table.groupby("factor"):
        cells = []
        for v in variants:
            sub = fsub[fsub["variant"] == v]
            cells.append(f"{sub['seconds'].mean():.2f} s, {(sub['scale'] != 1.0).sum()}/{len(sub)}")
        lines.append(f"| x{factor:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True, help="a trained run folder (of --family)")
    p.add_argument("--family", choices=sorted(PREDICTORS), default="unet",
                   help="the run's model family: the watershed U-Net or the Mask R-CNN")
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--ids", type=Path, required=True, help="image ids (held out from --run), one per line")
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    p.add_argument("--variant", action="append", type=parse_variant, default=[], metavar="NAME:KEY=V,...",
                   help="a prediction variant (overrides of the run's config); the first is the reference")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    variants = args.variant or [("off", [])]
    if len({n for n, _ in variants}) != len(variants):
        p.error("--variant names must differ")
    if any(f <= 0 for f in args.factors):
        p.error("--factors must be > 0")
    from common.cli import narrow_ids
    from common.data import DSBDataset
    from common.folds import image_type

    try:
        ds = DSBDataset(args.data, "stage1_train")
        ids = narrow_ids(ds.ids, args.ids)
    except (OSError, ValueError) as exc:
        p.error(str(exc))
    if not ids:
        p.error(f"{args.ids}: none of its ids is an image of {args.data / 'stage1_train'}")
    images = {i: ds.load_image(i) for i in ids}
    truth = {i: ds.load_labels(i) for i in ids}
    types = {i: image_type(images[i]) for i in ids}
    t0 = time.time()
    parts = []
    for name, sets in variants:
        print(f"[magnify] {name}: {' '.join(sets) or '(the run as trained)'}", flush=True)
        parts.append(run_variant(args.run, sets, images, truth, args.factors, args.family).assign(variant=name))
    table = pd.concat(parts, ignore_index=True)
    command = "python " + " ".join(shlex.quote(a) for a in (sys.argv if argv is None else ["bench/bench_magnify.py", *argv]))
    header = ["# Magnified held-out images: DSB per factor and prediction variant", "",
              f"Command: `{command}`", "",
              f"Run `{args.run}`; {len(ids)} images; commit `{git_commit(mark_dirty=True)}`; "
              f"machine: {machine_description()}; "
              f"wall {time.time() - t0:.0f} s.", "",
              "Each image and its labels resized by the factor (x2: nuclei with 4x the area); "
              "cells: mean DSB (paired difference from the first variant ± s.e.)."]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "magnify.md", report(table, [n for n, _ in variants], types, header))
    write_json(args.out / "magnify.json", {"command": command, "run": str(args.run),
                                           "variants": {n: s for n, s in variants},
                                           "rows": table.to_dict(orient="records")})
    print(f"[magnify] wrote {args.out / 'magnify.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
