"""Reading an experiment folder (while the search runs or after) into per-trial records and tables.

``load_experiment`` is the only Ray-touching function here (``tune.ExperimentAnalysis``, which reads the folder
and never re-runs anything); everything downstream works on plain records and DataFrames.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from search import storage
from search.errors import SearchError
from search.settings import is_uri

STATUS = {"TERMINATED": "finished", "RUNNING": "running", "ERROR": "failed", "PENDING": "pending",
          "PAUSED": "paused"}
TABLE_COLUMNS = ["trial_id", "status", "lr", "density", "points_per_instance", "points_per_image", "epochs",
                 "epochs_run", "best_val_f1", "best_epoch", "last_val_f1", "val_miou", "val_oa", "wall_time_s",
                 "error"]


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # finished, stopped early, running, failed, pending, paused
    config: dict[str, Any]  # the trial's TrialConfig as a dict
    history: pd.DataFrame  # one row per reported epoch
    error: str | None
    path: str  # trial folder (local path or URI)

    @property
    def best_row(self) -> pd.Series | None:
        h = self.history
        if h.empty or "val_f1" not in h or h["val_f1"].isna().all():
            return None
        return h.loc[h["val_f1"].idxmax()]


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


def load_experiment(path: str) -> list[TrialRecord]:
    """Every trial of the search at ``path`` (a local folder or a URI)."""
    from ray import tune

    path = path if is_uri(path) else str(Path(path).expanduser().resolve())
    if not storage.exists(path):
        raise SearchError(f"experiment {path} does not exist: give STORAGE/NAME of a search")
    try:
        analysis = tune.ExperimentAnalysis(path)
    except Exception as e:  # noqa: BLE001  Tune raises ValueError/RuntimeError/FileNotFoundError variously
        raise SearchError(f"{path} is not a readable pointtune search ({type(e).__name__}: {e}); "
                          "give the folder STORAGE/NAME that `pointtune run` printed") from None
    frames = analysis.trial_dataframes
    records = []
    for trial in analysis.trials:
        history = frames.get(trial.trial_id, pd.DataFrame())
        if not history.empty and "epoch" in history:
            history = history.sort_values("epoch").drop_duplicates("epoch", keep="last").reset_index(drop=True)
        status = STATUS.get(trial.status, trial.status.lower())
        if status == "finished" and len(history) < int(trial.config["train"]["epochs"]):
            status = "stopped early"
        error = _error_text(trial.path) if trial.status == "ERROR" else None
        records.append(TrialRecord(trial.trial_id, status, trial.config, history, error, trial.path))
    return records


def trial_row(r: TrialRecord) -> dict[str, Any]:
    best, h = r.best_row, r.history
    points = r.config["points"]
    nan = float("nan")
    return {
        "trial_id": r.trial_id, "status": r.status, "lr": r.config["train"]["lr"],
        "density": points["density"] if points["mode"] == "density" else nan,
        "points_per_instance": points["points_per_instance"] if points["mode"] == "per_instance" else nan,
        "points_per_image": float(h["points_per_image"].iloc[-1]) if "points_per_image" in h else nan,
        "epochs": int(r.config["train"]["epochs"]), "epochs_run": len(h),
        "best_val_f1": float(best["val_f1"]) if best is not None else nan,
        "best_epoch": int(best["epoch"]) if best is not None else None,
        "last_val_f1": float(h["val_f1"].iloc[-1]) if "val_f1" in h and len(h) else nan,
        "val_miou": float(best["val_miou"]) if best is not None else nan,
        "val_oa": float(best["val_oa"]) if best is not None else nan,
        "wall_time_s": float(h["time_total_s"].iloc[-1]) if "time_total_s" in h and len(h) else nan,
        "error": r.error,
    }


def trials_table(records: list[TrialRecord]) -> pd.DataFrame:
    """One row per trial, best validation F1 first (trials without any epoch last)."""
    df = pd.DataFrame([trial_row(r) for r in records], columns=TABLE_COLUMNS)
    if df.empty:
        return df
    return df.sort_values("best_val_f1", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def to_markdown(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def render(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(df.to_json(orient="records")), indent=2)
    if fmt == "markdown":
        return to_markdown(df)
    shown = df.drop(columns=[c for c in ("error",) if c in df and df[c].isna().all()])
    return shown.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-")


def history_table(record: TrialRecord) -> pd.DataFrame:
    cols = [c for c in record.history.columns if c.startswith(("val_", "train_")) or c in
            ("epoch", "points_per_image", "labelled_fraction", "epoch_time_s", "time_total_s")]
    return record.history[cols]


def best_record(records: list[TrialRecord], what: str = "use") -> TrialRecord:
    """Among trials that did not fail, the one whose best epoch (not its last) has the highest validation F1."""
    scored = [r for r in records if r.best_row is not None and r.status != "failed"]
    if not scored:
        hint = " or pass --trial ID" if what == "export" else ""
        raise SearchError(f"no trial of this search has finished an epoch yet (failed trials left out), so there is "
                          f"nothing to {what}; wait for the search (see `pointtune results`){hint}")
    return max(scored, key=lambda r: r.best_row["val_f1"])


def find_trial(records: list[TrialRecord], trial_id: str) -> TrialRecord:
    for r in records:
        if r.trial_id == trial_id or r.trial_id.endswith(trial_id):
            return r
    raise SearchError(f"no trial {trial_id!r} in this search; trials: {', '.join(r.trial_id for r in records)}")


def show_results(experiment: str, fmt: str = "table", trial_id: str | None = None) -> int:
    records = load_experiment(experiment)
    df = history_table(find_trial(records, trial_id)) if trial_id else trials_table(records)
    print(render(df, fmt))
    return 0


def fetch_checkpoint(trial_path: str, dir_name: str) -> dict[str, Any]:
    """Read ``trial_path/dir_name/checkpoint.pt`` (downloading it first from a URI) with ``weights_only=True``."""
    from ray import tune

    from trainable.checkpoint import load_checkpoint

    source = f"{trial_path}/{dir_name}"
    if not is_uri(source):
        return load_checkpoint(source)
    with tempfile.TemporaryDirectory() as d:
        local = tune.Checkpoint(source).to_directory(d)
        return load_checkpoint(local)


def print_summary(settings: Any) -> bool:
    """After a search: the trials table, the best configuration and the export command.

    Returns:
        True when every requested trial has ended (finished, stopped early or failed).
    """
    records = load_experiment(settings.experiment_path)
    df = trials_table(records)
    print("\n" + render(df, "table"))
    ended = sum(r.status in ("finished", "stopped early", "failed") for r in records)
    if any(r.best_row is not None and r.status != "failed" for r in records):
        best = df[df.trial_id == best_record(records).trial_id].iloc[0]  # the trial `export` takes
        print(f"\nbest trial {best.trial_id}: val_f1 {best.best_val_f1:.4f} at epoch {best.best_epoch} "
              f"(lr {best.lr:.3g}, " + (f"density {best.density:.3g}" if not math.isnan(best.density)
                                        else f"{int(best.points_per_instance)} pt/instance")
              + f", {best.epochs} epochs)")
        print(f"export it:  pointtune export {settings.experiment_path} --out best_model.pt")
    return ended >= settings.trials
