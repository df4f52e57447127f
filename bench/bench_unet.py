"""Benchmark the U-Nets on this machine: speed, and a time-boxed real-data training.

Usage::

    # training and inference images/s of the study baseline and the watershed U-Net
    .venv/bin/python bench/bench_unet.py speed [--configs baseline.yaml cpu30.yaml watershed.yaml]
        [--steps 3] [--n-images 8] [--out reports/bench_unet_speed.md]

    # the watershed U-Net trained from scratch on real stage1_train (fold 0 of 5) for at most
    # --minutes, thresholds tuned on its own 10% validation images, then scored with the
    # DSB metric on the held-out fold-0 images it never saw
    .venv/bin/python bench/bench_unet.py train30 [--minutes 30]
        [--config solutions/unet/configs/cpu30.yaml] [--work /tmp/unet_bench]
        [--out reports/bench_unet_realdata.md]

Each mode prints a markdown block (figures, exact command, machine, load) and writes it to
``--out`` atomically. Training speed uses random tensors at the config's crop/input size
and batch (speed does not depend on content); inference speed is whole real images
(native size, or resized for the baseline) including post-processing, TTA as configured.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.paths import CONFIGS, SHARED_DSB_DIR  # noqa: E402

PY = sys.executable


def machine() -> str:
    """CPU model, cores, backend and current load, for the report."""
    from common.machine import device_description

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return f"{device_description()}; load average {load[0]:.1f} at start"


def _write(out: Path, text: str) -> None:
    from common.io import atomic_write_text

    atomic_write_text(out, text)


def _real_images(n: int) -> list[np.ndarray]:
    from common.data import DSBDataset

    if (SHARED_DSB_DIR / "stage1_train").is_dir():
        ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
        step = max(1, len(ds.ids) // n)
        return [ds.load_image(i) for i in ds.ids[::step][:n]]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (256, 320, 3), dtype=np.uint8) for _ in range(n)]


def speed(args) -> str:
    import keras

    from common.config import load_config
    from solutions.unet.config import UNetConfig, default_params
    from solutions.unet.inference import predict_image
    from common.instances import probs_to_instances
    from solutions.unet.train import build_compiled_model

    images = _real_images(args.n_images)
    sizes = f"{len(images)} real stage1_train images, median {int(np.median([i.shape[0] for i in images]))}x" \
            f"{int(np.median([i.shape[1] for i in images]))} px"
    rows = []
    for name in args.configs:
        cfg = load_config(UNetConfig, CONFIGS["unet"] / name)
        keras.utils.set_random_seed(0)
        model = build_compiled_model(cfg)
        side = cfg.data.input_size if cfg.model.kind == "baseline" else cfg.data.crop_size
        b = cfg.train.batch_size
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (b, side, side, 3)).astype("float32")
        y = (rng.uniform(size=(b, side, side, cfg.n_outputs)) > 0.5).astype("float32")
        model.train_on_batch(x, y)  # warm-up / tracing
        t0 = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        train_ips = b * args.steps / (time.perf_counter() - t0)
        params = default_params(cfg)
        predict_image(model, images[0], cfg)  # warm-up
        t0 = time.perf_counter()
        for image in images:
            probs_to_instances(predict_image(model, image, cfg), params)
        infer_ips = len(images) / (time.perf_counter() - t0)
        net = "baseline" if cfg.model.kind == "baseline" else f"{cfg.model.encoder} {cfg.model.base_filters}f d{cfg.model.depth}"
        rows.append(f"| {name} | {net} | {model.count_params():,} | {side}x{side} x {b} | {train_ips:.2f} | "
                    f"{cfg.predict.tta} | {infer_ips:.2f} |")
        print(rows[-1], flush=True)
    return "\n".join([
        "## U-Net speed", "",
        f"Machine: {machine()}", "",
        f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`", "",
        f"Training: random tensors, {args.steps} steps after one warm-up step. Inference: {sizes}, "
        "whole images incl. post-processing.", "",
        "| config | network | params | train input x batch | train images/s | TTA | inference images/s |",
        "|---|---|---|---|---|---|---|", *rows, ""])


def _run(cmd: list[str], log) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def train30(args) -> str:
    from common.data import DSBDataset
    from common.io import read_json
    from common.metrics import score_dataset
    from common.predictions import load_prediction
    from common.runs import RunDir
    from solutions.unet.config import default_params
    from solutions.unet.predict import load_run, load_sizes, predict_folder
    from solutions.unet.tune import tune_run

    if not (SHARED_DSB_DIR / "stage1_train").is_dir():
        raise SystemExit(f"real data not found under {SHARED_DSB_DIR}")
    work = Path(args.work)
    run_name = f"cpu{args.minutes:g}min-fold0"
    header = machine()
    t_start = time.time()
    log_path = work / f"{run_name}.log"
    work.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        _run([PY, "-m", "solutions.unet.train", "--config", args.config, "--fold", "0", "--data", str(SHARED_DSB_DIR),
              "--work", str(work), "--run-name", run_name, "--verbose", "2",
              "--set", f"train.time_budget_s={args.minutes * 60:g}"], log)
    run = RunDir(work / "runs" / run_name)
    info = read_json(run.path / "run_info.json")
    summary = read_json(run.path / "train_summary.json")
    dataset = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    cfg, model = load_run(run.path)
    sizes = load_sizes(run, cfg)
    # thresholds: tuned on the run's own validation images (part of the training folds)
    val_dir = work / "predictions" / "unet-bench" / "val_fold0"
    predict_folder(model, cfg, dataset, info["val_ids"], val_dir, default_params(cfg), None, run, **sizes)
    tuned = tune_run(run.path, val_dir, dataset, info["val_ids"], default_params(cfg))
    held = info["oof_ids"][: args.max_test] if args.max_test else info["oof_ids"]
    test_dir = work / "predictions" / "unet-bench" / "heldout_fold0"
    pred_summary = predict_folder(model, cfg, dataset, held, test_dir, tuned, None, run, **sizes)
    truth = {i: dataset.load_labels(i) for i in held}
    saved = {i: load_prediction(test_dir / f"{i}.npz") for i in held}
    report = score_dataset(truth, {i: p.labels for i, p in saved.items()})
    from common.instances import floors_at_scale, probs_to_instances

    default_score = score_dataset(truth, {i: probs_to_instances(p.prob, floors_at_scale(default_params(cfg),
                                                                                        p.floor_scale))[0]
                                          for i, p in saved.items()}).score
    clusters = _clusters(work, held)
    per_type = report.per_image["score"].groupby(clusters).agg(["mean", "count"])
    lines = [
        "## Watershed U-Net, trained from scratch for at most "
        f"{args.minutes:g} minutes on this machine", "",
        f"Machine: {header}", "",
        f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}` (log: {log_path})", "",
        f"Config: `{args.config}` (resolved: {run.config_path})", "",
        "| figure | value |", "|---|---|",
        f"| DSB score, held-out fold 0 ({len(held)} images never seen), thresholds tuned on the "
        f"{len(info['val_ids'])} validation images | **{report.score:.4f}** |",
        f"| DSB score, same images, default thresholds | {default_score:.4f} |",
        f"| DSB score of the tuning (validation) images | {tuned['_oof_score']:.4f} |",
        f"| training images (fit / validation) | {len(info['fit_ids'])} / {len(info['val_ids'])} |",
        f"| training seconds | {summary['train_seconds']} |",
        f"| epochs x steps x batch | {summary['epochs']} x {cfg.train.steps_per_epoch} x {cfg.train.batch_size} |",
        f"| training images/s (crops {cfg.data.crop_size}) | {summary['train_images_per_s']} |",
        f"| inference images/s (TTA {cfg.predict.tta}, incl. post-processing) | {pred_summary['images_per_s']} |",
        f"| parameters | {summary['params']:,} |",
        f"| tuned post-processing | {({k: v for k, v in tuned.items() if not k.startswith('_') and k != 'channels'})} |",
        f"| wall time of the whole benchmark | {time.time() - t_start:.0f} s |", "",
        "Per image type (held-out):", "", "| type | DSB | images |", "|---|---|---|",
        *[f"| {t} | {r['mean']:.4f} | {int(r['count'])} |" for t, r in per_type.iterrows()], ""]
    return "\n".join(lines)


def _clusters(work: Path, ids: list[str]):
    import pandas as pd

    folds = pd.read_csv(work / "folds.csv", dtype={"image_id": str}).set_index("image_id")
    return folds.loc[ids, "cluster"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--configs", nargs="+", default=["baseline.yaml", "cpu30.yaml", "watershed.yaml"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument("--out", default=str(REPO / "reports" / "bench_unet_speed.md"))
    p = sub.add_parser("train30")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--config", default="solutions/unet/configs/cpu30.yaml")
    p.add_argument("--work", default="/tmp/unet_bench")
    p.add_argument("--max-test", type=int, default=0, help="score only the first N held-out images")
    p.add_argument("--out", default=str(REPO / "reports" / "bench_unet_realdata.md"))
    args = parser.parse_args(argv)
    text = speed(args) if args.mode == "speed" else train30(args)
    _write(Path(args.out), text)
    print(text)
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
