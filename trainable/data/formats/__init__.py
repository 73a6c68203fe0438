"""Built-in dataset formats: public datasets read from their folders as they ship, by name (``--format NAME``).

A format says which files make the dataset (its own layout and naming), how its masks encode the classes, what is
ignored, and, where the dataset defines one, its official split. Each module of this package that defines
``FORMAT`` is one; ``--format NAME:OPTION,OPTION`` picks options (say ``potsdam:irrg,eroded``). ``pointtune
formats`` lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainable.config import ConfigError
from trainable.data.classes import ClassDescription
from trainable.data.layout import ImageFiles, folder_files


class LayoutError(ConfigError):
    """The folder is not laid out as the format expects; the message names what is expected and what is missing."""


@dataclass(frozen=True)
class Format:
    """One dataset as it ships.

    Attributes:
        name: what ``--format`` takes.
        title: the dataset, in a few words.
        source: where to get it (a link).
        licence: its terms, in one line.
        layout: the folders and file names expected, one per line (shown by ``pointtune formats`` and in errors).
        split: the official split, in one line ("" when the dataset defines none).
        options: option -> what it does.
        describe: the class description (a dict, as in a ``classes.yaml``) for a set of options.
        list_files: the dataset's images with their files and official parts, or None for the generic layout
            (``images/``, ``semantic/``, ``instance/``). It raises ``LayoutError`` when the folder is not the
            dataset, and returns the problems of files that lack their pairs.
        defaults: options on unless another option of the same group is given.
        bands: 1-based bands read from every image unless ``--bands`` says otherwise (``(1, 2, 3)``: an RGB ortho
            that may carry an alpha band); () reads them all.
    """

    name: str
    title: str
    source: str
    licence: str
    layout: str
    split: str
    describe: Callable[[frozenset[str]], dict[str, Any]]
    list_files: Callable[[Path, frozenset[str]], tuple[list[ImageFiles], list[str]]] | None = None
    options: dict[str, str] = field(default_factory=dict)
    bands: tuple[int, ...] = ()

    def check_options(self, options: frozenset[str]) -> None:
        unknown = sorted(options - set(self.options))
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in self.options.items()) or "none"
            raise ConfigError(f"--format {self.name}: unknown option(s) {', '.join(unknown)}; options: {known}")

    def classes(self, options: frozenset[str]) -> ClassDescription:
        return ClassDescription.from_dict(self.describe(options), source=f"built-in format {self.name!r}")

    def files(self, root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
        if self.list_files is None:
            return folder_files(str(root))
        try:
            return self.list_files(root, options)
        except LayoutError as e:
            raise LayoutError(f"{root} is not laid out as {self.title} (--format {self.name}): {e}. Expected:\n  "
                              + "\n  ".join(self.layout.splitlines())) from None


def yaml_classes(name: str) -> Callable[[frozenset[str]], dict[str, Any]]:
    """A class description from ``trainable/data/formats/NAME.yaml``, whatever the options."""
    from importlib import resources

    text = resources.files("trainable.data.formats").joinpath(f"{name}.yaml").read_text()
    return lambda options: yaml.safe_load(text)


def all_formats() -> dict[str, Format]:
    """Every format, by name (the modules of this package that define ``FORMAT``)."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        fmt = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FORMAT", None)
        if isinstance(fmt, Format):
            found[fmt.name] = fmt
    return dict(sorted(found.items()))


def parse_format(spec: str) -> tuple[Format, frozenset[str]]:
    """``NAME`` or ``NAME:OPTION,OPTION`` -> the format and its options.

    Raises:
        ConfigError: an unknown format or option.
    """
    name, _, rest = spec.partition(":")
    formats = all_formats()
    if name not in formats:
        raise ConfigError(f"--format {name!r} is unknown: choose one of {', '.join(formats)} (`pointtune formats` "
                          "describes them)")
    options = frozenset(o.strip() for o in rest.split(",") if o.strip())
    formats[name].check_options(options)
    return formats[name], options


def format_classes(spec: str) -> ClassDescription:
    """The class description of a built-in format (``NAME`` or ``NAME:OPTIONS``)."""
    fmt, options = parse_format(spec)
    return fmt.classes(options)


def need(condition: bool, missing: str) -> None:
    """Raise ``LayoutError(missing)`` unless ``condition``."""
    if not condition:
        raise LayoutError(missing)


def pair_by_stem(images: dict[str, Path], masks: dict[str, Path], part: str = "",
                 image_word: str = "image", mask_word: str = "mask") -> tuple[list[ImageFiles], list[str]]:
    """Images and masks matched by a shared key, with a problem for each that lacks its pair."""
    problems = [f"{images[k]}: {image_word} has no {mask_word}; add it or remove the {image_word}"
                for k in sorted(set(images) - set(masks))]
    problems += [f"{masks[k]}: {mask_word} has no {image_word}; add it or remove the {mask_word}"
                 for k in sorted(set(masks) - set(images))]
    return [ImageFiles(k, str(images[k]), str(masks[k]), None, part) for k in sorted(set(images) & set(masks))], \
        problems
