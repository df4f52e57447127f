"""Reading DSB2018 data folders: images, instance labels and solution CSVs.

Layout (see ``docs/CONTRACTS.md``)::

    <data>/stage1_train/<id>/images/<id>.png
    <data>/stage1_train/<id>/masks/*.png          one binary PNG per nucleus
    <data>/stage1_test/<id>/images/<id>.png
    <data>/stage1_solution.csv                    ImageId,EncodedPixels,Height,Width[,Usage]

Every image comes back as uint8 ``[H,W,3]`` RGB whatever it was on disk (RGBA, gray,
16-bit), every label image as int32 ``[H,W]`` (0 = background, instances ``1..N``).
Bad input raises :class:`DataError` naming the file.

Image decoding lives in ``common.images`` (``DataError`` and ``to_rgb_uint8`` are
re-exported here), the statistics and their CLI in ``common.data_stats``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from common.images import DataError, png_shape, read_unchanged, to_rgb_uint8
from common.machine import worker_threads

__all__ = [
    "DataError",
    "DSBDataset",
    "SOLUTION_CSVS",
    "load_split",
    "find_dataset_root",
    "image_folders",
    "to_rgb_uint8",
]

#: Test splits whose labels live in a solution CSV beside the split folder.
SOLUTION_CSVS: dict[str, str] = {
    "stage1_test": "stage1_solution.csv",
    "stage2_test_final": "stage2_solution_final.csv",
}


def image_folders(split_dir: str | Path) -> list[str]:
    """The image folder names of a split folder, sorted: the one rule for what counts.

    Hidden entries (names starting with ``.``, e.g. ``.ipynb_checkpoints`` or a
    ``.partial-*`` download) and plain files are never images; an absent folder has none.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        return []
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


class DSBDataset:
    """One split of a DSB2018 data folder.

    Construction scans the folder layout only (cheap ``stat`` calls); pixels are
    read lazily by :meth:`load_image` and :meth:`load_labels`, which always raise
    :class:`DataError` on bad files. ``on_error`` decides what the layout scan and
    :meth:`iter_items` / :meth:`validate` do with a bad image: ``"raise"`` or
    ``"skip"`` (drop it from :attr:`ids` with a warning naming it).

    Attributes:
        data_dir: The data folder (parent of the split folder).
        split: Split folder name, e.g. ``"stage1_train"``.
        split_dir: ``data_dir / split``.
        solution_csv: Solution CSV the labels come from, or ``None`` (masks/ folders).
        ids: Sorted image ids.
        has_labels: Whether labels are available (masks/ folders or a solution CSV).
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str = "stage1_train",
        solution_csv: str | Path | None = None,
        on_error: str = "raise",
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.data_dir = Path(data_dir)
        self.split = split
        self.split_dir = self.data_dir / split
        self.on_error = on_error
        if not self.split_dir.is_dir():
            raise DataError(f"{self.split_dir}: split folder is missing")
        self.solution_csv = Path(solution_csv) if solution_csv is not None else None
        self._rles: dict[str, tuple[list[str], tuple[int, int]]] = {}
        self.ignored_ids: set[str] = set()
        if self.solution_csv is not None:
            self._rles, self.ignored_ids = _read_solution_csv(self.solution_csv)
        candidates = image_folders(self.split_dir)
        self.has_labels = self.solution_csv is not None or any(
            (self.split_dir / i / "masks").is_dir() for i in candidates
        )
        self._mask_files: dict[str, list[Path]] = {}
        self.ids: list[str] = []
        for image_id in candidates:
            try:
                self._check_layout(image_id)
            except DataError as err:
                self._handle(err)
                continue
            self.ids.append(image_id)

    # ------------------------------------------------------------------ layout
    def _handle(self, err: DataError) -> None:
        if self.on_error == "raise":
            raise err
        warnings.warn(f"skipping image: {err}", stacklevel=3)

    def image_path(self, image_id: str) -> Path:
        """``split_dir/<id>/images/<id>.png``."""
        return self.split_dir / image_id / "images" / f"{image_id}.png"

    def _check_layout(self, image_id: str) -> None:
        if not self.image_path(image_id).is_file():
            raise DataError(f"{self.image_path(image_id)}: image file is missing")
        if not self.has_labels:
            return
        if self.solution_csv is not None:
            if image_id not in self._rles:
                raise DataError(f"{self.solution_csv}: no rows for image {image_id}")
            return
        mask_dir = self.split_dir / image_id / "masks"
        files = sorted(mask_dir.glob("*.png")) if mask_dir.is_dir() else []
        if not files:
            raise DataError(f"{mask_dir}: masks folder is missing or holds no PNG")
        self._mask_files[image_id] = files

    @property
    def labelled_ids(self) -> list[str]:
        """Ids that have labels (all of them, except a solution CSV's ``Ignored`` images)."""
        if not self.has_labels:
            return []
        return [i for i in self.ids if i not in self.ignored_ids]

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, image_id: object) -> bool:
        return image_id in set(self.ids)

    def __repr__(self) -> str:
        return f"DSBDataset({str(self.split_dir)!r}, n={len(self.ids)}, labels={self.has_labels})"

    # ------------------------------------------------------------------ pixels
    def image_shape(self, image_id: str) -> tuple[int, int]:
        """(H, W) of an image, read from the PNG header (no decoding)."""
        return png_shape(self.image_path(image_id))

    def load_image(self, image_id: str) -> np.ndarray:
        """Read an image.

        Returns:
            uint8 [H,W,3] RGB.

        Raises:
            DataError: if the file is missing or cannot be decoded.
        """
        path = self.image_path(image_id)
        return to_rgb_uint8(read_unchanged(path), path)

    def load_labels(self, image_id: str) -> np.ndarray:
        """Read the instance labels of an image.

        Overlapping masks are resolved deterministically: masks are painted in
        sorted file-name order (CSV row order for a solution CSV) and the first
        mask keeps an overlapped pixel; the count of such pixels is reported with
        ``warnings.warn``. Ids are renumbered to stay consecutive if a mask vanished.

        Returns:
            int32 [H,W], 0 = background, instances 1..N.

        Raises:
            DataError: if the split has no labels, a mask is corrupt or its size
                differs from the image.
        """
        if not self.has_labels:
            raise DataError(f"{self.split_dir}: split has no labels (no masks/ and no solution CSV)")
        if self.solution_csv is not None:
            return self._labels_from_csv(image_id)
        return self._labels_from_masks(image_id)

    def _labels_from_masks(self, image_id: str) -> np.ndarray:
        if image_id not in self._mask_files:
            self._check_layout(image_id)
        shape = self.image_shape(image_id)
        painter = _LabelPainter(shape)
        files = self._mask_files[image_id]
        reader = _mask_pool().map if len(files) > 8 else map  # cv2 decodes without the GIL
        for index in reader(lambda p: _mask_indices(p, shape, self.image_path(image_id)), files):
            painter.paint(index)
        return painter.finish(str(self.split_dir / image_id))

    def _labels_from_csv(self, image_id: str) -> np.ndarray:
        from common.rle import rle_decode

        if image_id not in self._rles:
            raise DataError(f"{self.solution_csv}: no rows for image {image_id}")
        if image_id in self.ignored_ids:
            raise DataError(f"{self.solution_csv}: image {image_id} is Usage=Ignored (not scored, no labels)")
        rles, shape = self._rles[image_id]
        painter = _LabelPainter(shape)
        for k, rle in enumerate(rles):
            try:
                mask = rle_decode(rle, shape)
            except ValueError as err:
                raise DataError(f"{self.solution_csv}: image {image_id}, row {k}: {err}") from None
            painter.paint(np.flatnonzero(mask))
        return painter.finish(f"{image_id} in {self.solution_csv}")

    # --------------------------------------------------------------- iteration
    def iter_items(self, with_labels: bool = True) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        """Yield ``(image_id, image uint8[H,W,3], labels int32[H,W] or None)``.

        With ``on_error="skip"`` a bad image is skipped with a warning naming it.
        """
        for image_id in list(self.ids):
            try:
                image = self.load_image(image_id)
                labels = self.load_labels(image_id) if with_labels and self.has_labels else None
            except DataError as err:
                self._handle(err)
                continue
            yield image_id, image, labels

    def validate(self) -> list[str]:
        """Decode every image (and labels); with ``on_error="skip"`` drop bad ids.

        Returns:
            The ids that failed (empty with ``on_error="raise"``, which raises instead).
        """
        good = {image_id for image_id, _, _ in self.iter_items()}
        bad = [i for i in self.ids if i not in good]
        self.ids = [i for i in self.ids if i in good]
        return bad


_POOL: ThreadPoolExecutor | None = None


def _mask_pool() -> ThreadPoolExecutor:
    """A small shared thread pool for decoding mask PNGs."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=worker_threads(4), thread_name_prefix="dsb-masks")
    return _POOL


def _mask_indices(path: Path, shape: tuple[int, int], image_path: Path) -> np.ndarray:
    """Flat (row-major) indices of a mask PNG's nonzero pixels.

    Raises:
        DataError: if the mask is corrupt or its size differs from ``shape``.
    """
    mask = read_unchanged(path, cv2.IMREAD_GRAYSCALE)
    if mask.shape != shape:
        raise DataError(f"{path}: mask size {mask.shape} differs from image size {shape} of {image_path}")
    x, y, w, h = cv2.boundingRect(mask)  # nonzero search only inside the bounding box
    rows, cols = np.nonzero(mask[y : y + h, x : x + w])
    return (rows + y).astype(np.int64) * shape[1] + (cols + x)


class _LabelPainter:
    """Paints masks, given as flat pixel indices, into an int32 label image."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.flat = np.zeros(shape[0] * shape[1], dtype=np.int32)
        self.count = 0
        self.overlapped = 0

    def paint(self, index: np.ndarray) -> None:
        """Give label ``count+1`` to the pixels of ``index`` not already taken."""
        self.count += 1
        taken = self.flat[index] != 0
        self.overlapped += int(taken.sum())
        self.flat[index[~taken]] = self.count

    def finish(self, name: str) -> np.ndarray:
        if self.overlapped:
            warnings.warn(
                f"{name}: {self.overlapped} pixels covered by more than one mask; "
                "the first mask in sorted order keeps them",
                stacklevel=4,
            )
        present = np.bincount(self.flat, minlength=self.count + 1)[1:] > 0
        if not present.all():  # keep ids consecutive 1..N
            lut = np.zeros(self.count + 1, dtype=np.int32)
            lut[1:][present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
            self.flat = lut[self.flat]
        return self.flat.reshape(self.shape)


def _read_solution_csv(path: Path) -> tuple[dict[str, tuple[list[str], tuple[int, int]]], set[str]]:
    """Group a solution CSV by image: ``({id: ([rle, ...], (H, W))}, ignored ids)``.

    Images whose rows say ``Usage == "Ignored"`` (unscored stage-2 images) are
    returned in the second item; they have no labels.
    """
    from common.submission import SubmissionError, ignored_ids, read_solution_table

    if not path.is_file():
        raise DataError(f"{path}: solution CSV is missing")
    try:
        table = read_solution_table(path)
    except SubmissionError as err:
        raise DataError(str(err)) from None
    out: dict[str, tuple[list[str], tuple[int, int]]] = {}
    for image_id, group in table.groupby("ImageId", sort=True):
        rles = [r for r in group["EncodedPixels"].tolist() if r.strip()]
        out[str(image_id)] = (rles, (int(group["Height"].iloc[0]), int(group["Width"].iloc[0])))
    return out, ignored_ids(table)


def load_split(data_dir: str | Path, split: str, on_error: str = "raise") -> DSBDataset:
    """Open a split, finding its solution CSV for test splits.

    ``stage1_test`` uses ``data_dir/stage1_solution.csv`` and ``stage2_test_final``
    uses ``data_dir/stage2_solution_final.csv`` when the file exists; otherwise the
    split is read from masks/ folders (or has no labels).
    """
    data_dir = Path(data_dir)
    csv = data_dir / SOLUTION_CSVS[split] if split in SOLUTION_CSVS else None
    return DSBDataset(data_dir, split, solution_csv=csv if csv is not None and csv.is_file() else None,
                      on_error=on_error)


def find_dataset_root(candidates: Sequence[str | Path], split: str = "stage1_train") -> Path | None:
    """The first candidate folder that holds ``split/``, or ``None``."""
    for candidate in candidates:
        if candidate is not None and (Path(candidate) / split).is_dir():
            return Path(candidate)
    return None


if __name__ == "__main__":  # the stats CLI's old entry point: python -m common.data stats DIR
    from common.data_stats import main

    raise SystemExit(main())
