"""Shared fixtures (the real stage-1 training data, a small synthetic data folder, a one-step
U-Net run on it) and the ``backend`` marker.

``backend`` marks the tests whose outcome depends on the Keras backend: the modules whose
names start with one of :data:`BACKEND_MODULES` (models, layers, training, inference). CI runs
every test under TensorFlow and these again under JAX (``-m "backend and not slow"``); the
others (numpy, files, pipeline machinery) would only repeat themselves there. A new test
module of Keras code gets the marker by its name (``test_unet_*``, ``test_maskrcnn_*``, ...)
or by ``pytestmark = pytest.mark.backend``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.paths import SHARED_DSB_DIR

#: Size of the shared synthetic set: 5 images of each of the 3 types in stage1_train
#: (so 5-fold stratification works), 6 in stage1_test, sides 64..128 px.
SYNTH_N_TRAIN, SYNTH_N_TEST, SYNTH_SEED, SYNTH_SIZE = 15, 6, 0, (64, 128)

#: Test module name prefixes that run Keras code (see the module docstring).
BACKEND_MODULES = ("test_backbones", "test_maskrcnn_", "test_unet_", "test_training", "test_runs",
                   "test_segment", "test_scale", "test_normalise")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the items of :data:`BACKEND_MODULES` with ``backend``."""
    for item in items:
        if item.path.name.startswith(BACKEND_MODULES):
            item.add_marker(pytest.mark.backend)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``SHARED_DSB_DIR`` (holding ``stage1_train/``); skips the test when absent."""
    if not (SHARED_DSB_DIR / "stage1_train").is_dir():
        pytest.skip(f"real DSB2018 data not found under {SHARED_DSB_DIR}")
    return SHARED_DSB_DIR


@pytest.fixture(scope="session")
def real_train_dir(real_data_dir: Path) -> Path:
    """``SHARED_DSB_DIR / "stage1_train"``; skips the test when absent."""
    return real_data_dir / "stage1_train"


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic data folder in DSB layout, made once per session (read-only by convention).

    Holds ``stage1_train/`` (15 images with masks), ``stage1_test/`` (6 images) and
    ``stage1_solution.csv``. Copy it before modifying anything.
    """
    from common.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("synthetic_dsb")
    return generate_dataset(out, n_train=SYNTH_N_TRAIN, n_test=SYNTH_N_TEST, seed=SYNTH_SEED, size=SYNTH_SIZE)


#: The one-step U-Net of :func:`tiny_unet_run` (``demo.yaml`` with these items).
TINY_UNET = ["train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=2", "data.crop_size=64",
             "model.base_filters=4", "model.depth=2"]


@pytest.fixture(scope="session")
def tiny_unet_run(synthetic_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(work folder, run folder) of one finished one-step U-Net run (fold 0) on the synthetic data.

    Shared by the modules that use it: a test writes its predictions under a ``--solution`` name
    of its own, and predicts OOF images only with ``--set`` items (without any, the predict would
    tune and write the run's ``thresholds.json``, which the other tests would then read).
    """
    from solutions.unet.train import main

    work = tmp_path_factory.mktemp("tiny_unet_work")
    config = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs" / "demo.yaml"
    argv = ["--config", str(config), "--fold", "0", "--data", str(synthetic_data_dir), "--work", str(work),
            "--verbose", "2", "--set", *TINY_UNET]
    assert main(argv) == 0
    return work, work / "runs" / "unet-fold0"
