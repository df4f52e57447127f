"""One owner per folder (common.locks), outputs that follow the umask, stale temp files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from common.io import TEMP_MARK, atomic_write, remove_stale_temps, write_json
from common.locks import FolderBusyError, folder_lock, lock_holder
from common.paths import REPO_ROOT

HOLD = """
import sys, time
from common.locks import folder_lock
with folder_lock(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_owner_is_refused_naming_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(FolderBusyError, match=rf"PID {proc.pid} \(test holder"):
            with folder_lock(tmp_path, "second"):
                pass
        assert lock_holder(tmp_path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    # kill -9 left the lock file behind, but not the lock: the next owner gets it at once
    with folder_lock(tmp_path, "after the kill") as path:
        assert path.exists() and lock_holder(tmp_path)["pid"] == os.getpid()
    with folder_lock(tmp_path, "again"):  # released on exit from the block
        pass


def test_outputs_follow_the_umask_and_stale_temps_are_removed(tmp_path):
    old = os.umask(0o022)
    os.umask(old)
    path = write_json(tmp_path / "a.json", {"x": 1})
    assert (path.stat().st_mode & 0o777) == (0o666 & ~old)
    stale = tmp_path / f".b.json{TEMP_MARK}abc.tmp"
    stale.write_text("half")
    keep = tmp_path / ".hidden"
    keep.write_text("x")
    assert remove_stale_temps(tmp_path) == [stale]
    assert keep.exists() and path.exists() and not stale.exists()


def test_a_killed_writer_leaves_only_a_marked_temp_file(tmp_path):
    def die(tmp):
        open(tmp, "w").write("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "c.txt", die)
    assert list(tmp_path.iterdir()) == []  # an exception cleans up; only SIGKILL leaves one


def test_a_run_folder_has_one_writer(tmp_path):
    from common.locks import hold_until_exit

    run = tmp_path / "runs" / "unet-fold0"
    proc = _holder(run)
    try:
        with pytest.raises(FolderBusyError, match="test holder"):
            hold_until_exit(run, "train")
    finally:
        proc.kill()
        proc.wait()
    hold_until_exit(run, "train")
    assert hold_until_exit(run, "train again") == (run / ".lock").resolve()  # held here: no-op


def test_stale_temps_of_named_files_only(tmp_path):
    mine = tmp_path / f".a.npz{TEMP_MARK}x1.npz"
    theirs = tmp_path / f".b.npz{TEMP_MARK}x2.npz"
    for p in (mine, theirs):
        p.write_text("half")
    assert remove_stale_temps(tmp_path, names={"a.npz"}) == [mine]
    assert theirs.exists()


def test_a_refused_process_waits_for_the_holders_info(tmp_path):
    """A second process can find the lock taken before the holder has written who it is
    (the race of two pipelines started together): the refusal still names the holder."""
    import fcntl
    import json
    import threading

    from common.locks import LOCK_NAME

    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # taken, nothing written yet

        def write_later():
            time.sleep(0.3)
            os.pwrite(fd, json.dumps({"pid": 4242, "what": "pipeline", "cmd": "x", "since": "now"}).encode(), 0)

        writer = threading.Thread(target=write_later)
        writer.start()
        with pytest.raises(FolderBusyError, match="PID 4242"):
            with folder_lock(tmp_path, "second"):
                pass
        writer.join()
    finally:
        os.close(fd)
