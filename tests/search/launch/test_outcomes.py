"""What a search does with trials that diverge, fail on a setting, or crash: told to Optuna for what they are,
shown by `results`, retried only when a retry could help; a search with nothing trained exits non-zero."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
import ray.cloudpickle

import search.launch.tuner
from helpers import behaving, misbehaving
from search.cli.main import main
from search.launch.journal import JOURNAL_FILE
from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/

FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32", "--density-range", "0.01", "0.1",
        "--epochs-range", "2", "2", "--max-failures", "1"]  # one retry: each is a trial process started anew


def _study(experiment: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(experiment / JOURNAL_FILE)))
    (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def test_diverged_failed_and_crashed_trials(ray_local, demo_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slots").mkdir()
    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", misbehaving(tmp_path / "slots"))
    assert main(["run", "--data", str(demo_dir), *FAST, "--trials", "5", "--storage", str(tmp_path),
                 "--name", "mixed"]) == 0
    slots = {r: (tmp_path / "slots" / r).read_text() for r in ("diverge", "config", "crash")}
    records = {r.trial_id: r for r in load_experiment(str(tmp_path / "mixed"))}
    diverged, bad, crashed = (records[slots[r]] for r in ("diverge", "config", "crash"))
    assert diverged.status == "diverged" and "loss became nan at epoch 1 with lr=" in diverged.error
    assert f"lr={diverged.config['train']['lr']:g}" in diverged.error
    assert bad.status == "failed" and "ConfigError: density=0.5 leaves no training image" in bad.error
    assert crashed.status == "failed" and "RuntimeError: a fault that a retry might fix" in crashed.error
    assert sum(r.status == "finished" for r in records.values()) == 2
    calls = (tmp_path / "slots" / "calls").read_text().split()
    assert calls.count(slots["config"]) == 1, "a setting error is not retried"
    assert calls.count(slots["diverge"]) == 1, "a divergence is not retried"
    assert calls.count(slots["crash"]) == 2, "a crash is retried --max-failures times"
    study = {t.user_attrs["pointtune_trial_id"]: t for t in _study(tmp_path / "mixed").trials}
    assert study[slots["diverge"]].state == optuna.trial.TrialState.COMPLETE
    assert study[slots["diverge"]].value == 0.0, "the worst value: TPE learns the region, not ignores it"
    assert study[slots["diverge"]].user_attrs["pointtune_outcome"] == "diverged"
    assert {study[slots[r]].state for r in ("config", "crash")} == {optuna.trial.TrialState.FAIL}

    # --retry-failed: the two failed trials' parameters run again as new trials; the diverged one does not
    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", behaving())
    assert main(["run", "--resume", "--retry-failed", "--storage", str(tmp_path), "--name", "mixed"]) == 0
    after = load_experiment(str(tmp_path / "mixed"))
    new = [r for r in after if r.trial_id not in records]
    assert len(new) == 2 and all(r.status == "finished" for r in new)
    assert sorted(r.config["train"]["lr"] for r in new) == pytest.approx(sorted(r.config["train"]["lr"]
                                                                               for r in (bad, crashed)))
    retried = {t.user_attrs.get("pointtune_retry_of") for t in _study(tmp_path / "mixed").trials}
    assert {slots["config"], slots["crash"]} < retried and slots["diverge"] not in retried


def test_a_search_in_which_every_trial_fails_exits_non_zero(ray_local, demo_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "slots").mkdir()
    for slot in ("diverge", "crash"):  # every trial gets the setting error
        (tmp_path / "slots" / slot).write_text("taken")
    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", misbehaving(tmp_path / "slots"))

    def every_trial_bad(config: dict, data=None, **passed) -> None:
        (tmp_path / "slots" / "config").unlink(missing_ok=True)
        return misbehaving(tmp_path / "slots")(config, data, **passed)

    monkeypatch.setattr(search.launch.tuner, "tune_entrypoint", every_trial_bad)
    assert main(["run", "--data", str(demo_dir), *FAST, "--trials", "2", "--max-concurrent", "1",
                 "--storage", str(tmp_path), "--name", "none"]) == 1
    assert "No trial finished an epoch" in capsys.readouterr().err
