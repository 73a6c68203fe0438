"""``pointtune train``: one training run that prints its metrics, appends them to a CSV and keeps checkpoints."""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
from pathlib import Path
from typing import Any

import yaml

from search.console import CheckProgress
from trainable.checkpoint import CHECKPOINT_FILE, atomic_torch_save
from trainable.config import TrialConfig
from trainable.index import build_index
from trainable.inputs import resolve_for_data
from trainable.model import resolve_weights, resolved_config
from trainable.node_cache import NodeCache
from trainable.trial import run_trial

SUMMARY_KEYS = ("train_loss", "train_f1", "val_loss", "val_oa", "val_precision", "val_recall", "val_f1", "val_miou")


def format_epoch(metrics: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {metrics['epoch']}/{epochs}"] + [f"{k} {metrics[k]:.4f}" for k in SUMMARY_KEYS]
    per_class = [f"{k[7:]} {v:.3f}" for k, v in metrics.items() if k.startswith("val_f1_") and not math.isnan(v)]
    return "  ".join(parts) + f"  ({metrics['epoch_time_s']:.1f}s)\n    val F1 per class: " + ", ".join(per_class)


class RunDirectory:
    """The ``--out`` folder: ``config.yaml``, ``metrics.csv`` (one row per epoch), ``best.pt`` (the weights of the
    best epoch) and ``last.pt`` (weights and optimizer of the last epoch saved to resume from)."""

    def __init__(self, out: str | Path, cfg: TrialConfig):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.csv = self.out / "metrics.csv"
        self.csv.unlink(missing_ok=True)
        (self.out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        self.best = -math.inf
        self.epochs = cfg.train.epochs
        self.metric = cfg.train.metric

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        if metrics.get("trial_outcome"):  # diverged: no validation, no checkpoint
            print(metrics["trial_error"], flush=True)
            (self.out / "outcome.txt").write_text(f"{metrics['trial_outcome']}: {metrics['trial_error']}\n")
            return
        print(format_epoch(metrics, self.epochs), flush=True)
        new = not self.csv.exists()
        with self.csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(metrics))
            if new:
                writer.writeheader()
            writer.writerow(metrics)
        if checkpoint_dir is not None:  # a new best epoch: its weights
            self.best = metrics[self.metric]
            shutil.copyfile(Path(checkpoint_dir) / CHECKPOINT_FILE, self.out / ".best.pt.tmp")
            (self.out / ".best.pt.tmp").replace(self.out / "best.pt")

    def save_state(self, state: dict[str, Any]) -> int:
        """The latest full state (weights and optimizer) as ``last.pt``."""
        return atomic_torch_save(state, self.out / "last.pt").stat().st_size


def train_once(cfg: TrialConfig, out: str | Path) -> float:
    """Run one training; returns the best validation F1."""
    # this process trains: the checks leave the decoded rasters in the node cache for it
    index = build_index(cfg.data, warm=NodeCache(), progress=CheckProgress())
    cfg = resolve_for_data(cfg, index)
    resolved, weights = resolve_weights(cfg.model)
    cfg = cfg.replace(model=dataclasses.asdict(resolved_config(cfg.model, resolved)))
    run_dir = RunDirectory(out, cfg)
    print(f"training {cfg.model.backbone} on {cfg.data.root}: lr {cfg.train.lr:g}, "
          f"{_points_text(cfg)}, {cfg.train.epochs} epoch(s), tiles {cfg.data.tile_size}px -> {run_dir.out}")
    print(f"weights: {resolved.describe()}")
    run_trial(cfg, run_dir.report, data=index, weights=weights, save_state=run_dir.save_state)
    print(f"best {cfg.train.metric} {run_dir.best:.4f}; checkpoints: {run_dir.out / 'best.pt'}, "
          f"{run_dir.out / 'last.pt'}")
    return run_dir.best


def _points_text(cfg: TrialConfig) -> str:
    if cfg.points.mode == "density":
        return f"point density {cfg.points.density:g}"
    return f"{cfg.points.points_per_instance} point(s) per instance"
