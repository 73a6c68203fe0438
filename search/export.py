"""``pointtune export``: the best trial's best epoch as one self-describing, weights-only model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.results import TrialRecord, best_record, fetch_checkpoint, find_trial, load_experiment
from trainable.checkpoint import atomic_torch_save, pointtune_version
from trainable.tiles import IMAGENET_MEAN, IMAGENET_STD

EXPORT_FORMAT = "pointtune-model/1"


def choose_trial(records: list[TrialRecord], trial_id: str | None) -> TrialRecord:
    """The trial with the highest validation F1 at any epoch (not its last), or the one asked for."""
    if trial_id:
        return find_trial(records, trial_id)
    return best_record(records, "export")


def export_payload(state: dict[str, Any], record: TrialRecord, experiment: str) -> dict[str, Any]:
    cfg, classes = state["config"], state["classes"]
    return {
        "format": EXPORT_FORMAT, "model": state["model"], "backbone": cfg["model"]["backbone"],
        "num_classes": len(classes["classes"]), "class_names": [c["name"] for c in classes["classes"]],
        "class_colours": [c["color"] for c in classes["classes"]], "classes": classes,
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "tile_size": cfg["data"]["tile_size"], "resize": cfg["data"]["resize"],
        "hyperparameters": {"lr": cfg["train"]["lr"], "epochs": cfg["train"]["epochs"],
                            "batch_size": cfg["train"]["batch_size"], **cfg["points"]},
        "config": cfg, "epoch": state["epoch"],
        "metrics": {k: v for k, v in state["metrics"].items() if k.startswith(("val_", "train_"))},
        "trial_id": record.trial_id, "experiment": experiment, "pointtune_version": pointtune_version(),
    }


def export_best(experiment: str, out: str | Path, trial_id: str | None = None) -> Path:
    records = load_experiment(experiment)
    record = choose_trial(records, trial_id)
    best = record.best_row
    if best is None:
        raise SearchError(f"trial {record.trial_id} reported no epoch yet: nothing to export; wait for it, or "
                          f"choose another --trial (see `pointtune results {experiment}`)")
    dir_name = best.get("checkpoint_dir_name")
    if not isinstance(dir_name, str):
        raise SearchError(f"trial {record.trial_id} epoch {int(best['epoch'])} has no checkpoint recorded in "
                          f"{record.path}; export another --trial (see `pointtune results {experiment}`)")
    state = fetch_checkpoint(record.path, dir_name)
    if int(state["epoch"]) != int(best["epoch"]):
        raise SearchError(f"{record.path}/{dir_name} holds epoch {state['epoch']}, not the best epoch "
                          f"{int(best['epoch'])}; the experiment folder looks inconsistent")
    path = atomic_torch_save(export_payload(state, record, experiment), out)
    print(f"exported trial {record.trial_id} epoch {state['epoch']} (val_f1 {best['val_f1']:.4f}) to {path}")
    return path
