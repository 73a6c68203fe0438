"""What a search may spend: a budget of annotation hours per trial (``--max-annotation-hours``) and of minutes per
trial (``--max-trial-minutes``), and whether a trial stayed within them. One object serves three readers: Optuna's
TPE reads the constraints the searcher sets on each trial before telling the study (``Trial.set_constraint``, Optuna
5; a value above zero breaks a constraint; a warm start's earlier trials carry theirs), the results mark each trial
feasible or not, and the best trial and the frontier are chosen among feasible trials only. A trial that ran past
its minutes stopped after that epoch (``trainable.trial.run_trial``), its best epoch kept: it broke the budget all
the same, and says so."""

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

    def constraints(self, hours: float, minutes: float) -> dict[str, float]:
        """Optuna's constraint values of a trial of ``hours`` and ``minutes`` (``Trial.set_constraint``: above zero
        breaks it): how far it went past each budget that is set; an unknown amount (NaN: a run on dense masks has
        no click hours) is within it."""
        out = {}
        for key, spent, budget in (("annotation_hours", hours, self.annotation_hours),
                                   ("trial_minutes", minutes, self.trial_minutes)):
            if budget is not None:
                out[key] = spent - budget if spent is not None and math.isfinite(spent) else 0.0
        return out

    def constraint_attrs(self, hours: float, minutes: float) -> dict[str, float]:
        """The same as the system attributes of a trial made with ``optuna.trial.create_trial`` (a warm start's),
        spelt as ``Trial.set_constraint`` writes them (``FrozenTrial.constraints`` reads them back)."""
        from optuna.samplers._base import _CONSTRAINTS_KEY

        return {f"{_CONSTRAINTS_KEY}:{k}": v for k, v in self.constraints(hours, minutes).items()}

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
