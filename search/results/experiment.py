"""Reading an experiment folder (while the search runs or after) into per-trial records.

``load_experiment`` reads Tune's own files (its experiment state and each trial's ``result.json``) as JSON, without
importing Ray; where they are laid out otherwise it falls back on Ray's ``ExperimentAnalysis``
(``search.results.ray_fallback``, imported only then). A ``pointtune train`` folder is one record. Everything
downstream (``search.results.tables``, ``search.results.summary``, the report) works on plain records and DataFrames.
"""

from __future__ import annotations

import fnmatch
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from search.errors import SearchError
from search.files import SETTINGS_FILE, TRAIN_CONFIG, TRAIN_METRICS, TRAIN_OUTCOME, TRAIN_RUNNING
from search.results.budget import Budgets
from search.results.driver import driver_alive, process_alive
from trainable.config import current_name, planned_epochs
from trainable.data import storage
from trainable.data.storage import is_uri

STATUS = {"TERMINATED": "finished", "RUNNING": "running", "ERROR": "failed", "PENDING": "pending",
          "PAUSED": "paused"}
ENDED = ("finished", "stopped early", "diverged", "failed")
RANKED = ("finished", "stopped early")  # trials whose best epoch may be exported: neither failed nor diverged
UNFINISHED = ("running", "paused", "interrupted")  # not ended, yet their best epoch so far counts
# Tune's statuses of trials it has not ended: with no live driver (search.results.driver), interrupted (or finished,
# when their history holds every planned epoch: the driver stopped before Tune recorded the end)
NOT_ENDED_IN_TUNE = ("RUNNING", "PENDING", "PAUSED")


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # finished, stopped early, diverged, failed, running, pending, paused, interrupted
    config: dict[str, Any]  # the trial's TrialConfig as a dict
    history: pd.DataFrame  # one row per reported epoch
    error: str | None
    path: str  # trial folder (local path or URI)
    metric: str = "val_f1"  # what picks the best epoch
    outcome: str | None = None  # "diverged" or "error" when the trial reported one (it then ended without a fault)
    tune_status: str | None = None  # Tune's own (RUNNING, TERMINATED, ...); None for a `pointtune train` folder
    over_budget: list[str] = field(default_factory=list)  # the budgets it broke, in words (search.results.budget)

    @property
    def ended(self) -> bool:
        """The trial ended and Tune recorded its end (a trial that trained every epoch while its driver was stopped
        reads finished, yet a resumed search still has to tell its searcher)."""
        return self.status in ENDED and self.tune_status not in NOT_ENDED_IN_TUNE

    @property
    def best_row(self) -> pd.Series | None:
        """The epoch with the highest ``metric`` (the first one on ties)."""
        h, m = self.history, self.metric
        if h.empty or m not in h or h[m].isna().all():
            return None
        return h.loc[h[m].idxmax()]


def _error_text(trial_path: str) -> str:
    """The last line of the trial's error.txt ('SomeError: message'), which names the cause."""
    try:
        lines = [ln.strip() for ln in storage.read_text(f"{trial_path}/error.txt").splitlines() if ln.strip()]
    except OSError:
        return "failed (no error.txt)"
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]:
            return line
    return lines[-1] if lines else "failed"


def experiment_metric(path: str) -> str:
    """The metric a search ranks by, from its saved settings (``val_f1`` for folders without them)."""
    base = saved_settings(path).get("base") or {}
    return current_name((base.get("train") or {}).get("metric", "val_f1"))


def _status(tune_status: str, history: pd.DataFrame, outcome: pd.Series | None, planned: int, driven: bool) -> str:
    if outcome is not None:
        return "diverged" if outcome["trial_outcome"] == "diverged" else "failed"
    if tune_status in NOT_ENDED_IN_TUNE and not driven:
        return "finished" if 0 < planned <= len(history) else "interrupted"
    status = STATUS.get(tune_status, tune_status.lower())
    return "stopped early" if status == "finished" and len(history) < planned else status


def record_from(trial_id: str, tune_status: str, config: dict[str, Any], frame: pd.DataFrame, path: str,
                metric: str, driven: bool = True) -> TrialRecord:
    """A trial's record from Tune's per-result frame: per-epoch history, status and error; ``driven``: a live driver
    runs the search (without one, what Tune still shows running is interrupted)."""
    outcome, damaged = None, frame.attrs.get("damaged")
    if not frame.empty and "trial_outcome" in frame and frame["trial_outcome"].notna().any():
        outcome = frame[frame["trial_outcome"].notna()].iloc[-1]
        frame = frame[frame["trial_outcome"].isna()]
    history = frame
    if not history.empty and "epoch" in history:
        history = history.dropna(subset=["epoch"]).sort_values("epoch").drop_duplicates("epoch", keep="last")
        history = history.reset_index(drop=True)
    status = _status(tune_status, history, outcome, planned_epochs(config), driven)
    error = (str(outcome["trial_error"]) if outcome is not None
             else _error_text(path) if tune_status == "ERROR" else None)
    error = "; ".join(e for e in (error, damaged) if e) or None
    return TrialRecord(trial_id, status, config, history, error, path, metric,
                       None if outcome is None else str(outcome["trial_outcome"]), tune_status)


def _trial_frame(trial_path: str) -> pd.DataFrame:
    """A trial's reported results (``result.json``: one JSON object per line), its nested config left out, its
    columns named as now (an older search's ``val_points_f1`` reads as ``val_clicks_f1``)."""
    try:
        text = storage.read_text(f"{trial_path}/result.json")
    except OSError:
        return pd.DataFrame()
    rows, damaged = [], None
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rows += [json.loads(line)] if line.strip() else []
        except ValueError:  # a torn or edited line: the epochs before it are shown, and the damage said
            damaged = f"{trial_path}/result.json is damaged at line {n}: its history stops at the line before"
            break
    frame = pd.DataFrame([{current_name(k): v for k, v in row.items() if k != "config"} for row in rows])
    frame.attrs["damaged"] = damaged
    return frame


def read_experiment_state(path: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(trial id, Tune status, config, trial folder) of every trial, from Tune's newest ``experiment_state-*.json``
    read as JSON: no Ray import, so ``results`` and ``report`` answer at once.

    Raises:
        ValueError: no state file, or one laid out otherwise than Ray 2.x writes it.
    """
    states = sorted(p for p in storage.list_files(path) if fnmatch.fnmatch(p.rsplit("/", 1)[-1],
                                                                           "experiment_state-*.json"))
    if not states:
        raise ValueError(f"no experiment_state-*.json in {path}")
    trials = []
    for trial_state, _runtime in json.loads(storage.read_text(states[-1]))["trial_data"]:
        t = json.loads(trial_state)
        trials.append((t["trial_id"], t["status"], t["config"], f"{path}/{t['relative_logdir']}"))
    return trials


def is_train_folder(path: str) -> bool:
    """A ``pointtune train`` --out folder (a local one: train writes no URI)."""
    p = Path(path)
    return not is_uri(path) and (p / TRAIN_CONFIG).is_file() and not (p / SETTINGS_FILE).is_file()


def _runner_alive(running: Path) -> bool:
    """Whether the process ``running.json`` names still runs (a file being written: assumed so)."""
    try:
        return process_alive(json.loads(running.read_text()))
    except (OSError, ValueError):
        return True


def train_status(path: str | Path, history: pd.DataFrame, epochs: int) -> tuple[str, str | None]:
    """A train folder's status and, when it did not finish, why: diverged or failed (its ``outcome.txt``),
    finished, running (its process is alive), or interrupted (killed or stopped: ``train --resume`` continues)."""
    p = Path(path)
    outcome = (p / TRAIN_OUTCOME).read_text().strip() if (p / TRAIN_OUTCOME).is_file() else None
    if outcome:
        kind = outcome.split(":", 1)[0]
        return (kind if kind in ("diverged", "interrupted") else "failed"), outcome
    if len(history) >= epochs > 0:
        return "finished", None
    if (p / TRAIN_RUNNING).is_file() and _runner_alive(p / TRAIN_RUNNING):
        return "running", None
    return "interrupted", (f"interrupted after epoch {len(history)} of {epochs}: continue it with "
                           f"`pointtune train --resume --out {p}`")


def train_record(path: str) -> TrialRecord:
    """A ``pointtune train`` folder as one trial record (its status: ``train_status``)."""
    p = Path(path)
    cfg = yaml.safe_load((p / TRAIN_CONFIG).read_text()) or {}
    history, damaged = pd.DataFrame(), None
    try:
        if (p / TRAIN_METRICS).is_file():
            history = pd.read_csv(p / TRAIN_METRICS).rename(columns=current_name)  # val_points_f1: val_clicks_f1
    except (ValueError, UnicodeDecodeError) as e:  # pandas' parser and empty-data errors are ValueErrors
        damaged = f"{p / TRAIN_METRICS} cannot be read ({str(e).splitlines()[0]}): its epochs are unknown"
    metric = current_name(cfg.get("train", {}).get("metric", "val_f1"))
    status, why = train_status(p, history, planned_epochs(cfg))  # both stages with self-training
    why = damaged or why
    return TrialRecord(p.name, status, cfg, history, why, str(p), metric,
                       status if status in ("diverged", "failed") else None)


def load_experiment(path: str) -> list[TrialRecord]:
    """Every trial of the search at ``path`` (a local folder or a URI): read from Tune's files as JSON, or through
    Ray's ``ExperimentAnalysis`` where they are not as expected. A ``pointtune train`` folder is one record.

    Trials that Tune's state shows running, pending or paused read as interrupted (or finished, with every planned
    epoch) where no live driver runs the search (``search.results.driver``)."""
    path = path if is_uri(path) else str(Path(path).expanduser().resolve())
    if not storage.exists(path):
        raise SearchError(f"experiment {path} does not exist: give STORAGE/NAME of a search")
    if is_train_folder(path):
        return [train_record(path)]
    if not is_uri(path) and not Path(path).is_dir():
        raise SearchError(f"{path} is a file: give a search's folder (STORAGE/NAME) or a `pointtune train` --out "
                          "folder")
    if not any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], "experiment_state-*.json") for p in storage.list_files(path)):
        if storage.exists(f"{path}/{SETTINGS_FILE}"):
            then = ("wait until its first trial starts" if driver_alive(path) else
                    "its driver stopped before that, so there is nothing to resume: start the search again with "
                    "another --name (or after removing the folder)")
            raise SearchError(f"the search in {path} has not recorded a trial yet (no experiment_state-*.json): "
                              f"{then}")
        what = "an empty folder" if not is_uri(path) and not any(Path(path).iterdir()) else "not a search's folder"
        if not is_uri(path) and (Path(path) / "images").is_dir():
            what = "a dataset's folder"
        raise SearchError(f"{path} is {what}: give a search's folder (STORAGE/NAME, as `pointtune run` printed it; it "
                          f"holds {SETTINGS_FILE} and experiment_state-*.json) or a `pointtune train` --out folder "
                          f"({TRAIN_CONFIG}, {TRAIN_METRICS})")
    try:
        trials = [(tid, status, config, _trial_frame(tpath), tpath)
                  for tid, status, config, tpath in read_experiment_state(path)]
    except (ValueError, KeyError, TypeError):
        from search.results.ray_fallback import trials_through_ray  # imports Ray: only for folders laid out otherwise

        trials = trials_through_ray(path)
    metric, driven = experiment_metric(path), driver_alive(path)
    records = [record_from(tid, status, config, frame, tpath, metric, driven)
               for tid, status, config, frame, tpath in trials]
    budgets = Budgets.of(saved_settings(path))
    for r in records if budgets else ():
        r.over_budget = budgets.broken(r.history.iloc[-1].to_dict() if not r.history.empty else {})
    return records


def saved_settings(path: str) -> dict[str, Any]:
    """A search's saved settings (``pointtune_settings.yaml``) as a dict; empty where there are none."""
    try:
        settings = yaml.safe_load(storage.read_text(f"{path}/{SETTINGS_FILE}"))
    except (OSError, yaml.YAMLError):
        return {}
    return settings if isinstance(settings, dict) else {}


def best_record(records: list[TrialRecord], what: str = "use") -> TrialRecord:
    """Among trials that neither failed nor diverged, nor broke a budget, the one whose best epoch (not its last)
    ranks highest."""
    scored = [r for r in records if r.best_row is not None and r.status in (*RANKED, *UNFINISHED)]
    if scored and not [r for r in scored if not r.over_budget]:
        raise SearchError(f"no trial of this search stayed within its budgets ({'; '.join(scored[0].over_budget)}, "
                          f"...): nothing to {what}; export one with --trial ID, or search again with larger budgets")
    scored = [r for r in scored if not r.over_budget]
    if not scored:
        hint = " or pass --trial ID" if what == "export" else ""
        raise SearchError(f"no trial of this search has finished an epoch yet (failed and diverged trials left out), "
                          f"so there is nothing to {what}; wait for the search (see `pointtune results`){hint}")
    return max(scored, key=lambda r: r.best_row[r.metric])


def find_trial(records: list[TrialRecord], trial_id: str) -> TrialRecord:
    for r in records:
        if r.trial_id == trial_id or r.trial_id.endswith(trial_id):
            return r
    raise SearchError(f"no trial {trial_id!r} in this search; trials: {', '.join(r.trial_id for r in records)}")


def fetch_checkpoint(trial_path: str, dir_name: str) -> dict[str, Any]:
    """Read ``trial_path/dir_name/checkpoint.pt`` (downloading it first from a URI) with ``weights_only=True``."""
    from trainable.learn.checkpoint import CHECKPOINT_FILE, load_checkpoint  # torch: not for `results`

    source = f"{trial_path}/{dir_name}"
    if not is_uri(source):
        return load_checkpoint(source)
    with tempfile.TemporaryDirectory() as d:
        storage.download(f"{source}/{CHECKPOINT_FILE}", Path(d) / CHECKPOINT_FILE)
        return load_checkpoint(d)
