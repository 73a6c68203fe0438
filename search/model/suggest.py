"""``pointtune suggest``: where to click next, K pixels per image where the model is most likely wrong.

For each training image of the model's split (``--part all``: every image of ``--data``), the model predicts the
image block by block as ``predict`` does (``predict_scene``, on the image after the model's ``--resize``); each
block's probabilities are scored and thinned (``search.model.click_scores``), and K clicks are chosen: spaced by the
radius, in rounds over the predicted classes, never on an ignored pixel of the dense mask, a no-data pixel of a
GeoTIFF (its nodata value, mask or alpha band) or a pixel already clicked (``--clicks``: the clicks so far; by
default the clicks file the model was trained on, when it recorded one).

The file is what ``--clicks`` reads, by the suffix of ``--out``:

- ``.csv``: ``image,x,y,class,predicted,score,rank,map_x,map_y,round``, one click per line, each image's clicks in the
  order chosen. ``x``, ``y``: pixel column and row in the original image (the centre of the model's pixel when
  ``--resize`` is not 1); ``class``: empty, for the annotator to fill (or the mask's class with
  ``--answer-from-masks``); ``predicted``: the model's class there; ``score``: what ranked the click (the strategy's
  unit); ``rank``: 1 for the first click chosen on the image; ``map_x``, ``map_y``: the pixel centre in the image's
  CRS for a georeferenced image, else empty; ``round``: the round of the annotation campaign these clicks belong to
  (the model's round + 1, ``search.results.rounds``). The reader takes the first four columns and ignores the others.
- ``.geojson`` / ``.json``: a FeatureCollection of Point features with the same properties. When every image with
  suggestions is georeferenced in one CRS, the points are in map coordinates with that CRS (legacy ``crs``
  member) and ``x``, ``y`` are properties; otherwise in pixel coordinates (``"pointtune:coordinates": "pixel"``)
  with ``map_x``, ``map_y`` as properties where known.

Beside the file, ``FILE.json`` says where the clicks came from: the model and its round, the strategy, radius, seed,
the clicks so far and the round (``search.model.suggest_output`` writes both files).
"""

from __future__ import annotations

import math
import shlex
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch import nn

from search.model.click_scores import NEEDS_MASKS, STRATEGIES, Candidates, Strategy, auto_radius
from search.model.model_data import index_for_model, model_data_dir
from search.model.predict import blocks, model_from_payload, predict_scene
from search.model.source import model_inputs, resolve_model, split_part_indices
from search.model.suggest_image import ImageCandidates
from search.model.suggest_output import next_round, render_csv, render_geojson, sidecar, write_sidecar
from search.outputs import plan_file
from search.results.rounds import sidecar_path
from trainable.config import IGNORE_INDEX, ConfigError, saved_data_config
from trainable.data import storage
from trainable.data.index import DatasetIndex, IndexEntry
from trainable.data.rasters import raster_info
from trainable.data.sources import ImageSource, LabelSource, ValidPixels
from trainable.defaults import default
from trainable.labels.points import image_seed
from trainable.trial import pick_device

DEFAULT_STRATEGY: Strategy = default("strategy")  # as measured by benchmarks/active_clicks.py (the defaults table)
SUFFIXES = (".csv", ".geojson", ".json")


@dataclass(frozen=True)
class SuggestSettings:
    """What ``pointtune suggest`` is asked for (module docstring)."""

    clicks_per_image: int
    strategy: Strategy = DEFAULT_STRATEGY
    radius: float | None = None  # in pixels of the original image; None: ``search.model.click_scores.auto_radius``
    seed: int = default("seed")
    part: Literal["train", "all"] = default("suggest_part")
    answer_from_masks: bool = False

    def validate(self) -> SuggestSettings:
        """Raises ConfigError naming the setting at fault."""
        if self.clicks_per_image < 1:
            raise ConfigError(f"--clicks-per-image {self.clicks_per_image}: ask for at least 1 click per image")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy {self.strategy}: choose one of {', '.join(STRATEGIES)}")
        if self.strategy in NEEDS_MASKS and not self.answer_from_masks:
            raise ConfigError(f"--strategy {self.strategy} clicks where the model is wrong by the dense masks: a "
                              "simulated annotator's ceiling, to measure strategies against; give "
                              "--answer-from-masks, or a strategy for real annotators: "
                              + ", ".join(s for s in STRATEGIES if s not in NEEDS_MASKS))
        if self.radius is not None and not (math.isfinite(self.radius) and self.radius >= 0):
            raise ConfigError(f"--radius {self.radius}: give a distance in pixels, 0 or more (0: clicks may touch)")
        if self.part not in ("train", "all"):
            raise ConfigError(f"--part {self.part}: use train (the model's training images) or all")
        return self


@dataclass(frozen=True)
class Suggestion:
    """One suggested click."""

    image: str  # stem
    row: int  # pixel of the image after --resize
    col: int
    x: float  # column and row in the original image, as the --clicks reader takes them
    y: float
    predicted: str  # the model's class there ("" for random clicks: no model run)
    score: float
    rank: int  # 1: the image's first click chosen
    answer: str = ""  # the class, filled by the annotator (or from the dense mask)
    map_x: float | None = None  # the pixel centre in the image's CRS
    map_y: float | None = None


@dataclass
class SuggestReport:
    """What a ``suggest`` call wrote."""

    path: str
    suggestions: list[Suggestion]
    images: int
    radius: dict[str, float] = field(default_factory=dict)  # per image stem, in original pixels
    coordinates: str = "pixel"  # GeoJSON: "map" or "pixel"
    unanswered_images: list[str] = field(default_factory=list)  # --answer-from-masks: images without a mask
    round_number: int = 1  # of the campaign: the model's (or the clicks so far's) + 1 (search.results.rounds)
    model: str = ""  # the model that suggested them, as given


def load_model(path: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model to suggest with and its metadata: a model file, a train folder or a search's experiment folder
    (``search.model.source.resolve_model``)."""
    payload = resolve_model(path).payload
    return model_from_payload(payload), payload


def choose_clicks(entry: IndexEntry, data: DatasetIndex, settings: SuggestSettings, model: nn.Module | None,
                  meta: dict[str, Any], device: Any,
                  batch_size: int = default("batch_size")) -> tuple[Candidates, float]:
    """The clicks chosen on one image (in the order chosen) and the radius kept, in original pixels."""
    h, w = entry.record.height, entry.record.width
    given = (data.user_clicks or {}).get(entry.stem)
    taken = given.index if given is not None else np.empty(0, np.int64)
    labels = given.label if given is not None else np.empty(0, np.uint8)
    taken_rows, taken_cols = np.divmod(taken, w)
    k = settings.clicks_per_image
    info = raster_info(entry.files.image)
    radius = settings.radius if settings.radius is not None else auto_radius(info.height, info.width,
                                                                              k + taken.size)
    radius_px = radius * data.resize  # on the image the model sees
    valid = ValidPixels(entry.files, data.classes, data.resize)
    truth = LabelSource(entry.files, data.classes, data.resize) if settings.strategy in NEEDS_MASKS else None
    found = ImageCandidates(settings.strategy, radius_px, k, h * w)

    def add(y: int, x: int, probs: np.ndarray | None, bh: int, bw: int) -> None:
        inside = (taken_rows >= y) & (taken_rows < y + bh) & (taken_cols >= x) & (taken_cols < x + bw)
        clicks = (taken_rows[inside] - y, taken_cols[inside] - x, labels[inside])
        rng = np.random.default_rng((settings.seed, image_seed(entry.stem), y, x))
        found.add(probs, valid.read(y, x, bh, bw), rng, (y, x), clicks,
                  truth.read(y, x, bh, bw) if truth is not None else None)

    if settings.strategy == "random":  # blind to the model: nothing to predict
        for y, x, bh, bw in blocks(h, w):
            add(y, x, None, bh, bw)
    else:
        source = ImageSource(entry.files, data.resize, data.bands)
        predict_scene(source.read, h, w, lambda y, x, p: add(y, x, p, p.shape[1], p.shape[2]), model,
                      {**meta, "resize": 1.0}, device, batch_size, probabilities=True)  # source is resized
    return found.choose(taken_rows, taken_cols), radius


def _check_masks(strategy: str, entries: list[IndexEntry]) -> None:
    """A strategy that reads the dense masks needs one for every image it clicks on (ConfigError otherwise)."""
    missing = [e.stem for e in entries if e.files.mask is None]
    if strategy in NEEDS_MASKS and missing:
        raise ConfigError(f"--strategy {strategy} clicks where the model is wrong by the dense masks, and "
                          f"{len(missing)} image(s) have none (e.g. {missing[0]}): give a dataset with semantic/ "
                          "masks, or another --strategy")


def _georeference(path: str) -> tuple[str, tuple[float, ...]] | None:
    """(CRS name, affine a..f) of a georeferenced image, else None."""
    info = raster_info(path)
    if info.crs is None or info.transform is None:
        return None
    from rasterio.crs import CRS

    return CRS.from_wkt(info.crs).to_string(), info.transform


def to_suggestions(entry: IndexEntry, data: DatasetIndex, picks: Candidates, answer: bool,
                   geo: tuple[str, tuple[float, ...]] | None = None) -> list[Suggestion]:
    """The chosen pixels as suggestions: original coordinates, map coordinates (``geo``: the image's CRS and
    transform), classes (``answer``: from the dense mask)."""
    scale = data.resize
    mask = (LabelSource(entry.files, data.classes, scale, "mask") if answer and entry.files.mask is not None
            else None)
    names = data.classes.names
    out = []
    for rank, (r, c, cls, score) in enumerate(zip(picks.row.tolist(), picks.col.tolist(), picks.cls.tolist(),
                                                  picks.score.tolist(), strict=True), start=1):
        xo, yo = (c + 0.5) / scale, (r + 0.5) / scale  # the pixel's centre in the original image
        map_x = map_y = None
        if geo is not None:
            a, b, off_x, d, e, off_y = geo[1][:6]
            map_x, map_y = a * xo + b * yo + off_x, d * xo + e * yo + off_y
        label = ""
        if mask is not None:
            value = int(mask.read(r, c, 1, 1)[0, 0])
            label = names[value] if value != IGNORE_INDEX else ""
        x, y = (c, r) if scale == 1.0 else (round(xo, 3), round(yo, 3))
        out.append(Suggestion(entry.stem, r, c, x, y, names[cls] if cls >= 0 else "", float(score), rank, label,
                              map_x, map_y))
    return out


def suggest_files(model_path: str, data_dir: str | None, out: str, settings: SuggestSettings, points: str | None = None,
                  fmt: str | None = None, classes_file: str | None = None, device_name: str = default("device"),
                  batch_size: int = default("batch_size"),
                  progress: Callable[[int, int], None] | None = None) -> SuggestReport:
    """Suggest clicks on the model's training images (or all of ``data_dir``; None: the folder the model was
    trained on) and write them to ``out``;
    ``progress(images done, images)`` is told after each image.

    Raises:
        ConfigError: a bad setting or ``--out`` suffix.
        SearchError, DatasetError, CheckpointError: the model, data or clicks cannot be used (the message says why).
    """
    settings.validate()
    device = pick_device(device_name)
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"--out {out}: name a .csv or .geojson file (the formats --clicks reads)")
    model, meta = load_model(model_path)
    data_dir = model_data_dir(meta, data_dir, model_path)
    recorded = saved_data_config(meta).get("clicks")
    if not storage.is_uri(out) or out.startswith("file://"):  # a bucket has no folders to check
        reads = [("the model", model_path), *model_inputs(model_path, meta), ("the --data folder", data_dir),
                 ("the clicks so far (--clicks)", points)]
        out = str(plan_file(out, "--out", "suggest", reads))
        plan_file(sidecar_path(out), "--out's record (FILE.json)", "suggest record", reads)
    if points is None and recorded and not storage.exists(recorded):
        print(f"note: the clicks the model was trained on ({recorded}) are gone: suggesting without the clicks so far "
              "(a pixel clicked then may be suggested again); give them with --clicks", file=sys.stderr)
    if points is None and recorded and Path(recorded).exists():
        points = recorded
        print(f"clicks so far: {recorded} (the clicks the model was trained on; --clicks to give others)")
    data = index_for_model(meta, data_dir, fmt, classes_file, points, model_path, other_folders=False)
    model.to(device)
    report = SuggestReport(out, [], 0, coordinates="pixel", model=model_path)
    crs: dict[str, str | None] = {}
    part = split_part_indices(meta, data, settings.part, "the model", str(data.root))
    _check_masks(settings.strategy, [data.entries[i] for i in part])
    for i in part:
        entry = data.entries[i]
        picks, radius = choose_clicks(entry, data, settings, model, meta, device, batch_size)
        report.images += 1
        report.radius[entry.stem] = radius
        geo = _georeference(entry.files.image)
        crs[entry.stem] = geo[0] if geo else None
        report.suggestions += to_suggestions(entry, data, picks, settings.answer_from_masks, geo)
        if settings.answer_from_masks and entry.files.mask is None:
            report.unanswered_images.append(entry.stem)
        if progress is not None:
            progress(report.images, len(part))
    report.round_number, sources = next_round(model_path, meta, points)
    if suffix == ".csv":
        text = render_csv(report.suggestions, report.round_number)
    else:
        text, report.coordinates = render_geojson(report.suggestions, crs, report.round_number)
    storage.write_text(out, text)
    so_far = sum(c.count for c in (data.user_clicks or {}).values()) if points else None
    write_sidecar(out, sidecar(report, settings, report.round_number, sources, data.root, text, so_far))
    return report


def render_summary(report: SuggestReport, settings: SuggestSettings) -> str:
    n = len(report.suggestions)
    radii = sorted(report.radius.values())
    radius = (f"{radii[0]:.1f} px" if radii and radii[0] == radii[-1] else
              f"{radii[0]:.1f} to {radii[-1]:.1f} px" if radii else "n/a")
    per_class = Counter(s.predicted for s in report.suggestions if s.predicted)
    per_image = Counter(s.image for s in report.suggestions)
    short = sum(1 for stem in report.radius if per_image[stem] < settings.clicks_per_image)
    lines = [f"wrote {n} suggested click(s) of round {report.round_number} on {report.images} image(s) to "
             f"{report.path} (strategy {settings.strategy}, radius {radius}"
             f"{' (auto)' if settings.radius is None else ''}, seed {settings.seed}); where they came from: "
             f"{sidecar_path(report.path)}"]
    if per_class:
        lines.append("predicted class at the clicks: " + ", ".join(f"{c} {k}" for c, k in per_class.most_common()))
    if short:
        lines.append(f"{short} image(s) got fewer than {settings.clicks_per_image} clicks: too few valid, unclicked "
                     "pixels at least the radius apart (a smaller --radius gives more)")
    if report.coordinates == "map":
        lines.append("points in map coordinates (the images' CRS); x, y (pixels) are properties")
    if settings.answer_from_masks:
        answered = sum(1 for s in report.suggestions if s.answer)
        lines.append(f"answered from the dense masks: {answered} of {n}"
                     + (f" ({len(report.unanswered_images)} image(s) have no mask)" if report.unanswered_images
                        else ""))
    else:
        lines.append("fill in the class of each click (column/property 'class'), then train the next round with "
                     f"this one's settings: pointtune train --like {shlex.quote(report.model)} --clicks "
                     f"{shlex.quote(report.path)} --out NEXT (the clicks so far in the same file, or merged into it: "
                     "keep the 'round' column, it tells which round a run trained on)")
    return "\n".join(lines)
