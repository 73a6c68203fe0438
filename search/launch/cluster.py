"""The Ray cluster a search runs on: starting or joining it, what it has, and the checks before any trial (one of the
four modules that import Ray, ``tests/test_ray_modules.py``).

A search runs on what is up *and* on what the cluster's autoscaler can start: the resource check accepts a trial
that a launchable worker type fits even when no worker is up, and the concurrency it allows counts those types, so
the autoscaler sees the search's demand and starts workers (and lets them go when they are idle). With worker types
that come and go, ``--storage`` must be one that every node will see.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from search.errors import SearchError, sigterm_as_ctrl_c
from search.launch.ray_watchdog import start_watchdog
from trainable.data.storage import is_uri

log = logging.getLogger(__name__)
SHARED_CHECK_TIMEOUT_S = 120  # seconds the nodes get, together, to look for the storage marker
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "ceph", "glusterfs", "beegfs", "fuse.")
# Ray lowers its workers' CPU priority by 15 (niceness, Ray's worker_niceness) to keep its own daemons responsive: a
# trial then gives way to every ordinary process of the machine, Ray's daemons and another search's driver included.
# Beside a second search a trial's epochs took 6x as long while `pointtune train` barely slowed (benchmarks/
# tune_overhead.py --beside). A local instance runs trials at the priority of the command that started the search,
# as `train` runs; a cluster's nodes keep what `ray start` gave them.
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}
_WATCHDOGS: list[Any] = []  # the watchdogs of the local instances this process started (search/launch/ray_watchdog.py)


def _loopback_only() -> None:
    """Keep Ray on the loopback address: ray.init maps 127.0.0.1 (as a node IP or in an address) to the machine's
    outbound IP, unless clustering is off (Ray's own setting on macOS/Windows)."""
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _check_reachable(address: str) -> None:
    """Fail in seconds, not retry forever, when ``--address HOST:PORT`` has no Ray cluster behind it."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise SearchError(f"cannot reach a Ray cluster at --address {address} ({e}): start one (`ray start --head`, "
                          "`ray up cluster.yaml`), fix the address, or leave --address out for a local instance"
                          ) from None


def tune_environment() -> None:
    """The settings Ray and Tune read from the environment, as every search sets them (unless already set)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Tune warns about its own experiment-state snapshots when short trials checkpoint often: nothing to act on
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's output engine prints its "Configuration for experiment" box, "View detailed results here" and a
    # TensorBoard hint into Ray's temporary folder even at verbose=0; its older engine is silent at verbose=0 (Tune's
    # errors and warnings are log records, and still show). pointtune prints its own (search/launch/live_view.py). The
    # newer engine also works out a resource summary on every step of Tune's loop, ten times a second, for nothing.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ray wraps its workers' "(pid=...)" prefixes in colour codes even when the output is a file or a pipe
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def start_ray(address: str | None) -> None:
    """Join ``address`` (auto or HOST:PORT), or start a fresh local instance.

    A bare ``ray.init()`` would join whatever cluster this machine started last, even a dead one, so a local
    search always asks for a new instance: loopback only, no dashboard, Ray's token authentication left on
    (its default for a new local instance; the token lives in ``~/.ray/auth_token``).
    Its processes die with this process, however it ends (a watchdog: ``search/launch/ray_watchdog.py``).
    """
    tune_environment()
    if address:
        _check_reachable(address)  # said even where this process is connected already (a library call, a test)
    if ray.is_initialized():
        return
    # Ray's INFO records in the driver ("Started a local Ray instance", "Wrote the latest version of all result
    # files ...") say nothing to act on; its warnings and errors still show, and -v (debug) brings the rest back
    level = logging.INFO if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.WARNING
    if address:
        if address.rpartition(":")[0] in ("127.0.0.1", "localhost", "::1"):
            _loopback_only()
        try:
            ray.init(address=address, log_to_driver=True, logging_level=level)
        except ConnectionError as e:
            raise SearchError(f"cannot join the Ray cluster at --address {address}: {e}") from None
    else:
        _loopback_only()
        # Ray warns that it turned token authentication on for the new local instance: its default, and pointtune's
        # choice (above), not something to act on. (Setting RAY_AUTH_MODE=token would also keep it quiet, but Ray
        # reads that setting when it is imported.) Other warnings of ray.init still show.
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        before = notice.level
        notice.setLevel(logging.ERROR)
        try:
            ray.init(address="local", include_dashboard=False, log_to_driver=True, logging_level=level,
                     _system_config=LOCAL_SYSTEM_CONFIG)
        finally:
            notice.setLevel(before)
        _watch_local_instance()
    sigterm_as_ctrl_c()  # ray.init put in its handler, which exits at once, unsaved, with a traceback


def _watch_local_instance() -> None:
    """The local instance's processes die with this driver, even a SIGKILLed one (``search/launch/ray_watchdog.py``;
    without it Ray's agents outlived a killed driver by a minute)."""
    try:
        watchdog = start_watchdog(ray._private.worker.global_worker.node.get_session_dir_path(),
                                  os.path.dirname(os.path.abspath(ray.__file__)))
    except (OSError, AttributeError) as e:  # no watchdog: Ray's processes end by themselves, only later
        log.debug("no watchdog for the local Ray instance: %s", e)
        return
    if watchdog is not None:
        _WATCHDOGS.append(watchdog)  # its pipe must stay open while this process lives


def cluster_resources() -> dict[str, float]:
    """What the live nodes have together (``{"CPU": 8.0, "GPU": 1.0, ...}``)."""
    return ray.cluster_resources()


@dataclass(frozen=True)
class NodeType:
    """A worker type the autoscaler can launch."""

    name: str
    resources: dict[str, float]
    max_workers: int


def _read_autoscaling_config_on_head(gcs_port: str) -> dict[str, Any] | None:
    """Runs on the head node: the autoscaling config of the autoscaler (``monitor.py``) serving the GCS on
    ``gcs_port``, or None when that autoscaler has none (a plain ``ray start``: nothing to launch)."""
    import yaml

    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if not any(a.endswith("monitor.py") and "autoscaler" in a for a in args):
            continue
        opts = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        if opts.get("gcs-address", "").rpartition(":")[2] != gcs_port:
            continue
        config = opts.get("autoscaling-config")
        if not config:
            return None
        config = os.path.expanduser(config)
        if not os.path.isabs(config):
            config = os.path.join(os.readlink(os.path.join(os.path.dirname(cmdline), "cwd")), config)
        try:
            text = Path(config).read_text()
        except OSError:
            return None
        return json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    return None


def launchable_node_types() -> list[NodeType]:
    """The worker types the cluster's autoscaler can launch (empty without an autoscaler), even with none up.

    Ray 2.60 has no driver-side API for the configured types (``get_cluster_config()`` is only filled when an
    autoscaler reports it, which neither v1 nor v2 does in 2.60), so this asks the GCS first, then reads the config
    the head's autoscaler was started with (``ray up`` gives it ``~/ray_bootstrap_config.yaml``), through a 0-CPU
    task on the head that finds the autoscaler in ``/proc``.
    """
    try:
        config = ray._private.state.state.get_cluster_config()
    except Exception:  # noqa: BLE001  absent or different in other Ray versions
        config = None
    if config is not None and config.node_group_configs:
        return [NodeType(g.name, {k: float(v) for k, v in g.resources.items()},
                         int(g.max_count) if g.max_count >= 0 else 10**6)
                for g in config.node_group_configs if g.max_count != 0]
    port = ray._private.worker.global_worker.node.gcs_address.rpartition(":")[2]
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the head may not have pointtune installed
    reader = ray.remote(num_cpus=0, resources={"node:__internal_head__": 0.001}, max_retries=0)(
        _read_autoscaling_config_on_head)
    try:
        found = ray.get(reader.remote(port), timeout=60)
    except Exception:  # noqa: BLE001  no /proc on the head (macOS), or the task failed: nothing known to launch
        found = None
    if not found:
        return []
    cap, head = found.get("max_workers"), found.get("head_node_type")
    types = []
    for name, spec in (found.get("available_node_types") or {}).items():
        top = min(v for v in (spec.get("max_workers"), cap) if v is not None) if (spec.get("max_workers"), cap) != (
            None, None) else 0
        if name != head and top:
            types.append(NodeType(name, {k: float(v) for k, v in (spec.get("resources") or {}).items()}, int(top)))
    return types


def _per_node(resources: dict[str, float], cpu: float, gpu: float) -> int:
    """Trials of ``cpu`` CPUs and ``gpu`` GPUs that fit on a node with ``resources`` at once."""
    by_cpu = math.floor(resources.get("CPU", 0) / cpu + 1e-9)
    return min(by_cpu, math.floor(resources.get("GPU", 0) / gpu + 1e-9)) if gpu else by_cpu


def check_resources(cpu: float, gpu: float, node_types: list[NodeType]) -> int:
    """Refuse trials that neither a live node nor a launchable worker type can host; return how many can run at once
    (live nodes plus every worker the autoscaler may start: the search's demand is what makes it start them).

    Raises:
        SearchError: with what the nodes and types have and what to ask for instead.
    """
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    live = sum(_per_node(n, cpu, gpu) for n in nodes)
    launchable = sum(t.max_workers * _per_node(t.resources, cpu, gpu) for t in node_types)
    if not live + launchable:
        have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes)
        can = ", ".join(f"{t.name}: {t.resources.get('CPU', 0):g} CPU/{t.resources.get('GPU', 0):g} GPU"
                        for t in node_types)
        any_gpu = any(n.get("GPU") for n in nodes) or any(t.resources.get("GPU") for t in node_types)
        hint = ("lower --gpus-per-trial to 0 (CPU) or add GPU nodes" if gpu and not any_gpu
                else "lower --cpus-per-trial / --gpus-per-trial")
        raise SearchError(f"no node can run a trial needing {cpu:g} CPU and {gpu:g} GPU (nodes: {have}"
                          + (f"; worker types the autoscaler can start: {can}" if node_types else "") + f"); {hint}")
    return max(1, live + launchable)


def _network_filesystem(path: str) -> str | None:
    """The type of the network filesystem ``path`` lives on (nfs4, lustre, ...), or None for a local disk."""
    try:
        mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return None
    target = str(Path(path).resolve())
    best = max((m for m in mounts if len(m) > 2 and (target + "/").startswith(m[1].rstrip("/") + "/")),
               key=lambda m: len(m[1]), default=None)
    return best[2] if best and best[2].startswith(NETWORK_FILESYSTEMS) else None


def check_storage_for_autoscaling(path: str, node_types: list[NodeType]) -> None:
    """Workers the autoscaler starts later write their results to ``--storage`` too: it must be a URI or a folder
    every node mounts.

    Raises:
        SearchError: a local folder on a cluster that launches workers.
    """
    if not node_types or is_uri(path) or _network_filesystem(path):
        return
    raise SearchError(
        f"--storage {path} is a folder on this machine's own disk, but the cluster's autoscaler starts worker nodes "
        f"({', '.join(t.name for t in node_types)}) that would write their results elsewhere: use a URI every node "
        "reaches (s3://BUCKET/pointtune, gs://..., or file:///mnt/shared/... on a mount every node has)")


def _nodes_that_cannot_see(path: str) -> tuple[list[str], list[str]]:
    """The live nodes on which ``path`` does not exist, and those that did not answer in time."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]

    @ray.remote(num_cpus=0)
    def sees(p: str) -> bool:
        return os.path.exists(p)

    asked = {sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
        path): f"{n['NodeManagerAddress']} (node {n['NodeID'][:8]})" for n in nodes}
    answered, silent = ray.wait(list(asked), num_returns=len(asked), timeout=SHARED_CHECK_TIMEOUT_S)
    blind = []
    for ref in answered:
        try:
            if not ray.get(ref):
                blind.append(asked[ref])
        except ray.exceptions.RayError:  # the node died or cannot run the task
            silent.append(ref)
    for ref in silent:
        ray.cancel(ref, force=True)
    return blind, [asked[ref] for ref in silent]


def check_shared_storage(path: str) -> None:
    """On more than one node, every node must see the storage folder (NFS) unless it is a URI (s3://, gs://).

    Raises:
        SearchError: a node cannot see a marker file written by the driver.
    """
    if len([n for n in ray.nodes() if n.get("Alive")]) < 2 or is_uri(path):
        return
    marker = Path(path) / f".pointtune-shared-check-{uuid.uuid4().hex}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    try:
        blind, silent = _nodes_that_cannot_see(str(marker))
    finally:
        marker.unlink(missing_ok=True)
    if silent:
        raise SearchError(f"node(s) {', '.join(silent)} did not answer within {SHARED_CHECK_TIMEOUT_S} s whether "
                          f"they see --storage {path}; check `ray status`")
    if blind:
        raise SearchError(f"--storage {path} is not shared: node(s) {', '.join(blind)} cannot see it. On a cluster "
                          "use a folder every node mounts (NFS) or a URI such as s3://BUCKET/pointtune or gs://...")


def check_shared_data(root: str, sample: str) -> None:
    """On more than one node, trials read the data files themselves: every live node must see them (the first
    image, ``sample``, stands for all). Nodes the autoscaler starts later are checked by their first trial.

    Raises:
        SearchError: a node cannot see the data.
    """
    if len([n for n in ray.nodes() if n.get("Alive")]) < 2 or is_uri(sample):
        return
    blind, silent = _nodes_that_cannot_see(sample)
    if blind or silent:
        raise SearchError(f"--data {root} is not on every node: node(s) {', '.join(blind + silent)} cannot see "
                          f"{sample}. Trials read the data where they run: mount it at the same path on every node "
                          "(NFS, or cluster.yaml's file_mounts), or use a URI such as s3://BUCKET/data")
