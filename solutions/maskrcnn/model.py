"""The Mask R-CNN model (Keras 3 ``Model`` subclass, TensorFlow backend).

Graph::

    images [B,H,W,3] 0..255 (H, W multiples of 64)
      -> backbone (nested keras.Model from common.backbones) -> {"P2".."P5"}
      -> FPN -> {"P2".."P6"} -> RPNHead -> logits [B,A,2], deltas [B,A,4]
      -> ProposalLayer (train / inference NMS settings) -> proposals [B,N,4]
    training:  DetectionTargetLayer -> ROIs -> ClassifierHead + MaskHead (positive ROIs)
               -> losses (losses.py) in train_step / test_step
    inference: ClassifierHead -> DetectionLayer -> MaskHead on the detections

``model(images)`` runs the inference branch and returns a dict ``boxes`` [B,N,4],
``class_ids`` [B,N], ``scores`` [B,N], ``masks`` [B,N,m,m] (probabilities of each
detection's class); ``N = max_instances``, zero-padded.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from common.backbones import build_backbone
from solutions.maskrcnn.anchors import generate_anchors
from solutions.maskrcnn.config import PAD_MULTIPLE, RPN_LEVELS, STRIDES, ModelConfig
from solutions.maskrcnn.detection import DetectionLayer
from solutions.maskrcnn.detection_targets import DetectionTargetLayer
from solutions.maskrcnn.fpn import FPN
from solutions.maskrcnn.heads import ClassifierHead, MaskHead
from solutions.maskrcnn.losses import LOSS_NAMES, mask_rcnn_losses
from solutions.maskrcnn.proposals import ProposalLayer
from solutions.maskrcnn.rpn import RPNHead


def _walk_layers(layer: keras.layers.Layer):
    """Yield every layer nested in ``layer`` (models included)."""
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _walk_layers(sub)


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
        self.total_tracker = keras.metrics.Mean(name="loss")
        self._anchor_cache: dict[tuple[int, int], np.ndarray] = {}
        self._infer_fn = None

    # ----------------------------------------------------------------- building blocks
    def anchors_np(self, image_hw: tuple[int, int]) -> np.ndarray:
        """Anchors [A,4] of a padded input of size ``image_hw`` (cached)."""
        key = (int(image_hw[0]), int(image_hw[1]))
        if key not in self._anchor_cache:
            c = self.cfg
            self._anchor_cache[key] = generate_anchors(key, c.anchor_scales, c.anchor_ratios,
                                                       STRIDES, c.anchor_stride)
        return self._anchor_cache[key]

    def _anchors(self, images: Any) -> Any:
        h, w = images.shape[1], images.shape[2]
        if h is not None and w is not None:
            return tf.constant(self.anchors_np((h, w)))
        anchors = tf.numpy_function(lambda hw: self.anchors_np(tuple(hw)),
                                    [tf.shape(images)[1:3]], tf.float32, stateful=False)
        anchors.set_shape([None, 4])
        return anchors

    def pyramid(self, images: Any, training: bool = False) -> dict:
        """FPN maps ``{"P2".."P6"}`` of images [B,H,W,3] in 0..255."""
        return self.fpn(self.backbone(tf.cast(images, tf.float32), training=training))

    def _rpn(self, pyramid: dict) -> tuple[Any, Any, Any]:
        logits, deltas = self.rpn([pyramid[lvl] for lvl in RPN_LEVELS])
        return logits, deltas, tf.nn.softmax(logits)[..., 1]

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
        image_hw = tf.shape(images)[1:3]
        pyr = self.pyramid(images, training)
        rpn_logits, rpn_deltas, fg = self._rpn(pyr)
        proposals = self.proposals_train(tf.stop_gradient(fg), tf.stop_gradient(rpn_deltas),
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

    def compute_losses(self, batch: dict, training: bool) -> tuple[Any, dict]:
        """Forward pass and the weighted total loss (incl. layer regularisation losses)."""
        out = self.forward_train(batch, training)
        losses = mask_rcnn_losses(batch, out)
        total = tf.add_n([self.loss_weights[k] * losses[k] for k in LOSS_NAMES])
        if self.losses:
            total = total + tf.add_n([tf.cast(x, tf.float32) for x in self.losses])
        return total, losses

    def _update_trackers(self, total: Any, losses: dict) -> dict:
        self.total_tracker.update_state(total)
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self) -> list:
        return [self.total_tracker] + [self.trackers[k] for k in LOSS_NAMES]

    @staticmethod
    def _unpack(data: Any) -> dict:
        return data[0] if isinstance(data, (tuple, list)) else data

    def train_step(self, data: Any) -> dict:
        batch = self._unpack(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            total, losses = self.compute_losses(batch, training=True)
            scaled = self.optimizer.scale_loss(total / replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._update_trackers(total, losses)

    def test_step(self, data: Any) -> dict:
        total, losses = self.compute_losses(self._unpack(data), training=False)
        return self._update_trackers(total, losses)

    # ----------------------------------------------------------------- inference branch
    def call(self, images: Any, training: bool = False) -> dict:
        """Inference on padded images [B,H,W,3] (0..255, sides multiples of 64).

        Returns:
            dict ``boxes`` [B,N,4] (input pixels), ``class_ids`` [B,N] int32,
            ``scores`` [B,N], ``masks`` [B,N,m,m] probabilities; zero rows are padding.
        """
        image_hw = tf.shape(images)[1:3]
        pyr = self.pyramid(images, training=False)
        _, rpn_deltas, fg = self._rpn(pyr)
        proposals = self.proposals_inference(fg, rpn_deltas, self._anchors(images), image_hw)
        class_logits, deltas = self.classifier(proposals, pyr)
        det = self.detection(proposals, class_logits, deltas, image_hw)
        # Detections are sorted with the padding last: run the mask head on the rows that
        # hold a detection in at least one image of the batch, then pad back to N.
        n_max = self.cfg.max_instances
        n = tf.reduce_max(tf.reduce_sum(tf.cast(det["scores"] > 0, tf.int32), axis=1))
        mask_logits = self.mask_head(det["boxes"][:, :n], pyr, training=False)  # [B,n,m,m,C]
        onehot = tf.one_hot(det["class_ids"][:, :n], self.cfg.num_classes, dtype=tf.float32)
        masks = tf.reduce_sum(tf.sigmoid(mask_logits) * onehot[:, :, None, None, :], axis=-1)
        masks = tf.pad(masks, [[0, 0], [0, n_max - n], [0, 0], [0, 0]])
        m = self.cfg.mask_shape
        return {**det, "masks": tf.ensure_shape(masks, [None, n_max, m, m])}

    def infer(self, images: np.ndarray) -> dict:
        """Run :meth:`call` through one ``tf.function`` that accepts any batch/size.

        Args:
            images: float32 [B,H,W,3] with H, W multiples of 64.

        Returns:
            dict of numpy arrays (see :meth:`call`).
        """
        if self._infer_fn is None:
            spec = tf.TensorSpec([None, None, None, 3], tf.float32)
            self._infer_fn = tf.function(lambda x: self(x, training=False),
                                         input_signature=[spec], reduce_retracing=True)
        images = np.asarray(images, np.float32)
        if images.shape[1] % PAD_MULTIPLE or images.shape[2] % PAD_MULTIPLE:
            raise ValueError(f"image sides must be multiples of {PAD_MULTIPLE}, got {images.shape}")
        return {k: v.numpy() for k, v in self._infer_fn(tf.constant(images)).items()}

    # ----------------------------------------------------------------- utilities
    def build(self, input_shape: Any = None) -> None:
        """Sub-layers build on their first call (see :meth:`build_all`)."""
        self.built = True

    def build_all(self, size: int = PAD_MULTIPLE) -> "MaskRCNN":
        """Create every weight by one eager inference call on a blank image."""
        self(tf.zeros([1, size, size, 3], tf.float32), training=False)
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
