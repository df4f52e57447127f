"""The images a ``segment`` command reads: folders, globs and files.

A folder gives its image files (``IMAGE_SUFFIXES``, not recursive); a pattern with
``*``, ``?`` or ``[`` is expanded (``**`` recursive); anything else is taken as a file,
whatever its extension (reading it says what is wrong). A folder or pattern that gives
no image is an error of its own (named), the others still run.
"""

from __future__ import annotations

import glob
from pathlib import Path
from collections.abc import Sequence

__all__ = ["IMAGE_SUFFIXES", "expand_inputs", "image_stem", "unique_stems"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def expand_inputs(items: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Image files named by ``items``, in order, without repeats.

    Returns:
        ``(files, errors)``: errors are one line each, naming the folder or pattern.
    """
    files: list[Path] = []
    errors: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_image(p))
            if not found:
                errors.append(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if _is_image(Path(p)))
            if not found:
                errors.append(f"{item}: no image files match")
        else:
            found = [path]
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, errors


def image_stem(path: Path) -> str:
    """``a.ome.tif`` -> ``a``; ``b.png`` -> ``b``."""
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return path.stem


def unique_stems(files: Sequence[Path]) -> list[str]:
    """Output names: the file stems, ``<stem>-2``, ``<stem>-3`` .. for repeats (in order)."""
    count: dict[str, int] = {}
    out = []
    for f in files:
        stem = image_stem(f)
        count[stem] = count.get(stem, 0) + 1
        out.append(stem if count[stem] == 1 else f"{stem}-{count[stem]}")
    return out
