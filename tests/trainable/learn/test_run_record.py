"""What a run keeps from epoch to epoch (trainable/learn/run_record.py): the best epoch by the run's metric, the
history, the checkpoints of new best epochs, the resume state, and the replay of a resumed history."""

from __future__ import annotations

import math

import pytest
import torch

from trainable.learn.checkpoint import load_checkpoint
from trainable.learn.run_record import BestSoFar, RunRecord, finished_state

META = {"config": {"train": {"epochs": 3}}, "classes": {"names": ["a", "b"]}, "train_stems": ["s1"],
        "val_stems": ["s2"], "test_stems": []}


def test_the_best_epoch_is_the_highest_value_of_the_runs_metric() -> None:
    """Every metric a run ranks by is "higher is better": a lower value later is not a new best, nor an equal one."""
    best = BestSoFar("val_miou")
    steps = [({"epoch": 1, "val_miou": 0.3, "val_f1": 0.9}, True),
             ({"epoch": 2, "val_miou": 0.4, "val_f1": 0.5}, True),
             ({"epoch": 3, "val_miou": 0.2, "val_f1": 0.6}, False),
             ({"epoch": 4, "val_miou": 0.4, "val_f1": 0.6}, False),  # a tie keeps the earlier epoch
             ({"epoch": 5, "val_miou": math.nan, "val_f1": math.nan}, False)]
    assert [best.update(m) for m, _ in steps] == [improved for _, improved in steps]
    # ranked by mIoU (epoch 2); the best validation F1 is its own maximum over the epochs (epoch 1's)
    assert best.as_metrics() == {"best_val_f1": 0.9, "best_val_miou": 0.4, "best_epoch": 2}


def test_no_finite_value_yet_reads_nan_at_epoch_zero() -> None:
    best = BestSoFar("val_clicks_f1")
    assert not best.update({"epoch": 1, "val_clicks_f1": math.inf})  # no dense masks: no val_f1 either
    metrics = best.as_metrics()
    assert math.isnan(metrics["best_val_f1"]) and math.isnan(metrics["best_val_clicks_f1"])
    assert metrics["best_epoch"] == 0
    assert best.update({"epoch": 2, "val_clicks_f1": 0.1}) and best.as_metrics()["best_epoch"] == 2


def test_a_finished_state_keeps_history_and_best_and_drops_every_weight() -> None:
    state = {**META, "epoch": 3, "best": {"metric": "val_f1", "value": 0.8, "epoch": 2, "f1": 0.8},
             "history": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}], "metrics": {"epoch": 3},
             "model": {"w": torch.ones(1)}, "optimizer": {}, "best_model": {"w": torch.zeros(1)},
             "pseudo_source": {"w": torch.zeros(1)}}
    finished = finished_state(state)
    assert finished == {**{k: v for k, v in state.items()
                           if k not in ("model", "optimizer", "best_model", "pseudo_source")}, "finished": True}
    assert "model" in state, "the state given is not changed"


def _model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Linear(2, 1)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def _set(model: torch.nn.Module, value: float) -> None:
    """Weights that say which epoch they are of."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_each_epoch_is_recorded_new_bests_are_checkpointed_and_the_state_is_saved_every_n(tmp_path) -> None:
    model, optimizer = _model()
    saved, reported = [], []

    def save_state(state: dict) -> int:
        saved.append({k: (dict(v) if k == "model" else v) for k, v in state.items()})
        return 1000

    def report(metrics: dict, checkpoint_dir: str | None) -> None:  # the folder is gone after the call: read it now
        reported.append((dict(metrics), load_checkpoint(checkpoint_dir) if checkpoint_dir else None))

    record = RunRecord("val_f1", resume_every=2, epochs=3, meta=META, save_state=save_state, keep_best=True)
    for epoch, f1 in ((1, 0.5), (2, 0.8), (3, 0.6)):
        _set(model, float(epoch))
        record.end_epoch({"epoch": epoch, "val_f1": f1, "train_loss": 1.0 / epoch}, model, optimizer, report)
    assert [m["best_epoch"] for m, _ in reported] == [1, 2, 2]
    assert [m["best_val_f1"] for m, _ in reported] == [0.5, 0.8, 0.8]
    assert [ckpt is not None for _, ckpt in reported] == [True, True, False], "weights of new best epochs only"
    for metrics, ckpt in reported[:2]:
        assert ckpt["epoch"] == metrics["epoch"] and "optimizer" not in ckpt and ckpt["config"] == META["config"]
        assert torch.all(ckpt["model"]["weight"] == float(metrics["epoch"]))
        assert ckpt["metrics"]["val_f1"] == metrics["val_f1"]
    # resume state every 2nd epoch and after the last
    assert [s["epoch"] for s in saved] == [2, 3]
    assert [m["epoch"] for m in saved[1]["history"]] == [1, 2, 3] and "optimizer" in saved[1]
    # epoch 3 is not the best: the best epoch's weights travel beside its own (for a second stage to start from)
    assert torch.all(saved[1]["best_model"]["weight"] == 2.0) and "best_model" not in saved[0]
    assert torch.all(record.best_weights["weight"] == 2.0)
    sizes = [m["checkpoint_bytes"] for m, _ in reported]
    assert sizes[0] > 0 and sizes[1] > 1000 and sizes[2] == 1000, sizes  # checkpoint + resume state bytes


def test_an_epoch_the_search_recorded_is_kept_but_not_reported() -> None:
    model, optimizer = _model()
    record = RunRecord("val_f1", 1, 3, META)
    record.end_epoch({"epoch": 1, "val_f1": 0.5}, model, optimizer, None)
    assert [m["epoch"] for m in record.history] == [1] and record.best.epoch == 1
    assert record.best_weights is None, "keep_best off: no weights kept in memory"


def _resumed(best_epoch: int, with_best_model: bool) -> dict:
    scores = ((1, 0.5), (2, 0.8), (3, 0.6 + 0.3 * (best_epoch == 3)))
    history = [{"epoch": e, "val_f1": f1, "best_epoch": min(e, best_epoch)} for e, f1 in scores]
    state = {**META, "epoch": 3, "model": {"weight": torch.full((1, 2), 3.0)}, "history": history,
             "best": {"metric": "val_f1", "value": history[best_epoch - 1]["val_f1"], "epoch": best_epoch, "f1": 0.9}}
    if with_best_model:
        state["best_model"] = {"weight": torch.full((1, 2), 2.0)}
    return state


@pytest.mark.parametrize(("best_epoch", "with_best_model", "weights_of"), [
    (3, False, 3),     # the state's own weights are the best epoch's
    (2, True, 2),      # the best epoch's kept beside them
    (2, False, None),  # the best epoch's weights are gone: it is reported without them
])
def test_a_resumed_history_is_replayed_after_what_the_search_recorded(best_epoch: int, with_best_model: bool,
                                                                      weights_of: int | None) -> None:
    reported = []

    def report(metrics: dict, checkpoint_dir: str | None) -> None:
        reported.append((metrics, load_checkpoint(checkpoint_dir) if checkpoint_dir else None))

    record = RunRecord("val_f1", 1, 3, META, resume=_resumed(best_epoch, with_best_model))
    assert record.replay(1, report) == 2
    assert [m["epoch"] for m, _ in reported] == [2, 3]
    assert [m["val_f1"] for m, _ in reported] == [0.8, 0.6 + 0.3 * (best_epoch == 3)], "the recorded numbers"
    with_weights = [(m["epoch"], ckpt) for m, ckpt in reported if ckpt is not None]
    if weights_of is None:
        assert with_weights == []
    else:
        ((epoch, ckpt),) = with_weights
        assert epoch == best_epoch == ckpt["epoch"] and ckpt["train_stems"] == META["train_stems"]
        assert torch.all(ckpt["model"]["weight"] == float(weights_of))
    assert record.replay(3, report) == 0, "nothing after the last epoch"


def test_a_finished_run_replays_its_history_without_weights() -> None:
    reported = []
    record = RunRecord.of_finished("val_f1", finished_state(_resumed(3, with_best_model=False)))
    assert record.epochs == 3 and record.meta == META
    assert record.replay(0, lambda m, d: reported.append((m["epoch"], d))) == 3
    assert reported == [(1, None), (2, None), (3, None)]
