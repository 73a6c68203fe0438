"""Train / validation / test splits of a dataset, by scene: seeded, from a split file, or from separate folders.

A split is computed once (by a search's driver, or by ``train``) and passed on with the data, so that every trial,
the export and ``evaluate`` agree on which image is where. All images of one scene (``group_pattern``) fall on the
same side, so that adjacent tiles of one scene never leak from training into validation or test.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from trainable.config import ConfigError, DataConfig

log = logging.getLogger(__name__)
ROLES = ("train", "val", "test")
SPLIT_CHOICES = ("auto", "official", "seeded")  # --split: these, or a split file


@dataclass(frozen=True)
class Split:
    """Image indices (into the dataset's image list) of each part; images in none of them are left out."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...] = ()

    def part(self, role: str) -> tuple[int, ...]:
        if role not in ROLES:
            raise ConfigError(f"split part {role!r}: use one of {', '.join(ROLES)}")
        return getattr(self, role)

    def describe(self) -> str:
        return f"{len(self.train)} training, {len(self.val)} validation and {len(self.test)} test image(s)"


def _scenes(groups: list[str]) -> dict[str, list[int]]:
    scenes: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        scenes.setdefault(g, []).append(i)
    return scenes


def seeded_split(groups: list[str], val_fraction: float, test_fraction: float, seed: int,
                 where: str = "the dataset") -> Split:
    """Shuffle the scenes with ``seed``; fill the test part, then the validation part, by image count.

    A part asked for (fraction > 0) gets at least one scene and training keeps at least one. The test part is left
    empty, with a warning, when there are too few scenes for it beside validation and training.

    Raises:
        ConfigError: validation is asked for but there are fewer than two scenes.
    """
    scenes = _scenes(groups)
    if val_fraction > 0 and len(scenes) < 2:
        raise ConfigError(
            f"all {len(groups)} images of {where} form one scene, so no scene can be held out for validation; add "
            "images, or set group_pattern in the class description so that parts of a scene differ")
    names = sorted(scenes)
    order = [names[k] for k in np.random.default_rng(seed).permutation(len(names))]
    n = len(groups)
    held: dict[str, list[int]] = {"test": [], "val": []}
    for role, fraction in (("test", test_fraction), ("val", val_fraction)):
        if fraction <= 0:
            continue
        keep = 2 if role == "test" and val_fraction > 0 else 1  # scenes left for validation and training
        if len(order) <= keep:
            log.warning("%s has %d scenes: too few for a %s part; it stays empty", where, len(scenes), role)
            continue
        target = max(1, round(fraction * n))
        while len(order) > keep and len(held[role]) < target:
            held[role] += scenes[order.pop(0)]
    train = [i for name in order for i in scenes[name]]
    return Split(tuple(sorted(train)), tuple(sorted(held["val"])), tuple(sorted(held["test"])))


def split_problem(value: str) -> str | None:
    """What is wrong with a ``--split`` value (None: one of ``SPLIT_CHOICES`` or an existing file): a folder, a
    word that is no choice (the closest offered: ``oficial`` is a typo, not a file name), a file that is not there."""
    if value in SPLIT_CHOICES or Path(value).expanduser().is_file():
        return None
    forms = "a YAML/JSON file with train/val/test lists or a CSV of name,split rows"
    if Path(value).expanduser().is_dir():
        return f"--split {value} is a folder: give {forms}, or one of {', '.join(SPLIT_CHOICES)}"
    if re.fullmatch(r"[A-Za-z][A-Za-z_-]*", value):
        close = difflib.get_close_matches(value.lower(), SPLIT_CHOICES, n=1, cutoff=0.5)
        return (f"--split {value}: neither {', '.join(SPLIT_CHOICES[:-1])}, {SPLIT_CHOICES[-1]} nor an existing split "
                f"file; {f'did you mean --split {close[0]}? ' if close else ''}a split file is {forms}")
    return f"--split {value}: no such file; give {forms}, or one of {', '.join(SPLIT_CHOICES)}"


def read_split_file(path: str | Path) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...], "test": [...]}`` from a YAML/JSON mapping or a ``name,split`` CSV.

    Raises:
        ConfigError: missing or malformed file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(split_problem(str(path)) or f"--split {path}: no such file")
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"--split {path} is not a text file: give YAML, JSON or CSV (train/val/test lists of "
                          "image names)") from None
    if p.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].startswith("#")]
        if rows and rows[0][:2] in (["name", "split"], ["stem", "split"], ["image", "split"]):
            rows = rows[1:]
        parts: dict[str, list[str]] = {}
        for k, row in enumerate(rows, 1):
            if len(row) < 2:
                raise ConfigError(f"--split {path}: row {k} {row!r} needs two columns: name,split")
            parts.setdefault(row[1].strip(), []).append(row[0].strip())
    else:
        try:
            parts = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as e:
            raise ConfigError(f"--split {path} cannot be parsed: {str(e).splitlines()[0]}") from None
    if not isinstance(parts, dict):
        raise ConfigError(f"--split {path}: expected a mapping of train/val/test to lists of names")
    unknown = set(parts) - set(ROLES)
    if unknown:
        raise ConfigError(f"--split {path}: unknown part(s) {sorted(unknown)}; use train, val and test")
    for role, names in parts.items():
        if not isinstance(names, list):
            raise ConfigError(f"--split {path}: {role!r} must be a list of image stems or scene names")
    if not parts.get("train") or not parts.get("val"):
        raise ConfigError(f"--split {path}: needs non-empty 'train' and 'val' lists")
    return {role: [str(n) for n in parts.get(role) or []] for role in ROLES}


def split_from_lists(stems: list[str], groups: list[str], lists: dict[str, list[str]], source: str) -> Split:
    """Resolve names (image stems or scene names) to image indices.

    Raises:
        ConfigError: a name matching no image or scene, or an image listed in two parts.
    """
    by_stem = {s: i for i, s in enumerate(stems)}
    scenes = _scenes(groups)
    chosen: dict[str, list[int]] = {}
    unknown: list[str] = []
    for role in ROLES:
        idx: list[int] = []
        for name in lists.get(role, []):
            if name in by_stem:
                idx.append(by_stem[name])
            elif name in scenes:
                idx += scenes[name]
            else:
                unknown.append(name)
        chosen[role] = sorted(set(idx))
    if unknown:
        raise ConfigError(f"split {source}: {len(unknown)} name(s) match no image stem or scene of the data "
                          f"({', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''})")
    twice = (set(chosen["train"]) & set(chosen["val"])) | (set(chosen["train"]) | set(chosen["val"])) & set(
        chosen["test"])
    if twice:
        raise ConfigError(f"split {source}: image(s) {', '.join(stems[i] for i in sorted(twice)[:5])} are in two "
                          "parts; each image belongs to one of train, val, test")
    left_out = len(stems) - sum(len(v) for v in chosen.values())
    if left_out:
        log.warning("split %s leaves %d image(s) out of train, val and test", source, left_out)
    role_of = {i: role for role, idx in chosen.items() for i in idx}
    mixed = sorted(g for g, idx in scenes.items() if len({role_of.get(i) for i in idx} - {None}) > 1)
    if mixed:
        log.warning("split %s puts parts of scene(s) %s on different sides: adjacent tiles leak across the split",
                    source, ", ".join(mixed[:5]))
    return Split(tuple(chosen["train"]), tuple(chosen["val"]), tuple(chosen["test"]))


def official_split(groups: list[str], official: list[str], cfg: DataConfig) -> Split:
    """The dataset's own split: its test part held out, its validation part (or, without one, scenes carved from its
    training part with ``split_seed``, ``val_fraction`` of the training part) for validation. Without a labelled
    test part, the official validation part becomes the test part and validation is carved from training."""
    part = {role: [i for i, r in enumerate(official) if r == role] for role in ROLES}
    if not part["test"] and part["val"]:
        part["test"], part["val"] = part["val"], []
    pool = part["train"] + [i for i, r in enumerate(official) if r not in ROLES]
    if not part["val"]:
        inner = seeded_split([groups[i] for i in pool], cfg.val_fraction, 0.0, cfg.split_seed,
                             "the official training part")
        part["val"] = [pool[k] for k in inner.val]
        pool = [pool[k] for k in inner.train]
    return Split(tuple(sorted(pool)), tuple(sorted(part["val"])), tuple(sorted(part["test"])))


def make_split(stems: list[str], groups: list[str], cfg: DataConfig, folder_roles: list[str] | None = None,
               official: list[str] | None = None) -> Split:
    """The split ``cfg`` asks for.

    Args:
        stems: image stems, one per image.
        groups: scene of each image.
        cfg: ``split`` (``auto``, ``official``, ``seeded`` or a file), the fractions and ``split_seed``.
        folder_roles: per image, ``val`` or ``test`` when it came from ``--val-dir`` / ``--test-dir``, ``""`` for
            images of the main folder. A part given as a folder is not carved from the main folder.
        official: per image, the part the dataset's own split puts it in (``train``, ``val``, ``test``, or ``""``);
            used by ``official`` and by ``auto`` when the dataset has one.

    Raises:
        ConfigError: ``official`` for a dataset without one, or a split that cannot be made.
    """
    has_official = bool(official) and any(official)
    if cfg.split == "official" and not has_official:
        raise ConfigError("--split official: this dataset defines no split of its own; use --split seeded or a "
                          "split file")
    if cfg.split == "official" or (cfg.split == "auto" and has_official):
        return official_split(groups, official, cfg)
    if folder_roles and any(folder_roles):
        main = [i for i, r in enumerate(folder_roles) if not r]
        given = {role: tuple(i for i, r in enumerate(folder_roles) if r == role) for role in ("val", "test")}
        inner = seeded_split([groups[i] for i in main], 0.0 if given["val"] else cfg.val_fraction,
                             0.0 if given["test"] else cfg.test_fraction, cfg.split_seed, "the --data folder")
        pick = lambda part: tuple(main[k] for k in part)  # noqa: E731
        return Split(pick(inner.train), given["val"] or pick(inner.val), given["test"] or pick(inner.test))
    if cfg.split in ("seeded", "auto"):
        return seeded_split(groups, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    return split_from_lists(stems, groups, read_split_file(cfg.split), cfg.split)


# a name that ends in a part number: "tile3_part007", "austin1_12_7", "image_part_004", "scene2-patch5"
_PART_NAME = re.compile(r"^(.+?)[_\-. ]*(?:(part|tile|patch|chip|crop|piece)[_\-. ]*)?(\d+)(?:[_\-.x](\d+))?$", re.I)


def _scene_prefix(stem: str) -> str | None:
    """The scene a numbered part's name points to, when the name says it is a part (a part word, two numbers, or a
    numbered prefix), else None: ``scene007`` and ``100694`` (a bare id) are scenes of their own, ``tile3_part007``
    part of ``tile3``."""
    m = _PART_NAME.match(stem)
    if not m or stem.isdigit() or not (m.group(2) or m.group(4) or re.search(r"\d", m.group(1))):
        return None
    return m.group(1)


def leakage_warnings(stems: list[str], groups: list[str], group_pattern: str | None) -> list[str]:
    """Warnings for scene grouping that looks wrong: a pattern that matches no file, or (without a pattern) every
    image its own scene while the names look like numbered parts of larger scenes (adjacent tiles would leak across
    the split)."""
    warnings = []
    if group_pattern and not any(re.search(group_pattern, s) for s in stems):
        warnings.append(f"group_pattern {group_pattern!r} matches no file name (e.g. {stems[0]!r}): every image is "
                        "its own scene; fix the pattern so that parts of one scene share a group")
    if not group_pattern and stems and len(set(groups)) == len(groups) >= 4:  # a pattern given is a choice made
        prefixes = Counter(p for s in stems if (p := _scene_prefix(s)))
        shared = [p for p, n in prefixes.items() if n > 1]
        if shared and sum(prefixes[p] for p in shared) >= len(stems) / 2:
            example = next(s for s in stems if _scene_prefix(s) == shared[0])
            pattern = "^(" + re.sub(r"\d+", r"\\d+", re.escape(shared[0])) + ")"
            warnings.append(
                f"every image is its own scene, but names such as {example!r} look like numbered parts of larger "
                f"scenes ({len(shared)} name prefix(es) shared by several images): adjacent tiles leak across the "
                f"split; set group_pattern in the class description (e.g. '{pattern}')")
    return warnings
