"""U-Net data and inference details: edge nuclei under padding, thread-safe augmentation,
shape bucketing for whole-image prediction, Keras-free default params."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _discs(h=40, w=40):
    yy, xx = np.mgrid[:h, :w]
    labels = np.zeros((h, w), np.int32)
    labels[(yy - 20) ** 2 + (xx - 1) ** 2 <= 36] = 1     # touches the left edge
    labels[(yy - 1) ** 2 + (xx - 25) ** 2 <= 25] = 2     # touches the top edge
    labels[(yy - 20) ** 2 + (xx - 22) ** 2 <= 16] = 3    # inside
    image = np.where(labels[..., None] > 0, 200, 20).astype(np.uint8).repeat(3, axis=-1)
    return image, labels


def test_padding_keeps_mirrored_edge_nuclei_apart():
    from skimage.measure import label as cc_label

    from solutions.unet.data import pad_to
    from solutions.unet.targets import border_map

    image, labels = _discs()
    pimage, plabels = pad_to(image, labels, 128)  # pads 44 each side: several reflected copies
    assert pimage.shape == (128, 128, 3) and plabels.shape == (128, 128)
    np.testing.assert_array_equal(plabels > 0, np.pad(labels, 44, mode="reflect") > 0)
    np.testing.assert_array_equal(plabels[44:84, 44:84], labels)  # the original keeps its ids
    # each id is one blob: a mirrored copy never shares the id of the nucleus it mirrors
    n_copies = [np.unique(cc_label(plabels == i, connectivity=1)).size - 1 for i in np.unique(plabels)[1:]]
    assert max(n_copies) == 1, "a label id covers two separate blobs"
    # the left-edge nucleus and its mirror image touch: a border now runs between them
    border = border_map(plabels, 1)
    assert border[44 + 20, 43] == 1 and border[44 + 20, 44] == 1


def _crop_dataset(workers: int):
    from common.augment import build_augmenter
    from solutions.unet.data import CropDataset

    rng = np.random.default_rng(0)
    images, labels = [], []
    for _ in range(4):
        image, lab = _discs(48 + int(rng.integers(0, 20)), 48)
        images.append(np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8))
        labels.append(lab)
    return CropDataset(images, labels, crop_size=32, batch_size=4, steps=8,
                       augmenter=build_augmenter(32, "strong", seed=1), seed=3, training=True,
                       workers=workers, use_multiprocessing=False)


def test_batches_are_pure_functions_of_seed_epoch_index_with_two_workers():
    sequential = _crop_dataset(1)
    expected = [sequential[i] for i in range(len(sequential))]
    threaded = _crop_dataset(2)
    with ThreadPoolExecutor(2) as pool:  # what PyDataset's workers do, many times over
        for _ in range(3):
            got = list(pool.map(threaded.__getitem__, range(len(threaded))))
            for (xe, ye), (xg, yg) in zip(expected, got):
                np.testing.assert_array_equal(xg, xe)
                np.testing.assert_array_equal(yg, ye)
    # and through Keras' own multi-worker iterator
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(_crop_dataset(2), shuffle=False)
    adapter.on_epoch_begin()
    got = list(adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    assert len(got) == len(expected)
    for (xe, ye), (xg, yg) in zip(expected, got):
        np.testing.assert_array_equal(xg, xe)
        np.testing.assert_array_equal(yg, ye)


def _counting_model(shapes):
    import keras

    class Probe(keras.layers.Layer):
        def call(self, x):
            return keras.ops.sigmoid(x[..., :1] / 255.0 - 0.5)

        def compute_output_shape(self, input_shape):
            return input_shape[:-1] + (1,)

    probe = Probe()

    def model(batch, training=False):
        shapes.add(tuple(batch.shape[1:3]))
        return probe(batch)

    return model


def test_pad_multiple_buckets_whole_image_shapes():
    from common.config import ConfigError, from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    images = [np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
              for i, (h, w) in enumerate([(75, 150), (256, 256), (200, 130), (260, 347), (520, 696)])]
    default = from_dict(UNetConfig, {"predict": {"tile_size": 256}})
    bucketed = from_dict(UNetConfig, {"predict": {"tile_size": 256, "pad_multiple": 256}})
    shapes_default, shapes_bucketed = set(), set()
    for image in images:
        a = predict_image(_counting_model(shapes_default), image, default, "flip")
        b = predict_image(_counting_model(shapes_bucketed), image, bucketed, "flip")
        assert a.shape == b.shape == image.shape[:2] + (1,)
        np.testing.assert_allclose(a, b, atol=1e-6)  # pointwise model: padding changes nothing
    assert shapes_bucketed == {(256, 256)}
    assert len(shapes_default) > 1
    try:
        from_dict(UNetConfig, {"predict": {"pad_multiple": 100}})
    except ConfigError as exc:
        assert "pad_multiple" in str(exc)
    else:
        raise AssertionError("pad_multiple not a multiple of the stride was accepted")


def test_default_params_import_without_keras():
    code = ("import sys\nfrom common.config import load_config\n"
            "from solutions.unet.config import UNetConfig, default_params\n"
            "p = default_params(load_config(UNetConfig, 'solutions/unet/configs/watershed.yaml'))\n"
            "assert p['method'] == 'watershed' and p['channels'] == ['body', 'border', 'centre'], p\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    from solutions.unet import predict

    assert predict.default_params is __import__("solutions.unet.config", fromlist=["x"]).default_params
