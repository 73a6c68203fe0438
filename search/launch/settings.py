"""Settings of a search: what it searches (``SearchSpace``) and how (``SearchSettings``), built from the command line
by ``search.cli.args_to_settings`` (the argparse namespace stays in ``search/cli``)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainable.config import ConfigError, TrialConfig
from trainable.data.storage import is_uri
from trainable.defaults import default
from trainable.setting_text import check_ranges

log = logging.getLogger(__name__)


STAGE_TWO = ("pseudo_lr_factor", "teacher_decay", "pseudo_class_share", "pseudo_weight")  # self-training's settings
SCHEDULERS, SAMPLERS, REFERENCES = ("none", "asha"), ("tpe", "random"), ("none", "full")  # --scheduler, ...


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched by Optuna (inclusive bounds)."""

    lr: tuple[float, float] = default("lr_range")
    density: tuple[float, float] = default("density_range")
    clicks_per_object: tuple[int, int] | None = default("clicks_per_object_range")  # set: searched instead of a density
    epochs: tuple[int, int] = default("epochs_range")
    both_modes: bool = default("click_mode")  # the click mode is a searched choice
    background_share: tuple[float, float] | None = default("background_share_range")  # share of clicks on background
    class_weights: bool = default("search_class_weights")  # searched: class weights on or off
    unlabeled_losses: tuple[str, ...] = default("unlabeled_losses")  # several: a searched choice
    unlabeled_weight: tuple[float, float] | None = default("unlabeled_weight_range")  # searched weight of that loss
    pseudo_labels: tuple[float, float] | None = default("pseudo_labels_range")  # threshold of a second stage
    # how that second stage learns (trainable.config.TrainConfig), each searched where given
    pseudo_lr_factor: tuple[float, float] | None = default("pseudo_lr_factor_range")
    teacher_decay: tuple[float, float] | None = default("teacher_decay_range")
    pseudo_class_share: tuple[float, float] | None = default("pseudo_class_share_range")
    pseudo_weight: tuple[float, float] | None = default("pseudo_weight_range")
    color_jitter: tuple[float, float] | None = default("color_jitter_range")  # photometric jitter of the crops
    scale_jitter: tuple[float, float] | None = default("scale_jitter_range")  # random rescaling of the crops
    standardize: bool = default("search_standardize")  # searched: per-tile standardisation on or off

    @property
    def modes(self) -> tuple[str, ...]:
        if self.clicks_per_object is None:
            return ("density",)
        return ("density", "per_instance") if self.both_modes else ("per_instance",)

    def validate(self) -> None:
        check_ranges(self, "space")
        for name in ("lr", "density", "clicks_per_object", "epochs", "background_share", "unlabeled_weight",
                     "pseudo_labels", *STAGE_TWO, "color_jitter", "scale_jitter"):
            span = getattr(self, name)
            if span is not None and span[0] > span[1]:
                flag = "--" + name.replace("_", "-") + "-range"
                raise ConfigError(f"{flag} {span[0]:g} {span[1]:g}: give the low end first (LO <= HI)")
        if self.background_share is not None and self.clicks_per_object is None:
            raise ConfigError("--background-share-range applies to clicks per object: give "
                              "--clicks-per-object-range too")


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs; the trial settings it does not search come from ``base``."""

    base: TrialConfig
    space: SearchSpace = field(default_factory=SearchSpace)
    trials: int = default("trials")
    max_concurrent: int = default("max_concurrent")  # 0: as many as the resources allow
    cpus_per_trial: float = default("cpus_per_trial")
    gpus_per_trial: float | Literal["auto"] = default("gpus_per_trial")  # auto: see resolve_gpus
    scheduler: str = default("scheduler")  # SCHEDULERS
    grace_period: int = default("grace_period")
    reduction_factor: int = default("reduction_factor")
    asha_search_epochs: bool = default("asha_search_epochs")
    sampler: str = default("sampler")  # SAMPLERS
    storage: str = default("storage")
    name: str = default("name")
    address: str | None = default("address")
    resume: bool = False
    seed: int = default("seed")
    max_failures: int = default("max_failures")
    keep_checkpoints: int = default("keep_checkpoints")
    retry_failed: bool = False
    trials_given: bool = False  # --trials was on the command line (with --resume it raises the budget)
    frontier: bool = default("frontier")  # best metric up, clicks per image down
    reference: str = default("reference")  # REFERENCES; full: one fully supervised trial after
    max_annotation_hours: float | None = default("max_annotation_hours")  # a trial's budget (search.launch.budget)
    max_trial_minutes: float | None = default("max_trial_minutes")
    warm_start: tuple[str, ...] = default("warm_start")  # earlier folders whose trials start the study

    def validate(self) -> SearchSettings:
        self.space.validate()
        lo, hi = self.space.epochs
        if self.base.train.warmup_epochs >= lo:  # each trial's own epoch count is checked against it in the trial
            raise ConfigError(f"--warmup-epochs {self.base.train.warmup_epochs:g} must be below the low end of "
                              f"--epochs-range {lo} {hi} (--epochs N sets both ends): a trial of {lo} epoch(s) "
                              "would end during its warm-up; lower --warmup-epochs or raise the low end")
        self.base.validate()
        check_ranges(self, "search")
        gpus = self.gpus_per_trial
        if gpus != "auto" and gpus > 1 and not float(gpus).is_integer():
            raise ConfigError(f"--gpus-per-trial {gpus:g}: above 1 it must be a whole number")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"--scheduler {self.scheduler!r}: use none or asha")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler {self.sampler!r}: use tpe or random")
        if self.frontier and self.scheduler != "none":
            raise ConfigError("--frontier with --scheduler asha: ASHA ranks trials by one metric, a frontier search "
                              "has two (F1 and clicks); leave --scheduler out")
        if self.reference not in REFERENCES:
            raise ConfigError(f"--reference {self.reference!r}: use none or full")
        return self

    @property
    def metric(self) -> str:
        return self.base.train.metric

    @property
    def objective(self) -> str:
        return self.base.train.objective

    @property
    def experiment_path(self) -> str:
        """``storage/name``: a local absolute path, or a URI (s3://, gs://, ...)."""
        return f"{self.storage.rstrip('/')}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples as lists), ready for YAML."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSettings:
        d = dict(d)
        space = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.pop("space").items()}
        d["warm_start"] = tuple(d.get("warm_start") or ())
        return cls(base=TrialConfig.from_dict(d.pop("base")), space=SearchSpace(**space), **d)


def choose_gpus_per_trial(cluster: dict[str, float], launchable: dict[str, dict[str, float]]) -> tuple[float, str]:
    """What ``--gpus-per-trial auto`` means on a cluster: one GPU per trial where it has GPUs, none otherwise.

    Args:
        cluster: the resources of the nodes that are up (``ray.cluster_resources()``).
        launchable: the resources of each worker type an autoscaler can start, by type name (empty without one).

    Returns:
        GPUs per trial and why, in words.
    """
    if cluster.get("GPU", 0) >= 1:
        return 1.0, f"Ray sees {cluster['GPU']:g} GPU(s)"
    with_gpus = [f"{name} ({res['GPU']:g} GPU)" for name, res in launchable.items() if res.get("GPU", 0) >= 1]
    if with_gpus:
        return 1.0, f"no GPU is up, and the autoscaler can start {', '.join(with_gpus)}"
    return 0.0, "no GPU on this machine or cluster"


def resolve_gpus(settings: SearchSettings, cluster: dict[str, float],
                 launchable: dict[str, dict[str, float]]) -> tuple[SearchSettings, str | None]:
    """``--gpus-per-trial auto`` made a number, once, in the driver after Ray starts (``choose_gpus_per_trial``).

    Returns:
        The settings with a number of GPUs per trial, and the line that says which and why (None where the number
        was given).
    """
    if settings.gpus_per_trial != "auto":
        return settings, None
    gpus, why = choose_gpus_per_trial(cluster, launchable)
    line = (f"GPUs: 1 per trial (--gpus-per-trial auto: {why}; --gpus-per-trial 0 keeps trials on CPUs)" if gpus
            else f"GPUs: none (--gpus-per-trial auto: {why}); trials train on CPUs")
    return dataclasses.replace(settings, gpus_per_trial=gpus), line


def resolve_storage(storage: str) -> str:
    """Absolute local path (trials run inside their own directories) or the URI unchanged."""
    return storage if is_uri(storage) else str(Path(storage).expanduser().resolve())


def absolute(path: str | None) -> str | None:
    """A path flag made absolute in the driver (trials run in their own folders); ``file://`` is a local path; None
    and other URIs stay as they are."""
    if path is not None and path.startswith("file://"):
        path = path.removeprefix("file://")
    return path if path is None or is_uri(path) else str(Path(path).expanduser().resolve())


def default_name() -> str:
    return "search-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
