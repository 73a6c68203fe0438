"""Checkpoints and resume states (trainable/learn/checkpoint.py): written atomically, read weights-only, and every
failure to read one a ``CheckpointError`` that names the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from trainable.errors import CheckpointError
from trainable.learn.checkpoint import (
    CHECKPOINT_FILE,
    RESUME_FILE,
    atomic_torch_save,
    drop_resume_state,
    load_checkpoint,
    load_resume_state,
    read_torch_file,
    save_checkpoint,
    save_resume_state,
)


class NeedsCode:
    """Unpickling it would import and build this class: a weights-only reader must refuse it."""


def _state(epoch: int = 2) -> dict:
    return {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": epoch, "best": {"metric": "val_f1",
            "value": 0.5, "epoch": 1, "f1": 0.5}, "history": [{"epoch": 1, "val_f1": 0.5}],
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]}}


def test_an_atomic_save_that_fails_leaves_nothing_behind_and_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.pt"
    atomic_torch_save({"epoch": 1}, target)
    with pytest.raises(Exception):  # noqa: B017  a local function cannot be pickled: torch.save fails half-way
        atomic_torch_save({"epoch": 2, "fn": lambda: None}, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.pt"], "no temporary file is left"
    assert read_torch_file(target) == {"epoch": 1}
    with pytest.raises(Exception):  # noqa: B017
        atomic_torch_save({"fn": lambda: None}, tmp_path / "new.pt", durable=False)
    assert not (tmp_path / "new.pt").exists() and not list(tmp_path.glob(".new.pt.*"))


def test_a_save_writes_the_whole_file_under_its_name(tmp_path: Path) -> None:
    path = atomic_torch_save({"x": torch.ones(3)}, tmp_path / "a.pt", durable=False)
    assert path == tmp_path / "a.pt" and [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert torch.equal(read_torch_file(path)["x"], torch.ones(3))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_is_the_modules_own_error_naming_it(tmp_path: Path, damage: str) -> None:
    path = atomic_torch_save(_state(), tmp_path / "resume_state.pt")
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a torch file\n" * 20,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="damaged or truncated") as e:
        read_torch_file(path)
    assert str(path) in str(e.value)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_resume_state(str(tmp_path))


def test_a_missing_file_a_folder_and_a_file_needing_code_are_each_said(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / 'none.pt'} does not exist")):
        read_torch_file(tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path} is not a file")):
        read_torch_file(tmp_path)
    torch.save({"model": NeedsCode()}, tmp_path / "code.pt")
    with pytest.raises(CheckpointError, match="refused: it needs arbitrary Python code") as e:
        read_torch_file(tmp_path / "code.pt")
    assert str(tmp_path / "code.pt") in str(e.value)


def test_a_checkpoint_round_trips_with_its_version_and_needs_a_model(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, {"model": {"w": torch.ones(2)}, "epoch": 3})
    assert path == tmp_path / CHECKPOINT_FILE
    for source in (tmp_path, path):  # the folder or the file
        state = load_checkpoint(source)
        assert state["epoch"] == 3 and torch.equal(state["model"]["w"], torch.ones(2))
        assert isinstance(state["pointtune_version"], str) and state["pointtune_version"]
    atomic_torch_save({"epoch": 3}, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match=r"weights\.pt is not a pointtune checkpoint"):
        load_checkpoint(tmp_path / "weights.pt")


@pytest.mark.parametrize("where", ["folder", "uri"])
def test_a_resume_state_round_trips_and_is_dropped(tmp_path: Path, where: str) -> None:
    """On a local folder, and through a storage URI (``file://``: uploaded and downloaded as a bucket's would be)."""
    trial = str(tmp_path / "trial_t1") if where == "folder" else f"file://{tmp_path}/trial_t1"
    assert load_resume_state(trial) is None, "no state saved: nothing to resume"
    written = save_resume_state(trial, _state())
    assert written == (tmp_path / "trial_t1" / RESUME_FILE).stat().st_size > 0
    back = load_resume_state(trial)
    assert back["epoch"] == 2 and back["history"] == [{"epoch": 1, "val_f1": 0.5}] and back["best"]["value"] == 0.5
    assert torch.equal(back["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert back["optimizer"]["param_groups"][0]["lr"] == 1e-3
    save_resume_state(trial, _state(epoch=4))  # over the previous one
    folder = tmp_path / "trial_t1"
    assert load_resume_state(trial)["epoch"] == 4 and [p.name for p in folder.iterdir()] == [RESUME_FILE]
    drop_resume_state(trial)
    assert load_resume_state(trial) is None and not (folder / RESUME_FILE).exists()


def test_a_finished_state_loads_without_weights_and_anything_else_is_refused(tmp_path: Path) -> None:
    trial = str(tmp_path)
    save_resume_state(trial, {"epoch": 3, "history": [], "finished": True})
    assert load_resume_state(trial)["finished"] is True
    save_resume_state(trial, {"epoch": 3, "history": []})  # neither weights nor finished
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / RESUME_FILE} is not a pointtune resume state")):
        load_resume_state(trial)
    save_resume_state(trial, {"model": {}})  # no epoch
    with pytest.raises(CheckpointError, match="is not a pointtune resume state"):
        load_resume_state(trial)
