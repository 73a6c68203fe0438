"""A search's statuses tell the truth about its driver: what Tune's state still shows running reads interrupted (or
finished, with every planned epoch) once no live driver runs the search (``search/results/driver.py``); no Ray."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli.main import main
from search.results.driver import (
    DRIVER_FILE,
    driver_alive,
    driver_running,
    finished_budget,
    process_alive,
    record_finished,
)
from search.results.experiment import load_experiment
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

EPOCHS = 3


def _config(density: float) -> dict:
    return TrialConfig(data=DataConfig(root="/nowhere", format="demo", tile_size=32),
                       points=PointConfig(mode="density", density=density),
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(lr=3e-3, epochs=EPOCHS)).to_dict()


def _experiment(path: Path, trials: dict[str, tuple[str, int]]) -> Path:
    """A search folder as Tune leaves it (its state file, each trial's result.json): trial id -> (Tune's status,
    epochs reported)."""
    path.mkdir(parents=True)
    data = []
    for k, (tid, (status, epochs)) in enumerate(trials.items()):
        trial = path / f"trial_{tid}"
        trial.mkdir()
        rows = [{"epoch": e, "val_f1": 0.1 * e + 0.01 * k, "best_val_f1": 0.1 * e + 0.01 * k, "time_total_s": e}
                for e in range(1, epochs + 1)]
        (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        data.append([json.dumps({"trial_id": tid, "status": status, "config": _config(0.01 * (k + 1)),
                                 "relative_logdir": trial.name}), "{}"])
    (path / "experiment_state-2026.json").write_text(json.dumps({"trial_data": data}))
    return path


TRIALS = {"done": ("TERMINATED", EPOCHS), "all_epochs": ("RUNNING", EPOCHS), "midway": ("RUNNING", 1),
          "waiting": ("PENDING", 0), "paused": ("PAUSED", 2)}


def _statuses(path: Path) -> dict[str, str]:
    return {r.trial_id: r.status for r in load_experiment(str(path))}


def test_without_a_live_driver_what_tune_shows_running_is_interrupted_or_finished(tmp_path: Path) -> None:
    exp = _experiment(tmp_path / "exp", TRIALS)
    live = {"done": "finished", "all_epochs": "running", "midway": "running", "waiting": "pending",
            "paused": "paused"}
    stopped = {"done": "finished", "all_epochs": "finished", "midway": "interrupted", "waiting": "interrupted",
               "paused": "interrupted"}
    assert _statuses(exp) == stopped, "no driver record: nothing drives the search"
    with driver_running(str(exp)):
        assert driver_alive(str(exp)) and _statuses(exp) == live
    assert not (exp / DRIVER_FILE).exists() and _statuses(exp) == stopped, "the record goes when Tune stops"
    records = {r.trial_id: r for r in load_experiment(str(exp))}
    assert records["all_epochs"].status == "finished" and not records["all_epochs"].ended, \
        "trained every epoch, yet Tune has not recorded its end: a resumed search still tells the searcher"
    assert records["done"].ended and not records["midway"].ended


def test_a_killed_driver_leaves_a_record_that_names_a_dead_process(tmp_path: Path) -> None:
    exp = _experiment(tmp_path / "exp", TRIALS)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (exp / DRIVER_FILE).write_text(json.dumps({"state": "running", "host": socket.gethostname(), "pid": dead.pid}))
    assert not driver_alive(str(exp)) and _statuses(exp)["midway"] == "interrupted"
    # a driver on another host (a cluster's head): this machine cannot tell, so it is taken as alive, as train does
    (exp / DRIVER_FILE).write_text(json.dumps({"state": "running", "host": "elsewhere.invalid", "pid": dead.pid}))
    assert driver_alive(str(exp)) and _statuses(exp)["midway"] == "running"
    assert process_alive({"host": socket.gethostname(), "pid": 1}), "alive but not ours to signal: alive"


def test_a_finished_search_says_so_with_its_budget(tmp_path: Path) -> None:
    exp = _experiment(tmp_path / "exp", {"a": ("TERMINATED", EPOCHS)})
    assert finished_budget(str(exp)) is None
    with driver_running(str(exp)):
        assert finished_budget(str(exp)) is None
    record_finished(str(exp), 1)
    assert finished_budget(str(exp)) == 1 and not driver_alive(str(exp))


def test_results_and_the_report_show_interrupted_trials(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path / "exp", TRIALS)
    assert main(["results", str(exp), "--output", "json"]) == 0
    rows = {r["trial_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert rows["midway"] == "interrupted" and "running" not in rows.values()
    assert main(["results", str(exp), "--trial", "midway", "--output", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["report", str(exp), "--out", str(tmp_path / "report.html"), "--no-model"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert 'data-status="interrupted"' in page and 'data-status="running"' not in page
    assert "run --resume" in page


def test_results_reads_the_driver_record_of_a_storage_uri(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path / "exp", TRIALS)
    uri = f"file://{exp}"
    with driver_running(uri):
        assert (exp / DRIVER_FILE).is_file() and _statuses(exp)["midway"] == "running"
        assert {r.status for r in load_experiment(uri)} >= {"running", "pending"}
    assert not (exp / DRIVER_FILE).exists() and {r.trial_id: r.status for r in load_experiment(uri)}["midway"] == \
        "interrupted"


def test_results_reads_the_statuses_without_ray(tmp_path: Path) -> None:
    exp = _experiment(tmp_path / "exp", TRIALS)
    code = ("import sys; sys.modules['ray'] = None\nfrom search.cli.main import main\n"
            "sys.exit(main(['results', sys.argv[1]]))")
    run = subprocess.run([sys.executable, "-c", code, str(exp)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "interrupted" in run.stdout and " running " not in run.stdout, run.stdout
