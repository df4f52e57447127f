"""The U-Net's ``predict.adapt`` config (test-time self-training, ``solutions.unet.adapt``).

Kept apart from ``solutions.unet.config`` (which re-exports it) so each file holds one concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ConfigError


@dataclass
class AdaptConfig:
    """Fine-tune the network on its own predictions of the images it is about to predict
    (pseudo-labels), mixed with its training images, before it predicts them again
    (``solutions.unet.adapt``). No label of the predicted images is read. Off by default:
    its probe with ``steps=300`` gained +0.012 ± 0.003 over group folds 1-4 (the switch itself
    +0.009 on group fold 1); group fold 0 not measured; seen histology -0.009 on two stratified
    folds (``bench/results/selftrain_cpu_20261207/``).

    Attributes:
        steps: Fine-tuning steps (batches of ``train.batch_size`` crops of
            ``data.crop_size``); 0: off.
        lr: Adam learning rate, constant over the steps.
        mix: Share of each batch's crops cut from the pseudo-labelled images (the rest from
            the run's training images, with the training's augmentation); 1: pseudo-labelled
            images only (the training images are then not read).
        max_images: Most images pseudo-labelled (evenly spaced in the order predicted): bounds
            the extra pass and the memory on a large test set.
    """

    steps: int = 0
    lr: float = 3e-4
    mix: float = 0.5
    max_images: int = 256

    def validate(self) -> None:
        if self.steps < 0 or self.max_images < 1:
            raise ConfigError(f"predict.adapt: steps must be >= 0 and max_images >= 1, got {self.steps} "
                              f"and {self.max_images}")
        if not (self.lr > 0 and 0 < self.mix <= 1):
            raise ConfigError(f"predict.adapt: lr must be > 0 and mix in (0, 1], got {self.lr} and {self.mix}")

    @property
    def enabled(self) -> bool:
        return self.steps > 0
