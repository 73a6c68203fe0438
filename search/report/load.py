"""What a report is made of, before any figure: the trials of a search or ``train`` folder and what the search
wrote beside them (settings, test score, full-supervision reference)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from search.files import SETTINGS_FILE, TEST_SCORES_FILE
from search.results.campaign import campaign_reference, campaign_table, load_campaign, reference_line
from search.results.experiment import experiment_metric, is_train_folder, load_experiment, train_record
from search.results.reference import load_reference
from trainable.data import storage
from trainable.data.storage import is_uri
from trainable.defaults import default

METRIC = default("metric")  # what a search ranks by unless told


@dataclass
class ReportInput:
    """What a report is made of, before any figure: the trials and what the search wrote beside them."""

    path: str
    kind: str  # "search" or "train"
    records: list[Any]
    metric: str = METRIC
    settings: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    test_scores: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # several folders (kind "rounds"): the campaign's table, each row's own folder (for the best model's section),
    # the campaign (search.results.campaign) and its full-supervision reference in words
    table: pd.DataFrame | None = None
    folders: dict[str, ReportInput] = field(default_factory=dict)
    campaign: Any = None
    reference_text: str | None = None

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


def load_campaign_input(paths: list[str]) -> ReportInput:
    """Several train or experiment folders as one report (``search.results.campaign``): every run and trial a row
    with its folder, round and clicks file; the best model's section from the best row's own folder."""
    camp = load_campaign(paths)
    parents = {str(Path(f.path).parent) for f in camp.folders if not is_uri(f.path)}
    path = parents.pop() if len(parents) == 1 else "several folders"
    inp = ReportInput(path, "rounds", camp.records, camp.metric, reference=campaign_reference(camp),
                      table=campaign_table(camp), campaign=camp, reference_text=reference_line(camp))
    by_folder = {f.path: ReportInput(f.path, f.kind, f.records, camp.metric) for f in camp.folders}
    inp.folders = {rid: by_folder[f.path] for rid, f in camp.origin.items()}
    return inp
