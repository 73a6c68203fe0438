"""One trial without Ray (trainable/trial.py): ``run_trial`` on the demo scenes with the tiny network, 32-px tiles and
a few epochs, its ``report`` a list: the best epoch kept, divergence, the minutes budget, resuming and replaying, and
the outcome a trial reports for a user's error."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import trainable.trial
from trainable.config import ConfigError, DataConfig, ModelConfig, TrainConfig, TrialConfig
from trainable.data.index import build_index
from trainable.errors import CheckpointError
from trainable.learn.checkpoint import load_checkpoint
from trainable.learn.run_record import finished_state
from trainable.trial import epoch_seed, error_outcome, pick_device, run_trial


def _cfg(demo_dir: Path, **train) -> TrialConfig:
    """16 crops of 32 px per epoch in batches of 8: 2 steps an epoch."""
    return TrialConfig(data=DataConfig(root=str(demo_dir), tile_size=32, crops_per_epoch=16),
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(**{"epochs": 3, "lr": 3e-3, "num_threads": 1,
                                            "bn_recalibration_batches": 0, **train}))


@pytest.fixture(scope="module")
def demo_index(demo_dir: Path):
    """The demo scenes' index, built once (as a search's driver ships it to its trials)."""
    return build_index(_cfg(demo_dir).data)


def _scripted_val_f1(monkeypatch: pytest.MonkeyPatch, values: list[float]) -> None:
    """Each epoch's validation reads the next of ``values`` as its F1 (the training is real)."""
    scores = iter(values)
    monkeypatch.setattr(trainable.trial, "validation_metrics",
                        lambda val, names, excluded, dense: {"val_loss": val.loss, "val_f1": next(scores)})


def _collect(into: list):
    """A ``report`` that keeps each epoch's metrics and, when it has one, the checkpoint in its folder (read now: the
    folder is gone after the call)."""
    return lambda metrics, checkpoint_dir: into.append((metrics, load_checkpoint(checkpoint_dir)
                                                        if checkpoint_dir else None))


# ---------------------------------------------------------------- moved from tests/search/launch/test_resume.py

def test_a_run_resumed_from_its_checkpoint_reproduces_the_uninterrupted_one(demo_dir: Path) -> None:
    """Per-epoch seeds and a schedule that is a function of progress: nothing but the checkpoint is needed. Told what
    was recorded, a resumed run reports only the epochs after it; a finished state trains nothing."""
    cfg = TrialConfig(data=DataConfig(root=str(demo_dir), tile_size=32, crops_per_epoch=32),
                      model=ModelConfig(backbone="tiny", weights="none"),
                      train=TrainConfig(epochs=3, lr=3e-3, num_threads=1))
    whole, first, rest, quiet, replayed, saved, finished = [], [], [], [], [], {}, {}

    def keep(state: dict) -> int:
        if state["epoch"] == 1:
            saved.update(copy.deepcopy(state))  # the state holds the live tensors; save_state must copy them
        if state["epoch"] == 3:
            finished.update(finished_state(copy.deepcopy(state)))  # what a search keeps after the last epoch
        return 0

    run_trial(cfg, lambda m, d: whole.append(m))
    run_trial(cfg, lambda m, d: first.append(m) if m["epoch"] == 1 else None, save_state=keep)
    run_trial(cfg, lambda m, d: rest.append(m), resume=copy.deepcopy(saved))  # Adam takes its tensors in
    assert [m["epoch"] for m in rest] == [2, 3] and {m["resumed_after_epoch"] for m in rest} == {1}
    for key in ("val_f1", "train_loss", "val_loss", "lr_last", "best_val_f1"):
        assert [m[key] for m in first + rest] == [m[key] for m in whole], key
    # the search recorded epoch 2 after the state of epoch 1 was saved: epoch 2 is trained again, not reported
    run_trial(cfg, lambda m, d: quiet.append(m), resume=copy.deepcopy(saved), recorded_epochs=2)
    assert [m["epoch"] for m in quiet] == [3] and quiet[0]["val_f1"] == whole[2]["val_f1"]
    assert quiet[0]["best_val_f1"] == whole[2]["best_val_f1"]
    # the run had finished; the search recorded epoch 1: epochs 2 and 3 reported from the history, nothing trained
    # (the data folder is gone: nothing reads it)
    assert "optimizer" not in finished and "model" not in finished
    elsewhere = cfg.replace(data={"root": str(demo_dir / "gone")})
    run_trial(elsewhere, lambda m, d: replayed.append((m, d is not None)), resume=finished, recorded_epochs=1)
    assert [m["epoch"] for m, _ in replayed] == [2, 3]
    assert [m["val_f1"] for m, _ in replayed] == [m["val_f1"] for m in whole[1:]]
    assert not any(with_weights for _, with_weights in replayed)


# ---------------------------------------------------------------- moved from tests/search/results/test_budget.py

def test_a_run_stops_after_the_epoch_that_passes_its_minutes(demo_dir) -> None:
    cfg = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=32, crops_per_epoch=16),
                      model=ModelConfig(backbone="tiny", weights="none"),
                      train=TrainConfig(epochs=3, max_minutes=1e-6, bn_recalibration_batches=0))
    reported = []
    run_trial(cfg, lambda metrics, _: reported.append(metrics))
    assert [m["epoch"] for m in reported] == [1] and reported[0]["trial_minutes"] > 1e-6


# ---------------------------------------------------------------- new

def test_the_best_epoch_is_kept_with_its_weights_and_each_epoch_at_its_lr(demo_dir: Path, demo_index,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted_val_f1(monkeypatch, [0.5, 0.8, 0.6])
    reported = []
    run_trial(_cfg(demo_dir), _collect(reported), data=demo_index)
    assert [m["epoch"] for m, _ in reported] == [1, 2, 3]
    assert [(m["best_epoch"], m["best_val_f1"]) for m, _ in reported] == [(1, 0.5), (2, 0.8), (2, 0.8)]
    assert [ckpt["epoch"] if ckpt else None for _, ckpt in reported] == [1, 2, None], "new best epochs' weights only"
    best = reported[1][1]
    assert best["metrics"]["val_f1"] == 0.8 and "optimizer" not in best
    assert TrialConfig.from_dict(best["config"]).train.epochs == 3 and best["val_stems"]
    assert not all(torch.equal(best["model"][k], v) for k, v in reported[0][1]["model"].items()), "trained on"
    # the lr before each epoch's last step (2 steps: progress (E - 1 + 1/2) / 3), poly 0.9 from 3e-3
    expected = [2.5459984403675604e-3,   # 3e-3 * (1 - 1/6) ** 0.9 = 3e-3 * 0.8486661
                1.6076601938044398e-3,   # 3e-3 * (1 - 1/2) ** 0.9 = 3e-3 * 0.5358867
                5.981155994256577e-4]    # 3e-3 * (1 - 5/6) ** 0.9 = 3e-3 * 0.1993719
    assert [m["lr_last"] for m, _ in reported] == pytest.approx(expected, rel=1e-12)
    assert all(m["train_loss"] > 0 and math.isfinite(m["train_loss"]) for m, _ in reported)


def test_a_diverging_run_reports_its_outcome_and_best_so_far_and_stops(demo_dir: Path, demo_index,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = trainable.trial.train_one_epoch, []

    def nan_at_epoch_2(*args, **kwargs):
        calls.append(1)
        result = real(*args, **kwargs)
        return dataclasses.replace(result, loss=math.nan) if len(calls) == 2 else result

    monkeypatch.setattr(trainable.trial, "train_one_epoch", nan_at_epoch_2)
    reported = []
    run_trial(_cfg(demo_dir), _collect(reported), data=demo_index)
    assert [m["epoch"] for m, _ in reported] == [1, 2] and len(calls) == 2, "nothing trained after it"
    (first, _), (last, checkpoint) = reported
    assert last["trial_outcome"] == "diverged" and checkpoint is None
    assert last["trial_error"].startswith("training diverged: loss became nan at epoch 2 with lr=0.003; lower")
    assert math.isnan(last["train_loss"]) and last["lr"] == 3e-3
    assert (last["best_epoch"], last["best_val_f1"]) == (1, first["val_f1"]), "the best so far is reported"
    assert "trial_outcome" not in first


def test_the_minutes_budget_stops_after_the_epoch_that_reaches_it_best_epoch_kept(
        demo_dir: Path, demo_index, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that moves a minute at each reading after the start: epoch 1 ends at 1 minute, epoch 2 at 2."""
    readings = iter(1000.0 + 60.0 * k for k in range(100))
    monkeypatch.setattr(trainable.trial, "time", SimpleNamespace(time=lambda: next(readings),
                                                                  perf_counter=time.perf_counter))
    _scripted_val_f1(monkeypatch, [0.7, 0.4, 0.9, 0.9])
    reported = []
    run_trial(_cfg(demo_dir, epochs=4, max_minutes=2.0), _collect(reported), data=demo_index)
    assert [m["epoch"] for m, _ in reported] == [1, 2], "stopped after epoch 2 (2 minutes >= 2), not before it"
    assert [m["trial_minutes"] for m, _ in reported] == [1.0, 2.0]
    assert {m["trial_start_time"] for m, _ in reported} == {1000.0}
    assert (reported[-1][0]["best_epoch"], reported[-1][0]["best_val_f1"]) == (1, 0.7)
    assert reported[0][1]["epoch"] == 1, "the best epoch's weights were reported"


def test_a_resumed_run_replays_the_epochs_the_search_did_not_record(demo_dir: Path, demo_index) -> None:
    """The state of epoch 2 (3 epochs); the search recorded epoch 1: epoch 2 is reported again from the history (the
    same numbers, with the best epoch's weights when it was the best), then epoch 3 is trained."""
    cfg = _cfg(demo_dir)
    whole, states = [], {}
    run_trial(cfg, _collect(whole), data=demo_index,
              save_state=lambda state: states.setdefault(state["epoch"], copy.deepcopy(state)) and 0)
    assert sorted(states) == [1, 2, 3]
    again, quiet = [], []
    run_trial(cfg, _collect(again), data=demo_index, resume=copy.deepcopy(states[2]), recorded_epochs=1)
    assert [m["epoch"] for m, _ in again] == [2, 3]
    replayed, trained = again[0][0], again[1][0]
    for key in ("val_f1", "train_loss", "lr_last", "best_epoch", "epoch_time_s", "trial_start_time"):
        assert replayed[key] == whole[1][0][key], key  # from the history: even the timings are the recorded ones
    assert (again[0][1] is not None) == (whole[1][0]["best_epoch"] == 2), "the best epoch comes with its weights"
    assert trained["resumed_after_epoch"] == 2 and trained["val_f1"] == whole[2][0]["val_f1"]
    assert trained["trial_start_time"] > whole[2][0]["trial_start_time"], "epoch 3 was trained again"
    # told nothing of what the search recorded: nothing replayed
    run_trial(cfg, _collect(quiet), data=demo_index, resume=copy.deepcopy(states[2]))
    assert [m["epoch"] for m, _ in quiet] == [3]


def test_a_users_error_is_the_trials_outcome() -> None:
    """What a trial reports instead of raising a setting/data/weights/checkpoint error (a retry cannot fix it)."""
    outcome = error_outcome({"train": {"metric": "val_clicks_f1"}}, ConfigError("--density 2: use a value in (0, 1]"))
    assert set(outcome) == {"best_val_clicks_f1", "best_val_f1", "trial_outcome", "trial_error"}
    assert math.isnan(outcome["best_val_clicks_f1"]) and math.isnan(outcome["best_val_f1"])
    assert outcome["trial_outcome"] == "error"
    assert outcome["trial_error"] == "ConfigError: --density 2: use a value in (0, 1]"
    plain = error_outcome({}, CheckpointError("x.pt is damaged"))
    assert math.isnan(plain["best_val_f1"]) and plain["trial_error"] == "CheckpointError: x.pt is damaged"
    assert CheckpointError in trainable.trial.TRIAL_USER_ERRORS and ConfigError in trainable.trial.TRIAL_USER_ERRORS


def test_a_bad_config_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    cfg = TrialConfig(data=DataConfig(root=str(tmp_path / "none")), train=TrainConfig(lr=2.0))
    with pytest.raises(ConfigError, match="--lr 2"):
        run_trial(cfg, lambda m, d: pytest.fail("nothing is reported"))


def test_the_device_and_the_epoch_seeds() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
        with pytest.raises(ConfigError, match=r"--device cuda: .*use --device auto or cpu"):
            pick_device("cuda")
    assert epoch_seed(0, 3) == 3 and epoch_seed(2, 1) == 2_000_007  # 2 * 1_000_003 + 1
    assert len({epoch_seed(s, e) for s in range(3) for e in range(1, 4)}) == 9
