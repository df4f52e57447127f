"""Pack a DSB split into one compact file, and unpack it again in the DSB layout.

Used to carry the real stage-1 training set (187 MB as 29,650 PNGs) to a remote GPU
machine in one ~48 MB file: each image as one PNG (gray where its channels are equal)
and its instance labels as one 16-bit PNG.

    python bench/dsb_pack.py pack   SRC_DATA_DIR OUT.pkl [--split stage1_train]
    python bench/dsb_pack.py unpack IN.pkl DST_DATA_DIR [--split stage1_train]

Unpacking writes ``DST/<split>/<id>/images/<id>.png`` and one mask PNG per instance,
so the result reads back with ``common.data.DSBDataset`` exactly like the original.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pack(src: Path, out: Path, split: str) -> None:
    from common.data import DSBDataset

    ds = DSBDataset(src, split)
    items = {}
    for image_id in ds.ids:
        image, labels = ds.load_image(image_id), ds.load_labels(image_id)
        gray = bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())
        ok1, img_png = cv2.imencode(".png", image[..., 0] if gray else image[..., ::-1])
        ok2, lab_png = cv2.imencode(".png", labels.astype(np.uint16))
        if not (ok1 and ok2) or labels.max() > 65535:
            raise RuntimeError(f"cannot pack {image_id}")
        items[image_id] = (img_png.tobytes(), lab_png.tobytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        pickle.dump({"split": split, "items": items}, fh, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"packed {len(items)} images into {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _write_one(args: tuple[Path, str, bytes, bytes]) -> int:
    split_dir, image_id, img_png, lab_png = args
    image = cv2.imdecode(np.frombuffer(img_png, np.uint8), cv2.IMREAD_UNCHANGED)
    labels = cv2.imdecode(np.frombuffer(lab_png, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.int32)
    (split_dir / image_id / "images").mkdir(parents=True, exist_ok=True)
    (split_dir / image_id / "masks").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(split_dir / image_id / "images" / f"{image_id}.png"), image)
    for k in range(1, int(labels.max()) + 1):
        mask = (labels == k).astype(np.uint8) * 255
        if mask.any():
            cv2.imwrite(str(split_dir / image_id / "masks" / f"{k:04d}.png"), mask)
    return int(labels.max())


def unpack(src: Path, dst: Path, workers: int | None = None) -> None:
    with open(src, "rb") as fh:
        data = pickle.load(fh)
    split_dir = dst / data["split"]
    jobs = [(split_dir, i, a, b) for i, (a, b) in data["items"].items()]
    with ProcessPoolExecutor(workers) as pool:
        n = sum(pool.map(_write_one, jobs, chunksize=8))
    print(f"unpacked {len(jobs)} images, {n} masks into {split_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["pack", "unpack"])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--split", default="stage1_train")
    args = parser.parse_args(argv)
    if args.mode == "pack":
        pack(args.src, args.dst, args.split)
    else:
        unpack(args.src, args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
