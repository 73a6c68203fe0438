"""``pointtune export``: the best trial's best epoch as one self-describing, weights-only model file.

The same file (``export_payload``, written by ``save_export``) is what ``pointtune train`` keeps as ``OUT/best.pt``
and a finished search as ``EXPERIMENT/best_model.pt``; ``search/model/source.py`` resolves a MODEL argument to it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.results.experiment import TrialRecord, best_record, fetch_checkpoint, find_trial, load_experiment
from trainable.data import storage
from trainable.data.index import IMAGENET_MEAN, IMAGENET_STD
from trainable.data.storage import is_uri
from trainable.learn.checkpoint import atomic_torch_save, pointtune_version

EXPORT_FORMAT = "pointtune-model/1"


def choose_trial(records: list[TrialRecord], trial_id: str | None) -> TrialRecord:
    """The trial with the highest validation F1 at any epoch (not its last), or the one asked for."""
    if trial_id:
        return find_trial(records, trial_id)
    return best_record(records, "export")


def export_payload(state: dict[str, Any], metric: str, trial_id: str, experiment: str) -> dict[str, Any]:
    """The model file of a checkpoint (a trial's best epoch, or a ``train`` run's): weights, the config, classes,
    normalisation, tile, the split's stems and the validation scores; ``metric`` picked the epoch, ``trial_id`` and
    ``experiment`` say where it comes from."""
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


def _normalization(cfg: dict[str, Any]) -> dict[str, list[float]]:
    """The per-band statistics the model was trained with (configs from before they were resolved: ImageNet's, on
    8-bit RGB, which is what those runs used)."""
    if cfg["data"].get("mean"):
        return {"mean": list(cfg["data"]["mean"]), "std": list(cfg["data"]["std"])}
    return {"mean": [m * 255 for m in IMAGENET_MEAN], "std": [s * 255 for s in IMAGENET_STD]}


def best_with_weights(record: TrialRecord) -> Any:
    """The trial's best epoch among those whose weights were recorded (normally its best epoch: a search stopped
    just after a new best epoch, before it recorded the checkpoint, leaves that epoch without weights)."""
    h = record.history
    if "checkpoint_dir_name" not in h:
        return None
    kept = h[h["checkpoint_dir_name"].apply(lambda v: isinstance(v, str)) & h[record.metric].notna()]
    if kept.empty:
        return None
    row = kept.loc[kept[record.metric].idxmax()]
    if int(row["epoch"]) != int(record.best_row["epoch"]):
        print(f"trial {record.trial_id}: the weights of its best epoch {int(record.best_row['epoch'])} were not "
              f"recorded (the search was stopped just after it); exporting epoch {int(row['epoch'])}, the best one "
              "whose weights were")
    return row


def build_export(experiment: str, records: list[TrialRecord], trial_id: str | None) -> tuple[dict[str, Any],
                                                                                            TrialRecord]:
    """The export payload of the chosen trial's best epoch, with its record."""
    record = choose_trial(records, trial_id)
    if record.best_row is None:
        raise SearchError(f"trial {record.trial_id} reported no epoch yet: nothing to export; wait for it, or "
                          f"choose another --trial (see `pointtune results {experiment}`)")
    best = best_with_weights(record)
    if best is None:
        raise SearchError(f"trial {record.trial_id} has no checkpoint recorded in {record.path}; export another "
                          f"--trial (see `pointtune results {experiment}`)")
    dir_name = best["checkpoint_dir_name"]
    state = fetch_checkpoint(record.path, dir_name)
    if int(state["epoch"]) != int(best["epoch"]):
        raise SearchError(f"{record.path}/{dir_name} holds epoch {state['epoch']}, not the best epoch "
                          f"{int(best['epoch'])}; the experiment folder looks inconsistent")
    return export_payload(state, record.metric, record.trial_id, experiment), record


def save_export(payload: dict[str, Any], out: str | Path) -> str:
    """Write an export atomically, to a local path or a storage URI."""
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


def _test_scores(experiment: str, trial_id: str, epoch: int) -> dict[str, float] | None:
    """The search's one test score of this trial's epoch, if the search made it."""
    from search.model.evaluate import TEST_SCORES_FILE

    path = f"{experiment}/{TEST_SCORES_FILE}"
    if not storage.exists(path):
        return None
    scores = json.loads(storage.read_text(path))
    if scores.pop("trial_id", None) != trial_id or scores.pop("epoch", None) != epoch:
        return None
    return scores


def best_model_of_search(experiment: str, trial_id: str | None = None) -> tuple[dict[str, Any], TrialRecord]:
    """The model file of a search's best trial (or of ``trial_id``) at its best epoch, with the search's test
    score when it scored that epoch, and the trial's record."""
    payload, record = build_export(experiment, load_experiment(experiment), trial_id)
    scores = _test_scores(experiment, record.trial_id, int(payload["epoch"]))
    if scores is not None:
        payload["test_metrics"] = scores
    return payload, record


def export_best(experiment: str, out: str | Path, trial_id: str | None = None) -> str:
    """``pointtune export``: a search's best model (or a trial's), or a ``train`` folder's, to ``out``."""
    from search.model.source import resolve_model
    from search.results.experiment import is_train_folder

    if not is_uri(str(experiment)) and is_train_folder(str(experiment)):
        if trial_id:
            raise SearchError(f"{experiment} is a `pointtune train` folder: one run, no trials; leave --trial out")
        source = resolve_model(experiment)
        path = save_export(source.payload, out)
        print(f"exported {source.what} to {path}")
        return path
    payload, record = best_model_of_search(experiment, trial_id)
    path = save_export(payload, out)
    print(f"exported trial {record.trial_id} epoch {payload['epoch']} ({record.metric} "
          f"{record.best_row[record.metric]:.4f}) to {path}")
    return path
