"""The one place where the project resolves paths.

Every other module imports its folders from here, so no ``../`` strings are
scattered through the code. Environment variables override the defaults:

* ``DSB_SHARED_DIR``: the real DSB2018 data used by tests and benchmarks
  (default ``<repo>/../shared/dsb2018``).
* ``DSB_INPUT_DIR``: where users put Kaggle data (default ``<repo>/input``).
* ``DSB_KAGGLE_MOUNT``: where a Kaggle notebook mounts the competition data
  (default ``/kaggle/input/data-science-bowl-2018``).
* ``DSB_WORK_DIR``: where runs, predictions, submissions and reports go
  (default the repository root).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


SHARED_DSB_DIR: Path = _env_path("DSB_SHARED_DIR", REPO_ROOT.parent / "shared" / "dsb2018")
INPUT_DIR: Path = _env_path("DSB_INPUT_DIR", REPO_ROOT / "input")
KAGGLE_MOUNT_DIR: Path = _env_path("DSB_KAGGLE_MOUNT", Path("/kaggle/input/data-science-bowl-2018"))
#: Fold splits (``common.folds``) and the folder holding a group split's runs under a work root.
SPLITS = ("stratified", "group")
GROUP_SPLIT_DIR = "split-group"
GROUP_FOLDS_NAME = "folds_group.csv"
CONFIGS = {
    "unet": REPO_ROOT / "solutions" / "unet" / "configs",
    "maskrcnn": REPO_ROOT / "solutions" / "maskrcnn" / "configs",
    "ensemble": REPO_ROOT / "ensemble" / "configs",
}


def repo_pythonpath(pythonpath: str | None = None) -> str:
    """``PYTHONPATH`` for a child process: the repository first, then the entries of
    ``pythonpath`` (default: this process's), so a child imports this checkout and still sees
    packages put on the path by the user (solutions declared outside the repository)."""
    given = os.environ.get("PYTHONPATH", "") if pythonpath is None else pythonpath
    rest = [p for p in given.split(os.pathsep) if p and p != str(REPO_ROOT)]
    return os.pathsep.join([str(REPO_ROOT), *rest])


def shared_train_dir() -> Path | None:
    """Return ``SHARED_DSB_DIR/stage1_train`` if it exists, else ``None``."""
    path = SHARED_DSB_DIR / "stage1_train"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class Workspace:
    """The folder tree a pipeline run writes to.

    Attributes:
        root: Output root. Runs, predictions, submissions and reports live under it.
        data_dir: Data folder in DSB layout (``stage1_train/``, ``stage1_test/``, ...).
        split_by: Fold split of the runs here: ``stratified`` (``folds.csv``) or ``group``
            (``folds_group.csv``, see ``common.folds``). :meth:`from_args` puts a group
            workspace in its own tree, ``<work>/split-group/``, so runs and out-of-fold
            predictions of the two splits never share a folder.
    """

    root: Path
    data_dir: Path
    split_by: str = "stratified"

    @classmethod
    def default(cls) -> "Workspace":
        return cls(root=_env_path("DSB_WORK_DIR", REPO_ROOT), data_dir=INPUT_DIR)

    @classmethod
    def from_args(cls, work: str | os.PathLike | None, data: str | os.PathLike | None,
                  split_by: str | None = "stratified") -> "Workspace":
        """The workspace for command-line ``--work`` / ``--data`` / ``--split-by`` (``None``: defaults).

        ``split_by="group"`` gives the tree ``<work>/split-group/`` (a ``--work`` already
        named ``split-group`` is used as it is, so the pipeline can pass its own root on).
        ``split_by=None`` reads the split from the folder: ``group`` for a ``--work`` named
        ``split-group``, else ``stratified`` (commands that only read a work folder, such as
        ``python -m ensemble``, accept either tree without being told).

        Raises:
            ValueError: for an unknown ``split_by``.
        """
        default = cls.default()
        root = Path(work).expanduser().resolve() if work else default.root
        if split_by is None:
            split_by = "group" if root.name == GROUP_SPLIT_DIR else "stratified"
        if split_by not in SPLITS:
            raise ValueError(f"split_by must be one of {SPLITS}, got {split_by!r}")
        if split_by == "group" and root.name != GROUP_SPLIT_DIR:
            root = root / GROUP_SPLIT_DIR
        return cls(root=root, data_dir=Path(data).expanduser().resolve() if data else default.data_dir,
                   split_by=split_by)

    @property
    def folds_csv(self) -> Path:
        """``root/folds.csv``, or ``root/folds_group.csv`` for a group split."""
        return self.root / (GROUP_FOLDS_NAME if self.split_by == "group" else "folds.csv")

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_name: str) -> Path:
        return self.runs_dir / run_name

    def predictions_dir(self, solution: str, split: str) -> Path:
        """``root/predictions/<solution>/<split>/`` (split is ``oof`` or ``test``)."""
        return self.root / "predictions" / solution / split

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"
