"""The documented GPU-cluster flow on a real autoscaling cluster: Ray's fake multi-node provider on 127.0.0.1, a head
that advertises 0 CPUs and a worker type of 1 CPU + 1 GPU with min_workers 0 (shaped like cluster.yaml)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fake_cluster import FAKE_HEAD_NODE_ID, cluster_pids, fake_autoscaling_cluster

from helpers import _descendants, _is_loopback, _listening, _socket_inodes, waiting_for_a_second_trial
from search.cli.main import main
from search.results.experiment import load_experiment

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="the socket audit reads /proc/net/tcp")]

SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32", "--density-range", "0.01", "0.1",
          "--epochs-range", "2", "2", "--trials", "4", "--gpus-per-trial", "0.5"]


class SocketAudit(threading.Thread):
    """Every listening TCP socket of the cluster's processes and of this driver's, sampled until stopped."""

    def __init__(self, head_pid: int):
        super().__init__(daemon=True)
        self.head_pid, self.seen, self.done = head_pid, set(), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            listening = _listening()
            for pid in cluster_pids(self.head_pid) | _descendants(os.getpid()):
                self.seen |= {listening[i] for i in _socket_inodes(pid) if i in listening}
            time.sleep(0.2)


def test_a_search_starts_its_workers_runs_and_lets_them_go(own_cluster, demo_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    import search.launch.tuner

    # trials of a second are over before a second worker node is up, and Tune reuses the first node's worker for
    # every trial: trials wait until two have started (a rendezvous, capped at 120 s) so that the test asks whether
    # the search gets its nodes, not how fast the autoscaler starts them
    (tmp_path / "started").mkdir()
    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", waiting_for_a_second_trial(tmp_path / "started"))
    with fake_autoscaling_cluster(tmp_path / "cluster", max_workers=3, idle_timeout_minutes=0.1) as cluster:
        audit = SocketAudit(cluster.head_pid)
        audit.start()
        try:
            # no worker is up: the check counts the worker type the autoscaler can start; a local --storage that
            # autoscaled workers could not see is refused with the reason
            assert main(["run", "--address", cluster.address, "--data", str(demo_dir), *SEARCH,
                         "--storage", str(tmp_path / "local"), "--name", "refused"]) == 2
            err = capsys.readouterr().err
            assert "is a folder on this machine's own disk" in err and "ray.worker.gpu" in err and "s3://" in err
            uri = f"file://{tmp_path / 'bucket'}"
            assert main(["run", "--address", cluster.address, "--data", str(demo_dir), *SEARCH,
                         "--storage", uri, "--name", "auto"]) == 0
            printed = capsys.readouterr().out
            assert "can start up to 3 x ray.worker.gpu (1 CPU/1 GPU)" in printed and "up to 3 at once" in printed
            records = load_experiment(f"{uri}/auto")
            assert len(records) == 4 and all(r.status == "finished" for r in records)
            nodes = {n for r in records for n in r.history["node_id"]}
            assert FAKE_HEAD_NODE_ID not in nodes and len(nodes) >= 2, f"trials ran on {len(nodes)} worker node(s)"
            end = time.monotonic() + 90  # idle workers go after idle_timeout_minutes (6 s here)
            while any(n["Alive"] and n["NodeID"] != FAKE_HEAD_NODE_ID for n in ray.nodes()):
                assert time.monotonic() < end, "the autoscaled workers did not scale down after the search"
                time.sleep(0.5)
        finally:
            audit.done.set()
            audit.join(5)
            ray.shutdown()  # before the cluster goes (own_cluster shuts down after the test, too late for that)
    assert len(audit.seen) >= 5, f"expected Ray's processes to listen: {audit.seen}"
    exposed = sorted(a for a in audit.seen if not _is_loopback(a))
    assert not exposed, f"cluster processes listened beyond loopback: {exposed}"
