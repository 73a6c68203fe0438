"""What a MODEL argument may name: a model file, a `pointtune train` folder, a search's folder; anything else is
refused with a message naming the three. Hand-made files: no training here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from search.errors import SearchError
from search.model.source import ACCEPTED, resolve_model
from trainable.config import ModelConfig, TrialConfig
from trainable.data.formats import format_classes
from trainable.learn.checkpoint import CheckpointError, atomic_torch_save
from trainable.learn.model import build_model


def _state(epoch: int = 2) -> dict:
    """A trial checkpoint of the tiny network (what a search's trial and, before, `train`'s best.pt held)."""
    classes = format_classes("demo")
    model = build_model(ModelConfig(backbone="tiny", weights="none"), classes.num_classes)
    cfg = TrialConfig(model=ModelConfig(backbone="tiny", weights="none")).to_dict()
    return {"model": model.state_dict(), "epoch": epoch, "config": cfg, "classes": classes.to_dict(),
            "metrics": {"epoch": epoch, "val_f1": 0.5}, "train_stems": ["a"], "val_stems": ["b"], "test_stems": ["c"]}


def _train_folder(root: Path, best: dict | None) -> Path:
    root.mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump(_state()["config"]))
    if best is not None:
        atomic_torch_save(best, root / "best.pt")
    return root


def test_a_model_file_and_a_train_folder_give_the_same_model(tmp_path: Path) -> None:
    from search.model.model_file import export_payload

    payload = export_payload(_state(), "val_f1", "run", str(tmp_path / "run"))
    folder = _train_folder(tmp_path / "run", payload)
    for arg in (folder, folder / "best.pt", str(folder / "best.pt")):
        source = resolve_model(arg)
        assert source.payload["format"] == "pointtune-model/1" and source.payload["epoch"] == 2
        assert torch.equal(source.payload["model"]["classifier.weight"], payload["model"]["classifier.weight"])
    assert "train folder" in resolve_model(folder).what and "model file" in resolve_model(folder / "best.pt").what


def test_a_train_folder_from_before_holds_a_trial_checkpoint_taken_as_export_would(tmp_path: Path) -> None:
    folder = _train_folder(tmp_path / "old", _state(epoch=3))
    payload = resolve_model(folder).payload
    assert payload["epoch"] == 3 and payload["split"] == {"train": ["a"], "val": ["b"], "test": ["c"]}
    assert resolve_model(folder / "best.pt").payload["epoch"] == 3, "its best.pt too"
    assert payload["class_names"][0] == "road" and payload["tile_size"] == 256


def test_what_is_not_a_model_is_refused_saying_what_is(tmp_path: Path) -> None:
    resume = tmp_path / "last.pt"
    atomic_torch_save({**_state(), "optimizer": {}}, resume)
    with pytest.raises(CheckpointError, match=r"resume state of a run .* give the best\.pt beside it") as e:
        resolve_model(resume)
    assert ACCEPTED in str(e.value)
    trial = tmp_path / "checkpoint.pt"
    atomic_torch_save(_state(), trial)
    with pytest.raises(CheckpointError, match="a trial checkpoint, not a model file"):
        resolve_model(trial)
    other = tmp_path / "other.pt"
    atomic_torch_save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a model written by pointtune"):
        resolve_model(other)
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(SearchError, match=r"neither a `pointtune train` folder .* nor a search's experiment folder"):
        resolve_model(data)
    with pytest.raises(SearchError, match="does not exist") as e:
        resolve_model(tmp_path / "missing")
    assert "a `pointtune train` --out folder" in str(e.value) and "search's experiment folder" in str(e.value)
    with pytest.raises(SearchError, match=r"has no best\.pt yet: no epoch has finished"):
        resolve_model(_train_folder(tmp_path / "young", None))


def test_a_search_folder_gives_its_best_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search's best trial at its best epoch, as `export` takes it (checked on a real search in
    test_results_export.py)."""
    import search.model.source

    asked = []

    def best(experiment: str, trial_id: str | None = None, what: str = "export") -> tuple[dict, object]:
        asked.append(experiment)
        assert what == "use", "its message, with no trial yet, names what the model is for"
        return {"format": "pointtune-model/1", "epoch": 4}, type("Record", (), {"trial_id": "t7"})()

    monkeypatch.setattr(search.model.source, "best_model_of_search", best)
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "pointtune_settings.yaml").write_text("{}")
    source = resolve_model(folder)
    assert source.payload["epoch"] == 4 and "trial t7" in source.what and asked == [str(folder.resolve())]
