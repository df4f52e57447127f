"""``python -m segment IMAGES... --model RUN --out DIR`` or ``python -m segment export --run RUN --out FILE``."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    """Dispatch to ``export`` or the segmentation command; bad input is one line, exit 2."""
    from common.cli import run_main
    from segment.models import ModelError

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        from segment.archive import main as command

        argv, prog = argv[1:], "segment export"
    else:
        from segment.cli import main as command

        prog = "segment"

    def run() -> int:
        try:
            return command(argv)
        except ModelError as exc:  # a bad --model / --run: one line
            from common.cli import debug_enabled

            if debug_enabled():
                raise
            print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2

    return run_main(run, prog)


if __name__ == "__main__":
    sys.exit(main())
