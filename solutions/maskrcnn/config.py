"""Validated configuration of the Mask R-CNN solution.

Loaded from ``solutions/maskrcnn/configs/*.yaml`` with ``common.config.load_config``::

    cfg = load_config(MaskRCNNConfig, "solutions/maskrcnn/configs/mobilenet.yaml",
                      overrides=["train.all_epochs=2"])

Sections: ``data`` (input normalisation, as the U-Net's ``data.normalise``), ``model``
(architecture, anchors, proposal and detection settings), ``train`` (schedule, optimiser,
data pipeline) and ``predict`` (inference options).
``validate()`` raises :class:`common.config.ConfigError` on inconsistent settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from common.config import ConfigError

#: Pyramid levels the RPN runs on; P6 is a stride-2 subsample of P5.
RPN_LEVELS: tuple[str, ...] = ("P2", "P3", "P4", "P5", "P6")
STRIDES: tuple[int, ...] = (4, 8, 16, 32, 64)
#: Inputs are padded to a multiple of the coarsest stride.
PAD_MULTIPLE = 64


@dataclass
class ModelConfig:
    """Architecture and detection settings.

    Attributes:
        backbone: A name from ``common.backbones.list_backbones()``.
        backbone_weights: ``"imagenet"``, ``"none"`` or a path to a weights file.
        train_backbone_bn: Let the backbone's BatchNorm layers update when the backbone
            is trained (False keeps them in inference mode, as in matterport).
        fpn_channels: Channels of P2..P6.
        anchor_scales: Anchor side in pixels, one per level P2..P6.
        anchor_ratios: Width/height ratios at every anchor position.
        anchor_stride: Place anchors every this many feature cells.
        rpn_conv_channels: Channels of the shared 3x3 conv of the RPN head.
        rpn_positive_iou / rpn_negative_iou: Anchor matching thresholds.
        rpn_samples_per_image / rpn_positive_fraction: Anchors sampled for the RPN loss.
        bbox_std: Delta normalisation (RPN and heads).
        pre_nms_limit: Top-k anchors kept before proposal NMS.
        proposals_train / proposals_inference: Proposals kept after NMS.
        rpn_nms_train / rpn_nms_inference: Proposal NMS IoU thresholds.
        rois_per_image: Sampled ROIs per image for the heads (training).
        roi_positive_fraction: Share of positive ROIs among them.
        roi_positive_iou: IoU with a GT box for a positive ROI.
        pool_size / mask_pool_size: ROIAlign output of the classifier / mask head.
        mask_shape: Output side of the mask head (2 x mask_pool_size).
        mini_mask_shape: Side of the GT mini-masks fed to the targets layer.
        head_fc_dim: Width of the two classifier layers.
        mask_head_channels: Width of the mask head convolutions.
        mask_head_norm: ``"gn"`` (GroupNorm), ``"bn"`` or ``"none"``.
        num_classes: Including background (2: background + nucleus).
        max_gt: Ground-truth instances per training sample (largest kept).
        detection_min_confidence: Score threshold of the final detections.
        detection_nms_threshold: Per-class NMS IoU of the final detections.
        max_instances: Detections per image.
    """

    backbone: str = "resnet50"
    backbone_weights: str = "imagenet"
    train_backbone_bn: bool = False
    fpn_channels: int = 256
    anchor_scales: tuple[int, ...] = (8, 16, 32, 64, 128)
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    anchor_stride: int = 1
    rpn_conv_channels: int = 512
    rpn_positive_iou: float = 0.7
    rpn_negative_iou: float = 0.3
    rpn_samples_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    bbox_std: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    pre_nms_limit: int = 6000
    proposals_train: int = 2000
    proposals_inference: int = 1000
    rpn_nms_train: float = 0.7
    rpn_nms_inference: float = 0.8
    rois_per_image: int = 256
    roi_positive_fraction: float = 0.33
    roi_positive_iou: float = 0.5
    pool_size: int = 7
    mask_pool_size: int = 14
    mask_shape: int = 28
    mini_mask_shape: int = 56
    head_fc_dim: int = 1024
    mask_head_channels: int = 256
    mask_head_norm: str = "gn"
    num_classes: int = 2
    max_gt: int = 400
    detection_min_confidence: float = 0.7
    detection_nms_threshold: float = 0.3
    max_instances: int = 400

    def validate(self) -> None:
        from common.backbone_presets import backbone_names

        if self.backbone not in backbone_names():
            # not a shipped preset: maybe one registered in code (this imports Keras)
            from common.backbones import list_backbones

            names = list_backbones()
            if self.backbone not in names:
                raise ConfigError(f"model.backbone: unknown backbone {self.backbone!r}; known: {names}")
        if len(self.anchor_scales) != len(RPN_LEVELS):
            raise ConfigError(f"model.anchor_scales: need one scale per level {RPN_LEVELS}, "
                              f"got {len(self.anchor_scales)}")
        if not self.anchor_ratios or any(r <= 0 for r in self.anchor_ratios):
            raise ConfigError("model.anchor_ratios: need at least one positive ratio")
        if any(s <= 0 for s in self.anchor_scales) or self.anchor_stride < 1:
            raise ConfigError("model.anchor_scales must be > 0 and anchor_stride >= 1")
        for name in ("rpn_positive_fraction", "roi_positive_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"model.{name}: {value} is outside (0, 1]")
        if not 0.0 <= self.rpn_negative_iou <= self.rpn_positive_iou <= 1.0:
            raise ConfigError("model: need 0 <= rpn_negative_iou <= rpn_positive_iou <= 1")
        for name in ("rpn_nms_train", "rpn_nms_inference", "detection_nms_threshold",
                     "roi_positive_iou", "detection_min_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"model.{name}: {getattr(self, name)} is outside [0, 1]")
        if self.mask_shape != 2 * self.mask_pool_size:
            raise ConfigError(f"model.mask_shape ({self.mask_shape}) must be 2 x mask_pool_size "
                              f"({self.mask_pool_size}): the mask head upsamples once")
        if self.mask_head_norm not in ("gn", "bn", "none"):
            raise ConfigError(f"model.mask_head_norm: {self.mask_head_norm!r} not in gn/bn/none")
        if self.num_classes < 2:
            raise ConfigError("model.num_classes counts the background: must be >= 2")
        if self.mask_head_norm == "gn" and self.mask_head_channels % min(32, self.mask_head_channels):
            raise ConfigError("model.mask_head_channels must be divisible by 32 for GroupNorm")
        for name in ("fpn_channels", "rpn_conv_channels", "head_fc_dim", "mask_head_channels",
                     "rois_per_image", "proposals_train", "proposals_inference", "max_gt",
                     "max_instances", "pre_nms_limit", "rpn_samples_per_image"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1")
        if self.proposals_train > self.pre_nms_limit or self.proposals_inference > self.pre_nms_limit:
            raise ConfigError("model: proposals_train/inference must not exceed pre_nms_limit")
        if len(self.bbox_std) != 4 or any(s <= 0 for s in self.bbox_std):
            raise ConfigError("model.bbox_std: need four positive numbers")


@dataclass
class TrainConfig:
    """Schedule, optimiser and data pipeline.

    Epochs ``[0, heads_epochs)`` train everything but the backbone (frozen); epochs
    ``[heads_epochs, heads_epochs + all_epochs)`` train all layers, with the learning rate
    multiplied by ``lr_drop_factor`` at each fraction in ``lr_drops`` of the all-layer epochs.

    Attributes:
        crop_size: Side of the random training crops (multiple of 64).
        batch_size: Images per step (global, over all replicas).
        steps_per_epoch: Batches per epoch.
        val_steps: Validation batches per epoch (0: no validation, monitor ``loss``).
        heads_epochs / all_epochs: The two stages.
        optimizer: ``"sgd"`` (with ``momentum``; the study's choice) or ``"adam"`` (for
            quick from-scratch runs when no ImageNet weights are available).
        lr / momentum / weight_decay / clipnorm: Optimiser settings (decoupled weight decay,
            per-tensor gradient clipping).
        lr_drops / lr_drop_factor: Step schedule of the all-layer stage.
        loss_weights: Weight per loss name (``rpn_class``, ``rpn_bbox``, ``class``,
            ``bbox``, ``mask``).
        augment_level: Passed to ``common.augment.build_augmenter``.
        mixed_precision: ``mixed_float16`` policy.
        time_budget_s: Stop (and mark the run finished) after this many seconds; 0: none.
        workers: PyDataset workers (0 or 1: in the main thread).
        tensorboard: Write TensorBoard logs.
        gpus: 0 or 1: one device; N > 1: data parallel over the first N GPUs (``batch_size``
            divisible by N); -1: every visible GPU (``common.training.distribution``).
    """

    crop_size: int = 256
    batch_size: int = 2
    steps_per_epoch: int = 500
    val_steps: int = 0
    heads_epochs: int = 20
    all_epochs: int = 40
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clipnorm: float = 5.0
    lr_drops: tuple[float, ...] = (0.5, 0.75)
    lr_drop_factor: float = 0.1
    loss_weights: dict = field(default_factory=lambda: {
        "rpn_class": 1.0, "rpn_bbox": 1.0, "class": 1.0, "bbox": 1.0, "mask": 1.0})
    augment_level: str = "default"
    mixed_precision: bool = False
    time_budget_s: float = 0.0
    workers: int = 0
    tensorboard: bool = True
    gpus: int = 0

    @property
    def total_epochs(self) -> int:
        return self.heads_epochs + self.all_epochs

    def validate(self) -> None:
        from common.devices import validate_gpus

        validate_gpus(self.gpus, self.batch_size)
        if self.crop_size < PAD_MULTIPLE or self.crop_size % PAD_MULTIPLE:
            raise ConfigError(f"train.crop_size: {self.crop_size} is not a positive multiple "
                              f"of {PAD_MULTIPLE}")
        if self.batch_size < 1 or self.steps_per_epoch < 1 or self.val_steps < 0:
            raise ConfigError("train: batch_size and steps_per_epoch must be >= 1, val_steps >= 0")
        if self.heads_epochs < 0 or self.all_epochs < 0 or self.total_epochs < 1:
            raise ConfigError("train: heads_epochs/all_epochs must be >= 0 with at least one epoch")
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ConfigError("train: need lr > 0, 0 <= momentum < 1, weight_decay >= 0")
        if self.clipnorm < 0 or self.time_budget_s < 0:
            raise ConfigError("train: clipnorm and time_budget_s must be >= 0")
        if any(not 0 < d < 1 for d in self.lr_drops) or list(self.lr_drops) != sorted(self.lr_drops):
            raise ConfigError("train.lr_drops: increasing fractions inside (0, 1)")
        known = {"rpn_class", "rpn_bbox", "class", "bbox", "mask"}
        unknown = sorted(set(self.loss_weights) - known)
        if unknown:
            raise ConfigError(f"train.loss_weights: unknown loss(es) {unknown}; known {sorted(known)}")
        if self.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"train.optimizer: {self.optimizer!r} not in sgd/adam")
        if self.augment_level not in ("none", "default", "strong"):
            raise ConfigError(f"train.augment_level: {self.augment_level!r} not in none/default/strong")

    def stage(self, epoch: int) -> str:
        """``"heads"`` or ``"all"`` for a 0-based epoch index."""
        return "heads" if epoch < self.heads_epochs else "all"

    def learning_rate(self, epoch: int) -> float:
        """Learning rate of a 0-based epoch index (step drops in the all-layer stage)."""
        if epoch < self.heads_epochs or self.all_epochs == 0:
            return self.lr
        frac = (epoch - self.heads_epochs) / self.all_epochs
        n_drops = sum(frac >= d for d in self.lr_drops)
        return self.lr * self.lr_drop_factor ** n_drops


SCALE_MEASURES = ("boxes", "masks")


@dataclass
class ScaleSelectConfig:
    """Per-image scale selection at test time (``predict.scale_select``): predict once without
    flip at each candidate (a factor on ``predict.scale``) and keep the scale whose detections
    are most confident (their mean score; ``common.scale.select_scale``), then predict there
    as configured. A network that sees nuclei far larger than it learnt finds few and unsure
    ones.

    Attributes:
        candidates: The factors tried (must hold 1.0); empty: off.
        margin: A candidate's mean score must beat scale 1's by more than this.
        min_cover: A candidate's instances must cover at least this fraction of what scale 1's
            cover.
        probe: Candidates tried first, beside 1.0; the others only when one of these beats
            scale 1 (by the same rule), so an image that stays at scale 1 costs
            ``1 + len(probe)`` passes, not ``len(candidates)``. Empty: every candidate always.
            Ignored while ``candidates`` is empty (off).
        measure: What a candidate pass is measured on. ``boxes``: the detection stage only
            (its detections' mean score, the fraction of the input their boxes cover); the
            mask head runs at the chosen scale only. ``masks``: the whole pass (its pasted
            instances' mean score and cover).
    """

    candidates: tuple[float, ...] = ()
    margin: float = 0.03
    min_cover: float = 0.5
    probe: tuple[float, ...] = ()
    measure: str = "boxes"

    def validate(self) -> None:
        if self.candidates and (1.0 not in self.candidates or min(self.candidates) <= 0):
            raise ConfigError(f"predict.scale_select.candidates {list(self.candidates)} must hold 1.0 "
                              "and be > 0 (empty: off)")
        if self.margin < 0 or not 0.0 <= self.min_cover <= 1.0:
            raise ConfigError("predict.scale_select: margin must be >= 0 and min_cover within 0 and 1")
        if self.candidates and any(p == 1.0 or p not in self.candidates for p in self.probe):
            raise ConfigError(f"predict.scale_select.probe {list(self.probe)} must be candidates "
                              f"{list(self.candidates)} other than 1.0")
        if self.measure not in SCALE_MEASURES:
            raise ConfigError(f"predict.scale_select.measure {self.measure!r} must be one of "
                              f"{list(SCALE_MEASURES)}")


@dataclass
class PredictConfig:
    """Inference options.

    Attributes:
        batch_size: Images per forward pass (padded to the largest in the batch).
        scale: Resize factor applied before the network (masks go back to the original size).
        tta_flip: Add a horizontally flipped pass; detections are merged by NMS.
        mask_threshold: Threshold of the pasted 28x28 mask probabilities.
        min_instance_pixels: Instances smaller than this after overlap resolution are dropped.
        save_candidates: Write ``cand_masks``/``cand_scores`` into the prediction files. Off by
            default: they are dense bool [K,H,W] at the original size (400 full masks of a
            1040x1388 image would be ~580 MB in memory). When on, only the masks that overlap
            another one before overlap resolution are kept (the others equal their label).
        max_candidates: At most this many candidates per image (highest scores first).
        scale_select: Per-image scale selection (:class:`ScaleSelectConfig`; off by default).
    """

    batch_size: int = 1
    scale: float = 1.0
    tta_flip: bool = False
    mask_threshold: float = 0.5
    min_instance_pixels: int = 1
    save_candidates: bool = False
    max_candidates: int = 64
    scale_select: ScaleSelectConfig = field(default_factory=ScaleSelectConfig)

    def validate(self) -> None:
        if self.batch_size < 1 or self.scale <= 0:
            raise ConfigError("predict: batch_size must be >= 1 and scale > 0")
        if self.max_candidates < 0:
            raise ConfigError("predict.max_candidates must be >= 0")
        if not 0 < self.mask_threshold < 1:
            raise ConfigError("predict.mask_threshold must be inside (0, 1)")


@dataclass
class DataConfig:
    """What the network sees.

    Attributes:
        normalise: Per-image input normalisation, a ``common.normalise.normalise_image``
            mode (``none``, ``percentile``, ``gray_invert_percentile``, ...), applied to
            every image before augmentation in training and before the forward pass in
            prediction; the same key as the U-Net's, so ``--set data.normalise=...`` reaches
            both families. ``configs/base.yaml`` (so every shipped config) sets
            ``gray_invert_percentile``; the default here stays ``none``, what a saved run
            whose ``config.yaml`` has no ``data.normalise`` was trained with.
        fluorescence_gray: ``luminance`` or ``max``, as the U-Net's key (``common.normalise``);
            ``base.yaml`` sets ``max``, the default here stays ``luminance`` for saved runs.
        flatten_background: As the U-Net's key (``common.normalise.flatten_background``); off.
        cytoplasm: Probability of painting unlabelled cell bodies around a training
            crop's nuclei (``common.augment.synthetic_cytoplasm``), as the U-Net's key.
        dim_nuclei: Probability of dimming each nucleus of a training crop by its own random
            factor (``common.augment.dim_nuclei``), as the U-Net's key.
        grain: Probability of correlated camera grain on a training crop (``common.augment``'s
            ``grain``), as the U-Net's key.
        defocus: Probability of an out-of-focus blur on a training crop (``common.augment``'s
            ``defocus``), as the U-Net's key.
        balance: Kind-balanced sampling of the training images (``common.sampling``):
            probability ``n ** -balance`` for an image of a kind with ``n`` images, as the
            U-Net's key.
    """

    normalise: str = "none"
    fluorescence_gray: str = "luminance"
    flatten_background: bool = False
    cytoplasm: float = 0.0
    dim_nuclei: float = 0.0
    grain: float = 0.0
    defocus: float = 0.0
    balance: float = 0.0

    def validate(self) -> None:
        from common.normalise import check_fluorescence_gray, check_mode

        check_mode(self.normalise)
        check_fluorescence_gray(self.fluorescence_gray)
        for key in ("cytoplasm", "dim_nuclei", "grain", "defocus"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"data.{key} is a probability in [0, 1], got {getattr(self, key)}")
        if not 0.0 <= self.balance <= 1.0:
            raise ConfigError(f"data.balance must be in [0, 1] (0: uniform, 1: every kind equally often), "
                              f"got {self.balance}")


@dataclass
class MaskRCNNConfig:
    """The whole solution config (see the module docstring).

    Attributes:
        solution: Solution name of the prediction folders; empty (the default) means
            ``maskrcnn-<model.backbone>``, filled in by ``validate()``.
        seed: Random seed of the fold split (``common.folds.get_folds``), the weights and
            the data order.
        n_folds: Number of folds (must match the workspace's ``folds.csv``).
    """

    #: Keys of older configs (saved runs, command lines) and where they live now.
    RENAMED_KEYS: ClassVar[dict[str, str | None]] = {
        "name": None, "train.seed": "seed", "train.folds_seed": "seed", "train.n_folds": "n_folds"}

    solution: str = ""
    seed: int = 42
    n_folds: int = 5
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    def validate(self) -> None:
        if self.n_folds < 2:
            raise ConfigError("n_folds must be >= 2")
        self.solution = self.solution or f"maskrcnn-{self.model.backbone}"

