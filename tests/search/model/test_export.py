"""Which epoch `export` takes (pure functions on hand-made trial records), and how it reads a checkpoint at a URI."""

from __future__ import annotations

import pandas as pd

from search.model.export import best_with_weights
from search.results.experiment import TrialRecord


def _record(f1: list[float], checkpoints: list[str | None]) -> TrialRecord:
    history = pd.DataFrame({"epoch": range(1, len(f1) + 1), "val_f1": f1, "checkpoint_dir_name": checkpoints})
    return TrialRecord("t1", "finished", {}, history, None, "/x/trial_t1")


def test_export_takes_the_best_epoch_with_weights() -> None:
    assert int(best_with_weights(_record([0.3, 0.7, 0.5], ["c0", "c1", None]))["epoch"]) == 2


def test_a_best_epoch_whose_weights_were_not_recorded_falls_back_to_the_best_one_that_has_them(capsys) -> None:
    # a search stopped just after epoch 3 improved, before it recorded that checkpoint; epoch 3 was re-reported
    row = best_with_weights(_record([0.3, 0.7, 0.8], ["c0", "c1", None]))
    assert int(row["epoch"]) == 2 and row["checkpoint_dir_name"] == "c1"
    assert "exporting epoch 2" in capsys.readouterr().out
    assert best_with_weights(_record([0.3], [None])) is None


def test_a_checkpoint_at_a_storage_uri_is_downloaded_without_ray(tmp_path) -> None:
    """``fetch_checkpoint`` reads a trial's checkpoint at a URI (file:// goes through pyarrow as s3:// does) by
    downloading its checkpoint.pt: no Ray."""
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from trainable.learn.checkpoint import atomic_torch_save

    atomic_torch_save({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "trial" / "checkpoint_000002" /
                      "checkpoint.pt")
    code = ("import sys; from search.results.experiment import fetch_checkpoint; "
            "state = fetch_checkpoint(sys.argv[1], 'checkpoint_000002'); assert state['epoch'] == 3, state; "
            "assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, f"file://{tmp_path / 'trial'}"], check=True,
                   cwd=Path(__file__).resolve().parents[3])
