"""A real two-node Ray cluster on 127.0.0.1 (one CPU and one logical GPU per node) running pointtune searches."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import start_search, stop_group, waiting_for_a_second_trial
from search.cli import main
from search.results import load_experiment

pytestmark = pytest.mark.slow

SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--density-range", "0.01", "0.1", "--cpus-per-trial", "1",
          "--gpus-per-trial", "0.5"]


@pytest.fixture
def two_nodes():
    """Head and worker node, each declaring 1 CPU and 1 GPU; every process is stopped even if the test fails."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "num_gpus": 1, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        worker = cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster, worker
    finally:
        cluster.shutdown()


@pytest.fixture
def blind_worker(tmp_path: Path):
    """A head node and a worker node that cannot see ``tmp_path/storage``: the worker runs in its own mount
    namespace with an empty tmpfs over that folder, as a node without the NFS mount would. Yields the cluster and
    the folder; every process is stopped even if the test fails."""
    from ray.cluster_utils import Cluster

    hide = ["unshare", "--mount", "--propagation", "private"]
    if shutil.which("unshare") is None or subprocess.run([*hide, "true"], capture_output=True).returncode != 0:
        pytest.skip("hiding a folder from one node needs `unshare --mount`, which needs root (CAP_SYS_ADMIN) here")
    storage = tmp_path / "storage"
    storage.mkdir()
    log = tmp_path / "blind_node.log"
    cluster = node = None
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                                "include_dashboard": False})
        with log.open("w") as out:
            node = subprocess.Popen([*hide, "sh", "-c", 'mount -t tmpfs none "$1" && exec "$2" "$3" "$4"', "sh",
                                     str(storage), sys.executable, str(Path(__file__).with_name("blind_node.py")),
                                     cluster.address], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 60
        while sum(n["Alive"] for n in cluster.global_state.node_table()) < 2:
            assert node.poll() is None and time.monotonic() < end, f"the blind node did not join: {log.read_text()}"
            time.sleep(0.2)
        yield cluster, storage
    finally:
        if node is not None:
            stop_group(node)
        if cluster is not None:
            cluster.shutdown()


def test_storage_a_node_cannot_see_is_refused_before_any_trial(blind_worker, demo_dir: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    import ray

    from search.cluster import check_shared_storage

    cluster, storage = blind_worker
    try:
        assert main(["run", "--address", cluster.address, "--data", str(demo_dir), "--backbone", "tiny",
                     "--tile-size", "32", "--density-range", "0.01", "0.1", "--storage", str(storage),
                     "--name", "blind"]) == 2
        check_shared_storage(str(storage.parent / "seen_by_both"))  # the same cluster, a folder both nodes see
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert f"--storage {storage} is not shared: node(s) 127.0.0.1 (node " in err and "cannot see it" in err
    assert err.count("(node ") == 1, "only the worker node is blind"
    assert "NFS" in err and "s3://" in err
    assert not list(storage.rglob("trial_*")) and not list(storage.rglob(".pointtune-shared-check-*"))


def _reports(experiment: Path) -> dict[str, list[dict]]:
    out = {}
    for f in experiment.glob("trial_*/result.json"):
        lines = [ln for ln in f.read_text().splitlines() if ln.strip()]
        out[f.parent.name] = [json.loads(ln) for ln in lines]
    return out


def test_search_runs_trials_on_both_nodes(two_nodes, demo_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    import search.launch

    cluster, _ = two_nodes
    # one 1-CPU trial fits on each node: two trials at once must use both (a short trial could otherwise finish
    # before the second node's worker is up, and Tune would reuse the first worker for every trial)
    monkeypatch.setattr(search.launch, "tune_entrypoint", waiting_for_a_second_trial(tmp_path / "started"))
    (tmp_path / "started").mkdir()
    try:
        assert main(["run", "--address", cluster.address, "--data", str(demo_dir), *SEARCH, "--max-concurrent", "2",
                     "--trials", "4", "--epochs-range", "2", "2", "--storage", str(tmp_path), "--name", "multi"]) == 0
    finally:
        ray.shutdown()
    records = load_experiment(str(tmp_path / "multi"))
    assert len(records) == 4 and all(r.status == "finished" for r in records)
    assert all(r.history["epoch"].tolist() == [1, 2] and r.history["val_f1"].notna().all() for r in records)
    nodes = {n for r in records for n in r.history["node_id"]}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s), expected both"


def test_a_killed_worker_nodes_trial_resumes_from_its_checkpoint(two_nodes, demo_dir: Path, tmp_path: Path) -> None:
    cluster, worker = two_nodes
    experiment, log = tmp_path / "kill", tmp_path / "driver.log"
    proc = start_search(["--address", cluster.address, "--data", str(demo_dir), *SEARCH, "--crops-per-epoch", "1200",
                         "--resume-every", "1",
                    "--trials", "3", "--epochs-range", "3", "3", "--max-failures", "2", "--storage", str(tmp_path),
                    "--name", "kill"], log)
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
    assert len(records) == 3 and all(r.status == "finished" for r in records), [r.status for r in records]
    reports = _reports(experiment)[f"trial_{victim}"]
    assert [r["epoch"] for r in reports] == [1, 2, 3], "the retried trial restarted instead of resuming"
    assert reports[0]["node_id"] == worker.node_id and reports[-1]["node_id"] != worker.node_id


def test_resources_no_node_has_are_refused_before_any_trial(two_nodes, demo_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    import ray

    cluster, _ = two_nodes
    try:
        # --gpus-per-trial auto: the nodes have GPUs, so a trial asks for one
        for flags, message in ((["--cpus-per-trial", "2"], "no node can run a trial needing 2 CPU and 1 GPU"),
                               (["--gpus-per-trial", "2"], "needing 1 CPU and 2 GPU")):
            assert main(["run", "--address", cluster.address, "--data", str(demo_dir), "--backbone", "tiny",
                         "--tile-size", "32", "--density-range", "0.01", "0.1", *flags,
                         "--storage", str(tmp_path)]) == 2
            err = capsys.readouterr().err
            assert message in err and "nodes: 1 CPU/1 GPU, 1 CPU/1 GPU" in err
        assert not list(tmp_path.glob("*/trial_*")), "no trial may start"
    finally:
        ray.shutdown()

