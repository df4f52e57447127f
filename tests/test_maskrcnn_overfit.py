"""Mask R-CNN can learn: overfit two synthetic 128x128 images on CPU.

A random-init MobileNet at a quarter width (``alpha=0.25``, registered for this test only
as ``mobilenet_a025``; its BatchNorm layers stay frozen) with a 32-channel FPN and light
heads is trained with Adam on two synthetic fluorescence images (all layers, plain crops
without augmentation) and must then find their nuclei: DSB score on those same images
well above 0.5. The quarter-width backbone and light heads cost about a quarter of the
CPU time per step of ``demo.yaml``'s full-width MobileNet and 64-channel heads, and at
twice the learning rate they learn the two images in the same 450 steps.

The training runs in a child process with TensorFlow's op determinism on (a no-op under
JAX, whose CPU kernels are deterministic already): TensorFlow's multi-threaded CPU kernels
otherwise make each run differ, and two images are few enough that one run in several ends
with extra detections. Deterministic, the score this machine gives is the score CI gets.

Run standalone to see the figures: ``PYTHONPATH=. .venv/bin/python tests/test_maskrcnn_overfit.py
[STEPS [LR [OPTIMIZER [SEED]]]]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 450
EPOCH_STEPS = 25  # lr drops x0.1 after 75 % of the epochs (the config's schedule)
LR = 4e-3
#: TensorFlow, 2-core AMD EPYC at load 3-8, without op determinism: seeds 0-3 scored 0.671,
#: 0.644, 0.770, 0.697 (the set-up below plus a score every 75 steps), seed 0 0.644, 0.633 and
#: 0.573 and seed 1 0.702 in later runs, and one CI run 0.340 (all 12 nuclei found, plus 8
#: false detections): threads make it vary. With op determinism seed 0 scored 0.6456 in each
#: of two runs (2026-12-02). The full-width model of demo.yaml at lr 2e-3 scored 0.595-0.722.
MIN_SCORE = 0.5
SEED = 0
SMALL_BACKBONE = "mobilenet_a025"
#: demo.yaml's model, narrower: the quarter-width backbone, a 32-channel FPN and RPN,
#: 64-wide box head and 32-channel mask head.
LIGHT = (f"model.backbone={SMALL_BACKBONE}", "model.fpn_channels=32", "model.rpn_conv_channels=32",
         "model.head_fc_dim=64", "model.mask_head_channels=32")


class _TwoImages:
    """Two synthetic 64x64 fluorescence images (7 and 5 nuclei) upscaled 2x to 128x128.

    The upscaling doubles the nuclei (diameters ~15-50 px) so that masks accurate enough
    for IoU > 0.75 can be learnt from stride-4 features in a few hundred steps.
    """

    def __init__(self) -> None:
        import cv2

        from common.synthetic import render_sample

        self.data = {}
        for i in (5, 6):
            image, labels = render_sample(0, i, "fluorescence", (64, 64))
            self.data[str(i)] = (cv2.resize(image, (128, 128), interpolation=cv2.INTER_LINEAR),
                                 cv2.resize(labels, (128, 128), interpolation=cv2.INTER_NEAREST))
        self.ids = sorted(self.data)

    def load_image(self, image_id: str) -> np.ndarray:
        return self.data[image_id][0]

    def load_labels(self, image_id: str) -> np.ndarray:
        return self.data[image_id][1]


@contextlib.contextmanager
def quarter_mobilenet():
    """Registers ``keras.applications.MobileNet(alpha=0.25)`` as :data:`SMALL_BACKBONE` while
    the block runs: the ``mobilenet`` entry's pyramid layers at a quarter of its channels."""
    import keras

    from common.backbones import BACKBONES, register_backbone

    full = BACKBONES["mobilenet"]
    register_backbone(SMALL_BACKBONE, levels=full.levels, preprocess=full.preprocess,
                      channels={k: v // 4 for k, v in full.channels.items()})(
        lambda input_shape, weights: keras.applications.MobileNet(
            include_top=False, weights=weights, input_shape=input_shape, alpha=0.25))
    try:
        yield
    finally:
        BACKBONES.pop(SMALL_BACKBONE, None)


def overfit(steps: int = STEPS, lr: float = LR, seed: int = SEED, optimizer: str = "adam") -> dict:
    """Train on two images for ``steps`` steps and score predictions on them (deterministic
    under TensorFlow: op determinism is switched on for the rest of the process)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    with quarter_mobilenet():
        return _overfit(steps, lr, seed, optimizer)


def _overfit(steps: int, lr: float, seed: int, optimizer: str) -> dict:
    import keras

    from common.config import load_config
    from common.metrics import score_dataset
    from common.paths import CONFIGS
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.model import build_model
    from solutions.maskrcnn.predict import predict_images
    from solutions.maskrcnn.train import build_optimizer, jit_compile_default

    keras.utils.set_random_seed(seed)
    epochs = max(1, steps // EPOCH_STEPS)
    cfg = load_config(MaskRCNNConfig, CONFIGS["maskrcnn"] / "demo.yaml", [
        f"train.lr={lr}", f"train.optimizer={optimizer}", "train.batch_size=2",
        "train.heads_epochs=0", f"train.all_epochs={epochs}", "train.lr_drops=[0.75]",
        "train.augment_level=none", "train.weight_decay=0", "model.rpn_nms_inference=0.7",
        "model.rois_per_image=32", "model.proposals_train=128", "model.pre_nms_limit=600",
        "model.rpn_samples_per_image=128", "model.detection_min_confidence=0.7",
        # the images as read, as when the scores above were measured: demo.yaml's
        # gray_invert_percentile (from base.yaml since 2026-12-04) scored 0.458 (none: 0.702) on a
        # 2-core Intel Xeon with op determinism (.ci/run, then `.venv/bin/python -m pytest -s
        # tests/test_maskrcnn_overfit.py`, 2026-12-04), every
        # nucleus found but with looser outlines on these already saturated synthetic images
        "data.normalise=none", *LIGHT])
    data = _TwoImages()
    model = build_model(cfg.model)
    model.freeze_backbone(False)
    seq = TrainSequence(data, data.ids, cfg, model.anchors_np((128, 128)), steps=EPOCH_STEPS,
                        seed=seed)
    model.compile(optimizer=build_optimizer(cfg.train, model), jit_compile=jit_compile_default())
    start = time.perf_counter()
    history = model.fit(seq, epochs=epochs, verbose=0, callbacks=[
        keras.callbacks.LearningRateScheduler(cfg.train.learning_rate)])
    train_s = time.perf_counter() - start
    images = [data.load_image(i) for i in data.ids]
    found = predict_images(model, cfg, images)
    report = score_dataset({i: data.load_labels(i) for i in data.ids},
                           {i: inst.labels for i, inst in zip(data.ids, found)})
    return {"score": float(report.score), "train_s": train_s, "steps": epochs * EPOCH_STEPS,
            "loss": {k: round(float(v[-1]), 3) for k, v in history.history.items()},
            "per_threshold": [round(float(v), 3) for v in report.per_threshold],
            "n_pred": [int(inst.labels.max()) for inst in found],
            "n_true": [int(data.load_labels(i).max()) for i in data.ids]}


@pytest.mark.slow
def test_overfit_two_synthetic_images():
    # a child process: op determinism is process-wide and would slow the tests after this one
    from common.paths import REPO_ROOT, repo_pythonpath

    proc = subprocess.run([sys.executable, str(Path(__file__).resolve())], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=1200, env={**os.environ, "PYTHONPATH": repo_pythonpath()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result)
    assert result["score"] > MIN_SCORE, result


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else STEPS
    lr = float(sys.argv[2]) if len(sys.argv) > 2 else LR
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else SEED
    print(json.dumps(overfit(steps, lr, seed, optimizer=sys.argv[3] if len(sys.argv) > 3 else "adam")))
