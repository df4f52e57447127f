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
    with ``steps=300`` it gained +0.007 ± 0.003 over group folds 0-4 with one fine-tuning and
    +0.001 ± 0.004 with another (``seed=11``), a kind moving by up to 0.04 between the two; -0.001
    on stratified folds (``bench/results/adapt_switch_cpu_20261207/``). A new network of group fold 4
    that scored below earlier ones gained +0.081 and +0.068, one of group fold 3 lost 0.005 and 0.009;
    ``interpolate=0.5`` narrowed the seed gap and trimmed the change
    (``bench/results/adapt_interp_cpu_20261207/``).

    Attributes:
        steps: Fine-tuning steps (batches of ``train.batch_size`` crops of
            ``data.crop_size``); 0: off.
        lr: Adam learning rate, constant over the steps.
        mix: Share of each batch's crops cut from the pseudo-labelled images (the rest from
            the run's training images, with the training's augmentation); 1: pseudo-labelled
            images only (the training images are then not read).
        max_images: Most images pseudo-labelled (evenly spaced in the order predicted): bounds
            the extra pass and the memory on a large test set.
        interpolate: Share of the fine-tuning's change the network keeps: its weights become
            ``original + interpolate * (fine-tuned - original)``, every weight (batch-norm
            statistics too) interpolated (robust fine-tuning by weight interpolation, as
            WiSE-FT); 1: the fine-tuned network as it is.
    """

    steps: int = 0
    lr: float = 3e-4
    mix: float = 0.5
    max_images: int = 256
    interpolate: float = 1.0

    def validate(self) -> None:
        if self.steps < 0 or self.max_images < 1:
            raise ConfigError(f"predict.adapt: steps must be >= 0 and max_images >= 1, got {self.steps} "
                              f"and {self.max_images}")
        if not (self.lr > 0 and 0 < self.mix <= 1):
            raise ConfigError(f"predict.adapt: lr must be > 0 and mix in (0, 1], got {self.lr} and {self.mix}")
        if not 0 < self.interpolate <= 1:
            raise ConfigError(f"predict.adapt.interpolate must be in (0, 1], got {self.interpolate}")

    @property
    def enabled(self) -> bool:
        return self.steps > 0
