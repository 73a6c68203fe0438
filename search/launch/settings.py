"""Settings of a search (and of a single training run), built once from the CLI flags and an optional YAML file.

``argparse.Namespace`` stops here: the rest of pointtune takes ``TrialConfig`` and ``SearchSettings``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainable.config import ConfigError, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
from trainable.data.storage import is_uri

log = logging.getLogger(__name__)

# Defaults for real data, and the smaller ones used when no --data is given (built-in demo scenes on a CPU).
DEFAULTS: dict[str, Any] = {
    "tile_size": 256, "batch_size": 8, "backbone": "resnet50", "weights": "auto", "epochs": 10,
    "crops_per_epoch": 0, "trials": 16, "epochs_range": (2, 12), "lr_range": (1e-5, 1e-2),
    "density_range": (1e-4, 1e-1), "lr": 1e-4, "density": 0.01,
    "split": "auto", "split_seed": 0, "val_fraction": 0.2, "test_fraction": 0.1,
    "lr_schedule": "poly", "poly_power": 0.9, "warmup_epochs": 0.0, "metric": "val_f1",
    "sampler": "tpe", "grace_period": 1, "reduction_factor": 3, "seconds_per_click": 1.75,
    "val_clicks": 100, "unlabeled_weight": 0.1,
}
# With the user's own clicks (--clicks) a density is the share of their clicks kept: all of them by default.
USER_POINTS_DEFAULTS: dict[str, Any] = {"density": 1.0, "density_range": (0.05, 1.0)}
# The demo trains the small stand-in CNN: a DeepLabV3 from random init does not learn in a CPU-minute (measured on
# the demo scenes, 3 epochs x 24 steps: MobileNetV3 val F1 0.19-0.21, ResNet-50 0.15; the small CNN 0.5-0.6).
DEMO_DEFAULTS: dict[str, Any] = {
    **DEFAULTS, "tile_size": 64, "backbone": "tiny", "weights": "none", "epochs": 3,
    "crops_per_epoch": 96, "trials": 6, "epochs_range": (1, 4), "lr_range": (1e-4, 3e-2),
    "density_range": (1e-3, 1e-1),
}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched by Optuna (inclusive bounds)."""

    lr: tuple[float, float] = (1e-5, 1e-2)
    density: tuple[float, float] = (1e-4, 1e-1)
    clicks_per_object: tuple[int, int] | None = None  # set: search clicks per instance (instead of density)
    epochs: tuple[int, int] = (2, 12)
    both_modes: bool = False  # search the click mode too (density or clicks per object): a categorical choice
    background_share: tuple[float, float] | None = None  # clicks per object: share of clicks on background
    class_weights: bool = False  # search whether the loss weights classes by inverse point frequency
    unlabeled_losses: tuple[str, ...] = ()  # several: the loss on unlabelled pixels is a categorical choice
    unlabeled_weight: tuple[float, float] | None = None  # log-uniform weight of that loss

    @property
    def modes(self) -> tuple[str, ...]:
        if self.clicks_per_object is None:
            return ("density",)
        return ("density", "per_instance") if self.both_modes else ("per_instance",)

    def validate(self) -> None:
        lo, hi = self.lr
        if not 0 < lo <= hi < 1:
            raise ConfigError(f"--lr-range {lo:g} {hi:g}: need 0 < LO <= HI < 1, e.g. --lr-range 1e-5 1e-2")
        lo, hi = self.density
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"--density-range {lo:g} {hi:g}: need 0 < LO <= HI <= 1 (fractions of pixels)")
        if self.clicks_per_object is not None:
            lo, hi = self.clicks_per_object
            if not 1 <= lo <= hi:
                raise ConfigError(f"--clicks-per-object-range {lo} {hi}: need 1 <= LO <= HI clicks per instance")
        lo, hi = self.epochs
        if not 1 <= lo <= hi:
            raise ConfigError(f"--epochs-range {lo} {hi}: need 1 <= LO <= HI")
        if self.background_share is not None:
            lo, hi = self.background_share
            if not 0 <= lo <= hi < 1:
                raise ConfigError(f"--background-share-range {lo:g} {hi:g}: need 0 <= LO <= HI < 1")
            if self.clicks_per_object is None:
                raise ConfigError("--background-share-range applies to clicks per object: give "
                                  "--clicks-per-object-range too")
        if self.unlabeled_weight is not None:
            lo, hi = self.unlabeled_weight
            if not 0 < lo <= hi:
                raise ConfigError(f"--unlabeled-weight-range {lo:g} {hi:g}: need 0 < LO <= HI, e.g. 0.01 1")


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs; the trial settings it does not search come from ``base``."""

    base: TrialConfig
    space: SearchSpace = field(default_factory=SearchSpace)
    trials: int = 16
    max_concurrent: int = 0  # 0: as many as the resources allow
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | Literal["auto"] = "auto"  # auto: one where Ray has GPUs, else none (resolve_gpus)
    scheduler: Literal["none", "asha"] = "none"
    grace_period: int = 1
    reduction_factor: int = 3
    asha_search_epochs: bool = False
    sampler: Literal["tpe", "random"] = "tpe"
    storage: str = "pointtune-results"
    name: str = ""
    address: str | None = None
    resume: bool = False
    seed: int = 0
    max_failures: int = 2
    keep_checkpoints: int = 1
    retry_failed: bool = False
    trials_given: bool = False  # --trials was on the command line (with --resume it raises the budget)
    frontier: bool = False  # two objectives: the best metric up, clicks per image down (a Pareto front)
    reference: Literal["none", "full"] = "none"  # after the search, one fully supervised trial to compare with

    def validate(self) -> SearchSettings:
        self.space.validate()
        lo, hi = self.space.epochs
        if self.base.train.warmup_epochs >= lo:  # each trial's own epoch count is checked against it in the trial
            raise ConfigError(f"--warmup-epochs {self.base.train.warmup_epochs:g} must be below the low end of "
                              f"--epochs-range {lo} {hi} (--epochs N sets both ends): a trial of {lo} epoch(s) "
                              "would end during its warm-up; lower --warmup-epochs or raise the low end")
        self.base.validate()
        if self.trials < 1:
            raise ConfigError(f"--trials {self.trials}: need at least 1")
        if self.max_concurrent < 0:
            raise ConfigError(f"--max-concurrent {self.max_concurrent}: use 0 (auto) or a positive count")
        gpus = self.gpus_per_trial
        if self.cpus_per_trial <= 0 or (gpus != "auto" and gpus < 0):
            raise ConfigError("--cpus-per-trial must be > 0 and --gpus-per-trial auto or >= 0")
        if gpus != "auto" and gpus > 1 and not float(gpus).is_integer():
            raise ConfigError(f"--gpus-per-trial {gpus:g}: above 1 it must be a whole number")
        if self.scheduler not in ("none", "asha"):
            raise ConfigError(f"--scheduler {self.scheduler!r}: use none or asha")
        if self.grace_period < 1 or self.reduction_factor < 2:
            raise ConfigError(f"--grace-period {self.grace_period} must be >= 1 and --reduction-factor "
                              f"{self.reduction_factor} >= 2")
        if self.sampler not in ("tpe", "random"):
            raise ConfigError(f"--sampler {self.sampler!r}: use tpe or random")
        if self.frontier and self.scheduler != "none":
            raise ConfigError("--frontier with --scheduler asha: ASHA ranks trials by one metric, a frontier search "
                              "has two (F1 and clicks); leave --scheduler out")
        if self.reference not in ("none", "full"):
            raise ConfigError(f"--reference {self.reference!r}: use none or full")
        if self.keep_checkpoints < 1:
            raise ConfigError("--keep-checkpoints must be at least 1 (the best epoch's checkpoint)")
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
    """A path flag made absolute in the driver (trials run in their own folders); None stays None."""
    return None if path is None else str(Path(path).expanduser().resolve())


def default_name() -> str:
    return "search-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def pick(args: Any, key: str, defaults: dict[str, Any]) -> Any:
    value = getattr(args, key, None)
    return defaults[key] if value is None else value


def trial_config_from_args(args: Any, validate: bool = True) -> tuple[TrialConfig, dict[str, Any]]:
    """The base trial config from parsed flags; with no ``--data``, the built-in demo scenes and demo defaults.

    Args:
        args: the parsed flags.
        validate: check the config (a search checks it with its ranges: ``SearchSettings.validate``).

    Returns:
        The config and the defaults table that was used (``DEFAULTS`` or ``DEMO_DEFAULTS``).
    """
    defaults = DEFAULTS
    data, fmt = args.data, args.format
    if data is None:
        from trainable.data.demo import ensure_demo_data

        data, fmt, defaults = str(ensure_demo_data()), fmt or "demo", DEMO_DEFAULTS
        log.info("no --data given: using the built-in demo scenes in %s with demo-sized defaults (backbone %s "
                 "unless --backbone says otherwise; real data defaults to DeepLabV3-ResNet50)", data,
                 args.backbone or defaults["backbone"])
    else:
        from trainable.data.demo import is_demo_folder

        # written by `pointtune demo-data`: the demo's scenes take the demo's settings, and are read as any folder of
        # one's own (its classes.yaml, which the user may have edited, says what the classes are)
        if is_demo_folder(data):
            defaults = DEMO_DEFAULTS
    if getattr(args, "clicks", None):
        defaults = {**defaults, **USER_POINTS_DEFAULTS}
    density = getattr(args, "density", None)
    losses = args.unlabeled_loss or ["none"]
    if len(losses) > 1 and getattr(args, "command", None) == "train":
        raise ConfigError(f"--unlabeled-loss {' '.join(losses)}: one run trains with one loss; give one (a search, "
                          "`pointtune run`, chooses among several)")
    per_instance = getattr(args, "clicks_per_object", None)
    split = pick(args, "split", defaults)
    from trainable.data.split import SPLIT_CHOICES, split_problem

    if problem := split_problem(split):
        raise ConfigError(problem)
    weights = pick(args, "weights", defaults)
    if weights not in ("none", "auto", "imagenet", "coco"):
        weights = absolute(weights)
    cfg = TrialConfig(
        data=DataConfig(root=absolute(data), format=fmt, classes_file=absolute(args.classes),
                        tile_size=pick(args, "tile_size", defaults), resize=args.resize,
                        flips=not args.no_flips, rotations=not args.no_rotations,
                        val_fraction=pick(args, "val_fraction", defaults),
                        test_fraction=pick(args, "test_fraction", defaults),
                        split=split if split in SPLIT_CHOICES else absolute(split),
                        split_seed=pick(args, "split_seed", defaults),
                        val_dir=absolute(args.val_dir), test_dir=absolute(args.test_dir),
                        crops_per_epoch=pick(args, "crops_per_epoch", defaults),
                        bands=tuple(args.bands or ()), normalize=args.normalize or "auto",
                        clicks=absolute(args.clicks), val_clicks=pick(args, "val_clicks", defaults)),
        points=PointConfig(mode="per_instance" if per_instance or getattr(args, "clicks_per_object_range", None)
                           else "density",
                           density=density if density is not None else defaults["density"],
                           clicks_per_object=per_instance or 1, background_share=args.background_share,
                           class_weights=args.class_weights, seed=args.seed,
                           seconds_per_click=pick(args, "seconds_per_click", defaults)),
        model=ModelConfig(backbone=pick(args, "backbone", defaults), weights=weights,
                          allow_random_init=args.allow_random_init),
        train=TrainConfig(lr=pick(args, "lr", defaults), epochs=pick(args, "epochs", defaults),
                          batch_size=pick(args, "batch_size", defaults), seed=args.seed, device=args.device,
                          bn_recalibration_batches=args.bn_recalibration_batches,
                          lr_schedule=pick(args, "lr_schedule", defaults),
                          poly_power=pick(args, "poly_power", defaults),
                          warmup_epochs=pick(args, "warmup_epochs", defaults),
                          metric=pick(args, "metric", defaults), unlabeled_loss=losses[0],
                          unlabeled_weight=pick(args, "unlabeled_weight", defaults)),
    )
    return cfg.validate() if validate else cfg, defaults


def fixed_or_range(args: Any, fixed: str, ranged: str, default: tuple | None) -> tuple | None:
    """A searched range from its flag (``--lr-range LO HI``) or from the fixed value's (``--lr X`` is
    ``--lr-range X X``); ``default`` when neither is given.

    Raises:
        ConfigError: both are given.
    """
    value, span = getattr(args, fixed, None), getattr(args, ranged, None)
    if value is not None and span is not None:
        one, both = "--" + fixed.replace("_", "-"), "--" + ranged.replace("_", "-")
        raise ConfigError(f"{one} {value:g} and {both} {span[0]:g} {span[1]:g}: give one of them ({one} X is "
                          f"{both} X X)")
    if value is not None:
        return (value, value)
    return tuple(span) if span is not None else default


def search_settings_from_args(args: Any) -> SearchSettings:
    base, defaults = trial_config_from_args(args, validate=False)
    storage = resolve_storage(args.storage)
    # a resume state is 3x the model (weights and Adam's moments): every other epoch on a local disk (the first
    # version wrote 3x every epoch), every 4th to a bucket (uploads); a crash re-runs the epochs since
    resume_every = args.resume_every or (4 if is_uri(storage) else 2)
    base = base.replace(train={"resume_every": resume_every})
    ppi = fixed_or_range(args, "clicks_per_object", "clicks_per_object_range", None)
    density_given = fixed_or_range(args, "density", "density_range", None) is not None  # with ppi: both modes
    density = fixed_or_range(args, "density", "density_range", tuple(defaults["density_range"]))
    share = tuple(args.background_share_range) if args.background_share_range else None
    epochs = fixed_or_range(args, "epochs", "epochs_range", tuple(defaults["epochs_range"]))
    scheduler = args.scheduler or "none"
    if scheduler == "asha" and not args.asha_search_epochs and epochs[0] != epochs[1]:
        log.info("--scheduler asha: the epoch count is the budget, not a searched value: every trial's schedule "
                 "spans %d epochs and ASHA stops weak trials at its rungs (add --asha-search-epochs to search it "
                 "too)", epochs[1])
        epochs = (epochs[1], epochs[1])
    base = base.replace(train={"epochs": epochs[1]})  # each trial's own count comes from the range
    space = SearchSpace(lr=fixed_or_range(args, "lr", "lr_range", tuple(defaults["lr_range"])),
                        density=density, clicks_per_object=ppi, epochs=epochs,
                        both_modes=ppi is not None and density_given,
                        background_share=share,
                        class_weights=args.search_class_weights,
                        unlabeled_losses=tuple(args.unlabeled_loss) if args.unlabeled_loss and
                        len(args.unlabeled_loss) > 1 else (),
                        unlabeled_weight=tuple(args.unlabeled_weight_range) if args.unlabeled_weight_range else None)
    return SearchSettings(
        base=base, space=space, trials=pick(args, "trials", defaults), max_concurrent=args.max_concurrent,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, scheduler=scheduler,
        grace_period=pick(args, "grace_period", defaults), reduction_factor=pick(args, "reduction_factor", defaults),
        asha_search_epochs=args.asha_search_epochs, sampler=pick(args, "sampler", defaults),
        storage=storage, name=args.name or "", address=args.address, resume=args.resume,
        seed=args.seed, max_failures=args.max_failures, keep_checkpoints=args.keep_checkpoints,
        retry_failed=args.retry_failed, trials_given=args.trials is not None, frontier=args.frontier,
        reference=args.reference or "none",
    ).validate()
