"""The pipeline's progress lines (pipeline/progress.py): one per task event and per stage."""

from __future__ import annotations

from pipeline.progress import TaskProgress, fmt_duration, stage_line


def test_fmt_duration():
    assert [fmt_duration(s) for s in (0, 42.4, 60, 185, 3725)] == \
        ["0 s", "42 s", "1 min 00 s", "3 min 05 s", "1 h 02 min"]


def test_task_end_lines_get_the_count_and_an_estimate():
    now = [100.0]
    lines: list[str] = []
    progress = TaskProgress("train", 3, lines.append, clock=lambda: now[0])
    progress.echo("  -> train unet-fold0 (log: x.log)")  # a start line passes unchanged
    now[0] = 140.0
    progress.echo("  ok train unet-fold0 in 40 s")
    now[0] = 180.0
    progress.echo("  FAILED train unet-fold1 in 40 s (exit 1); last lines of y.log:\nTraceback\nboom")
    now[0] = 200.0
    progress.echo("  ok train unet-fold2 in 60 s")
    assert lines[0] == "  -> train unet-fold0 (log: x.log)"
    assert lines[1] == "  ok train unet-fold0 in 40 s [train 1/3 done, 40 s in this stage, about 1 min 20 s left]"
    first, *rest = lines[2].splitlines()
    assert first.endswith("(exit 1); last lines of y.log: [train 2/3 done, 1 min 20 s in this stage, "
                          "about 40 s left]") and rest == ["Traceback", "boom"]
    assert lines[3].endswith("[train 3/3 done, 1 min 40 s in this stage]")  # nothing left: no estimate
    assert len(lines) == 4  # no line of its own


def test_stage_line():
    assert stage_line("train", 190, 302, ["predict", "report"]) == \
        "   train took 3 min 10 s (5 min 02 s since the start; next: predict, report)"
    assert stage_line("report", 3, 400, []).endswith("(6 min 40 s since the start; that was the last stage)")
