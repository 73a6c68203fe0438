"""The data a model runs on (``evaluate``, ``suggest``), read as the model was trained and checked against it.

The folder is read with the model's dataset format (with its options), tile size, resize and bands. Its masks are
read with a class description that must agree with the model's: the same classes in the same order, the same mask
values and the same ignore rule. Where the data's own description (its ``--format``'s, or ``DATA/classes.yaml``)
differs, the command stops and names both sides, unless the user says which to read the masks with: ``--classes
model`` (the model's own), ``--classes data`` (the data's), or ``--classes FILE``. A folder with no description of
its own is read with the model's. The bands of the images must be those the model takes.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from search.errors import SearchError
from trainable.config import DataConfig, saved_data_config
from trainable.data import storage
from trainable.data.classes import ClassDescription
from trainable.data.formats import format_classes
from trainable.data.index import DatasetIndex, build_index, resolve_classes
from trainable.errors import DatasetError

CHOOSE = ("model", "data")  # the words --classes takes besides a file


def describe(desc: ClassDescription) -> str:
    """``road=0, building=1, ... (ignore 255; index masks)``: what decoding a mask depends on."""
    shown = (lambda v: f"#{v:06x}") if desc.mask_encoding == "rgb" else str
    classes = ", ".join(f"{n}={shown(v)}" for n, v in zip(desc.names, desc.values, strict=True))
    ignore = ", ".join(map(shown, desc.ignore_values)) or "none"
    return f"{classes} (ignore {ignore}; {desc.mask_encoding} masks)"


def _same(a: ClassDescription, b: ClassDescription) -> bool:
    return (a.names, a.values, set(a.ignore_values), a.mask_encoding, a.threshold) == (
        b.names, b.values, set(b.ignore_values), b.mask_encoding, b.threshold)


def classes_for_model(payload: dict[str, Any], root: Path, fmt: str | None, classes: str | None,
                      model_name: str) -> ClassDescription:
    """The description the data's masks are read with (module docstring).

    Raises:
        SearchError: the data's own description differs from the model's and ``classes`` does not say which.
        ClassDescriptionError: a ``--classes`` file that cannot be read.
    """
    model = ClassDescription.from_dict(payload["classes"], source=f"the model {model_name}")
    if classes == "model":
        return model
    if classes and classes != "data":
        return ClassDescription.load(Path(classes).expanduser())
    if fmt:
        own, where = format_classes(fmt), f"--format {fmt}"
    elif (root / "classes.yaml").is_file():
        own, where = ClassDescription.load(root / "classes.yaml"), str(root / "classes.yaml")
    elif classes == "data":
        return resolve_classes(root, None, None)  # raises: says there is none
    else:
        return model  # nothing else describes the data
    if classes == "data" or _same(own, model):
        return own
    data = (", --classes data to read them with the data's description" if own.names == model.names else "")
    raise SearchError(f"the model {model_name} was trained with classes {describe(model)}, but {where} describes "
                      f"{root} with {describe(own)}: give --classes model to read the masks as the model was "
                      f"trained{data}, or --classes FILE")


def model_data_dir(payload: dict[str, Any], data_dir: str | None, model_name: str) -> str:
    """``--data``, or where it was not given, the folder the model was trained on (said on stderr).

    Raises:
        SearchError: no --data, and that folder is not recorded or not there any more.
    """
    if data_dir is not None:
        return data_dir
    root = saved_data_config(payload).get("root")
    if not root:
        raise SearchError(f"the model {model_name} does not record the folder it was trained on: give --data DIR")
    if not storage.exists(root):
        raise SearchError(f"no --data given, and the folder the model {model_name} was trained on ({root}) is not "
                          "there any more: give --data DIR")
    print(f"no --data given: the folder the model was trained on, {root}", file=sys.stderr)
    return root


def index_for_model(payload: dict[str, Any], data_dir: str, fmt: str | None, classes: str | None,
                    clicks: str | None, model_name: str, other_folders: bool = True) -> DatasetIndex:
    """``data_dir`` checked and indexed, unsplit, read as the model was trained (module docstring); on the data it
    was trained on, with its ``--val-dir``, ``--test-dir`` and ``--clicks`` where they still exist
    (``other_folders``).

    Raises:
        SearchError: the classes or bands do not agree with the model's.
        DatasetError: the data cannot be read (with what the model was trained with, for clicks).
    """
    cfg = data_config_of(payload, data_dir, fmt, clicks, other_folders)
    desc = classes_for_model(payload, Path(cfg.root), cfg.format, classes, model_name)
    try:
        data = build_index(cfg, split=False, classes=desc)
    except DatasetError as e:
        trained_on = saved_data_config(payload).get("clicks")
        if cfg.clicks or not trained_on:
            raise
        raise DatasetError(cfg.root, [*e.problems, f"the model was trained with clicks ({trained_on}): for images "
                                      "that have only clicks, give them with --clicks"]) from None
    if list(data.classes.names) != list(payload["class_names"]):
        raise SearchError(f"the model {model_name} predicts {len(payload['class_names'])} classes "
                          f"({', '.join(payload['class_names'])}), but the masks are read as "
                          f"{', '.join(data.classes.names)}: scores would compare different classes; give "
                          "--classes model, or a description with the model's classes")
    check_bands(payload, data, model_name)
    return data


def check_bands(payload: dict[str, Any], data: DatasetIndex, model_name: str) -> None:
    """Every image gives the model the bands it takes.

    Raises:
        SearchError: naming an image, its bands and the model's.
    """
    wanted = int(payload.get("in_channels", 3))
    for entry in data.entries:
        bands = len(data.bands) or entry.record.bands
        if bands != wanted:
            raise SearchError(f"{entry.files.image} gives {bands} band(s), but the model {model_name} takes "
                              f"{wanted}: give images like those it was trained on (or their --bands)")


def data_config_of(payload: dict[str, Any], data_dir: str, fmt: str | None = None, clicks: str | None = None,
                   other_folders: bool = True) -> DataConfig:
    """How ``data_dir`` is read for a model: as the model was trained (its dataset format with options, e.g.
    ``potsdam:irrg``, bands, tile size and resize), unless ``fmt`` says otherwise; on the data it was trained on,
    its ``--val-dir``, ``--test-dir`` and ``--clicks`` too, where they still exist (``other_folders``)."""
    data = saved_data_config(payload)
    root = Path(data_dir).expanduser().resolve()
    same = other_folders and data.get("root") and Path(data["root"]) == root

    def kept(key: str) -> str | None:
        return data[key] if same and data.get(key) and Path(data[key]).exists() else None

    cfg = DataConfig(root=str(root), format=fmt or data.get("format"), tile_size=int(payload["tile_size"]),
                     resize=float(payload.get("resize", 1.0)), bands=tuple(payload.get("bands", ())),
                     val_dir=kept("val_dir"), test_dir=kept("test_dir"),
                     clicks=str(Path(clicks).expanduser().resolve()) if clicks else kept("clicks"))
    return dataclasses.replace(cfg)
