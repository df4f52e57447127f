"""Where inference time goes: seconds per image per stage, per solution and image size.

    .venv/bin/python bench/bench_inference.py [--configs unet-cpu30 unet-baseline maskrcnn-mobilenet maskrcnn-cpu_small]
        [--sizes 256x256 520x696 1024x1024 1040x1388 mix] [--n 4] [--n-mix 24] [--tta none hflip flip]
        [--unet-run RUN_DIR] [--base DIR] [--out bench/results/inference_cpu_<date>]

For every (code, config, TTA, size) one fresh subprocess builds the model, predicts one
image as a warm-up (graph tracing; its seconds are reported as ``first image``), then
predicts ``--n`` real stage1_train images of that size through the solution's own
end-to-end function (``solutions/unet/predict.py`` or ``solutions/maskrcnn/predict.py``:
image loading, normalisation, TTA views, network, merging, post-processing and ``.npz``
writing, into a temp folder) with a ``common.timing.Stopwatch``; the stages are the ones
``common/timing.py`` lists. ``mix`` is the first ``--n-mix`` out-of-fold images of
``--unet-run`` (the DSB mix of sizes), else every 11th image; ``tiled:HxW`` (e.g.
``tiled:4096x4096``) mirrors a real 256x256 image out to a size larger than DSB has, to
check that memory stays bounded. Peak memory is the
subprocess's ``ru_maxrss`` (the TensorFlow runtime included; the model-built figure is
the RSS before the first image). CPU seconds per image (user + system, all threads) are
also recorded: on a shared machine they move much less with the load than the wall time.

``--base DIR`` is a checkout of an older commit (``git worktree add /tmp/infer-base <commit>``):
each combination runs with its code too, right after this checkout's, so both see the same
machine load; an old checkout without the stopwatch gives only the end-to-end figures.
``--unet-run`` loads trained weights into the cpu30 U-Net (the watershed's work depends on
what the maps look like); the other models have random weights. Mask R-CNN runs with
``detection_min_confidence=0`` and ``max_instances`` = the median number of nuclei of the
chosen images, so the mask head and the paste-back see a typical count, not 400.

Writes ``results.json`` and ``README.md`` (tables, command, machine, load, commits) to ``--out``.
``bench_inference.py merge DIR... OUT`` joins the results of several runs (e.g. made side by
side into separate folders) into one ``OUT``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"unet-cpu30": ("unet", "solutions/unet/configs/cpu30.yaml"),
           "unet-baseline": ("unet", "solutions/unet/configs/baseline.yaml"),
           "maskrcnn-mobilenet": ("maskrcnn", "solutions/maskrcnn/configs/mobilenet.yaml"),
           "maskrcnn-cpu_small": ("maskrcnn", "solutions/maskrcnn/configs/cpu_small.yaml")}

def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime

class _Tiled:
    """Images larger than any in DSB: a real 256x256 image tiled (mirrored) to ``(h, w)``.

    Stands in for a dataset (``load_image``, ``image_shape``); ids are ``big<k>``.
    """

    def __init__(self, ds, h: int, w: int):
        self.ds, self.hw = ds, (h, w)
        self.small = [i for i in sorted(ds.ids) if tuple(ds.image_shape(i)) == (256, 256)]

    def image_shape(self, image_id: str) -> tuple[int, int]:
        return self.hw

    def load_image(self, image_id: str):
        import numpy as np

        tile = self.ds.load_image(self.small[int(image_id[3:]) % len(self.small)])
        reps = (-(-self.hw[0] // 256), -(-self.hw[1] // 256), 1)
        return np.ascontiguousarray(np.pad(tile, ((0, 256 * (reps[0] - 1)), (0, 256 * (reps[1] - 1)), (0, 0)),
                                           mode="symmetric")[:self.hw[0], :self.hw[1]])


def _pick_ids(ds, size: str, n: int, n_mix: int, unet_run: str | None) -> list[str]:
    """``n`` ids of images ``HxW`` (cycled when fewer exist), ``big<k>`` ids for a
    ``tiled:HxW`` size, or the ``mix`` set."""
    if size.startswith("tiled:"):
        return [f"big{k}" for k in range(n)]
    if size == "mix":
        if unet_run:
            info = json.loads((Path(unet_run) / "run_info.json").read_text())
            return sorted(info["oof_ids"])[:n_mix]
        return sorted(ds.ids)[::11][:n_mix]
    h, w = (int(v) for v in size.split("x"))
    ids = [i for i in sorted(ds.ids) if tuple(ds.image_shape(i)) == (h, w)]
    if not ids:
        raise SystemExit(f"bench_inference: no stage1_train image of size {size}")
    return [ids[k % len(ids)] for k in range(n)]

def _stopwatch_class():
    """``Stopwatch`` of this checkout's ``common/timing.py`` (an older ``--code`` may lack it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_timing", REPO / "common" / "timing.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Stopwatch

def _call(fn, *args, timer=None, **kwargs):
    """``fn(*args, **kwargs)``, passing ``timer`` only when ``fn`` takes one (older code does not)."""
    if timer is not None and "timer" in inspect.signature(fn).parameters:
        kwargs["timer"] = timer
    return fn(*args, **kwargs)

def _unet(cfg_path: Path, tta: str, unet_run: str | None):
    """(cfg, model, predict(ids, out_dir, timer)) of a U-Net config."""
    import solutions.unet.predict as pred
    from common.config import load_config
    from common.runs import RunDir
    from solutions.unet.config import UNetConfig, default_params
    from solutions.unet.model_watershed import build_model

    cfg = load_config(UNetConfig, cfg_path)
    model = build_model(cfg)
    run = RunDir(tempfile.mkdtemp(prefix="bench_inference_run_"))
    params, sizes = default_params(cfg), {}
    if unet_run and cfg_path.name == "cpu30.yaml":
        run = RunDir(unet_run)
        model.load_weights(run.weights_for_inference())
        params = pred.load_params(run, cfg)
        if hasattr(pred, "load_sizes"):  # the trained run's nucleus sizes (enlarge_below); not before 2026-12-05
            sizes = pred.load_sizes(run, cfg)
    fn = getattr(pred, "predict_folder", None) or pred.predict_ids  # the name before 2026-12-02

    def predict(ds, ids, out_dir, timer):
        return _call(fn, model, cfg, ds, ids, out_dir, params, tta, run, timer=timer, **sizes)
    return cfg, predict

def _maskrcnn(cfg_path: Path, tta: str, n_instances: int):
    """(cfg, predict(ids, out_dir, timer)) of a Mask R-CNN config with random weights."""
    import solutions.maskrcnn.predict as pred
    from common.config import load_config
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.model import build_model

    cfg = load_config(MaskRCNNConfig, cfg_path, [
        "model.backbone_weights=none", "model.detection_min_confidence=0.0",
        f"model.max_instances={max(1, n_instances)}", f"predict.tta_flip={str(tta in ('hflip', 'flip')).lower()}"])
    model = build_model(cfg.model)
    from common.runs import RunDir

    run = RunDir(tempfile.mkdtemp(prefix="bench_inference_run_"))

    def predict(ds, ids, out_dir, timer):
        if hasattr(pred, "predict_folder"):
            return _call(pred.predict_folder, model, cfg, ds, ids, out_dir, run, timer=timer)
        return _call(pred.predict_split, model, cfg, ds, ids, out_dir, "bench", timer=timer)  # older name
    return cfg, predict

def one(args: argparse.Namespace) -> dict:
    """One (code, config, TTA, size) measurement in this process; returns the record."""
    # the data this checkout reads, also for a --base checkout elsewhere (its default is beside it)
    if "DSB_SHARED_DIR" not in os.environ:
        sys.path.insert(0, str(REPO))
        from common.paths import SHARED_DSB_DIR

        os.environ["DSB_SHARED_DIR"] = str(SHARED_DSB_DIR)
        for name in [m for m in sys.modules if m == "common" or m.startswith("common.")]:
            del sys.modules[name]  # import common from --code below
        sys.path.remove(str(REPO))
    sys.path.insert(0, str(Path(args.code).resolve()))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from common.data import DSBDataset
    from common.paths import SHARED_DSB_DIR

    ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    if args.size.startswith("tiled:"):
        ds = _Tiled(ds, *(int(v) for v in args.size[6:].split("x")))
    ids = _pick_ids(ds, args.size, args.n, args.n_mix, args.unet_run)
    family, rel = CONFIGS[args.config]
    cfg_path = Path(args.code) / rel
    if family == "unet":
        _, predict = _unet(cfg_path, args.tta, args.unet_run)
    else:
        counts = [len(list((SHARED_DSB_DIR / "stage1_train" / i / "masks").glob("*.png"))) for i in ids]
        _, predict = _maskrcnn(cfg_path, args.tta, int(np.median(counts)))
    Stopwatch = _stopwatch_class()
    model_rss = _rss_mib()
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        t0 = time.perf_counter()
        predict(ds, ids[:1], Path(tmp) / "warm", None)
        first = time.perf_counter() - t0
        timer = Stopwatch()
        t0, c0 = time.perf_counter(), _cpu_s()
        predict(ds, ids, Path(tmp) / "out", timer)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        out_bytes = sum(p.stat().st_size for p in (Path(tmp) / "out").glob("*.npz"))
    shapes = sorted({tuple(ds.image_shape(i)) for i in ids})
    n = len(ids)
    return {"code": args.code_name, "config": args.config, "tta": args.tta, "size": args.size,
            "n_images": n, "shapes": [list(s) for s in shapes], "wall_s": wall,
            "images_per_s": n / wall, "cpu_s_per_image": cpu / n, "first_image_s": first,
            "stages_s_per_image": {k: v / n for k, v in timer.seconds().items()},
            "stage_calls": timer.counts(), "peak_rss_mib": _rss_mib(), "model_rss_mib": model_rss,
            "npz_mib_per_image": out_bytes / n / 2**20}


def _worker(args: argparse.Namespace, name: str, root: Path, config: str, tta: str, size: str) -> dict:
    """Run :func:`one` in a fresh subprocess (its own peak memory); the record or an error."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "one", "--code", str(root), "--code-name", name,
           "--config", config, "--tta", tta, "--size", size, "--n", str(args.n), "--n-mix", str(args.n_mix)]
    if args.unet_run:
        cmd += ["--unet-run", args.unet_run]
    print(f"[bench_inference] {name} {config} tta={tta} {size} ...", flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        err = (res.stderr.strip().splitlines() or ["?"])[-1]
        print(f"[bench_inference]   failed: {err}", flush=True)
        return {"code": name, "config": config, "tta": tta, "size": size, "error": err}
    rec = json.loads(lines[-1])
    print(f"[bench_inference]   {rec['images_per_s']:.2f} images/s, peak {rec['peak_rss_mib']:.0f} MiB", flush=True)
    return rec


def run_all(args: argparse.Namespace) -> int:
    """Every combination (this checkout, then ``--base`` where asked), then the report."""
    from common.io import atomic_write_text, read_json, write_json
    from common.machine import git_commit, machine_description

    out = Path(args.out or REPO / "bench" / "results" / f"inference_cpu_{datetime.now(timezone.utc):%Y%m%d}")
    base = Path(args.base).resolve() if args.base else None
    previous = read_json(out / "results.json") if args.append else None
    runs, records = (previous["runs"], previous["records"]) if previous else ([], [])
    meta = {"command": ".venv/bin/python " + shlex.join(["bench/bench_inference.py", *sys.argv[1:]]),
            "machine": machine_description(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_start": os.getloadavg(), "commits": {"new": git_commit(REPO, mark_dirty=True)}, "unet_run": args.unet_run}
    if base:
        meta["commits"]["base"] = git_commit(base, mark_dirty=True)
    new_records = []
    for config in args.configs:
        for tta in args.tta:
            for size in args.sizes:
                new_records.append(_worker(args, "new", REPO, config, tta, size))
                if base and size in args.base_sizes:
                    new_records.append(_worker(args, "base", base, config, tta, size))
    meta["load_end"] = os.getloadavg()
    meta["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    runs.append(meta)
    keys = {(r["code"], r["config"], r["tta"], r["size"]) for r in new_records}
    records = [r for r in records if (r["code"], r["config"], r["tta"], r["size"]) not in keys]
    records += [{**r, "run": len(runs) - 1} for r in new_records]
    write_json(out / "results.json", {"runs": runs, "records": records})
    from bench.inference_report import render

    atomic_write_text(out / "README.md", render(runs, records))
    print(f"[bench_inference] wrote {out}/results.json and README.md")
    return 0


def merge(parts: list[str], out: Path) -> int:
    """Write ``out/results.json`` and ``README.md`` from the results of several runs (each
    a folder written by this script, e.g. runs made side by side); later parts win for
    the same combination."""
    from common.io import atomic_write_text, read_json, write_json
    from bench.inference_report import render

    runs, records = [], []
    for part in parts:
        data = read_json(Path(part) / "results.json")
        if data is None:
            raise SystemExit(f"bench_inference: {part}/results.json is missing")
        offset = len(runs)
        runs += data["runs"]
        new = [{**r, "run": r.get("run", 0) + offset} for r in data["records"]]
        keys = {(r["code"], r["config"], r["tta"], r["size"]) for r in new}
        records = [r for r in records if (r["code"], r["config"], r["tta"], r["size"]) not in keys] + new
    write_json(out / "results.json", {"runs": runs, "records": records})
    atomic_write_text(out / "README.md", render(runs, records))
    print(f"[bench_inference] merged {len(parts)} runs into {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge(argv[1:-1], Path(argv[-1]))
    worker = bool(argv) and argv[0] == "one"
    if worker:
        argv = argv[1:]
    p.add_argument("--configs", nargs="+", default=list(CONFIGS)[:3], choices=list(CONFIGS))
    p.add_argument("--config", choices=list(CONFIGS), help=argparse.SUPPRESS)
    p.add_argument("--sizes", nargs="+", default=["256x256", "520x696", "1024x1024", "1040x1388", "mix"])
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=4, help="images per size")
    p.add_argument("--n-mix", type=int, default=24, help="images of the mix")
    p.add_argument("--tta", nargs="+", default=["none", "flip"], choices=["none", "hflip", "flip"],
                   help="U-Net predict.tta; for Mask R-CNN hflip and flip both add its one mirrored pass")
    p.add_argument("--unet-run", help="trained cpu30 run folder whose weights the cpu30 U-Net uses")
    p.add_argument("--base", help="checkout of the commit to compare with")
    p.add_argument("--base-sizes", nargs="+", default=["mix"], help="sizes also run with --base")
    p.add_argument("--append", action="store_true",
                   help="add to --out's results.json (replacing the same combinations) instead of starting anew")
    p.add_argument("--out", help="output folder")
    p.add_argument("--code", default=str(REPO), help=argparse.SUPPRESS)
    p.add_argument("--code-name", default="new", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if worker:
        args.tta = args.tta[0] if isinstance(args.tta, list) else args.tta
        print(json.dumps(one(args)))
        return 0
    return run_all(args)

if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
