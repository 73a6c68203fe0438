"""One line per trial event while a search runs (Tune's own table is turned off: it floods small terminals)."""

from __future__ import annotations

import math
from typing import Any

from ray import tune

from search.settings import SearchSettings


def describe_params(config: dict[str, Any]) -> str:
    points = config["points"]
    pts = (f"density {points['density']:.2e}" if points["mode"] == "density"
           else f"{points['points_per_instance']} pt/instance")
    if points["mode"] == "per_instance" and points.get("background_share") is not None:
        pts += f" (background share {points['background_share']:.2f})"
    if points.get("class_weights"):
        pts += "  class weights"
    return f"lr {config['train']['lr']:.2e}  {pts}  epochs {config['train']['epochs']}"


class ProgressPrinter(tune.Callback):
    """Prints trial starts, per-epoch validation F1, completions and failures."""

    def __init__(self, settings: SearchSettings):
        self.settings = settings

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"[{trial.trial_id}] started   {describe_params(trial.config)}", flush=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get("trial_outcome"):
            print(f"[{trial.trial_id}] {result['trial_outcome'].upper()}  {result.get('trial_error', '')}", flush=True)
            return
        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        objective = self.settings.objective
        print(f"[{trial.trial_id}] epoch {result['epoch']}/{trial.config['train']['epochs']}  "
              f"val_f1 {result.get('val_f1', math.nan):.4f}  val_miou {result.get('val_miou', math.nan):.4f}  "
              f"{objective} {result[objective]:.4f}  "
              f"({result['epoch_time_s']:.1f}s)  node {result.get('node_ip', '?')}/{result.get('node_id', '')[:8]}  "
              f"[{done}/{self.settings.trials} trials done]", flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"[{trial.trial_id}] finished", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"[{trial.trial_id}] FAILED    {describe_params(trial.config)} (see `pointtune results`)", flush=True)
