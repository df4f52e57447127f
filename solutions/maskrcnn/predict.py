"""Predict instances with a trained Mask R-CNN run (command line in ``docs/CONTRACTS.md``).

    python -m solutions.maskrcnn.predict --run RUN_DIR|RUN_NAME \\
        --split oof|test [--data DIR] [--work DIR] [--test-split stage1_test]
        [--solution NAME] [--set predict.tta_flip=true ...]

``oof`` predicts the run's validation-fold images into ``WORK/predictions/<solution>/oof/``;
``test`` predicts ``--test-split`` into ``WORK/predictions/<solution>/test_fold<K>/``.
One ``<image_id>.npz`` per image (``labels``, ``scores``; ``cand_masks``/``cand_scores`` only
with ``predict.save_candidates``) plus the folder's timing summary
(``common.predictions.write_folder_summary``): ``oof/_summary_fold<K>.json`` (folds share
``oof/``) or ``test_fold<K>/_summary.json``. ``--run`` is a run folder or a run name under
``WORK/runs/``; ``--set`` overrides the run's config at predict time (``predict.*`` keys).
Images of any size are batched by padding to a multiple of 64; masks are pasted back at
the original size.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from common.cli import add_predict_args, narrow_ids, predict_target, resolve_run, workspace  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.machine import device_description  # noqa: E402
from common.normalise import normalise_with  # noqa: E402
from common.predictions import pending_ids, save_prediction, write_folder_summary  # noqa: E402
from common.runs import RunDir, load_trained  # noqa: E402
from common.timing import Stopwatch, stage  # noqa: E402
from solutions.maskrcnn.config import MaskRCNNConfig  # noqa: E402
from solutions.maskrcnn.data import inference_batch  # noqa: E402
from solutions.maskrcnn.detection import (Instances, detections_to_instances,  # noqa: E402
                                          flip_detections, merge_detections)
from solutions.maskrcnn.model import MaskRCNN, build_model  # noqa: E402


def load_run(run_dir: str | os.PathLike, overrides: Sequence[str] = ()
                   ) -> tuple[MaskRCNNConfig, MaskRCNN]:
    """The run's resolved config (plus overrides) and its model with best/last weights."""
    return load_trained(run_dir, MaskRCNNConfig, _build_for_checkpoint, overrides)


def _build_for_checkpoint(cfg: MaskRCNNConfig) -> MaskRCNN:
    """The network of ``cfg`` without backbone weights: every weight comes from the checkpoint."""
    cfg.model.backbone_weights = "none"
    return build_model(cfg.model)


def predict_images(model: MaskRCNN, cfg: MaskRCNNConfig, images: Sequence[np.ndarray],
                   timer: Stopwatch | None = None, scales: list[float] | None = None) -> list[Instances]:
    """Instances of a list of uint8 [H,W,3] images of any sizes (one forward batch).

    Each image is first normalised as in training (``data.normalise``).
    With ``cfg.predict.tta_flip`` a horizontally flipped pass is added and both
    detection sets are merged by NMS before the masks are pasted. ``timer`` (optional,
    ``common.timing``) gets stages ``normalise``, ``tta_views`` (resizing, padding, flipping), ``forward``,
    ``tta_merge`` and ``postprocess`` (mask paste-back and overlap resolution).
    With ``predict.scale_select.candidates`` each image goes alone through
    :func:`predict_scale_selected`; ``scales`` (if given) receives the factor chosen per image.
    """
    if cfg.predict.scale_select.candidates:
        return [predict_scale_selected(model, cfg, image, timer, scales) for image in images]
    if scales is not None:
        scales.extend([1.0] * len(images))
    with stage(timer, "normalise"):
        images = [normalise_with(image, cfg.data) for image in images]
    flips = (False, True) if cfg.predict.tta_flip else (False,)
    passes, metas = _passes(model, images, cfg.predict.scale, flips, timer)
    return _instances(cfg, passes, metas, timer)


def _passes(model: MaskRCNN, images: Sequence[np.ndarray], scale: float, flips: Sequence[bool],
            timer: Stopwatch | None) -> tuple[list, list]:
    """The network's detections for normalised ``images`` at ``scale``, one pass per flip:
    ``([(detections, flipped), ...], metas)``."""
    passes, metas = [], None
    for flip in flips:
        with stage(timer, "tta_views"):
            batch, metas = inference_batch(images, scale, flip=flip)
        with stage(timer, "forward"):
            passes.append((model.infer(batch), flip))
    return passes, metas


def _instances(cfg: MaskRCNNConfig, passes: list, metas: list, timer: Stopwatch | None) -> list[Instances]:
    """Each image's detections of every pass (flipped ones mirrored back), merged by NMS when
    more than one, pasted back at the image's original size."""
    pc, mc = cfg.predict, cfg.model
    out = []
    for i, meta in enumerate(metas):
        parts = []
        with stage(timer, "tta_merge"):
            for det, is_flipped in passes:
                boxes, scores, masks = det["boxes"][i], det["scores"][i], det["masks"][i]
                if is_flipped:
                    boxes, masks = flip_detections(boxes, masks, meta.resized_hw[1])
                parts.append((boxes, scores, masks))
            if len(parts) > 1:
                boxes, scores, masks = merge_detections(parts, mc.detection_nms_threshold,
                                                        mc.max_instances)
        with stage(timer, "postprocess"):
            out.append(detections_to_instances(boxes, scores, masks, meta.original_hw, meta.scale_yx,
                                               pc.mask_threshold, pc.min_instance_pixels,
                                               with_candidates=pc.save_candidates,
                                               max_candidates=pc.max_candidates))
    return out


def predict_scale_selected(model: MaskRCNN, cfg: MaskRCNNConfig, image: np.ndarray,
                           timer: Stopwatch | None = None, scales: list[float] | None = None) -> Instances:
    """One image at the scale its detections are most confident at (``predict.scale_select``).

    One pass without flip per candidate factor (on ``predict.scale``), measured as
    ``(mean score, cover)`` by ``measure``: ``boxes`` (the detection stage only; its
    detections' mean score and the fraction of the input their boxes cover) or ``masks`` (the
    whole pass; its pasted instances' mean score and cover). ``common.scale.choose_scale``
    chooses with the config's ``margin``, ``min_cover`` and ``probe`` (with probes, scale 1
    and the probes run first and the other candidates only when a probe wins). Then the chosen
    factor as configured: its candidate pass (with ``boxes``, the mask head runs on its cached
    detections now, and only there), plus with ``tta_flip`` the flipped pass, merged.
    """
    from common.scale import choose_scale
    from solutions.maskrcnn.boxes import box_cover

    pc, sc = cfg.predict, cfg.predict.scale_select
    with stage(timer, "normalise"):
        x = [normalise_with(image, cfg.data)]
    detections, metas, passes, found = {}, {}, {}, {}

    def measure(factor: float) -> tuple[float, float]:
        with stage(timer, "tta_views"):
            batch, metas[factor] = inference_batch(x, pc.scale * factor)
        with stage(timer, "forward"):
            det = detections[factor] = model.infer_detections(batch)
        if sc.measure == "boxes":
            with stage(timer, "postprocess"):
                scores = det["scores"][0]
                keep = scores > 0
                return (float(scores[keep].mean()) if keep.any() else 0.0,
                        box_cover(det["boxes"][0][keep], metas[factor][0].resized_hw))
        with stage(timer, "forward"):
            passes[factor] = [(model.infer_masks(det), False)]
        inst = found[factor] = _instances(cfg, passes[factor], metas[factor], timer)[0]
        return float(np.mean(inst.scores)) if len(inst.scores) else 0.0, float((inst.labels > 0).mean())

    chosen, _ = choose_scale(measure, sc.candidates, sc.probe, sc.min_cover, sc.margin)
    if scales is not None:
        scales.append(chosen)
    if chosen not in passes:
        with stage(timer, "forward"):
            passes[chosen] = [(model.infer_masks(detections[chosen]), False)]
    if not pc.tta_flip:
        return found[chosen] if chosen in found else _instances(cfg, passes[chosen], metas[chosen], timer)[0]
    flipped, _ = _passes(model, x, pc.scale * chosen, (True,), timer)
    return _instances(cfg, passes[chosen] + flipped, metas[chosen], timer)[0]


def _batches(ids: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def predict_folder(model: MaskRCNN, cfg: MaskRCNNConfig, dataset: DSBDataset, ids: Sequence[str],
                   out_dir: Path, run: RunDir, timer: Stopwatch | None = None) -> dict:
    """Predict ``ids`` of ``dataset`` into ``out_dir``, one ``<image_id>.npz`` each.

    Images are batched by size (``predict.batch_size``) through :func:`predict_images`.
    ``timer`` (optional, ``common.timing``) gets its stages plus ``load`` and ``write``.

    Returns:
        The timing summary (``n_images``, ``seconds``, ``images_per_s``, ``device``, ``run``,
        ``tta_flip``, ``batch_size``; with ``predict.scale_select``, ``scale_select``: images
        rescaled and their median factor); the caller writes it with
        ``common.predictions.write_folder_summary`` once the folder is final.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # Sort by size so a batch pads little.
    order = sorted(ids, key=lambda i: tuple(dataset.image_shape(i))) if cfg.predict.batch_size > 1 else ids
    chosen: list[float] = []
    for chunk in _batches(order, cfg.predict.batch_size):
        with stage(timer, "load"):
            images = [dataset.load_image(i) for i in chunk]
        for image_id, inst in zip(chunk, predict_images(model, cfg, images, timer, chosen)):
            with stage(timer, "write"):
                save_prediction(out_dir / f"{image_id}.npz", inst.labels, inst.scores,
                                cand_masks=inst.cand_masks, cand_scores=inst.cand_scores)
    seconds = time.perf_counter() - start
    summary = {"n_images": len(ids), "seconds": round(seconds, 2),
               "images_per_s": round(len(ids) / max(seconds, 1e-9), 3),
               "device": device_description(), "run": run.path.name,
               "tta_flip": cfg.predict.tta_flip, "batch_size": cfg.predict.batch_size}
    if cfg.predict.scale_select.candidates:
        rescaled = [f for f in chosen if f != 1.0]
        summary["scale_select"] = {"n_rescaled": len(rescaled),
                                   "median_factor": float(np.median(rescaled)) if rescaled else 1.0}
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The contract's predict arguments (``common.cli.add_predict_args``, ``--set`` included)."""
    p = argparse.ArgumentParser(prog="python -m solutions.maskrcnn.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_predict_args(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ws = workspace(args)
    run = RunDir(resolve_run(args.run, ws))
    cfg, model = load_run(run.path, args.overrides)
    target = predict_target(ws, run, args.solution or cfg.solution, args.split, args.test_split,
                            cfg.n_folds, cfg.seed)
    out_dir = target.out_dir
    ids = narrow_ids(target.ids, args.only, args.limit)
    # a killed predict resumes per image, unless this share was predicted with other --set items
    todo = pending_ids(out_dir, ids, run.path, args.overrides, target.summary_fold, share=target.ids)
    summary = predict_folder(model, cfg, target.dataset, todo, out_dir, run)
    write_folder_summary(out_dir, summary, fold=target.summary_fold, overrides=args.overrides)
    print(json.dumps({**summary, "out_dir": str(out_dir)}, indent=2))
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m solutions.maskrcnn.predict"))
