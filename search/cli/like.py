"""``train --like RUN``: train with the settings RUN was trained with, the flags given overriding them.

RUN is a ``pointtune train`` folder (its config.yaml), a search (its best trial's settings) or a model file (the
settings it records). Every flag of
``train`` left out takes RUN's value: the data folder and format, the split, the clicks (unless ``--clicks`` gives
the next round's), the network, the learning rate and its schedule, the epochs, the losses. What the driver works
out from the data (the normalisation statistics) is worked out again.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.model.source import resolve_model
from search.results.experiment import best_record, load_experiment
from trainable.config import ConfigError, TrialConfig
from trainable.errors import CheckpointError

# config fields whose flag has another name (the rest: the flag's dest is the field's name)
FLAG_OF = {("data", "root"): "data", ("data", "classes_file"): "classes"}
NEGATED = {("data", "flips"): "no_flips", ("data", "rotations"): "no_rotations"}
NOT_FLAGS = {("points", "mode")}

log = logging.getLogger(__name__)


def liked_config(run: str) -> tuple[TrialConfig, str]:
    """RUN's settings and what they are (a model file's, a train run's or a search's best trial's)."""
    try:
        if Path(run).expanduser().is_file():
            config, what = resolve_model(run).payload.get("config") or {}, f"the model {run}"
        else:
            records = load_experiment(run)
            record = records[0] if len(records) == 1 else best_record(records, "train like")
            config = record.config
            what = f"the run {run}" if len(records) == 1 else f"trial {record.trial_id} of the search {run} (its best)"
    except (SearchError, CheckpointError, OSError) as e:
        raise ConfigError(f"--like {run}: {e}") from None
    try:
        return TrialConfig.from_dict(config), what
    except ConfigError as e:
        raise ConfigError(f"--like {run}: its settings cannot be read ({e})") from None


def apply_like(args: argparse.Namespace) -> list[str]:
    """Set every flag of ``args`` not given on the command line or in ``--config`` (``args.given``, from
    ``search.cli.main.parse``) to ``args.like``'s setting; the names taken, for the log."""
    if args.resume:
        raise ConfigError(f"--like {args.like} with --resume: a resumed run keeps its own settings; leave --like out")
    cfg, what = liked_config(args.like)
    given = getattr(args, "given", set())
    taken: list[str] = []
    for section in ("data", "points", "model", "train"):
        values = getattr(cfg, section)
        for f in dataclasses.fields(values):
            key, value = (section, f.name), getattr(values, f.name)
            if key in NEGATED:
                if NEGATED[key] not in given and not value:
                    setattr(args, NEGATED[key], True)
                    taken.append(NEGATED[key])
                continue
            dest = FLAG_OF.get(key, f.name)
            if key in NOT_FLAGS or not hasattr(args, dest) or dest in given or dest in taken:
                continue
            if not _given_other_way(args, section, f.name, cfg):
                setattr(args, dest, _as_flag(dest, value))
                taken.append(dest)
    log.info("--like: the settings of %s (%s taken; the flags given override them)", what,
             ", ".join(taken) or "none")
    return taken


def _given_other_way(args: argparse.Namespace, section: str, name: str, cfg: TrialConfig) -> bool:
    """Clicks are given as a density or per object: RUN's way only where the command line gave neither, and RUN's
    value only of the way RUN used; none of them where ``--clicks`` brings a user's clicks to a run that simulated
    its own."""
    if section != "points" or name not in ("density", "clicks_per_object", "background_share"):
        return False
    if "clicks" in getattr(args, "given", set()) and cfg.data.clicks is None:
        return True  # your clicks in place of RUN's simulated ones: the density of --clicks' own default
    if name == "background_share":
        return False
    if {"density", "clicks_per_object"} & getattr(args, "given", set()):
        return True
    return (name == "density") != (cfg.points.mode == "density")


def _as_flag(dest: str, value: Any) -> Any:
    if dest == "unlabeled_loss":
        return [value]
    return list(value) if isinstance(value, tuple) else value
