"""common.kaggle: credentials, their permissions, download and submit (never calls kaggle)."""

from __future__ import annotations

import subprocess

import pytest

from common.kaggle import (KaggleError, credential_warning, download_command, download_competition,
                           kaggle_credentials, submit_to_kaggle)


def test_kaggle_credentials_and_submit_never_calls_kaggle_without_them(tmp_path):
    ok, msg = kaggle_credentials(env={}, home=tmp_path)
    assert not ok and "KAGGLE_USERNAME" in msg and "kaggle.json" in msg
    ok, msg = kaggle_credentials(env={"KAGGLE_USERNAME": "u"}, home=tmp_path)
    assert not ok and "KAGGLE_USERNAME is set" in msg
    calls, logs = [], []

    def runner(cmd, **kw):
        calls.append(cmd)
        import subprocess
        return subprocess.CompletedProcess(cmd, 0, "Successfully submitted", "")

    marks = []  # before_send runs only when the CLI is about to run, and before it
    assert not submit_to_kaggle("x.csv", "m", runner=runner, env={}, home=tmp_path, log=logs.append,
                                before_send=lambda: marks.append(len(calls)))
    assert calls == [] == marks and "NOT submitted" in logs[-1]
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text("{}")
    assert kaggle_credentials(env={}, home=tmp_path)[0]
    assert submit_to_kaggle("x.csv", "m", runner=runner, env={}, home=tmp_path, log=logs.append,
                            before_send=lambda: marks.append(len(calls)))
    assert marks == [0]
    assert calls == [["kaggle", "competitions", "submit", "-c", "data-science-bowl-2018",
                      "-f", "x.csv", "-m", "m"]]
    assert kaggle_credentials(env={"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, home=tmp_path)[0]


def test_world_readable_kaggle_json_warns(tmp_path):
    (tmp_path / ".kaggle").mkdir()
    token = tmp_path / ".kaggle" / "kaggle.json"
    token.write_text("{}")
    token.chmod(0o644)
    ok, where = kaggle_credentials(env={}, home=tmp_path)
    assert ok and credential_warning(where) is not None and "chmod 600" in credential_warning(where)
    logs = []
    runner = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, "ok", "")  # noqa: E731
    assert submit_to_kaggle("x.csv", "m", runner=runner, env={}, home=tmp_path, log=logs.append)
    assert any("readable by other users" in line for line in logs)
    token.chmod(0o600)
    assert credential_warning(where) is None
    assert credential_warning("KAGGLE_API_TOKEN environment variable") is None


def test_download_names_the_command_and_the_missing_archive(tmp_path):
    fail = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "403 Forbidden")  # noqa: E731
    with pytest.raises(KaggleError, match="403 Forbidden.*rules"):
        download_competition(tmp_path, runner=fail, log=lambda s: None)
    ok = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, "", "")  # noqa: E731
    with pytest.raises(KaggleError, match="not found after the download"):
        download_competition(tmp_path, runner=ok, log=lambda s: None)

    def missing(cmd, **kw):
        raise FileNotFoundError("kaggle")
    with pytest.raises(KaggleError, match="could not run"):
        download_competition(tmp_path, runner=missing, log=lambda s: None)
    assert download_command(tmp_path)[:4] == ["kaggle", "competitions", "download", "-c"]
