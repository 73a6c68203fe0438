"""``--config FILE.yaml``: a file of flag values, turned into the flags it stands for (timm's habit: the file sets the
defaults, the command line overrides it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trainable.config import ConfigError


def read_mapping(path: str) -> dict[Any, Any]:
    """The YAML file's mapping.

    Raises:
        ConfigError: missing or malformed file, or not a mapping.
    """
    import yaml

    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"--config {path} is a folder: give a YAML file of flag values")
    if not p.is_file():
        raise ConfigError(f"--config {path} does not exist: give a YAML file of flag values")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path} must be a mapping of flag names to values")
    return raw


def _flag_actions(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.Action]]:
    """Each long flag of ``parser`` by its key in a file (``tile_size`` for ``--tile-size``; a former spelling,
    ``points``, as well), with the flag and its action."""
    return {flag[2:].replace("-", "_"): (flag, a) for a in parser._actions for flag in a.option_strings
            if flag.startswith("--") and a.dest not in ("help", "config")}


def _values(path: str, key: Any, value: Any, action: argparse.Action) -> list[str]:
    """A key's value as the command-line words of its flag, each checked by the flag's own type and choices."""
    if isinstance(value, list) and action.nargs is None:  # a list for one value: --bands 1,2,3,4 only
        if getattr(action.type, "__name__", "") != "bands":
            raise ConfigError(f"--config {path}: {key}: {value!r} is a list; give one value")
        value = ",".join(map(str, value))
    values = value if isinstance(value, list) else [value]
    if isinstance(action.nargs, int) and len(values) != action.nargs:
        raise ConfigError(f"--config {path}: {key}: {value!r} must be a list of {action.nargs} values")
    for v in values:
        try:
            converted = action.type(str(v)) if action.type else str(v)
        except argparse.ArgumentTypeError as e:  # the flag's own words: what it takes, its valid range
            raise ConfigError(f"--config {path}: {key}: {e}") from None
        except (TypeError, ValueError):
            kind = getattr(action.type, "__name__", "value")
            raise ConfigError(f"--config {path}: {key}: {v!r} is not a valid {kind}") from None
        if action.choices is not None and converted not in action.choices:
            raise ConfigError(f"--config {path}: {key}: {v!r} is not one of {', '.join(map(str, action.choices))}")
    return [str(v) for v in values]


def config_argv(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """The flags a ``--config`` YAML file stands for (keys are flag names: ``lr_range`` or ``lr-range``).

    Each value goes through its flag's own type and choices, so ``lr_range: [1e-5, 1e-2]`` (which YAML reads as
    two strings) means what it says, and a bad value is an error that names its key.

    Raises:
        ConfigError: missing or malformed file, unknown key, or a value its flag does not take.
    """
    raw = read_mapping(path)
    actions = _flag_actions(parser)
    unknown = sorted(str(k) for k in raw if str(k).replace("-", "_") not in actions)
    if unknown:
        raise ConfigError(f"--config {path}: unknown setting(s) {unknown}; use the flag names of "
                          f"`{parser.prog} --help` (e.g. tile_size, batch_size)")
    argv: list[str] = []
    for key, value in raw.items():
        flag, action = actions[str(key).replace("-", "_")]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"--config {path}: {key}: {value!r} must be true or false")
            argv += [flag] if value else []
        else:
            argv += [flag, *_values(path, key, value, action)]
    return argv


def explicit_flags(argv: list[str], parser: argparse.ArgumentParser) -> set[str]:
    """Destinations of the flags written in ``argv`` (abbreviations are off, so each must be spelt out)."""
    given = {token.split("=", 1)[0] for token in argv if token.startswith("-")}
    return {a.dest for a in parser._actions if given & set(a.option_strings)}
