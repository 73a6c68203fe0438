"""A real two-node Ray cluster on 127.0.0.1 (one CPU and one logical GPU per node) running pointtune searches.

One cluster serves the module (a Ray start-up costs seconds on 2 cores): ``two_nodes`` gives each test its head and
one live worker, replacing a worker that an earlier test killed; the killed-worker test runs last of those anyway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import start_search, stop_group, waiting_for_a_second_trial
from search.cli.main import main
from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow

SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--density-range", "0.01", "0.1", "--cpus-per-trial", "1",
          "--gpus-per-trial", "0.5"]
NODE = {"num_cpus": 1, "num_gpus": 1, "node_ip_address": "127.0.0.1"}
# the GCS checks each node every second and calls it dead after 3 failed checks (Ray's defaults: 3 s and 5), so a
# killed node is noticed in ~4 s rather than ~15 s; a live node still has 10 s to answer each check
HEALTH_CHECKS = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


@pytest.fixture(scope="module")
def cluster():
    """Head and worker node, each declaring 1 CPU and 1 GPU, shared by the module's tests (``two_nodes`` gives
    each test both nodes alive); every process is stopped even if a test fails."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False,
                                                            "_system_config": HEALTH_CHECKS})
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def _live_nodes(cluster) -> int:
    return sum(n["Alive"] for n in cluster.global_state.node_table())


@pytest.fixture
def two_nodes(cluster, own_cluster):
    """The module's cluster with exactly its head and one worker alive: a worker node that an earlier test killed is
    replaced, and a node an earlier test added is gone, before the test starts. Yields the cluster and the worker."""
    if not cluster.worker_nodes:
        cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    end = time.monotonic() + 60
    while _live_nodes(cluster) != 2:  # the GCS marks a killed node dead after its failed health checks
        assert time.monotonic() < end, cluster.global_state.node_table()
        time.sleep(0.2)
    (worker,) = cluster.worker_nodes
    yield cluster, worker


@pytest.fixture
def blind_worker(cluster, own_cluster, tmp_path: Path):
    """The module's cluster and one more worker node that cannot see ``tmp_path/storage``: it runs in its own mount
    namespace with an empty tmpfs over that folder, as a node without the NFS mount would. Yields the cluster and
    the folder; the node is stopped even if the test fails."""
    hide = ["unshare", "--mount", "--propagation", "private"]
    if shutil.which("unshare") is None or subprocess.run([*hide, "true"], capture_output=True).returncode != 0:
        pytest.skip("hiding a folder from one node needs `unshare --mount`, which needs root (CAP_SYS_ADMIN) here")
    storage = tmp_path / "storage"
    storage.mkdir()
    log = tmp_path / "blind_node.log"
    before = _live_nodes(cluster)
    node = None
    try:
        with log.open("w") as out:
            blind_node = Path(__file__).resolve().parents[2] / "blind_node.py"
            node = subprocess.Popen([*hide, "sh", "-c", 'mount -t tmpfs none "$1" && exec "$2" "$3" "$4"', "sh",
                                     str(storage), sys.executable, str(blind_node),
                                     cluster.address], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 60
        while _live_nodes(cluster) <= before:
            assert node.poll() is None and time.monotonic() < end, f"the blind node did not join: {log.read_text()}"
            time.sleep(0.2)
        yield cluster, storage
    finally:
        if node is not None:
            stop_group(node)


def _reports(experiment: Path) -> dict[str, list[dict]]:
    out = {}
    for f in experiment.glob("trial_*/result.json"):
        lines = [ln for ln in f.read_text().splitlines() if ln.strip()]
        out[f.parent.name] = [json.loads(ln) for ln in lines]
    return out


def test_search_runs_trials_on_both_nodes(two_nodes, demo_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import search.launch.tuner

    cluster, _ = two_nodes
    # one 1-CPU trial fits on each node: two trials at once must use both (a short trial could otherwise finish
    # before the second node's worker is up, and Tune would reuse the first worker for every trial)
    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", waiting_for_a_second_trial(tmp_path / "started"))
    (tmp_path / "started").mkdir()
    assert main(["run", "--address", cluster.address, "--data", str(demo_dir), *SEARCH, "--max-concurrent", "2",
                 "--trials", "4", "--epochs-range", "2", "2", "--storage", str(tmp_path), "--name", "multi"]) == 0
    records = load_experiment(str(tmp_path / "multi"))
    assert len(records) == 4 and all(r.status == "finished" for r in records)
    assert all(r.history["epoch"].tolist() == [1, 2] and r.history["val_f1"].notna().all() for r in records)
    nodes = {n for r in records for n in r.history["node_id"]}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s), expected both"


def test_resources_no_node_has_are_refused_before_any_trial(two_nodes, demo_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    cluster, _ = two_nodes
    # --gpus-per-trial auto: the nodes have GPUs, so a trial asks for one
    for flags, message in ((["--cpus-per-trial", "2"], "no node can run a trial needing 2 CPU and 1 GPU"),
                           (["--gpus-per-trial", "2"], "needing 1 CPU and 2 GPU")):
        assert main(["run", "--address", cluster.address, "--data", str(demo_dir), "--backbone", "tiny",
                     "--tile-size", "32", "--density-range", "0.01", "0.1", *flags,
                     "--storage", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert message in err and "nodes: 1 CPU/1 GPU, 1 CPU/1 GPU" in err
    assert not list(tmp_path.glob("*/trial_*")), "no trial may start"


def test_a_killed_worker_nodes_trial_resumes_from_its_checkpoint(two_nodes, demo_dir: Path, tmp_path: Path) -> None:
    cluster, worker = two_nodes
    experiment, log = tmp_path / "kill", tmp_path / "driver.log"
    # two trials, one per node: the one on the worker node is killed in its second epoch and goes on on the head
    proc = start_search(["--address", cluster.address, "--data", str(demo_dir), *SEARCH, "--crops-per-epoch", "1200",
                         "--resume-every", "1", "--trials", "2", "--epochs-range", "3", "3", "--max-failures", "2",
                         "--storage", str(tmp_path), "--name", "kill"], log)
    try:
        victim, end = None, time.monotonic() + 300
        while victim is None and time.monotonic() < end:
            for line in log.read_text().splitlines():  # the driver's progress lines name the node of each report
                if "] epoch 1/3" in line and f"/{worker.node_id[:8]}" in line:
                    victim = line[1:9]  # it finished epoch 1 on the worker node and now trains epoch 2 there
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
        assert victim, "no trial ran on the worker node"
        cluster.remove_node(worker, allow_graceful=False)
        assert proc.wait(400) == 0, log.read_text()[-3000:]
    finally:
        stop_group(proc)
    records = load_experiment(str(experiment))
    assert len(records) == 2 and all(r.status == "finished" for r in records), [r.status for r in records]
    reports = _reports(experiment)[f"trial_{victim}"]
    assert [r["epoch"] for r in reports] == [1, 2, 3], "the retried trial restarted instead of resuming"
    assert reports[0]["node_id"] == worker.node_id and reports[-1]["node_id"] != worker.node_id


def test_storage_a_node_cannot_see_is_refused_before_any_trial(blind_worker, demo_dir: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    from search.launch.cluster import check_shared_storage

    cluster, storage = blind_worker
    assert main(["run", "--address", cluster.address, "--data", str(demo_dir), "--backbone", "tiny",
                 "--tile-size", "32", "--density-range", "0.01", "0.1", "--storage", str(storage),
                 "--name", "blind"]) == 2
    check_shared_storage(str(storage.parent / "seen_by_all"))  # the same cluster, a folder every node sees
    err = capsys.readouterr().err
    assert f"--storage {storage} is not shared: node(s) 127.0.0.1 (node " in err and "cannot see it" in err
    assert err.count("(node ") == 1, "only the blind node is named"
    assert "NFS" in err and "s3://" in err
    assert not list(storage.rglob("trial_*")) and not list(storage.rglob(".pointtune-shared-check-*"))
