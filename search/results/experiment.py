"""Reading an experiment folder (while the search runs or after) into per-trial records and tables.

``load_experiment`` reads Tune's own files (its experiment state and each trial's ``result.json``) as JSON, without
importing Ray, and falls back on Ray's ``ExperimentAnalysis`` where they are laid out otherwise; everything
downstream works on plain records and DataFrames.
"""

from __future__ import annotations

import fnmatch
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from search.errors import SearchError
from search.launch.reference import load_reference, ratio
from search.results.frontier import DEFAULT_TARGET, pareto_front, scored, target_point
from trainable.data import storage
from trainable.data.storage import is_uri

STATUS = {"TERMINATED": "finished", "RUNNING": "running", "ERROR": "failed", "PENDING": "pending",
          "PAUSED": "paused"}
ENDED = ("finished", "stopped early", "diverged", "failed")
RANKED = ("finished", "stopped early")  # trials whose best epoch may be exported: neither failed nor diverged
UNFINISHED = ("running", "paused", "interrupted")  # not ended, yet their best epoch so far counts
SETTINGS_FILE = "pointtune_settings.yaml"
# a `pointtune train` --out folder (search/launch/train.py): its files
TRAIN_CONFIG = "config.yaml"
TRAIN_MODEL = "best.pt"  # the best epoch's model, in `pointtune export`'s format (evaluate and predict take it)
TRAIN_RESUME = "last.pt"  # the last epoch's weights and optimizer: what `train --resume` continues from
TRAIN_OUTCOME = "outcome.txt"  # "diverged: ...", "failed: ..." or "interrupted: ..." when the run did not finish
TRAIN_RUNNING = "running.json"  # host and pid of the process training into the folder, while it runs


def table_columns(metric: str = "val_f1") -> list[str]:
    """The trials table's columns: the searched settings, the ranking value ``best_<metric>`` and its epoch, the
    other headline metrics at that epoch."""
    at_best = [m for m in ("val_f1", "val_miou", "val_oa", "val_clicks_f1") if m != metric]
    return ["trial_id", "status", "lr", "mode", "density", "clicks_per_object", "background_share",
            "class_weights", "unlabeled_loss", "unlabeled_weight", "clicks_per_image", "annotation_hours", "epochs",
            "epochs_run", f"best_{metric}", "best_epoch", f"last_{metric}", *at_best, "f1_vs_full", "wall_time_s",
            "error"]


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # finished, stopped early, diverged, failed, running, pending, paused
    config: dict[str, Any]  # the trial's TrialConfig as a dict
    history: pd.DataFrame  # one row per reported epoch
    error: str | None
    path: str  # trial folder (local path or URI)
    metric: str = "val_f1"  # what picks the best epoch
    outcome: str | None = None  # "diverged" or "error" when the trial reported one (it then ended without a fault)

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
    import yaml

    try:
        settings = yaml.safe_load(storage.read_text(f"{path}/{SETTINGS_FILE}"))
    except (OSError, yaml.YAMLError):
        return "val_f1"
    return settings.get("base", {}).get("train", {}).get("metric", "val_f1")


def _status(tune_status: str, history: pd.DataFrame, outcome: pd.Series | None, planned: int) -> str:
    if outcome is not None:
        return "diverged" if outcome["trial_outcome"] == "diverged" else "failed"
    status = STATUS.get(tune_status, tune_status.lower())
    return "stopped early" if status == "finished" and len(history) < planned else status


def record_from(trial_id: str, tune_status: str, config: dict[str, Any], frame: pd.DataFrame, path: str,
                metric: str) -> TrialRecord:
    """A trial's record from Tune's per-result frame: per-epoch history, status and error."""
    outcome = None
    if not frame.empty and "trial_outcome" in frame and frame["trial_outcome"].notna().any():
        outcome = frame[frame["trial_outcome"].notna()].iloc[-1]
        frame = frame[frame["trial_outcome"].isna()]
    history = frame
    if not history.empty and "epoch" in history:
        history = history.dropna(subset=["epoch"]).sort_values("epoch").drop_duplicates("epoch", keep="last")
        history = history.reset_index(drop=True)
    status = _status(tune_status, history, outcome, int(config["train"]["epochs"]))
    error = (str(outcome["trial_error"]) if outcome is not None
             else _error_text(path) if tune_status == "ERROR" else None)
    return TrialRecord(trial_id, status, config, history, error, path, metric,
                       None if outcome is None else str(outcome["trial_outcome"]))


def _trial_frame(trial_path: str) -> pd.DataFrame:
    """A trial's reported results (``result.json``: one JSON object per line), its nested config left out."""
    try:
        text = storage.read_text(f"{trial_path}/result.json")
    except OSError:
        return pd.DataFrame()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return pd.DataFrame([{k: v for k, v in row.items() if k != "config"} for row in rows])


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


def _trials_through_ray(path: str) -> list[tuple[str, str, dict[str, Any], pd.DataFrame, str]]:
    from ray import tune

    try:
        analysis = tune.ExperimentAnalysis(path)
    except Exception as e:  # noqa: BLE001  Tune raises ValueError/RuntimeError/FileNotFoundError variously
        raise SearchError(f"{path} is not a readable pointtune search ({type(e).__name__}: {e}); "
                          "give the folder STORAGE/NAME that `pointtune run` printed") from None
    frames = analysis.trial_dataframes
    return [(t.trial_id, t.status, t.config, frames.get(t.trial_id, pd.DataFrame()), t.path) for t in analysis.trials]


def is_train_folder(path: str) -> bool:
    """A ``pointtune train`` --out folder (a local one: train writes no URI)."""
    p = Path(path)
    return not is_uri(path) and (p / TRAIN_CONFIG).is_file() and not (p / SETTINGS_FILE).is_file()


def _process_alive(running: Path) -> bool:
    """Whether the process ``running.json`` names still runs (one on another host: assumed so)."""
    import os
    import socket

    try:
        owner = json.loads(running.read_text())
        if owner.get("host") != socket.gethostname():
            return True
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        return True  # alive but not ours (PermissionError), or a file being written
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
    if (p / TRAIN_RUNNING).is_file() and _process_alive(p / TRAIN_RUNNING):
        return "running", None
    return "interrupted", (f"interrupted after epoch {len(history)} of {epochs}: continue it with "
                           f"`pointtune train --resume --out {p}`")


def train_record(path: str) -> TrialRecord:
    """A ``pointtune train`` folder as one trial record (its status: ``train_status``)."""
    import yaml

    p = Path(path)
    cfg = yaml.safe_load((p / TRAIN_CONFIG).read_text()) or {}
    history = pd.read_csv(p / "metrics.csv") if (p / "metrics.csv").is_file() else pd.DataFrame()
    metric = cfg.get("train", {}).get("metric", "val_f1")
    status, why = train_status(p, history, int(cfg.get("train", {}).get("epochs", 0)))
    return TrialRecord(p.name, status, cfg, history, why, str(p), metric,
                       status if status in ("diverged", "failed") else None)


def load_experiment(path: str) -> list[TrialRecord]:
    """Every trial of the search at ``path`` (a local folder or a URI): read from Tune's files as JSON, or through
    Ray's ``ExperimentAnalysis`` where they are not as expected. A ``pointtune train`` folder is one record."""
    path = path if is_uri(path) else str(Path(path).expanduser().resolve())
    if not storage.exists(path):
        raise SearchError(f"experiment {path} does not exist: give STORAGE/NAME of a search")
    if is_train_folder(path):
        return [train_record(path)]
    try:
        trials = [(tid, status, config, _trial_frame(tpath), tpath)
                  for tid, status, config, tpath in read_experiment_state(path)]
    except (ValueError, KeyError, TypeError):
        trials = _trials_through_ray(path)
    metric = experiment_metric(path)
    return [record_from(tid, status, config, frame, tpath, metric) for tid, status, config, frame, tpath in trials]


def trial_row(r: TrialRecord, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trial's row of the trials table; ``reference``: a full-supervision reference (``f1_vs_full``)."""
    best, h, m = r.best_row, r.history, r.metric
    points = r.config["points"]
    nan = float("nan")

    def at_best(key: str) -> float:
        return float(best[key]) if best is not None and key in best else nan

    def last(key: str) -> float:
        return float(h[key].iloc[-1]) if key in h and len(h) else nan

    per_instance = points["mode"] == "per_instance"
    share = points.get("background_share")
    row = {
        "trial_id": r.trial_id, "status": r.status, "lr": r.config["train"]["lr"], "mode": points["mode"],
        "density": points["density"] if not per_instance else nan,
        "clicks_per_object": points["clicks_per_object"] if per_instance else nan,
        "background_share": share if per_instance and share is not None else nan,
        "class_weights": bool(points.get("class_weights", False)),
        "unlabeled_loss": r.config["train"].get("unlabeled_loss", "none"),
        "unlabeled_weight": (r.config["train"].get("unlabeled_weight", nan)
                             if r.config["train"].get("unlabeled_loss", "none") != "none" else nan),
        "clicks_per_image": last("clicks_per_image"), "annotation_hours": last("annotation_hours"),
        "epochs": int(r.config["train"]["epochs"]), "epochs_run": len(h),
        f"best_{m}": at_best(m), "best_epoch": int(best["epoch"]) if best is not None else None,
        f"last_{m}": float(h[m].iloc[-1]) if m in h and len(h) else nan,
        "val_f1": at_best("val_f1"), "val_miou": at_best("val_miou"), "val_oa": at_best("val_oa"),
        "val_clicks_f1": at_best("val_clicks_f1"),
        "f1_vs_full": ratio(at_best("val_f1"), reference),
        "wall_time_s": float(h["time_total_s"].iloc[-1]) if "time_total_s" in h and len(h) else nan,
        "error": r.error,
    }
    return {c: row[c] for c in table_columns(m)}


def trials_table(records: list[TrialRecord], reference: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per trial, the best ``best_<metric>`` first (trials without any epoch last); with a full-supervision
    ``reference``, ``f1_vs_full`` is each trial's F1 (at its best epoch) over the reference's."""
    metric = records[0].metric if records else "val_f1"
    df = pd.DataFrame([trial_row(r, reference) for r in records], columns=table_columns(metric))
    if df.empty:
        return df
    return df.sort_values(f"best_{metric}", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


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
    # on screen, leave out what says nothing here: empty columns, and the click mode and class weights when every
    # trial has the same (files keep every column)
    empty = [c for c in df if c not in ("trial_id", "status") and df[c].isna().all()]
    same = [c for c in ("mode", "class_weights", "unlabeled_loss") if c in df and df[c].nunique(dropna=False) <= 1]
    shown = df.drop(columns=empty + same)
    return shown.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-")


def best_scores(records: list[TrialRecord], metrics: tuple[str, ...] = ("val_clicks_f1", "val_f1")) -> pd.DataFrame:
    """Per trial that trained (neither failed nor diverged), the best value over its epochs of each metric."""
    rows = [{"trial_id": r.trial_id, **{m: r.history[m].max() if m in r.history else math.nan for m in metrics}}
            for r in records if r.status in (*RANKED, *UNFINISHED) and not r.history.empty]
    return pd.DataFrame(rows, columns=["trial_id", *metrics])


def rank_agreement(scores: pd.DataFrame, points: str = "val_clicks_f1", dense: str = "val_f1") -> dict[str, Any] | None:
    """How well click validation ranks trials as dense validation does: Spearman's and Kendall's rank correlation
    between the two columns across trials, and whether both pick the same best trial. None with fewer than 3 trials
    holding both scores (no ranking to compare)."""
    both = scores.dropna(subset=[points, dense])
    if len(both) < 3:
        return None
    by_points, by_dense = both.loc[both[points].idxmax(), "trial_id"], both.loc[both[dense].idxmax(), "trial_id"]
    return {"trials": len(both), "spearman": float(both[points].corr(both[dense], method="spearman")),
            "kendall": float(both[points].corr(both[dense], method="kendall")),
            "same_best": bool(by_points == by_dense), "best_by_clicks": by_points, "best_by_dense": by_dense}


def describe_agreement(a: dict[str, Any]) -> str:
    best = (f"both pick trial {a['best_by_dense']}" if a["same_best"] else
            f"clicks pick trial {a['best_by_clicks']}, dense masks {a['best_by_dense']}")
    return (f"click validation vs dense validation over {a['trials']} trials: Spearman {a['spearman']:.3f}, "
            f"Kendall {a['kendall']:.3f}; {best}")


def history_table(record: TrialRecord) -> pd.DataFrame:
    cols = [c for c in record.history.columns if c.startswith(("val_", "train_")) or c in
            ("epoch", "clicks_per_image", "labelled_fraction", "epoch_time_s", "time_total_s")]
    return record.history[cols]


def best_record(records: list[TrialRecord], what: str = "use") -> TrialRecord:
    """Among trials that neither failed nor diverged, the one whose best epoch (not its last) ranks highest."""
    scored = [r for r in records if r.best_row is not None and r.status in (*RANKED, *UNFINISHED)]
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


def show_results(experiment: str, fmt: str = "table", trial_id: str | None = None, frontier: bool = False,
                 target: float = DEFAULT_TARGET) -> int:
    records = load_experiment(experiment)
    if trial_id:
        print(render(history_table(find_trial(records, trial_id)), fmt))
        return 0
    df = trials_table(records, load_reference(experiment))
    if not frontier:
        print(render(df, fmt))
        agreement = rank_agreement(best_scores(records))
        if agreement is not None and fmt == "table":
            print("\n" + describe_agreement(agreement))
        return 0
    print(render_frontier(df, records[0].metric if records else "val_f1", fmt, target, load_reference(experiment)))
    return 0


FRONT_COLUMNS = ("trial_id", "status", "mode", "density", "clicks_per_object", "background_share", "class_weights",
                 "lr", "epochs", "clicks_per_image", "annotation_hours")


def frontier_statements(df: pd.DataFrame, metric: str, target: float, reference: dict[str, Any] | None) -> list[str]:
    """"The fewest clicks per image that reach X% of the best score" (and of full supervision's, with a
    reference)."""
    score = f"best_{metric}"
    lines = []
    point = target_point(df, score, target)
    if point is not None:
        lines.append(point.describe(score))
    if reference is not None and reference.get(metric):
        to_full = target_point(df, score, target, reference[metric], "full supervision")
        if to_full is not None:
            lines.append(to_full.describe(score))
    return lines


def render_frontier(df: pd.DataFrame, metric: str, fmt: str, target: float = DEFAULT_TARGET,
                    reference: dict[str, Any] | None = None) -> str:
    """The Pareto-optimal trials (score up, clicks per image down), cheapest first, and the target statements."""
    score = f"best_{metric}"
    front = pareto_front(df, score)
    cols = [*FRONT_COLUMNS, score, "f1_vs_full"]
    front = front[[c for c in cols if c in front]]
    ranked = scored(df, score)[score]
    best = ranked.max() if len(ranked) else math.nan
    front.insert(len(front.columns) - 1, "of_best", front[score] / best)
    statements = frontier_statements(df, metric, target, reference)
    if fmt == "json":
        point = target_point(df, score, target)
        return json.dumps({"metric": score, "target": target, "best": None if math.isnan(best) else float(best),
                           "front": json.loads(front.to_json(orient="records")),
                           "fewest_clicks_trial": None if point is None or point.row is None else point.row.trial_id,
                           "fewest_clicks_per_image": None if point is None or point.row is None
                           else float(point.row["clicks_per_image"]),
                           "reference": reference, "statements": statements}, indent=2)
    table = render(front, fmt)
    if fmt == "csv":
        return table  # a CSV stays a table
    head = f"Pareto front: {len(front)} of {len(df)} trial(s) that no other beats on both {score} and clicks per image"
    return "\n".join([head, "", table, "", *statements])


def fetch_checkpoint(trial_path: str, dir_name: str) -> dict[str, Any]:
    """Read ``trial_path/dir_name/checkpoint.pt`` (downloading it first from a URI) with ``weights_only=True``."""
    from ray import tune

    from trainable.learn.checkpoint import load_checkpoint

    source = f"{trial_path}/{dir_name}"
    if not is_uri(source):
        return load_checkpoint(source)
    with tempfile.TemporaryDirectory() as d:
        local = tune.Checkpoint(source).to_directory(d)
        return load_checkpoint(local)


def describe_best(best: pd.Series, metric: str) -> str:
    points = (f"density {best.density:.3g}" if not math.isnan(best.density)
              else f"{int(best.clicks_per_object)} pt/instance")
    return (f"best trial {best.trial_id}: {metric} {best[f'best_{metric}']:.4f} at epoch {best.best_epoch} "
            f"(lr {best.lr:.3g}, {points}, {best.epochs} epochs)")


def print_summary(settings: Any, test_scores: dict[str, float] | None = None) -> tuple[int, int]:
    """After a search: the trials table, the best configuration, its test score, its F1 against full supervision,
    the annotation-budget frontier (for a ``--frontier`` search) and the export command.

    Returns:
        How many requested trials have ended (finished, stopped early, diverged or failed), and how many trials
        finished at least one epoch.
    """
    records = load_experiment(settings.experiment_path)
    reference = load_reference(settings.experiment_path)
    df = trials_table(records, reference)
    print("\n" + render(df, "table"))
    ended = sum(r.status in ENDED for r in records)
    trained = sum(not r.history.empty and r.status != "failed" for r in records)
    metric = records[0].metric if records else "val_f1"
    if any(r.best_row is not None and r.status in RANKED for r in records):
        best = df[df.trial_id == best_record(records).trial_id].iloc[0]  # the trial `export` takes
        print("\n" + describe_best(best, metric))
        if test_scores:
            print(test_score_line(test_scores, metric, best[f"best_{metric}"]))
        agreement = rank_agreement(best_scores(records))
        if agreement is not None:
            print(describe_agreement(agreement))
        if reference is not None:
            print(f"full supervision (dense masks, the best trial's lr, epochs and seeds): val F1 "
                  f"{reference['val_f1']:.4f}; the best trial reaches {best['f1_vs_full']:.3f}x of it")
        if getattr(settings, "frontier", False):
            print("\n" + render_frontier(df, metric, "table", DEFAULT_TARGET, reference))
        print(f"export it:  pointtune export {settings.experiment_path} --out best_model.pt")
    print_tensorboard_hint(settings.experiment_path)
    return ended, trained


def test_score_line(scores: dict[str, Any], metric: str, validation: float) -> str:
    """The one line a search's summary (and ``train``) prints of the test score of its model."""
    times = int(scores.get("test_scorings", 1))
    how = "scored once" if times == 1 else f"the test split has now scored {times} picks (resumed runs)"
    on = "test" if "test_f1" in scores else "test_clicks"
    what = "" if on == "test" else " (on your clicks)"
    return (f"test score of its model ({int(scores['test_images'])} held-out image(s), {how}){what}: "
            f"F1 {scores[f'{on}_f1']:.4f}, mIoU {scores[f'{on}_miou']:.4f}, OA {scores[f'{on}_oa']:.4f} "
            f"(validation {metric} {validation:.4f})")


def print_tensorboard_hint(experiment_path: str) -> None:
    """The command that shows the search's TensorBoard files (``search/results/tensorboard.py``), when it wrote any."""
    import shlex

    from search.results.tensorboard import TENSORBOARD_DIR, tensorboard_dir

    local = tensorboard_dir(experiment_path)
    if not Path(local).is_dir():
        return
    copied = f" (copied to {experiment_path}/{TENSORBOARD_DIR})" if is_uri(experiment_path) else ""
    print(f"curves per epoch and HPARAMS of every trial:  tensorboard --logdir {shlex.quote(local)}{copied}")
