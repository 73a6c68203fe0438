"""``run --warm-start FOLDER...``: earlier trials (of searches, and ``pointtune train`` runs) put into a new search's
Optuna study as completed trials with their objective values (Optuna's ``add_trial``), so that TPE's model starts
from them instead of from random start-up trials.

A folder trained on other data, classes, split or objective is refused, with the difference named. A trial is kept
only where its settings lie inside the new search space (a searched value within its range, a fixed one equal to
it) and its other settings, those that make a score comparable (network, weights, tiles, crops, batch, schedule),
are the new search's; the others are listed with why. Diverged, failed, stopped-early and unfinished trials are not
taken. What was taken is recorded in the experiment folder (``warm_start.json``): ``pointtune results`` and the
report show those trials, marked, and a resumed search finds them in its study.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from search.errors import SearchError
from search.files import WARM_START_FILE
from search.launch.settings import SearchSettings, SearchSpace
from search.results.experiment import RANKED, TrialRecord, load_experiment
from search.results.tables import trial_row
from trainable.data import storage

WARM_ATTR = "pointtune_warm_start"  # the Optuna trial's user attribute: where the trial came from
# settings that must be the same for the same problem (the data, its classes and split, what is ranked)
SAME_PROBLEM = (("data", "root"), ("data", "format"), ("data", "classes_file"), ("data", "split"),
                ("data", "split_seed"), ("data", "val_fraction"), ("data", "test_fraction"), ("data", "val_dir"),
                ("data", "test_dir"), ("data", "clicks"), ("train", "metric"))
# settings that make two trials' scores comparable, besides the searched ones
COMPARABLE = (("model", "backbone"), ("model", "weights"), ("data", "tile_size"), ("data", "resize"),
              ("data", "crops_per_epoch"), ("data", "bands"), ("train", "batch_size"), ("train", "lr_schedule"),
              ("train", "warmup_epochs"))


@dataclass(frozen=True)
class WarmTrial:
    """One earlier trial as the new study takes it."""

    source: str  # FOLDER (trial ID)
    params: dict[str, Any]
    distributions: dict[str, Any]  # name -> optuna distribution as JSON (optuna.distributions.distribution_to_json)
    values: list[float]
    row: dict[str, Any]  # its row of the trials table (status "warm start"), for results and the report


def _get(cfg: dict[str, Any], key: tuple[str, str]) -> Any:
    value = (cfg.get(key[0]) or {}).get(key[1])
    return tuple(value) if isinstance(value, list) else value


def check_same_problem(folder: str, cfg: dict[str, Any], settings: SearchSettings) -> None:
    """Raises SearchError naming the first difference in data, classes, split or objective."""
    base = settings.base.to_dict()
    for key in SAME_PROBLEM:
        if _get(cfg, key) != _get(base, key):
            raise SearchError(f"--warm-start {folder}: its runs have {key[0]}.{key[1]} {_get(cfg, key)!r}, this "
                              f"search {_get(base, key)!r}: scores of another problem would mislead the search; "
                              "warm-start from runs on the same data, classes, split and metric")


def space_params(cfg: dict[str, Any], space: SearchSpace) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """The searched values of a trial's config as the new space's sampler would name them, with their
    distributions (``search.launch.space.SearchSpaceSampler``); or why the trial lies outside the space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    params: dict[str, Any] = {}
    dists: dict[str, Any] = {}

    def take(name: str, value: Any, span: tuple | None, kind: str) -> str | None:
        if span is None:
            return None
        lo, hi = span
        if lo == hi:
            return None if value is not None and math.isclose(value, lo) else f"{name} {value} (fixed at {lo:g})"
        if value is None or not lo <= value <= hi:
            return f"{name} {value} outside [{lo:g}, {hi:g}]"
        params[name] = value
        dists[name] = IntDistribution(lo, hi) if kind == "int" else FloatDistribution(lo, hi, log=kind == "log")
        return None

    train, points = cfg.get("train") or {}, cfg.get("points") or {}
    mode = points.get("mode", "density")
    if mode not in space.modes:
        return f"click mode {mode} not searched"
    if len(space.modes) > 1:
        params["points/mode"], dists["points/mode"] = mode, CategoricalDistribution(space.modes)
    checks = [take("train/lr", train.get("lr"), space.lr, "log"), take("train/epochs", train.get("epochs"),
                                                                         space.epochs, "int")]
    if mode == "per_instance":
        checks += [take("points/clicks_per_object", points.get("clicks_per_object"), space.clicks_per_object, "int"),
                   take("points/background_share", points.get("background_share"), space.background_share, "float")]
    else:
        checks.append(take("points/density", points.get("density"), space.density, "log"))
    if space.class_weights:
        params["points/class_weights"] = bool(points.get("class_weights"))
        dists["points/class_weights"] = CategoricalDistribution((False, True))
    loss = train.get("unlabeled_loss", "none")
    if space.unlabeled_losses:
        if loss not in space.unlabeled_losses:
            return f"unlabeled loss {loss} not among {', '.join(space.unlabeled_losses)}"
        params["train/unlabeled_loss"], dists["train/unlabeled_loss"] = loss, CategoricalDistribution(
            space.unlabeled_losses)
    if loss != "none":
        checks.append(take("train/unlabeled_weight", train.get("unlabeled_weight"), space.unlabeled_weight, "log"))
    checks.append(take("train/pseudo_labels", train.get("pseudo_labels"), space.pseudo_labels, "float"))
    problems = [c for c in checks if c]
    return "; ".join(problems) if problems else (params, dists)


def _comparable(cfg: dict[str, Any], base: dict[str, Any]) -> str | None:
    differ = [f"{a}.{b} {_get(cfg, (a, b))!r}" for a, b in COMPARABLE if _get(cfg, (a, b)) != _get(base, (a, b))]
    return ", ".join(differ) or None


def _value(record: TrialRecord, frontier: bool) -> list[float] | None:
    best = record.best_row
    if best is None or record.status not in RANKED or record.status == "stopped early" or record.over_budget:
        return None
    score = float(best[record.metric])
    cost = float(record.history["clicks_per_image"].iloc[-1]) if "clicks_per_image" in record.history else math.nan
    values = [score, cost] if frontier else [score]
    return values if all(math.isfinite(v) for v in values) else None


def collect(settings: SearchSettings) -> tuple[list[WarmTrial], list[str]]:
    """The earlier trials of ``settings.warm_start`` the new search takes, and those it leaves out (with why).

    Raises:
        SearchError: a folder that is not a search or run (``load_experiment``'s words), or of another problem.
    """
    from optuna.distributions import distribution_to_json

    taken, left_out = [], []
    base = settings.base.to_dict()
    for folder in settings.warm_start:
        for record in load_experiment(folder):
            check_same_problem(folder, record.config, settings)
            source = f"{folder} ({record.trial_id})"
            values = _value(record, settings.frontier)
            found = (space_params(record.config, settings.space) if values is not None
                     else f"{record.status}: no complete score")
            why = found if isinstance(found, str) else _comparable(record.config, base)
            if why:
                left_out.append(f"{source}: {why}")
                continue
            params, dists = found
            row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in trial_row(record).items()}
            row.update(trial_id=source, status="warm start", error=None)
            taken.append(WarmTrial(source, params, {k: distribution_to_json(d) for k, d in dists.items()}, values,
                                   row))
    return taken, left_out


def add_to_study(study: Any, warm: list[WarmTrial]) -> None:
    """The earlier trials into the study as completed trials (Optuna's ``add_trial``), marked with their source."""
    import optuna
    from optuna.distributions import json_to_distribution

    for w in warm:
        study.add_trial(optuna.trial.create_trial(
            params=w.params, distributions={k: json_to_distribution(d) for k, d in w.distributions.items()},
            values=w.values, user_attrs={WARM_ATTR: w.source}))


def write_record(experiment: str, warm: list[WarmTrial], left_out: list[str]) -> None:
    storage.write_text(f"{experiment}/{WARM_START_FILE}", json.dumps(
        {"taken": [asdict(w) for w in warm], "left_out": left_out}, indent=1))


def describe(warm: list[WarmTrial], left_out: list[str]) -> str:
    """What the driver prints: how many trials were taken, and each one left out with why."""
    lines = [f"warm start: {len(warm)} earlier trial(s) in the study"
             + (f", {len(left_out)} left out:" if left_out else "")]
    return "\n".join(lines + [f"  {why}" for why in left_out])
