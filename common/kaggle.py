"""Everything that talks to Kaggle: the competition name, credentials, download and submit.

The kaggle CLI (pip package ``kaggle``) does the network work; this module builds its
command lines, checks credentials first and turns failures into one line. ``runner``
arguments take ``subprocess.run`` (replaceable in tests: the tests never call kaggle).

Used by the data stage (``pipeline/datasets.py``: download) and by the submission step
(``pipeline/stages.py``, ``python -m ensemble --submit``).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["COMPETITION", "RULES_URL", "KaggleError", "kaggle_credentials", "credential_warning",
           "download_command", "download_competition", "submit_command", "submit_to_kaggle"]

COMPETITION = "data-science-bowl-2018"
RULES_URL = f"https://www.kaggle.com/c/{COMPETITION}/rules"

Runner = Callable[..., subprocess.CompletedProcess]


class KaggleError(RuntimeError):
    """The kaggle CLI could not run or failed; the message names the command or file."""


def kaggle_credentials(env: Mapping[str, str] | None = None, home: Path | None = None
                       ) -> tuple[bool, str]:
    """Whether the kaggle CLI has credentials, and where they are (or what is missing).

    Looks for ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, ``KAGGLE_API_TOKEN``, and
    ``kaggle.json`` / ``access_token`` in ``KAGGLE_CONFIG_DIR``, ``~/.kaggle`` or
    ``~/.config/kaggle``.

    Returns:
        ``(True, "where")`` or ``(False, "what is missing and how to fix it")``.
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return True, "KAGGLE_USERNAME/KAGGLE_KEY environment variables"
    if env.get("KAGGLE_API_TOKEN"):
        return True, "KAGGLE_API_TOKEN environment variable"
    dirs = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    dirs += [home / ".kaggle", home / ".config" / "kaggle"]
    for d in dirs:
        for name in ("kaggle.json", "access_token"):
            if (d / name).is_file():
                return True, str(d / name)
    partial = ""
    if env.get("KAGGLE_USERNAME") or env.get("KAGGLE_KEY"):
        have = "KAGGLE_USERNAME" if env.get("KAGGLE_USERNAME") else "KAGGLE_KEY"
        partial = f" ({have} is set but not its partner)"
    return False, ("no Kaggle credentials: neither KAGGLE_USERNAME and KAGGLE_KEY are set"
                   f"{partial} nor is there a {home / '.kaggle' / 'kaggle.json'} "
                   "(create one at https://www.kaggle.com/settings > API > Create New Token, "
                   f"chmod 600 it, and accept the rules at {RULES_URL})")


def credential_warning(where: str) -> str | None:
    """A warning when the credentials file ``where`` is readable by other users, else None."""
    path = Path(where)
    try:
        mode = path.stat().st_mode
    except OSError:  # an environment variable, not a file
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return (f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}")
    return None


def _run(cmd: list[str], runner: Runner) -> str:
    """Run a kaggle command; its output, or ``KaggleError`` naming the command."""
    try:
        proc = runner(cmd, capture_output=True, text=True)
    except OSError as exc:  # e.g. no kaggle executable
        raise KaggleError(f"`{' '.join(cmd)}` could not run: {exc}") from exc
    out = ((proc.stdout or "") + (proc.stderr or "")).strip()
    if proc.returncode != 0:
        raise KaggleError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {out[-1000:]}")
    return out


def download_command(dest: str | Path) -> list[str]:
    """The kaggle CLI command that downloads the competition archive into ``dest``."""
    return ["kaggle", "competitions", "download", "-c", COMPETITION, "-p", str(dest)]


def download_competition(dest: Path, runner: Runner = subprocess.run,
                         log: Callable[[str], None] = print) -> Path:
    """Download ``<COMPETITION>.zip`` into the folder ``dest`` (not unpacked).

    Raises:
        KaggleError: the CLI could not run or failed (e.g. rules not accepted, offline),
            or the archive is missing afterwards; the message names the command or file.
    """
    cmd = download_command(dest)
    log(f"[data] downloading: {' '.join(cmd)}")
    try:
        _run(cmd, runner)
    except KaggleError as exc:
        raise KaggleError(f"{exc} (accept the rules at {RULES_URL})") from None
    archive = Path(dest) / f"{COMPETITION}.zip"
    if not archive.is_file():
        raise KaggleError(f"{archive}: not found after the download")
    return archive


def submit_command(path: str | Path, message: str) -> list[str]:
    """The kaggle CLI command that submits ``path``."""
    return ["kaggle", "competitions", "submit", "-c", COMPETITION, "-f", str(path), "-m", message]


def submit_to_kaggle(path: str | Path, message: str, runner: Runner = subprocess.run,
                     env: Mapping[str, str] | None = None, home: Path | None = None,
                     log: Callable[[str], None] = print,
                     before_send: Callable[[], None] | None = None) -> bool:
    """Send a submission with the kaggle CLI when credentials exist.

    Args:
        path: The submission CSV.
        message: Submission description.
        runner: ``subprocess.run`` (replaceable in tests: never call kaggle there).
        env, home: Where to look for credentials (default the real ones).
        log: Printer for the one-line outcome.
        before_send: Called once everything is checked, just before the CLI runs (the
            pipeline records there that a send began: a run killed while sending does
            not send the same file again unasked).

    Returns:
        True when the CLI reported success; False (with the reason printed) otherwise.
    """
    ok, where = kaggle_credentials(env, home)
    if not ok:
        log(f"[submit] NOT submitted {path}: {where}")
        return False
    if (warning := credential_warning(where)) is not None:
        log(f"[submit] warning: {warning}")
    if runner is subprocess.run and shutil.which("kaggle") is None:
        log(f"[submit] NOT submitted {path}: the kaggle CLI is not on PATH (pip package 'kaggle')")
        return False
    cmd = submit_command(path, message)
    log(f"[submit] credentials from {where}; running: {' '.join(cmd)}")
    if before_send is not None:
        before_send()
    try:
        out = _run(cmd, runner)
    except KaggleError as exc:
        log(f"[submit] {exc}")
        return False
    log(f"[submit] {out[-500:] if out else 'submitted'}")
    return True
