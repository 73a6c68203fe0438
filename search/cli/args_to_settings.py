"""The command line's flags (an ``argparse.Namespace``, after ``--config``) as the typed settings the rest of
pointtune takes: ``TrialConfig`` for ``train`` and each trial, ``SearchSettings`` for ``run``. The namespace stops
here; with no ``--data``, this is also where the built-in demo scenes are written to their folder."""

from __future__ import annotations

import logging
from typing import Any

from search.launch.settings import STAGE_TWO, SearchSettings, SearchSpace, absolute, resolve_storage
from trainable.config import ConfigError, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
from trainable.data.storage import is_uri
from trainable.defaults import RESUME_EVERY, RESUME_EVERY_URI, default, profile

log = logging.getLogger(__name__)


def pick(args: Any, key: str, defaults: dict[str, Any]) -> Any:
    """A flag's value, or the run's default where it was not given (``None``)."""
    value = getattr(args, key, None)
    return defaults[key] if value is None else value


def run_defaults(args: Any) -> tuple[str, str | None, dict[str, Any]]:
    """The data folder, its format and the run's defaults (``trainable.defaults.profile``): the demo's with no
    ``--data`` (the built-in scenes, read as ``--format demo``) or a ``pointtune demo-data`` folder, your clicks' with
    ``--clicks``."""
    from trainable.data.demo import default_demo_dir, ensure_demo_data, is_demo_folder

    data, fmt = args.data, args.format
    resume = getattr(args, "resume", False)  # a resumed search reads its own saved settings: no demo scenes made
    if data is None:
        data, fmt = str(default_demo_dir() if resume else ensure_demo_data()), fmt or "demo"
    # a folder written by `pointtune demo-data` takes the demo's settings, and is read as any folder of one's own
    # (its classes.yaml, which the user may have edited, says what the classes are)
    defaults = profile(demo=args.data is None or is_demo_folder(data), clicks=bool(getattr(args, "clicks", None)))
    if args.data is None and not resume:
        log.info("no --data given: using the built-in demo scenes in %s with demo-sized defaults (backbone %s "
                 "unless --backbone says otherwise; real data defaults to DeepLabV3-%s)", data,
                 args.backbone or defaults["backbone"], default("backbone").replace("resnet", "ResNet"))
    return data, fmt, defaults


def _data_config(args: Any, root: str, fmt: str | None, defaults: dict[str, Any]) -> DataConfig:
    from trainable.data.split import SPLIT_CHOICES, split_problem

    split = pick(args, "split", defaults)
    if problem := split_problem(split):
        raise ConfigError(problem)
    return DataConfig(
        root=absolute(root), format=fmt, classes_file=absolute(args.classes),
        tile_size=pick(args, "tile_size", defaults), resize=pick(args, "resize", defaults),
        flips=not args.no_flips, rotations=not args.no_rotations, color_jitter=pick(args, "color_jitter", defaults),
        scale_jitter=pick(args, "scale_jitter", defaults), standardize=args.standardize,
        val_fraction=pick(args, "val_fraction", defaults), test_fraction=pick(args, "test_fraction", defaults),
        split=split if split in SPLIT_CHOICES else absolute(split), split_seed=pick(args, "split_seed", defaults),
        val_dir=absolute(args.val_dir), test_dir=absolute(args.test_dir),
        crops_per_epoch=pick(args, "crops_per_epoch", defaults), bands=tuple(pick(args, "bands", defaults)),
        normalize=pick(args, "normalize", defaults), clicks=absolute(args.clicks),
        val_clicks=pick(args, "val_clicks", defaults), unlabeled_images=absolute(args.unlabeled_images),
        adapt_bn=absolute(args.adapt_bn))


def _point_config(args: Any, defaults: dict[str, Any]) -> PointConfig:
    per_instance = getattr(args, "clicks_per_object", None) or getattr(args, "clicks_per_object_range", None)
    return PointConfig(mode="per_instance" if per_instance else "density", density=pick(args, "density", defaults),
                       clicks_per_object=pick(args, "clicks_per_object", defaults),
                       background_share=pick(args, "background_share", defaults),
                       min_region_pixels=pick(args, "min_region_pixels", defaults), class_weights=args.class_weights,
                       seed=pick(args, "seed", defaults),
                       seconds_per_click=pick(args, "seconds_per_click", defaults))


def _model_config(args: Any, defaults: dict[str, Any]) -> ModelConfig:
    weights = pick(args, "weights", defaults)
    if weights not in ("none", "auto", "imagenet", "coco"):
        weights = absolute(weights)
    return ModelConfig(backbone=pick(args, "backbone", defaults), weights=weights,
                       allow_random_init=args.allow_random_init)


def _train_config(args: Any, defaults: dict[str, Any]) -> TrainConfig:
    losses = args.unlabeled_loss or [defaults["unlabeled_loss"]]
    if len(losses) > 1 and getattr(args, "command", None) == "train":
        raise ConfigError(f"--unlabeled-loss {' '.join(losses)}: one run trains with one loss; give one (a search, "
                          "`pointtune run`, chooses among several)")
    names = ("lr", "epochs", "batch_size", "weight_decay", "seed", "device", "bn_recalibration_batches", "lr_schedule",
             "poly_power", "warmup_epochs", "metric", "unlabeled_weight", "pseudo_labels", *STAGE_TWO)
    return TrainConfig(**{name: pick(args, name, defaults) for name in names}, unlabeled_loss=losses[0])


def trial_config_from_args(args: Any, validate: bool = True) -> tuple[TrialConfig, dict[str, Any]]:
    """The base trial config from parsed flags; with no ``--data``, the built-in demo scenes and demo defaults.

    Args:
        args: the parsed flags.
        validate: check the config (a search checks it with its ranges: ``SearchSettings.validate``).

    Returns:
        The config and the defaults that were used (``run_defaults``).
    """
    root, fmt, defaults = run_defaults(args)
    cfg = TrialConfig(data=_data_config(args, root, fmt, defaults), points=_point_config(args, defaults),
                      model=_model_config(args, defaults), train=_train_config(args, defaults))
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


def search_space_from_args(args: Any, defaults: dict[str, Any]) -> SearchSpace:
    """The searched ranges: each from its ``--X-range`` flag, its fixed value's ``--X`` or the run's default; with
    ASHA (and no ``--asha-search-epochs``) the epoch count is the budget, every trial's the top of the range."""
    clicks = fixed_or_range(args, "clicks_per_object", "clicks_per_object_range", None)
    density_given = fixed_or_range(args, "density", "density_range", None) is not None  # with clicks: both modes
    epochs = fixed_or_range(args, "epochs", "epochs_range", tuple(defaults["epochs_range"]))
    if args.scheduler == "asha" and not args.asha_search_epochs and epochs[0] != epochs[1]:
        log.info("--scheduler asha: the epoch count is the budget, not a searched value: every trial's schedule "
                 "spans %d epochs and ASHA stops weak trials at its rungs (add --asha-search-epochs to search it "
                 "too)", epochs[1])
        epochs = (epochs[1], epochs[1])
    losses = tuple(args.unlabeled_loss or ())
    optional = {name: tuple(value) for name, value in (("background_share", args.background_share_range),
                                                       ("unlabeled_weight", args.unlabeled_weight_range)) if value}
    for name in ("pseudo_labels", *STAGE_TWO, "color_jitter", "scale_jitter"):
        if (span := fixed_or_range(args, name, f"{name}_range", None)) is not None:
            optional[name] = span
    return SearchSpace(lr=fixed_or_range(args, "lr", "lr_range", tuple(defaults["lr_range"])),
                       density=fixed_or_range(args, "density", "density_range", tuple(defaults["density_range"])),
                       clicks_per_object=clicks, epochs=epochs, both_modes=clicks is not None and density_given,
                       class_weights=args.search_class_weights, standardize=args.search_standardize, **optional,
                       unlabeled_losses=losses if len(losses) > 1 else ())


def search_settings_from_args(args: Any) -> SearchSettings:
    """The settings of ``pointtune run``: the base trial config, the search space and how the search runs."""
    base, defaults = trial_config_from_args(args, validate=False)
    storage = resolve_storage(pick(args, "storage", defaults))
    resume_every = args.resume_every or (RESUME_EVERY_URI if is_uri(storage) else RESUME_EVERY)
    space = search_space_from_args(args, defaults)
    # each trial's own epoch count (and pseudo-label threshold) comes from the range; the base holds its top
    base = base.replace(train={"resume_every": resume_every, "epochs": space.epochs[1],
                               "pseudo_labels": space.pseudo_labels[1] if space.pseudo_labels else None,
                               "max_minutes": getattr(args, "max_trial_minutes", None)})
    names = ("trials", "max_concurrent", "cpus_per_trial", "gpus_per_trial", "scheduler", "grace_period",
             "reduction_factor", "sampler", "name", "address", "seed", "max_failures", "keep_checkpoints",
             "reference", "max_annotation_hours", "max_trial_minutes")
    return SearchSettings(
        base=base, space=space, storage=storage, **{name: pick(args, name, defaults) for name in names},
        asha_search_epochs=args.asha_search_epochs, resume=args.resume, retry_failed=args.retry_failed,
        trials_given=args.trials is not None, frontier=args.frontier,
        warm_start=tuple(absolute(f) for f in (getattr(args, "warm_start", None) or ()))).validate()
