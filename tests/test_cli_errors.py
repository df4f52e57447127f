"""Bad input on a solution CLI is one line and exit 2; no orphan children (issue: reliability)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from common.cli import check_fold, config_n_folds, narrow_ids, one_line
from common.config import ConfigError, load_config
from common.folds import FoldsError
from common.paths import REPO_ROOT

UNET_DEMO = REPO_ROOT / "solutions" / "unet" / "configs" / "demo.yaml"
MASKRCNN_DEMO = REPO_ROOT / "solutions" / "maskrcnn" / "configs" / "demo.yaml"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


def test_fold_checks_and_one_line_errors(tmp_path):
    from solutions.unet.config import UNetConfig

    cfg = load_config(UNetConfig, UNET_DEMO, ["n_folds=2"])
    assert config_n_folds(cfg) == 2
    check_fold(1, 2)
    with pytest.raises(FoldsError, match="--fold 7: .* 2 folds"):
        check_fold(7, 2, UNET_DEMO)
    with pytest.raises(ConfigError, match=r"train.epochs=\[1.*not valid YAML"):
        load_config(UNetConfig, UNET_DEMO, ["train.epochs=[1"])
    with pytest.raises(ConfigError, match=r"model.channels must start with 'body'.*'touch'"):
        load_config(UNetConfig, UNET_DEMO, ["model.channels=[body,contact]"])
    with pytest.raises(ConfigError, match="loss.channel_weights needs 4 values"):
        load_config(UNetConfig, UNET_DEMO, ["model.channels=[body,border,centre,touch]",
                                            "loss.channel_weights=[1,1,1]"])
    err = PermissionError(13, "Permission denied", str(tmp_path / "x"))
    assert one_line(err) == f"{tmp_path / 'x'}: Permission denied"


@pytest.mark.parametrize("module", ["solutions.unet.train", "solutions.maskrcnn.train"])
def test_train_cli_checks_its_input_before_importing_keras(module):
    """A bad --fold or --set fails in a second, before TensorFlow's import and its log lines."""
    code = f"import sys, {module}; assert 'keras' not in sys.modules, 'keras at import'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("module, config, extra, message", [
    ("solutions.unet.train", UNET_DEMO, ["--fold", "7", "--set", "n_folds=2"], "--fold 7"),
    ("solutions.unet.train", UNET_DEMO, ["--fold", "0", "--set", "train.epochs=[1"], "not valid YAML"),
    ("solutions.maskrcnn.train", MASKRCNN_DEMO, ["--fold", "7", "--set", "n_folds=2"], "--fold 7"),
])
def test_train_cli_bad_input_is_one_line_and_leaves_nothing(tmp_path, module, config, extra, message):
    work = tmp_path / "work"
    proc = _cli(module, "--config", str(config), "--work", str(work), *extra)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not (work / "runs").exists()


@pytest.mark.slow
def test_unwritable_work_folder_is_one_line_and_debug_shows_the_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ("solutions.unet.train", "--config", str(UNET_DEMO), "--fold", "0",
            "--work", str(blocker / "work"))
    proc = _cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(blocker) in proc.stderr.strip().splitlines()[-1]
    debug = _cli(*args, env={"DSB_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr


PARENT = """
import sys
from pathlib import Path
from pipeline.tasks import Task, run_tasks
child = [sys.executable, "-c", "import os, time; from common.lifeline import follow_parent; "
         "follow_parent(); open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(120)"]
run_tasks([Task("sleeper", [child], Path(sys.argv[1]))])
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return "zombie" not in open(f"/proc/{pid}/status").read().lower()
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux")
def test_a_child_stops_when_the_pipeline_is_killed_9(tmp_path):
    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "log.txt")], cwd=REPO_ROOT,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PIDFILE": str(pidfile)})
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and parent.poll() is None, "child never started"
        time.sleep(0.1)
    child = int(pidfile.read_text())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the child outlived its killed parent"


def test_stop_all_stops_a_running_task_group(tmp_path):
    import threading

    from pipeline import tasks

    cmd = [sys.executable, "-c", "import subprocess, sys, time; "
           "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"]
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "err", pytest.raises(tasks.TaskError, tasks.run_tasks,
                             [tasks.Task("sleeper", [cmd], tmp_path / "log.txt")], echo=lambda s: None)))
    thread.start()
    deadline = time.monotonic() + 30
    while not tasks._LIVE and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let it start its own child
    before = tasks._STOPPED
    assert tasks.stop_all(grace_s=5) == before + 1
    thread.join(30)
    assert not thread.is_alive() and not tasks._LIVE


PARALLEL_PARENT = """
import os, signal, sys, time
from pathlib import Path
from pipeline.tasks import Task, run_tasks, stop_all

def stop(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, stop)
child = [sys.executable, "-c", "import os, sys, time; "
         "open(os.path.join(os.environ['PIDDIR'], str(os.getpid())), 'w').write('x'); time.sleep(120)"]
try:
    run_tasks([Task(f"sleeper{k}", [child], Path(sys.argv[1]) / f"log{k}.txt") for k in range(2)],
              jobs=2, echo=lambda s: None)
except KeyboardInterrupt:
    print("stopped", stop_all(), flush=True)
"""


def test_sigterm_during_parallel_tasks_stops_the_children_at_once(tmp_path):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARALLEL_PARENT, str(tmp_path)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PIDDIR": str(piddir)})
    deadline = time.monotonic() + 60
    while len(list(piddir.iterdir())) < 2:
        assert time.monotonic() < deadline and parent.poll() is None, "children never started"
        time.sleep(0.1)
    t0 = time.monotonic()
    parent.send_signal(signal.SIGTERM)
    out, _ = parent.communicate(timeout=60)
    assert time.monotonic() - t0 < 30 and out.strip() == "stopped 2"
    assert not any(_alive(int(p.name)) for p in piddir.iterdir())


def test_narrow_ids_keeps_the_listed_ids_in_order_and_names_a_bad_list(tmp_path):
    ids = ["a", "b", "c", "d"]
    listed = tmp_path / "ids.txt"
    listed.write_text("d  # a comment\n\nb\nzz\n")
    assert narrow_ids(ids, listed) == ["b", "d"]
    assert narrow_ids(ids, listed, limit=1) == ["b"]
    assert narrow_ids(ids, None, limit=3) == ["a", "b", "c"] and narrow_ids(ids) == ids
    listed.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="ids.txt.*names no image"):
        narrow_ids(ids, listed)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        narrow_ids(ids, tmp_path / "missing.txt")
