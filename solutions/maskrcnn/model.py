"""The Mask R-CNN model (Keras 3 ``Model`` subclass; TensorFlow and JAX backends).

Graph::

    images [B,H,W,3] 0..255 (H, W multiples of 64)
      -> backbone (nested keras.Model from common.backbones) -> {"P2".."P5"}
      -> FPN -> {"P2".."P6"} -> RPNHead -> logits [B,A,2], deltas [B,A,4]
      -> ProposalLayer (train / inference NMS settings) -> proposals [B,N,4]
    training:  DetectionTargetLayer -> ROIs -> ClassifierHead + MaskHead (positive ROIs)
               -> losses (losses.py) in compute_loss (Keras' own train/test steps)
    inference: ClassifierHead -> DetectionLayer -> MaskHead on the detections

Everything is ``keras.ops`` with static shapes (the anchors of an input size are a numpy
constant), so each graph compiles once per input shape under XLA / ``jax.jit``.

``model(images)`` runs the inference branch and returns a dict ``boxes`` [B,N,4],
``class_ids`` [B,N], ``scores`` [B,N], ``masks`` [B,N,m,m] (probabilities of each
detection's class); ``N = max_instances``, zero-padded. ``model(batch_dict)`` (what
``fit`` / ``evaluate`` pass) runs the training branch and returns its outputs, from which
:meth:`MaskRCNN.compute_loss` computes the losses.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from common.backbones import build_backbone
from solutions.maskrcnn.anchors import generate_anchors
from solutions.maskrcnn.config import PAD_MULTIPLE, RPN_LEVELS, STRIDES, ModelConfig
from solutions.maskrcnn.detection import DetectionLayer
from solutions.maskrcnn.detection_targets import DetectionTargetLayer
from solutions.maskrcnn.fpn import FPN
from solutions.maskrcnn.heads import POOL_LEVELS, ClassifierHead, MaskHead
from solutions.maskrcnn.losses import LOSS_NAMES, mask_rcnn_losses
from solutions.maskrcnn.proposals import ProposalLayer
from solutions.maskrcnn.rpn import RPNHead

try:  # the function Keras' TF trainer undoes for its "loss" tracker (1 / replicas)
    from keras.src.losses.loss import scale_loss_for_distribution
except ImportError:  # pragma: no cover - private Keras module moved
    def scale_loss_for_distribution(value: Any) -> Any:
        return value

#: Smallest number of detection rows the mask head runs on in :meth:`MaskRCNN.infer`.
MIN_MASK_ROWS = 16


def _walk_layers(layer: keras.layers.Layer):
    """Yield every layer nested in ``layer`` (models included)."""
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _walk_layers(sub)


def mask_row_bucket(n: int, max_rows: int, min_rows: int = MIN_MASK_ROWS) -> int:
    """Static number of detection rows the mask head runs on for ``n`` filled rows.

    The next power of two from ``min_rows`` up, capped at ``max_rows`` (0 when ``n`` is
    0), so inference compiles at most ``log2(max_rows / min_rows) + 2`` mask graphs per
    input shape.
    """
    if n <= 0:
        return 0
    rows = min_rows
    while rows < n:
        rows *= 2
    return min(rows, max_rows)


class _Stage(keras.Model):
    """One jitted piece of :meth:`MaskRCNN.infer`: ``call(x) = getattr(owner, method)(x)``.

    Tracks the owner, so its (trainable and non-trainable) variables are the owner's and
    Keras passes them into the compiled function as state (no weights are baked in).
    """

    def __init__(self, owner: "MaskRCNN", method: str, **kwargs: Any) -> None:
        super().__init__(name=f"{owner.name}_{method}", **kwargs)
        self.owner = owner
        self.method = method
        self.built = True

    def call(self, inputs: Any, training: bool = False) -> Any:
        return getattr(self.owner, self.method)(inputs)


class MaskRCNN(keras.Model):
    """Mask R-CNN with an FPN over a registered backbone.

    Args:
        cfg: The ``model`` section of the solution config.
        loss_weights: Optional weight per loss name (default 1 each).
    """

    def __init__(self, cfg: ModelConfig, loss_weights: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg
        std = tuple(cfg.bbox_std)
        self.loss_weights = {k: float((loss_weights or {}).get(k, 1.0)) for k in LOSS_NAMES}
        self.backbone = build_backbone(cfg.backbone, weights=cfg.backbone_weights)
        self.fpn = FPN(cfg.fpn_channels, name="fpn")
        self.rpn = RPNHead(len(cfg.anchor_ratios), cfg.rpn_conv_channels, cfg.anchor_stride,
                           name="rpn")
        self.proposals_train = ProposalLayer(cfg.proposals_train, cfg.rpn_nms_train,
                                             cfg.pre_nms_limit, std, name="proposals_train")
        self.proposals_inference = ProposalLayer(cfg.proposals_inference, cfg.rpn_nms_inference,
                                                 cfg.pre_nms_limit, std, name="proposals_inference")
        self.detection_targets = DetectionTargetLayer(
            cfg.rois_per_image, cfg.roi_positive_fraction, cfg.roi_positive_iou,
            cfg.roi_positive_iou, (cfg.mask_shape, cfg.mask_shape), std, name="detection_targets")
        self.classifier = ClassifierHead(cfg.num_classes, cfg.pool_size, cfg.head_fc_dim,
                                         name="classifier")
        self.mask_head = MaskHead(cfg.num_classes, cfg.mask_pool_size, cfg.mask_head_channels,
                                  cfg.mask_head_norm, name="mask_head")
        self.detection = DetectionLayer(cfg.detection_min_confidence, cfg.detection_nms_threshold,
                                        cfg.max_instances, std, name="detection")
        # Rows [0, n_pos) of the sampled ROIs are the (only possible) positives.
        self.mask_rois = max(1, int(cfg.rois_per_image * cfg.roi_positive_fraction))
        self.trackers = {name: keras.metrics.Mean(name=f"{name}_loss") for name in LOSS_NAMES}
        # Plain attributes, not tracked by Keras (the stages track this model instead).
        object.__setattr__(self, "_anchor_cache", {})
        object.__setattr__(self, "_stages", {})
        object.__setattr__(self, "_stage_fns", {})

    # ----------------------------------------------------------------- building blocks
    def anchors_np(self, image_hw: tuple[int, int]) -> np.ndarray:
        """Anchors [A,4] of a padded input of size ``image_hw`` (cached)."""
        key = (int(image_hw[0]), int(image_hw[1]))
        if key not in self._anchor_cache:
            c = self.cfg
            self._anchor_cache[key] = generate_anchors(key, c.anchor_scales, c.anchor_ratios,
                                                       STRIDES, c.anchor_stride)
        return self._anchor_cache[key]

    @staticmethod
    def _image_hw(images: Any) -> tuple[int, int]:
        h, w = images.shape[1], images.shape[2]
        if h is None or w is None:
            raise ValueError(f"model.py: MaskRCNN needs images of static height and width, "
                             f"got shape {tuple(images.shape)}")
        return int(h), int(w)

    def _anchors(self, images: Any) -> Any:
        """Anchors of the (static) input size, as a constant [A,4]."""
        return ops.convert_to_tensor(self.anchors_np(self._image_hw(images)), "float32")

    def pyramid(self, images: Any, training: bool = False) -> dict:
        """FPN maps ``{"P2".."P6"}`` of images [B,H,W,3] in 0..255."""
        return self.fpn(self.backbone(ops.cast(images, "float32"), training=training))

    def _rpn(self, pyramid: dict) -> tuple[Any, Any, Any]:
        logits, deltas = self.rpn([pyramid[lvl] for lvl in RPN_LEVELS])
        return logits, deltas, ops.softmax(logits, axis=-1)[..., 1]

    # ----------------------------------------------------------------- training branch
    def forward_train(self, batch: dict, training: bool = True) -> dict:
        """Training graph: RPN outputs, sampled ROIs and their targets, head outputs.

        Args:
            batch: ``image`` [B,H,W,3], ``gt_class_ids`` [B,G], ``gt_boxes`` [B,G,4],
                ``gt_masks`` [B,G,56,56] (see ``inputs.build_sample``).
            training: Passed to the backbone and the mask-head norm.

        Returns:
            dict with ``rpn_logits``, ``rpn_deltas``, ``rois``, ``target_class_ids``,
            ``target_deltas``, ``target_masks``, ``class_logits``, ``deltas``,
            ``mask_logits`` (the mask tensors only for the first ``mask_rois`` rows).
        """
        images = batch["image"]
        image_hw = self._image_hw(images)
        pyr = self.pyramid(images, training)
        rpn_logits, rpn_deltas, fg = self._rpn(pyr)
        proposals = self.proposals_train(ops.stop_gradient(fg), ops.stop_gradient(rpn_deltas),
                                         self._anchors(images), image_hw)
        rois, tcls, tdeltas, tmasks = self.detection_targets(
            proposals, batch["gt_class_ids"], batch["gt_boxes"], batch["gt_masks"])
        class_logits, deltas = self.classifier(rois, pyr)
        n = self.mask_rois
        mask_logits = self.mask_head(rois[:, :n], pyr, training=training)
        return {"rpn_logits": rpn_logits, "rpn_deltas": rpn_deltas, "rois": rois,
                "target_class_ids": tcls, "target_deltas": tdeltas,
                "class_logits": class_logits, "deltas": deltas,
                "mask_target_class_ids": tcls[:, :n], "target_masks": tmasks[:, :n],
                "mask_logits": mask_logits}

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Any:
        """Weighted total of the five losses (plus layer regularisation losses).

        Called by Keras' train/test steps with ``x`` the batch dict and ``y_pred`` the
        output of :meth:`forward_train`; updates the per-loss ``Mean`` trackers (Keras'
        own ``loss`` tracker records the returned total). Under ``tf.distribute`` the
        weighted sum is divided by the replica count, as Keras does for compiled losses.
        """
        del y, sample_weight, training
        losses = mask_rcnn_losses(x, y_pred)
        total = scale_loss_for_distribution(
            ops.sum(ops.stack([self.loss_weights[k] * losses[k] for k in LOSS_NAMES])))
        for extra in self.losses:
            total = total + ops.cast(self._aggregate_additional_loss(extra), "float32")
        for name in LOSS_NAMES:
            self.trackers[name].update_state(losses[name])
        return total

    def compute_losses(self, batch: dict, training: bool) -> tuple[Any, dict]:
        """Eager helper: forward pass, ``(weighted total, dict of the five losses)``."""
        out = self.forward_train(batch, training)
        losses = mask_rcnn_losses(batch, out)
        total = ops.sum(ops.stack([self.loss_weights[k] * losses[k] for k in LOSS_NAMES]))
        return total, losses

    @property
    def metrics(self) -> list:
        own = [self._loss_tracker] if getattr(self, "_loss_tracker", None) is not None else []
        return own + [self.trackers[k] for k in LOSS_NAMES]

    # ----------------------------------------------------------------- inference branch
    def call(self, inputs: Any, training: bool = False) -> dict:
        """Inference on padded images, or the training branch on a batch dict.

        Args:
            inputs: float [B,H,W,3] images (0..255, sides multiples of 64), or the
                training batch dict (see :meth:`forward_train`).
            training: Passed on to the training branch (inference ignores it).

        Returns:
            For images: dict ``boxes`` [B,N,4] (input pixels), ``class_ids`` [B,N] int32,
            ``scores`` [B,N], ``masks`` [B,N,m,m] probabilities; zero rows are padding.
            The mask head runs on all ``N = max_instances`` rows (static shapes); see
            :meth:`infer` for the bucketed version. For a batch dict: the outputs of
            :meth:`forward_train`.
        """
        if isinstance(inputs, dict):
            return self.forward_train(inputs, training=bool(training))
        det = self.detect(inputs)
        masks = self.segment({"boxes": det["boxes"], "class_ids": det["class_ids"],
                              **{lvl: det[lvl] for lvl in POOL_LEVELS}})
        return {k: det[k] for k in ("boxes", "class_ids", "scores")} | {"masks": masks}

    def detect(self, images: Any) -> dict:
        """First inference stage: detections and the pooled pyramid levels.

        Returns:
            dict ``boxes`` [B,N,4], ``class_ids`` [B,N], ``scores`` [B,N] (sorted by
            decreasing score, padding last) and the FPN maps ``"P2".."P5"``.
        """
        image_hw = self._image_hw(images)
        pyr = self.pyramid(images, training=False)
        _, rpn_deltas, fg = self._rpn(pyr)
        proposals = self.proposals_inference(fg, rpn_deltas, self._anchors(images), image_hw)
        class_logits, deltas = self.classifier(proposals, pyr)
        det = self.detection(proposals, class_logits, deltas, image_hw)
        return {**det, **{lvl: pyr[lvl] for lvl in POOL_LEVELS}}

    def segment(self, inputs: dict) -> Any:
        """Second inference stage: mask probabilities of each row's class.

        Args:
            inputs: ``boxes`` [B,n,4], ``class_ids`` [B,n] and the maps ``"P2".."P5"``.

        Returns:
            float32 [B,n,m,m]; 0 on rows of class 0 (padding).
        """
        pyr = {lvl: inputs[lvl] for lvl in POOL_LEVELS}
        mask_logits = self.mask_head(inputs["boxes"], pyr, training=False)  # [B,n,m,m,C]
        class_ids = ops.cast(inputs["class_ids"], "int32")
        # Class 0 (padding rows) selects nothing: their masks are 0.
        onehot = ops.one_hot(class_ids, self.cfg.num_classes, dtype="float32")[..., 1:]
        return ops.sum(ops.sigmoid(mask_logits[..., 1:]) * onehot[:, :, None, None, :], axis=-1)

    def _run_stage(self, method: str, inputs: Any) -> dict:
        """``getattr(self, method)(inputs)`` through a compiled function cached per shape."""
        if method not in self._stages:
            self._stages[method] = _Stage(self, method)
        stage = self._stages[method]
        key = (method,) + tuple((k, tuple(v.shape)) for k, v in sorted(inputs.items())) \
            if isinstance(inputs, dict) else (method, tuple(inputs.shape))
        if key not in self._stage_fns:
            stage.make_predict_function(force=True)  # traced on its first (only) shape
            self._stage_fns[key] = stage.predict_function
        stage.predict_function = self._stage_fns[key]
        return stage.predict_on_batch(inputs)

    def infer(self, images: np.ndarray) -> dict:
        """Inference on a numpy batch: :meth:`infer_detections`, then :meth:`infer_masks`.

        Args:
            images: float32 [B,H,W,3] with H, W multiples of 64.

        Returns:
            dict of numpy arrays (see :meth:`call`).
        """
        return self.infer_masks(self.infer_detections(images))

    def infer_detections(self, images: np.ndarray) -> dict:
        """The first inference stage (:meth:`detect`) on a numpy batch, compiled once per shape.

        Args:
            images: float32 [B,H,W,3] with H, W multiples of 64.

        Returns:
            dict of numpy arrays ``boxes`` [B,N,4], ``class_ids`` [B,N] int32, ``scores`` [B,N]
            (sorted by decreasing score, zero rows are padding) and the pooled FPN maps
            ``"P2".."P5"``, which :meth:`infer_masks` needs. A caller that only needs the
            detections (per-image scale selection) can stop here and skip the mask head.
        """
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1] % PAD_MULTIPLE or images.shape[2] % PAD_MULTIPLE:
            raise ValueError(f"model.py: image sides must be multiples of {PAD_MULTIPLE}, "
                             f"got {images.shape}")
        det = self._run_stage("detect", images)
        return {"boxes": np.asarray(det["boxes"], np.float32),
                "class_ids": np.asarray(det["class_ids"], np.int32),
                "scores": np.asarray(det["scores"], np.float32),
                **{lvl: det[lvl] for lvl in POOL_LEVELS}}

    def infer_masks(self, detections: dict) -> dict:
        """The mask head on the detections of :meth:`infer_detections`.

        Runs on the first ``mask_row_bucket(n)`` rows only, ``n`` the most detections of an
        image of the batch (detections are sorted with the padding last), so few detections
        cost few mask-head rows; compiled once per shape and bucket.

        Args:
            detections: :meth:`infer_detections`' dict, unchanged.

        Returns:
            dict of numpy arrays ``boxes``, ``class_ids``, ``scores`` and ``masks``
            [B,N,m,m] probabilities (see :meth:`call`).
        """
        det = detections
        n_max, m = self.cfg.max_instances, self.cfg.mask_shape
        masks = np.zeros((det["scores"].shape[0], n_max, m, m), np.float32)
        filled = int((det["scores"] > 0).sum(axis=1).max(initial=0))
        rows = mask_row_bucket(filled, n_max)
        if rows:
            masks[:, :rows] = self._run_stage("segment", {
                "boxes": det["boxes"][:, :rows], "class_ids": det["class_ids"][:, :rows],
                **{lvl: det[lvl] for lvl in POOL_LEVELS}})
        return {k: det[k] for k in ("boxes", "class_ids", "scores")} | {"masks": masks}

    def predict_on_batch(self, x: Any) -> dict:
        """Same as :meth:`infer` (compiled per shape, bucketed mask rows)."""
        return self.infer(ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x)

    # ----------------------------------------------------------------- utilities
    def build(self, input_shape: Any = None) -> None:
        """Sub-layers build on their first call (see :meth:`build_all`)."""
        self.built = True

    def build_all(self, size: int = PAD_MULTIPLE) -> "MaskRCNN":
        """Create every weight by one symbolic inference call (shapes only, no compute).

        Symbolic rather than eager: under JAX an eager first call compiles every op
        separately (minutes on a CPU); the symbolic trace takes seconds.
        """
        self(keras.KerasTensor((1, size, size, 3), dtype="float32"), training=False)
        return self

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Freeze (heads-only stage) or unfreeze the nested backbone.

        When unfrozen and ``cfg.train_backbone_bn`` is False, the backbone's BatchNorm
        layers stay frozen (inference mode), since batches are tiny.
        """
        self.backbone.trainable = not frozen
        if not frozen and not self.cfg.train_backbone_bn:
            for layer in _walk_layers(self.backbone):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False

    @property
    def backbone_frozen(self) -> bool:
        return not self.backbone.trainable


def build_model(cfg: ModelConfig, loss_weights: dict | None = None) -> MaskRCNN:
    """Construct a :class:`MaskRCNN` and create all its weights."""
    return MaskRCNN(cfg, loss_weights, name=f"maskrcnn_{cfg.backbone}").build_all()
