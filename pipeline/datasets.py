"""The data stage: find DSB data, download it with the kaggle CLI, or make the demo set.

Order: ``--data DIR`` (must hold ``stage1_train/``) → ``input/`` (``common.paths.INPUT_DIR``)
when it holds ``stage1_train/`` → a Kaggle notebook's read-only competition mount
(``common.paths.KAGGLE_MOUNT_DIR``): used as it is when it holds ``stage1_train/``, its
``<split>.zip`` files unpacked into ``input/`` otherwise → ``kaggle competitions download``
into ``input/`` when credentials exist → the synthetic demo set (``common.synthetic``) in
``WORK/input-demo/synthetic-<n_train>x<n_test>-s<seed>/`` (demo profile only; also when
the download fails in the demo profile, with one line saying why; in the full profile a
failed download is an error).

The download (or the mount's zips) is unpacked into ``input/.partial-<time>/`` and moved
into ``input/`` only once complete, ``stage1_train/`` last, so an interrupted download or
unzip is never taken for real data.

In the demo profile real data is cut to a small, evenly spaced subset (symlinks in
``WORK/input-demo/real-<n_train>x<n_test>-<hash>/``, ``<hash>`` naming the resolved source
folder, which ``_source.txt`` in the subset records) so the demo stays short and two
data sources never share a subset folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.data import SOLUTION_CSVS, image_folders
from common.io import atomic_write_text, move_aside, timestamp
from common.locks import folder_lock
from common.paths import INPUT_DIR, KAGGLE_MOUNT_DIR
from common.kaggle import KaggleError, download_competition, kaggle_credentials

__all__ = ["DataChoice", "DataStageError", "has_dsb_data", "resolve_data", "download_kaggle",
           "extract_competition_zip", "unpack_kaggle_mount", "make_demo_subset", "subset_dir"]

SYNTH_SIZE = (128, 256)
#: Written last into a finished synthetic set: a folder without it is rebuilt.
SYNTHETIC_MARK = "_complete.txt"


class DataStageError(RuntimeError):
    """No usable data; the message says what was looked for and how to fix it."""


@dataclass
class DataChoice:
    """Where the data came from.

    Attributes:
        data_dir: The DSB data folder the run uses.
        kind: ``given``, ``input``, ``mount``, ``kaggle``, ``synthetic`` or ``subset``.
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
    return bool(image_folders(folder / "stage1_train"))


def _extract_split_zips(zips: list[Path], dest: Path) -> None:
    """Unpack ``<split>.zip`` into ``dest/<split>/`` and ``<name>.csv.zip`` into ``dest``.

    A split zip whose members already start with ``<split>/`` is unpacked into ``dest``.
    """
    for inner in sorted(zips):
        stem = inner.name[:-4]
        with zipfile.ZipFile(inner) as z:
            names = z.namelist()
            if stem.endswith(".csv"):
                z.extractall(dest)
            elif names and all(n.startswith(stem + "/") for n in names):
                z.extractall(dest)
            else:
                z.extractall(dest / stem)


def extract_competition_zip(archive: Path, dest: Path) -> None:
    """Unpack the competition zip: inner ``<split>.zip`` into ``dest/<split>/``, CSVs into ``dest``.

    An inner zip whose members already start with ``<split>/`` is unpacked into ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp = Path(tmp)
        with zipfile.ZipFile(archive) as outer:
            outer.extractall(tmp)
        _extract_split_zips(list(tmp.rglob("*.zip")), dest)
        for csv in tmp.rglob("*.csv"):
            shutil.move(str(csv), str(dest / csv.name))


def _move_into(src: Path, dest: Path, aside: Path) -> None:
    """Move every entry of ``src`` into ``dest``, ``stage1_train`` last (it is what marks the
    data as present); an entry already in ``dest`` (left by an incomplete earlier attempt)
    is moved into ``aside`` first, not deleted."""
    entries = sorted(src.iterdir(), key=lambda e: (e.name == "stage1_train", e.name))
    for entry in entries:
        target = dest / entry.name
        if target.exists() or target.is_symlink():
            aside.mkdir(parents=True, exist_ok=True)
            os.replace(target, aside / entry.name)
        os.replace(entry, target)


def _fill_then_move(dest: Path, fill: Callable[[Path], str], log: Callable[[str], None]) -> Path:
    """Run ``fill(partial)`` in a fresh ``dest/.partial-<time>/`` and move the result into ``dest``.

    All of it happens while owning ``dest`` (``common.locks``: a second pipeline filling
    the same folder is refused). Leftovers of interrupted attempts are removed first; the
    folders and CSVs are moved into ``dest`` only when ``partial`` holds ``stage1_train/``
    (moved last); entries they replace go to ``dest/.replaced-<time>/``. ``fill`` returns
    what it unpacked, for errors.

    Raises:
        DataStageError: ``fill`` left no ``stage1_train/``.
        FolderBusyError: another process is filling ``dest``.
    """
    with folder_lock(dest, "data preparation"):
        return _fill_then_move_owned(dest, fill, log)


def _fill_then_move_owned(dest: Path, fill: Callable[[Path], str], log: Callable[[str], None]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob(".partial-*"):
        log(f"[data] removing {old} (an interrupted earlier attempt)")
        shutil.rmtree(old, ignore_errors=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    partial = dest / f".partial-{stamp}"
    partial.mkdir()
    try:
        source = fill(partial)
        if not has_dsb_data(partial):
            raise DataStageError(f"{partial}: no stage1_train/ after unpacking {source}")
        _move_into(partial, dest, dest / f".replaced-{stamp}")
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return dest


def download_kaggle(dest: Path, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                    log: Callable[[str], None] = print) -> Path:
    """Download the competition with the kaggle CLI (``common.kaggle``) into ``dest``; unpack it.

    Everything happens in ``dest/.partial-<time>/`` (see :func:`_fill_then_move`).

    Raises:
        DataStageError: when the CLI fails (e.g. rules not accepted, offline) or the archive
            is missing or broken, naming the command or file.
    """
    def fill(partial: Path) -> str:
        try:
            archive = download_competition(partial, runner, log)
        except KaggleError as exc:
            raise DataStageError(str(exc)) from exc
        try:
            extract_competition_zip(archive, partial)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataStageError(f"{archive}: cannot unpack ({exc})") from exc
        archive.unlink()
        return archive.name

    return _fill_then_move(dest, fill, log)


def unpack_kaggle_mount(mount: Path, dest: Path, log: Callable[[str], None] = print) -> Path | None:
    """The data of a Kaggle notebook's competition mount, or None when there is none.

    A mount holding ``stage1_train/`` is returned as it is (it is read-only, and nothing is
    written into a data folder). A mount holding ``stage1_train.zip`` (the current layout)
    has its ``<split>.zip`` and ``<name>.csv.zip`` files unpacked into ``dest`` the safe way
    (:func:`_fill_then_move`), and ``dest`` is returned.

    Raises:
        DataStageError: a zip of the mount is broken, naming it.
    """
    if has_dsb_data(mount):
        return mount
    zips = sorted(mount.glob("*.zip")) if mount.is_dir() else []
    if not any(z.name == "stage1_train.zip" for z in zips):
        return None

    def fill(partial: Path) -> str:
        log(f"[data] unpacking {len(zips)} zip files of {mount} into {dest}")
        try:
            _extract_split_zips(zips, partial)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataStageError(f"{mount}: cannot unpack its zip files ({exc})") from exc
        return f"the zip files of {mount}"

    return _fill_then_move(dest, fill, log)


def _spaced(ids: list[str], n: int) -> list[str]:
    if n <= 0 or n >= len(ids):
        return ids
    step = len(ids) / n
    return [ids[int(k * step)] for k in range(n)]


def subset_dir(work: Path, data_dir: Path, n_train: int, n_test: int) -> Path:
    """``WORK/input-demo/real-<n_train>x<n_test>-<hash>/``: ``<hash>`` is a short hash of the
    resolved source folder, so subsets of different data never share a folder."""
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:8]
    return work / "input-demo" / f"real-{n_train}x{n_test}-{digest}"


def make_demo_subset(data_dir: Path, out: Path, n_train: int, n_test: int,
                     test_split: str = "stage1_test") -> Path:
    """A small view of real data: evenly spaced image folders linked into ``out``.

    The solution CSV of ``test_split`` is linked too (scoring reads only the subset's ids).
    ``out/_source.txt`` records the resolved source folder; reusing ``out`` for another
    source is an error.

    Raises:
        DataStageError: ``out`` was made from another source folder.
    """
    source = str(Path(data_dir).resolve())
    marker = out / "_source.txt"
    if marker.is_file() and marker.read_text().strip() != source:
        raise DataStageError(f"{out}: a demo subset of {marker.read_text().strip()}, not of "
                             f"{source}; remove it or use another --work")
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise DataStageError(f"{out}: exists without {marker.name}, so its source is unknown; "
                             "remove it or use another --work")
    out.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        atomic_write_text(marker, source + "\n")  # a kill never leaves it empty
    for split, n in (("stage1_train", n_train), (test_split, n_test)):
        src = data_dir / split
        if not src.is_dir():
            continue
        ids = _spaced(image_folders(src), n)
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


def _synthetic(work: Path, n_train: int, n_test: int, seed: int, why: str,
               log: Callable[[str], None] = print) -> DataChoice:
    """The synthetic demo set (made in a temp folder, marked and renamed when complete)."""
    from common.synthetic import generate_dataset

    out = work / "input-demo" / f"synthetic-{n_train}x{n_test}-s{seed}"
    complete = out / SYNTHETIC_MARK
    if not complete.is_file():
        with folder_lock(out.parent, "synthetic data"):  # all or nothing, one maker
            if out.exists():  # half made, or made by a version without the mark: rebuild
                where = move_aside(out, work / "backup" / timestamp(), work)
                log(f"[data] {out} was incomplete; moved to {where}, making it again")
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            generate_dataset(tmp, n_train=n_train, n_test=n_test, seed=seed, size=SYNTH_SIZE)
            (tmp / SYNTHETIC_MARK).write_text(f"{n_train} train + {n_test} test images, seed {seed}\n")
            os.replace(tmp, out)
    return DataChoice(out, "synthetic",
                      f"no DSB data in {INPUT_DIR} and {why}, so the synthetic demo set "
                      f"({n_train} train + {n_test} test images) in {out} is used")


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
        DataStageError: ``--data`` lacks ``stage1_train/``, or the full profile has no data
            (no credentials, or the download failed: the message names what failed).
    """
    n_train, n_test = demo_size
    if data is not None:
        if not has_dsb_data(data):
            raise DataStageError(f"--data {data}: no stage1_train/ with images there "
                                 "(see input/README.md for the layout)")
        choice = DataChoice(data.resolve(), "given", f"{data} (--data)")
    elif has_dsb_data(INPUT_DIR):
        choice = DataChoice(INPUT_DIR, "input", f"{INPUT_DIR}")
    elif (mounted := unpack_kaggle_mount(KAGGLE_MOUNT_DIR, INPUT_DIR, log)) is not None:
        how = "" if mounted == KAGGLE_MOUNT_DIR else f", unpacked into {INPUT_DIR}"
        choice = DataChoice(mounted, "mount", f"the Kaggle notebook's data in {KAGGLE_MOUNT_DIR}{how}")
    else:
        ok, why = kaggle_credentials(env, home)
        if ok:
            try:
                download_kaggle(INPUT_DIR, runner, log)
            except DataStageError as exc:
                if profile == "full":
                    raise DataStageError(f"no DSB data in {INPUT_DIR} and no --data, and the "
                                         f"Kaggle download failed: {exc}") from exc
                # the choice's note (printed once by the caller) is the one line saying why
                reason = f"the Kaggle download failed ({' '.join(str(exc).split())[:400]})"
                return _synthetic(work, n_train, n_test, seed, reason, log)
            choice = DataChoice(INPUT_DIR, "kaggle", f"downloaded from Kaggle into {INPUT_DIR}")
        elif profile == "full":
            raise DataStageError(f"no DSB data in {INPUT_DIR} and no --data, and {why}; "
                                 "see input/README.md, or run --profile demo")
        else:
            return _synthetic(work, n_train, n_test, seed, "no Kaggle credentials", log)
    if profile == "demo":
        out = subset_dir(work, choice.data_dir, n_train, n_test)
        make_demo_subset(choice.data_dir, out, n_train, n_test)
        return DataChoice(out, "subset", f"{choice.note}; demo profile: a {n_train} train + "
                          f"{n_test} test image subset linked in {out}")
    return choice
