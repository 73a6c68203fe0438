"""What ``pointtune suggest`` writes: the clicks as CSV or GeoJSON (the format ``--clicks`` reads; columns in
``search.model.suggest``'s docstring), and the sidecar ``FILE.json`` beside it that says where they came from.

The sidecar (``search.results.rounds.SIDECAR_FORMAT``)::

    {"format": "pointtune-suggest/1", "round": 2,              # the model's round + 1 (or the clicks so far's + 1)
     "file": "r2.csv", "sha256": "...", "clicks": 450, "images": 45, "answered": 450,  # as written
     "strategy": "margin", "clicks_per_image": 10, "seed": 0, "part": "train", "answer_from_masks": true,
     "radius": {"auto": true, "min": 7.1, "max": 7.1},        # pixels of the original image
     "model": {"path": "...", "what": "train folder ...", "epoch": 6, "metric": "val_f1", "score": 0.61,
               "round": 1, "clicks_file": "...", "clicks_sha256": "..."},
     "clicks_so_far": {"path": "...", "sha256": "...", "round": 1, "clicks": 900},  # null without any
     "data": "/path/to/data", "written": "2026-...", "pointtune_version": "..."}
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from search.results.rounds import SIDECAR_FORMAT, clicks_sha256, file_round, model_round, sidecar_path
from trainable.data import storage

# Suggestion, SuggestReport and SuggestSettings are search.model.suggest's (which imports this module)
Suggestion = SuggestReport = SuggestSettings = Any

CSV_COLUMNS = ("image", "x", "y", "class", "predicted", "score", "rank", "map_x", "map_y", "round")


def _number(v: float | None) -> str:
    return "" if v is None else repr(float(v)) if not float(v).is_integer() or abs(v) > 1e15 else str(int(v))


def render_csv(suggestions: list[Suggestion], round_number: int = 1) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in suggestions:
        writer.writerow([s.image, _number(s.x), _number(s.y), s.answer, s.predicted, f"{s.score:.6g}", s.rank,
                         _number(s.map_x), _number(s.map_y), round_number])
    return buf.getvalue()


def render_geojson(suggestions: list[Suggestion], crs: dict[str, str | None],
                   round_number: int = 1) -> tuple[str, str]:
    """The FeatureCollection and its coordinates ("map" when every image has one CRS, else "pixel")."""
    names = {crs.get(s.image) for s in suggestions}
    mode = "map" if suggestions and len(names) == 1 and None not in names else "pixel"
    features = []
    for s in suggestions:
        props: dict[str, Any] = {"image": s.image, "class": s.answer, "predicted": s.predicted,
                                 "score": float(f"{s.score:.6g}"), "rank": s.rank, "round": round_number}
        if mode == "map":
            point = [s.map_x, s.map_y]
            props.update(x=s.x, y=s.y)
        else:
            point = [s.x, s.y]
            if s.map_x is not None:
                props.update(map_x=s.map_x, map_y=s.map_y)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": point},
                         "properties": props})
    doc: dict[str, Any] = {"type": "FeatureCollection", "pointtune:coordinates": mode}
    if mode == "map":
        doc["crs"] = {"type": "name", "properties": {"name": names.pop()}}
    doc["features"] = features
    return json.dumps(doc, indent=1) + "\n", mode


def next_round(model_path: str, meta: dict[str, Any], points: str | None) -> tuple[int, dict[str, Any]]:
    """The round of the clicks to suggest: one more than the model's and the clicks so far's (the higher), and what
    the sidecar says of the model and of the clicks so far."""
    m_round, record = model_round(model_path, meta.get("config"))
    model = {"path": str(model_path), "epoch": meta.get("epoch"), "metric": meta.get("metric"),
             "score": (meta.get("metrics") or {}).get(meta.get("metric") or "", None), "round": m_round,
             "clicks_file": (record or {}).get("path") or ((meta.get("config") or {}).get("data") or {}).get("clicks"),
             "clicks_sha256": (record or {}).get("sha256")}
    so_far = None
    if points:
        so_far = {"path": points, "sha256": clicks_sha256(points), "round": file_round(points)}
    return max(m_round, so_far["round"] if so_far else 0) + 1, {"model": model, "clicks_so_far": so_far}


def sidecar(report: SuggestReport, settings: SuggestSettings, round_number: int, sources: dict[str, Any],
            data_root: str, text: str, so_far_clicks: int | None) -> dict[str, Any]:
    """The provenance written beside the file (module docstring)."""
    from trainable.learn.checkpoint import pointtune_version

    radii = sorted(report.radius.values())
    so_far = sources["clicks_so_far"]
    if so_far is not None:
        so_far = {**so_far, "clicks": so_far_clicks}
    return {"format": SIDECAR_FORMAT, "round": round_number, "file": Path(report.path).name,
            "sha256": hashlib.sha256(text.encode()).hexdigest(), "clicks": len(report.suggestions),
            "images": report.images, "answered": sum(1 for s in report.suggestions if s.answer),
            "strategy": settings.strategy, "clicks_per_image": settings.clicks_per_image, "seed": settings.seed,
            "part": settings.part, "answer_from_masks": settings.answer_from_masks,
            "radius": {"auto": settings.radius is None, "min": radii[0] if radii else None,
                       "max": radii[-1] if radii else None},
            "model": sources["model"], "clicks_so_far": so_far, "data": data_root,
            "written": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "pointtune_version": pointtune_version()}


def write_sidecar(clicks_file: str, doc: dict[str, Any]) -> str:
    path = sidecar_path(clicks_file)
    storage.write_text(path, json.dumps(doc, indent=1, default=str) + "\n")
    return path
