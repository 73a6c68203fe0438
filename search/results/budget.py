"""What a search may spend: a budget of annotation hours per trial (``--max-annotation-hours``) and of minutes per
trial (``--max-trial-minutes``), and whether a trial stayed within them.

One object serves three readers: Optuna's TPE takes it as its ``constraints_func`` (a value above zero breaks a
constraint; the searcher records each trial's hours and minutes as user attributes before telling the study), the
results mark each trial feasible or not, and the best trial and the frontier are chosen among feasible trials only.
A trial that ran past its minutes stopped after that epoch (``trainable.trial.run_trial``), its best epoch kept: it
broke the budget all the same, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HOURS_ATTR, MINUTES_ATTR = "pointtune_annotation_hours", "pointtune_trial_minutes"


@dataclass(frozen=True)
class Budgets:
    """The budgets of a search; None: no budget of that kind."""

    annotation_hours: float | None = None
    trial_minutes: float | None = None

    def __bool__(self) -> bool:
        return self.annotation_hours is not None or self.trial_minutes is not None

    def excess(self, hours: float, minutes: float) -> list[float]:
        """How far a trial of ``hours`` and ``minutes`` went past each budget that is set (> 0: past it); an unknown
        amount (NaN: a run on dense masks has no click hours) is within it."""
        out = []
        for spent, budget in ((hours, self.annotation_hours), (minutes, self.trial_minutes)):
            if budget is not None:
                out.append(spent - budget if spent is not None and math.isfinite(spent) else 0.0)
        return out

    def __call__(self, trial: Any) -> list[float]:
        """Optuna's ``constraints_func``: the excess of a finished trial, from the user attributes the searcher set."""
        return self.excess(trial.user_attrs.get(HOURS_ATTR, math.nan), trial.user_attrs.get(MINUTES_ATTR, math.nan))

    def broken(self, last: dict[str, Any]) -> list[str]:
        """The budgets a trial whose last reported metrics are ``last`` broke, in words (empty: feasible)."""
        hours, minutes = last.get("annotation_hours", math.nan), last.get("trial_minutes", math.nan)
        found = []
        if self.annotation_hours is not None and hours == hours and hours > self.annotation_hours:
            found.append(f"{hours:.3g} annotation hours > {self.annotation_hours:g}")
        if self.trial_minutes is not None and minutes == minutes and minutes >= self.trial_minutes:
            found.append(f"{minutes:.3g} minutes >= {self.trial_minutes:g}")
        return found

    @classmethod
    def of(cls, settings: dict[str, Any]) -> Budgets:
        """The budgets in a search's saved settings (``pointtune_settings.yaml`` as a dict)."""
        return cls(settings.get("max_annotation_hours"), settings.get("max_trial_minutes"))
