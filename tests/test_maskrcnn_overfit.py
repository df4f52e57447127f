"""Mask R-CNN can learn: overfit two synthetic 128x128 images on CPU.

A random-init MobileNet with a 64-channel FPN is trained on two synthetic fluorescence
images (all layers, plain crops without augmentation) and must then find their nuclei:
DSB score on those same images well above 0.5.

Run standalone to see the figures: ``.venv/bin/python tests/test_maskrcnn_overfit.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 300
MIN_SCORE = 0.6


class _TwoImages:
    def __init__(self) -> None:
        from common.synthetic import render_sample

        self.data = {str(i): render_sample(0, i, "fluorescence", (128, 128)) for i in range(2)}
        self.ids = sorted(self.data)

    def load_image(self, image_id: str) -> np.ndarray:
        return self.data[image_id][0]

    def load_labels(self, image_id: str) -> np.ndarray:
        return self.data[image_id][1]


def overfit(steps: int = STEPS, lr: float = 0.02, seed: int = 0) -> dict:
    """Train on two images for ``steps`` steps and score predictions on them."""
    import keras

    from common.config import load_config
    from common.metrics import score_dataset
    from common.paths import CONFIGS
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.model import build_model
    from solutions.maskrcnn.predict import predict_images
    from solutions.maskrcnn.train import make_optimizer

    keras.utils.set_random_seed(seed)
    cfg = load_config(MaskRCNNConfig, CONFIGS["maskrcnn"] / "demo.yaml", [
        f"train.lr={lr}", "train.batch_size=2", "train.augment_level=none",
        "train.weight_decay=0", "model.train_backbone_bn=true", "model.rpn_nms_inference=0.7"])
    data = _TwoImages()
    model = build_model(cfg.model)
    model.freeze_backbone(False)
    seq = TrainSequence(data, data.ids, cfg, model.anchors_np((128, 128)), steps=steps, seed=seed)
    model.compile(optimizer=make_optimizer(cfg.train, model), jit_compile=False)
    start = time.perf_counter()
    history = model.fit(seq, epochs=1, verbose=0)
    train_s = time.perf_counter() - start
    images = [data.load_image(i) for i in data.ids]
    found = predict_images(model, cfg, images)
    report = score_dataset({i: data.load_labels(i) for i in data.ids},
                           {i: inst.labels for i, inst in zip(data.ids, found)})
    return {"score": float(report.score), "train_s": train_s, "steps": steps,
            "loss": float(history.history["loss"][-1]),
            "n_pred": [int(inst.labels.max()) for inst in found],
            "n_true": [int(data.load_labels(i).max()) for i in data.ids]}


@pytest.mark.slow
def test_overfit_two_synthetic_images():
    result = overfit()
    print(result)
    assert result["score"] > MIN_SCORE, result


if __name__ == "__main__":
    import sys

    steps = int(sys.argv[1]) if len(sys.argv) > 1 else STEPS
    lr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
    print(overfit(steps, lr))
