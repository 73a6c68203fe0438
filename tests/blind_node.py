"""A Ray worker node for tests, run inside its own mount namespace (see ``test_cluster.blind_worker``).

Usage: ``python blind_node.py GCS_ADDRESS``. It starts a raylet on 127.0.0.1 with one CPU, joined to the cluster at
GCS_ADDRESS, and waits until it is killed (its raylet goes with it). Started like ``ray.cluster_utils.Cluster`` starts
its nodes, because ``ray start --address 127.0.0.1:PORT`` replaces 127.0.0.1 with the machine's address.
"""

from __future__ import annotations

import os
import sys
import time

import ray._private.node
import ray._private.parameter


def main(gcs_address: str) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    params = ray._private.parameter.RayParams(
        node_ip_address="127.0.0.1", gcs_address=gcs_address, num_cpus=1, num_gpus=0,
        object_store_memory=150 * 2**20, min_worker_port=0, max_worker_port=0, include_log_monitor=False,
        node_manager_port=0)
    params.dashboard_agent_listen_port = None
    ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    print("joined", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
