"""Rounds of an annotation campaign: which clicks a run trained on, and which round they are.

A campaign goes: clicks so far -> train -> ``pointtune suggest`` -> the annotator answers -> the clicks so far and
the answered ones -> train again. Three records make each step identifiable and safe:

- **the round of a click**: ``suggest`` writes a ``round`` column (CSV) or property (GeoJSON) on every click it
  suggests: the model's round + 1 (or the clicks so far's + 1, when higher). Clicks without one are round 0 (the
  first file). Merging files by hand (a spreadsheet, ``csv`` tools) keeps the column, so the round of a clicks file
  is its highest round, however it was put together (``clicks_rounds``).
- **the sidecar** ``FILE.json`` beside every file ``suggest`` writes (``SIDECAR_FORMAT``): where the clicks came
  from (the model, its round and clicks file), the strategy, radius, seed, the clicks so far, the round, and the
  file's SHA-256 as written (an annotator filling in the classes changes it: expected). Written by
  ``search.model.suggest_output``.
- **the clicks record** ``clicks.json`` in a ``pointtune train`` folder and in a search's experiment folder
  (``CLICKS_RECORD``): the clicks file the run trained on, its SHA-256 at the start, the clicks it held (in all, on
  the training images, per round) and its round, with the sidecar when there is one. ``train --resume`` and
  ``run --resume`` refuse a clicks file that changed since (``record_clicks``): a run never mixes two rounds.

``pointtune results A B C`` and ``report A B C`` read the record of each folder (``search.results.campaign``).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from search.errors import SearchError
from search.files import CLICKS_RECORD
from trainable.config import saved_data_config
from trainable.data import storage
from trainable.data.storage import is_uri

RECORD_FORMAT = "pointtune-clicks-record/1"
SIDECAR_FORMAT = "pointtune-suggest/1"
ROUND = "round"  # the column (CSV) or property (GeoJSON) that holds a click's round


def sidecar_path(clicks_file: str) -> str:
    """``FILE.json`` beside ``FILE`` (the whole name kept: ``next.csv`` -> ``next.csv.json``)."""
    return f"{clicks_file.rstrip('/')}.json"


def read_sidecar(clicks_file: str) -> dict[str, Any] | None:
    """The provenance ``suggest`` wrote beside a clicks file, or None (none there, or not one of ours)."""
    path = sidecar_path(clicks_file)
    try:
        doc = json.loads(storage.read_text(path)) if storage.exists(path) else None
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == SIDECAR_FORMAT else None


def _files_of(path: str) -> list[str]:
    """The files a clicks path consists of: itself, or a folder's files (sidecars left out), sorted."""
    if not storage.is_dir(path):
        return [path]
    files = [f for f in storage.list_files(path) if not PurePosixPath(f).name.startswith(".")]
    return [f for f in files if not (f.endswith(".json") and f[:-5] in files)]


def clicks_sha256(path: str) -> str:
    """The SHA-256 of a clicks file, or of a folder's files (each one's name and content, in name order)."""
    if not storage.is_dir(path):
        return hashlib.sha256(storage.read_bytes(path)).hexdigest()
    h = hashlib.sha256()
    for f in _files_of(path):
        h.update(PurePosixPath(f).name.encode() + b"\0" + hashlib.sha256(storage.read_bytes(f)).digest())
    return h.hexdigest()


def _round_value(v: Any) -> int:
    """A cell or property of the round column: an empty one is round 0; anything else not a count is refused."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return 0
    try:
        number = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"round {v!r} is not a number") from None
    if number < 0 or not number.is_integer():
        raise ValueError(f"round {v!r} is not a count 0, 1, 2, ...")
    return int(number)


def _csv_rounds(text: str) -> Counter[int] | None:
    reader = csv.reader(io.StringIO(text))
    header = next((row for row in reader if any(c.strip() for c in row)), None)
    names = [c.strip().lower() for c in header or []]
    if ROUND not in names:
        return None
    at = names.index(ROUND)
    return Counter(_round_value(row[at] if at < len(row) else "") for row in reader if any(c.strip() for c in row))


def _geojson_rounds(text: str) -> Counter[int] | None:
    features = json.loads(text).get("features") or []
    props = [f.get("properties") or {} for f in features if isinstance(f, dict)]
    if not any(ROUND in p for p in props):
        return None
    return Counter(_round_value(p.get(ROUND)) for p in props)


def clicks_rounds(path: str) -> Counter[int] | None:
    """Clicks per round of a clicks file (CSV or GeoJSON, or a folder of GeoJSON files) that has a round column or
    property; None when it has none (a raster folder never has)."""
    total: Counter[int] = Counter()
    found = False
    for f in _files_of(path):
        name = PurePosixPath(f).name.lower()
        if not name.endswith((".csv", ".geojson", ".json")):
            continue
        try:
            text = storage.read_bytes(f).decode("utf-8-sig")
            counts = _csv_rounds(text) if name.endswith(".csv") else _geojson_rounds(text)
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
            raise SearchError(f"the round column of clicks {f} cannot be read ({e}); a round is a count 0, 1, 2, ... "
                              "(empty: 0)") from None
        if counts is not None:
            found = True
            total.update(counts)
    return total if found else None


def file_round(path: str) -> int:
    """The round of a clicks file: its highest click round, else its sidecar's, else 0 (a first file)."""
    rounds = clicks_rounds(path)
    if rounds:
        return max(rounds)
    sidecar = read_sidecar(path)
    return int(sidecar.get("round", 0)) if sidecar else 0


def describe_clicks(path: str, data: Any | None = None) -> dict[str, Any]:
    """What a clicks file is: path, SHA-256, round, clicks per round and, given the dataset index ``data`` that read
    it (``DatasetIndex`` with ``user_clicks``), the clicks in all, per part of the split and per training image."""
    rounds = clicks_rounds(path)
    sidecar = read_sidecar(path)
    out: dict[str, Any] = {"path": path, "name": PurePosixPath(path.rstrip("/")).name, "sha256": clicks_sha256(path),
                           "round": max(rounds) if rounds else int((sidecar or {}).get("round", 0)),
                           "clicks_by_round": {str(k): v for k, v in sorted(rounds.items())} if rounds else None}
    if data is not None and getattr(data, "user_clicks", None) is not None:
        count = {e.stem: (data.user_clicks[e.stem].count if e.stem in data.user_clicks else 0)
                 for e in data.entries}
        parts = {}
        for part in ("train", "val", "test"):
            ids = list(getattr(data.split, part, ()) or ())
            parts[part] = sum(count[data.entries[i].stem] for i in ids)
        train = list(getattr(data.split, "train", ()) or ())
        out.update(clicks=sum(count.values()), clicks_by_part=parts, images_with_clicks=sum(n > 0 for n in
                                                                                             count.values()),
                   train_images=len(train), clicks_per_train_image=parts["train"] / len(train) if train else None)
    if sidecar is not None:
        out["sidecar"] = sidecar
    return out


def read_record(folder: str) -> dict[str, Any] | None:
    """A run's or search's clicks record (``clicks.json``), or None (simulated clicks, or a folder written before
    rounds were recorded)."""
    path = f"{folder.rstrip('/')}/{CLICKS_RECORD}"
    try:
        return json.loads(storage.read_text(path)) if storage.exists(path) else None
    except (OSError, ValueError):
        return None


def record_clicks(folder: str | Path, clicks: str | None, data: Any, resume: bool = False) -> dict[str, Any] | None:
    """Record in ``folder`` (a train folder or an experiment folder, path or URI) the clicks file a run trains on;
    on ``resume``, check first that it is the file the run started with. Nothing for simulated clicks.

    Raises:
        SearchError: on resume, the clicks file changed since the run started (its SHA-256 differs).
    """
    if not clicks:
        return None
    folder = str(folder) if is_uri(str(folder)) else str(Path(folder).expanduser().absolute())
    record = {"format": RECORD_FORMAT, **describe_clicks(clicks, data),
              "recorded": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    before = read_record(folder)
    if resume and before is not None and before.get("sha256") != record["sha256"]:
        raise SearchError(f"the clicks this run started from ({before.get('path')}, round {before.get('round')}, "
                          f"sha256 {str(before.get('sha256'))[:16]}...) changed since (now {record['sha256'][:16]}..."
                          f"): a resumed run would mix two rounds of clicks. Put the original file back, or train "
                          "the new clicks as a new run (another --out or --name)")
    if resume and before is not None:
        return before
    storage.write_text(f"{folder}/{CLICKS_RECORD}", json.dumps(record, indent=1) + "\n")
    return record


def folder_of_model(model: str) -> str | None:
    """The train or experiment folder a MODEL argument lives in (a folder, or a ``best.pt`` inside one)."""
    if is_uri(model):
        return model.rstrip("/") if not model.endswith((".pt", ".pth")) else None
    p = Path(model).expanduser()
    return str(p) if p.is_dir() else str(p.parent) if p.is_file() else None


def model_round(model: str, config: dict[str, Any] | None) -> tuple[int, dict[str, Any] | None]:
    """The round of the clicks a model trained on, and their record: its folder's ``clicks.json``; else the round of
    the clicks file its config names (read as it is now); else 0 (simulated clicks, or none recorded)."""
    folder = folder_of_model(model)
    record = read_record(folder) if folder else None
    if record is not None:
        try:
            return int(record.get("round", 0)), record
        except (TypeError, ValueError):
            raise SearchError(f"{folder}/{CLICKS_RECORD} holds round {record.get('round')!r}, not a count: rewrite it "
                              "or delete the file (the run then counts as round 0)") from None
    clicks = saved_data_config({"config": config or {}}).get("clicks")
    if clicks and storage.exists(clicks):
        return file_round(clicks), None
    return 0, None
