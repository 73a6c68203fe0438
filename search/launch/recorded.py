"""What the search's driver tells a trial that Tune starts again: the epochs Tune has recorded of it.

Tune 2.x restores a trial from its latest checkpoint and tells the function trainable nothing else; a pointtune trial
checkpoints only its best epochs, so that is often not its last recorded epoch. And a driver killed between two of
Tune's snapshots of the experiment leaves an experiment folder whose ``result.json`` files (copied there after each
snapshot) hold more than the snapshot: results the snapshot does not know, of trials it shows running, perhaps
finished. A resumed Tune appends to those files. So before Tune starts a trial again the driver writes into the trial's
folder what it has recorded (``trainable.learn.run_record.Recorded``), and the trial reports only the epochs after it:

- ``--resume``: from each unfinished trial's ``result.json`` in the experiment folder (``record_before_resume``);
- a retry after a fault (``FailureConfig(max_failures)``): from the results the running driver saw
  (``RecordBeforeRetry``).

A trial whose end is recorded returns at once without a result. Tune then ends it with ``trial.last_result``, which
after a restore is its checkpoint's result, not its last: the searcher is given the trial's last recorded result
instead (``ResumeHints.ended_before_resume``, search/launch/searcher.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from search.results.experiment import read_experiment_state
from trainable.config import planned_epochs
from trainable.data import storage
from trainable.learn.run_record import Recorded

log = logging.getLogger(__name__)
RESTARTED = ("RUNNING", "PENDING", "PAUSED")  # Tune's statuses of the trials a resumed search starts again


def result_rows(trial_path: str) -> list[dict[str, Any]]:
    """A trial's results in its ``result.json``. A last line cut short (the copy into the experiment folder raced a
    write) is dropped from the file too: Tune appends the trial's next result to it."""
    path = f"{trial_path}/result.json"
    try:
        lines = storage.read_text(path).splitlines()
    except OSError:
        return []
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: line %d is cut short; dropped", path, i + 1)
            storage.write_text(path, "".join(f"{ln}\n" for ln in lines[:i]))
            break
    return rows


def recorded_from(rows: list[dict[str, Any]], planned_epochs: int) -> Recorded:
    """The last epoch of a trial's results, and whether they hold its end: its last planned epoch, an outcome
    (diverged, a settings error) or a result Tune marked ``done`` (a scheduler stopped the trial)."""
    epochs = [int(r["epoch"]) for r in rows if r.get("epoch") is not None]
    last = max(epochs, default=0)
    ended = last >= planned_epochs or any(r.get("trial_outcome") or r.get("done") for r in rows)
    return Recorded(last, ended)


def record_before_resume(experiment: str) -> dict[str, dict[str, Any]]:
    """Write each trial that a resumed search starts again what Tune recorded of it.

    Returns:
        The last recorded result of each of those trials whose end is recorded, by trial id (for the searcher).
    """
    try:
        trials = read_experiment_state(experiment)
    except (ValueError, KeyError, TypeError) as e:  # Tune's restore reads it too, and says what is wrong
        log.warning("could not read the experiment state of %s (%s): resumed trials report on from their checkpoint",
                    experiment, e)
        return {}
    ended = {}
    for trial_id, status, config, path in trials:
        if status not in RESTARTED:
            continue
        rows = result_rows(path)
        record = recorded_from(rows, planned_epochs(config))
        record.save(path)
        if record.ended and rows:
            ended[trial_id] = rows[-1]
        log.info("trial %s: recorded up to epoch %d%s", trial_id, record.epoch, " (ended)" if record.ended else "")
    return ended


class RecordBeforeRetry:
    """Before Tune retries a trial after a fault, writes into its folder the last epoch this driver recorded (a
    listener of the search's events, ``search/launch/tuner.py``)."""

    def __init__(self, experiment: str):
        self.experiment = experiment

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        path = f"{self.experiment}/trial_{trial.trial_id}"
        # after a restore, Tune's last result is its checkpoint's until the trial reports: keep a later record
        last = (getattr(trial, "last_result", None) or {}).get("epoch")
        try:
            before = Recorded.load(path)
            Recorded(max(int(last or 0), before.epoch if before else 0)).save(path)
        except OSError as e:  # the trial then reports on from what it finds
            log.warning("could not write what trial %s recorded to %s: %s", trial.trial_id, path, e)
