"""Checkpoints: written atomically, read with ``weights_only=True`` only.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (so it needs no code to unpickle):
``{"model", "epoch", "config", "classes", "metrics", "best", "train_stems", ..., "pointtune_version"}``. The
checkpoints a trial reports (the weights of its best epochs) hold no optimizer state; its resume state
(``resume_state.pt``, overwritten) adds ``"optimizer"`` and the history. After a search trial's last epoch that file
holds a finished state instead (``trainable.learn.run_record.finished_state``: history and best, no weights).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from trainable.data import storage
from trainable.errors import CheckpointError

CHECKPOINT_FILE = "checkpoint.pt"


def pointtune_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pointtune")
    except PackageNotFoundError:
        return "0+unknown"


def atomic_torch_save(obj: Any, path: str | Path, durable: bool = True) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves half a file.

    ``durable`` also flushes the file to disk before the rename (skip it for throwaway files: it doubles the
    cost of saving a DeepLabV3 checkpoint).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_torch_file(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and say what is wrong.

    Raises:
        CheckpointError: missing, truncated/damaged, or needing arbitrary code to unpickle (refused, not run).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        path.open("rb").close()
    except OSError as e:  # the file is fine, the access is not: say so, not "damaged"
        raise CheckpointError(f"{path} cannot be opened ({e.strerror}): check its permissions") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  torch's legacy reader fails on other files with Key/Index/EOF errors
        detail = _torch_detail(e)
        if isinstance(e, pickle.UnpicklingError) and any(word in detail.lower() for word in _CODE_REFUSALS):
            raise CheckpointError(
                f"{path} was refused: it needs arbitrary Python code to unpickle, which pointtune never runs "
                f"(weights_only=True). Only load files you made with pointtune or plain state dicts. Detail: "
                f"{detail}") from None
        raise CheckpointError(
            f"{path} is damaged or truncated, or not a PyTorch file at all, and cannot be read as weights only "
            f"({type(e).__name__}{': ' + detail if detail else ''}); give a pointtune checkpoint or export "
            "(`pointtune export`), or re-export it") from None


# how torch's weights-only unpickler words a refusal to import or call something (other failures: damaged data)
_CODE_REFUSALS = ("global", "reduce", "can only build", "can only create new object")
# torch's own lines around the detail, and its numbered options "(1) ... (2) ...": one of them suggests
# weights_only=False, which pointtune never does
_TORCH_BOILERPLATE = ("weights only load failed", "check the documentation of torch.load", "please file an issue")


def _torch_detail(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.lower().startswith(_TORCH_BOILERPLATE) and not ln.startswith("(")]
    return (useful or [""])[0].removeprefix("WeightsUnpickler error: ").split(". Please use")[0][:200]


def save_checkpoint(directory: str | Path, state: dict[str, Any], durable: bool = True) -> Path:
    state = {**state, "pointtune_version": pointtune_version()}
    return atomic_torch_save(state, Path(directory) / CHECKPOINT_FILE, durable)


def load_checkpoint(directory_or_file: str | Path) -> dict[str, Any]:
    p = Path(directory_or_file)
    state = read_torch_file(p / CHECKPOINT_FILE if p.is_dir() else p)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{p} is not a pointtune checkpoint (no 'model' entry)")
    return state


RESUME_FILE = "resume_state.pt"


def save_resume_state(trial_path: str, state: dict[str, Any]) -> int:
    """Write the state to resume a trial from, over the previous one, at ``trial_path`` (a folder or a URI).

    Returns:
        The bytes written.
    """
    target = f"{trial_path}/{RESUME_FILE}"
    if not storage.is_uri(target):
        return atomic_torch_save(state, target, durable=True).stat().st_size
    with tempfile.TemporaryDirectory(prefix="pointtune-resume-") as d:
        local = atomic_torch_save(state, Path(d) / RESUME_FILE, durable=False)
        storage.upload(local, target)
        return local.stat().st_size


def load_resume_state(trial_path: str) -> dict[str, Any] | None:
    """The state a trial saved to resume from (or its finished state), or None when it saved none."""
    source = f"{trial_path}/{RESUME_FILE}"
    if not storage.exists(source):
        return None
    if not storage.is_uri(source):
        return _resume_state(Path(source))
    with tempfile.TemporaryDirectory(prefix="pointtune-resume-") as d:
        storage.download(source, Path(d) / RESUME_FILE)
        return _resume_state(Path(d) / RESUME_FILE)


def _resume_state(path: Path) -> dict[str, Any]:
    state = read_torch_file(path)
    if not isinstance(state, dict) or "epoch" not in state or not ("model" in state or state.get("finished")):
        raise CheckpointError(f"{path} is not a pointtune resume state (no 'epoch' and 'model' entries)")
    return state


def drop_resume_state(trial_path: str) -> None:
    """A finished trial needs no resume state: remove it (it weighs 3x the model with Adam)."""
    storage.remove(f"{trial_path}/{RESUME_FILE}")
