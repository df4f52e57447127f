"""Mask R-CNN model: layers, losses, detection post-processing, and full-model
build/inference/training for one backbone of each family (config: ``test_maskrcnn_config.py``; command
lines: ``test_maskrcnn_cli.py``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from tests.test_backbones import one_per_family
from common.config import load_config
from common.paths import CONFIGS
from solutions.maskrcnn.config import MaskRCNNConfig

DEMO = CONFIGS["maskrcnn"] / "demo.yaml"
TINY = ["model.fpn_channels=32", "model.rpn_conv_channels=32", "model.head_fc_dim=32",
        "model.mask_head_channels=32", "model.proposals_train=100", "model.proposals_inference=100",
        "model.rois_per_image=32", "model.max_instances=20", "model.max_gt=32",
        "model.pre_nms_limit=500"]


def tiny_config(backbone: str = "mobilenet", extra: list[str] | None = None) -> MaskRCNNConfig:
    return load_config(MaskRCNNConfig, DEMO, TINY + [f"model.backbone={backbone}"] + (extra or []))


# ----------------------------------------------------------------------------- layers
def _roundtrip(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_layers_get_config_round_trip():
    from solutions.maskrcnn.detection import DetectionLayer
    from solutions.maskrcnn.fpn import FPN
    from solutions.maskrcnn.heads import ClassifierHead, MaskHead
    from solutions.maskrcnn.rpn import RPNHead

    for layer in (FPN(48), RPNHead(3, 64, 2), ClassifierHead(3, 7, 64), MaskHead(2, 14, 32, "bn", 3),
                  DetectionLayer(0.5, 0.4, 17, (0.1, 0.1, 0.3, 0.3))):
        _roundtrip(layer)


def _pyramid(batch=2, h=128, w=192, channels=(8, 16, 24, 32)):
    rng = np.random.default_rng(0)
    return {f"P{l}": ops.convert_to_tensor(rng.normal(size=(batch, h // 2**l, w // 2**l, c)),
                                           "float32")
            for l, c in zip(range(2, 6), channels)}


def test_fpn_and_rpn_shapes_match_anchor_order():
    from solutions.maskrcnn.anchors import generate_anchors
    from solutions.maskrcnn.fpn import FPN
    from solutions.maskrcnn.rpn import RPNHead

    out = FPN(16)(_pyramid())
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "P2": (2, 32, 48, 16), "P3": (2, 16, 24, 16), "P4": (2, 8, 12, 16),
        "P5": (2, 4, 6, 16), "P6": (2, 2, 3, 16)}
    for stride in (1, 2):
        logits, deltas = RPNHead(3, 8, stride)([out[f"P{l}"] for l in range(2, 7)])
        n = generate_anchors((128, 192), anchor_stride=stride).shape[0]
        assert tuple(logits.shape) == (2, n, 2) and tuple(deltas.shape) == (2, n, 4)


def test_heads_shapes():
    from solutions.maskrcnn.heads import ClassifierHead, MaskHead

    feats = _pyramid(channels=(8, 8, 8, 8))
    rois = ops.convert_to_tensor([[[0, 0, 20, 30], [10, 10, 90, 120], [0, 0, 0, 0]]] * 2, "float32")
    logits, deltas = ClassifierHead(2, 7, 16)(rois, feats)
    masks = MaskHead(2, 14, 8, "gn")(rois, feats)
    assert tuple(logits.shape) == (2, 3, 2) and tuple(deltas.shape) == (2, 3, 2, 4)
    assert tuple(masks.shape) == (2, 3, 28, 28, 2)


# ----------------------------------------------------------------------------- losses
def test_rpn_class_loss_ignores_neutral_anchors():
    from solutions.maskrcnn.losses import rpn_class_loss

    match = np.array([[1, -1, 0, 0]], np.int32)
    logits = np.array([[[0.0, 2.0], [1.0, 0.0], [5.0, -5.0], [0.0, 0.0]]], np.float32)
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))])
    assert float(rpn_class_loss(match, logits)) == pytest.approx(expected, rel=1e-5)
    logits[0, 2:] = [[-9.0, 9.0], [3.0, 1.0]]  # neutral anchors change: loss does not
    assert float(rpn_class_loss(match, logits)) == pytest.approx(expected, rel=1e-5)


def test_rpn_bbox_loss_only_on_positives():
    from solutions.maskrcnn.losses import rpn_bbox_loss

    match = np.array([[1, -1, 0]], np.int32)
    target = np.zeros((1, 3, 4), np.float32)
    pred = np.array([[[0.5, 0, 0, 2.0], [9, 9, 9, 9], [7, 7, 7, 7]]], np.float32)
    # smooth L1: 0.5*0.5^2 = 0.125 and 2 - 0.5 = 1.5, mean over 4 coordinates
    assert float(rpn_bbox_loss(match, target, pred)) == pytest.approx((0.125 + 1.5) / 4)
    assert float(rpn_bbox_loss(np.zeros((1, 3), np.int32), target, pred)) == 0.0


def test_head_losses_use_valid_rows_and_true_class():
    from solutions.maskrcnn.losses import head_bbox_loss, head_class_loss, valid_rois

    rois = np.array([[[0, 0, 5, 5], [1, 1, 4, 4], [0, 0, 0, 0]]], np.float32)
    valid = valid_rois(rois)
    assert np.asarray(valid).tolist() == [[True, True, False]]
    tcls = np.array([[1, 0, 0]], np.int32)
    logits = np.array([[[0.0, 0.0], [0.0, 0.0], [50.0, -50.0]]], np.float32)
    assert float(head_class_loss(tcls, logits, valid)) == pytest.approx(np.log(2.0), rel=1e-5)
    deltas = np.zeros((1, 3, 2, 4), np.float32)
    deltas[0, 0, 0] = 5.0       # background channel of the positive ROI: ignored
    deltas[0, 0, 1, 0] = 0.5    # true-class channel: counts
    deltas[0, 1, 1] = 9.0       # negative ROI: ignored
    assert float(head_bbox_loss(tcls, np.zeros((1, 3, 4), np.float32), deltas)) == \
        pytest.approx(0.125 / 4)


def test_mask_loss_only_on_positive_rois_true_class():
    from solutions.maskrcnn.losses import mask_loss

    tcls = np.array([[1, 0]], np.int32)
    target = np.zeros((1, 2, 2, 2), np.float32)
    target[0, 0, 0, 0] = 1.0
    logits = np.zeros((1, 2, 2, 2, 2), np.float32)
    base = float(mask_loss(tcls, target, logits))
    assert base == pytest.approx(np.log(2.0), rel=1e-5)
    logits[0, 1] = 30.0        # the negative ROI: ignored
    logits[0, 0, :, :, 0] = 7  # background channel of the positive ROI: ignored
    assert float(mask_loss(tcls, target, logits)) == pytest.approx(base, rel=1e-5)
    assert float(mask_loss(np.zeros((1, 2), np.int32), target, logits)) == 0.0


# ------------------------------------------------------------------------- detection
def test_detection_layer_thresholds_and_nms():
    from solutions.maskrcnn.detection import DetectionLayer

    rois = ops.convert_to_tensor([[[10, 10, 30, 30], [11, 11, 31, 31], [50, 50, 70, 70],
                                   [80, 80, 90, 90], [0, 0, 0, 0]]], "float32")
    p = np.array([0.95, 0.9, 0.8, 0.2, 0.99])  # last row is padding
    logits = ops.convert_to_tensor(np.log(np.stack([1 - p, p], -1))[None], "float32")
    layer = DetectionLayer(0.5, 0.3, 4)
    out = layer(rois, logits, ops.zeros((1, 5, 2, 4)), ops.convert_to_tensor([64, 64]))
    same = layer(rois, logits, ops.zeros((1, 5, 2, 4)), (64, 64))  # a plain tuple, positionally
    out, same = ({k: ops.convert_to_numpy(v) for k, v in d.items()} for d in (out, same))
    np.testing.assert_array_equal(same["boxes"], out["boxes"])
    scores = out["scores"][0]
    assert scores == pytest.approx([0.95, 0.8, 0, 0], abs=1e-5)
    assert out["class_ids"][0].tolist() == [1, 1, 0, 0]
    # clipped to the 64x64 input
    assert out["boxes"][0, 1].tolist() == pytest.approx([50, 50, 64, 64])


def test_postprocess_resolves_overlaps_by_score_at_original_size():
    from solutions.maskrcnn.detection import detections_to_instances

    # network input was the 20x30 original resized by 2 and padded to 64x64
    boxes = np.array([[0, 0, 20, 20], [10, 10, 30, 30], [0, 0, 0, 0]], np.float32)
    scores = np.array([0.6, 0.9, 0.0], np.float32)
    masks = np.ones((3, 28, 28), np.float32)
    inst = detections_to_instances(boxes, scores, masks, (20, 30), scale=2.0, with_candidates=True)
    assert inst.labels.shape == (20, 30) and inst.labels.dtype == np.int32
    assert inst.scores.tolist() == pytest.approx([0.9, 0.6])
    assert (inst.labels == 1).sum() == 100          # [5,15) x [5,15)
    assert (inst.labels == 2).sum() == 100 - 25     # [0,10)^2 minus the shared corner
    assert inst.labels[7, 7] == 1                   # overlap goes to the higher score
    assert inst.cand_masks.shape == (2, 20, 30) and inst.cand_masks[:, 7, 7].all()
    assert inst.cand_scores.tolist() == pytest.approx([0.9, 0.6])
    empty = detections_to_instances(boxes[:0], scores[:0], masks[:0], (5, 6))
    assert empty.labels.shape == (5, 6) and empty.scores.shape == (0,)
    assert empty.cand_masks is None and empty.cand_scores is None  # off by default


def test_candidates_only_overlapping_masks_and_capped():
    from solutions.maskrcnn.detection import detections_to_instances

    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [0, 20, 10, 30], [8, 8, 12, 12]], np.float32)
    scores = np.array([0.9, 0.8, 0.95, 0.7], np.float32)
    masks = np.ones((4, 28, 28), np.float32)
    inst = detections_to_instances(boxes, scores, masks, (20, 30), with_candidates=True)
    assert inst.cand_masks.shape == (3, 20, 30)  # the isolated box (score 0.95) is left out
    assert inst.cand_scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    # the 0.7 mask lies under higher-scoring ones: it survives only as a candidate
    assert inst.cand_masks[2].sum() == 16 and inst.labels.max() == 3
    capped = detections_to_instances(boxes, scores, masks, (20, 30), with_candidates=True,
                                     max_candidates=2)
    assert capped.cand_scores.tolist() == pytest.approx([0.9, 0.8])
    alone = detections_to_instances(boxes[2:3], scores[2:3], masks[:1], (20, 30), with_candidates=True)
    assert alone.cand_masks.shape == (0, 20, 30) and alone.cand_scores.shape == (0,)


def test_resize_scale_is_undone_per_axis():
    from solutions.maskrcnn.data import inference_batch
    from solutions.maskrcnn.detection import detections_to_instances

    # 21 x 30 at scale 0.5 -> 10 x 15 (rounded): sy = 10/21, sx = 15/30
    batch, (meta,) = inference_batch([np.zeros((21, 30, 3), np.uint8)], scale=0.5)
    assert batch.shape == (1, 64, 64, 3) and meta.resized_hw == (10, 15)
    assert meta.scale_yx == pytest.approx((10 / 21, 0.5))
    whole = np.array([[0, 0, 10, 15]], np.float32)  # the whole resized image
    inst = detections_to_instances(whole, np.array([0.9], np.float32), np.ones((1, 28, 28), np.float32),
                                   meta.original_hw, meta.scale_yx)
    assert (inst.labels == 1).all()  # a single scale (0.5) would miss the last row
    inst = detections_to_instances(whole, np.array([0.9], np.float32), np.ones((1, 28, 28), np.float32),
                                   meta.original_hw, 0.5)
    assert not (inst.labels[20] == 1).any()


def test_flip_merge_round_trip():
    from solutions.maskrcnn.detection import flip_detections, merge_detections

    boxes = np.array([[0, 2, 10, 6]], np.float32)
    masks = np.zeros((1, 4, 4), np.float32)
    masks[0, :, 0] = 1
    fb, fm = flip_detections(boxes, masks, 20)
    assert fb[0].tolist() == [0, 14, 10, 18] and fm[0, :, 3].all()
    b, s, m = merge_detections([(boxes, np.array([0.9], np.float32), masks),
                                (boxes + 0.5, np.array([0.8], np.float32), masks)], 0.5, 10)
    assert s.tolist() == pytest.approx([0.9]) and b.shape == (1, 4) and m.shape == (1, 4, 4)


# ----------------------------------------------------------------------------- model
def _check_inference(model, batch=2, h=128, w=192):
    out = model.infer(np.zeros((batch, h, w, 3), np.float32))
    n = model.cfg.max_instances
    assert out["boxes"].shape == (batch, n, 4) and out["scores"].shape == (batch, n)
    assert out["class_ids"].shape == (batch, n) and out["class_ids"].dtype == np.int32
    m = model.cfg.mask_shape
    assert out["masks"].shape == (batch, n, m, m)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", one_per_family())
def test_each_backbone_family_builds_full_model(backbone):
    from solutions.maskrcnn.model import build_model

    model = build_model(tiny_config(backbone, ["model.backbone_weights=none"]).model)
    n_all = len(model.trainable_variables)
    model.freeze_backbone(True)
    n_heads = len(model.trainable_variables)
    assert 0 < n_heads < n_all
    assert all(not v.path.startswith(model.backbone.name) for v in model.trainable_variables)
    model.freeze_backbone(False)
    assert len(model.trainable_variables) < n_all or model.cfg.train_backbone_bn
    _check_inference(model, batch=1, h=128, w=128)


@pytest.fixture(scope="module")
def mobilenet_model():
    from solutions.maskrcnn.model import build_model

    return build_model(tiny_config().model)


def test_inference_contract_shapes_any_size(mobilenet_model):
    # 2x192x128: the batch predict_images makes of the next test's two images, so under JAX
    # one compile (cached per shape on the shared model) serves both tests
    _check_inference(mobilenet_model, batch=2, h=192, w=128)
    _check_inference(mobilenet_model, batch=1, h=64, w=64)
    with pytest.raises(ValueError):
        mobilenet_model.infer(np.zeros((1, 100, 64, 3), np.float32))


def test_infer_is_its_two_stages_run_one_at_a_time():
    from solutions.maskrcnn.model import build_model

    model = build_model(tiny_config(extra=["model.detection_min_confidence=0.0"]).model)
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    det = model.infer_detections(x)
    assert {"boxes", "class_ids", "scores", "P2", "P3", "P4", "P5"} <= set(det)
    assert (det["scores"] > 0).sum() > 0  # an untrained network, every detection kept
    whole, staged = model.infer(x), model.infer_masks(det)
    assert set(whole) == set(staged) == {"boxes", "class_ids", "scores", "masks"}
    for key in whole:
        np.testing.assert_allclose(whole[key], staged[key], atol=1e-6)
    assert staged["masks"][0, 0].max() > 0


def test_predict_images_pastes_back_at_original_size(mobilenet_model):
    from solutions.maskrcnn.predict import predict_images

    cfg = tiny_config(extra=["predict.tta_flip=true", "model.detection_min_confidence=0.0"])
    images = [np.full((70, 90, 3), 100, np.uint8), np.zeros((130, 65, 3), np.uint8)]
    found = predict_images(mobilenet_model, cfg, images)
    assert [f.labels.shape for f in found] == [(70, 90), (130, 65)]
    for f in found:
        assert f.scores.shape == (int(f.labels.max()),)


@pytest.mark.slow
def test_one_train_step_gives_finite_losses(synthetic_data_dir):
    from common.data import DSBDataset
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.model import build_model
    from solutions.maskrcnn.train import build_optimizer, jit_compile_default

    cfg = tiny_config(extra=["train.batch_size=2"])
    model = build_model(cfg.model)
    ds = DSBDataset(synthetic_data_dir, "stage1_train")
    seq = TrainSequence(ds, ds.ids[:4], cfg, model.anchors_np((128, 128)), steps=1)
    batch = seq[0]
    assert batch["image"].shape == (2, 128, 128, 3)
    assert batch["rpn_match"].shape[1] == model.anchors_np((128, 128)).shape[0]
    model.freeze_backbone(True)
    model.compile(optimizer=build_optimizer(cfg.train, model), jit_compile=jit_compile_default())
    # Under JAX the whole step is one jax.jit program (Keras would fall back to eager
    # with a warning if the model could not be jitted).
    assert model.jit_compile == (keras.backend.backend() == "jax")
    before = [ops.convert_to_numpy(v).copy() for v in model.backbone.weights]
    heads_before = [ops.convert_to_numpy(v).copy() for v in model.mask_head.trainable_weights]
    logs = model.train_on_batch(batch, return_dict=True)
    assert set(logs) >= {"loss", "rpn_class_loss", "rpn_bbox_loss", "class_loss", "bbox_loss",
                         "mask_loss"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert all(np.array_equal(a, ops.convert_to_numpy(v))
               for a, v in zip(before, model.backbone.weights))
    assert not all(np.array_equal(a, ops.convert_to_numpy(v))
                   for a, v in zip(heads_before, model.mask_head.trainable_weights))
    total = sum(logs[f"{k}_loss"] for k in ("rpn_class", "rpn_bbox", "class", "bbox", "mask"))
    assert logs["loss"] == pytest.approx(total, rel=1e-4)  # unit loss weights, no regularisers
    logs = model.test_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["loss"]) and set(logs) >= {"mask_loss", "rpn_class_loss"}


class SizeSureModel:
    """A stand-in network: one detection at (8, 8, 40, 40), as sure of it as ``sureness`` says
    of the padded input side. Records the sides its detection stage (``calls``) and its mask
    head (``mask_calls``) ran at; ``infer`` is the two in turn, as the real network's."""

    def __init__(self, sureness):
        self.sureness, self.calls, self.mask_calls = sureness, [], []

    def infer_detections(self, batch):
        b, h = len(batch), batch.shape[1]
        self.calls.append(h)
        return {"boxes": np.tile(np.array([[[8.0, 8.0, 40.0, 40.0]]], np.float32), (b, 1, 1)),
                "class_ids": np.ones((b, 1), np.int32), "side": h,
                "scores": np.full((b, 1), self.sureness(h), np.float32)}

    def infer_masks(self, det):
        self.mask_calls.append(det["side"])
        return det | {"masks": np.ones((len(det["scores"]), 1, 28, 28), np.float32)}

    def infer(self, batch):
        return self.infer_masks(self.infer_detections(batch))


def test_scale_select_predicts_where_the_detections_are_surest():
    from common.config import ConfigError
    from solutions.maskrcnn.predict import predict_images

    image = np.full((128, 128, 3), 40, np.uint8)
    sets = ["predict.scale_select.candidates=[1.0,0.5]", "predict.tta_flip=true"]
    fixed = load_config(MaskRCNNConfig, None, ["predict.scale=0.5", "predict.tta_flip=true"])
    (same,) = predict_images(SizeSureModel(lambda h: 0.95 if h <= 64 else 0.6), fixed, [image])
    for measure, mask_calls in (("boxes", [64, 64]), ("masks", [128, 64, 64])):
        model = SizeSureModel(lambda h: 0.95 if h <= 64 else 0.6)  # sure only of a small input
        cfg = load_config(MaskRCNNConfig, None, sets + [f"predict.scale_select.measure={measure}"])
        chosen: list[float] = []
        (inst,) = predict_images(model, cfg, [image], scales=chosen)
        # two candidates, then the flipped pass at 0.5 (the unflipped one is the candidate's,
        # not run again); measured on boxes, the mask head runs only at the chosen scale
        assert chosen == [0.5] and model.calls == [128, 64, 64] and model.mask_calls == mask_calls
        assert inst.labels.shape == (128, 128) and inst.labels.max() == 1
        assert (inst.labels > 0).sum() == pytest.approx(64 * 64, rel=0.1)  # the box mapped back from 0.5
        np.testing.assert_array_equal(inst.labels, same.labels)  # what predicting at 0.5 with flip gives
        np.testing.assert_allclose(inst.scores, same.scores)
    # scale 1 keeps its place unless a candidate beats it by more than the margin
    model = SizeSureModel(lambda h: 0.95 if h <= 64 else 0.6)
    cfg = load_config(MaskRCNNConfig, None, ["predict.scale_select.candidates=[1.0,0.5]",
                                             "predict.scale_select.margin=0.4"])
    chosen = []
    predict_images(model, cfg, [image, image], scales=chosen)
    assert chosen == [1.0, 1.0] and model.calls == [128, 64] * 2  # no flip: the chosen pass is the prediction
    assert model.mask_calls == [128, 128]
    off = load_config(MaskRCNNConfig, None, [])
    chosen = []
    predict_images(model, off, [image], scales=chosen)
    assert chosen == [1.0]
    for bad in ("candidates=[0.5]", "margin=-1", "measure=pixels"):
        with pytest.raises(ConfigError, match="scale_select"):
            load_config(MaskRCNNConfig, None, [f"predict.scale_select.{bad}"])


def test_scale_select_probe_runs_the_other_candidates_only_when_a_probe_wins():
    from common.config import ConfigError
    from solutions.maskrcnn.predict import predict_images

    sureness = {256: 0.6, 192: 0.7, 128: 0.65, 64: 0.9}  # by the padded input side
    image = np.full((256, 256, 3), 40, np.uint8)
    sets = ["predict.scale_select.candidates=[1.0,0.75,0.5,0.25]", "predict.scale_select.probe=[0.5]"]
    chosen: list[float] = []
    model = SizeSureModel(sureness.get)
    predict_images(model, load_config(MaskRCNNConfig, None, sets), [image], scales=chosen)
    assert chosen == [0.25] and model.calls == [256, 128, 192, 64]  # the probe won: every candidate ran
    assert model.mask_calls == [64]
    chosen = []
    strict = sets + ["predict.scale_select.margin=0.1"]  # 0.65 no longer beats 0.6 by the margin
    model = SizeSureModel(sureness.get)
    predict_images(model, load_config(MaskRCNNConfig, None, strict), [image], scales=chosen)
    assert chosen == [1.0] and model.calls == [256, 128]  # the rest never ran (0.25 would have won)
    assert model.mask_calls == [256]
    for probe in ("[0.4]", "[1.0]"):
        with pytest.raises(ConfigError, match="probe"):
            load_config(MaskRCNNConfig, None, sets[:1] + [f"predict.scale_select.probe={probe}"])
    off = load_config(MaskRCNNConfig, None, sets + ["predict.scale_select.candidates=[]"])  # the off switch
    chosen = []
    predict_images(SizeSureModel(sureness.get), off, [image], scales=chosen)
    assert chosen == [1.0]
