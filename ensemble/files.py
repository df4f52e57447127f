"""Small file helpers shared by the ensemble and the pipeline: move-aside, fingerprints.

``write_json`` / ``read_json`` are ``common.io``'s (atomic, strict JSON: NaN/inf become
null), re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from common.io import read_json, write_json

__all__ = ["write_json", "read_json", "timestamp", "move_aside", "folder_fingerprint"]


def timestamp() -> str:
    """Local time as ``YYYYmmdd-HHMMSS``."""
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
    """Cheap identity of a predictions folder: file count, newest mtime, total size."""
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
