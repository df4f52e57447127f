"""Kind-balanced sampling (``common.sampling``, U-Net ``data.balance``): the weights, the
kinds read from the images, and the U-Net's datasets drawing by them."""

from __future__ import annotations

import numpy as np
import pytest


def test_balanced_weights_interpolate_between_uniform_and_equal_kinds():
    from common.sampling import balanced_weights, kind_shares

    kinds = ["a"] * 90 + ["b"] * 9 + ["c"]
    uniform = balanced_weights(kinds, 0.0)
    np.testing.assert_allclose(uniform, 1 / 100)
    equal = kind_shares(kinds, balanced_weights(kinds, 1.0))
    assert equal == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    sqrt = kind_shares(kinds, balanced_weights(kinds, 0.5))  # shares ~ sqrt(90) : 3 : 1
    total = np.sqrt(90) + 3 + 1
    assert sqrt == pytest.approx({"a": np.sqrt(90) / total, "b": 3 / total, "c": 1 / total})
    assert list(sqrt) == ["a", "b", "c"]  # largest share first
    w = balanced_weights(kinds, 0.5)
    assert w.sum() == pytest.approx(1.0) and w[-1] > w[90] > w[0]  # a rare image is drawn more often


@pytest.mark.parametrize("kinds,power", [([], 0.5), (["a"], -0.1), (["a"], 1.5)])
def test_balanced_weights_refuse_bad_input(kinds, power):
    from common.sampling import balanced_weights

    with pytest.raises(ValueError):
        balanced_weights(kinds, power)


def test_source_kind_is_type_and_size_of_the_image_as_read():
    from common.sampling import source_kind, source_kinds

    dark = np.full((40, 60, 3), 10, np.uint8)
    dark[10:20, 10:20] = 200
    assert source_kind(dark) == "fluorescence-40x60"
    stained = np.full((32, 48, 3), (230, 200, 220), np.uint8)  # bright, coloured background
    stained[5:15, 5:15] = (90, 40, 120)
    assert source_kind(stained) == "histology-32x48"

    class Images:
        def load_image(self, image_id):
            return {"d": dark, "s": stained}[image_id]

    assert source_kinds(Images(), ["s", "d", "d"], threads=2) == ["histology-32x48", "fluorescence-40x60",
                                                                  "fluorescence-40x60"]


def _images(n=3, size=40):
    """``n`` images whose pixel value is their index (so a crop tells which image it came from)."""
    images = [np.full((size, size, 3), 50 * (k + 1), np.uint8) for k in range(n)]
    labels = [np.zeros((size, size), np.int32) for _ in range(n)]
    for lab in labels:
        lab[10:20, 10:20] = 1
    return images, labels


def test_crop_dataset_draws_by_the_weights_and_keeps_uniform_draws_without_them():
    from solutions.unet.data import CropDataset

    images, labels = _images()
    only_last = CropDataset(images, labels, crop_size=32, batch_size=8, steps=4, seed=1,
                            weights=np.array([0.0, 0.0, 2.0]))
    seen = {int(only_last[i][0][b, 0, 0, 0]) for i in range(4) for b in range(8)}
    assert seen == {150}
    uniform = CropDataset(images, labels, crop_size=32, batch_size=8, steps=4, seed=1)
    assert {int(uniform[i][0][b, 0, 0, 0]) for i in range(4) for b in range(8)} == {50, 100, 150}
    # no weights: the draws are those of rng.integers, as before data.balance existed
    rng = np.random.default_rng([1, 0, 0])
    picks = rng.integers(0, 3, 8)
    np.testing.assert_array_equal(uniform[0][0][:, 0, 0, 0], 50.0 * (picks + 1))
    with pytest.raises(ValueError, match="weights must be 3"):
        CropDataset(images, labels, crop_size=32, batch_size=8, weights=np.ones(2))


def test_resized_dataset_draws_by_the_weights():
    from solutions.unet.data import ResizedDataset

    images, labels = _images()
    ds = ResizedDataset(images, labels, 32, batch_size=4, steps=3, seed=0, weights=[1.0, 0.0, 0.0])
    assert {int(v) for i in range(3) for v in ds[i][0][:, 0, 0, 0]} == {50}


def test_config_refuses_balance_outside_0_1():
    from common.config import ConfigError
    from solutions.unet.config import DataConfig

    DataConfig(balance=0.5).validate()
    with pytest.raises(ConfigError, match="data.balance"):
        DataConfig(balance=1.5).validate()
