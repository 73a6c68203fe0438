"""A real `pointtune run` whose driver is killed (SIGKILL, the driver process alone): within seconds no process of its
local Ray instance is left (``search/launch/ray_watchdog.py``), and the trial it was running reads interrupted, not
running (``search/results/driver.py``)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from helpers import start_search, stop_group
from search.results.experiment import load_experiment, read_experiment_state

pytestmark = pytest.mark.slow

SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "160", "--trials", "2",
          "--epochs-range", "4", "4", "--max-concurrent", "1", "--density-range", "0.01", "0.1"]
WITHIN_S = 10.0


def _session_processes(sid: int) -> dict[int, str]:
    """pid -> command of the live processes of the session ``sid`` (the driver's own: Ray's daemons, agents and
    workers inherit it; zombies, dead already, left out)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] not in "ZX":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


def _running_in_the_snapshot(experiment: Path) -> bool:
    """Tune's newest snapshot shows a trial running that has reported an epoch."""
    try:
        state = json.loads(sorted(experiment.glob("experiment_state-*.json"))[-1].read_text())
        trials = [(json.loads(t), json.loads(r)) for t, r in state["trial_data"]]
    except (IndexError, ValueError, OSError):  # not there yet, or being written
        return False
    return any(t["status"] == "RUNNING" and (r.get("last_result") or {}).get("epoch", 0) >= 1 for t, r in trials)


def test_no_ray_process_outlives_a_killed_driver_and_its_running_trial_reads_interrupted(
        demo_dir: Path, tmp_path: Path) -> None:
    log, experiment = tmp_path / "driver.log", tmp_path / "killed"
    proc = start_search(["--data", str(demo_dir), *SEARCH, "--storage", str(tmp_path), "--name", "killed"], log,
                        env={"TUNE_GLOBAL_CHECKPOINT_S": "0"})  # Tune's snapshot of the experiment at every step
    try:
        end = time.monotonic() + 240
        while not _running_in_the_snapshot(experiment):
            assert proc.poll() is None and time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.05)
        before = _session_processes(proc.pid)
        assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= set(before.values()), before
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone: its group would take Ray's processes with it
        assert proc.wait(30) == -9
        killed, left = time.monotonic(), _session_processes(proc.pid)
        while left and time.monotonic() - killed < WITHIN_S:
            time.sleep(0.1)
            left = _session_processes(proc.pid)
        print(f"Ray's processes gone {time.monotonic() - killed:.2f} s after the driver was killed")
        assert not left, f"alive {WITHIN_S:g} s after the driver was killed: {left}"
    finally:
        stop_group(proc)
    tune = {tid: status for tid, status, *_ in read_experiment_state(str(experiment))}
    records = {r.trial_id: r for r in load_experiment(str(experiment))}
    assert "RUNNING" in tune.values(), "Tune's state shows a trial running: the case this test is about"
    for tid, status in tune.items():
        if status == "RUNNING":
            expected = "finished" if len(records[tid].history) == 4 else "interrupted"
            assert records[tid].status == expected, (tid, records[tid].status)
    assert not {"running", "pending"} & {r.status for r in records.values()}
