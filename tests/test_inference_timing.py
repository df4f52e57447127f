"""The stage stopwatch (common/timing.py) through the U-Net's predict path."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytestmark = pytest.mark.backend  # predict_image runs Keras code


def test_stopwatch_adds_per_stage_across_threads():
    from common.timing import Stopwatch, stage

    timer = Stopwatch()
    with stage(None, "forward"):  # no timer: nothing to record, nothing raised
        pass

    def work():
        for _ in range(100):
            timer.add("write", 0.01)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pytest.raises(RuntimeError):
        with stage(timer, "forward"):
            raise RuntimeError("boom")  # a failing stage is still timed
    assert timer.counts() == {"write": 400, "forward": 1}
    assert timer.seconds()["write"] == pytest.approx(4.0)
    assert timer.seconds()["forward"] >= 0
    timer.reset()
    assert timer.seconds() == {}


def _model(channels=3):
    import keras

    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(keras.layers.Rescaling(1 / 255)(x))
    y = keras.layers.UpSampling2D()(keras.layers.MaxPooling2D()(y))
    return keras.Model(x, keras.layers.Conv2D(channels, 1, activation="sigmoid")(y))


def test_predict_image_reports_its_stages_and_the_answer_is_unchanged():
    from common.config import from_dict
    from common.timing import Stopwatch
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    model = _model()
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    cfg = from_dict(UNetConfig, {"predict": {"tile_size": 64, "tile_overlap": 16, "batch_size": 4}})
    timer = Stopwatch()
    with_timer = predict_image(model, image, cfg, "flip", timer=timer)
    np.testing.assert_array_equal(with_timer, predict_image(model, image, cfg, "flip"))
    assert {"normalise", "tta_views", "forward", "tta_merge"} <= set(timer.seconds())
    # 4 views x 4 tiles of 64 in a 70x90 view (padded to 80x96), 4 tiles per pass
    assert timer.counts()["forward"] == 4
