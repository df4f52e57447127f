"""A saved instance-filter folder and how a merge picks the filter for an image.

Folder layout (written by ``python -m ensemble.filter_cli fit``)::

    <folder>/full.joblib, full.json        fitted on every OOF instance: for test images
    <folder>/fold<k>.joblib, fold<k>.json  fitted without fold k: for fold k's OOF images
    <folder>/image_folds.json              {image_id: fold} the fold filters were fitted with
    <folder>/crossfit.json                 the cross-fitted OOF scores with and without it

An OOF image is only ever filtered by the filter that did not see its fold, so the
ensemble's OOF score with a filter stays out-of-fold. A single filter (``<path>.json``)
works for test images only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.data import load_split
from common.instance_features import IMAGE_FEATURES
from ensemble.instance_filter import FilterError, InstanceFilter

__all__ = ["FilterSet", "ImageSource"]


class FilterSet:
    """The filters of a folder.

    Args:
        full: The filter for test images (or None).
        folds: fold -> filter for that fold's OOF images.
        image_folds: image id -> fold.
        where: The folder or file, for messages.
    """

    def __init__(self, full: InstanceFilter | None, folds: dict[int, InstanceFilter],
                 image_folds: dict[str, int], where: str):
        self.full, self.folds, self.image_folds, self.where = full, folds, image_folds, where

    @classmethod
    def load(cls, path: str | Path, threshold: float | None = None,
             mode: str | None = None) -> "FilterSet":
        """Read a filter folder (or a single filter: ``<path>`` / ``<path>.json``).

        Raises:
            FilterError: nothing usable there (names the path).
        """
        path = Path(path)
        if not path.is_dir():
            return cls(InstanceFilter.load(path, threshold, mode), {}, {}, str(path))
        full = (InstanceFilter.load(path / "full", threshold, mode)
                if (path / "full.json").is_file() else None)
        folds = {int(f.stem[4:]): InstanceFilter.load(f, threshold, mode)
                 for f in sorted(path.glob("fold*.json")) if f.stem[4:].isdigit()}
        image_folds = {}
        if folds:
            try:
                image_folds = {str(k): int(v) for k, v in
                               json.loads((path / "image_folds.json").read_text()).items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise FilterError(f"{path / 'image_folds.json'}: unreadable ({exc})") from None
        if full is None and not folds:
            raise FilterError(f"{path}: no instance filter (full.json or fold<k>.json) in it")
        return cls(full, folds, image_folds, str(path))

    @property
    def needs_image(self) -> bool:
        """Whether any filter uses features of the input image."""
        filters = [f for f in [self.full, *self.folds.values()] if f is not None]
        return any(set(f.features) & set(IMAGE_FEATURES) for f in filters)

    def for_image(self, image_id: str, split: str) -> InstanceFilter:
        """The filter for one image of ``split`` (``oof``: its fold's; otherwise the full one).

        Raises:
            FilterError: when there is none that may see this image.
        """
        if split == "oof":
            fold = self.image_folds.get(image_id)
            if fold is None or fold not in self.folds:
                raise FilterError(f"{self.where}: no cross-fitted filter for OOF image {image_id} "
                                  "(a filter fitted on it would make its OOF score in-sample)")
            return self.folds[fold]
        if self.full is None:
            raise FilterError(f"{self.where}: no full.json filter for {split} images")
        return self.full


class ImageSource:
    """Loads input images by id from the DSB data folder (for filters with image features).

    Args:
        data_dir: DSB data folder.
        split: ``oof`` (``stage1_train``) or a test split; test images are looked up in
            ``stage1_test`` and ``stage2_test_final``.
    """

    def __init__(self, data_dir: str | Path, split: str):
        names = ["stage1_train"] if split == "oof" else ["stage1_test", "stage2_test_final"]
        self.folders = [Path(data_dir) / n for n in names]
        self._sets: dict[Path, object] = {}

    def __call__(self, image_id: str) -> np.ndarray:
        for folder in self.folders:
            if (folder / image_id).is_dir():
                if folder not in self._sets:
                    self._sets[folder] = load_split(folder.parent, folder.name)
                return self._sets[folder].load_image(image_id)
        raise FileNotFoundError(f"image {image_id} not found in {[str(f) for f in self.folders]}")
