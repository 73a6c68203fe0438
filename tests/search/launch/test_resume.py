"""Interrupting a real `pointtune run` (Ctrl-C, and SIGKILL of the driver) and finishing it with --resume: every
epoch recorded exactly once, a finished trial never trained again, a running one continued from its resume state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest

from helpers import start_search, stop_group
from search.results.experiment import load_experiment, read_experiment_state
from trainable.learn.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

EPOCHS = 4  # a trial killed at epoch 2 has its resume state (every 2nd epoch) and cannot end before the kill lands
SEARCH = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "160", "--trials", "3",
          "--epochs-range", str(EPOCHS), str(EPOCHS), "--max-concurrent", "1", "--density-range", "0.01", "0.1"]


def _wait_for(log: Path, predicate, proc: subprocess.Popen, timeout: float = 240) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = log.read_text()
        if predicate(text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"search exited early ({proc.returncode}):\n{text[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting; log:\n{log.read_text()[-3000:]}")


def _finished(text: str) -> list[str]:
    return re.findall(r"\[(\w+)\] finished", text)


def _a_trial_at_epoch_2(skip: set[str]):
    """A trial not in ``skip`` printed its epoch 2 and has not finished: its resume state (every 2nd epoch) is
    saved."""
    return lambda text: bool(set(re.findall(rf"\[(\w+)\] epoch 2/{EPOCHS}", text)) - skip - set(_finished(text)))


def _in_the_snapshot_at_epoch_2(experiment: Path, skip: set[str]):
    """Tune's newest snapshot in the experiment folder shows a trial not in ``skip`` running after its epoch 2 (its
    resume state is saved) and before its last.

    A driver killed after Tune deleted a checkpoint (``--keep-checkpoints``) but before its next snapshot leaves a
    snapshot that restores the trial from the deleted one (Ray's race, not pointtune's): the test kills after it."""

    def predicate(text: str) -> bool:
        try:
            state = json.loads(sorted(experiment.glob("experiment_state-*.json"))[-1].read_text())
            trials = [(json.loads(t), json.loads(r)) for t, r in state["trial_data"]]
        except (IndexError, ValueError, OSError):  # not there yet, or being copied
            return False
        return any(t["trial_id"] not in skip and t["status"] == "RUNNING"
                   and 2 <= (r.get("last_result") or {}).get("epoch", 0) < EPOCHS for t, r in trials)

    return predicate


def _kill(proc: subprocess.Popen, sig: int) -> int:
    try:
        os.kill(proc.pid, sig)  # the driver process itself
        return proc.wait(120)
    finally:
        stop_group(proc)


def _resume(tmp_path: Path, name: str, log: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return start_search(["--resume", "--storage", str(tmp_path), "--name", name], tmp_path / log, env)


def _epochs_in_result_json(trial_path: str) -> list[int]:
    """The epochs a trial's results hold: each exactly once (an epoch reported again would be a second row)."""
    epochs = [json.loads(line)["epoch"] for line in Path(trial_path, "result.json").read_text().splitlines()]
    assert len(epochs) == len(set(epochs)), f"an epoch was reported twice: {epochs}"
    return sorted(epochs)


def _rows(trial_path: str) -> list[dict]:
    return [json.loads(line) for line in Path(trial_path, "result.json").read_text().splitlines()]


def _all_finished_once(tmp_path: Path, name: str) -> list:
    """Every trial finished with each epoch recorded once, its kept checkpoints intact, and the study told of it
    once, with the value the results rank it by."""
    experiment = str(tmp_path / name)
    records = load_experiment(experiment)
    assert len(records) == 3 and all(r.status == "finished" for r in records), [r.status for r in records]
    for r in records:
        assert _epochs_in_result_json(r.path) == list(range(1, EPOCHS + 1)), "an epoch was lost"
        for ckpt in Path(r.path).glob("checkpoint_*"):
            assert load_checkpoint(ckpt)["epoch"] in range(1, EPOCHS + 1)  # every kept checkpoint reads back
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(f"{experiment}/"
                                                                                         "optuna_journal.log"))
    (study,) = optuna.study.get_all_study_names(storage)
    told = optuna.load_study(study_name=study, storage=storage).trials
    for r in records:
        (trial,) = [t for t in told if t.user_attrs.get("pointtune_trial_id") == r.trial_id]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.value == pytest.approx(r.history["best_val_f1"].iloc[-1])
    return records


def _resumed_from_its_state(records: list) -> list:
    """The trials that went on in a new process from their resume state (not started over): their later epochs say
    which state they were trained on from, and started after the earlier ones were trained."""
    resumed = []
    for r in records:
        h = r.history
        after = int(h["resumed_after_epoch"].max())
        if after:
            before, later = h[h["epoch"] <= after], h[h["resumed_after_epoch"] == after]
            assert later["epoch"].min() > after and (later["pid"] != before["pid"].iloc[0]).all()
            assert later["trial_start_time"].min() > before["trial_start_time"].max()
            resumed.append(r)
    return resumed


def _matches_an_uninterrupted_run(trial) -> None:
    """A trial resumed in another process reproduces, epoch for epoch, the run that was never interrupted."""
    from trainable.config import TrialConfig
    from trainable.trial import run_trial

    uninterrupted = []
    cfg = TrialConfig.from_dict(trial.config).replace(train={"num_threads": 1})
    run_trial(cfg, lambda metrics, checkpoint_dir: uninterrupted.append(metrics))
    for key in ("val_f1", "val_miou", "train_loss", "val_loss"):
        assert trial.history[key].tolist() == pytest.approx([m[key] for m in uninterrupted], rel=1e-6), key


def test_ctrl_c_stops_cleanly_prints_the_resume_command_and_the_running_trial_resumes(demo_dir: Path,
                                                                                      tmp_path: Path) -> None:
    name = "interrupted"
    proc = start_search(["--data", str(demo_dir), *SEARCH, "--storage", str(tmp_path), "--name", name],
                        tmp_path / "first.log")
    _wait_for(tmp_path / "first.log", lambda text: bool(_finished(text)) and _a_trial_at_epoch_2(set())(text), proc)
    assert _kill(proc, signal.SIGINT) == 130
    printed = (tmp_path / "first.log").read_text()
    assert f"pointtune run --resume --storage {tmp_path} --name {name}" in printed
    statuses = {r.trial_id: r.status for r in load_experiment(str(tmp_path / name))}
    assert "interrupted" in statuses.values() and "running" not in statuses.values(), statuses
    summary = printed.rsplit("trial_id", 1)[1]  # the table of the summary after Ctrl-C
    assert re.search(r"^\s*\w+\s+interrupted\s", summary, re.M) and not re.search(r"^\s*\w+\s+running\s", summary,
                                                                                       re.M), summary
    again = _resume(tmp_path, name, "resume.log")
    try:
        assert again.wait(300) == 0, (tmp_path / "resume.log").read_text()[-3000:]
    finally:
        stop_group(again)
    resumed = _resumed_from_its_state(_all_finished_once(tmp_path, name))
    assert resumed, "Ctrl-C stops the running trial after its epoch 2: it continues in a new process from its state"
    _matches_an_uninterrupted_run(resumed[0])


def test_sigkill_after_a_trial_finished_then_mid_trial_repeats_nothing_and_loses_nothing(
        demo_dir: Path, tmp_path: Path) -> None:
    """The driver is killed just after a trial finished, before Tune's snapshot of the experiment records it (Tune
    then snapshots only when a trial checkpoints: TUNE_GLOBAL_CHECKPOINT_S); the resumed driver is killed while a
    trial is past its epoch 2; the second resume finishes the search."""
    name, first_log = "killed", tmp_path / "first.log"
    proc = start_search(["--data", str(demo_dir), *SEARCH, "--storage", str(tmp_path), "--name", name], first_log,
                        env={"TUNE_GLOBAL_CHECKPOINT_S": "3600"})
    (done,) = _finished(_wait_for(first_log, _finished, proc))
    assert _kill(proc, signal.SIGKILL) == -9
    experiment = str(tmp_path / name)
    assert [s for t, s, *_ in read_experiment_state(experiment) if t == done] == ["RUNNING"], \
        "the snapshot was taken after the trial finished: the case this test is about did not happen"
    statuses = {r.trial_id: r.status for r in load_experiment(experiment)}
    assert statuses[done] == "finished", "every epoch recorded, its driver gone: finished, not running"
    trial_path = f"{experiment}/trial_{done}"
    recorded_before = _rows(trial_path)

    again = _resume(tmp_path, name, "resume1.log", env={"TUNE_GLOBAL_CHECKPOINT_S": "0"})  # a snapshot each step
    _wait_for(tmp_path / "resume1.log", _in_the_snapshot_at_epoch_2(tmp_path / name, {done}), again)
    assert _kill(again, signal.SIGKILL) == -9
    assert "interrupted" in {r.status for r in load_experiment(experiment)}, "the trial killed at its epoch 2"
    printed = re.findall(rf"\[{done}\] epoch (\d+)/", (tmp_path / "resume1.log").read_text())
    assert sorted(map(int, printed)) == list(range(len(recorded_before) + 1, EPOCHS + 1)), \
        "the finished trial reports again only the epochs Tune had not recorded"
    last = _resume(tmp_path, name, "resume2.log")
    try:
        assert last.wait(300) == 0, (tmp_path / "resume2.log").read_text()[-3000:]
    finally:
        stop_group(last)

    records = _all_finished_once(tmp_path, name)
    rows = _rows(trial_path)
    assert rows[:len(recorded_before)] == recorded_before, "what Tune had recorded stays as it was"
    assert len({r["trial_start_time"] for r in rows}) == 1, "the finished trial was trained once, in one process"
    resumed = _resumed_from_its_state(records)
    assert resumed, "the trial killed at its epoch 2 continues in a new process from its state"
    _matches_an_uninterrupted_run(resumed[0])
    from search.cli.main import main

    assert main(["export", experiment, "--out", str(tmp_path / "model.pt")]) == 0
    assert load_checkpoint(tmp_path / "model.pt")["epoch"] in range(1, EPOCHS + 1)
