"""One-file models: ``python -m segment export --run RUN --out model.dsbmodel``.

A ``.dsbmodel`` file is a zip archive (like a ``.keras`` file) holding everything that
prediction needs, so a trained run can be passed around as one file::

    dsbmodel.json            format marker, version and metadata (below)
    config.yaml              the run's resolved config (normalisation included: data.normalise)
    weights/<name>.weights.h5  the run's best (else last) weights
    thresholds.json          tuned post-processing params (U-Net; absent if never tuned)
    nucleus_size.json        training nucleus size (U-Net scale normalisation), if present
    train_summary.json       the training summary, if present

``dsbmodel.json``: ``{"format": "dsbmodel", "version": 1, "family", "solution", "weights",
"created" (UTC ISO time), "git_commit", "keras", "normalise", "training_data" (data folder,
fold, number of training images), "oof_score" (the tuned OOF score, or null)}``.
A file of another format or version is refused with one line naming it.
:func:`open_model` extracts the archive to a temporary folder, loads it as a run folder
(``segment.models.load_run``) and deletes the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from common.io import atomic_write, read_json
from common.machine import git_commit
from segment.models import ModelError, family_of, load_run, read_run_config

__all__ = ["FORMAT", "VERSION", "export_run", "read_manifest", "open_model", "main"]

FORMAT, VERSION = "dsbmodel", 1
MANIFEST = "dsbmodel.json"
_OPTIONAL = ("thresholds.json", "nucleus_size.json", "train_summary.json")


def _metadata(run_dir: Path, raw: dict, weights: Path) -> dict:
    import keras

    info = read_json(run_dir / "run_info.json") or {}
    thresholds = read_json(run_dir / "thresholds.json") or {}
    return {
        "format": FORMAT, "version": VERSION,
        "family": family_of(raw, str(run_dir / "config.yaml")),
        "solution": raw.get("solution") or raw.get("name"),
        "weights": f"weights/{weights.name}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(short=False),
        "keras": keras.__version__,
        "normalise": (raw.get("data") or {}).get("normalise", "none") if isinstance(raw.get("data"), dict) else "none",
        "training_data": {"data_dir": info.get("data_dir"), "fold": info.get("fold"),
                          "split_by": info.get("split_by"), "n_train_images": len(info.get("fit_ids") or []) or None},
        "oof_score": thresholds.get("_oof_score"),
        "source_run": str(run_dir),
    }


def _complete_nucleus_size(run, family: str) -> None:
    """A U-Net run whose ``nucleus_size.json`` is missing (never predicted with) or lacks
    ``image_areas`` (written before they were kept) gets them measured now (from its training
    ids), while its data is at hand: the model file has no ``run_info.json`` to measure them
    from later, and would never enlarge small nuclei (``predict.scale_norm.enlarge_below``)."""
    if family != "unet":
        return
    stats = read_json(run.path / "nucleus_size.json")
    if stats is not None and "image_areas" in stats:
        return
    from solutions.unet.predict import nucleus_stats

    try:
        nucleus_stats(run, "image_areas")
    except (OSError, ValueError) as exc:
        print(f"[export] {exc}: the model will not enlarge small nuclei", flush=True)


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the run's model as one ``.dsbmodel`` file (atomically).

    Raises:
        ModelError: not a run folder, no weights, an unknown solution family.
        FileExistsError: ``out`` exists and ``overwrite`` is False.
    """
    from common.runs import RunDir

    run = RunDir(Path(run_dir).expanduser().resolve())
    if not run.path.is_dir():
        raise ModelError(f"{run.path}: no such run folder")
    raw = read_run_config(run.path)
    try:
        weights = run.weights_for_inference()
    except FileNotFoundError as exc:
        raise ModelError(str(exc)) from None
    meta = _metadata(run.path, raw, weights)
    _complete_nucleus_size(run, meta["family"])

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(meta, indent=2) + "\n")
            zf.write(run.config_path, "config.yaml")
            zf.write(weights, meta["weights"])
            for name in _OPTIONAL:
                if (run.path / name).is_file():
                    zf.write(run.path / name, name)

    return atomic_write(out, write, overwrite=overwrite, suffix=".dsbmodel")


def read_manifest(path: str | os.PathLike) -> dict:
    """The checked ``dsbmodel.json`` of a model file.

    Raises:
        ModelError: not a zip, no manifest, another format or version.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(MANIFEST))
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: not a .dsbmodel file (not a zip archive)") from None
    except KeyError:
        raise ModelError(f"{path}: not a .dsbmodel file (no {MANIFEST} inside)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError(f"{path}: corrupt {MANIFEST}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a .dsbmodel file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise ModelError(f"{path}: model file format version {meta.get('version')!r}; this tool reads "
                         f"version {VERSION} (export the run again with this version)")
    return meta


def open_model(path: str | os.PathLike):
    """Load a ``.dsbmodel`` file: ``segment.models.PixelModel`` or ``InstanceModel``."""
    path = Path(path)
    meta = read_manifest(path)
    with tempfile.TemporaryDirectory(prefix="dsbmodel-") as tmp:
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                for name in ["config.yaml", meta.get("weights", ""), *_OPTIONAL]:
                    if name in names and not Path(name).is_absolute() and ".." not in Path(name).parts:
                        zf.extract(name, tmp)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelError(f"{path}: corrupt model file ({' '.join(str(exc).split())})") from None
        weights = Path(tmp) / str(meta.get("weights", ""))
        if not weights.is_file() or not weights.name.endswith(".weights.h5"):
            raise ModelError(f"{path}: the model file holds no weights ({meta.get('weights')!r})")
        if weights.name not in ("best.weights.h5", "last.weights.h5"):
            weights.rename(weights.with_name("best.weights.h5"))
        try:
            model = load_run(tmp, name=str(path), model_file=path)
        except ModelError as exc:  # name the file the user gave, not the temp folder
            raise ModelError(str(exc).replace(tmp, str(path))) from None
    model.info = {**model.info, "manifest": meta}
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segment export",
                                     description="Write a training run's model as one .dsbmodel file.")
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("--out", required=True, help="output file, e.g. model.dsbmodel")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    out = export_run(args.run, args.out, overwrite=args.force)
    meta = read_manifest(out)
    print(f"[segment] exported {meta['solution']} ({meta['family']}, {out.stat().st_size / 1e6:.1f} MB, "
          f"OOF score {meta['oof_score']}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
