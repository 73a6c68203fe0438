"""``pointtune plot``: the figures of a hand-made search (no Ray) and the PNGs of a real ``train`` folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from search.cli.main import main
from search.results.experiment import TrialRecord
from search.results.plots import FIGURES, search_figures
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig


def _record(trial_id: str, lr: float, density: float, f1s: list[float]) -> TrialRecord:
    config = TrialConfig(data=DataConfig(root="/nowhere", format="demo", tile_size=32),
                         points=PointConfig(mode="density", density=density),
                         model=ModelConfig(backbone="tiny", weights="none"), train=TrainConfig(lr=lr, epochs=2))
    history = pd.DataFrame({"epoch": range(1, len(f1s) + 1), "val_f1": f1s, "clicks_per_image": density * 4000})
    return TrialRecord(trial_id, "finished", config.to_dict(), history, None, "-")


def test_a_search_gets_the_reports_figures(tmp_path: Path) -> None:
    records = [_record("a", 1e-4, 0.01, [0.3, 0.5]), _record("b", 1e-3, 0.02, [0.6, 0.8]),
               _record("c", 1e-2, 0.04, [0.7])]
    figures = search_figures(str(tmp_path), records, 0.95)
    assert list(figures) == ["val_f1_per_epoch.png", "best_score_vs_settings.png", "frontier.png",
                             "parallel_coordinates.png"], "no study in the folder: no importance"
    assert set(figures) <= set(FIGURES)
    curves = figures["val_f1_per_epoch.png"].axes[0]
    assert len(curves.get_lines()) == 3 and "b (finished) best" in [t.get_text() for t in
                                                                     curves.get_legend().get_texts()]
    assert [ax.get_xlabel() for ax in figures["best_score_vs_settings.png"].axes] == [
        "learning rate", "point density", "clicks per training image"]
    assert list(search_figures(str(tmp_path), records[:1], 0.95)) == ["val_f1_per_epoch.png"], "one trial"


def test_a_train_folder_gets_its_pngs(train_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "plots"
    assert main(["plot", str(train_dir), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == ["best_trial_curves.png", "best_trial_per_class.png", "val_f1_per_epoch.png"]
    image = Image.open(out / "best_trial_curves.png")
    assert image.info["Software"].startswith("pointtune") and image.width > 600
