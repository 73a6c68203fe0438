"""A trial's side of Ray (trainable/tune_trial.py) without a Ray session: what Tune and Ray would tell the trial (its
id, node, CPUs, checkpoint) and ``tune.report`` are monkeypatched; the trial's training is real (tiny network)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import ray
import torch
from ray import tune

import trainable.tune_trial
from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig
from trainable.data.index import build_index
from trainable.learn.checkpoint import RESUME_FILE, load_checkpoint, load_resume_state, save_checkpoint
from trainable.learn.run_record import Recorded
from trainable.tune_trial import BoardSender, batch_reporter, recorded_epochs, state_saver, tune_entrypoint


def _cfg(demo_dir: Path, **train) -> TrialConfig:
    return TrialConfig(data=DataConfig(root=str(demo_dir), tile_size=32, crops_per_epoch=16),
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(**{"epochs": 2, "lr": 3e-3, "bn_recalibration_batches": 0, **train}))


@pytest.fixture
def tune_told(monkeypatch: pytest.MonkeyPatch) -> list:
    """What Ray tells trial ``t1`` on node ``node-1`` with 1 CPU, no board and no Tune checkpoint; collects what
    it reports as ``(metrics, epoch of the checkpoint or None)``."""
    told: list = []
    monkeypatch.setattr(tune, "get_context", lambda: SimpleNamespace(get_trial_id=lambda: "t1"))
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(
        get_node_id=lambda: "node-1", get_assigned_resources=lambda: {"CPU": 1.0}))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(tune.Checkpoint, "from_directory", lambda d: load_checkpoint(d)["epoch"])

    def no_actor(*args, **kwargs):
        raise ValueError("no such actor")  # the driver shows no live view

    monkeypatch.setattr(ray, "get_actor", no_actor)
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: told.append((metrics, checkpoint)))
    threads = torch.get_num_threads()
    yield told
    torch.set_num_threads(threads)


def test_recorded_epochs_is_the_drivers_record_else_tunes_checkpoint(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoint(tmp_path, {"model": {}, "epoch": 2})
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(str(tmp_path)))
    resume = {"epoch": 3}
    assert recorded_epochs(Recorded(5), resume) == 5 and recorded_epochs(Recorded(0), resume) == 0
    assert recorded_epochs(None, resume) == 2, "an older driver's trial: at least its checkpoint's epoch"
    assert recorded_epochs(None, None) == 0, "nothing to resume: nothing recorded"
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    assert recorded_epochs(None, resume) == 0


def test_the_state_saver_keeps_a_resume_state_then_a_finished_one(tmp_path: Path) -> None:
    assert state_saver(None, TrialConfig()) is None, "no experiment folder: no resume state"
    trial = str(tmp_path / "trial_t1")
    weights = {"model": {"w": torch.ones(2)}, "optimizer": {"state": {}}, "history": [{"epoch": 1}]}
    save = state_saver(trial, TrialConfig(train=TrainConfig(epochs=3)))
    assert save({**weights, "epoch": 2}) == (tmp_path / "trial_t1" / RESUME_FILE).stat().st_size
    assert "model" in load_resume_state(trial) and not load_resume_state(trial).get("finished")
    save({**weights, "epoch": 3})  # the last epoch: history and best only
    last = load_resume_state(trial)
    assert last["finished"] is True and "model" not in last and "optimizer" not in last
    assert last["history"] == [{"epoch": 1}]
    two_stages = state_saver(trial, TrialConfig(train=TrainConfig(epochs=3, pseudo_labels=0.9)))
    two_stages({**weights, "epoch": 3})  # the first stage's end is not the run's
    assert "model" in load_resume_state(trial)


def test_a_trial_reports_each_epoch_with_its_node_and_keeps_its_state(demo_dir: Path, tmp_path: Path,
                                                                     tune_told: list) -> None:
    cfg = _cfg(demo_dir, num_threads=2)
    torch.set_num_threads(2)
    tune_entrypoint(cfg.to_dict(), data=build_index(cfg.data), experiment=str(tmp_path))
    assert torch.get_num_threads() == 1, "the trial uses exactly the CPUs Ray gave it"
    assert [m["epoch"] for m, _ in tune_told] == [1, 2]
    assert all(m["node_id"] == "node-1" and m["training_iteration"] == m["epoch"] for m, _ in tune_told)
    best = tune_told[-1][0]["best_epoch"]
    assert [ckpt for _, ckpt in tune_told][best - 1] == best, "the best epoch's checkpoint went to Tune"
    state = load_resume_state(str(tmp_path / "trial_t1"))
    assert state["finished"] and [m["epoch"] for m in state["history"]] == [1, 2]
    # Tune starts it again after the driver recorded epoch 1: epoch 2 is reported from the finished state, nothing is
    # trained (no data is given and its folder is gone)
    tune_told.clear()
    Recorded(1).save(str(tmp_path / "trial_t1"))
    gone = cfg.replace(data={"root": str(tmp_path / "gone")})
    tune_entrypoint(gone.to_dict(), data=None, experiment=str(tmp_path))
    assert [(m["epoch"], m["val_f1"], m["node_id"]) for m, _ in tune_told] == [
        (2, state["history"][1]["val_f1"], "node-1")]
    # its end recorded: nothing to run, nothing reported
    tune_told.clear()
    Recorded(2, ended=True).save(str(tmp_path / "trial_t1"))
    tune_entrypoint(gone.to_dict(), data=None, experiment=str(tmp_path))
    assert tune_told == []


@pytest.mark.parametrize("mistake", ["unknown setting", "no weights shipped", "damaged resume state"])
def test_a_users_error_is_reported_as_the_trials_outcome_not_raised(tmp_path: Path, tune_told: list,
                                                                    mistake: str) -> None:
    config = TrialConfig(data=DataConfig(root=str(tmp_path / "none")),
                         model=ModelConfig(backbone="tiny", weights="none")).to_dict()
    if mistake == "unknown setting":
        config["train"]["learning_rate"] = 1e-3
    if mistake == "no weights shipped":
        config["model"]["weights"] = "imagenet"
    if mistake == "damaged resume state":
        (tmp_path / "trial_t1").mkdir()
        (tmp_path / "trial_t1" / RESUME_FILE).write_bytes(b"half a file")
    tune_entrypoint(config, experiment=str(tmp_path))
    ((outcome, checkpoint),) = tune_told
    says = {"unknown setting": "ConfigError: unknown setting(s) ['learning_rate']",
            "no weights shipped": "ConfigError: the trial was given no weights for 'imagenet'",
            "damaged resume state": f"CheckpointError: {tmp_path / 'trial_t1' / RESUME_FILE} is damaged"}[mistake]
    assert outcome["trial_outcome"] == "error" and outcome["trial_error"].startswith(says)
    assert math.isnan(outcome["best_val_f1"]) and outcome["node_id"] == "node-1" and checkpoint is None


def test_a_fault_that_a_retry_may_fix_is_raised_for_tune_to_retry(demo_dir: Path, tune_told: list,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(trainable.tune_trial, "run_trial", out_of_memory)
    with pytest.raises(RuntimeError, match="out of memory"):
        tune_entrypoint(_cfg(demo_dir).to_dict())
    assert tune_told == []


def test_no_board_no_batch_reporter(tune_told: list) -> None:
    assert batch_reporter(None, "t1") is None, "pointtune train: no live view"
    assert batch_reporter("/a/search", "t1") is None, "no board actor: none"


def _board(sent: list) -> SimpleNamespace:
    return SimpleNamespace(record=SimpleNamespace(remote=lambda *told: sent.append(told) or f"ref{len(sent)}"))


def test_the_board_sender_collects_each_call_and_stops_when_the_board_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    sent, collected = [], []
    monkeypatch.setattr(ray, "wait", lambda refs, timeout: (list(refs), []))  # every call has finished

    def get(ref):
        collected.append(ref)
        if ref == "ref2":
            raise ray.exceptions.RayError("the board's actor died")

    monkeypatch.setattr(ray, "get", get)
    send = BoardSender(_board(sent), "t1")
    assert send(1, 0, 4) is True and sent == [("t1", 1, 0, 4)] and collected == []
    assert send(1, 4, 4) is True and collected == ["ref1"]
    assert send(2, 0, 4) is False and collected == ["ref1", "ref2"], "the board is gone: the reporter stops"
    assert len(sent) == 2


def test_the_board_sender_has_one_call_outstanding_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = []
    monkeypatch.setattr(ray, "wait", lambda refs, timeout: ([], list(refs)))  # the board has not answered yet
    send = BoardSender(_board(sent), "t1")
    send(1, 0, 4)
    send(1, 4, 4)
    assert len(sent) == 1
