"""Flags built from the defaults table (``trainable.defaults``): each with its type, its help and its default shown,
so a default is written once; and the former spellings of renamed flags, hidden, for one release."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from search.launch.settings import REFERENCES, SAMPLERS, SCHEDULERS
from trainable.config import BACKBONES, DEVICES, LR_SCHEDULES, METRICS, NORMALIZATIONS, UNLABELED_LOSSES, current_name
from trainable.defaults import SAME, TABLE
from trainable.setting_text import help_text, out_of_range


def bands(text: str) -> tuple[int, ...]:
    """``1,2,3,4`` -> (1, 2, 3, 4)."""
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give band numbers separated by commas, e.g. 1,2,3,4") from None


def gpus(text: str) -> float | str:
    """``auto`` or a number of GPUs per trial."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, or GPUs per trial such as 1, 0.5 or 0 (CPU trials)"
                                         ) from None


# what a flag's default value does not say about it: its choices, a type of its own, a metavar
SPEC: dict[str, dict[str, Any]] = {
    "bands": {"type": bands, "metavar": "B,B,..."},
    "normalize": {"choices": NORMALIZATIONS},
    "backbone": {"choices": BACKBONES},
    "device": {"choices": DEVICES},
    "metric": {"choices": METRICS, "type": current_name},  # a former name (val_points_f1) is read as today's
    "lr_schedule": {"choices": LR_SCHEDULES},
    "unlabeled_loss": {"nargs": "+", "choices": UNLABELED_LOSSES, "metavar": "LOSS", "default": None},  # a list
    "gpus_per_trial": {"type": gpus},
    "scheduler": {"choices": SCHEDULERS},
    "sampler": {"choices": SAMPLERS},
    "reference": {"choices": REFERENCES},
    "background_share": {"type": float},
    "clicks_per_object": {"default": None},  # given: per-object clicks instead of a density
    "resume_every": {"type": int},
    "clicks_per_object_range": {"type": int},
    "background_share_range": {"type": float},
    "unlabeled_weight_range": {"type": float},
    "pseudo_labels": {"type": float, "metavar": "THRESHOLD"},
    "pseudo_labels_range": {"type": float},
    "pseudo_lr_factor": {"metavar": "FACTOR"},
    "teacher_decay": {"type": float, "metavar": "DECAY"},
    "pseudo_class_share": {"type": float, "metavar": "SHARE"},
    "pseudo_weight": {"type": float, "metavar": "WEIGHT"},
    "pseudo_lr_factor_range": {"type": float},
    "teacher_decay_range": {"type": float},
    "pseudo_class_share_range": {"type": float},
    "pseudo_weight_range": {"type": float},
    "unlabeled_images": {"metavar": "DIR"},
    "adapt_bn": {"metavar": "DIR"},
    "color_jitter": {"metavar": "J"},
    "scale_jitter": {"metavar": "R"},
    "color_jitter_range": {"type": float},
    "scale_jitter_range": {"type": float},
    "clicks_per_image": {"type": int, "metavar": "K"},
    "radius": {"type": float},
    "max_annotation_hours": {"type": float, "metavar": "H"},
    "warm_start": {"nargs": "+", "metavar": "FOLDER", "default": None},
    "max_trial_minutes": {"type": float, "metavar": "M"},
}
KINDS = {int: "a whole number", float: "a number"}


def checked(kind: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """``kind`` (int, float, ``gpus``) that also refuses a value outside the setting's valid range
    (``trainable.defaults``: ``Default.valid``), saying the range; the command line and ``--config`` both read
    through it."""
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {KINDS.get(kind, 'a valid value')}") from None
        problem = out_of_range(name, value)
        if problem:  # "--flag VALUE: use a value in ...", said of the text given
            raise argparse.ArgumentTypeError(f"{text}:{problem.split(':', 1)[1]}")
        return value

    convert.__name__ = getattr(kind, "__name__", "value")
    return convert


def _kind(value: Any) -> dict[str, Any]:
    """argparse's type, nargs and metavar for a default value."""
    if isinstance(value, tuple) and len(value) == 2:
        return {"type": type(value[0]), "nargs": 2, "metavar": ("LO", "HI")}
    return {"type": type(value)} if isinstance(value, int | float) else {}


def setting(name: str, **override: Any) -> tuple[list[str], dict[str, Any]]:
    """The flag of a setting and its ``add_argument`` keywords: type from its default (or ``SPEC``), help with its
    default (``trainable.setting_text.help_text``), and as argparse's default its value where the demo and your clicks
    share it (else None: the run picks it, ``search.cli.args_to_settings.pick``); ``override`` replaces any of them."""
    entry = TABLE[name]
    if entry.value is True:  # --no-flips
        kwargs: dict[str, Any] = {"action": "store_true", "help": f"no {entry.help}"}
    elif entry.value is False:
        kwargs = {"action": "store_true", "help": entry.help}
    else:
        same = entry.demo is SAME and entry.clicks is SAME
        kwargs = {**_kind(entry.value), "default": entry.value if same else None, **SPEC.get(name, {}),
                  "help": help_text(name)}
    kwargs.update(override)
    if entry.valid and kwargs.get("type") in (int, float, gpus):
        kwargs["type"] = checked(kwargs["type"], name)
    kwargs["help"] = kwargs["help"].replace("%", "%%")
    return [entry.flag], kwargs


def add(container: Any, *names: str, **override: Any) -> None:
    """Add the flags of the settings ``names`` (``setting``) to a parser or an argument group."""
    for name in names:
        flags, kwargs = setting(name, **override)
        container.add_argument(*flags, **kwargs)


def add_range(container: Any, name: str) -> None:
    """A searched range (``--lr-range LO HI``), and its one fixed value where it has one (``--lr X``, the same as
    ``--lr-range X X``)."""
    entry = TABLE[name]
    add(container, name, nargs=2, metavar=("LO", "HI"),
        help=help_text(name, f"{entry.help}, searched {entry.searched} in [LO, HI]"))
    if entry.fixed:
        fixed = entry.fixed.removeprefix("--").replace("-", "_")
        add(container, fixed, default=None, help=f"one value, the same as {entry.flag} X X")


class Renamed(argparse.Action):
    """A former spelling of a flag (hidden): stores as the flag does, and leaves a note saying the new one in
    ``namespace.renamed``, which ``main`` prints."""

    def __init__(self, *args: Any, instead: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.instead = instead

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        note = f"{option_string} is now {self.instead}; the old spelling goes in the next release"
        namespace.renamed = [*getattr(namespace, "renamed", []), note]


def add_former(container: Any, former: str, parser: argparse.ArgumentParser, flag: str) -> None:
    """``former`` as a hidden spelling of ``parser``'s ``flag``: same destination, type, arity and choices."""
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    container.add_argument(former, dest=action.dest, type=action.type, nargs=action.nargs, choices=action.choices,
                           metavar=action.metavar, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                           action=Renamed, instead=flag)


# the click flags as they were spelt before 0.2 ("points"); each command adds those of its flags
FORMER_CLICK_FLAGS = {"--points": "--clicks", "--val-points": "--val-clicks",
                      "--points-per-instance": "--clicks-per-object", "--points-range": "--clicks-per-object-range"}


def add_former_click_flags(parser: argparse.ArgumentParser) -> None:
    """The former spellings of the click flags that ``parser`` has (``--points`` for ``--clicks``, ...)."""
    flags = {s for a in parser._actions for s in a.option_strings}
    for former, flag in FORMER_CLICK_FLAGS.items():
        if flag in flags and former not in flags:  # not yet added (to a mutually exclusive group)
            add_former(parser, former, parser, flag)
