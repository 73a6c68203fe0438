"""``pointtune export``: the best trial's best epoch of a search (or a trial's, or a ``train`` folder's model) as
one model file (``search/model/model_file.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.files import BEST_MODEL, TEST_SCORES_FILE, TRAIN_MODEL
from search.model.model_file import export_payload, save_export, train_folder_model
from search.outputs import plan_file
from search.results.experiment import (
    TrialRecord,
    best_record,
    fetch_checkpoint,
    find_trial,
    is_train_folder,
    load_experiment,
)
from trainable.data import storage
from trainable.data.storage import is_uri


def choose_trial(records: list[TrialRecord], trial_id: str | None, what: str = "export") -> TrialRecord:
    """The trial with the highest validation F1 at any epoch (not its last), or the one asked for; ``what`` the
    command does with it, for the message when there is none."""
    if trial_id:
        return find_trial(records, trial_id)
    return best_record(records, what)


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


def build_export(experiment: str, records: list[TrialRecord], trial_id: str | None,
                 what: str = "export") -> tuple[dict[str, Any], TrialRecord]:
    """The export payload of the chosen trial's best epoch, with its record (``what``: see ``choose_trial``)."""
    record = choose_trial(records, trial_id, what)
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


def _test_scores(experiment: str, trial_id: str, epoch: int) -> dict[str, float] | None:
    """The search's one test score of this trial's epoch, if the search made it."""
    path = f"{experiment}/{TEST_SCORES_FILE}"
    if not storage.exists(path):
        return None
    scores = json.loads(storage.read_text(path))
    if scores.pop("trial_id", None) != trial_id or scores.pop("epoch", None) != epoch:
        return None
    return scores


def best_model_of_search(experiment: str, trial_id: str | None = None,
                         what: str = "export") -> tuple[dict[str, Any], TrialRecord]:
    """The model file of a search's best trial (or of ``trial_id``) at its best epoch, with the search's test
    score when it scored that epoch, and the trial's record."""
    payload, record = build_export(experiment, load_experiment(experiment), trial_id, what)
    scores = _test_scores(experiment, record.trial_id, int(payload["epoch"]))
    if scores is not None:
        payload["test_metrics"] = scores
    return payload, record


def export_best(experiment: str, out: str | Path, trial_id: str | None = None) -> str:
    """``pointtune export``: a search's best model (or a trial's), or a ``train`` folder's, to ``out``."""
    if not is_uri(str(out)) or str(out).startswith("file://"):  # a bucket has no folders to check
        reads = [("the experiment being exported", experiment)]
        if not is_uri(str(experiment)):
            reads += [("the model file of the run being exported", Path(experiment).expanduser() / TRAIN_MODEL),
                      ("the search's own best model", Path(experiment).expanduser() / BEST_MODEL)]
        out = plan_file(out, "--out", "export", reads)
    if Path(str(out)).suffix.lower() not in (".pt", ".pth"):
        raise SearchError(f"--out {out}: name the model file .pt (or .pth), e.g. best.pt: evaluate, predict and "
                          "suggest take it by that name")
    if not is_uri(str(experiment)) and is_train_folder(str(experiment)):
        if trial_id:
            raise SearchError(f"{experiment} is a `pointtune train` folder: one run, no trials; leave --trial out")
        folder = Path(experiment).expanduser()
        payload = train_folder_model(folder)
        path = save_export(payload, out)
        print(f"exported train folder {folder} ({TRAIN_MODEL}, epoch {payload.get('epoch')}) to {path}")
        return path
    payload, record = best_model_of_search(experiment, trial_id)
    path = save_export(payload, out)
    print(f"exported trial {record.trial_id} epoch {payload['epoch']} ({record.metric} "
          f"{record.best_row[record.metric]:.4f}) to {path}")
    return path
