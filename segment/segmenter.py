"""The Python API: ``Segmenter.load(path_or_paths)`` then ``labels, table = seg(image)``.

Several models are combined as the ensemble combines predictions:

* models giving per-pixel maps (U-Net runs) with the same channel layout are averaged
  (``ensemble.pixel.average_probs``) and turned into instances once, with their runs'
  post-processing params combined by ``ensemble.pixel.merge_params``;
* when that leaves more than one source (Mask R-CNN runs, or U-Nets of different channel
  layouts), their instances are merged by ``ensemble.vote.vote_instances`` (default vote).

Large images are predicted tile by tile and stitched (:mod:`segment.tiles`).

Example::

    from segment import Segmenter
    seg = Segmenter.load(["runs/unet-fold0", "runs/unet-fold1"], tta="flip")
    labels, table = seg(image)        # image: [H,W] or [H,W,C], any dtype
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from common.images import raw_to_rgb_uint8
from segment.measure import measure
from segment.models import InstanceModel, ModelError, PixelModel, load_source
from segment.tiles import stitch_tiles

__all__ = ["Segmenter", "as_model_input"]

DEFAULT_TILE, DEFAULT_OVERLAP = 2048, 128


def as_model_input(image: np.ndarray, source: str = "<array>") -> np.ndarray:
    """What the models were trained on: uint8 [H,W,3] RGB (``common.images.raw_to_rgb_uint8``).

    A uint8 [H,W,3] image is taken as RGB and returned as is; [H,W] is gray; [H,W,4]
    RGBA (alpha dropped); other dtypes are rescaled from the image's own range.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    return raw_to_rgb_uint8(image, source)


class Segmenter:
    """Trained models plus the tiling and post-processing settings.

    Args:
        models: Loaded models (``segment.models.PixelModel`` / ``InstanceModel``).
        tta: ``"none"``, ``"hflip"`` (the image and its mirror: Mask R-CNN's one flipped
            pass, also for ``"flip"``), ``"flip"`` (U-Net: 4 flips), ``"d4"`` (U-Net: 8 views),
            or None for each run's own setting.
        tile: Images whose longer side exceeds this are tiled (pixels).
        overlap: Tile overlap in pixels (more than twice the largest nucleus diameter).
        min_area: Drop instances under this many pixels (None: each run's own ``min_area``).
            A U-Net run whose floors follow its scale (``predict.scale_norm.floors_follow_scale``)
            takes it, like its own, in pixels of the scale it predicted the image at.
    """

    def __init__(self, models: Sequence[PixelModel | InstanceModel], tta: str | None = None,
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, min_area: int | None = None):
        if not models:
            raise ModelError("Segmenter needs at least one model")
        if tile < 64 or not 0 <= overlap < tile // 2:
            raise ValueError(f"tile {tile} must be >= 64 and overlap {overlap} in [0, tile/2)")
        self.models = list(models)
        self.tta, self.tile, self.overlap, self.min_area = tta, int(tile), int(overlap), min_area
        self.groups = self._pixel_groups()

    @classmethod
    def load(cls, paths: str | os.PathLike | Sequence[str | os.PathLike], **kwargs) -> "Segmenter":
        """Load run folders and/or ``.dsbmodel`` files (one path or several)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        return cls([load_source(p) for p in paths], **kwargs)

    def _pixel_groups(self) -> list[tuple[list[PixelModel], dict]]:
        """Pixel models grouped by channel layout, each with its merged params."""
        from ensemble.pixel import merge_params

        by_layout: dict[tuple, list[PixelModel]] = {}
        for m in self.models:
            if isinstance(m, PixelModel):
                by_layout.setdefault(tuple(m.channels), []).append(m)
        groups = []
        for members in by_layout.values():
            params = merge_params([m.params for m in members])
            if self.min_area is not None:
                params["min_area"] = int(self.min_area)
            groups.append((members, params))
        return groups

    @property
    def default_min_area(self) -> int:
        """The size under which stitched pieces are dropped."""
        if self.min_area is not None:
            return int(self.min_area)
        sizes = [int(p.get("min_area", 0)) for _, p in self.groups]
        sizes += [m.min_area for m in self.models if isinstance(m, InstanceModel)]
        return max(sizes, default=0)

    def predict_whole(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Instances of one uint8 [H,W,3] image (or tile), untiled.

        Returns:
            ``(labels int32 [H,W], scores float32 [N])``.
        """
        from common.instances import floors_at_scale, probs_to_instances
        from ensemble.pixel import average_probs

        sources = []
        for members, params in self.groups:
            outs = [m.prob_and_floor_scale(image, self.tta) for m in members]
            probs = [p for p, _ in outs]
            prob = probs[0] if len(probs) == 1 else average_probs(probs)
            # the floors in the members' median scale, as the pixel ensemble does
            floors = float(np.median([f for _, f in outs]))
            sources.append(probs_to_instances(prob, floors_at_scale(params, floors)))
            del probs, prob, outs
        for m in self.models:
            if isinstance(m, InstanceModel):
                labels, scores = m.instances(image, self.tta)
                if self.min_area is not None and self.min_area > m.min_area:
                    labels, scores = _drop_small(labels, scores, self.min_area)
                sources.append((labels, scores))
        if len(sources) == 1:
            return sources[0]
        from ensemble.vote import vote_instances

        return vote_instances([s[0] for s in sources], [s[1] for s in sources])

    def segment(self, image: np.ndarray, progress: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores of an image of any size (tiled above ``tile``).

        Args:
            image: [H,W] or [H,W,C] (see :func:`as_model_input`).
            progress: ``progress(done, total)`` after each tile of a tiled image.

        Returns:
            ``(labels uint32 [H,W], scores float32 [N])``: 0 = background, nuclei 1..N.
        """
        rgb = as_model_input(image)
        if max(rgb.shape[:2]) <= self.tile:
            labels, scores = self.predict_whole(rgb)
            return labels.astype(np.uint32), np.asarray(scores, np.float32)
        return stitch_tiles(rgb, self.predict_whole, self.tile, self.overlap, self.default_min_area, progress)

    def __call__(self, image: np.ndarray, intensity: np.ndarray | None = None):
        """Segment ``image``; return ``(labels, table)``.

        Args:
            image: [H,W] or [H,W,C] (any dtype).
            intensity: Measured for the intensity columns (default: ``image``).

        Returns:
            labels uint32 [H,W] and a ``pandas.DataFrame`` with one row per nucleus
            (``segment.measure.measure``).
        """
        labels, scores = self.segment(image)
        return labels, measure(labels, image if intensity is None else intensity, scores)


def _drop_small(labels: np.ndarray, scores: np.ndarray, min_area: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop instances under ``min_area`` pixels, renumbering 1..N."""
    n = int(labels.max(initial=0))
    area = np.bincount(labels.ravel(), minlength=n + 1)
    keep = area >= min_area
    keep[0] = False
    lut = np.zeros(n + 1, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[labels], np.asarray(scores, np.float32)[keep[1:]]
