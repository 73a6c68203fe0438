"""The fallback reader of an experiment folder that Tune laid out otherwise than ``search.results.experiment`` reads
as JSON: Ray's own ``ExperimentAnalysis``. The one module of the results that imports Ray, and only when the JSON
reading fails."""

from __future__ import annotations

from typing import Any

import pandas as pd
from ray import tune

from search.errors import SearchError


def trials_through_ray(path: str) -> list[tuple[str, str, dict[str, Any], pd.DataFrame, str]]:
    """(trial id, Tune status, config, per-result frame, trial folder) of every trial, as Ray reads them."""
    try:
        analysis = tune.ExperimentAnalysis(path)
    except Exception as e:  # noqa: BLE001  Tune raises ValueError/RuntimeError/FileNotFoundError variously
        raise SearchError(f"{path} is not a readable pointtune search ({type(e).__name__}: {e}); "
                          "give the folder STORAGE/NAME that `pointtune run` printed") from None
    frames = analysis.trial_dataframes
    return [(t.trial_id, t.status, t.config, frames.get(t.trial_id, pd.DataFrame()), t.path) for t in analysis.trials]
