"""How a setting of the defaults table (``trainable.defaults``) reads to a user: its default as one types it, its
help with the default and the valid range (``--help``, the docs' tables), and why a value is out of its range."""

from __future__ import annotations

import numbers
from dataclasses import fields
from typing import Any

from trainable.defaults import SAME, TABLE, setting_at
from trainable.errors import ConfigError
from trainable.valid_range import Valid


def out_of_range(name: str, value: Any, flag: str | None = None) -> str | None:
    """Why ``value`` (a number, or a range's two ends) is not one setting ``name`` takes, naming its flag, the value
    and the valid range; None when it is (or the setting has no range)."""
    entry = TABLE[name]
    if not entry.valid or value is None or isinstance(value, str | bool):
        return None
    valid = Valid.parse(entry.valid)
    for v in value if isinstance(value, tuple | list) else (value,):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not valid.holds(float(v)):
            return f"{flag or entry.flag} {v}: use a value {valid.words} ({entry.help}; default {default_text(name)})"
    return None


def shown(value: Any) -> str:
    """A value as one types it: ``1e-4``, ``0.01``, ``1e-5 1e-2`` for a range, ``on``/``off``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if value != 0 and not 1e-3 <= abs(value) < 1e5:
            mantissa, exponent = f"{value:e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"
        return f"{value:g}"
    if isinstance(value, tuple):
        return " ".join(shown(v) for v in value) if value else "none"
    return "none" if value is None else str(value)


def default_text(name: str) -> str:
    """The default of a setting, the demo's and your clicks' where they differ (``256; demo 64``); in words where its
    value alone does not say it (``none, a new local instance``)."""
    entry = TABLE[name]
    text = entry.words or shown(entry.value)
    if entry.demo is not SAME:
        text += f"; demo {shown(entry.demo)}"
    if entry.clicks is not SAME:
        text += f"; with --clicks {shown(entry.clicks)}"
    return text


def help_text(name: str, help: str | None = None) -> str:
    """A setting's help with its default and its valid range: ``tile side in pixels (default 256; demo 64; valid
    [8, 8192])``, ``... (default all)``; ``help`` replaces the table's words (a command that uses the setting its own
    way)."""
    valid = f"; valid {TABLE[name].valid}" if TABLE[name].valid else ""
    return f"{help or TABLE[name].help} (default {default_text(name)}{valid})"


def check_ranges(part: Any, section: str) -> None:
    """Every field of a config section within its setting's valid range (``trainable.defaults``: the table says
    it next to the default, and the command line is checked against the same range when it is read).

    Raises:
        ConfigError: naming the flag, the value and the range.
    """
    for f in fields(part):
        name = setting_at(section, f.name)
        if name and (problem := wrong_type(name, getattr(part, f.name), str(f.type))
                     or out_of_range(name, getattr(part, f.name))):
            raise ConfigError(problem)


def wrong_type(name: str, value: Any, annotation: str) -> str | None:
    """Why ``value`` is not of a number field's type (a config edited by hand: ``lr: 1e-3`` is a string to YAML,
    ``epochs: 2.5`` no whole number), naming the flag; None when it is, or the field is no plain number."""
    kinds = set(annotation.replace(" ", "").split("|")) - {"None"}
    if value is None or kinds not in ({"int"}, {"float"}):
        return None
    flag = TABLE[name].flag
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        text = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(value, str) else ""
        return f"{flag} {value!r}: give a number{text}"
    if kinds == {"int"} and not isinstance(value, numbers.Integral):
        return f"{flag} {value!r}: give a whole number"
    return None
