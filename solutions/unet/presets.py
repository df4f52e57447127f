"""What the U-Net package declares to the pipeline: plain data, no Keras import.

``PRESETS`` maps each pipeline solution name of this package to:

* ``configs``: profile -> YAML file under this package's ``configs/``;
* ``overrides``: ``--set`` items always passed to train;
* ``tiny``: ``--set`` items of ``run_all --tiny`` (1 epoch of 1-2 steps, small inputs);
* ``tune_key``: the config key that, when true, makes ``predict --split oof`` tune the
  post-processing and write the run's ``thresholds.json`` (None: never tunes);
* ``default_in``: the profiles whose default solution list includes it, and ``order``,
  its place in those lists.

Every config class has ``seed``, ``n_folds`` and ``solution`` at its top level (the
pipeline sets ``n_folds`` to match ``folds.csv``); ``CONFIG_CLASS`` (``"module:Class"``, importable without Keras) is the config dataclass
that ``run_all`` checks every ``--set`` item against before any work.
"""

from __future__ import annotations

CONFIG_CLASS = "solutions.unet.config:UNetConfig"  # Keras-free: --set items are checked with it

_TINY = ("train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2")

PRESETS: dict[str, dict] = {
    "unet": {
        "description": "watershed U-Net: body, border and centre maps; thresholds tuned on OOF",
        "configs": {"demo": "demo.yaml", "full": "watershed.yaml"},
        "overrides": ("solution=unet",),
        "tiny": _TINY + ("data.crop_size=64", "model.depth=3"),
        "tune_key": "post.tune",
        "default_in": ("demo", "full"),
        "order": 10,
    },
    "unet-baseline": {
        "description": "the study's U-Net: one mask map, connected components",
        "configs": {"demo": "demo_baseline.yaml", "full": "baseline.yaml"},
        "overrides": ("solution=unet-baseline",),
        "tiny": _TINY + ("data.input_size=64",),
        "tune_key": "post.tune",
        # Not in the demo: on the synthetic set it misses the 0.25 OOF floor (0.193;
        # bench/results/demo_cpu_2026-12-02_quieter.md), and the demo without it takes
        # 5 min 41 s from a fresh clone (bench/results/demo_cpu_2026-12-02_unet_only.md).
        "default_in": ("full",),
        "order": 20,
    },
}
