"""common.allocator: glibc keeps freed memory again after TensorFlow's malloc patch."""

import sys

import keras
import numpy as np
import pytest

from common import allocator

pytestmark = pytest.mark.backend


@pytest.mark.parametrize("value, on", [(None, True), ("1", True), ("0", False), ("off", False), (" False ", False)])
def test_the_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("DSB_KEEP_FREED_MEMORY", raising=False)
    else:
        monkeypatch.setenv("DSB_KEEP_FREED_MEMORY", value)
    assert allocator.enabled() is on


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_accepts_the_settings():
    assert allocator.keep_freed_memory() is True


def test_not_linux_changes_nothing(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def _fit(callback) -> None:
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    model.compile("sgd", "mse")
    x = np.zeros((8, 2), np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, callbacks=[callback])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_callback_applies_after_the_first_batch_under_tensorflow_only(monkeypatch):
    monkeypatch.delenv("DSB_KEEP_FREED_MEMORY", raising=False)
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    callback = allocator.KeepFreedMemory()
    _fit(callback)
    tf = keras.backend.backend() == "tensorflow"
    assert calls == ([1] if tf else []) and callback.applied is (True if tf else None)


def test_callback_respects_the_switch(monkeypatch):
    monkeypatch.setenv("DSB_KEEP_FREED_MEMORY", "0")
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: pytest.fail("must not be called"))
    callback = allocator.KeepFreedMemory()
    _fit(callback)
    assert callback.applied is None


def test_the_standard_callbacks_include_it(tmp_path):
    from common.runs import RunDir
    from common.training import training_callbacks

    callbacks = training_callbacks(RunDir(tmp_path / "run"), "loss", tensorboard=False)
    assert sum(isinstance(c, allocator.KeepFreedMemory) for c in callbacks) == 1
