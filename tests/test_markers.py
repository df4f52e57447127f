"""The ``backend`` marker still reaches the Keras tests after files move or are renamed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BACKEND_MODULES

TESTS = Path(__file__).parent


def test_every_backend_prefix_matches_a_test_module():
    names = [p.name for p in TESTS.glob("test_*.py")]
    assert not [p for p in BACKEND_MODULES if not any(n.startswith(p) for n in names)]


def test_modules_that_import_keras_at_top_are_backend_tests():
    """A module that imports Keras, a model or a training loop at its top runs Keras code."""
    keras_lines = ("import keras", "from keras", "from common.training", "from common.backbones")
    unmarked = []
    for path in TESTS.glob("test_*.py"):
        lines = path.read_text().splitlines()
        if any(line.startswith(keras_lines) for line in lines) and not path.name.startswith(BACKEND_MODULES) \
                and "pytestmark = pytest.mark.backend" not in lines:
            unmarked.append(path.name)
    assert not unmarked, f"mark these with pytest.mark.backend or add their prefix to BACKEND_MODULES: {unmarked}"
