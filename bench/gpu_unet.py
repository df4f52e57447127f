"""Five-fold U-Net training and out-of-fold scoring on one GPU machine, under a deadline.

Meant for a lent GPU machine with JAX but no TensorFlow (the U-Net code uses keras.ops
and keras.utils.PyDataset only, so it runs there unchanged under ``KERAS_BACKEND=jax``)::

    python bench/gpu_unet.py --packed .devdata/dsb_train.pkl --out OUT --budget 270 --deadline 520

``--packed`` comes from ``python bench/dsb_pack.py pack ../shared/dsb2018 FILE`` (or give
``--data`` holding ``stage1_train/``). Every fold of every ``--solution NAME=CONFIG``
trains in its own process, side by side; as soon as a fold has trained it predicts its
out-of-fold images (and tunes its thresholds if the config says so). The study's Table
4.1 rows (``--study-rows``) train on fold 0 once the baseline's folds are done. At
``--deadline`` seconds anything still running is stopped, and whatever finished is
scored. ``OUT`` gets at most five files: ``progress.txt`` (rewritten every
``--every`` s), ``logs.tgz``, ``oof_scores.md``, ``oof_scores.json`` and ``results.tgz``
(per-image scores, each run's config, history, summaries and thresholds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gpu_driver import Job, add_driver_args, prepare, report_failures, run_jobs, score  # noqa: E402

DEFAULT_SOLUTIONS = ("unet=solutions/unet/configs/gpu_time.yaml", "unet-baseline=solutions/unet/configs/baseline.yaml")
STUDY_ROWS = ("loss_iou", "resize_128", "layers_11", "optimizer_sgd", "lr_1e-2", "lr_1e-4")
ONE_SHAPE = ("predict.tile_size=256", "predict.pad_multiple=256", "predict.batch_size=16", "predict.static_batch=true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_driver_args(parser, budget=270, deadline=520)
    parser.add_argument("--solution", action="append", help="NAME=CONFIG (repeat; default: the strong and baseline U-Nets)")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--study-rows", nargs="*", default=list(STUDY_ROWS),
                        help="Table 4.1 rows (solutions/unet/configs/study/<row>.yaml) to run on fold 0")
    parser.add_argument("--set", nargs="*", default=list(ONE_SHAPE), help="train --set overrides for every run")
    parser.add_argument("--pred-limit", type=int, default=0, help="predict only N images per fold (dry runs)")
    args = parser.parse_args(argv)
    limit = ("--limit", str(args.pred_limit)) if args.pred_limit else ()
    env, logs, t0 = prepare(parser, args)
    jobs = []
    for pair in args.solution or DEFAULT_SOLUTIONS:
        solution, _, config = pair.partition("=")
        jobs += [Job(solution, config, k, predict_args=limit) for k in args.folds]
    gate = next((j.solution for j in jobs if "baseline" in j.config), "")
    jobs += [Job(f"study-{row}", f"solutions/unet/configs/study/{row}.yaml", 0, after=gate,
                 predict_args=limit) for row in args.study_rows]
    run_jobs(jobs, args, env, logs, t0)
    report_failures(jobs, logs)
    score(jobs, args, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
