"""bench/cluster_estimate.py: the schedule arithmetic and its measured inputs."""

from __future__ import annotations

import importlib.util

from common.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("cluster_estimate", REPO_ROOT / "bench" / "cluster_estimate.py")
est = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(est)


def test_tasks_go_in_order_to_the_first_free_gpu():
    assert est.makespan([3, 3, 3, 3, 2], 1) == 14
    assert est.makespan([3, 3, 3, 3, 2], 2) == 8   # 3+3+2 on one, 3+3 on the other
    assert est.makespan([5, 1, 1, 1], 16) == 5     # more GPUs than tasks: the longest task


def test_inputs_come_from_the_h200_results():
    tasks = est.measured_tasks()
    lo, hi = tasks["unet-baseline"]["train"]
    assert 0 < lo <= hi and tasks["unet"]["train"] == (48_000 / 108, 48_000 / 98)
    assert est.study_wall(tasks, 1, "stage1_test", 1) > est.study_wall(tasks, 4, "stage1_test", 1)
