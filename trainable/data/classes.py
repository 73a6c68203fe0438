"""Class descriptions: which mask value or colour is which class, what to ignore, how images group into scenes.

A description is a small YAML file beside the data (``classes.yaml``), given with ``--classes FILE``, or built in
(``--format dubai_aerial``)::

    mask_encoding: rgb            # index: pixel values are class indices or grey levels; rgb: colours
    instance_encoding: id         # id: one id per pixel; rgb: id = R + 256*G + 65536*B (iSAID); 0 = none
    group_pattern: '^(tile\\d+)_' # regex on the file stem; its first group names the scene
    classes:
      - {name: Building, value: [60, 16, 152]}          # [R, G, B] for rgb masks
      - {name: Land, value: [132, 41, 246], color: [132, 41, 246]}
    ignore: [[155, 155, 155], [0, 0, 0]]
    exclude_from_mean: []         # class names left out of macro means (e.g. clutter)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from trainable.config import IGNORE_INDEX, ConfigError

_DEFAULT_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


DESCRIPTION_KEYS = {"classes", "ignore", "mask_encoding", "instance_encoding", "group_pattern", "exclude_from_mean",
                    "unknown", "threshold"}


class ClassDescriptionError(ConfigError):
    """A class description file is malformed."""


@dataclass(frozen=True)
class ClassDescription:
    """Classes of a dataset and how its masks encode them."""

    names: tuple[str, ...]
    values: tuple[int, ...]  # mask value per class: an index/grey level, or a packed colour 0xRRGGBB
    colours: tuple[tuple[int, int, int], ...]  # display colour per class
    ignore_values: tuple[int, ...] = ()
    exclude_from_mean: tuple[str, ...] = ()
    mask_encoding: Literal["index", "rgb"] = "index"
    instance_encoding: Literal["id", "rgb"] = "id"
    group_pattern: str | None = None
    source: str = "<inline>"
    # values in no class and not ignored: an error (a class description of one's own), or counted, reported and
    # ignored, never mapped to a class (a built-in format: published data has stray colours)
    unknown: Literal["error", "ignore"] = "error"
    threshold: int | None = None  # colours: each channel set to 255 at or above it, else 0, before the look-up

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def excluded_indices(self) -> tuple[int, ...]:
        return tuple(self.names.index(n) for n in self.exclude_from_mean)

    @property
    def fingerprint(self) -> str:
        """What decoding a mask depends on, as a short hash (for cache keys)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def prepare_raw(self, raw: np.ndarray) -> np.ndarray:
        """A mask's stored values in the shape ``decode_semantic`` takes: ``(H, W, 3)`` colours for rgb encoding,
        ``(H, W)`` values for index encoding (a grey-level RGB file is read as its grey levels).

        Raises:
            ValueError: a colour mask described as index-encoded.
        """
        if self.mask_encoding == "rgb":
            rgb = np.repeat(raw[..., None], 3, axis=2) if raw.ndim == 2 else raw[..., :3]
            return rgb if self.threshold is None else np.where(rgb >= self.threshold, 255, 0).astype(np.uint8)
        if raw.ndim == 3:
            if not (np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 0], raw[..., 2])):
                raise ValueError("holds colours but the class description says mask_encoding: index; "
                                 "set mask_encoding: rgb and give classes as [R, G, B]")
            return raw[..., 0]
        return raw

    def group_of(self, stem: str) -> str:
        """Scene id of an image: the pattern's first group, or the stem itself."""
        if self.group_pattern:
            m = re.search(self.group_pattern, stem)
            if m:
                return m.group(1) if m.groups() else m.group(0)
        return stem

    def to_dict(self) -> dict[str, Any]:
        """A plain description (what ``from_dict`` reads), stored in checkpoints and exports."""
        unpack = (lambda v: [v >> 16, (v >> 8) & 255, v & 255]) if self.mask_encoding == "rgb" else (lambda v: v)
        return {
            "mask_encoding": self.mask_encoding, "instance_encoding": self.instance_encoding,
            "group_pattern": self.group_pattern, "unknown": self.unknown, "threshold": self.threshold,
            "classes": [{"name": n, "value": unpack(v), "color": list(c)}
                        for n, v, c in zip(self.names, self.values, self.colours, strict=True)],
            "ignore": [unpack(v) for v in self.ignore_values], "exclude_from_mean": list(self.exclude_from_mean),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<inline>") -> ClassDescription:
        """Parse and check a description; errors name the file and the entry at fault."""
        def fail(msg: str) -> ClassDescriptionError:
            return ClassDescriptionError(f"class description {source}: {msg}")

        if not isinstance(d, dict) or not isinstance(d.get("classes"), list) or not d["classes"]:
            raise fail("needs a non-empty list 'classes' of {name, value} entries (see `pointtune train --help`)")
        if unknown := sorted(set(map(str, d)) - DESCRIPTION_KEYS):  # a misspelt key would be ignored without a word
            raise fail(f"unknown key(s) {unknown}; a description has {', '.join(sorted(DESCRIPTION_KEYS))}")
        enc = d.get("mask_encoding", "index")
        if enc not in ("index", "rgb"):
            raise fail(f"mask_encoding {enc!r}: use 'index' (class indices or grey levels) or 'rgb' (colours)")
        inst = d.get("instance_encoding", "id")
        if inst not in ("id", "rgb"):
            raise fail(f"instance_encoding {inst!r}: use 'id' or 'rgb'")
        names, values, colours = _class_entries(d["classes"], enc, fail)
        ignore = tuple(_pack(v, enc, fail, "ignore entry") for v in d.get("ignore", []) or [])
        for dup in {v for v in values if values.count(v) > 1} | (set(values) & set(ignore)):
            raise fail(f"mask value {dup} is used twice (by two classes, or by a class and 'ignore')")
        if len(set(names)) != len(names):
            raise fail("class names must be unique")
        excluded = tuple(d.get("exclude_from_mean", []) or [])
        for name in excluded:
            if name not in names:
                raise fail(f"exclude_from_mean names {name!r}, which is not a class ({', '.join(names)})")
        pattern, unknown, threshold = _options(d, enc, fail)
        return cls(tuple(names), tuple(values), tuple(colours), ignore, excluded, enc, inst, pattern, source, unknown,
                   threshold)

    @classmethod
    def load(cls, path: str | Path) -> ClassDescription:
        path = Path(path)
        if path.is_dir():
            raise ClassDescriptionError(f"class description {path} is a folder: give its YAML file"
                                        + (f" ({path / 'classes.yaml'})" if (path / "classes.yaml").is_file() else ""))
        if not path.is_file():
            raise ClassDescriptionError(f"class description {path} does not exist: give an existing YAML file")
        try:
            d = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ClassDescriptionError(f"class description {path} is not valid YAML: {str(e).splitlines()[0]}"
                                        ) from None
        return cls.from_dict(d, source=str(path))


def _class_entries(entries: list[Any], enc: str, fail: Any) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
    """Names, mask values (colours packed) and display colours of the ``classes`` entries."""
    names, values, colours = [], [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry or "value" not in entry:
            raise fail(f"class entry {i} ({entry!r}) needs 'name' and 'value'")
        values.append(_pack(entry["value"], enc, fail, f"class {entry['name']!r}"))
        names.append(str(entry["name"]))
        colour = entry.get("color") or (entry["value"] if enc == "rgb" else _DEFAULT_COLOURS[i % 12])
        colours.append(tuple(int(c) for c in colour))
    return names, values, colours


def _options(d: dict[str, Any], enc: str, fail: Any) -> tuple[str | None, str, int | None]:
    """The description's ``group_pattern``, ``unknown`` and ``threshold``, checked."""
    pattern = d.get("group_pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as e:
            raise fail(f"group_pattern {pattern!r} is not a valid regex: {e}") from None
    unknown = d.get("unknown") or "error"
    if unknown not in ("error", "ignore"):
        raise fail(f"unknown {unknown!r}: use 'error' (refuse masks with values in no class) or 'ignore'")
    threshold = d.get("threshold")
    if threshold is not None and (enc != "rgb" or not isinstance(threshold, int) or not 0 < threshold < 256):
        raise fail(f"threshold {threshold!r}: an integer in 1..255, for colour masks only")
    return pattern, unknown, threshold


def _pack(value: Any, enc: str, fail: Any, what: str) -> int:
    if enc == "rgb":
        if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(0 <= int(c) <= 255 for c in value)):
            raise fail(f"{what}: value {value!r} must be an [R, G, B] colour for mask_encoding rgb")
        return (int(value[0]) << 16) | (int(value[1]) << 8) | int(value[2])
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise fail(f"{what}: value {value!r} must be an integer mask value for mask_encoding index")
    return value


def decode_semantic(raw: np.ndarray, desc: ClassDescription) -> tuple[np.ndarray, np.ndarray, int]:
    """Map a raw mask to class indices.

    Args:
        raw: (H, W) integer mask for index encoding, (H, W, 3) uint8 for rgb encoding.
        desc: the class description.

    Returns:
        (H, W) uint8 class indices with ``IGNORE_INDEX`` on ignored pixels (and on values in no class), the sorted
        array of raw values (packed colours for rgb) that are neither a class nor ignored (empty when the mask is
        valid), and how many pixels hold such values.
    """
    if desc.mask_encoding != "rgb" and raw.dtype in (np.uint8, np.uint16):  # a lookup table: no temporaries
        lut = np.full(65536, -1, np.int32)
        for value, target in zip(desc.values + desc.ignore_values, list(range(desc.num_classes))
                                 + [IGNORE_INDEX] * len(desc.ignore_values), strict=True):
            lut[value] = target
        mapped = lut[raw]
        bad = mapped < 0
        unknown = np.unique(raw[bad]).astype(np.int64) if bad.any() else np.empty(0, np.int64)
        return np.where(bad, IGNORE_INDEX, mapped).astype(np.uint8), unknown, int(np.count_nonzero(bad))
    if desc.mask_encoding == "rgb":
        rgb = raw.astype(np.uint32)
        codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    else:
        codes = raw.astype(np.int64)
    known = np.array(desc.values + desc.ignore_values, dtype=np.int64)
    targets = np.array(list(range(desc.num_classes)) + [IGNORE_INDEX] * len(desc.ignore_values), dtype=np.uint8)
    order = np.argsort(known)
    known, targets = known[order], targets[order]
    pos = np.clip(np.searchsorted(known, codes), 0, len(known) - 1)
    hit = known[pos] == codes
    unknown = np.unique(codes[~hit]).astype(np.int64)
    return np.where(hit, targets[pos], IGNORE_INDEX).astype(np.uint8), unknown, int(np.count_nonzero(~hit))


def describe_values(values: np.ndarray, desc: ClassDescription, limit: int = 5) -> str:
    """Human-readable list of raw mask values (colours as #RRGGBB)."""
    shown = [f"#{v:06X}" if desc.mask_encoding == "rgb" else str(v) for v in values[:limit].tolist()]
    return ", ".join(shown) + (f" and {len(values) - limit} more" if len(values) > limit else "")


def decode_instances(raw: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W) or (H, W, 3) raw instance mask -> (H, W) int64 ids, 0 meaning no instance."""
    if raw.ndim == 3:
        if encoding != "rgb":
            raise ValueError("instance mask has colour channels but instance_encoding is 'id'; set it to 'rgb'")
        raw = raw.astype(np.int64)
        return raw[..., 0] + 256 * raw[..., 1] + 65536 * raw[..., 2]
    return raw.astype(np.int64)
