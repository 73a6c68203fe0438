"""The model file (``pointtune-model/1``): one self-describing, weights-only file of a trained model.

``export_payload`` makes it from a checkpoint, ``save_export`` writes it, ``read_export`` reads it back. It is what
``pointtune export`` writes, what ``pointtune train`` keeps as ``OUT/best.pt`` and a finished search as
``EXPERIMENT/best_model.pt``; ``search/model/source.py`` resolves a MODEL argument to it. torch is imported by the
functions that read and write (``pointtune report --no-model`` imports this module for its file names).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.files import TRAIN_MODEL
from trainable.data import storage
from trainable.data.index import IMAGENET_MEAN, IMAGENET_STD
from trainable.data.storage import is_uri
from trainable.defaults import default
from trainable.errors import CheckpointError

EXPORT_FORMAT = "pointtune-model/1"
# what every model file holds (export_payload): a file without one of them cannot be run
REQUIRED = ("model", "backbone", "num_classes", "class_names", "class_colours", "classes", "tile_size")
ACCEPTED = ("give a model file written by `pointtune export` (or a `pointtune train` folder's best.pt), a "
            "`pointtune train` --out folder, or a search's experiment folder STORAGE/NAME (its best model)")



def export_payload(state: dict[str, Any], metric: str, trial_id: str, experiment: str) -> dict[str, Any]:
    """The model file of a checkpoint (a trial's best epoch, or a ``train`` run's): weights, the config, classes,
    normalisation, tile, the split's stems and the validation scores; ``metric`` picked the epoch, ``trial_id`` and
    ``experiment`` say where it comes from."""
    from trainable.learn.checkpoint import pointtune_version

    cfg, classes = state["config"], state["classes"]
    return {
        "format": EXPORT_FORMAT, "model": state["model"], "backbone": cfg["model"]["backbone"],
        "num_classes": len(classes["classes"]), "class_names": [c["name"] for c in classes["classes"]],
        "class_colours": [c["color"] for c in classes["classes"]], "classes": classes,
        "normalization": _normalization(cfg),
        "bands": list(cfg["data"].get("bands", ())), "in_channels": cfg["model"].get("in_channels", 3),
        "weights": cfg["model"].get("weights_note", ""),
        "tile_size": cfg["data"]["tile_size"], "resize": cfg["data"]["resize"],
        "hyperparameters": {"lr": cfg["train"]["lr"], "epochs": cfg["train"]["epochs"],
                            "lr_schedule": cfg["train"].get("lr_schedule", "constant"),
                            "batch_size": cfg["train"]["batch_size"],
                            "unlabeled_loss": cfg["train"].get("unlabeled_loss", "none"),
                            "unlabeled_weight": cfg["train"].get("unlabeled_weight", 0.0), **cfg["points"]},
        "config": cfg, "epoch": state["epoch"], "metric": metric,
        "metrics": {k: v for k, v in state["metrics"].items() if k.startswith(("val_", "train_"))},
        "split": {role: list(state.get(f"{role}_stems", [])) for role in ("train", "val", "test")},
        "trial_id": trial_id, "experiment": experiment, "pointtune_version": pointtune_version(),
    }


def _normalization(cfg: dict[str, Any]) -> dict[str, Any]:
    """The per-band statistics the model was trained with (configs from before they were resolved: ImageNet's, on
    8-bit RGB, which is what those runs used), and whether every tile was standardised after them."""
    standardize = bool(cfg["data"].get("standardize", False))
    if cfg["data"].get("mean"):
        return {"mean": list(cfg["data"]["mean"]), "std": list(cfg["data"]["std"]), "standardize": standardize}
    return {"mean": [m * 255 for m in IMAGENET_MEAN], "std": [s * 255 for s in IMAGENET_STD],
            "standardize": standardize}


def is_export(obj: Any) -> bool:
    return isinstance(obj, dict) and str(obj.get("format", "")).startswith("pointtune-model/")


def read_export(path: str | Path) -> dict[str, Any]:
    """The contents of a model file (read with ``weights_only=True``).

    Raises:
        CheckpointError: missing, damaged, or a file of another kind (a trial checkpoint, ``train``'s ``last.pt``),
            with what to give instead.
    """
    from trainable.learn.checkpoint import read_torch_file

    meta = read_torch_file(path)
    if is_export(meta):
        missing = [k for k in REQUIRED if k not in meta]
        if missing:
            raise CheckpointError(f"{path} is a pointtune model file without its {', '.join(map(repr, missing))} "
                                  "entr(ies): it was damaged or edited; export the model again (`pointtune export`)")
        if problem := _inconsistency(meta):
            raise CheckpointError(f"{path} is a pointtune model file that was damaged or edited ({problem}); export "
                                  "the model again (`pointtune export`)")
        return meta
    if isinstance(meta, dict) and {"model", "optimizer", "epoch"} <= set(meta):
        what = (f"the resume state of a run (its last epoch, with the optimizer), not its model: give the "
                f"{TRAIN_MODEL} beside it, or its folder")
    elif isinstance(meta, dict) and {"model", "epoch", "config"} <= set(meta):
        what = ("a trial checkpoint, not a model file: give the search's experiment folder (its best model), or "
                "`pointtune export EXPERIMENT --trial ID --out FILE` and that file")
    else:
        what = "not a model written by pointtune"
    raise CheckpointError(f"{path} is {what}; {ACCEPTED}")



def _inconsistency(meta: dict[str, Any]) -> str | None:
    """What in a model file's entries cannot be so (a file edited by hand), or None."""
    try:
        if int(meta["tile_size"]) < 8:
            return f"tile_size {meta['tile_size']}"
        if int(meta["num_classes"]) != len(meta["class_names"]) or len(meta["class_names"]) != len(
                meta["class_colours"]):
            return f"num_classes {meta['num_classes']} for {len(meta['class_names'])} class names"
        norm = meta.get("normalization") or {}
        if any(not float(s) > 0 for s in norm.get("std") or ()) or len(norm.get("std") or ()) != len(
                norm.get("mean") or ()):
            return f"normalization std {norm.get('std')} for mean {norm.get('mean')}"
    except (TypeError, ValueError) as e:
        return str(e)
    return None


def train_model(path: Path) -> dict[str, Any]:
    """A train folder's model: ``best.pt`` (folders from before it was a model file hold a trial checkpoint there,
    which is taken as ``export`` would)."""
    from trainable.learn.checkpoint import read_torch_file

    state = read_torch_file(path)
    if is_export(state):
        return state
    if isinstance(state, dict) and {"model", "epoch", "config", "classes"} <= set(state) and "optimizer" not in state:
        return export_payload(state, state["config"]["train"].get("metric", default("metric")), path.parent.name,
                              str(path.parent))
    return read_export(path)  # raises, saying what the file is


def train_folder_model(folder: Path) -> dict[str, Any]:
    """The model of a ``pointtune train`` folder (its ``best.pt``).

    Raises:
        SearchError: no epoch has finished yet.
    """
    model = folder / TRAIN_MODEL
    if not model.is_file():
        raise SearchError(f"the train folder {folder} has no {TRAIN_MODEL} yet: no epoch has finished (see "
                          f"`pointtune report {folder}`)")
    return train_model(model)


def save_export(payload: dict[str, Any], out: str | Path) -> str:
    """Write an export atomically, to a local path or a storage URI."""
    from trainable.learn.checkpoint import atomic_torch_save

    out = str(out)
    if not is_uri(out):
        if Path(out).is_dir():
            raise SearchError(f"{out} is a folder: give the model file's name, e.g. {Path(out) / 'best.pt'}")
        try:
            return str(atomic_torch_save(payload, out))
        except OSError as e:
            raise SearchError(f"cannot write the model to {out} ({type(e).__name__}: {e})") from None
    with tempfile.TemporaryDirectory() as d:
        local = atomic_torch_save(payload, Path(d) / "model.pt")
        storage.upload(local, out)
    return out
