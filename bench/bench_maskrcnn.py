"""Benchmark Mask R-CNN: speed of every backbone, and a time-boxed real-data check.

Usage::

    # training and inference images/s per backbone (fixed size, batch 1, a few steps)
    .venv/bin/python bench/bench_maskrcnn.py speed [--backbones mobilenet resnet50]
        [--size 256] [--steps 3] [--out reports/bench_maskrcnn_speed.md]

    # MobileNet trained on real stage1_train (fold 0 of 5) for at most --minutes on this
    # machine, then scored on the held-out fold-0 images with the DSB metric
    .venv/bin/python bench/bench_maskrcnn.py realdata [--minutes 45]
        [--config solutions/maskrcnn/configs/cpu_small.yaml] [--work /tmp/maskrcnn_bench]
        [--max-val N] [--out reports/bench_maskrcnn_realdata.md]

Each mode prints a markdown block (figures, exact command, machine) and writes it to
``--out`` atomically (a generated file: replaced on every run). Speed uses the full-size
default architecture (``base.yaml``: 256-channel FPN, 1024-wide heads) with random
weights, ``detection_min_confidence=0`` (so inference runs the mask head on all
``max_instances`` = 400 detections: the worst case); the images are synthetic.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.io import atomic_write_text  # noqa: E402
from common.paths import CONFIGS, SHARED_DSB_DIR  # noqa: E402


def machine() -> str:
    """CPU/GPU model, core count and load, for the report."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    from common.machine import device_description

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {cores} usable cores, load avg {load} at the end; {device_description()}; "
            f"Python {platform.python_version()}, Keras backend {_backend()}")


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _command() -> str:
    return ".venv/bin/python " + " ".join(shlex.quote(a) for a in ["bench/bench_maskrcnn.py"] + sys.argv[1:])


# ----------------------------------------------------------------------------- speed
def speed_one(backbone: str, size: int, steps: int) -> dict:
    """Train and inference images/s of one backbone at ``size`` px, batch 1."""
    import keras

    from common.config import load_config
    from common.synthetic import render_sample
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.model import build_model
    from solutions.maskrcnn.train import build_optimizer, jit_compile_default

    keras.backend.clear_session()
    cfg = load_config(MaskRCNNConfig, CONFIGS["maskrcnn"] / "base.yaml", [
        f"model.backbone={backbone}", "model.backbone_weights=none", f"train.crop_size={size}",
        "train.batch_size=1", "train.augment_level=none",
        # random weights give no confident detection: let all max_instances through so the
        # inference figure includes the mask head at its worst case
        "model.detection_min_confidence=0.0"])

    class _Data:
        image, labels = render_sample(0, 0, "fluorescence", (size, size))

        def load_image(self, _):
            return self.image

        def load_labels(self, _):
            return self.labels

    t0 = time.perf_counter()
    model = build_model(cfg.model)
    build_s = time.perf_counter() - t0
    batch = TrainSequence(_Data(), ["x"], cfg, model.anchors_np((size, size)), steps=1)[0]
    model.freeze_backbone(False)
    model.compile(optimizer=build_optimizer(cfg.train, model), jit_compile=jit_compile_default())
    t0 = time.perf_counter()
    model.train_on_batch(batch)  # trace / compile
    train_compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(batch)
    train_s = (time.perf_counter() - t0) / steps
    t0 = time.perf_counter()
    model.infer(batch["image"])  # trace / compile
    infer_compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        model.infer(batch["image"])
    infer_s = (time.perf_counter() - t0) / steps
    return {"backbone": backbone, "params": int(model.count_params()), "build_s": build_s,
            "train_img_s": 1.0 / train_s, "infer_img_s": 1.0 / infer_s,
            "train_first_step_s": train_compile_s, "infer_first_call_s": infer_compile_s}


def speed(args: argparse.Namespace) -> str:
    from common.backbones import list_backbones

    rows = []
    for name in args.backbones or list_backbones():
        row = speed_one(name, args.size, args.steps)
        print(json.dumps(row), flush=True)
        rows.append(row)
    lines = [f"### Mask R-CNN speed ({args.size}x{args.size}, batch 1, all layers trained, "
             f"mean of {args.steps} steps after one warm-up)", "",
             "base.yaml architecture (FPN 256, 1024-wide heads, 2000 training proposals, 256 "
             "ROIs, 1000 inference proposals), random weights; inference with 400 detections "
             "through the mask head (worst case).", "",
             "| backbone | params | train img/s | inference img/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['backbone']} | {r['params']:,} | {r['train_img_s']:.2f} | "
              f"{r['infer_img_s']:.2f} |" for r in rows]
    lines += ["", f"Command: `{_command()}`", "", f"Machine: {machine()}", ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------- real data
def _tee(cmd: list[str], log_path: Path) -> str:
    """Run ``cmd`` in the repository, echoing and saving its output; raise on failure."""
    lines = []
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc, open(log_path, "a") as log:
        for line in proc.stdout:
            if "PredictCost" in line:
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
            lines.append(line)
    if proc.returncode:
        raise SystemExit(f"{cmd[2]} failed with exit code {proc.returncode}; see {log_path}")
    return "".join(lines)


def realdata(args: argparse.Namespace) -> str:
    from common.data import DSBDataset
    from common.folds import get_folds, split_ids
    from common.metrics import score_dataset
    from common.predictions import load_prediction
    from common.paths import Workspace

    data = Path(args.data or SHARED_DSB_DIR)
    if not (data / "stage1_train").is_dir():
        raise SystemExit(f"real data not found: {data / 'stage1_train'}")
    work = Path(args.work)
    budget = int(args.minutes * 60)
    py = sys.executable
    base = ["--data", str(data), "--work", str(work)]
    train_cmd = [py, "-m", "solutions.maskrcnn.train", "--config", str(args.config), "--fold", "0",
                 "--run-name", "bench-realdata", "--set", f"train.time_budget_s={budget}"] + base
    print("$", " ".join(shlex.quote(c) for c in train_cmd), flush=True)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = _tee(train_cmd, work / "train.log")
    wall_train = time.perf_counter() - t0
    weights = ("random init (ImageNet weights could not be downloaded)"
               if "ImageNet weights unavailable" in log else "as configured")
    run = work / "runs" / "bench-realdata"
    summary = json.loads((run / "train_summary.json").read_text())
    ws = Workspace(root=work, data_dir=data)
    dataset = DSBDataset(data, "stage1_train")
    _, val_ids = split_ids(get_folds(dataset, ws.folds_csv, 5, 42), 0)
    if args.max_val:
        val_ids = val_ids[:args.max_val]
    from common.runs import RunDir
    from solutions.maskrcnn.predict import load_run, predict_folder

    cfg, model = load_run(run)
    out_dir = ws.predictions_dir("bench-realdata", "oof")
    t0 = time.perf_counter()
    pred_summary = predict_folder(model, cfg, dataset, val_ids, out_dir, RunDir(run))
    wall_pred = time.perf_counter() - t0
    true = {i: dataset.load_labels(i) for i in val_ids}
    pred = {i: load_prediction(out_dir / f"{i}.npz").labels for i in val_ids}
    report = score_dataset(true, pred)
    lines = [
        "### Mask R-CNN real-data CPU check (MobileNet, stage1_train fold 0 of 5)", "",
        f"- config: `{args.config}` with `train.time_budget_s={budget}`",
        f"- trained: {summary['epochs']} epochs, {summary['train_seconds']:.0f} s "
        f"({summary['train_images_per_s']:.2f} crops/s), stopped by budget: "
        f"{summary.get('stopped_by_time_budget')}; wall incl. start-up {wall_train:.0f} s",
        f"- predicted {pred_summary['n_images']} held-out images at "
        f"{pred_summary['images_per_s']:.2f} img/s (wall {wall_pred:.0f} s)",
        f"- **DSB score (mean AP over IoU 0.5..0.95) on {len(true)} held-out images: "
        f"{report.score:.4f}**",
        "- per threshold: " + ", ".join(f"{t:.2f}: {p:.3f}" for t, p in report.per_threshold.items()),
        f"- backbone weights: {weights}; training log: `{work / 'train.log'}`",
        "", f"Command: `{_command()}`", "", f"Machine: {machine()}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--backbones", nargs="*")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--steps", type=int, default=3)
    s.add_argument("--out", default=str(REPO / "reports" / "bench_maskrcnn_speed.md"))
    r = sub.add_parser("realdata")
    r.add_argument("--minutes", type=float, default=45)
    r.add_argument("--config", default=str(CONFIGS["maskrcnn"] / "cpu_small.yaml"))
    r.add_argument("--data", help=f"data folder (default {SHARED_DSB_DIR})")
    r.add_argument("--work", default="/tmp/maskrcnn_bench")
    r.add_argument("--max-val", type=int, default=0,
                   help="predict and score only the first N held-out images (0: all)")
    r.add_argument("--out", default=str(REPO / "reports" / "bench_maskrcnn_realdata.md"))
    args = p.parse_args(argv)
    text = speed(args) if args.mode == "speed" else realdata(args)
    atomic_write_text(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
