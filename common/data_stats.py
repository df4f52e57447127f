"""Statistics of a DSB split, like the study's Table 3.1, and their CLI.

CLI::

    python -m common.data_stats DIR [--split stage1_train] [--sizes]

(``python -m common.data stats DIR`` still works.) Images that cannot be read are
skipped with a warning, and every count printed is of the images actually read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import DataError, DSBDataset, load_split

__all__ = ["dataset_stats", "main"]


def _per_image_table(dataset: DSBDataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image rows (id, height, width, n_masks, cluster) and per-nucleus areas."""
    from common.folds import image_type

    images, nuclei = [], []
    for image_id, image, labels in dataset.iter_items():
        row = {"image_id": image_id, "height": image.shape[0], "width": image.shape[1],
               "cluster": image_type(image)}
        if labels is not None:
            areas = np.bincount(labels.ravel())[1:]
            areas = areas[areas > 0]
            row["n_masks"] = int(areas.size)
            nuclei.append(pd.DataFrame({"cluster": row["cluster"], "area": areas}))
        images.append(row)
    nuc = pd.concat(nuclei, ignore_index=True) if nuclei else pd.DataFrame(columns=["cluster", "area"])
    return pd.DataFrame(images), nuc


def dataset_stats(dataset: DSBDataset) -> pd.DataFrame:
    """Summary statistics like the study's Table 3.1, overall and per image type.

    Reads every image and label image once.

    Returns:
        One row per group (``all`` then each cluster): image count, distinct sizes,
        most common size, masks per image (min/max/mean) and nucleus area in pixels
        (min/max/mean/std).
    """
    return _summarise(*_per_image_table(dataset))


def _summarise(images: pd.DataFrame, nuclei: pd.DataFrame) -> pd.DataFrame:
    groups = [("all", images, nuclei)] + [
        (c, images[images.cluster == c], nuclei[nuclei.cluster == c])
        for c in sorted(images.cluster.unique())
    ]
    rows = []
    for name, img, nuc in groups:
        sizes = (img.height.astype(str) + "x" + img.width.astype(str)).value_counts()
        row = {"group": name, "images": len(img), "sizes": len(sizes),
               "top_size": f"{sizes.index[0]} ({sizes.iloc[0]})" if len(sizes) else ""}
        if "n_masks" in img:
            row.update(masks_min=img.n_masks.min(), masks_max=img.n_masks.max(),
                       masks_mean=round(img.n_masks.mean(), 1), nuclei=len(nuc),
                       area_min=nuc.area.min(), area_max=nuc.area.max(),
                       area_mean=round(nuc.area.mean(), 1), area_std=round(nuc.area.std(), 1))
        rows.append(row)
    return pd.DataFrame(rows).set_index("group")


def _resolve_cli_dir(path: Path, split: str) -> tuple[Path, str]:
    """Accept either a data folder (holding ``split/``) or a split folder itself."""
    if (path / split).is_dir():
        return path, split
    return path.parent, path.name


def main(argv: Sequence[str] | None = None) -> int:
    """The stats CLI; a leading ``stats`` word (the old ``common.data`` form) is accepted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["stats"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="python -m common.data_stats", description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, help="data folder (holding stage1_train/) or a split folder")
    parser.add_argument("--split", default="stage1_train")
    parser.add_argument("--sizes", action="store_true", help="also print the full size distribution")
    args = parser.parse_args(argv)
    try:
        data_dir, split = _resolve_cli_dir(args.dir, args.split)
        dataset = load_split(data_dir, split, on_error="skip")
        images, nuclei = _per_image_table(dataset)
    except DataError as err:
        print(f"python -m common.data_stats: error: {err}", file=sys.stderr)
        return 2
    skipped = len(dataset) - len(images)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"{dataset.split_dir}: {len(images)} images"
              + (f" ({skipped} unreadable, skipped)" if skipped else ""))
        print(_summarise(images, nuclei).to_string())
        if args.sizes:
            sizes = images.groupby(["height", "width", "cluster"]).size().rename("images")
            print(sizes.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
