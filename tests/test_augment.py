"""common.augment: labels stay integer instance ids through every transform."""

from __future__ import annotations

import numpy as np
import pytest

from common.augment import build_augmenter, random_crop
from common.synthetic import render_sample


@pytest.fixture(scope="module")
def sample():
    return render_sample(0, 2, "histology", (80, 120))


@pytest.mark.parametrize("level", ["none", "default", "strong"])
@pytest.mark.parametrize("crop_size", [None, 64, 160])
def test_labels_stay_integer_subset(sample, level, crop_size):
    image, labels = sample
    aug = build_augmenter(crop_size, level)
    ids = set(np.unique(labels).tolist())
    for seed in range(8):
        out_image, out_labels = aug(image, labels, rng_seed=seed)
        assert out_image.dtype == np.uint8 and out_labels.dtype == np.int32
        assert out_image.shape == out_labels.shape + (3,)
        if crop_size is not None:
            assert out_labels.shape == (crop_size, crop_size)
        assert set(np.unique(out_labels).tolist()) <= ids


def test_padding_is_background(sample):
    image, labels = sample
    out_image, out_labels = build_augmenter(160, "none")(image, labels, rng_seed=0)
    assert (out_labels > 0).sum() == (labels > 0).sum()  # only padding, nothing lost
    assert (out_image.reshape(-1, 3).any(axis=1)).sum() <= image.shape[0] * image.shape[1]


def test_seeded_calls_repeat(sample):
    image, labels = sample
    aug = build_augmenter(64, "strong")
    a = aug(image, labels, rng_seed=11)
    aug(image, labels)
    b = aug(image, labels, rng_seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_none_without_crop_is_identity(sample):
    image, labels = sample
    out_image, out_labels = build_augmenter(None, "none")(image, labels)
    np.testing.assert_array_equal(out_image, image)
    np.testing.assert_array_equal(out_labels, labels)


def test_geometry_moves_image_and_labels_together():
    image = np.zeros((64, 64, 3), np.uint8)
    labels = np.zeros((64, 64), np.int32)
    image[5:20, 30:40] = 200
    labels[5:20, 30:40] = 3
    aug = build_augmenter(None, "default")
    for seed in range(10):
        out_image, out_labels = aug(image, labels, rng_seed=seed)
        assert set(np.unique(out_labels).tolist()) <= {0, 3}
        inside = out_labels == 3
        assert inside.any()
        gray = out_image.mean(axis=2)
        # the bright (or, inverted, dark) block sits where label 3 is
        assert abs(gray[inside].mean() - gray[~inside].mean()) > 20


def test_bad_arguments(sample):
    image, labels = sample
    with pytest.raises(ValueError, match="level"):
        build_augmenter(64, "extreme")
    with pytest.raises(ValueError, match="shape"):
        build_augmenter(64)(image, labels[:10])
    with pytest.raises(ValueError, match="integer"):
        build_augmenter(64)(image, labels.astype(np.float32))


def test_random_crop(sample):
    image, labels = sample
    a = random_crop(image, labels, 48, rng=3)
    b = random_crop(image, labels, 48, rng=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (48, 48, 3) and a[1].dtype == labels.dtype
    big_image, big_labels = random_crop(image, labels, 200, rng=np.random.default_rng(0))
    assert big_image.shape == (200, 200, 3) and (big_labels > 0).sum() == (labels > 0).sum()
    assert random_crop(image, None, 32)[1] is None


def test_options_off_build_the_level_unchanged(sample):
    image, labels = sample
    for level in ("default", "strong"):
        plain, same = build_augmenter(64, level, seed=3), build_augmenter(64, level, seed=3, scale_range=None,
                                                                          stain=0.0, blur_noise=0.0)
        assert repr(plain.transform) == repr(same.transform)
        for seed in range(3):
            a, b = plain(image, labels, rng_seed=seed), same(image, labels, rng_seed=seed)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_scale_range_covers_shrinking_and_enlarging():
    image = np.zeros((60, 60, 3), np.uint8)
    labels = np.zeros((60, 60), np.int32)
    image[20:40, 20:40], labels[20:40, 20:40] = 200, 1
    aug = build_augmenter(None, "strong", scale_range=(0.5, 2.0))
    sides = [aug(image, labels, rng_seed=s)[1].shape[0] for s in range(60)]
    assert min(sides) >= 30 and max(sides) <= 120
    assert any(s < 50 for s in sides) and any(s > 80 for s in sides)  # both directions
    narrow = build_augmenter(None, "strong", scale_range=(1.5, 2.0))
    assert all(s == 60 or 90 <= s <= 120 for s in (narrow(image, labels, rng_seed=s)[1].shape[0]
                                                   for s in range(20)))


@pytest.mark.parametrize("kind", ["fluorescence", "histology"])
def test_stain_and_blur_noise_keep_labels(kind):
    image, labels = render_sample(1, 0, kind, (80, 120))
    aug = build_augmenter(64, "default", stain=1.0, blur_noise=1.0)
    assert "HEStain" in repr(aug.transform) and "GaussNoise" in repr(aug.transform)
    ids = set(np.unique(labels).tolist())
    changed = 0
    for seed in range(6):
        out_image, out_labels = aug(image, labels, rng_seed=seed)
        assert out_image.dtype == np.uint8 and out_image.shape == (64, 64, 3)
        assert set(np.unique(out_labels).tolist()) <= ids
        ref_image, ref_labels = build_augmenter(64, "default")(image, labels, rng_seed=seed)
        changed += not np.array_equal(out_image, ref_image)
    assert changed >= 5


def test_bad_options(sample):
    with pytest.raises(ValueError, match="scale_range"):
        build_augmenter(64, scale_range=(2.0, 0.5))
    with pytest.raises(ValueError, match="probabilities"):
        build_augmenter(64, stain=1.5)


def test_synthetic_cytoplasm_raises_only_background_around_nuclei_and_keeps_labels():
    from common.augment import synthetic_cytoplasm

    labels = np.zeros((96, 96), np.int32)
    yy, xx = np.mgrid[:96, :96]
    labels[(yy - 30) ** 2 + (xx - 30) ** 2 <= 36] = 1
    labels[(yy - 60) ** 2 + (xx - 70) ** 2 <= 36] = 2
    image = np.where(labels[..., None] > 0, 200, 10).astype(np.uint8).repeat(3, axis=-1)
    out = synthetic_cytoplasm(image, labels, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[labels > 0], image[labels > 0])  # nuclei untouched
    assert np.all(out >= image)  # only raised
    raised = (out[..., 0] > image[..., 0])
    assert raised.sum() > 50 and not raised[labels > 0].any()
    assert out[raised].max() < 200  # dimmer than the nuclei
    np.testing.assert_array_equal(out, synthetic_cytoplasm(image, labels, np.random.default_rng(0)))
    empty = np.zeros_like(labels)
    assert synthetic_cytoplasm(image, empty, np.random.default_rng(0)) is image
    _check_augmenter_option(image, labels, "cytoplasm")


def test_dim_nuclei_moves_each_nucleus_towards_the_background_by_its_own_factor():
    from common.augment import dim_nuclei

    labels = np.zeros((96, 96), np.int32)
    yy, xx = np.mgrid[:96, :96]
    centres = [(20, 20), (20, 70), (70, 20), (70, 70)]
    for k, (cy, cx) in enumerate(centres, 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 64] = k
    image = np.where(labels[..., None] > 0, 210, 10).astype(np.uint8).repeat(3, axis=-1)
    out = dim_nuclei(image, labels, np.random.default_rng(0), lowest=0.2)
    assert out.shape == image.shape and out.dtype == np.uint8
    from scipy import ndimage as ndi

    far = ndi.distance_transform_edt(labels == 0) > 6
    np.testing.assert_array_equal(out[far], image[far])  # the background away from nuclei is kept
    assert np.all(out <= image)  # nuclei only dimmed, never brightened
    cores = [out[..., 0][(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] for cy, cx in centres]
    contrast = np.array([core.mean() - 10 for core in cores]) / 200
    assert np.all(contrast >= 0.2 - 0.01) and np.all(contrast <= 1.0)  # within [lowest, 1]
    assert np.ptp(contrast) > 0.1  # each nucleus its own factor
    assert all(np.ptp(core) <= 1 for core in cores)  # one factor across a nucleus's core
    np.testing.assert_array_equal(out, dim_nuclei(image, labels, np.random.default_rng(0)))
    # nuclei darker than the background (a randomly inverted crop) move up towards it
    dark = dim_nuclei(255 - image, labels, np.random.default_rng(0), lowest=0.2)
    np.testing.assert_array_equal(dark, 255 - out)
    assert dim_nuclei(image, np.zeros_like(labels), np.random.default_rng(0)) is image
    assert dim_nuclei(image, np.ones_like(labels), np.random.default_rng(0)) is image  # nothing to dim towards
    sparse = np.where(labels > 0, labels * 1000, 0)  # ids far apart: one factor each all the same
    np.testing.assert_array_equal(dim_nuclei(image, sparse, np.random.default_rng(0)), out)
    with pytest.raises(ValueError, match="uint8"):
        dim_nuclei(image[..., 0], labels, np.random.default_rng(0))
    for lowest in (0.0, 1.5):
        with pytest.raises(ValueError, match="lowest"):
            dim_nuclei(image, labels, np.random.default_rng(0), lowest=lowest)
    _check_augmenter_option(image, labels, "dim")


def test_grain_is_gray_noise_correlated_over_neighbouring_pixels():
    """``grain``: noise the same on every channel, drawn at half resolution with a std of 3-10 % of
    the range, so about 1.9-6.25 % per pixel after the bilinear enlargement (4.8-15.9 gray levels,
    times the level's contrast jitter of 0.8-1.2), and correlated between neighbours, unlike pixel
    noise."""
    labels = np.zeros((96, 96), np.int32)
    labels[40:60, 40:60] = 1
    image = np.full((96, 96, 3), 120, np.uint8)  # flat: every other transform keeps it flat
    aug = build_augmenter(64, "default", seed=1, grain=1.0)
    for seed in range(4):
        out, _ = aug(image, labels, rng_seed=seed)
        np.testing.assert_array_equal(out[..., 0], out[..., 1])
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
        noise = out[..., 0].astype(np.float64) - np.median(out[..., 0])
        assert 3.5 < noise.std() < 20.0
        assert np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1] > 0.4
    _check_augmenter_option(image, labels, "grain")


def test_transforms_draw_whether_they_apply_independently():
    """Each colour transform decides by its own draw: a crop the ``strong`` level inverts (p 0.3) is
    not always the one it adds noise to (p 0.3). On a flat dark image only the noise makes pixels
    differ and only the inversion makes it bright. (albumentations gives every transform the same
    seed, so without one shared stream the two always came together: no plain crop had noise.)"""
    image, labels = np.full((48, 48, 3), 30, np.uint8), np.zeros((48, 48), np.int32)
    aug = build_augmenter(None, "strong", seed=0)
    inverted, noisy = [], []
    for seed in range(300):
        out = aug(image, labels, rng_seed=seed)[0].astype(np.float64)
        inverted.append(out.mean() > 128)
        noisy.append(out[..., 0].std() > 0.5)
    inverted, noisy = np.array(inverted), np.array(noisy)
    assert 0.2 < inverted.mean() < 0.4 and 0.2 < noisy.mean() < 0.4
    assert 0.15 < noisy[~inverted].mean() < 0.45 and 0.15 < noisy[inverted].mean() < 0.45
    a, _ = build_augmenter(None, "strong", seed=3)(image, labels)
    b, _ = build_augmenter(None, "strong", seed=3)(image, labels)
    np.testing.assert_array_equal(a, b)  # a seeded augmenter still repeats itself


def test_defocus_blurs_by_a_sigma_of_half_a_pixel_to_two_and_a_half():
    """``defocus``: a Gaussian blur whose sigma, read off a blurred step edge (the spread of its
    derivative), lies in ``DEFOCUS_SIGMA`` and goes beyond the ``strong`` level's own 5-tap blur
    (at most about 1.4 px); in the augmenter it changes the image alone."""
    import albumentations as A

    from common.augment import DEFOCUS_SIGMA, _defocus

    step = np.zeros((16, 64, 3), np.uint8)
    step[:, 32:] = 200
    blur = A.Compose(_defocus(1.0))
    sigmas = []
    for seed in range(30):
        blur.set_random_seed(seed)
        profile = blur(image=step)["image"][8, :, 0].astype(np.float64)
        d = np.diff(profile)
        x = np.arange(d.size)
        centre = (d * x).sum() / d.sum()
        sigmas.append(np.sqrt((d * (x - centre) ** 2).sum() / d.sum()))
    assert DEFOCUS_SIGMA[0] - 0.2 < min(sigmas) and max(sigmas) < DEFOCUS_SIGMA[1] + 0.2
    assert max(sigmas) > 1.8 and _defocus(0.0) == []
    labels = np.zeros((96, 96), np.int32)
    labels[32:64, 32:64] = 1
    image = np.where(labels[..., None] > 0, 220, 20).astype(np.uint8).repeat(3, axis=-1)
    assert build_augmenter(None, "none", defocus=1.0).transform.transforms == []  # level none: no extras
    _check_augmenter_option(image, labels, "defocus")


def _check_augmenter_option(image: np.ndarray, labels: np.ndarray, key: str) -> None:
    """An image-only option in the augmenter: it changes the image and not the labels, the same
    seed gives the same output, it is off by default and a probability outside [0, 1] is refused."""
    aug, off = build_augmenter(64, "default", seed=1, **{key: 1.0}), build_augmenter(64, "default", seed=1)
    changed = 0
    for seed in range(5, 9):  # a crop the level's colour jitter saturates can hide the option
        a, la = aug(image, labels, rng_seed=seed)
        b, lb = aug(image, labels, rng_seed=seed)
        c, lc = off(image, labels, rng_seed=seed)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(la, lc)
        changed += not np.array_equal(a, c)
    assert changed >= 2
    assert f"{key}=1.0" in repr(aug) and getattr(build_augmenter(64), key) == 0.0
    with pytest.raises(ValueError, match=key):
        build_augmenter(64, **{key: 1.5})
