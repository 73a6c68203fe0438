"""Several train or experiment folders as one table: the rounds of an annotation campaign on one frontier.

``pointtune results A B C [--frontier]`` and ``pointtune report A B C``: each run (a ``pointtune train`` folder) or
trial (of a search's experiment folder) is one row, with its ``folder``, the ``round`` and ``clicks_file`` it trained
on (``search.results.rounds``: the folder's ``clicks.json``) and ``test_f1`` where the folder scored that row's model
on its test part. A train folder trained on dense masks (density 1, no clicks file) is **full supervision**: it is
not a row but the reference (the mean of their best scores when there are several), against which ``f1_vs_full``
and "the fewest clicks that reach X% of full supervision" are stated; without one, a search's own
``--reference full`` serves its rows. Folders keep the order given; within one, the best trial first. Trial ids stay
those of ``results FOLDER`` for a train folder (its name); a search's trials read ``NAME/ID``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from search.errors import SearchError
from search.files import TEST_SCORES_FILE
from search.results.experiment import TrialRecord, is_train_folder, load_experiment
from search.results.reference import load_reference
from search.results.rounds import read_record
from search.results.tables import table_columns, trial_row
from trainable.config import METRICS
from trainable.data import storage
from trainable.data.storage import is_uri
from trainable.defaults import default

LEAD = ("folder", "round", "clicks_file", "clicks_sha256")  # the columns a campaign adds after trial_id
SHA_SHOWN = 12  # hex digits of the clicks file's SHA-256 in the table


@dataclass
class Folder:
    """One folder given: a train folder (one record) or a search (its trials), and what it recorded."""

    path: str
    kind: str  # "train" or "search"
    records: list[TrialRecord]
    clicks: dict[str, Any] | None = None  # clicks.json (search.results.rounds)
    reference: dict[str, Any] | None = None  # a search's --reference full
    test_scores: dict[str, Any] | None = None  # test_scores.json
    label: str = ""  # set where two folders given share a last name: enough of their paths to tell them apart

    @property
    def name(self) -> str:
        return self.label or PurePosixPath(self.path.rstrip("/")).name

    @property
    def dense(self) -> bool:
        """A train run on every valid pixel of the dense masks: full supervision, not a round."""
        if self.kind != "train" or not self.records:
            return False
        cfg = self.records[0].config
        points, data = cfg.get("points") or {}, cfg.get("data") or {}
        return (points.get("mode") == "density" and float(points.get("density", 0)) >= 1.0
                and not data.get("clicks"))


@dataclass
class Campaign:
    """The folders given, their rows' records (ids made unique), the full-supervision reference and notes."""

    folders: list[Folder]
    records: list[TrialRecord] = field(default_factory=list)
    origin: dict[str, Folder] = field(default_factory=dict)  # a record's (unique) id -> its folder
    original_id: dict[str, str] = field(default_factory=dict)  # a record's (unique) id -> its id in its folder
    reference: dict[str, Any] | None = None  # from the dense train folders given (mean of their best epochs)
    metric: str = default("metric")


def _json(path: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_text(path)) if storage.exists(path) else None
    except (OSError, ValueError):
        return None


def load_folder(path: str) -> Folder:
    path = path if is_uri(path) else str(Path(path).expanduser().resolve())
    records = load_experiment(path)  # raises SearchError for a folder that does not exist
    kind = "train" if is_train_folder(path) else "search"
    return Folder(path, kind, records, read_record(path), load_reference(path) if kind == "search" else None,
                  _json(f"{path}/{TEST_SCORES_FILE}"))


def dense_reference(folders: list[Folder], metric: str) -> dict[str, Any] | None:
    """Full supervision from dense train folders: per metric, the mean over them of its value at each one's best
    epoch (by ``metric``); None without any that finished an epoch."""
    rows = [f.records[0].best_row for f in folders]
    rows = [r for r in rows if r is not None and metric in r and not pd.isna(r[metric])]  # --val-clicks 0: none
    if not rows:
        return None
    ref: dict[str, Any] = {m: statistics.mean(float(r[m]) for r in rows) for m in METRICS
                           if all(m in r and not pd.isna(r[m]) for r in rows)}
    ref["source_trial"] = ", ".join(f.name for f in folders)
    ref["runs"] = len(rows)
    ref[metric] = statistics.mean(float(r[metric]) for r in rows)
    return ref


def _canonical(path: str) -> str:
    """A folder as typed, as one spelling: ``a``, ``./a`` and ``a/`` are one folder."""
    return path.rstrip("/") if is_uri(path) else str(Path(path).expanduser().resolve())


def _label_alike(folders: list[Folder]) -> None:
    """Folders that share a last name (``siteA/round1``, ``siteB/round1``) are labelled by as many trailing parts of
    their paths as tell them apart."""
    parts = {id(f): PurePosixPath(f.path.rstrip("/")).parts for f in folders}
    for depth in range(1, max((len(p) for p in parts.values()), default=1) + 1):
        labels = ["/".join(parts[id(f)][-depth:]) for f in folders]
        clash = {x for x in labels if labels.count(x) > 1}
        for f, label in zip(folders, labels, strict=True):
            if depth > 1 and not f.label and label not in clash and _base_clashes(f, folders):
                f.label = label
        if not clash:
            return


def _base_clashes(folder: Folder, folders: list[Folder]) -> bool:
    return sum(PurePosixPath(f.path.rstrip("/")).name == PurePosixPath(folder.path.rstrip("/")).name
               for f in folders) > 1


def load_campaign(paths: list[str]) -> Campaign:
    """The folders given, in order (a folder given twice counts once).

    Raises:
        SearchError: a folder does not exist or is neither a train nor an experiment folder.
    """
    folders = [load_folder(p) for p in dict.fromkeys(_canonical(p) for p in paths)]
    _label_alike(folders)
    rounds = [f for f in folders if not f.dense]
    if not rounds:
        raise SearchError(f"every folder given ({', '.join(f.path for f in folders)}) was trained on dense masks "
                          "(full supervision): give the runs or searches of the rounds too")
    metric = next((f.records[0].metric for f in rounds if f.records), default("metric"))
    dense = [f for f in folders if f.dense]
    camp = Campaign(folders, metric=metric, reference=dense_reference(dense, metric))
    taken: set[str] = set()
    for f in rounds:
        for r in f.records:
            rid = r.trial_id if f.kind == "train" else f"{f.name}/{r.trial_id}"
            unique, k = rid, 2
            while unique in taken:
                unique, k = f"{rid}~{k}", k + 1
            taken.add(unique)
            camp.records.append(dataclasses.replace(r, trial_id=unique))
            camp.origin[unique], camp.original_id[unique] = f, r.trial_id
    return camp


def _test_f1(folder: Folder, original_id: str, row: dict[str, Any], metric: str) -> float:
    """The folder's one test score when it is of this row's model (its trial, and the best epoch the table shows)."""
    scores = folder.test_scores or {}
    if scores.get("trial_id") != original_id or scores.get("epoch") != row.get("best_epoch"):
        return math.nan
    return float(scores.get("test_clicks_f1" if metric.startswith("val_clicks_") else "test_f1", math.nan))


def campaign_columns(metric: str) -> list[str]:
    cols = table_columns(metric)
    return [cols[0], *LEAD, *cols[1:-1], "test_f1", cols[-1]]


def campaign_table(camp: Campaign) -> pd.DataFrame:
    """One row per run or trial (module docstring), the folders in the order given, each one's best first."""
    rows = []
    for r in camp.records:
        folder = camp.origin[r.trial_id]
        reference = camp.reference or folder.reference
        row = trial_row(r, reference)
        clicks = folder.clicks or {}
        row.update(folder=folder.name, round=clicks.get("round"), clicks_file=clicks.get("name"),
                   clicks_sha256=(clicks.get("sha256") or "")[:SHA_SHOWN] or None,
                   test_f1=_test_f1(folder, camp.original_id[r.trial_id], row, r.metric))
        if not clicks and r.config.get("data", {}).get("clicks"):  # trained before rounds were recorded
            row["clicks_file"] = PurePosixPath(r.config["data"]["clicks"]).name
        rows.append(row)
    df = pd.DataFrame(rows, columns=campaign_columns(camp.metric))
    if df.empty:
        return df
    order = {f.name: k for k, f in enumerate(camp.folders)}
    df["_folder"] = df["folder"].map(order)
    df = df.sort_values(["_folder", f"best_{camp.metric}"], ascending=[True, False], na_position="last",
                        kind="stable")
    return df.drop(columns="_folder").reset_index(drop=True)


def reference_line(camp: Campaign) -> str | None:
    """Which full-supervision reference the campaign's ratios use, in words."""
    ref, m = camp.reference, camp.metric
    if ref is not None:
        runs = f"mean of {ref['runs']} dense runs" if ref["runs"] > 1 else "a dense run"
        return f"full supervision ({runs}: {ref['source_trial']}): {m} {ref[m]:.4f}"
    own = [f for f in camp.folders if f.reference is not None]
    if own:
        return "full supervision: each search's own --reference full (" + ", ".join(
            f"{f.name} {f.reference.get(m, math.nan):.4f}" for f in own) + ")"
    return None


def campaign_reference(camp: Campaign) -> dict[str, Any] | None:
    """The reference the frontier's statements use: the dense folders', else the one search's that has one (or the
    mean of several searches')."""
    if camp.reference is not None:
        return camp.reference
    own = [f.reference for f in camp.folders if f.reference is not None and f.reference.get(camp.metric)]
    if not own:
        return None
    return {camp.metric: statistics.mean(float(r[camp.metric]) for r in own), "runs": len(own)}
