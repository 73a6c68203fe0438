"""Every searched range in one place: an Optuna define-by-run sampler of the searched settings.

The searched settings are named ``section/field`` after ``TrialConfig.to_dict()`` (``train/lr``,
``points/density``, ...); Ray's OptunaSearch turns the names into a nested dict that Tune merges into the base
config (``build_param_space``). Define-by-run lets a setting be searched only where it applies.
"""

from __future__ import annotations

import copy
from typing import Any

from search.launch.settings import SearchSettings, SearchSpace

# (section, field) of the searched settings, in the order tables show them
SEARCHED = (("train", "lr"), ("points", "mode"), ("points", "density"), ("points", "clicks_per_object"),
            ("points", "background_share"), ("points", "class_weights"), ("train", "unlabeled_loss"),
            ("train", "unlabeled_weight"), ("train", "pseudo_labels"), ("train", "pseudo_lr_factor"),
            ("train", "teacher_decay"), ("train", "pseudo_class_share"), ("train", "pseudo_weight"),
            ("data", "color_jitter"), ("data", "scale_jitter"), ("data", "standardize"), ("train", "epochs"))


class SearchSpaceSampler:
    """Called by OptunaSearch with an ``optuna.Trial``; suggests the searched values, returns the fixed ones.

    Learning rate and density are log-uniform; epochs and clicks per instance are integers in [LO, HI]; the
    background share, the pseudo-label threshold and the colour and scale jitter are uniform (so are a mean teacher's
    decay and the per-class share; the second stage's lr factor and pseudo-label weight are log-uniform); the click
    mode, class weights and standardisation are categorical.
    A range whose ends are equal is a constant, not a searched parameter; a setting that does not apply to a trial's
    click mode is not suggested to it.
    (A class, not a closure: the searcher pickles it with its state.)
    """

    def __init__(self, space: SearchSpace):
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        s = self.space
        fixed: dict[str, Any] = {}

        def uniform(name: str, lo: float, hi: float, log: bool = False) -> None:
            if lo == hi:
                fixed[name] = lo
            else:
                trial.suggest_float(name, lo, hi, log=log)

        def log_uniform(name: str, lo: float, hi: float) -> None:
            uniform(name, lo, hi, log=True)

        def integer(name: str, lo: int, hi: int) -> None:
            if lo == hi:
                fixed[name] = lo
            else:
                trial.suggest_int(name, lo, hi)

        log_uniform("train/lr", *s.lr)
        integer("train/epochs", *s.epochs)
        mode = trial.suggest_categorical("points/mode", s.modes) if len(s.modes) > 1 else s.modes[0]
        fixed.update({"points/mode": mode} if len(s.modes) == 1 else {})
        if mode == "per_instance":
            integer("points/clicks_per_object", *s.clicks_per_object)
            if s.background_share is not None:
                uniform("points/background_share", *s.background_share)
        else:
            log_uniform("points/density", *s.density)
        if s.class_weights:
            trial.suggest_categorical("points/class_weights", (False, True))
        loss = (trial.suggest_categorical("train/unlabeled_loss", s.unlabeled_losses) if s.unlabeled_losses
                else None)
        if s.unlabeled_weight is not None and loss != "none":
            log_uniform("train/unlabeled_weight", *s.unlabeled_weight)
        if s.pseudo_labels is not None:
            uniform("train/pseudo_labels", *s.pseudo_labels)
            for name, scale in (("pseudo_lr_factor", log_uniform), ("teacher_decay", uniform),
                                ("pseudo_class_share", uniform), ("pseudo_weight", log_uniform)):
                if getattr(s, name) is not None:
                    scale(f"train/{name}", *getattr(s, name))
        for name in ("color_jitter", "scale_jitter"):
            if (span := getattr(s, name)) is not None:
                uniform(f"data/{name}", *span)
        if s.standardize:
            trial.suggest_categorical("data/standardize", (False, True))
        return fixed


def build_param_space(settings: SearchSettings) -> dict[str, Any]:
    """The base trial config as a plain dict: the constants of every trial, into which Tune merges the searched
    values the sampler suggests."""
    return copy.deepcopy(settings.base.to_dict())
