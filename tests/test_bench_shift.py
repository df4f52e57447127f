"""bench/bench_shift.py: its views change an image as named and keep it uint8 RGB of the same
shape, and its tables pair views and networks image by image."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import bench_shift  # noqa: E402


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    out = np.full((64, 80, 3), 20, np.uint8)
    out[20:40, 30:50] = 200
    return np.clip(out + rng.integers(0, 5, out.shape[:2])[..., None], 0, 255).astype(np.uint8)  # gray


def test_every_view_keeps_the_shape_and_dtype(image):
    for name in bench_shift.VIEWS:
        out = bench_shift.view(name)(image)
        assert out.shape == image.shape and out.dtype == np.uint8, name
    assert bench_shift.view("as-is")(image) is image
    with pytest.raises(SystemExit, match="unknown view 'blurry'"):
        bench_shift.view("blurry")


def test_views_change_the_image_as_named(image):
    v = bench_shift.view
    assert v("gamma-0.5")(image)[0, 0, 0] > image[0, 0, 0] > v("gamma-2")(image)[0, 0, 0]  # dim lifted / sunk
    sat = v("saturate-3")(image)
    assert sat[30, 40, 0] == 255 and sat[0, 0, 0] == min(255, 3 * int(image[0, 0, 0]))
    edge = lambda x: int(((x[..., 0] > 60) & (x[..., 0] < 160)).sum())  # noqa: E731
    assert edge(image) < edge(v("blur-1.5")(image)) < edge(v("blur-3")(image))
    noisy = v("noise-6")(image).astype(float) - image
    assert 4 < noisy[..., 0].std() < 8 and np.array_equal(noisy[..., 0], noisy[..., 2])  # gray noise
    assert 0 < np.abs(v("jpeg-25")(image).astype(int) - image).mean() < 10
    ramp = v("ramp-40")(image).astype(int) - image
    assert ramp[:, 0].max() == 0 and ramp[:, -1].min() >= 39
    corner = v("vignette-0.5")(image)
    assert corner[0, 0, 0] < image[0, 0, 0] and corner[32, 40, 0] == image[32, 40, 0]


def _probe_file(path: Path, scores: dict) -> Path:
    rows = [{"image_id": i, "type": t, "arm": "a", "view": view, "score": s, "n_pred": 1, "n_true": 1, "scale": 1.0}
            for (i, t, view), s in scores.items()]
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_tables_pair_views_and_networks(tmp_path):
    (tmp_path / "old").mkdir()
    old = _probe_file(tmp_path / "old" / "g3.json",
                      {("x", "fluorescence", "as-is"): 0.8, ("x", "fluorescence", "blur-1.5"): 0.4,
                       ("y", "brightfield", "as-is"): 0.2, ("y", "brightfield", "blur-1.5"): 0.1})
    new = _probe_file(tmp_path / "g3.json",
                      {("x", "fluorescence", "as-is"): 0.8, ("x", "fluorescence", "blur-1.5"): 0.7,
                       ("y", "brightfield", "as-is"): 0.1, ("y", "brightfield", "blur-1.5"): 0.2})
    views = bench_shift.table([old], "as-is")
    assert "| all | 2 | 0.500 | 0.250 (-0.250 ± 0.150) |" in views
    pairs = bench_shift.compare([new], [old])
    assert "| blur-1.5 | all | 2 | 0.250 | 0.450 | +0.200 ± 0.100 (2+/0−) |" in pairs
    assert "| as-is | brightfield | 1 | 0.200 | 0.100 |" in pairs
    with pytest.raises(SystemExit, match="one file per"):
        bench_shift.compare([new, new], [old])
    # two folds whose files share a name pair by their place, not their name
    (tmp_path / "old2").mkdir()
    old2 = _probe_file(tmp_path / "old2" / "g3.json", {("z", "fluorescence", "as-is"): 0.5})
    new2 = _probe_file(tmp_path / "new2.json", {("z", "fluorescence", "as-is"): 0.7})
    assert "| as-is | all | 3 | 0.500 | 0.533 | +0.033 ± 0.088 (1+/1−) |" in bench_shift.compare([new, new2], [old, old2])
    two_arms = tmp_path / "arms.json"
    rows = json.loads(old.read_text())["rows"]
    two_arms.write_text(json.dumps({"rows": rows + [dict(r, arm="b") for r in rows]}))
    with pytest.raises(SystemExit, match="several arms"):
        bench_shift.compare([two_arms], [old])
