"""Where a Mask R-CNN's prediction time goes, with and without ``predict.scale_select``.

    .venv/bin/python bench/results/scale_probe_cpu_20261205/stages.py RUN FOLDS_CSV FOLD [DATA]

Predicts the first 12 images of ``FOLD`` in ``FOLDS_CSV`` one at a time (after one warm-up
image), once with selection off and once over the candidates 1, 0.67, 0.5, 0.33, and prints
the seconds per stage of ``common.timing.Stopwatch`` (``forward`` is the network,
``postprocess`` the mask paste-back). The first image of each shape traces the network, as
in a real run over few images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.data import DSBDataset  # noqa: E402
from common.timing import Stopwatch  # noqa: E402
from solutions.maskrcnn.predict import load_run, predict_images  # noqa: E402


def main(run: str, folds_csv: str, fold: str, data: str = "/work/shared/dsb2018") -> None:
    ds = DSBDataset(data, "stage1_train")
    rows = [line.split(",") for line in Path(folds_csv).read_text().splitlines()[1:]]
    images = [ds.load_image(r[0]) for r in rows if r[1] == fold][:12]
    for name, sets in (("off", ["predict.scale_select.candidates=[]"]),
                       ("every candidate", ["predict.scale_select.candidates=[1.0,0.67,0.5,0.33]",
                                            "predict.scale_select.probe=[]"])):
        cfg, model = load_run(run, sets)
        predict_images(model, cfg, images[:1])  # warm-up
        timer, t0 = Stopwatch(), time.perf_counter()
        for image in images:
            predict_images(model, cfg, [image], timer)
        print(f"{name}: {time.perf_counter() - t0:.2f} s;",
              ", ".join(f"{k} {v:.2f} s" for k, v in timer.seconds().items()))


if __name__ == "__main__":
    main(*sys.argv[1:])
