"""What a MODEL argument names (``evaluate``, ``predict``, ``export``, ``report``'s model): one resolver.

Three things are a model: a model file (``pointtune-model/1``: written by ``pointtune export``, by ``pointtune
train`` as ``OUT/best.pt``, and by a finished search as ``EXPERIMENT/best_model.pt``), a ``pointtune train``
--out folder (its ``best.pt``), and a search's experiment folder or URI (its best trial's best epoch, as ``export``
takes it). Anything else is refused with a message that says what each of these is.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.results.experiment import SETTINGS_FILE, TRAIN_MODEL, is_train_folder
from trainable.data import storage
from trainable.data.storage import is_uri
from trainable.learn.checkpoint import CheckpointError, read_torch_file

ACCEPTED = ("give a model file written by `pointtune export` (or a `pointtune train` folder's best.pt), a "
            "`pointtune train` --out folder, or a search's experiment folder STORAGE/NAME (its best model)")


@dataclass
class ModelSource:
    """A resolved MODEL argument: the model file's contents and, for messages, what it came from."""

    payload: dict[str, Any]
    what: str  # e.g. "train folder runs/a (best.pt, epoch 3)"


def is_export(obj: Any) -> bool:
    return isinstance(obj, dict) and str(obj.get("format", "")).startswith("pointtune-model/")


def read_export(path: str | Path) -> dict[str, Any]:
    """The contents of a model file (read with ``weights_only=True``).

    Raises:
        CheckpointError: missing, damaged, or a file of another kind (a trial checkpoint, ``train``'s ``last.pt``),
            with what to give instead.
    """
    meta = read_torch_file(path)
    if is_export(meta):
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


def resolve_model(arg: str | Path) -> ModelSource:
    """The model that ``arg`` names (module docstring).

    Raises:
        SearchError, CheckpointError: ``arg`` is none of the three, or its model cannot be had yet.
    """
    arg = str(arg)
    if is_uri(arg):
        return _resolve_uri(arg)
    p = Path(arg).expanduser()
    if p.is_file():
        own = p.name == TRAIN_MODEL and is_train_folder(str(p.parent))  # a train folder's, perhaps an older one
        payload = _train_model(p) if own else read_export(p)
        return ModelSource(payload, f"model file {p} (epoch {payload.get('epoch')})")
    if not p.exists():
        raise SearchError(f"model {arg} does not exist; {ACCEPTED}")
    if not p.is_dir():
        raise SearchError(f"model {arg} is not a file or a folder; {ACCEPTED}")
    if is_train_folder(str(p)):
        model = p / TRAIN_MODEL
        if not model.is_file():
            raise SearchError(f"the train folder {p} has no {TRAIN_MODEL} yet: no epoch has finished (see "
                              f"`pointtune report {p}`)")
        payload = _train_model(model)
        return ModelSource(payload, f"train folder {p} ({TRAIN_MODEL}, epoch {payload.get('epoch')})")
    if (p / SETTINGS_FILE).is_file() or any(p.glob("experiment_state-*.json")):
        return _best_of_search(str(p.resolve()))
    raise SearchError(f"{arg} is a folder but neither a `pointtune train` folder (config.yaml, {TRAIN_MODEL}) nor a "
                      f"search's experiment folder ({SETTINGS_FILE}); {ACCEPTED}")


def _train_model(path: Path) -> dict[str, Any]:
    """A train folder's model: ``best.pt`` (folders from before it was a model file hold a trial checkpoint there,
    which is taken as ``export`` would)."""
    state = read_torch_file(path)
    if is_export(state):
        return state
    if isinstance(state, dict) and {"model", "epoch", "config", "classes"} <= set(state) and "optimizer" not in state:
        from search.model.export import export_payload

        return export_payload(state, state["config"]["train"].get("metric", "val_f1"), path.parent.name,
                              str(path.parent))
    return read_export(path)  # raises, saying what the file is


def _best_of_search(experiment: str) -> ModelSource:
    from search.model.export import best_model_of_search

    payload, record = best_model_of_search(experiment)
    return ModelSource(payload, f"search {experiment} (trial {record.trial_id}, epoch {payload['epoch']})")


def _resolve_uri(arg: str) -> ModelSource:
    """A model file or an experiment folder in a bucket."""
    if arg.rstrip("/").endswith((".pt", ".pth")) and storage.exists(arg):
        with tempfile.TemporaryDirectory() as d:
            local = Path(d) / "model.pt"
            storage.download(arg, local)
            payload = read_export(local)
        return ModelSource(payload, f"model file {arg} (epoch {payload.get('epoch')})")
    if storage.exists(f"{arg.rstrip('/')}/{SETTINGS_FILE}"):
        return _best_of_search(arg.rstrip("/"))
    raise SearchError(f"model {arg} is neither a model file nor a search's experiment folder there; {ACCEPTED}")
