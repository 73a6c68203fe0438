"""Interrupting a real `pointtune run` (Ctrl-C, and SIGKILL of the driver) and finishing it with --resume."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import start_search, stop_group
from search.results import load_experiment
from trainable.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "320", "--trials", "3",
          "--epochs-range", "3", "3", "--max-concurrent", "1", "--density-range", "0.01", "0.1"]


def _wait_for(log: Path, predicate, proc: subprocess.Popen, timeout: float = 240) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = log.read_text()
        if predicate(text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"search exited early ({proc.returncode}):\n{text[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting; log:\n{log.read_text()[-3000:]}")


def _second_trial_running(text: str) -> bool:
    lines = text.splitlines()
    done = [i for i, ln in enumerate(lines) if ln.endswith("] finished")]
    return bool(done) and any("] epoch 1/3" in ln for ln in lines[done[0]:])


def _epochs_in_result_json(trial_path: str) -> list[int]:
    """The epochs a trial's results hold, each once. An epoch the search did not record before it was stopped is
    reported again after the resume: every repetition must carry the same numbers (reported again, or trained again
    to the same result), and no epoch may be missing."""
    seen: dict[int, tuple] = {}
    for line in Path(trial_path, "result.json").read_text().splitlines():
        r = json.loads(line)
        numbers = (r["val_f1"], r["val_loss"], r["train_loss"])
        assert seen.setdefault(r["epoch"], numbers) == pytest.approx(numbers, rel=1e-6), f"epoch {r['epoch']} differs"
    return sorted(seen)


def _interrupt_then_resume(tmp_path: Path, demo_dir: Path, sig: int) -> tuple[str, list]:
    name, log = "interrupted", tmp_path / "first.log"
    args = ["--data", str(demo_dir), *SEARCH, "--storage", str(tmp_path), "--name", name]
    proc = start_search(args, log)
    try:
        _wait_for(log, _second_trial_running, proc)
        finished_first = load_experiment(str(tmp_path / name))
        first_done = [r for r in finished_first if r.status == "finished" or len(r.history) == 3]
        os.kill(proc.pid, sig)  # the driver process itself
        code = proc.wait(120)
    finally:
        stop_group(proc)
    resumed_log = tmp_path / "resume.log"
    again = start_search(["--resume", "--storage", str(tmp_path), "--name", name], resumed_log)
    try:
        assert again.wait(300) == 0, resumed_log.read_text()[-3000:]
    finally:
        stop_group(again)
    records = load_experiment(str(tmp_path / name))
    assert len(records) == 3 and all(r.status == "finished" for r in records), [r.status for r in records]
    for r in records:
        assert _epochs_in_result_json(r.path) == [1, 2, 3], "an epoch was lost"
        for ckpt in Path(r.path).glob("checkpoint_*"):
            assert load_checkpoint(ckpt)["epoch"] in (1, 2, 3)  # every kept checkpoint reads back intact
    for r in first_done:
        assert _epochs_in_result_json(r.path) == [1, 2, 3]
    return log.read_text() + f"\nEXIT {code}", records


def _matches_an_uninterrupted_run(trial) -> None:
    """A trial resumed in another process reproduces, epoch for epoch, the run that was never interrupted."""
    from trainable.config import TrialConfig
    from trainable.trial import run_trial

    uninterrupted = []
    cfg = TrialConfig.from_dict(trial.config).replace(train={"num_threads": 1})
    run_trial(cfg, lambda metrics, checkpoint_dir: uninterrupted.append(metrics))
    for key in ("val_f1", "val_miou", "train_loss", "val_loss"):
        assert trial.history[key].tolist() == pytest.approx([m[key] for m in uninterrupted], rel=1e-6), key


def test_ctrl_c_stops_cleanly_prints_the_resume_command_and_resume_finishes(demo_dir: Path, tmp_path: Path) -> None:
    text, records = _interrupt_then_resume(tmp_path, demo_dir, signal.SIGINT)
    assert "EXIT 130" in text and f"pointtune run --resume --storage {tmp_path} --name interrupted" in text
    resumed = [r for r in records if r.history["pid"].nunique() > 1]
    assert resumed, "Ctrl-C checkpoints the running trial: it continues in a new process"
    _matches_an_uninterrupted_run(resumed[0])


def test_sigkill_of_the_driver_loses_nothing(demo_dir: Path, tmp_path: Path) -> None:
    text, records = _interrupt_then_resume(tmp_path, demo_dir, signal.SIGKILL)
    assert "EXIT -9" in text
    for r in records:  # whether a trial went on from its checkpoint or started over, its metrics are the same
        if r.history["pid"].nunique() > 1:
            _matches_an_uninterrupted_run(r)


def test_a_run_resumed_from_its_checkpoint_reproduces_the_uninterrupted_one(demo_dir: Path) -> None:
    """Per-epoch seeds and a schedule that is a function of progress: nothing but the checkpoint is needed. Told what
    was recorded, a resumed run reports only the epochs after it; a finished state trains nothing."""
    from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig
    from trainable.run_record import finished_state
    from trainable.trial import run_trial

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
    assert "optimizer" not in finished and ("model" in finished) == (whole[2]["best_epoch"] == 3)
    elsewhere = cfg.replace(data={"root": str(demo_dir / "gone")})
    run_trial(elsewhere, lambda m, d: replayed.append((m, d is not None)), resume=finished, recorded_epochs=1)
    assert [m["epoch"] for m, _ in replayed] == [2, 3]
    assert [m["val_f1"] for m, _ in replayed] == [m["val_f1"] for m in whole[1:]]
    assert [with_weights for _, with_weights in replayed] == [False, whole[2]["best_epoch"] == 3]
