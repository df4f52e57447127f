"""The scale selection's headroom at native size: ../../scale_select_cpu_20261205/explore.py (per
image and candidate scale, the DSB score of predicting the image shrunk by that scale, no TTA, mapped
back, and what a selector could read from that pass), with one feature more: ``cover``, the fraction
of pixels whose body is over 0.5 (``common.scale.map_certainty``'s second value).

Usage: scales.py RUN IDS OUT.json --factors 1 --scales 1 0.67 0.5 0.33 (explore.py's arguments)
"""
import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "explore", Path(__file__).resolve().parents[2] / "scale_select_cpu_20261205" / "explore.py")
explore = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(explore)
_features = explore.features


def features(prob: np.ndarray, labels: np.ndarray) -> dict:
    return {**_features(prob, labels), "cover": float((prob[..., 0] > 0.5).mean())}


explore.features = features
if __name__ == "__main__":
    raise SystemExit(explore.main())
