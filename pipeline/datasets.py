"""The data stage: find DSB data, download it with the kaggle CLI, or make the demo set.

Order: ``--data DIR`` (must hold ``stage1_train/``) → ``input/`` (``common.paths.INPUT_DIR``)
when it holds ``stage1_train/`` → ``kaggle competitions download`` into ``input/`` when
credentials exist → the synthetic demo set (``common.synthetic``) in
``WORK/input-demo/<n_train>x<n_test>/`` (demo profile only).

In the demo profile real data is cut to a small, evenly spaced subset (symlinks in
``WORK/input-demo/real-<n_train>x<n_test>/``) so the demo stays short.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.data import SOLUTION_CSVS
from common.paths import INPUT_DIR
from ensemble.submit import COMPETITION, kaggle_credentials

__all__ = ["DataChoice", "DataStageError", "has_dsb_data", "resolve_data", "download_kaggle",
           "extract_competition_zip", "make_demo_subset"]

SYNTH_SIZE = (128, 256)


class DataStageError(RuntimeError):
    """No usable data; the message says what was looked for and how to fix it."""


@dataclass
class DataChoice:
    """Where the data came from.

    Attributes:
        data_dir: The DSB data folder the run uses.
        kind: ``given``, ``input``, ``kaggle``, ``synthetic`` or ``subset``.
        note: One line for the console and the report.
    """

    data_dir: Path
    kind: str
    note: str

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"


def has_dsb_data(folder: Path | None) -> bool:
    """Whether ``folder/stage1_train`` holds at least one image folder."""
    if folder is None or not (folder / "stage1_train").is_dir():
        return False
    return any(p.is_dir() for p in (folder / "stage1_train").iterdir())


def extract_competition_zip(archive: Path, dest: Path) -> None:
    """Unpack the competition zip: inner ``<split>.zip`` into ``dest/<split>/``, CSVs into ``dest``.

    An inner zip whose members already start with ``<split>/`` is unpacked into ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp = Path(tmp)
        with zipfile.ZipFile(archive) as outer:
            outer.extractall(tmp)
        for inner in sorted(tmp.rglob("*.zip")):
            stem = inner.name[:-4]
            with zipfile.ZipFile(inner) as z:
                names = z.namelist()
                if stem.endswith(".csv"):
                    z.extractall(dest)
                elif names and all(n.startswith(stem + "/") for n in names):
                    z.extractall(dest)
                else:
                    z.extractall(dest / stem)
        for csv in tmp.rglob("*.csv"):
            shutil.move(str(csv), str(dest / csv.name))


def download_kaggle(dest: Path, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                    log: Callable[[str], None] = print) -> Path:
    """``kaggle competitions download -c data-science-bowl-2018`` into ``dest`` and unpack it.

    Raises:
        DataStageError: when the CLI fails (e.g. rules not accepted), naming the command.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["kaggle", "competitions", "download", "-c", COMPETITION, "-p", str(dest)]
    log(f"[data] downloading: {' '.join(cmd)}")
    proc = runner(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataStageError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): "
                             f"{((proc.stdout or '') + (proc.stderr or '')).strip()[-1000:]} "
                             f"(accept the rules at https://www.kaggle.com/c/{COMPETITION}/rules)")
    archive = dest / f"{COMPETITION}.zip"
    if not archive.is_file():
        raise DataStageError(f"{archive}: not found after the download")
    extract_competition_zip(archive, dest)
    archive.unlink()
    if not has_dsb_data(dest):
        raise DataStageError(f"{dest}: no stage1_train/ after unpacking {archive.name}")
    return dest


def _spaced(ids: list[str], n: int) -> list[str]:
    if n <= 0 or n >= len(ids):
        return ids
    step = len(ids) / n
    return [ids[int(k * step)] for k in range(n)]


def make_demo_subset(data_dir: Path, out: Path, n_train: int, n_test: int,
                     test_split: str = "stage1_test") -> Path:
    """A small view of real data: evenly spaced image folders linked into ``out``.

    The solution CSV of ``test_split`` is linked too (scoring reads only the subset's ids).
    """
    for split, n in (("stage1_train", n_train), (test_split, n_test)):
        src = data_dir / split
        if not src.is_dir():
            continue
        ids = _spaced(sorted(p.name for p in src.iterdir() if p.is_dir()), n)
        dst = out / split
        dst.mkdir(parents=True, exist_ok=True)
        for image_id in ids:
            link = dst / image_id
            if not link.exists():
                os.symlink((src / image_id).resolve(), link, target_is_directory=True)
    csv = data_dir / SOLUTION_CSVS.get(test_split, "-")
    if csv.is_file() and not (out / csv.name).exists():
        os.symlink(csv.resolve(), out / csv.name)
    return out


def resolve_data(work: Path, profile: str, data: Path | None, demo_size: tuple[int, int],
                 seed: int = 0, env: dict | None = None, home: Path | None = None,
                 runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 log: Callable[[str], None] = print) -> DataChoice:
    """Pick (and if needed fetch or make) the data folder.

    Args:
        work: Workspace root.
        profile: ``demo`` or ``full``.
        data: ``--data`` folder, or None.
        demo_size: ``(n_train, n_test)`` of the demo set / subset.
        seed: Synthetic data seed.
        env, home, runner: For the credential check and the kaggle CLI (tests).
        log: Printer.

    Raises:
        DataStageError: ``--data`` lacks ``stage1_train/``, or the full profile has no data.
    """
    n_train, n_test = demo_size
    if data is not None:
        if not has_dsb_data(data):
            raise DataStageError(f"--data {data}: no stage1_train/ with images there "
                                 "(see input/README.md for the layout)")
        choice = DataChoice(data.resolve(), "given", f"{data} (--data)")
    elif has_dsb_data(INPUT_DIR):
        choice = DataChoice(INPUT_DIR, "input", f"{INPUT_DIR}")
    else:
        ok, why = kaggle_credentials(env, home)
        if ok:
            download_kaggle(INPUT_DIR, runner, log)
            choice = DataChoice(INPUT_DIR, "kaggle", f"downloaded from Kaggle into {INPUT_DIR}")
        elif profile == "full":
            raise DataStageError(f"no DSB data in {INPUT_DIR} and no --data, and {why}; "
                                 "see input/README.md, or run --profile demo")
        else:
            from common.synthetic import generate_dataset

            out = work / "input-demo" / f"synthetic-{n_train}x{n_test}-s{seed}"
            if not has_dsb_data(out):  # made in a temp folder, renamed when complete
                tmp = out.with_name(out.name + ".partial")
                shutil.rmtree(tmp, ignore_errors=True)
                generate_dataset(tmp, n_train=n_train, n_test=n_test, seed=seed, size=SYNTH_SIZE)
                os.replace(tmp, out)
            return DataChoice(out, "synthetic",
                              f"no DSB data in {INPUT_DIR} and no Kaggle credentials, so "
                              f"the synthetic demo set ({n_train} train + {n_test} test images) "
                              f"in {out} is used")
    if profile == "demo":
        out = work / "input-demo" / f"real-{n_train}x{n_test}"
        make_demo_subset(choice.data_dir, out, n_train, n_test)
        return DataChoice(out, "subset", f"{choice.note}; demo profile: a {n_train} train + "
                          f"{n_test} test image subset linked in {out}")
    return choice
