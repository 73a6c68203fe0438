"""What a report is made of, before any figure: the trials of a search or ``train`` folder and what the search
wrote beside them (settings, test score, full-supervision reference)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from search.launch.reference import load_reference
from search.model.model_file import TEST_SCORES_FILE
from search.results.experiment import SETTINGS_FILE, experiment_metric, is_train_folder, load_experiment, train_record
from trainable.data import storage
from trainable.data.storage import is_uri


@dataclass
class ReportInput:
    """What a report is made of, before any figure: the trials and what the search wrote beside them."""

    path: str
    kind: str  # "search" or "train"
    records: list[Any]
    metric: str = "val_f1"
    settings: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    test_scores: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def load_report_input(path: str) -> ReportInput:
    """The trials of a search folder (local or URI; Ray reads it) or of a ``pointtune train`` folder."""
    if not is_uri(path):
        path = str(Path(path).expanduser().resolve())
    settings = test_scores = None
    notes = []
    try:
        if storage.exists(f"{path}/{TEST_SCORES_FILE}"):
            test_scores = json.loads(storage.read_text(f"{path}/{TEST_SCORES_FILE}"))
    except (OSError, ValueError) as e:
        notes.append(f"{TEST_SCORES_FILE} could not be read: {e}")
    if is_train_folder(path):
        record = train_record(path)
        return ReportInput(path, "train", [record], record.metric, test_scores=test_scores, notes=notes)
    records = load_experiment(path)
    try:
        settings = yaml.safe_load(storage.read_text(f"{path}/{SETTINGS_FILE}"))
    except (OSError, yaml.YAMLError) as e:
        notes.append(f"the search's settings ({SETTINGS_FILE}) could not be read: {e}")
    metric = records[0].metric if records else experiment_metric(path)
    return ReportInput(path, "search", records, metric, settings, load_reference(path), test_scores, notes)
