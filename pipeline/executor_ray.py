"""The Ray executor: ``./run_all.sh --executor ray [--ray-address ADDR]``.

The stages build the same :class:`pipeline.tasks.Task` list for both executors; this one
sends each task to a Ray cluster as one Ray task, which runs the task's command lines on a
worker node through :func:`pipeline.tasks.run_chain`, exactly as the local executor does
(own process group, ``DSB_PARENT_PID``, output appended to the task's log). The solutions
know nothing of Ray.

* **Resources.** A task asks for ``num_gpus=1`` when the cluster has GPUs (unless
  ``DSB_DEVICE=cpu``), else for ``num_cpus`` (``--task-cpus``, default 1) with the GPUs
  hidden (``CUDA_VISIBLE_DEVICES=""``). Ray decides how many run at once.
* **Storage.** Every node sees the work folder (and the data, the repository and its venv)
  at the same path as the head: NFS, or a bucket through fuse. The head writes a token to
  ``WORK/logs/.ray-shared-check`` (beside the tasks' logs); an attempt on a node that reads another token, or none,
  fails at once with a line saying so. (The other way, copying each task's run and
  prediction folders back to the head, is described in the README and not implemented.)
* **Failures.** ``max_retries=1``: a task whose worker or node died, or whose command exited
  with a status other than 0 or 2 (2 is bad input: retrying cannot help), runs once more; a
  retry first waits for the task's run folder lock to be free (the killed attempt's command
  may still be stopping), then the command resumes as after any crash. A task that fails
  twice is reported with its log path; the stage fails after the others have finished.
* **Ctrl-C / SIGTERM** on the head cancels every task not finished (``ray.cancel``): a
  running one gets ``KeyboardInterrupt`` and stops its commands with what they started
  (``pipeline.tasks.stop_all``), forced after :data:`CANCEL_GRACE_S`.
* **Resume.** The stages give this executor only unfinished work (their skip rules), so a
  rerun after a dead worker or a dead head runs only what is left.

Ray is imported only here, when the executor is built (``pipeline.ray_extra`` installs it).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from common.devices import DeviceError
from common.io import atomic_write_text
from common.lifeline import PARENT_ENV
from common.locks import wait_free
from common.paths import repo_pythonpath
from pipeline.tasks import Task, add_stopped, finished_line, raise_failures, run_chain, stop_all

__all__ = ["RayExecutor", "CommandFailed", "NodeSetupError", "task_resources", "forwarded_env",
           "SHARED_CHECK", "MAX_RETRIES", "NO_RETRY", "CANCEL_GRACE_S", "LOCK_WAIT_S"]

SHARED_CHECK = ".ray-shared-check"
MAX_RETRIES = 1
NO_RETRY = (0, 2)  # success, and bad input (the same input fails the same way again)
CANCEL_GRACE_S = 40.0  # stop_all's 20 s SIGTERM grace + 5 s SIGKILL wait, and some slack
LOCK_WAIT_S = 120.0


class CommandFailed(RuntimeError):
    """A task's command exited with a status worth one retry (Ray's ``retry_exceptions``)."""

    def __init__(self, rc: int, where: str, seconds: float):
        super().__init__(rc, where, seconds)
        self.rc, self.where, self.seconds = rc, where, seconds

    def __str__(self) -> str:
        return f"exit {self.rc} on {self.where}"


class NodeSetupError(RuntimeError):
    """A node cannot run the task (storage or paths differ from the head's); not retried."""


def forwarded_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The head's settings the commands on the nodes need (Ray's ``runtime_env`` env_vars):
    ``DSB_*``, ``KERAS_BACKEND``, ``TF_CPP_MIN_LOG_LEVEL`` and ``PYTHONPATH`` (the repository
    first, so that every worker imports this module)."""
    env = {k: v for k, v in environ.items()
           if k.startswith("DSB_") or k in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    env.pop(PARENT_ENV, None)
    env["PYTHONPATH"] = repo_pythonpath(environ.get("PYTHONPATH", ""))
    return env


def task_resources(cluster_gpus: float, preference: str | None, gpu_asked: Sequence[str],
                   task_cpus: float) -> dict[str, float]:
    """What each Ray task asks for.

    Args:
        cluster_gpus: GPUs in the cluster (``ray.cluster_resources()``).
        preference: ``DSB_DEVICE`` (``cpu``, ``gpu`` or None for auto).
        gpu_asked: How GPUs were asked for on the command line (``--gpus N``, ``train.gpus=N``).
        task_cpus: CPUs per task (``--task-cpus``).

    Returns:
        ``{"num_cpus": c, "num_gpus": g}``: one GPU per task when the cluster has GPUs and
        ``DSB_DEVICE`` is not ``cpu``, else none.

    Raises:
        DeviceError: a GPU asked for (``DSB_DEVICE=gpu`` or ``gpu_asked``) but the cluster has none.
    """
    if task_cpus <= 0:
        raise DeviceError(f"--task-cpus {task_cpus}: give a number of CPUs above 0")
    if preference != "cpu" and cluster_gpus > 0:
        return {"num_cpus": task_cpus, "num_gpus": 1}
    if preference == "gpu" or (gpu_asked and preference != "cpu"):
        how = "DSB_DEVICE=gpu" if preference == "gpu" else ", ".join(gpu_asked)
        raise DeviceError(f"{how}: the Ray cluster has no GPU; start GPU workers "
                          "(ray start --address ... --num-gpus N) or run on CPUs without it")
    return {"num_cpus": task_cpus, "num_gpus": 0}


def _attempt(task: Task, token: str, token_file: str, device: str | None) -> tuple[int, float, str]:
    """One attempt of a task on a worker (the Ray task body).

    Returns:
        ``(0 or 2, seconds, where)``.

    Raises:
        NodeSetupError: this node does not see the head's work folder or interpreter.
        CommandFailed: a command failed with a status worth a retry.
    """
    import ray

    where = f"node {ray.util.get_node_ip_address()} (worker pid {os.getpid()})"
    try:
        seen = Path(token_file).read_text().strip()
    except OSError:
        seen = None
    if seen != token:
        state = "is missing" if seen is None else "holds another run's token"
        raise NodeSetupError(f"{where}: {token_file} {state}: the work folder must be on storage "
                             "that every node sees at the same path (README: Running on a cluster)")
    missing = sorted({c[0] for c in task.cmds if not Path(c[0]).exists()})
    if missing:
        raise NodeSetupError(f"{where}: {missing[0]} not found: every node needs the repository "
                             "and its venv at the head's paths (README: Running on a cluster)")
    for folder in task.folders:  # a retry: the killed attempt's command may still be stopping
        wait_free(folder, LOCK_WAIT_S)
    start = time.perf_counter()
    try:
        rc = run_chain(task, device, header=f"[ray] attempt on {where}")
    except BaseException:  # ray.cancel raises KeyboardInterrupt here: stop the commands too
        stop_all()
        raise
    seconds = time.perf_counter() - start
    if rc not in NO_RETRY:
        raise CommandFailed(rc, where, seconds)
    return rc, seconds, where


class RayExecutor:
    """Connects to (or starts) a Ray cluster and runs task lists on it.

    Args:
        address: ``--ray-address`` (``auto``, ``HOST:PORT``, ``ray://...``); None starts a
            local Ray instance (or joins ``RAY_ADDRESS`` when set).
        preference: ``DSB_DEVICE``; gpu_asked: see :func:`task_resources`.
        task_cpus: CPUs per task.
        echo: Console printer.
        backend: The Keras backend (for the console line).

    Raises:
        DeviceError: a GPU asked for but the cluster has none, or a task larger than every node.
    """

    def __init__(self, address: str | None, preference: str | None,
                 gpu_asked: Sequence[str], task_cpus: float, echo: Callable[[str], None],
                 backend: str):
        import ray

        self.echo = echo
        local = address is None and not os.environ.get("RAY_ADDRESS")
        extra = {"object_store_memory": 128 * 2**20} if local else {}  # tasks pass only paths
        if local:  # a busy machine starts the node's agents slowly: wait for them (Ray's config)
            os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
        try:
            info = ray.init(address=address, include_dashboard=False, log_to_driver=False,
                            runtime_env={"env_vars": forwarded_env()}, **extra)
        except Exception as exc:  # unreachable cluster, bad address, version mismatch, ...
            raise DeviceError(f"--ray-address {address or os.environ.get('RAY_ADDRESS') or '(local)'}: "
                              f"Ray could not start or connect: {' '.join(str(exc).split())[:300]}") from exc
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        total = ray.cluster_resources()
        try:
            self.resources = task_resources(total.get("GPU", 0), preference, gpu_asked, task_cpus)
            gpus = self.resources["num_gpus"]
            if not any(n.get("Resources", {}).get("CPU", 0) >= task_cpus
                       and n.get("Resources", {}).get("GPU", 0) >= gpus for n in nodes):
                raise DeviceError(f"--task-cpus {task_cpus:g}: no node of the Ray cluster has "
                                  f"{task_cpus:g} CPUs{' and a GPU' if gpus else ''}; ask for fewer")
        except BaseException:
            ray.shutdown()
            raise
        self.need = (f"1 GPU and {task_cpus:g} CPU" if self.resources["num_gpus"]
                     else f"{task_cpus:g} CPU, GPUs hidden")
        where = "a local Ray instance" if local else f"the Ray cluster at {info.address_info.get('address', address)}"
        echo(f"[run_all] executor ray {ray.__version__}: {where}, {len(nodes)} node(s), "
             f"{total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; backend {backend}; "
             f"each task asks for {self.need}")
        self.token = secrets.token_hex(8)  # written beside the tasks' logs: see run()
        self._remote = ray.remote(_attempt).options(
            max_retries=MAX_RETRIES, retry_exceptions=[CommandFailed], **self.resources)

    def _outcome(self, ref) -> tuple[int, float, str, str]:
        """``(rc, seconds, where, why)`` of a finished Ray task (``why``: a failure's cause)."""
        import ray

        try:
            rc, seconds, where = ray.get(ref)
            return rc, seconds, f" on {where}", ""
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, CommandFailed):
                return cause.rc, cause.seconds, f" on {cause.where}", "failed in both attempts"
            return 2 if isinstance(cause, NodeSetupError) else 1, 0.0, "", str(cause)
        except ray.exceptions.RayError as exc:  # worker or node died again, OOM-killed, ...
            return -1, 0.0, "", (f"Ray gave up after {MAX_RETRIES} retry: "
                                 f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")

    def run(self, tasks: Sequence[Task]) -> float:
        """Run tasks on the cluster; wall-clock seconds.

        Raises:
            TaskError: listing every task that failed after its retry, with its log.
        """
        import ray

        start = time.perf_counter()
        device = None if self.resources["num_gpus"] else ""  # Ray sets a GPU task's devices
        refs = {}
        for task in tasks:
            token_file = task.log.parent / SHARED_CHECK  # WORK/logs: the nodes must see it
            if not token_file.is_file() or token_file.read_text().strip() != self.token:
                atomic_write_text(token_file, self.token + "\n")
            refs[self._remote.remote(task, self.token, str(token_file), device)] = task
            self.echo(f"  -> {task.name} sent to Ray ({self.need}; log: {task.log})")
        pending, failed = list(refs), []
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=1.0)  # Ctrl-C gets in
                for ref in done:
                    task = refs[ref]
                    rc, seconds, where, why = self._outcome(ref)
                    self.echo(finished_line(task, rc, seconds, where))
                    if why:
                        self.echo(f"  {task.name}: {why}")
                    if rc != 0:
                        failed.append((task, rc))
        except BaseException:
            self.cancel(pending)
            raise
        raise_failures(failed)
        return time.perf_counter() - start

    def cancel(self, refs: list) -> None:
        """Cancel unfinished tasks: running ones stop their commands; forced after a grace."""
        import ray

        for ref in refs:
            ray.cancel(ref)
        _, left = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S) if refs else ([], [])
        for ref in left:
            ray.cancel(ref, force=True)
        add_stopped(len(refs))
        self.echo(f"[ray] cancelled {len(refs)} task(s) not finished"
                  + (f" ({len(left)} forced)" if left else ""))

    def close(self) -> None:
        """Disconnect (a local instance is shut down)."""
        import ray

        ray.shutdown()
