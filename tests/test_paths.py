"""common.paths helpers that child processes rely on."""

from __future__ import annotations

import os

from common.paths import REPO_ROOT, repo_pythonpath


def test_repo_pythonpath_puts_the_repo_first_and_keeps_the_users_entries_once():
    user = os.pathsep.join(["/plugins", str(REPO_ROOT), "", "/more"])
    assert repo_pythonpath(user).split(os.pathsep) == [str(REPO_ROOT), "/plugins", "/more"]
    assert repo_pythonpath("") == str(REPO_ROOT)


def test_repo_pythonpath_defaults_to_this_process_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert repo_pythonpath() == os.pathsep.join([str(REPO_ROOT), "/elsewhere"])
