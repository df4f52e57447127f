"""common.endless: every epoch of an epoch-seeded dataset as one stream, one iterator per fit."""

import keras
import numpy as np
import pytest

from common.endless import EndlessEpochs
from common.training import EvenBatches

pytestmark = pytest.mark.backend


class Recording(keras.utils.PyDataset):
    """Batch (epoch, index) holds its own position, and every call is recorded."""

    def __init__(self, steps: int = 4, rows: int = 2):
        super().__init__()
        self.steps, self.rows, self.calls = steps, rows, []

    def __len__(self) -> int:
        return self.steps

    def batch(self, epoch: int, index: int):
        self.calls.append((epoch, index))
        x = np.full((self.rows, 2), [epoch, index], dtype=np.float32)
        return x, np.zeros((self.rows, 1), np.float32)


def test_stream_walks_the_epochs_in_order_from_the_start_epoch():
    ds = Recording(steps=3)
    stream = EndlessEpochs(ds, start_epoch=2)
    assert stream.num_batches is None and stream.steps_per_epoch == 3
    assert [stream.position(k) for k in range(7)] == [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (4, 0)]
    x, _ = stream[4]
    assert x[0].tolist() == [3.0, 1.0]


def test_refuses_datasets_it_cannot_make_endless():
    class NoBatch(keras.utils.PyDataset):
        def __len__(self):
            return 2

    with pytest.raises(TypeError, match="NoBatch has no batch"):
        EndlessEpochs(NoBatch())
    with pytest.raises(ValueError, match="no batches"):
        EndlessEpochs(Recording(steps=0))


def test_keeps_the_wrapped_datasets_workers():
    ds = Recording()
    ds.workers, ds.max_queue_size = 3, 5
    stream = EndlessEpochs(ds)
    assert (stream.workers, stream.max_queue_size, stream.use_multiprocessing) == (3, 5, False)


def test_even_batches_of_a_stream_is_endless_too():
    wrapped = EvenBatches(EndlessEpochs(Recording(steps=2, rows=3)), replicas=2)
    assert wrapped.num_batches is None
    x, _ = wrapped[3]
    assert x.shape == (4, 2) and x[0].tolist() == [1.0, 1.0]


def _fit(ds: Recording, initial_epoch: int, epochs: int) -> list[tuple[int, int]]:
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    model.compile("sgd", "mse")
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    stream = EndlessEpochs(ds, start_epoch=initial_epoch)
    model.fit(stream, steps_per_epoch=stream.steps_per_epoch, shuffle=False, initial_epoch=initial_epoch,
              epochs=epochs, callbacks=[Watch()], verbose=0)
    return seen


def test_fit_trains_every_epoch_of_the_stream_and_a_resume_continues_it():
    ds = Recording(steps=4)
    steps = _fit(ds, 0, 3)
    assert steps == [0, 1, 2, 3] * 3
    # every batch of epochs 0..2 was drawn, in order (read-ahead may draw a few of epoch 3)
    drawn = [c for c in ds.calls if c[0] < 3]
    assert drawn[-12:] == [(e, i) for e in range(3) for i in range(4)]

    resumed = Recording(steps=4)
    _fit(resumed, 1, 3)
    assert [c for c in resumed.calls if c[0] < 3][-8:] == [(e, i) for e in (1, 2) for i in range(4)]
    assert min(c[0] for c in resumed.calls) == 1  # nothing of epoch 0
