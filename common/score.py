"""Score a Kaggle submission against a solution CSV.

Usage::

    python -m common.score SUBMISSION.csv SOLUTION.csv

Prints a per-threshold table (summed TP/FP/FN and the mean image precision) and,
as the last line, ``score X`` with X to 6 decimals. Images marked ``Ignored`` in
the solution are not scored and predictions for them are dropped. A submission
that fails validation (unknown ids, malformed or overlapping runs, runs outside
the image) is rejected with the list of problems, like Kaggle would. Missing
images count as empty predictions (score 0 when they have nuclei).

Exit status: 0 on success, 2 on a malformed/invalid file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.metrics import ScoreReport, score_dataset
from common.submission import (
    SubmissionError,
    ignored_ids,
    read_solution,
    read_solution_table,
    read_submission,
    solution_shapes,
    submission_to_labels,
    validate_submission,
)


def score_files(submission: str | Path, solution: str | Path) -> ScoreReport:
    """Score a submission CSV against a solution CSV.

    Args:
        submission: ``ImageId,EncodedPixels`` CSV.
        solution: ``ImageId,EncodedPixels,Height,Width[,Usage]`` CSV.

    Returns:
        The :class:`~common.metrics.ScoreReport` over the solution's scored images.

    Raises:
        SubmissionError: if either file is malformed or the submission is invalid
            (the message names the file and lists the problems).
    """
    table = read_solution_table(solution)
    ignored = ignored_ids(table)
    shapes = solution_shapes(table)  # includes ignored images: their runs are checked too
    read_submission(submission)  # a missing/unreadable file fails here, naming it
    problems = validate_submission(submission, expected_ids=None, shapes=shapes)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise SubmissionError(f"{submission}: {len(problems)} problem(s):\n  " + "\n  ".join(shown))
    true = read_solution(solution)
    sub = read_submission(submission)
    missing = sorted(set(true) - set(sub["ImageId"]))
    if missing:
        print(f"[score] {len(missing)} scored image(s) have no row in {submission} and count as "
              f"empty predictions: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}",
              file=sys.stderr)
    sub = sub[~sub["ImageId"].isin(ignored)]
    pred = submission_to_labels(sub, shapes)
    return score_dataset(true, pred)


def format_report(report: ScoreReport) -> str:
    """Per-threshold table plus the final ``score X`` line."""
    table = report.counts.copy()
    table["precision"] = report.per_threshold
    table.index = [f"{t:.2f}" for t in table.index]
    table.index.name = "threshold"
    n = len(report.per_image)
    lines = [
        f"images scored: {n}, true nuclei: {int(report.per_image['n_true'].sum())}, "
        f"predicted: {int(report.per_image['n_pred'].sum())}",
        table.to_string(float_format=lambda x: f"{x:.4f}"),
        f"score {report.score:.6f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.score", description=__doc__.split("\n")[0])
    parser.add_argument("submission", type=Path, help="submission CSV (ImageId,EncodedPixels)")
    parser.add_argument("solution", type=Path, help="solution CSV (ImageId,EncodedPixels,Height,Width[,Usage])")
    args = parser.parse_args(argv)
    try:
        report = score_files(args.submission, args.solution)
    except SubmissionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
