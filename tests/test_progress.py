"""The pipeline's progress lines (pipeline/progress.py): one per task event and per stage."""

from __future__ import annotations

from pipeline.progress import TaskProgress, fmt_duration, stage_line


def test_fmt_duration():
    assert [fmt_duration(s) for s in (0, 42.4, 60, 185, 3725)] == \
        ["0 s", "42 s", "1 min 00 s", "3 min 05 s", "1 h 02 min"]


def test_task_end_lines_get_the_count_and_an_estimate():
    now = [100.0]
    lines: list[str] = []
    progress = TaskProgress("train", 4, lines.append, workers=2, clock=lambda: now[0])
    progress.echo("  -> train unet-fold0 (log: a.log)")  # start lines pass unchanged
    progress.echo("  -> train unet-fold1 on GPU 1 (log: b.log)")
    now[0] = 140.0
    progress.echo("  ok train unet-fold0 in 40 s")
    progress.echo("  -> train unet-baseline-fold0 (log: c.log)")
    now[0] = 150.0
    progress.echo("  FAILED train unet-fold1 in 50 s (exit 1); last lines of b.log:\nTraceback\nboom")
    now[0] = 200.0
    progress.echo("  ok train unet-baseline-fold0 in 60 s")
    progress.echo("  -> train unet-baseline-fold1 (log: d.log)")
    now[0] = 260.0
    progress.echo("  ok train unet-baseline-fold1 in 60 s")
    assert lines[:2] == ["  -> train unet-fold0 (log: a.log)", "  -> train unet-fold1 on GPU 1 (log: b.log)"]
    # mean 40 s: 2 tasks not started (80 s) + fold1 running for 40 s (0 s more), on 2 workers
    assert lines[2] == "  ok train unet-fold0 in 40 s [train 1/4 done, 40 s in this stage, about 40 s left]"
    first, *rest = lines[4].splitlines()
    # mean 45 s: 1 not started (45 s) + baseline-fold0 running for 10 s (35 s more), on 2 workers
    assert first.endswith("(exit 1); last lines of b.log: [train 2/4 done, 50 s in this stage, "
                          "about 40 s left]") and rest == ["Traceback", "boom"]
    assert lines[5].endswith("[train 3/4 done, 1 min 40 s in this stage, about 50 s left]")  # one task left
    assert lines[7].endswith("[train 4/4 done, 2 min 40 s in this stage]")  # nothing left: no estimate
    assert len(lines) == 8  # no line of its own


def test_stage_line():
    assert stage_line("train", 190, 302, ["predict", "report"]) == \
        "   train took 3 min 10 s (5 min 02 s since the start; next: predict, report)"
    assert stage_line("report", 3, 400, []).endswith("(6 min 40 s since the start; that was the last stage)")
