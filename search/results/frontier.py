"""The annotation-budget frontier of a search: which trials no other beats on both score and clicks per image, and
the fewest clicks per image that reach a share of the best score.

Pure functions on the trials table (``search.results.tables.trials_table``): ``results --frontier``, ``plot`` and
the
summary of a ``run --frontier`` all use them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trainable.config import ConfigError
from trainable.defaults import default

COST = "clicks_per_image"  # the cost axis: mean clicks per training image (a density's labelled pixels, too)
# failed and diverged trials have no score; unfinished ones (running, interrupted ...) their best so far
FRONT_STATUSES = ("finished", "stopped early", "running", "paused", "interrupted")
DEFAULT_TARGET = default("target")


def scored(df: pd.DataFrame, score: str) -> pd.DataFrame:
    """The trials that have a score and a cost (neither failed nor diverged) within the search's budgets."""
    ok = df["status"].isin(FRONT_STATUSES) & df[score].notna() & df[COST].notna()
    if "over_budget" in df:
        ok &= df["over_budget"].isna()
    return df[ok]


def pareto_front(df: pd.DataFrame, score: str) -> pd.DataFrame:
    """The Pareto-optimal trials: those that no other trial beats on one axis without losing on the other (score
    up, clicks per image down). Trials with identical score and cost are both kept. Sorted by cost, cheapest first.
    """
    df = scored(df, score)
    values = df[[score, COST]].to_numpy(dtype=float)
    keep = [not any(s2 >= s and c2 <= c and (s2 > s or c2 < c) for s2, c2 in values) for s, c in values]
    front = df[keep]
    return front.sort_values([COST, score], ascending=[True, False], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class TargetPoint:
    """The cheapest trial whose score reaches ``target`` times the reference score (the best trial's, or full
    supervision's)."""

    target: float
    reference: float  # the score the target is a share of
    reference_name: str  # "the best trial" or "full supervision"
    row: pd.Series | None  # None: no trial reaches it

    @property
    def threshold(self) -> float:
        return self.target * self.reference

    def describe(self, score: str, seconds_per_click: float | None = None) -> str:
        what = f"{self.target:.0%} of {self.reference_name}'s {score} ({self.reference:.4f})"
        if self.row is None:
            return f"no trial reaches {what}: widen the ranges or add trials"
        r = self.row
        hours = r.get("annotation_hours", math.nan)
        cost = f"; about {hours:.3g} h of clicking for the training images" if _finite(hours) else ""
        if cost and seconds_per_click:
            cost += f" at {seconds_per_click:g} s per click"
        where = f"round {int(r['round'])}, " if _finite(r.get("round")) else ""
        return (f"the fewest clicks per image that reach {what}: {r[COST]:.4g} ({where}trial {r.trial_id}, "
                f"{settings_of(r)}: "
                f"{score} {r[score]:.4f} = {r[score] / self.reference:.3f}x{cost})")


def target_point(df: pd.DataFrame, score: str, target: float = DEFAULT_TARGET, reference: float | None = None,
                 reference_name: str = "the best trial") -> TargetPoint | None:
    """The fewest clicks per image among trials scoring at least ``target`` x ``reference`` (default: the best
    trial's score); on equal clicks, the higher score. None when no trial has a score."""
    if not 0 < target <= 1:
        raise ConfigError(f"--target {target}: use a share of the best score in (0, 1], e.g. 0.95")
    df = scored(df, score)
    if df.empty:
        return None
    ref = float(df[score].max()) if reference is None else reference
    reach = df[df[score] >= target * ref]
    if reach.empty:
        return TargetPoint(target, ref, reference_name, None)
    best = reach.sort_values([COST, score], ascending=[True, False], kind="stable").iloc[0]
    return TargetPoint(target, ref, reference_name, best)


def settings_of(row: pd.Series | dict[str, Any]) -> str:
    """The click settings and learning rate of a trials-table row, in words."""
    mode = row.get("mode", "density" if _finite(row.get("density")) else "per_instance")
    if mode == "density":
        clicks = f"density {row['density']:.3g}"
    else:
        clicks = f"{int(row['clicks_per_object'])} pt/object"
        if _finite(row.get("background_share")):
            clicks += f", background share {row['background_share']:.2f}"
    if row.get("class_weights") is True:
        clicks += ", class weights"
    return f"{clicks}, lr {row['lr']:.3g}, {int(row['epochs'])} epochs"


def _finite(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
