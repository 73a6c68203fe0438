"""A local *autoscaling* Ray cluster on 127.0.0.1, built on Ray's fake multi-node node provider.

    with fake_autoscaling_cluster(tmp_path, max_workers=3) as cluster:
        ray.init(address=cluster.address)   # after ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        ...

The head node advertises 0 CPU / 0 GPU, so every task or actor that asks for CPU or GPU waits until Ray's autoscaler
(the head's ``monitor.py``) launches a worker node of the one worker type, ``{"CPU": 1, "GPU": 1}`` (the GPU is a
logical resource: nothing checks for CUDA). Worker nodes are started by ``FakeMultiNodeProvider`` (provider type
``fake_multinode``, in ``ray/autoscaler/_private/fake_multi_node/node_provider.py``) *inside the monitor process*, as
``ray._private.node.Node(head=False)`` objects: a raylet, a dashboard agent and a runtime-env agent per node, all
children of the monitor. Idle ones are terminated after ``idle_timeout_minutes``.

Why not ``ray.cluster_utils.AutoscalingCluster``: it runs ``ray stop --force`` before starting and on shutdown (which
kills every Ray process of the machine, other tests' too), starts the head with ``ray start --head`` (which records
itself in /tmp/ray/ray_current_cluster for ``address="auto"``), and reads
``ray/autoscaler/_private/fake_multi_node/example.yaml``, which the Ray 2.60 wheel does not ship.

How everything stays on 127.0.0.1: the head process and every process it starts (the monitor, and through it the
worker nodes) run with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``. That makes ``ray_constants.ENABLE_RAY_CLUSTER`` False,
so ``ray._private.services.get_node_ip_address()`` answers 127.0.0.1 instead of the machine's outbound IP: the fake
provider builds its worker ``RayParams`` without ``node_ip_address``, so that is what the workers bind to.

Stopping: the head runs in a new session (``start_new_session=True``). Ray starts its daemons with plain ``Popen``
(no setsid), so they stay in the head's process group, but each raylet puts its worker processes (ray::IDLE, trial
actors) in a process group of their own (same session): killing the head's group alone would miss them. So on exit
we SIGTERM the group, then SIGKILL every process of the head's *session* and every descendant of the head
(``cluster_pids``). If the process that entered the context manager dies without leaving it (SIGKILL, a pytest
timeout), the head notices its parent is gone and does the same. We never run ``ray stop``.

Run ``python tests/fake_cluster.py`` for a smoke test (starts, prints the cluster and its processes, stops). Internal
entry point of this file: ``_head`` (the head process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

WORKER_TYPE = "ray.worker.gpu"
HEAD_TYPE = "ray.head.default"
# ray/autoscaler/_private/fake_multi_node/node_provider.py: FAKE_HEAD_NODE_ID (worker ids count up from it)
FAKE_HEAD_NODE_ID = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"


@dataclasses.dataclass
class FakeCluster:
    address: str  # "127.0.0.1:PORT" (the GCS), what ray.init(address=...) takes
    head_pid: int  # leader of the process group (and session) holding every process of the cluster
    session_dir: str  # the Ray session folder (logs/monitor.* holds the autoscaler's log)
    config_path: str  # the autoscaling config the monitor reads
    log_path: str  # stdout/stderr of the head process
    monitor_pid: int  # the autoscaler process (worker nodes are its children)
    temp_dir: str  # Ray's temp dir for this cluster (sessions, logs, sockets)
    head_start_s: float  # seconds from spawning the head until the autoscaler's first report to the GCS

    def autoscaler_alive(self) -> bool:
        return Path(f"/proc/{self.monitor_pid}").exists()


def cluster_config(gcs_address: str, max_workers: int, idle_timeout_minutes: float,
                   worker_resources: dict, object_store_mb: int) -> dict:
    """The autoscaling config, every key spelled out: the monitor reads this YAML/JSON as is (StandardAutoscaler's
    config_reader does no ``fillout_defaults``), and the defaults file the provider registry points at
    (fake_multi_node/example.yaml) is missing from the wheel. Shaped like Ray's upstream example.yaml."""
    provider = {
        "type": "fake_multinode",
        "gcs_address": gcs_address,  # else the provider uses get_node_ip_address():6379
        "use_node_id_as_ip": True,  # v1: key load metrics by node id, all nodes share 127.0.0.1
        "disable_node_updaters": True,  # no SSH / setup commands
        "disable_launch_config_check": True,
        # without it create_node(count=n) starts ONE node whatever n is (node_provider.py), and the v1 autoscaler
        # needs a second round to queue the rest
        "launch_multiple": True,
        "head_node_id": FAKE_HEAD_NODE_ID,  # the provider's idea of the head; the head really gets this id below
    }
    return {
        "cluster_name": "pointtune-fake",
        "max_workers": max_workers,
        "upscaling_speed": float(max_workers),  # launch what the demand needs at once (v1 caps each round by it)
        "idle_timeout_minutes": idle_timeout_minutes,
        "provider": provider,
        "available_node_types": {
            HEAD_TYPE: {"resources": {"CPU": 0, "GPU": 0}, "node_config": {}, "max_workers": 0},
            WORKER_TYPE: {"resources": {**worker_resources, "object_store_memory": object_store_mb * 2**20},
                          "node_config": {}, "min_workers": 0, "max_workers": max_workers},
        },
        "head_node_type": HEAD_TYPE,
        "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
        "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


def _head_main(work_dir: str, spec_json: str) -> None:
    """Inside the head process (its own session): start the head node on 127.0.0.1 with 0 CPU / 0 GPU, write the
    autoscaling config naming the GCS port that node got, start the monitor, report, then sleep until killed."""
    spec = json.loads(spec_json)
    import ray._private.node
    import ray._private.parameter
    from ray._private import ray_constants
    from ray._private.authentication.authentication_token_setup import ensure_token_if_auth_enabled

    assert not ray_constants.ENABLE_RAY_CLUSTER, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 must be set"
    ensure_token_if_auth_enabled(None, create_token_if_missing=True)  # as ray.init does for a new local instance
    config_path = Path(work_dir) / "autoscaling.json"
    params = ray._private.parameter.RayParams(
        node_ip_address="127.0.0.1", num_cpus=0, num_gpus=0, resources={}, temp_dir=spec["temp_dir"],
        object_store_memory=spec["object_store_mb"] * 2**20, include_dashboard=False, dashboard_port=None,
        min_worker_port=0, max_worker_port=0, gcs_server_port=0,
        no_monitor=True,  # started below, once the GCS port (which goes into the config) is known
        # the head's node id must be the one the provider lists, else v1's LoadMetrics logs "Removed 1 stale ip
        # mappings" every round (use_node_id_as_ip)
        env_vars={"RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID},
    )
    params.dashboard_agent_listen_port = None  # the head's agents: no listen port needed (as tests/blind_node.py)
    node = ray._private.node.Node(params, head=True, shutdown_at_exit=True, spawn_reaper=True)
    config = cluster_config(node.gcs_address, spec["max_workers"], spec["idle_timeout_minutes"],
                            spec["worker_resources"], spec["object_store_mb"])
    config_path.write_text(json.dumps(config, indent=1))
    params.autoscaling_config = str(config_path)
    node.start_monitor()
    monitor = node.all_processes[ray_constants.PROCESS_TYPE_MONITOR][0].process
    _wait_for_autoscaler(node, monitor, time.monotonic() + spec["start_timeout_s"])
    ready = {"address": node.gcs_address, "session_dir": node.get_session_dir_path(),
             "config_path": str(config_path), "monitor_pid": monitor.pid}
    tmp = Path(work_dir) / "ready.json.tmp"
    tmp.write_text(json.dumps(ready))
    tmp.rename(Path(work_dir) / "ready.json")
    print("head up", ready, flush=True)

    def stop(signum, frame):
        node.kill_all_processes(check_alive=False, allow_graceful=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    # watchdog: if whoever started us dies without stopping us (SIGKILL, pytest timeout), take the cluster down
    while os.getppid() == spec["parent_pid"]:
        time.sleep(0.5)
    print("parent gone: stopping the cluster", flush=True)
    for pid in cluster_pids(os.getpid()) - {os.getpid()}:  # by session: raylets put workers in their own pgid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _wait_for_autoscaler(node, monitor: subprocess.Popen, deadline: float) -> None:
    """Until the autoscaler has reported once to the GCS (the ``__autoscaling_status`` internal KV entry that
    ``ray status`` reads), so that a monitor dying at start fails the fixture instead of leaving trials pending
    forever."""
    gcs = node.get_gcs_client()
    while True:
        if monitor.poll() is not None:
            err = Path(node.get_logs_dir_path(), "monitor.err")
            raise RuntimeError(f"the autoscaler (monitor) exited with {monitor.returncode}: "
                               f"{err.read_text()[-3000:] if err.exists() else ''}")
        if gcs.internal_kv_get(b"__autoscaling_status", None):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the autoscaler did not report to the GCS in time")
        time.sleep(0.1)


def _parents() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every live (not zombie) process, from /proc."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
            if fields[0] != "Z":
                out[int(stat.parent.name)] = (int(fields[1]), int(fields[3]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def cluster_pids(head_pid: int) -> set[int]:
    """Every live process of the cluster: the head's session, plus its descendants (should any leave the session)."""
    table = _parents()
    found = {pid for pid, (_, sid) in table.items() if sid == head_pid}
    frontier = [head_pid, *found]
    found.add(head_pid)
    while frontier:
        pid = frontier.pop()
        kids = {p for p, (ppid, _) in table.items() if ppid == pid} - found
        found |= kids
        frontier += kids
    return {p for p in found if p in table}


def alive(pids: set[int] | list[int]) -> list[int]:
    """Those of ``pids`` still running (zombies, killed but not yet reaped by init, do not count)."""
    table = _parents()
    return sorted(p for p in pids if p in table)


def _stop(proc: subprocess.Popen, grace_s: float = 1.0) -> None:
    """SIGTERM the head's process group (the head then stops its node), wait up to ``grace_s``, then SIGKILL whatever
    is left of the head's session and process tree. Only pids found there *at that moment* are signalled (no stale
    list: a pid freed meanwhile could belong to someone else by then). The grace is short on purpose: worker-node
    raylets ignore SIGTERM once the GCS is gone (seen still running 7 s later), and a test cluster has no state to
    save."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end and cluster_pids(proc.pid) - {proc.pid}:
        time.sleep(0.1)
    for pid in cluster_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@contextlib.contextmanager
def fake_autoscaling_cluster(tmp_dir: str | os.PathLike, max_workers: int = 3, idle_timeout_minutes: float = 0.1,
                             worker_resources: dict | None = None, object_store_mb: int = 80,
                             update_interval_s: int = 1,
                             start_timeout_s: float = 60.0, ray_temp_dir: str | None = None,
                             keep_logs: bool = False) -> Iterator[FakeCluster]:
    """Start the head (0 CPU, 0 GPU) and Ray's autoscaler with one worker type (default ``{"CPU": 1, "GPU": 1}``,
    min 0, max ``max_workers``); yield a FakeCluster; stop every process it started, even on error.

    ``idle_timeout_minutes`` may be fractional (0.1 = 6 s). ``update_interval_s`` is the autoscaler's loop period
    (AUTOSCALER_UPDATE_INTERVAL_S, Ray's default 5 s). The autoscaler is Ray's v1 (the default in Ray 2.60).

    Ray's temp dir (sessions, logs, unix sockets) is ``ray_temp_dir``, by default a fresh short folder
    /tmp/ptray-XXXX (not /tmp/ray: no shared ``session_latest`` link; and not under ``tmp_dir``: pytest's tmp paths
    make the unix socket paths longer than the 107 bytes Linux allows). Worker nodes and drivers take it from the
    GCS. That default folder is deleted on a clean exit and kept (logs for debugging) when the body raised or
    ``keep_logs`` is set.
    """
    work = Path(tmp_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    spec = {"max_workers": max_workers, "idle_timeout_minutes": idle_timeout_minutes,
            "worker_resources": worker_resources or {"CPU": 1, "GPU": 1}, "object_store_mb": object_store_mb,
            "parent_pid": os.getpid(), "start_timeout_s": start_timeout_s}
    own_temp = ray_temp_dir is None
    spec["temp_dir"] = ray_temp_dir or tempfile.mkdtemp(prefix="ptray-", dir="/tmp")
    env = {**os.environ,
           "RAY_FAKE_CLUSTER": "1",  # FakeMultiNodeProvider refuses to start without it
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # every Ray process of the cluster: node IP = 127.0.0.1
           "AUTOSCALER_UPDATE_INTERVAL_S": str(update_interval_s),
           "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_enable_autoscaler_v2", None)
    log_path = work / "head.log"
    (work / "ready.json").unlink(missing_ok=True)
    t0 = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_head", str(work), json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=str(work))
    try:
        ready_file = work / "ready.json"
        while not ready_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the fake cluster's head exited ({proc.returncode}): "
                                   f"{log_path.read_text()[-3000:]}")
            if time.monotonic() - t0 > start_timeout_s:
                raise TimeoutError(f"the fake cluster's head did not start in {start_timeout_s} s: "
                                   f"{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        ready = json.loads(ready_file.read_text())
        yield FakeCluster(address=ready["address"], head_pid=proc.pid, session_dir=ready["session_dir"],
                          config_path=ready["config_path"], log_path=str(log_path), monitor_pid=ready["monitor_pid"],
                          temp_dir=spec["temp_dir"], head_start_s=time.monotonic() - t0)
    except BaseException:
        keep_logs = True
        raise
    finally:
        _stop(proc)
        if own_temp and not keep_logs:
            shutil.rmtree(spec["temp_dir"], ignore_errors=True)
        elif own_temp:
            print(f"fake cluster: Ray logs kept in {spec['temp_dir']}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_head":
        _head_main(sys.argv[2], sys.argv[3])
    else:
        with tempfile.TemporaryDirectory(prefix="fakeclu-") as d, fake_autoscaling_cluster(d) as c:
            print(c)
            print("processes:", sorted(cluster_pids(c.head_pid)))
