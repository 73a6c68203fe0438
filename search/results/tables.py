"""The trials of an experiment as tables: the trials table, a trial's history, the frontier, and how click
validation ranks trials against dense validation; rendered as a table on screen, CSV, JSON or Markdown
(``pointtune results``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from search.files import WARM_START_FILE
from search.launch.reference import load_reference, ratio
from search.results.experiment import RANKED, UNFINISHED, TrialRecord, find_trial, load_experiment
from search.results.frontier import DEFAULT_TARGET, pareto_front, scored, target_point
from trainable.config import planned_epochs
from trainable.data import storage


def table_columns(metric: str = "val_f1") -> list[str]:
    """The trials table's columns: the searched settings, the ranking value ``best_<metric>`` and its epoch, the
    other headline metrics at that epoch."""
    at_best = [m for m in ("val_f1", "val_miou", "val_oa", "val_clicks_f1") if m != metric]
    return ["trial_id", "status", "lr", "mode", "density", "clicks_per_object", "background_share",
            "class_weights", "unlabeled_loss", "unlabeled_weight", "pseudo_labels", "clicks_per_image",
            "annotation_hours", "epochs",
            "epochs_run", f"best_{metric}", "best_epoch", f"last_{metric}", *at_best, "f1_vs_full", "wall_time_s",
            "over_budget", "error"]


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
        "pseudo_labels": r.config["train"].get("pseudo_labels") or nan,  # the threshold of self-training
        "clicks_per_image": last("clicks_per_image"), "annotation_hours": last("annotation_hours"),
        "epochs": planned_epochs(r.config), "epochs_run": len(h),  # both stages with self-training
        f"best_{m}": at_best(m), "best_epoch": int(best["epoch"]) if best is not None else None,
        f"last_{m}": float(h[m].iloc[-1]) if m in h and len(h) else nan,
        "val_f1": at_best("val_f1"), "val_miou": at_best("val_miou"), "val_oa": at_best("val_oa"),
        "val_clicks_f1": at_best("val_clicks_f1"),
        "f1_vs_full": ratio(at_best("val_f1"), reference),
        "wall_time_s": float(h["time_total_s"].iloc[-1]) if "time_total_s" in h and len(h) else nan,
        "over_budget": "; ".join(r.over_budget) or None,  # infeasible: never the best, off the frontier
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


def with_warm_start(df: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The trials table with the earlier trials ``--warm-start`` put into the study (status ``warm start``: they
    taught the searcher, they are not this search's and never its best), from ``warm_start.json``."""
    try:
        rows = json.loads(storage.read_text(f"{experiment}/{WARM_START_FILE}")).get("taken", [])
    except (OSError, ValueError):
        return df
    warm = pd.DataFrame([w["row"] for w in rows if isinstance(w, dict) and "row" in w], columns=df.columns)
    return df if warm.empty else pd.concat([df, warm.astype(object).fillna(value=math.nan)], ignore_index=True)


def show_results(experiment: str, fmt: str = "table", trial_id: str | None = None, frontier: bool = False,
                 target: float = DEFAULT_TARGET) -> int:
    records = load_experiment(experiment)
    if trial_id:
        print(render(history_table(find_trial(records, trial_id)), fmt))
        return 0
    df = trials_table(records, load_reference(experiment))
    if not frontier:
        df = with_warm_start(df, experiment)
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
                    reference: dict[str, Any] | None = None, lead: tuple[str, ...] = ()) -> str:
    """The Pareto-optimal trials (score up, clicks per image down), cheapest first, and the target statements.
    ``lead``: columns shown after the trial id (a campaign's folder, round and clicks file)."""
    score = f"best_{metric}"
    front = pareto_front(df, score)
    cols = [FRONT_COLUMNS[0], *lead, *FRONT_COLUMNS[1:], score, "f1_vs_full", *(["test_f1"] if lead else [])]
    front = front[[c for c in cols if c in front]]
    ranked = scored(df, score)[score]
    best = ranked.max() if len(ranked) else math.nan
    front.insert(front.columns.get_loc(score) + 1, "of_best", front[score] / best)
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
