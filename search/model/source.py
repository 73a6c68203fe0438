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
from search.files import BEST_MODEL, SETTINGS_FILE, TRAIN_MODEL
from search.model.export import best_model_of_search
from search.model.model_file import ACCEPTED, read_export, train_folder_model, train_model
from search.outputs import config_inputs
from search.results.experiment import is_train_folder
from trainable.data import storage
from trainable.data.index import DatasetIndex
from trainable.data.storage import is_uri


@dataclass
class ModelSource:
    """A resolved MODEL argument: the model file's contents and, for messages, what it came from."""

    payload: dict[str, Any]
    what: str  # e.g. "train folder runs/a (best.pt, epoch 3)"


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
        payload = train_model(p) if own else read_export(p)
        return ModelSource(payload, f"model file {p} (epoch {payload.get('epoch')})")
    if not p.exists():
        raise SearchError(f"model {arg} does not exist; {ACCEPTED}")
    if not p.is_dir():
        raise SearchError(f"model {arg} is not a file or a folder; {ACCEPTED}")
    if is_train_folder(str(p)):
        payload = train_folder_model(p)
        return ModelSource(payload, f"train folder {p} ({TRAIN_MODEL}, epoch {payload.get('epoch')})")
    if (p / SETTINGS_FILE).is_file() or any(p.glob("experiment_state-*.json")):
        return _best_of_search(str(p.resolve()))
    raise SearchError(f"{arg} is a folder but neither a `pointtune train` folder (config.yaml, {TRAIN_MODEL}) nor a "
                      f"search's experiment folder ({SETTINGS_FILE}); {ACCEPTED}")


def _best_of_search(experiment: str) -> ModelSource:
    payload, record = best_model_of_search(experiment, what="use")
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


def split_part_indices(payload: dict[str, Any], data: DatasetIndex, part: str, model_path: str,
                  data_dir: str) -> list[int]:
    """The images of ``part`` of the model's split (by the stems it recorded), or of ``all`` the data."""
    if part == "all":
        return list(range(len(data.entries)))
    stems = payload.get("split", {}).get(part) or []
    if not stems:
        raise SearchError(f"{model_path} records no {part!r} images (its run had none); use --part all, or "
                          "another part")
    where = {e.stem: i for i, e in enumerate(data.entries)}
    missing = [s for s in stems if s not in where]
    if missing:
        raise SearchError(f"{len(missing)} {part} image(s) of the model's split are not in {data_dir} "
                          f"({', '.join(missing[:5])}); point --data at the data it was trained on, or use "
                          "--part all to score every image there")
    return [where[s] for s in stems]


def model_inputs(arg: str | Path, payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    """What a model was made from, and its files: none of them is ever the output of a command that reads the model
    (``search.outputs``)."""
    found = config_inputs(payload.get("config") or {})
    p = Path(str(arg)).expanduser()
    if not is_uri(str(arg)) and p.is_dir():
        found += [("the model file", str(p / TRAIN_MODEL)), ("the search's best model", str(p / BEST_MODEL))]
    return found
