"""Second-level instance filter: gradient-boosted trees that score each predicted instance.

As the DSB2018 winners did: every instance of a model's out-of-fold predictions gets the
features of :mod:`common.instance_features` and the label "true" when it matches a
ground-truth nucleus with IoU > 0.5 (the metric's own matching, :func:`best_iou`);
scikit-learn's ``HistGradientBoostingClassifier`` learns ``p(true | features)``. Applied to
a prediction, instances with ``p < threshold`` are dropped (``mode="drop"``), and with
``mode="score"`` the kept instances' scores become ``p`` as well, so the ensemble's voting
ranks and resolves overlaps by it. The threshold is tuned on the training (out-of-fold)
instances for the DSB mean AP, computed exactly from the instance table
(:func:`dsb_scores`: at IoU > 0.5 matches are one-to-one, so dropping an instance never
changes another's match).

Train on out-of-fold predictions only: a model's predictions on its own training images
are far better than on new ones, and a filter fitted on them learns to keep everything.

A saved filter is two files: ``<path>.joblib`` (the classifier) and ``<path>.json`` (feature
names, threshold, mode, scikit-learn version, what it was trained on, its OOF scores).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.instance_features import FEATURES, instance_features
from common.io import atomic_write, write_json
from common.metrics import THRESHOLDS, overlap_pairs
from common.predictions import relabel_sequential

__all__ = ["best_iou", "dsb_scores", "tune_threshold", "fit_classifier", "InstanceFilter",
           "THRESHOLD_GRID", "FilterError"]

THRESHOLD_GRID: np.ndarray = np.round(np.arange(0.0, 0.951, 0.05), 2)
"""Candidate thresholds on ``p``; 0 keeps every instance (the unfiltered prediction)."""

FORMAT = "instance-filter"
VERSION = 1


class FilterError(ValueError):
    """A saved filter is missing, unreadable or does not fit the features (names the file)."""


def best_iou(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Each predicted instance's best IoU with a ground-truth nucleus.

    Args:
        true: int [H,W] ground-truth labels.
        pred: int [H,W] predicted labels.

    Returns:
        float64 [Np]: in ascending order of the predicted label ids (0 where nothing overlaps).
    """
    _, n_pred, _, pi, inter, union = overlap_pairs(true, pred)
    out = np.zeros(n_pred)
    if pi.size:
        np.maximum.at(out, pi, inter / union)
    return out


def dsb_scores(image_ids: np.ndarray, iou: np.ndarray, keep: np.ndarray,
               n_true: pd.Series) -> pd.Series:
    """Exact DSB image scores after dropping the instances where ``keep`` is False.

    Args:
        image_ids: [M] the image of each instance.
        iou: float [M] each instance's :func:`best_iou`.
        keep: bool [M].
        n_true: ground-truth nuclei per image, indexed by image id: defines the images scored
            (an image without instances scores 0, or 1 when it has no nuclei either).

    Returns:
        float64 per image (index as ``n_true``): mean over IoU thresholds 0.50..0.95 of
        ``TP / (TP + FP + FN)``, the same figure as ``common.metrics.image_ap``.
    """
    codes = pd.Index(n_true.index).get_indexer(np.asarray(image_ids))
    if (codes < 0).any():
        raise ValueError("instances of images that n_true does not list")
    n = len(n_true)
    keep = np.asarray(keep, bool)
    n_pred = np.bincount(codes[keep], minlength=n)
    nt = n_true.to_numpy(np.int64)
    precision = np.zeros((n, THRESHOLDS.size))
    for k, t in enumerate(THRESHOLDS):
        tp = np.bincount(codes[keep], weights=(np.asarray(iou)[keep] > t), minlength=n)
        denom = n_pred + nt - tp
        precision[:, k] = np.where(denom > 0, tp / np.maximum(denom, 1), 1.0)
    return pd.Series(precision.mean(axis=1), index=n_true.index, name="score")


def tune_threshold(image_ids: np.ndarray, iou: np.ndarray, p: np.ndarray, n_true: pd.Series,
                   grid: Sequence[float] = THRESHOLD_GRID) -> tuple[float, pd.Series]:
    """The threshold on ``p`` with the best mean DSB score (ties: the lowest).

    Returns:
        ``(threshold, curve)``: ``curve`` maps each grid threshold to its mean DSB score.
    """
    curve = pd.Series({float(t): float(dsb_scores(image_ids, iou, p >= t, n_true).mean())
                       for t in grid}, name="dsb")
    return float(curve.idxmax()), curve


def fit_classifier(x: pd.DataFrame, y: np.ndarray, seed: int = 0):
    """A ``HistGradientBoostingClassifier`` fitted on instance features (NaN allowed).

    200 trees of at most 15 leaves, learning rate 0.05; a leaf holds at least 40 instances
    (fewer, down to 5, when there are under 800: tiny synthetic tables).

    Args:
        x: [M, F] features.
        y: bool [M] labels (matched a nucleus).
        seed: Random state.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = np.asarray(y, bool)
    x = x.to_numpy(np.float64, copy=True)
    x[:, np.isnan(x).all(axis=0)] = 0.0  # scikit-learn's binning fails on an all-NaN column
    if y.all() or not y.any():
        raise ValueError(f"the training instances are all {'true' if y.all() else 'false'}: "
                         "the filter needs both kinds")
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                         min_samples_leaf=int(min(40, max(5, y.size // 20))), l2_regularization=1.0,
                                         early_stopping=False, random_state=seed)
    with _one_thread():
        return clf.fit(x, y)


def _one_thread():
    """OpenMP limited to one thread: on a busy shared CPU, scikit-learn's OpenMP threads spin
    against each other and a small fit takes minutes instead of a second."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


@dataclass
class InstanceFilter:
    """A fitted filter.

    Attributes:
        model: The fitted classifier (``predict_proba``).
        features: Feature names, in the classifier's column order.
        threshold: Instances with ``p`` below it are dropped.
        mode: ``"drop"`` (only drop) or ``"score"`` (drop, and the kept instances' scores
            become ``p``).
        meta: What it was trained on and how it scored (saved in the JSON).
    """

    model: object
    features: list[str]
    threshold: float = 0.5
    mode: str = "drop"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown:
            raise FilterError(f"unknown instance features {unknown}; known: {list(FEATURES)}")
        if self.mode not in ("drop", "score"):
            raise FilterError(f"filter mode must be 'drop' or 'score', got {self.mode!r}")

    @classmethod
    def fit(cls, table: pd.DataFrame, n_true: pd.Series, features: Sequence[str] = FEATURES,
            mode: str = "drop", seed: int = 0, meta: dict | None = None) -> "InstanceFilter":
        """Fit on an instance table and tune the threshold on the same instances.

        Args:
            table: One row per out-of-fold instance with ``image_id``, ``iou`` and ``features``.
            n_true: Ground-truth nuclei per image (every image the table comes from).
            features: The columns to learn from.
            mode: See the class.
            seed: Classifier random state.
            meta: Extra description saved with the filter (data, command...).
        """
        features = list(features)
        model = fit_classifier(table[features], table["iou"].to_numpy() > 0.5, seed)
        with _one_thread():
            p = model.predict_proba(table[features].to_numpy(np.float64))[:, 1]
        threshold, curve = tune_threshold(table["image_id"].to_numpy(), table["iou"].to_numpy(),
                                          p, n_true)
        info = {"n_instances": int(len(table)), "n_images": int(len(n_true)),
                "positive_rate": round(float((table["iou"] > 0.5).mean()), 4),
                "train_dsb_unfiltered": round(float(curve.iloc[0]), 4),
                "train_dsb_filtered": round(float(curve.max()), 4),
                "threshold_curve": {f"{k:.2f}": round(v, 4) for k, v in curve.items()}}
        return cls(model, features, threshold, mode, {**(meta or {}), "training": info})

    def proba(self, feats: pd.DataFrame) -> np.ndarray:
        """float64 [N] ``p(true)`` for rows of :func:`common.instance_features.instance_features`."""
        if len(feats) == 0:
            return np.zeros(0)
        with _one_thread():
            return self.model.predict_proba(feats[self.features].to_numpy(np.float64))[:, 1]

    def apply(self, labels: np.ndarray, scores: np.ndarray, prob: np.ndarray | None = None,
              image: np.ndarray | None = None, channels: Sequence[str] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Filter one prediction.

        Args:
            labels: int [H,W] instances 1..N.
            scores: float [N].
            prob: float [H,W,C] the prediction's maps, or None (those features are NaN).
            image: uint8 [H,W,3] the input image, or None.
            channels: The names of ``prob``'s maps (``Prediction.channels``); None: the
                default order (``common.instance_features``).

        Returns:
            ``(labels int32 [H,W] 1..K, scores float32 [K])`` of the kept instances.
        """
        feats = instance_features(labels, prob, image, scores, channels=channels)
        if len(feats) == 0:
            return np.asarray(labels, np.int32), np.asarray(scores, np.float32).reshape(-1)
        p = self.proba(feats)
        ids = feats.index.to_numpy()
        lut = np.zeros(int(np.max(labels)) + 1, np.int64)
        lut[ids] = np.where(p >= self.threshold, ids, 0)
        new_scores = np.asarray(scores, np.float32).reshape(-1).copy()
        if self.mode == "score":
            new_scores[ids - 1] = p
        return relabel_sequential(lut[np.asarray(labels)], new_scores)

    def describe(self) -> dict:
        """The JSON side of the saved filter."""
        import sklearn

        return {"format": FORMAT, "version": VERSION, "features": self.features,
                "threshold": self.threshold, "mode": self.mode,
                "sklearn_version": sklearn.__version__,
                "label": "instance matches a ground-truth nucleus with IoU > 0.5",
                **self.meta}

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.joblib`` and ``<path>.json`` atomically; returns both paths."""
        import joblib

        base = Path(path)
        model_path, json_path = base.with_suffix(".joblib"), base.with_suffix(".json")
        atomic_write(model_path, lambda tmp: joblib.dump(self.model, tmp), suffix=".joblib")
        write_json(json_path, self.describe())
        return model_path, json_path

    @classmethod
    def load(cls, path: str | Path, threshold: float | None = None,
             mode: str | None = None) -> "InstanceFilter":
        """Read a saved filter (``<path>``, ``<path>.json`` or ``<path>.joblib``).

        Raises:
            FilterError: a file is missing or unreadable, or not a filter (names the file).
        """
        import joblib
        import sklearn

        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".json", ".joblib") else base
        json_path, model_path = base.with_suffix(".json"), base.with_suffix(".joblib")
        for f in (json_path, model_path):
            if not f.is_file():
                raise FilterError(f"{f}: instance filter file not found")
        try:
            desc = json.loads(json_path.read_text())
        except (OSError, ValueError) as exc:
            raise FilterError(f"{json_path}: unreadable ({exc})") from None
        if not isinstance(desc, dict) or desc.get("format") != FORMAT:
            raise FilterError(f"{json_path}: not an instance filter description")
        if desc.get("sklearn_version") != sklearn.__version__:
            warnings.warn(f"{model_path}: saved with scikit-learn {desc.get('sklearn_version')}, "
                          f"loaded with {sklearn.__version__}", stacklevel=2)
        try:
            model = joblib.load(model_path)
        except Exception as exc:  # unpickling raises many kinds
            raise FilterError(f"{model_path}: unreadable ({type(exc).__name__}: {exc})") from None
        meta = {k: v for k, v in desc.items() if k not in
                ("format", "version", "features", "threshold", "mode", "sklearn_version", "label")}
        return cls(model, list(desc["features"]),
                   float(desc["threshold"] if threshold is None else threshold),
                   mode or desc.get("mode", "drop"), meta)
