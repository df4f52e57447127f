"""A/B of U-Net whole-image inference: this checkout's ``solutions/unet/inference.py`` (and
``tiling.py``) against the same files at an older git revision, on the same model, images and
machine.

    .venv/bin/python bench/ab_unet_inference.py [--old aab03ea] [--config solutions/unet/configs/cpu30.yaml]
        [--n-images 24] [--tta flip]

Times ``predict_image`` (network and TTA, no post-processing) on the first ``--n-images``
stage1_train ids (sorted) with a randomly initialised model (speed does not depend on the
weights), old/new/old/new after a warm-up each, and prints the largest output difference.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _old_module(rev: str, name: str):
    """``solutions/unet/<name>.py`` at git revision ``rev``, loaded as a module (None: no such file)."""
    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:solutions/unet/{name}.py"],
                           capture_output=True, text=True)
    if shown.returncode != 0:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(shown.stdout)
    spec = importlib.util.spec_from_file_location(f"{name}_old", fh.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old", default="aab03ea", help="git revision of the old inference.py")
    p.add_argument("--config", default="solutions/unet/configs/cpu30.yaml")
    p.add_argument("--n-images", type=int, default=24)
    p.add_argument("--tta", default="flip")
    args = p.parse_args(argv)

    import numpy as np

    import solutions.unet.inference as new
    from common.config import load_config
    from common.data import DSBDataset
    from common.machine import machine_description
    from common.paths import SHARED_DSB_DIR
    from solutions.unet.config import UNetConfig
    from solutions.unet.model_watershed import build_model

    # since 9602250 inference.py imports the network code from tiling.py: the old revision's
    # inference.py gets the old revision's tiling.py (when it has one), not this checkout's
    tiling = _old_module(args.old, "tiling")
    saved = sys.modules.get("solutions.unet.tiling")
    if tiling is not None:
        sys.modules["solutions.unet.tiling"] = tiling
    try:
        old = _old_module(args.old, "inference")
    finally:
        if saved is None:
            sys.modules.pop("solutions.unet.tiling", None)
        else:
            sys.modules["solutions.unet.tiling"] = saved

    cfg = load_config(UNetConfig, REPO / args.config)
    model = build_model(cfg)
    ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    images = [ds.load_image(i) for i in sorted(ds.ids)[:args.n_images]]
    print(f"{machine_description()}; {args.config}; {len(images)} images, sizes "
          f"{sorted({im.shape[:2] for im in images})}; TTA {args.tta}")
    for name, mod in (("old", old), ("new", new), ("old", old), ("new", new)):
        mod.predict_image(model, images[0], cfg, args.tta)  # warm-up
        t0 = time.perf_counter()
        for im in images:
            mod.predict_image(model, im, cfg, args.tta)
        print(f"{name} ({args.old if name == 'old' else 'checkout'}): "
              f"{len(images) / (time.perf_counter() - t0):.2f} images/s")
    diff = max(float(np.abs(old.predict_image(model, im, cfg, args.tta)
                            - new.predict_image(model, im, cfg, args.tta)).max()) for im in images[:4])
    print(f"largest output difference on the first 4 images: {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
