"""Atomic file writes, small JSON helpers and file moves used by every part of the project.

Every output is written to a temp file in the target's folder and renamed into
place, so a crash (even ``kill -9``) never leaves a half-written file behind, and
``overwrite=False`` refuses to replace an existing file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any


#: Marks the temp files of :func:`atomic_write` (``.<name>.tmp-<random><suffix>``).
TEMP_MARK = ".tmp-"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], overwrite: bool = True,
                 suffix: str = ".tmp") -> Path:
    """Call ``write(tmp_path)`` then move the temp file onto ``path``.

    Args:
        path: Target file; its folder is created.
        write: Writes the content to the temp path it is given.
        overwrite: If False, raise ``FileExistsError`` (naming the file) when ``path`` exists,
            checked again at the rename so a concurrent writer is not clobbered.
        suffix: Temp-file suffix (some writers need one, e.g. ``.npz`` or ``.weights.h5``).

    Returns:
        ``path``.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600: outputs follow the user's umask
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile
            except FileExistsError:
                raise FileExistsError(f"{path} already exists; refusing to overwrite it") from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise FileExistsError(f"{path} already exists; refusing to overwrite it") from None
                os.replace(tmp, path)
            if os.path.exists(tmp):
                os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text), overwrite)


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: turn them into None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Any, overwrite: bool = True) -> Path:
    """Write ``data`` as indented, strict JSON (NaN/inf become null), atomically."""
    return atomic_write_text(path, json.dumps(_finite(data), indent=2, default=str) + "\n", overwrite)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file; ``default`` if it does not exist; ValueError naming a corrupt file."""
    path = Path(path)
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None


def timestamp() -> str:
    """Local time as ``YYYYmmdd-HHMMSS`` (names of backups and temp folders)."""
    return time.strftime("%Y%m%d-%H%M%S")


def move_aside(path: str | os.PathLike, backup_root: str | os.PathLike,
               relative_to: str | os.PathLike | None = None) -> Path | None:
    """Move a file or folder into ``backup_root`` (keeping its path below ``relative_to``).

    Nothing is deleted: if the target exists, a numeric suffix is added.

    Returns:
        Where it went, or ``None`` when ``path`` did not exist.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        rel = path.resolve().relative_to(Path(relative_to).resolve()) if relative_to else Path(path.name)
    except ValueError:
        rel = Path(path.name)
    target = Path(backup_root) / rel
    base, k = target, 1
    while target.exists():
        k += 1
        target = base.with_name(f"{base.name}.{k}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    return target


def folder_fingerprint(folder: str | os.PathLike) -> dict:
    """Cheap identity of a folder's visible files: count, newest mtime, total size."""
    folder = Path(folder)
    count, newest, total = 0, 0.0, 0
    if folder.is_dir():
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    st = entry.stat()
                    count += 1
                    newest = max(newest, st.st_mtime)
                    total += st.st_size
    return {"path": str(folder), "files": count, "mtime": round(newest, 3), "bytes": total}


def file_fingerprint(path: str | os.PathLike) -> dict:
    """Cheap identity of one file, in :func:`folder_fingerprint`'s terms: mtime and size
    (``files`` 0 when it is missing)."""
    path = Path(path)
    if not path.is_file():
        return {"path": str(path), "files": 0, "mtime": 0.0, "bytes": 0}
    st = path.stat()
    return {"path": str(path), "files": 1, "mtime": round(st.st_mtime, 3), "bytes": st.st_size}


def ids_digest(ids: Iterable[str]) -> str:
    """SHA-1 (hex) of a set of image ids, in any order: names which images a record was made from."""
    return hashlib.sha1("\n".join(sorted(map(str, ids))).encode()).hexdigest()


def stored_form(data: Any) -> Any:
    """``data`` as :func:`write_json` stores it and :func:`read_json` reads it back."""
    return json.loads(json.dumps(_finite(data), default=str))


def unchanged(record: Any, inputs: Any) -> bool:
    """The one "skip if unchanged" rule: was ``record`` made from these ``inputs``?

    A step that may be skipped stores, beside its output, a record (a JSON mapping) whose
    ``"inputs"`` describe what it was made from: configs, and :func:`folder_fingerprint`
    of the folders it read. It is skipped when a new description equals the stored one,
    compared as stored (:func:`stored_form`). Used by the ensemble's merged folders and
    score cache and by the pipeline's submission step.
    """
    return isinstance(record, dict) and record.get("inputs") == stored_form(inputs)


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False,
                       names: Collection[str] | None = None) -> list[Path]:
    """Delete the temp files a killed :func:`atomic_write` left in ``folder``.

    Call it only while owning the folder (``common.locks.folder_lock``), or with ``names``,
    the target file names this process owns in a shared folder: a living writer's temp
    file would go too.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(f".*{TEMP_MARK}*") if recursive else folder.glob(f".*{TEMP_MARK}*")
    removed = []
    for path in found:
        target = path.name[1:].split(TEMP_MARK, 1)[0]
        if path.is_file() and (names is None or target in names):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
