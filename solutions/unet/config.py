"""The U-Net solution's config: one validated dataclass for both U-Nets.

``model.kind`` picks the network:

* ``"baseline"``: the study's U-Net (semantic mask, images resized to
  ``data.input_size``, instances by connected components); solution ``unet-baseline``.
* ``"watershed"``: the stronger multi-channel U-Net (body, border, centre), trained on
  random crops at native resolution, instances by marker-controlled watershed;
  solution ``unet``.

Loaded with :func:`common.config.load_config` from ``configs/*.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.config import ConfigError
from solutions.unet.adapt_config import AdaptConfig
from solutions.unet.bn_adapt_config import BatchNormAdaptConfig
from solutions.unet.denoise_config import DenoiseConfig
from solutions.unet.scale_norm_config import ScaleNormConfig

CHANNELS = ("body", "border", "centre")  # the default maps
KNOWN_CHANNELS = (*CHANNELS, "touch")  # every map solutions.unet.targets can make


@dataclass
class ModelConfig:
    """Network architecture.

    Attributes:
        kind: ``"baseline"`` (study U-Net) or ``"watershed"`` (multi-channel U-Net).
        filters: Baseline: filters of each down level (its length is the depth).
        centre_filters: Baseline: filters of the bottom (centre) block.
        encoder: Watershed: ``"plain"`` or a name from ``common.backbones``.
        encoder_weights: ``"none"``, ``"imagenet"`` or a weights path (backbones only).
        base_filters: Watershed/plain: filters of the first level (doubled per level).
        depth: Watershed/plain: number of 2x down-samplings (network stride 2^depth).
        decoder_filters: Watershed/backbone: decoder filters at strides 16, 8, 4, 2, 1.
        batch_norm: Watershed: BatchNorm after each conv.
        dropout: Dropout rate in the bottom block (0 = off).
        channels: Watershed output maps, a subset of ``KNOWN_CHANNELS`` (``body``, ``border``,
            ``centre``, ``touch``: ``solutions.unet.targets``) that starts with ``"body"``.
    """

    kind: Literal["baseline", "watershed"] = "watershed"
    filters: tuple[int, ...] = (8, 16, 32, 64)
    centre_filters: int = 128
    encoder: str = "plain"
    encoder_weights: str = "none"
    base_filters: int = 16
    depth: int = 4
    decoder_filters: tuple[int, ...] = (128, 64, 32, 16, 16)
    batch_norm: bool = True
    dropout: float = 0.0
    channels: tuple[str, ...] = CHANNELS

    @property
    def stride(self) -> int:
        """Input sizes must be multiples of this."""
        if self.kind == "baseline":
            return 2 ** len(self.filters)
        return 32 if self.encoder != "plain" else 2 ** self.depth

    def validate(self) -> None:
        if self.kind == "baseline" and not self.filters:
            raise ConfigError("model.filters must list at least one level")
        if any(f < 1 for f in self.filters) or self.centre_filters < 1 or self.base_filters < 1:
            raise ConfigError("model filters must be positive")
        if not 1 <= self.depth <= 6:
            raise ConfigError(f"model.depth must be 1..6, got {self.depth}")
        if len(self.decoder_filters) != 5:
            raise ConfigError("model.decoder_filters needs 5 values (strides 16, 8, 4, 2, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout must be in [0, 1)")
        if not self.channels or self.channels[0] != "body" or any(c not in KNOWN_CHANNELS for c in self.channels):
            raise ConfigError(f"model.channels must start with 'body' and use {KNOWN_CHANNELS}, got {self.channels}")
        if len(set(self.channels)) != len(self.channels):
            raise ConfigError("model.channels has duplicates")
        if self.encoder != "plain":
            from common.backbones import list_backbones

            if self.encoder not in list_backbones():
                raise ConfigError(f"model.encoder {self.encoder!r} is not 'plain' or one of {list_backbones()}")


@dataclass
class DataConfig:
    """What the network sees.

    Attributes:
        input_size: Baseline: images are resized to this square size (e.g. 256).
        crop_size: Watershed: random training crops (smaller images are padded).
        augment: Augmentation level passed to ``common.augment.build_augmenter``.
        val_fraction: Share of the training folds held out for validation / early stopping.
        border_width: Watershed target: width in pixels of the border map (and the radius
            of the ``touch`` map).
        max_train_images: Use at most this many training images (0 = all; tests, demos).
        normalise: Per-image input normalisation, ``common.normalise.normalise_image``
            mode (``none``, ``percentile``, ``gray_invert``, ...), applied before
            augmentation in training and before TTA in prediction.
        fluorescence_gray: With a gray ``normalise`` mode, how an image with a dark background
            becomes gray: ``luminance`` (as every other image; the default here, what a saved run
            without the key was trained with) or ``max`` (its brightest channel: a nucleus stain
            in false colour keeps its full range; the same on gray images). Shipped ``max``.
        flatten_background: With a gray ``normalise`` mode, a dark-background image loses its smooth
            background before the stretch (``common.normalise.flatten_background``). Off here (what a
            saved run without the key was trained with).
        scale_range: ``[lo, hi]`` random-scale factors of the augmentation (e.g.
            ``[0.5, 2.0]``); empty: the ``augment`` level's own range.
        stain_augment: Probability of a stain/colour jitter (HEStain, HSV or colour jitter).
        blur_noise: Probability of a Gaussian blur, and of Gaussian noise, on top of the level.
        cytoplasm: Probability of painting unlabelled cell bodies around the nuclei of a
            training crop (``common.augment.synthetic_cytoplasm``).
        dim_nuclei: Probability of dimming each nucleus of a training crop by its own random
            factor (``common.augment.dim_nuclei``).
        grain: Probability of correlated camera grain on a training crop (``common.augment``'s
            ``grain``: Gaussian noise at half resolution, as on the grainy 512x640 fluorescence).
        defocus: Probability of an out-of-focus Gaussian blur on a training crop (``common.augment``'s
            ``defocus``: sigma 0.5–2.5 px).
        balance: Kind-balanced sampling (``common.sampling``): a training image of a kind
            (type and size) with ``n`` images is drawn with probability ``n ** -balance``;
            0 draws uniformly, 1 every kind equally often.
    """

    input_size: int = 256
    crop_size: int = 256
    augment: str = "strong"
    val_fraction: float = 0.1
    border_width: int = 2
    max_train_images: int = 0
    normalise: str = "none"
    fluorescence_gray: str = "luminance"
    flatten_background: bool = False
    scale_range: tuple[float, ...] = ()
    stain_augment: float = 0.0
    blur_noise: float = 0.0
    cytoplasm: float = 0.0
    dim_nuclei: float = 0.0
    grain: float = 0.0
    defocus: float = 0.0
    balance: float = 0.0

    def validate(self) -> None:
        from common.normalise import check_fluorescence_gray, check_mode

        check_mode(self.normalise)
        check_fluorescence_gray(self.fluorescence_gray)
        if self.scale_range and (len(self.scale_range) != 2 or not 0 < self.scale_range[0] < self.scale_range[1]):
            raise ConfigError(f"data.scale_range must be [lo, hi] with 0 < lo < hi, got {list(self.scale_range)}")
        probabilities = (self.stain_augment, self.blur_noise, self.cytoplasm, self.dim_nuclei, self.grain,
                         self.defocus)
        if not all(0.0 <= v <= 1.0 for v in probabilities):
            raise ConfigError("data.stain_augment, data.blur_noise, data.cytoplasm, data.dim_nuclei, data.grain and "
                              "data.defocus are probabilities in [0, 1]")
        if not 0.0 <= self.balance <= 1.0:
            raise ConfigError(f"data.balance must be in [0, 1] (0: uniform, 1: every kind equally often), "
                              f"got {self.balance}")
        if self.input_size < 16 or self.crop_size < 16:
            raise ConfigError("data.input_size and data.crop_size must be >= 16")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError("data.val_fraction must be in [0, 1)")
        if self.border_width < 1:
            raise ConfigError("data.border_width must be >= 1")


@dataclass
class LossConfig:
    """Loss: ``name`` for the baseline; BCE + dice per channel for the watershed net.

    Attributes:
        name: ``"dice"``, ``"iou"`` (soft Jaccard), ``"bce"`` or ``"bce_dice"``.
        metric: Reported metric: ``"dice"`` or ``"iou"`` (hard, at 0.5).
        bce_weight: Weight of the BCE term (``bce_dice``).
        dice_weight: Weight of the dice term (``bce_dice``).
        channel_weights: One weight per ``model.channels`` entry (empty = all 1).
    """

    name: Literal["dice", "iou", "bce", "bce_dice"] = "bce_dice"
    metric: Literal["dice", "iou"] = "dice"
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    channel_weights: tuple[float, ...] = ()


@dataclass
class TrainConfig:
    """Optimisation.

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"``.
        lr: Initial learning rate.
        momentum: SGD momentum.
        lr_schedule: ``"constant"``, ``"cosine"`` (over ``epochs * steps_per_epoch``) or
            ``"cosine_time"`` (over ``time_budget_s`` of wall-clock time).
        epochs: Maximum number of epochs.
        steps_per_epoch: Batches per epoch (0 = one pass over the training images).
        batch_size: Images per batch.
        patience: Early stopping after this many epochs without a better ``val_loss``
            (0 = off).
        time_budget_s: Stop after this many seconds of training (0 = no limit);
            counted over resumes.
        workers: Threads building batches (1 = in the training loop).
        mixed_precision: ``mixed_float16`` policy (GPU).
        gpus: Devices for one run: 0 or 1 = one device (the backend's default); N > 1 =
            data parallel over the first N GPUs (``tf.distribute.MirroredStrategy`` under
            TensorFlow, ``keras.distribution.DataParallel`` under JAX; ``batch_size`` is the
            global batch and must be divisible by N); -1 = every visible GPU. See
            ``common.training.distribution``.
        tensorboard: Write TensorBoard logs.
    """

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    lr_schedule: Literal["constant", "cosine", "cosine_time"] = "constant"
    epochs: int = 50
    steps_per_epoch: int = 0
    batch_size: int = 8
    patience: int = 0
    time_budget_s: float = 0.0
    workers: int = 1
    mixed_precision: bool = False
    gpus: int = 0
    tensorboard: bool = True

    def validate(self) -> None:
        if self.lr <= 0:
            raise ConfigError("train.lr must be > 0")
        if self.epochs < 1 or self.batch_size < 1 or self.steps_per_epoch < 0:
            raise ConfigError("train.epochs and train.batch_size must be >= 1, steps_per_epoch >= 0")
        if self.lr_schedule == "cosine_time" and self.time_budget_s <= 0:
            raise ConfigError("train.lr_schedule 'cosine_time' needs train.time_budget_s > 0")
        if self.patience < 0 or self.time_budget_s < 0 or self.workers < 1:
            raise ConfigError("train.patience/time_budget_s must be >= 0 and workers >= 1")
        from common.devices import validate_gpus

        validate_gpus(self.gpus, self.batch_size)


@dataclass
class PostConfig:
    """Default post-processing (``probs_to_instances`` params) before tuning.

    Attributes:
        mask_threshold: Pixel is nucleus when body > this.
        seed_threshold: Marker pixel when body - border > this (watershed).
        centre_threshold: Also require centre > this for markers (0 = ignore).
        min_area: Drop instances smaller than this (pixels).
        min_seed_area: Drop markers smaller than this (pixels).
        min_area_rel: Then drop instances smaller than this fraction of the image's median
            instance area (0: off; ``common.instances``).
        merge_border: Merge touching instances whose contact has a mean border
            probability below this: one nucleus cut in pieces (0: off; watershed only).
        split_solidity: Split instances less solid than this at the necks of their shape
            (``common.instances.split_by_shape``; 0: off).
        split_depth: The relative neck depth that splits (with ``split_solidity``).
        tune: Tune these on OOF predictions after ``predict --split oof``.
    """

    mask_threshold: float = 0.5
    seed_threshold: float = 0.5
    centre_threshold: float = 0.0
    min_area: int = 5
    min_seed_area: int = 3
    min_area_rel: float = 0.0
    merge_border: float = 0.0
    split_solidity: float = 0.0
    split_depth: float = 0.2
    tune: bool = True

    def validate(self) -> None:
        if not 0.0 <= self.min_area_rel < 1.0:
            raise ConfigError(f"post.min_area_rel is a fraction of the median instance area in [0, 1), "
                              f"got {self.min_area_rel}")
        if not 0.0 <= self.merge_border <= 1.0:
            raise ConfigError(f"post.merge_border is a border probability in [0, 1], got {self.merge_border}")
        if not 0.0 <= self.split_solidity <= 1.0:
            raise ConfigError(f"post.split_solidity is a solidity in [0, 1], got {self.split_solidity}")
        if not 0.0 < self.split_depth < 1.0:
            raise ConfigError(f"post.split_depth is a fraction in (0, 1), got {self.split_depth}")

    def params(self) -> dict:
        """The ``probs_to_instances`` params dict."""
        return {"mask_threshold": self.mask_threshold, "seed_threshold": self.seed_threshold,
                "centre_threshold": self.centre_threshold, "min_area": self.min_area,
                "min_seed_area": self.min_seed_area, "min_area_rel": self.min_area_rel,
                "merge_border": self.merge_border, "split_solidity": self.split_solidity,
                "split_depth": self.split_depth}


#: The ``predict.tta`` names (``solutions.unet.inference`` holds their views).
TTA_MODES = ("none", "hflip", "flip", "d4")


@dataclass
class PredictConfig:
    """Inference.

    Attributes:
        tta: ``"none"``, ``"hflip"`` (the image and its mirror), ``"flip"`` (4 flips) or
            ``"d4"`` (flips x rot90, 8 views).
        tile_size: Images larger than this on a side are predicted in overlapping tiles.
        tile_overlap: Overlap between tiles in pixels.
        pad_multiple: A whole (untiled) image is reflect-padded on the bottom/right up to a
            multiple of this (0: the network stride). Under JAX every new input shape is a
            new XLA compile; ``tile_size=256, pad_multiple=256`` gives one shape (256x256).
        batch_size: Most tiles (of all TTA views of an image together) per forward pass.
        static_batch: Zero-pad a short last forward pass to the full chunk, so the batch
            dimension is fixed too (with the two above: one compiled shape under JAX).
        batch_pixels: Most input pixels per forward pass (0: no cap): a 1024x1024 tile
            goes alone, 256x256 tiles go up to 16 at a time. Bounds CPU memory.
        scale_norm: Test-time scale normalisation (:class:`ScaleNormConfig`).
        denoise: Test-time smoothing of grainy images (:class:`DenoiseConfig`).
        adapt: Test-time self-training on the images predicted (:class:`AdaptConfig`).
        bn_adapt: Batch-norm statistics re-estimated on the images predicted
            (:class:`BatchNormAdaptConfig`).
        engine: What runs the network (``common.engine``): ``auto`` (OpenVINO on a CPU
            under TensorFlow when installed, else Keras), ``keras`` or ``openvino``.
    """

    tta: Literal["none", "hflip", "flip", "d4"] = "none"
    tile_size: int = 1024
    tile_overlap: int = 64
    pad_multiple: int = 0
    batch_size: int = 8
    static_batch: bool = False
    batch_pixels: int = 1 << 20
    scale_norm: ScaleNormConfig = field(default_factory=ScaleNormConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    bn_adapt: BatchNormAdaptConfig = field(default_factory=BatchNormAdaptConfig)
    engine: Literal["auto", "keras", "openvino"] = "auto"


@dataclass
class UNetConfig:
    """The whole U-Net config (see the YAML files under ``configs/``)."""

    solution: str = "unet"
    seed: int = 42
    n_folds: int = 5
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    post: PostConfig = field(default_factory=PostConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    def validate(self) -> None:
        if self.model.kind == "baseline":
            if self.data.input_size % self.model.stride:
                raise ConfigError(f"data.input_size {self.data.input_size} must be a multiple of "
                                  f"{self.model.stride} for {len(self.model.filters)} levels")
        else:
            if self.data.crop_size % self.model.stride:
                raise ConfigError(f"data.crop_size {self.data.crop_size} must be a multiple of "
                                  f"the network stride {self.model.stride}")
            if self.loss.name != "bce_dice":
                raise ConfigError("the watershed U-Net uses loss.name 'bce_dice'")
        n_out = 1 if self.model.kind == "baseline" else len(self.model.channels)
        if self.loss.channel_weights and len(self.loss.channel_weights) != n_out:
            raise ConfigError(f"loss.channel_weights needs {n_out} values, got {len(self.loss.channel_weights)}")
        if self.predict.tile_size % self.model.stride or self.predict.tile_overlap >= self.predict.tile_size:
            raise ConfigError("predict.tile_size must be a multiple of the stride and > tile_overlap")
        if self.predict.batch_size < 1 or self.predict.batch_pixels < 0:
            raise ConfigError(f"predict.batch_size must be >= 1 and predict.batch_pixels >= 0, got "
                              f"{self.predict.batch_size} and {self.predict.batch_pixels}")
        if self.predict.pad_multiple < 0 or self.predict.pad_multiple % self.model.stride:
            raise ConfigError(f"predict.pad_multiple {self.predict.pad_multiple} must be 0 or a multiple "
                              f"of the network stride {self.model.stride}")
        if self.n_folds < 2:
            raise ConfigError("n_folds must be >= 2")
        if self.predict.scale_norm.enabled and self.model.kind == "baseline":
            raise ConfigError("predict.scale_norm needs the watershed U-Net (the baseline resizes every image)")
        if self.predict.adapt.enabled and self.model.kind == "baseline":
            raise ConfigError("predict.adapt needs the watershed U-Net (the baseline has no instance targets)")
        bn = self.predict.bn_adapt
        if bn.enabled and self.model.kind == "baseline":
            raise ConfigError("predict.bn_adapt needs the watershed U-Net (the baseline resizes every image)")
        if bn.enabled and not self.model.batch_norm:
            raise ConfigError("predict.bn_adapt needs model.batch_norm: true (no batch-norm statistics to adapt)")
        if bn.enabled and bn.at == "chosen" and not self.predict.scale_norm.enabled:
            raise ConfigError("predict.bn_adapt.at=chosen needs predict.scale_norm (else every view is native)")

    @property
    def n_outputs(self) -> int:
        return 1 if self.model.kind == "baseline" else len(self.model.channels)


def default_params(cfg: UNetConfig) -> dict:
    """The config's ``probs_to_instances`` params before tuning, with channel names and method.

    Importable without Keras (the ensemble uses it for untuned runs).
    """
    channels = ["body"] if cfg.model.kind == "baseline" else list(cfg.model.channels)
    method = "cc" if cfg.model.kind == "baseline" else "watershed"
    return {**cfg.post.params(), "channels": channels, "method": method}
