"""Kind-balanced sampling of training images (``data.balance``).

stage1_train is half one kind of image (334 of 664 are 256x256 fluorescence) and has
only 16 brightfield images; a sampler that draws images uniformly shows the network a
brightfield crop once in 40 draws. Issue 14's unseen images are exactly such rare kinds.

An image's *kind* is its type (``common.folds.image_type``) and size, ``<type>-<H>x<W>``:
each DSB source experiment has its own camera and so its own size (the group folds use
the same kinds, before they cut the large ones into sub-kinds). With ``power`` ``p``,
an image of a kind of ``n`` training images is drawn with probability proportional to
``n ** -p``: ``p = 0`` is uniform, ``p = 1`` draws every kind equally often, ``p = 0.5``
gives each kind a share proportional to the square root of its size.

Example::

    kinds = source_kinds(dataset, fit_ids)
    p = balanced_weights(kinds, 0.5)        # float64 [N], sums to 1
    picks = rng.choice(len(p), size=8, p=p)

Keras-free (numpy and OpenCV through ``common.folds``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["balanced_weights", "check_weights", "kind_shares", "sampling_weights", "source_kind", "source_kinds"]


def source_kind(image: np.ndarray) -> str:
    """``<type>-<H>x<W>`` of an image as read (before any normalisation: the type needs its colours)."""
    from common.folds import image_type, kind_name

    return kind_name(image_type(image), image.shape[0], image.shape[1])


def source_kinds(dataset, ids: Sequence[str], threads: int = 0) -> list[str]:
    """:func:`source_kind` of each of ``ids`` (``dataset.load_image``), in order, read in threads."""
    from concurrent.futures import ThreadPoolExecutor

    from common.machine import worker_threads

    with ThreadPoolExecutor(threads or worker_threads(8)) as pool:
        return list(pool.map(lambda i: source_kind(dataset.load_image(i)), ids))


def balanced_weights(kinds: Sequence[str], power: float) -> np.ndarray:
    """Sampling probability of each image: proportional to ``count(kind) ** -power``.

    Args:
        kinds: One kind name per image.
        power: 0 (uniform) .. 1 (every kind equally often).

    Returns:
        float64 [N] probabilities summing to 1.

    Raises:
        ValueError: ``kinds`` is empty or ``power`` is outside [0, 1].
    """
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"balance power must be in [0, 1], got {power}")
    if len(kinds) == 0:
        raise ValueError("balanced_weights needs at least one image")
    _, inverse, counts = np.unique(np.asarray(kinds, dtype=object).astype(str), return_inverse=True,
                                   return_counts=True)
    w = counts[inverse].astype(np.float64) ** -power
    return w / w.sum()


def kind_shares(kinds: Sequence[str], weights: np.ndarray) -> dict[str, float]:
    """Expected share of the draws per kind (for the training log), largest first."""
    names = np.asarray(kinds, dtype=object).astype(str)
    shares = {k: float(weights[names == k].sum()) for k in np.unique(names)}
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def check_weights(weights: Sequence[float] | np.ndarray | None, n: int) -> np.ndarray | None:
    """A sampler's ``weights`` argument: ``n`` probabilities as float64 summing to 1, or None (uniform).

    Raises:
        ValueError: not ``n`` finite non-negative numbers with a positive sum.
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum, got shape {w.shape}")
    return w / w.sum()


def sampling_weights(dataset, ids: Sequence[str], power: float, tag: str) -> np.ndarray | None:
    """A solution's ``data.balance``: the sampling probabilities of its training ``ids``.

    Reads each image's kind (:func:`source_kinds`) and prints one line, prefixed with
    ``tag`` (e.g. ``"[unet]"``), naming the kinds with the largest expected shares.

    Returns:
        float64 [N] probabilities, or None when ``power`` is 0 (uniform draws).
    """
    if power <= 0:
        return None
    kinds = source_kinds(dataset, ids)
    weights = balanced_weights(kinds, power)
    shares = kind_shares(kinds, weights)
    top = ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:6])
    print(f"{tag} data.balance={power:g}: {len(shares)} kinds; expected share of draws: {top}"
          + (", ..." if len(shares) > 6 else ""), flush=True)
    return weights
