"""``pointtune report``: one self-contained HTML file of a search (or of a ``pointtune train`` folder).

The file needs no network to be read: figures are SVG in ``data:`` URIs, the table's sorting and filtering is a
few lines of inline JavaScript, and a Content-Security-Policy forbids the page to fetch anything (it allows
``data:`` images). It can be made while the search runs (running trials are marked) or after.

Three layers, so that the middle one is testable on a hand-made table without Ray, torch or pixels:

- loading: :func:`load_report_input` reads the experiment (Tune's files read as JSON by
  ``search.results.experiment``, Ray's
  ``ExperimentAnalysis`` where they are not as expected) or a ``train`` folder, the saved settings, the test score
  and the full-supervision reference; :func:`model_section` runs the best checkpoint on a few validation images
  (the data folder is in the checkpoint's config; when it cannot be reached, the report says why and goes on
  without that section);
- data: pure functions from records, tables and matrices to plain dicts and lists (``table_data``, ``curves``,
  ``scatter_panels``, ``frontier_data``, ``per_class``, ``confusion_data``, ``test_score_data``, ``summary_data``);
- drawing: SVG written in plain Python (``search.report.svg_charts``: axes, ticks, lines, markers, legends) as
  ``data:image/svg+xml;base64`` URIs, the example images as PNGs (PIL) inside their SVG, and the HTML around them.

No plotting library is used: importing matplotlib and laying out its figures took 3 of the 4 seconds of a
``--no-model`` report, which now costs little more than loading the trials. Nothing of torch or Ray is imported at
module level, nor on the ``--no-model`` path: each is imported by the function that needs it.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

MAX_VAL_IMAGES = 4  # validation images shown: image, truth, prediction
MAX_TRAIN_IMAGES = 2  # training images shown with the clicks the best trial was trained with
CONFUSION_PIXELS = 8_000_000  # validation pixels the confusion matrix covers at most (the model runs on the CPU)
VIEW = 512  # side of the window shown of a larger image (its centre)
MAX_DOTS = 4000  # clicks drawn per training image (a random subset beyond)
# as search.results.experiment.SETTINGS_FILE (not imported: it would import torch)
SETTINGS_FILE = "pointtune_settings.yaml"
TEST_SCORES_FILE = "test_scores.json"  # as search.model.evaluate.TEST_SCORES_FILE

# status -> (css mark, what the mark says)
MARKS = {"finished": ("finished", "finished"), "stopped early": ("stopped", "stopped early by the scheduler"),
         "failed": ("failed", "failed"), "diverged": ("diverged", "diverged (loss NaN or infinite)"),
         "running": ("running", "still running"), "pending": ("pending", "waiting to start"),
         "paused": ("paused", "paused"),
         "interrupted": ("paused", "interrupted: `pointtune train --resume` continues it")}
PARAMS = (("lr", "learning rate", True), ("density", "point density", True),
          ("clicks_per_object", "clicks per object", False), ("clicks_per_image", "clicks per training image", True),
          ("background_share", "background share of the clicks", False))


# ----------------------------------------------------------------------------------------------- data functions

def _plain(v: Any) -> Any:
    """A JSON-safe scalar: NaN and None -> None, numpy numbers -> Python numbers."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def status_mark(status: str) -> str:
    """The css mark of a trial's status (``failed``, ``stopped``, ``running``, ...)."""
    return MARKS.get(status, (status.replace(" ", "-"), status))[0]


def metric_label(metric: str) -> str:
    name = metric.removeprefix("val_")
    return {"f1": "F1", "miou": "mIoU", "oa": "OA", "precision": "precision", "recall": "recall"}.get(name, name)


def shown_columns(df: pd.DataFrame) -> list[str]:
    """The table's columns worth showing: not empty for every trial, and the click mode and class weights only when
    trials differ in them (as ``pointtune results`` on screen)."""
    keep = []
    for c in df.columns:
        if c in ("trial_id", "status"):
            keep.append(c)
        elif df[c].isna().all():
            continue
        elif c in ("mode", "class_weights") and df[c].nunique(dropna=False) <= 1:
            continue
        else:
            keep.append(c)
    return keep


def table_data(df: pd.DataFrame) -> dict[str, Any]:
    """The trials table (``search.results.experiment.trials_table``'s frame) as columns and rows of plain values, each
    row
    with its status mark; the frame's order (best first) is kept."""
    columns = shown_columns(df)
    rows = []
    for _, r in df.iterrows():
        rows.append({"trial_id": str(r["trial_id"]), "status": str(r["status"]), "mark": status_mark(str(r["status"])),
                     "error": _plain(r.get("error")), "cells": {c: _plain(r[c]) for c in columns}})
    return {"columns": columns, "rows": rows}


def curves(records: list[Any], metric: str = "val_f1") -> list[dict[str, Any]]:
    """Per trial, ``metric`` per epoch (trials that reported no epoch are left out)."""
    out = []
    for r in records:
        h = r.history
        if h.empty or metric not in h or "epoch" not in h:
            continue
        h = h.dropna(subset=[metric])
        if h.empty:
            continue
        out.append({"trial_id": r.trial_id, "status": r.status, "mark": status_mark(r.status),
                    "epoch": [int(e) for e in h["epoch"]], "value": [float(v) for v in h[metric]]})
    return out


def scatter_panels(df: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    """Best score against each searched setting that varies (learning rate, density or clicks, background share):
    one panel per setting, points grouped by status. Empty with fewer than two trials."""
    score = f"best_{metric}"
    if len(df) < 2 or score not in df:
        return []
    panels = []
    for param, label, log in PARAMS:
        if param not in df:
            continue
        part = df[df[param].notna() & df[score].notna()]
        if part.empty or (param != "lr" and part[param].nunique() < 2 and param != "clicks_per_image"):
            continue
        series = {}
        for status, group in part.groupby("status", sort=False):
            series[str(status)] = {"x": [float(v) for v in group[param]], "y": [float(v) for v in group[score]],
                                   "trial_id": [str(t) for t in group["trial_id"]]}
        panels.append({"param": param, "label": label, "log": log and bool((part[param] > 0).all()),
                       "series": series})
    return panels


def frontier_data(df: pd.DataFrame, metric: str, target: float = 0.95,
                  reference: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Score against clicks per image: every scored trial, the Pareto front, the fewest clicks reaching ``target``
    of the best score and the statements ``results --frontier`` prints. None when fewer than two trials have a
    score and a click count (no frontier to speak of)."""
    from search.results.experiment import frontier_statements
    from search.results.frontier import COST, pareto_front, scored, target_point

    score = f"best_{metric}"
    if score not in df or COST not in df:
        return None
    points = scored(df, score)
    if len(points) < 2:
        return None
    front = pareto_front(df, score)
    point = target_point(df, score, target)

    def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"trial_id": str(r.trial_id), "x": float(r[COST]), "y": float(r[score]), "mode": str(r["mode"])}
                for _, r in frame.iterrows()]

    return {"metric": metric, "target": target, "points": rows(points), "front": rows(front),
            "threshold": None if point is None else float(point.threshold),
            "target_trial": None if point is None or point.row is None else str(point.row.trial_id),
            "reference": None if reference is None or reference.get(metric) is None else float(reference[metric]),
            "statements": frontier_statements(df, metric, target, reference)}


def per_class(row: pd.Series | dict[str, Any] | None, prefix: str = "val") -> list[dict[str, Any]]:
    """Per-class F1, IoU, precision and recall from one epoch's metrics (``val_f1_<class>``...); a class absent
    from the truth and never predicted has None."""
    if row is None:
        return []
    row = dict(row)
    names = [k.removeprefix(f"{prefix}_f1_") for k in row if k.startswith(f"{prefix}_f1_")]
    return [{"class": n, **{m: _plain(row.get(f"{prefix}_{m}_{n}")) for m in ("f1", "iou", "precision", "recall")}}
            for n in names]


def confusion_data(matrix: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A (C, C) confusion matrix (rows truth, columns prediction) as counts, shares of each true class, and the
    per-class and macro scores it gives (by the validation rules: ``trainable.learn.metrics``)."""
    import numpy as np

    from trainable.learn.metrics import metrics_from_confusion

    cm = np.asarray(matrix, dtype=np.int64)
    totals = cm.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, cm / np.maximum(totals, 1), np.nan)
    scores = metrics_from_confusion(cm, list(names))
    return {"classes": list(names), "counts": cm.tolist(),
            "row_share": [[_plain(float(v)) for v in row] for row in share], "pixels": int(cm.sum()),
            "f1": _plain(scores["val_f1"]), "oa": _plain(scores["val_oa"]), "miou": _plain(scores["val_miou"]),
            "per_class": per_class(scores)}


def test_score_data(scores: dict[str, Any] | None, best_trial: str | None,
                    best_epoch: int | None) -> dict[str, Any] | None:
    """The search's one test score (``test_scores.json``), and whether it is of the best trial's best epoch as the
    report finds it now (a running search may have a new best since)."""
    if not scores:
        return None
    return {"trial_id": scores.get("trial_id"), "epoch": scores.get("epoch"),
            "current": scores.get("trial_id") == best_trial and scores.get("epoch") == best_epoch,
            "images": _plain(scores.get("test_images")), "scorings": _plain(scores.get("test_scorings", 1)),
            **{m: _plain(scores.get(f"test_{m}")) for m in ("f1", "miou", "oa", "precision", "recall")},
            "per_class": per_class(scores, "test")}


def summary_data(records: list[Any], df: pd.DataFrame, metric: str, planned: int | None = None,
                 best: Any | None = None) -> dict[str, Any]:
    """Trials by status, how many of those planned have ended, and the best trial with its settings."""
    from search.results.frontier import settings_of

    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    ended = sum(n for s, n in counts.items() if s in ("finished", "stopped early", "diverged", "failed"))
    out: dict[str, Any] = {"trials": len(records), "planned": planned, "ended": ended, "by_status": counts,
                           "metric": metric, "best": None}
    if best is not None and best.best_row is not None:
        row = df[df.trial_id == best.trial_id].iloc[0]
        out["best"] = {"trial_id": best.trial_id, "status": best.status, "score": float(best.best_row[metric]),
                       "epoch": int(best.best_row["epoch"]), "settings": settings_of(row),
                       "clicks_per_image": _plain(row.get("clicks_per_image")),
                       "annotation_hours": _plain(row.get("annotation_hours")),
                       "f1_vs_full": _plain(row.get("f1_vs_full")), "network": network_text(best.config)}
    return out


def network_text(config: dict[str, Any]) -> str:
    """What a run trained: ``DeepLabV3-resnet50 (imagenet weights from ...)`` or the tiny stand-in CNN."""
    model = config.get("model", {})
    backbone = model.get("backbone", "?")
    name = "the tiny stand-in CNN" if backbone == "tiny" else f"DeepLabV3-{backbone}"
    note = model.get("weights_note") or f"weights {model.get('weights', '?')}"
    return f"{name} ({note})"


# ----------------------------------------------------------------------------------------------- loading

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
    import yaml

    from search.launch.reference import load_reference
    from trainable.data import storage
    from trainable.data.storage import is_uri

    if not is_uri(path):
        path = str(Path(path).expanduser().resolve())
    from search.results.experiment import experiment_metric, is_train_folder, load_experiment, train_record

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


# ----------------------------------------------------------------------------------------------- the best model

class Gap(Exception):
    """A section the report cannot fill, and why (the report says it and goes on)."""


def _best_state(inp: ReportInput, record: Any) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint of the best trial's best epoch (the best recorded with its weights) and notes about it."""
    notes = []
    if inp.kind == "train":
        from trainable.learn.checkpoint import CheckpointError, load_checkpoint

        best = Path(inp.path) / "best.pt"
        if not best.is_file():
            raise Gap(f"{best} does not exist yet (no epoch has finished)")
        try:
            state = load_checkpoint(best)
        except CheckpointError as e:
            raise Gap(str(e)) from None
    else:
        from search.model.export import best_with_weights
        from search.results.experiment import fetch_checkpoint
        from trainable.learn.checkpoint import CheckpointError

        row = best_with_weights(record)
        if row is None:
            raise Gap(f"trial {record.trial_id} has no checkpoint recorded yet in {record.path}")
        try:
            state = fetch_checkpoint(record.path, row["checkpoint_dir_name"])
        except (CheckpointError, OSError) as e:
            raise Gap(f"the checkpoint of trial {record.trial_id} could not be read: {e}") from None
    best_epoch = int(record.best_row["epoch"])
    if int(state["epoch"]) != best_epoch:
        notes.append(f"the weights of the best epoch {best_epoch} were not recorded (the search stopped just after "
                     f"it); this section shows epoch {int(state['epoch'])}, the best one whose weights were")
    return state, notes


def _stems(state: dict[str, Any], role: str) -> list[str]:
    """The images of a split part a checkpoint (``ROLE_stems``) or a model file (``split``) records."""
    return list(state.get(f"{role}_stems") or state.get("split", {}).get(role) or [])


def _centre_window(h: int, w: int, tile: int) -> tuple[int, int, int, int]:
    side_h, side_w = min(h, max(VIEW, tile)), min(w, max(VIEW, tile))
    return (h - side_h) // 2, (w - side_w) // 2, side_h, side_w


def _dataset_files(state: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """The best trial's config, its classes and the files of its data folder by stem; raises Gap when the data
    cannot be reached from here."""
    from trainable.config import ConfigError, TrialConfig
    from trainable.data.classes import ClassDescription
    from trainable.data.index import DatasetError, check_roots, list_dataset_files

    cfg = TrialConfig.from_dict(state["config"])
    try:
        check_roots(cfg.data)
        classes = ClassDescription.from_dict(state["classes"])
        files, _, _ = list_dataset_files(cfg.data, classes)
    except (DatasetError, ConfigError, OSError, ValueError) as e:
        raise Gap(f"the data folder of the best trial is not reachable from here: {e}") from None
    return cfg, classes, {f.stem: f for f in files}


def confusion_stems(val_stems: list[str], pixels_of: Any, budget: int) -> list[str]:
    """Validation images in the split's order up to ``budget`` pixels (at least one); ``pixels_of(stem)``."""
    stems, total = [], 0
    for stem in val_stems:
        size = pixels_of(stem)
        if stems and total + size > budget:
            break
        stems.append(stem)
        total += size
    return stems


def _subset_index(cfg: Any, classes: Any, by_stem: dict[str, Any], val_stems: list[str],
                  train_stems: list[str]) -> Any:
    """A dataset index of just the images the section needs, checked like any (sizes, masks); raises Gap when
    some are missing or unreadable."""
    from trainable.data.index import DatasetIndex, IndexEntry, check_files
    from trainable.data.node_cache import NodeCache
    from trainable.data.split import Split

    wanted = list(dict.fromkeys([*val_stems, *train_stems]))
    missing = [s for s in wanted if s not in by_stem]
    if missing:
        raise Gap(f"{cfg.data.root} lacks {len(missing)} image(s) the best trial used ({', '.join(missing[:5])}): "
                  "make the report where the search's data is")
    chosen = [by_stem[s] for s in wanted]
    records, problems = check_files(cfg.data.root, chosen, classes, cfg.data, warm=NodeCache())
    if problems:
        raise Gap(f"the images of the best trial could not be read: {'; '.join(problems[:3])}")
    entries = [IndexEntry(f, classes.group_of(f.stem), r) for f, r in zip(chosen, records, strict=True)]
    where = {s: i for i, s in enumerate(wanted)}
    split = Split(tuple(where[s] for s in train_stems), tuple(where[s] for s in val_stems))
    return DatasetIndex(cfg.data.root, classes, entries, split, cfg.data.resize, tuple(cfg.data.bands))


def display_rgb(image: Any) -> Any:
    """(H, W, B) pixels of any type -> (H, W, 3) uint8 for display: the first three bands (one band: grey),
    8-bit as is, other types stretched between their 2nd and 98th percentiles per band."""
    import numpy as np

    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    a = a[..., :3] if a.shape[2] >= 3 else np.repeat(a[..., :1], 3, axis=2)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    lo = np.nanpercentile(a, 2, axis=(0, 1))
    hi = np.nanpercentile(a, 98, axis=(0, 1))
    return (np.clip((a - lo) / np.maximum(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)


IGNORED_COLOUR = (0, 0, 0)


def colour_mask(mask: Any, palette: Any) -> Any:
    """Class indices -> RGB with the classes' colours; ignored pixels black."""
    import numpy as np

    out = np.full((*mask.shape, 3), IGNORED_COLOUR, np.uint8)
    valid = mask < len(palette)
    out[valid] = np.asarray(palette, np.uint8)[mask[valid]]
    return out


def model_section(inp: ReportInput, record: Any, device: str = "auto", max_val: int = MAX_VAL_IMAGES,
                  max_train: int = MAX_TRAIN_IMAGES, confusion_pixels: int = CONFUSION_PIXELS) -> dict[str, Any]:
    """Run the best trial's best checkpoint on validation images: the confusion matrix (over up to
    ``confusion_pixels`` of validation pixels), ``max_val`` validation images with truth and prediction, and
    ``max_train`` training images with the clicks the trial was trained with.

    Raises:
        Gap: no checkpoint yet, or the data folder is not reachable (the reason says which).
    """
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from search.model.export import export_payload
    from search.model.predict import model_from_payload, normalizer_of_export, predict_array
    from trainable.config import IGNORE_INDEX
    from trainable.data.node_cache import NodeCache
    from trainable.data.rasters import raster_info
    from trainable.data.tiles import GridTiles
    from trainable.inputs import image_sources, mask_sources, sizes
    from trainable.labels.clicks import ClickSource
    from trainable.learn.loop import evaluate
    from trainable.trial import pick_device

    state, notes = _best_state(inp, record)
    # a train folder's best.pt is a model file already; a search's checkpoint becomes one
    payload = state if "format" in state else export_payload(state, record.metric, record.trial_id, inp.path)
    val_all = _stems(state, "val")
    if not val_all:
        raise Gap("the best checkpoint records no validation images")
    cfg, classes, by_stem = _dataset_files(state)
    missing = [s for s in val_all if s not in by_stem]
    if missing:
        raise Gap(f"{cfg.data.root} lacks {len(missing)} validation image(s) of the best trial "
                  f"({', '.join(missing[:5])}): make the report where the search's data is")

    def pixels_of(stem: str) -> int:
        info = raster_info(by_stem[stem].image)
        return int(info.height * info.width * cfg.data.resize**2)

    cm_stems = confusion_stems(val_all, pixels_of, confusion_pixels)
    shown_val = val_all[:max_val]
    train_stems = _stems(state, "train")[:max_train]
    index = _subset_index(cfg, classes, by_stem, list(dict.fromkeys([*cm_stems, *shown_val])), train_stems)
    dev = pick_device(device)
    model = model_from_payload(payload).to(dev)
    normalizer = normalizer_of_export(payload)
    tile = int(payload["tile_size"])
    where = {e.stem: i for i, e in enumerate(index.entries)}
    cache = NodeCache()
    cm_ids = [where[s] for s in cm_stems]
    with torch.no_grad():
        tiles = GridTiles(image_sources(index, cm_ids, cache), mask_sources(index, cm_ids, cache),
                          sizes(index, cm_ids), normalizer, tile)
        result = evaluate(model, DataLoader(tiles, batch_size=8), dev, classes.num_classes)
    confusion = confusion_data(result.confusion.matrix.cpu().numpy(), list(classes.names))
    confusion["images"], confusion["of_images"] = len(cm_ids), len(val_all)

    palette = [list(c) for c in payload["class_colours"]]

    def example(i: int, clicks: Any | None = None) -> dict[str, Any]:
        e = index.entries[i]
        y, x, h, w = _centre_window(e.record.height, e.record.width, tile)
        pixels = image_sources(index, [i], cache)[0].read(y, x, h, w)
        truth = np.asarray(mask_sources(index, [i], cache)[0].read(y, x, h, w))
        pred = predict_array(model, pixels, tile, classes.num_classes, dev, normalizer=normalizer)
        valid = truth != IGNORE_INDEX
        out = {"stem": e.stem, "window": [y, x, h, w], "size": [e.record.height, e.record.width],
               "image": display_rgb(pixels), "truth": truth, "prediction": pred,
               "accuracy": float((pred[valid] == truth[valid]).mean()) if valid.any() else None}
        if clicks is not None:
            labels = clicks.window(y, x, h, w)
            out["dense"] = clicks.dense is not None
            out["clicks_total"] = int(clicks.count)
            ys, xs = np.nonzero(labels != IGNORE_INDEX)
            out["clicks"] = (ys, xs, labels[ys, xs])
        return out

    val_examples = [example(where[s]) for s in shown_val]
    source = ClickSource(index, cfg, list(index.split.train), cache)
    train_examples = [example(i, source.points(k)) for k, i in enumerate(index.split.train)]
    return {"epoch": int(state["epoch"]), "notes": notes, "confusion": confusion, "palette": palette,
            "class_names": list(classes.names), "val_examples": val_examples, "train_examples": train_examples,
            "device": str(dev), "data_root": index.root}


# ----------------------------------------------------------------------------------------------- figures
# SVG drawn in plain Python (search.report.svg_charts), each an <img> of a data: URI; the example images are PNGs (PIL)
# inside their SVG.

# status -> (colour, marker) in the settings scatter; the colours of the table's marks
STATUS_MARKERS = {"finished": ("#15803d", "circle"), "stopped early": ("#c2710c", "square"),
                  "running": ("#1d4ed8", "triangle"), "diverged": ("#7e22ce", "x"), "failed": ("#b91c1c", "diamond"),
                  "paused": ("#6b7280", "circle"), "pending": ("#6b7280", "circle")}
STATUS_DASH = {"stopped": "dashed", "failed": "dotted", "diverged": "dotted", "paused": "dashdot"}
BEST_COLOUR = "#111111"  # the best trial's curve
STAR = "#dc143c"  # crimson: the best trial, the fewest clicks reaching the target


def draw_curves(data: list[dict[str, Any]], metric: str, best: str | None) -> str:
    """Validation ``metric`` per epoch, one line per trial (dashed: stopped early, dotted: failed or diverged, a
    cross where those ended), the best trial thick and black; a legend of up to 12 trials (else of the best)."""
    from search.report import svg_charts as sc

    label = metric_label(metric)
    colours, keys = {}, []
    for k, c in enumerate(data):
        is_best = c["trial_id"] == best
        colours[c["trial_id"]] = BEST_COLOUR if is_best else sc.SERIES[k % len(sc.SERIES)]
        if len(data) <= 12 or is_best:
            keys.append(sc.Key(f"{c['trial_id']} ({c['status']})" + (" best" if is_best else ""),
                               colours[c["trial_id"]], STATUS_DASH.get(c["mark"], "solid"), 2.6 if is_best else 1.3,
                               "circle", 5))
    xlim = sc.limits([e for c in data for e in c["epoch"]])
    ylim = sc.limits([v for c in data for v in c["value"]])
    legend_w = sc.legend_size(keys, 9)[0] + 18 if keys else 10
    width, height, top, bottom = 720, 420, 36, 50
    left = sc.left_margin(ylim) + 8
    fig = sc.Figure(width, height)
    fig.title(f"Validation {label} per epoch, every trial (dashed: stopped early, dotted: failed or diverged)"
              if len(data) > 1 else f"Validation {label} per epoch", 12)
    ax = sc.Axes(fig, (left, top, width - left - legend_w, height - top - bottom), xlim, ylim)
    ax.frame("epoch", f"validation {label}", xinteger=True)
    for c in sorted(data, key=lambda c: c["trial_id"] == best):  # the best on top
        is_best = c["trial_id"] == best
        colour = colours[c["trial_id"]]
        ax.line(c["epoch"], c["value"], colour, 2.6 if is_best else 1.3, STATUS_DASH.get(c["mark"], "solid"),
                1 if is_best else 0.8)
        ax.markers(c["epoch"], c["value"], "circle", colour, 6 if is_best else 4.5)
        if c["mark"] in ("failed", "diverged"):
            ax.markers(c["epoch"][-1:], c["value"][-1:], "x", STAR, 11)
    if keys:
        fig.add(sc.legend(keys, width - legend_w + 8, top, 9))
    return fig.uri()


def draw_scatter(panels: list[dict[str, Any]], metric: str, best: str | None) -> str:
    """Best score against each searched setting, one panel per setting, a marker and colour per status, a star on
    the best trial; log axes where the setting is searched on one."""
    from search.report import svg_charts as sc

    label = metric_label(metric)
    side, top, bottom = 340, 38, 50
    fig = sc.Figure(side * len(panels) + 10, top + side - 30 + bottom)
    fig.title(f"Best {label} of each trial against its settings (star: the best trial)", 12)
    statuses: list[str] = []
    first = None
    for i, panel in enumerate(panels):
        series = panel["series"].values()
        xlim = sc.limits([x for s in series for x in s["x"]], panel["log"])
        ylim = sc.limits([y for s in series for y in s["y"]])
        left = sc.left_margin(ylim) + 6
        ax = sc.Axes(fig, (i * side + left, top, side - left - 8, side - 30), xlim, ylim, xlog=panel["log"])
        ax.frame(panel["label"], f"best validation {label}")
        stars = []
        for status, s in panel["series"].items():
            colour, shape = STATUS_MARKERS.get(status, ("#6b7280", "circle"))
            ax.markers(s["x"], s["y"], shape, colour, 9, opacity=0.85)
            stars += [(x, y) for x, y, t in zip(s["x"], s["y"], s["trial_id"], strict=True) if t == best]
            if status not in statuses:
                statuses.append(status)
        if stars:
            ax.markers([x for x, _ in stars], [y for _, y in stars], "star", STAR, 19, edge="#7a0a20")
        first = first or ax
    keys = [sc.Key(s, STATUS_MARKERS.get(s, ("#6b7280", "circle"))[0], marker=STATUS_MARKERS.get(s, ("", "circle"))[1])
            for s in statuses]
    if best is not None:
        keys.append(sc.Key("the best trial", STAR, marker="star", size=13, edge="#7a0a20"))
    if first is not None:
        first.legend(keys)
    return fig.uri()


def draw_frontier(data: dict[str, Any]) -> str:
    """Score against clicks per image: every trial, the Pareto front as a step line, the target line, the trial
    with the fewest clicks reaching it (a star) and the full-supervision reference."""
    from search.report import svg_charts as sc

    points, front = data["points"], data["front"]
    log = all(p["x"] > 0 for p in points)
    xlim = sc.limits([p["x"] for p in points], log)
    lines = [v for v in (data["threshold"], data["reference"]) if v is not None]
    ylim = sc.limits([p["y"] for p in points] + lines)
    width, height, top, bottom = 700, 420, 36, 50
    left = sc.left_margin(ylim) + 8
    fig = sc.Figure(width, height)
    fig.title("Annotation budget: score against clicks per image", 12)
    ax = sc.Axes(fig, (left, top, width - left - 16, height - top - bottom), xlim, ylim, xlog=log)
    ax.frame("clicks per training image", f"best validation {metric_label(data['metric'])}")
    keys = []
    for k, mode in enumerate(sorted({p["mode"] for p in points})):
        pts = [p for p in points if p["mode"] == mode]
        colour = sc.SERIES[k % len(sc.SERIES)]
        ax.markers([p["x"] for p in pts], [p["y"] for p in pts], "circle", colour, 9, opacity=0.65)
        keys.append(sc.Key(f"trials ({mode.replace('_', ' ')})", colour, marker="circle", size=8))
    if data["threshold"] is not None:
        ax.hline(data["threshold"], "#777777", 1.0, "dashed")
    if data["reference"] is not None:
        ax.hline(data["reference"], "#2ca02c", 1.5, "dotted")
    ax.step([p["x"] for p in front], [p["y"] for p in front], "#000000", 1.3)
    ax.markers([p["x"] for p in front], [p["y"] for p in front], "circle", "#000000", 11, edge="#000000",
               fill="none")
    keys.append(sc.Key("Pareto front", "#000000", "solid", 1.3, "circle", 10, fill="none", edge="#000000"))
    if data["threshold"] is not None:
        keys.append(sc.Key(f"{data['target']:.0%} of the best", "#777777", "dashed", 1.0))
    if data["target_trial"] is not None:
        p = next(p for p in points if p["trial_id"] == data["target_trial"])
        ax.markers([p["x"]], [p["y"]], "star", STAR, 20, edge="#7a0a20")
        keys.append(sc.Key(f"fewest clicks reaching it: {p['x']:.3g}/image", STAR, marker="star", size=13,
                           edge="#7a0a20"))
    if data["reference"] is not None:
        keys.append(sc.Key("full supervision", "#2ca02c", "dotted", 1.5))
    ax.legend(keys)
    return fig.uri()


def draw_per_class(rows: list[dict[str, Any]], title: str) -> str:
    """Horizontal bars of per-class F1 on [0, 1], the value at each bar's end (classes without an F1 left out)."""
    from search.report import svg_charts as sc

    shown = [r for r in rows if r["f1"] is not None]
    row_h, plot_w, top = 26, 420, 36
    left = max((sc.text_width(r["class"], 11) for r in shown), default=0) + 16
    fig = sc.Figure(left + plot_w + 24, top + max(len(shown), 1) * row_h + 8 + 46)
    fig.title(title, 12)
    ax = sc.Axes(fig, (left, top, plot_w, max(len(shown), 1) * row_h + 8), (0.0, 1.0), (0.0, 1.0))
    ax.frame("F1", "", ygrid=False, yticks=False)
    for i, r in enumerate(shown):
        y, v = top + 4 + i * row_h, float(r["f1"])
        x1 = ax.x(min(max(v, 0.0), 1.0))
        fig.add(f'<rect x="{ax.left:.1f}" y="{y + 3:.1f}" width="{x1 - ax.left:.1f}" height="{row_h - 6}" '
                f'fill="{sc.SERIES[0]}"/>',
                sc.text(left - 8, y + row_h / 2, r["class"], 11, "end", baseline="central"))
        inside = v > 0.85  # the value inside the bar's end, where it would leave the axes
        fig.add(sc.text(x1 - 5 if inside else x1 + 5, y + row_h / 2, f"{v:.3f}", 10, "end" if inside else "start",
                        "#ffffff" if inside else sc.INK, baseline="central"))
    if not shown:
        fig.add(sc.text(left + plot_w / 2, top + row_h / 2 + 4, "no class has an F1", 11, "middle",
                        baseline="central"))
    return fig.uri()


def draw_confusion(data: dict[str, Any]) -> str:
    """The confusion matrix as cells coloured by the share of each true class's pixels (a row with no truth in
    grey), the shares written in the cells up to 15 classes, and a colour bar."""
    from search.report import svg_charts as sc

    names, share, counts = data["classes"], data["row_share"], data["counts"]
    n = len(names)
    cell = min(max(380 / max(n, 1), 22), 46)
    size = 10
    widest = max((sc.text_width(s, size) for s in names), default=0)
    left, top = 18 + 8 + widest + 6, 40
    plot = n * cell
    bottom = widest * 0.71 + 14 + 30
    bar_x = left + plot + 18
    fig = sc.Figure(bar_x + 14 + 34 + 24, top + plot + bottom)
    fig.title("Confusion matrix (rows: truth)", 12)
    gradient = fig.new_id("blues")
    stops = "".join(f'<stop offset="{k / (len(sc.BLUES) - 1):.3f}" stop-color="{c}"/>'
                    for k, c in enumerate(reversed(sc.BLUES)))
    fig.defs.append(f'<linearGradient id="{gradient}" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient>')
    out = []
    digits = min(11.0, cell * 0.34)
    for i in range(n):
        for j in range(n):
            v = share[i][j]
            x, y = left + j * cell, top + i * cell
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                       f'fill="{"#eceef1" if v is None else sc.blues(v)}"/>')
            if n <= 15 and v is not None and counts[i][j]:
                out.append(sc.text(x + cell / 2, y + cell / 2, f"{v:.2f}", digits, "middle",
                                   "#ffffff" if v > 0.6 else sc.INK, baseline="central"))
    out.append(f'<rect x="{left:.1f}" y="{top}" width="{plot:.1f}" height="{plot:.1f}" fill="none" '
               f'stroke="#8a93a3"/>')
    for k, name in enumerate(names):
        c = k * cell + cell / 2
        out.append(sc.text(left - 6, top + c, name, size, "end", baseline="central"))
        out.append(sc.text(left + c + 3, top + plot + 8, name, size, "end", rotate=-45, baseline="central"))
    out.append(sc.text(10, top + plot / 2, "true", size + 1, "middle", rotate=-90, baseline="central"))
    out.append(sc.text(left + plot / 2, top + plot + bottom - 10, "predicted", size + 1, "middle"))
    out.append(f'<rect x="{bar_x:.1f}" y="{top}" width="14" height="{plot:.1f}" fill="url(#{gradient})" '
               f'stroke="#8a93a3"/>')
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = top + plot * (1 - t)
        out.append(f'<path d="M{bar_x + 14:.1f},{y:.1f}h4" stroke="#8a93a3"/>')
        out.append(sc.text(bar_x + 21, y, f"{t:.1f}", size - 1, baseline="central"))
    out.append(sc.text(bar_x + 56, top + plot / 2, "share of the true class's pixels", size, "middle",
                       rotate=-90, baseline="central"))
    fig.add(*out)
    return fig.uri()


def _png_uri(rgb: Any, width: int | None = None) -> str:
    """(H, W, 3) uint8 pixels as a ``data:image/png;base64,...`` URI (PIL); ``width``: shrunk to it (area
    average) where wider."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if width is not None and image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.BOX)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def draw_example(ex: dict[str, Any], palette: list[list[int]], names: list[str], train: bool) -> str:
    """An image, (training) the clicks it was trained with, its truth and the prediction side by side, with a
    legend of the classes shown: an SVG holding each panel as a PNG, the clicks as dots."""
    import numpy as np

    from search.report import svg_charts as sc

    panels = [("image", ex["image"])]
    if train:
        panels.append(("clicks it was trained with", ex["image"]))
    panels += [("truth", colour_mask(ex["truth"], palette)), ("prediction", colour_mask(ex["prediction"], palette))]
    h, w = ex["truth"].shape
    side, gap, margin, top = 230, 10, 10, 48
    scale = side / max(w, 1)
    ph = h * scale
    y0, x0, wh, ww = ex["window"]
    where = ("" if [wh, ww] == ex["size"]
             else f" (window {ww}x{wh} at x={x0}, y={y0} of {ex['size'][1]}x{ex['size'][0]})")
    acc = "" if ex["accuracy"] is None else f": pixel accuracy {ex['accuracy']:.3f}"
    title = f"{'training' if train else 'validation'} image {ex['stem']}{where}{acc}"
    width = max(len(panels) * (side + gap) - gap + 2 * margin, sc.text_width(title, 12) + 2 * margin)

    present = sorted({int(v) for v in np.unique(ex["truth"]) if v < len(names)}
                     | {int(v) for v in np.unique(ex["prediction"]) if v < len(names)})
    entries = [(palette[i], names[i]) for i in present]
    if (ex["truth"] >= len(names)).any():
        entries.append((list(IGNORED_COLOUR), "ignored (not scored)"))
    legend, x, row = [], margin, 0
    for colour, name in entries:
        item = 12 + 5 + sc.text_width(name, 10) + 16
        if x > margin and x + item > width - margin:
            x, row = margin, row + 1
        y = top + ph + 14 + row * 18
        legend.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="rgb({colour[0]},{colour[1]},'
                      f'{colour[2]})" stroke="#8a93a3" stroke-width="0.5"/>' + sc.text(x + 17, y + 6, name, 10,
                                                                                      baseline="central"))
        x += item
    fig = sc.Figure(width, top + ph + 14 + (row + 1) * 18 + 6)
    fig.title(title, 12)
    left0 = (width - (len(panels) * (side + gap) - gap)) / 2
    # the photo at up to 1.5 times the panel's width (it is shown at 1), once (a training image shows it twice);
    # the masks at their own size, crisp (they compress to little)
    photo = fig.new_id("photo")
    fig.defs.append(f'<image id="{photo}" width="{side}" height="{ph:.1f}" preserveAspectRatio="none" '
                    + ("" if w > side else 'style="image-rendering:pixelated" ')
                    + f'href="{_png_uri(ex["image"], round(1.5 * side))}"/>')
    for k, (name, img) in enumerate(panels):
        px = left0 + k * (side + gap)
        if name.startswith("clicks"):
            if ex["dense"]:
                name = "trained on every pixel (density 1)"
            else:
                drawn = len(ex["clicks"][0])
                name = (f"{drawn} click(s) here of {ex['clicks_total']}"
                        + ("" if drawn <= MAX_DOTS else f", {MAX_DOTS} drawn"))
        fig.add(sc.text(px + side / 2, top - 8, name, min(10.5, 0.97 * side / sc.text_width(name, 1)), "middle"),
                f'<use href="#{photo}" x="{px:.1f}" y="{top}"/>' if img is ex["image"] else
                f'<image x="{px:.1f}" y="{top}" width="{side}" height="{ph:.1f}" preserveAspectRatio="none" '
                f'style="image-rendering:pixelated" href="{_png_uri(img)}"/>',
                f'<rect x="{px:.1f}" y="{top}" width="{side}" height="{ph:.1f}" fill="none" stroke="#8a93a3"/>')
        if train and k == 1:
            fig.add(f'<rect x="{px:.1f}" y="{top}" width="{side}" height="{ph:.1f}" fill="#fff" fill-opacity="0.45"/>')
            if not ex["dense"]:
                ys, xs, labels = ex["clicks"]
                if len(ys) > MAX_DOTS:
                    keep = np.random.default_rng(0).choice(len(ys), MAX_DOTS, replace=False)
                    ys, xs, labels = ys[keep], xs[keep], labels[keep]
                r = 2.6
                for c in sorted({int(v) for v in labels}):
                    pick = labels == c
                    colour = palette[c] if c < len(palette) else list(IGNORED_COLOUR)
                    d = "".join(f"M{px + (xx + 0.5) * scale - r:.1f},{top + (yy + 0.5) * scale:.1f}"
                                f"a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0"
                                for yy, xx in zip(ys[pick].tolist(), xs[pick].tolist(), strict=True))
                    fig.add(f'<path d="{d}" fill="rgb({colour[0]},{colour[1]},{colour[2]})" stroke="#000" '
                            'stroke-width="0.4"/>')
    fig.add(*legend)
    return fig.uri()


# ----------------------------------------------------------------------------------------------- HTML

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header .sub{color:#b8c0d0;font-size:12px;word-break:break-all}
nav{padding:6px 24px;background:#e9ecf1;font-size:13px}nav a{margin-right:14px;color:#1d4ed8}
main{padding:8px 24px 40px;max-width:1500px}section{background:#fff;border:1px solid #dde1e8;border-radius:6px;
padding:10px 16px;margin:14px 0}h2{font-size:16px;margin:4px 0 10px}
.note{color:#6b7280;font-size:12px}.gap{background:#fff7e6;border-left:4px solid #f0a020;padding:6px 10px}
.kv{display:flex;flex-wrap:wrap;gap:8px 26px}.kv div b{display:block;font-size:18px}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th{background:#f0f2f5;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.t,th.t{text-align:left}tr.best td{font-weight:600}
.mark{display:inline-block;border-radius:9px;padding:0 7px;font-size:11.5px;color:#fff;background:#6b7280}
.mark.finished{background:#15803d}.mark.stopped{background:#c2710c}.mark.failed{background:#b91c1c}
.mark.diverged{background:#7e22ce}.mark.running{background:#1d4ed8}
tr.failed td,tr.diverged td{background:#fdf2f2}tr.stopped td{background:#fff8ed}tr.running td{background:#eff5ff}
td.err{max-width:420px;overflow:hidden;text-overflow:ellipsis;text-align:left;color:#991b1b}
.tablewrap{max-height:560px;overflow:auto;border:1px solid #e5e7eb}
.controls{margin:0 0 8px}.controls input,.controls select{font:inherit;padding:2px 6px;margin-right:10px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}.pair section{min-width:0}
img.fig{max-width:100%;height:auto;display:block;margin:6px 0}.row{display:flex;flex-wrap:wrap;gap:16px}
"""

JS = """
(function () {
  var table = document.getElementById('trials');
  if (!table) return;
  var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
  function key(td) {
    var v = td.getAttribute('data-v');
    if (v === null || v === '') return null;
    return td.getAttribute('data-n') !== null ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i], asc = th.getAttribute('aria-sort') !== 'ascending';
    for (var k = 0; k < heads.length; k++) heads[k].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[i]), y = key(b.cells[i]);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    (function (i) {
      heads[i].addEventListener('click', function () { sortBy(i); });
      heads[i].addEventListener('keydown', function (e) { if (e.key === 'Enter') sortBy(i); });
    })(i);
  }
  var text = document.getElementById('filter'), status = document.getElementById('status-filter'),
      count = document.getElementById('shown');
  function filter() {
    var q = text.value.trim().toLowerCase(), s = status.value, shown = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var ok = (!s || r.getAttribute('data-status') === s) && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) shown++;
    });
    count.textContent = shown + ' of ' + body.rows.length + ' trial(s) shown';
  }
  text.addEventListener('input', filter);
  status.addEventListener('change', filter);
  filter();
})();
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def fmt(v: Any) -> str:
    """A table cell's text: 4 significant digits for floats, empty for missing values."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table_html(data: dict[str, Any], best: str | None) -> str:
    cols = data["columns"]
    text_cols = {"trial_id", "status", "mode", "error"}
    head = "".join(f'<th tabindex="0" class="{"t" if c in text_cols else ""}" title="sort by {_esc(c)}">'
                   f"{_esc(c)}</th>" for c in cols)
    rows = []
    for r in data["rows"]:
        cells = []
        for c in cols:
            v = r["cells"][c]
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            attrs = f' data-v="{_esc(repr(v) if numeric else fmt(v))}"' + (" data-n" if numeric else "")
            if c == "status":
                what = MARKS.get(r["status"], (r["mark"], r["status"]))[1]
                tip = f"{what}: {r['error']}" if r["error"] else what
                cells.append(f'<td class="t"{attrs}><span class="mark {_esc(r["mark"])}" title="{_esc(tip)}">'
                             f"{_esc(r['status'])}</span></td>")
            elif c == "error":
                cells.append(f'<td class="err"{attrs} title="{_esc(fmt(v))}">{_esc(fmt(v))}</td>')
            else:
                cells.append(f'<td class="{"t" if c in text_cols else ""}"{attrs}>{_esc(fmt(v))}</td>')
        cls = f"{r['mark']}{' best' if r['trial_id'] == best else ''}"
        rows.append(f'<tr class="{_esc(cls)}" data-status="{_esc(r["status"])}">{"".join(cells)}</tr>')
    statuses = sorted({r["status"] for r in data["rows"]})
    options = "".join(f'<option value="{_esc(s)}">{_esc(s)}</option>' for s in statuses)
    return (f'<div class="controls"><input id="filter" type="search" placeholder="filter: any text of a row">'
            f'<select id="status-filter"><option value="">every status</option>{options}</select>'
            f'<span id="shown" class="note"></span></div>'
            f'<div class="tablewrap"><table id="trials"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="note">Click a column header to sort (again to reverse). Sorted at first by the best score. '
            "Marks: finished, stopped early (a scheduler stopped it), failed (hover for the error), diverged, "
            "running.</p>")


def _img(uri: str, alt: str) -> str:
    return f'<img class="fig" src="{uri}" alt="{_esc(alt)}">'


def _gap(text: str) -> str:
    return f'<p class="gap">{_esc(text)}</p>'


def _num(v: Any, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _per_class_table(rows: list[dict[str, Any]]) -> str:
    body = "".join(f'<tr><td class="t">{_esc(r["class"])}</td>'
                   + "".join(f"<td>{_num(r[m])}</td>" for m in ("f1", "iou", "precision", "recall")) + "</tr>"
                   for r in rows)
    return ('<table><thead><tr><th class="t">class</th><th>F1</th><th>IoU</th><th>precision</th><th>recall</th>'
            f"</tr></thead><tbody>{body}</tbody></table>")


def summary_html(inp: ReportInput, summary: dict[str, Any], test: dict[str, Any] | None) -> str:
    metric = summary["metric"]
    parts = []
    planned = summary["planned"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["by_status"].items()))
    progress = (f"{summary['ended']} of {planned} trial(s) ended" if planned else f"{summary['trials']} trial(s)")
    parts.append(f"<p>{_esc(progress)} ({_esc(counts or 'none yet')}).</p>")
    best = summary["best"]
    if best is None:
        parts.append(_gap("No trial has finished an epoch yet (failed and diverged trials left out): nothing to "
                          "rank. Make the report again later."))
    else:
        kv = [("best trial", best["trial_id"]), (f"best validation {metric_label(metric)}", f"{best['score']:.4f}"),
              ("at epoch", best["epoch"]), ("status", best["status"]), ("network", best["network"])]
        if best["clicks_per_image"] is not None:
            kv.append(("clicks per image", f"{best['clicks_per_image']:.4g}"))
        if best["annotation_hours"] is not None:
            kv.append(("annotation hours", f"{best['annotation_hours']:.3g}"))
        if best["f1_vs_full"] is not None:
            kv.append(("F1 vs full supervision", f"{best['f1_vs_full']:.3f}x"))
        parts.append('<div class="kv">' + "".join(f"<div>{_esc(k)}<b>{_esc(v)}</b></div>" for k, v in kv) + "</div>")
        parts.append(f"<p>Settings: {_esc(best['settings'])}.</p>")
    if test is not None:
        search = inp.kind == "search"
        which = (("the best trial's best epoch" if search else "the run's best epoch") if test["current"] else
                 f"trial {test['trial_id']} epoch {test['epoch']}, the best when the search scored it (the best "
                 "trial has changed since)" if search else
                 f"epoch {test['epoch']}, the best when the run scored it (it has a new best epoch since)")
        times = "" if (test["scorings"] or 1) == 1 else f"; the test split has scored {test['scorings']} picks"
        among = "among many trials" if search else "among the run's epochs"
        parts.append(f"<p><b>Test score</b> of {_esc(which)}, on {_esc(test['images'])} held-out image(s), scored "
                     f"once{_esc(times)}: F1 <b>{_num(test['f1'])}</b>, mIoU {_num(test['miou'])}, "
                     f"OA {_num(test['oa'])}, precision {_num(test['precision'])}, recall {_num(test['recall'])}. "
                     f"The validation score picked this model {among}, so it is biased upwards; the test "
                     "score is not.</p>")
    elif inp.kind == "search":
        parts.append('<p class="note">No test score: the search makes one when it has finished, if its split has '
                     "a test part.</p>")
    else:
        parts.append('<p class="note">No test score: <code>pointtune train</code> makes one when it has finished, '
                     "if its split has a test part (score the model on other data with "
                     "<code>pointtune evaluate</code>).</p>")
    if inp.reference is not None:
        parts.append(f"<p>Full-supervision reference (dense masks, the best trial's settings, trial "
                     f"{_esc(inp.reference.get('source_trial'))}): validation F1 "
                     f"{_num(inp.reference.get('val_f1'))}.</p>")
    parts += [f'<p class="note">{_esc(n)}</p>' for n in inp.notes]
    return "".join(parts)


def model_html(section: dict[str, Any] | None, gap: str | None, history_classes: list[dict[str, Any]],
               best: Any | None) -> str:
    parts = []
    if best is not None and history_classes:
        parts.append(f"<h3>Per-class validation scores of trial {_esc(best.trial_id)} at epoch "
                     f"{int(best.best_row['epoch'])}</h3><p class='note'>As the trial reported them, over the whole "
                     "validation split.</p>")
        parts.append('<div class="row"><div>' + _per_class_table(history_classes) + "</div><div>"
                     + _img(draw_per_class(history_classes, "Per-class validation F1 of the best trial"),
                            "per-class F1 bars") + "</div></div>")
    if section is None:
        parts.append(_gap(f"No confusion matrix and no images: {gap}"))
        return "".join(parts)
    parts += [f'<p class="note">{_esc(n)}</p>' for n in section["notes"]]
    cm = section["confusion"]
    cover = ("every validation image" if cm["images"] == cm["of_images"]
             else f"the first {cm['images']} of {cm['of_images']} validation images")
    parts.append(f"<h3>Confusion matrix of the best checkpoint (epoch {section['epoch']})</h3>"
                 f"<p class='note'>Over {_esc(cover)} ({cm['pixels']:,} labelled pixels, each once), computed here "
                 f"on {_esc(section['device'])} from {_esc(section['data_root'])}: macro F1 {_num(cm['f1'])}, "
                 f"OA {_num(cm['oa'])}, mIoU {_num(cm['miou'])}.</p>")
    parts.append(_img(draw_confusion(cm), "confusion matrix"))
    palette, names = section["palette"], section["class_names"]
    if section["val_examples"]:
        parts.append("<h3>Validation images: image, truth, prediction</h3><div class='row'>")
        parts += [_img(draw_example(ex, palette, names, train=False), f"validation image {ex['stem']}")
                  for ex in section["val_examples"]]
        parts.append("</div>")
    if section["train_examples"]:
        parts.append("<h3>Training images and the clicks the best trial was trained with</h3><div class='row'>")
        parts += [_img(draw_example(ex, palette, names, train=True), f"training image {ex['stem']}")
                  for ex in section["train_examples"]]
        parts.append("</div>")
    return "".join(parts)


def _clean(obj: Any) -> Any:
    """Plain JSON: NaN and infinities as null, numpy scalars as numbers, arrays left out."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "shape") and getattr(obj, "ndim", 0) > 0:
        return None
    return _plain(obj)


def _json_script(data: Any) -> str:
    text = json.dumps(_clean(data), allow_nan=False)
    return text.replace("</", "<\\/")


def build_report(inp: ReportInput, model: bool = True, target: float = 0.95, device: str = "auto",
                 section: dict[str, Any] | None = None) -> str:
    """The report's HTML. ``model=False`` leaves out what needs the best checkpoint and the data (the confusion
    matrix and the images); ``section`` gives that part ready-made (tests)."""
    from search.errors import SearchError
    from search.results.experiment import best_record, trials_table

    records, metric = inp.records, inp.metric
    df = trials_table(records, inp.reference)
    try:
        best = best_record(records, "report")
    except SearchError:
        best = None
    best_id = best.trial_id if best is not None else None
    planned = (inp.settings or {}).get("trials") if inp.kind == "search" else None
    summary = summary_data(records, df, metric, planned, best)
    test = test_score_data(inp.test_scores, best_id, int(best.best_row["epoch"]) if best is not None else None)
    table = table_data(df)
    f1 = "val_clicks_f1" if metric.startswith("val_clicks_") else "val_f1"  # a search on clicks only: their F1
    curve_data = curves(records, f1)
    panels = scatter_panels(df, metric)
    frontier = frontier_data(df, metric, target, inp.reference) if inp.kind == "search" else None
    history_classes = per_class(best.best_row, f1.removesuffix("_f1")) if best is not None else []

    gap = None
    if section is None and best is not None and model:
        try:
            section = model_section(inp, best, device)
        except Gap as e:
            gap = str(e)
    elif best is None:
        gap = "no trial has finished an epoch yet"
    elif not model:
        gap = "left out (--no-model)"

    sections = [("summary", "Summary", summary_html(inp, summary, test)),
                ("trials", f"Trials ({len(records)})", table_html(table, best_id) if records
                 else _gap("No trial has started yet."))]
    curves_html = (_img(draw_curves(curve_data, f1, best_id), "validation F1 per epoch of every trial")
                   if curve_data else _gap("No trial has reported an epoch yet."))
    frontier_html = None
    if frontier is not None:
        statements = "".join(f"<li>{_esc(s)}</li>" for s in frontier["statements"])
        frontier_html = (_img(draw_frontier(frontier), "score against clicks per image, Pareto front")
                         + (f"<ul>{statements}</ul>" if statements else ""))
    pair = [("curves", "F1 per epoch", curves_html)]
    if frontier_html is not None:  # side by side
        pair.append(("frontier", "Annotation budget: the frontier", frontier_html))
    sections.append(pair)
    if panels:
        sections.append(("settings", "Score against the settings",
                         _img(draw_scatter(panels, metric, best_id), "best score against the searched settings")))
    sections.append(("model", "The best model", model_html(section, gap, history_classes, best)))

    def one(sid: str, title: str, content: str) -> str:
        return f'<section id="sec-{sid}"><h2>{_esc(title)}</h2>{content}</section>'

    flat = [s for entry in sections for s in (entry if isinstance(entry, list) else [entry])]
    nav = "".join(f'<a href="#sec-{sid}">{_esc(title)}</a>' for sid, title, _ in flat)
    body = "".join(f'<div class="pair">{"".join(one(*s) for s in entry)}</div>' if isinstance(entry, list)
                   and len(entry) > 1 else one(*(entry[0] if isinstance(entry, list) else entry))
                   for entry in sections)
    data = {"kind": inp.kind, "path": inp.path, "metric": metric, "summary": summary, "table": table,
            "curves": curve_data, "settings_panels": panels, "frontier": frontier, "per_class": history_classes,
            "test": test, "confusion": None if section is None else section["confusion"], "model_gap": gap}
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    what = "search" if inp.kind == "search" else "training run (pointtune train)"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>pointtune report: {_esc(inp.name)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>pointtune report: {_esc(inp.name)}</h1><div class='sub'>{_esc(what)} {_esc(inp.path)}"
            f" &middot; made {_esc(when)} &middot; ranked by {_esc(metric)}</div></header><nav>{nav}</nav>"
            f"<main>{body}</main>"
            f'<script type="application/json" id="report-data">{_json_script(data)}</script>'
            f"<script>{JS}</script></body></html>")


def write_report(experiment: str, out: str | None = None, model: bool = True, target: float = 0.95,
                 device: str = "auto") -> Path:
    """Write the report of ``experiment`` (a search folder or URI, or a ``train`` folder) to ``out`` (default:
    ``EXPERIMENT/report.html`` for a local folder, ``report.html`` here for a URI); returns the path."""
    from trainable.config import ConfigError
    from trainable.data.storage import is_uri

    if not 0 < target <= 1:
        raise ConfigError(f"--target {target}: use a share of the best score in (0, 1], e.g. 0.95")
    inp = load_report_input(experiment)
    page = build_report(inp, model, target, device)
    path = Path(out) if out else (Path("report.html") if is_uri(inp.path) else Path(inp.path) / "report.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
