"""How often each transform of the ``strong`` level applies to a crop, and together, under the seeding
fault (albumentations' ``Compose.set_random_seed``: every transform its own generator, one seed) and
with one shared stream (``common.augment._seed_streams``, commit 6802403). 2,000 per-sample seeds.

    python bench/results/seedfix_cpu_20261207/rates.py

Each transform decides whether it applies by its generator's first draw against its ``p``
(albumentations 2.0.8, ``BasicTransform.should_apply``); this replays that draw per transform.
"""
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.augment import build_augmenter  # noqa: E402


def applied(fixed: bool, n: int = 2000) -> tuple[list[str], np.ndarray]:
    aug = build_augmenter(None, "strong", seed=0)
    transforms = aug.transform.transforms
    hits = np.zeros((n, len(transforms)), bool)
    for seed in range(n):
        if fixed:
            aug.transform.set_random_state(np.random.default_rng(seed), random.Random(seed))
        else:
            aug.transform.set_random_seed(seed)
        hits[seed] = [t.py_random.random() < t.p for t in transforms]
    return [type(t).__name__ for t in transforms], hits


for fixed in (False, True):
    names, hits = applied(fixed)
    inv, noise, blur = names.index("InvertImg"), names.index("GaussNoise"), names.index("GaussianBlur")
    rates = ", ".join(f"{n} {r:.2f}" for n, r in zip(names, hits.mean(0)))
    print(f"{'one shared stream' if fixed else 'fault'}: {rates}")
    print(f"  noise on a crop not inverted {hits[~hits[:, inv], noise].mean():.2f}; "
          f"noise on an inverted crop {hits[hits[:, inv], noise].mean():.2f}; "
          f"blur without noise {hits[~hits[:, noise], blur].mean():.2f}; "
          f"every colour transform at once {hits[:, 2:].all(1).mean():.3f}")
