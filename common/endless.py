"""Every epoch of an epoch-seeded training dataset as one endless stream of batches.

``Model.fit`` given a finite ``keras.utils.PyDataset`` starts a new input iterator
every epoch. Under TensorFlow that iterator is a ``tf.data`` pipeline with an
autotuned prefetch, and tearing the old one down blocks the training loop: measured
on a 2-core CPU as 30-40 s with no CPU use in one epoch of three or four (py-spy
native stack: ``RootDataset::Iterator::~Iterator`` under ``EagerTensor_dealloc`` in
Keras' fit loop), 10-19 % of a 420-s budget. An endless dataset (``num_batches``
None) with ``fit(steps_per_epoch=...)`` keeps one iterator, and one prefetch buffer,
for the whole ``fit`` under every backend.

The wrapped dataset draws batch ``index`` of epoch ``epoch`` with
``batch(epoch, index)``, a pure function of its seed, the epoch and the index. Batch
``k`` of the stream is batch ``k % steps`` of epoch ``start_epoch + k // steps``, so a
run resumed at epoch ``e`` (``start_epoch=e``) sees the batches it would have seen.
Nothing depends on ``on_epoch_end`` and read-ahead across an epoch's end is harmless.
"""

from __future__ import annotations

from typing import Any, Protocol

import keras


class EpochSeeded(Protocol):
    """A training dataset whose batches are a function of ``(epoch, index)``."""

    def __len__(self) -> int: ...

    def batch(self, epoch: int, index: int) -> Any: ...


class EndlessEpochs(keras.utils.PyDataset):
    """Epochs ``start_epoch, start_epoch + 1, ...`` of ``dataset``, end to end.

    Pass ``steps_per_epoch=stream.steps_per_epoch`` to ``fit``.

    Args:
        dataset: An :class:`EpochSeeded` ``keras.utils.PyDataset``; its ``workers``,
            ``use_multiprocessing`` and ``max_queue_size`` are kept.
        start_epoch: The epoch of the stream's first batch (``fit``'s ``initial_epoch``).

    Raises:
        TypeError: ``dataset`` has no ``batch(epoch, index)``.
        ValueError: ``dataset`` has no batches.
    """

    def __init__(self, dataset: EpochSeeded, start_epoch: int = 0) -> None:
        if not callable(getattr(dataset, "batch", None)):
            raise TypeError(f"{type(dataset).__name__} has no batch(epoch, index): it cannot be made endless")
        steps = len(dataset)
        if steps < 1:
            raise ValueError(f"{type(dataset).__name__} has no batches")
        super().__init__(workers=getattr(dataset, "workers", 1),
                         use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
                         max_queue_size=getattr(dataset, "max_queue_size", 10))
        self.dataset, self.start_epoch, self.steps_per_epoch = dataset, int(start_epoch), steps

    @property
    def num_batches(self) -> None:
        """None: the stream never ends (``fit`` counts ``steps_per_epoch``)."""
        return None

    def position(self, index: int) -> tuple[int, int]:
        """``(epoch, index within the epoch)`` of the stream's batch ``index``."""
        epoch, step = divmod(int(index), self.steps_per_epoch)
        return self.start_epoch + epoch, step

    def __getitem__(self, index: int) -> Any:
        return self.dataset.batch(*self.position(index))
