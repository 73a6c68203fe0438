"""The report's best model: the best trial's best checkpoint run here on validation images (the confusion matrix
and example images) and on training images with the clicks it was trained with.

The data folder is in the checkpoint's config; when it cannot be reached (or no checkpoint is recorded yet), the
section says why (:class:`Gap`) and the report goes on without it. torch is imported by the functions that run
the model, never at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from search.files import TRAIN_MODEL
from search.model.export import best_with_weights
from search.model.model_file import export_payload
from search.report.confusion import confusion_data, confusion_figure
from search.report.examples import display_rgb, example_figure
from search.report.load import ReportInput
from search.report.markup import esc, gap, num
from search.report.per_class import per_class_table
from search.results.experiment import fetch_checkpoint
from trainable.config import IGNORE_INDEX, ConfigError, TrialConfig
from trainable.data.checks import check_files
from trainable.data.classes import ClassDescription
from trainable.data.index import DatasetIndex, IndexEntry, check_roots, list_dataset_files
from trainable.data.node_cache import NodeCache
from trainable.data.rasters import raster_info
from trainable.data.split import Split
from trainable.defaults import default
from trainable.errors import CheckpointError, DatasetError

MAX_VAL_IMAGES = 4  # validation images shown: image, truth, prediction
MAX_TRAIN_IMAGES = 2  # training images shown with the clicks the best trial was trained with
CONFUSION_PIXELS = 8_000_000  # validation pixels the confusion matrix covers at most (the model runs on the CPU)
VIEW = 512  # side of the window shown of a larger image (its centre)
BATCH = default("inference_batch_size")  # tiles per batch, as `evaluate` runs them


class Gap(Exception):
    """A section the report cannot fill, and why (the report says it and goes on)."""


def _best_state(inp: ReportInput, record: Any) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint of the best trial's best epoch (the best recorded with its weights) and notes about it."""
    notes = []
    if inp.kind == "train":
        from trainable.learn.checkpoint import load_checkpoint  # torch

        best = Path(inp.path) / TRAIN_MODEL
        if not best.is_file():
            raise Gap(f"{best} does not exist yet (no epoch has finished)")
        try:
            state = load_checkpoint(best)
        except CheckpointError as e:
            raise Gap(str(e)) from None
    else:
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


class _BestModel:
    """The best checkpoint's network on this machine, with what runs it on the section's images."""

    def __init__(self, index: DatasetIndex, payload: dict[str, Any], device: str):
        from search.model.predict import model_from_payload, normalizer_of_export  # torch
        from trainable.trial import pick_device

        self.index, self.device = index, pick_device(device)
        self.model = model_from_payload(payload).to(self.device)
        self.normalizer = normalizer_of_export(payload)
        self.tile = int(payload["tile_size"])
        self.cache = NodeCache()

    def confusion(self, ids: list[int]) -> dict[str, Any]:
        """The confusion matrix over these images, each pixel once (the validation grid)."""
        import torch
        from torch.utils.data import DataLoader

        from trainable.data.tiles import GridTiles
        from trainable.inputs import image_sources, mask_sources, sizes
        from trainable.learn.loop import evaluate

        index = self.index
        with torch.no_grad():
            tiles = GridTiles(image_sources(index, ids, self.cache), mask_sources(index, ids, self.cache),
                              sizes(index, ids), self.normalizer, self.tile)
            result = evaluate(self.model, DataLoader(tiles, batch_size=BATCH), self.device, index.classes.num_classes)
        return confusion_data(result.confusion.matrix.cpu().numpy(), list(index.classes.names))

    def example(self, i: int, clicks: Any | None = None) -> dict[str, Any]:
        """Image ``i`` (its centre window), its truth and the prediction; ``clicks``: those it was trained with."""
        from search.model.predict import predict_array
        from trainable.inputs import image_sources, mask_sources

        e = self.index.entries[i]
        y, x, h, w = _centre_window(e.record.height, e.record.width, self.tile)
        pixels = image_sources(self.index, [i], self.cache)[0].read(y, x, h, w)
        truth = np.asarray(mask_sources(self.index, [i], self.cache)[0].read(y, x, h, w))
        pred = predict_array(self.model, pixels, self.tile, self.index.classes.num_classes, self.device,
                             normalizer=self.normalizer)
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


def model_section(inp: ReportInput, record: Any, device: str = default("device"), max_val: int = MAX_VAL_IMAGES,
                  max_train: int = MAX_TRAIN_IMAGES, confusion_pixels: int = CONFUSION_PIXELS) -> dict[str, Any]:
    """Run the best trial's best checkpoint on validation images: the confusion matrix (over up to
    ``confusion_pixels`` of validation pixels), ``max_val`` validation images with truth and prediction, and
    ``max_train`` training images with the clicks the trial was trained with.

    Raises:
        Gap: no checkpoint yet, or the data folder is not reachable (the reason says which).
    """
    from trainable.labels.clicks import ClickSource  # scipy: not for --no-model

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
    cm_stems = confusion_stems(val_all, lambda stem: _pixels(by_stem[stem].image, cfg.data.resize), confusion_pixels)
    shown_val = val_all[:max_val]
    index = _subset_index(cfg, classes, by_stem, list(dict.fromkeys([*cm_stems, *shown_val])),
                          _stems(state, "train")[:max_train])
    run = _BestModel(index, payload, device)
    where = {e.stem: i for i, e in enumerate(index.entries)}
    confusion = run.confusion([where[s] for s in cm_stems])
    confusion["images"], confusion["of_images"] = len(cm_stems), len(val_all)
    source = ClickSource(index, cfg, list(index.split.train), run.cache)
    return {"epoch": int(state["epoch"]), "notes": notes, "confusion": confusion,
            "palette": [list(c) for c in payload["class_colours"]], "class_names": list(classes.names),
            "val_examples": [run.example(where[s]) for s in shown_val],
            "train_examples": [run.example(i, source.points(k)) for k, i in enumerate(index.split.train)],
            "device": str(run.device), "data_root": index.root}


def _pixels(image: str, resize: float) -> int:
    """An image's pixels after ``--resize``, from its header."""
    info = raster_info(image)
    return int(info.height * info.width * resize**2)


def model_html(section: dict[str, Any] | None, why: str | None, history_classes: list[dict[str, Any]],
               best: Any | None, figures: str = "") -> str:
    """The section's HTML: the best trial's ``figures`` (its curves and per-class bars, ``search.report.charts``)
    and the per-class scores it reported, then what ``model_section`` computed (or ``why`` it could not)."""
    from search.report.charts import figure_img  # matplotlib: not at import

    parts = []
    if best is not None and history_classes:
        parts.append(f"<h3>Per-class validation scores of trial {esc(best.trial_id)} at epoch "
                     f"{int(best.best_row['epoch'])}</h3><p class='note'>As the trial reported them, over the whole "
                     "validation split.</p>")
        parts.append('<div class="row"><div>' + per_class_table(history_classes) + "</div><div>" + figures
                     + "</div></div>")
    elif figures:
        parts.append(figures)
    if section is None:
        parts.append(gap(f"No confusion matrix and no images: {why}"))
        return "".join(parts)
    parts += [f'<p class="note">{esc(n)}</p>' for n in section["notes"]]
    cm = section["confusion"]
    cover = ("every validation image" if cm["images"] == cm["of_images"]
             else f"the first {cm['images']} of {cm['of_images']} validation images")
    parts.append(f"<h3>Confusion matrix of the best checkpoint (epoch {section['epoch']})</h3>"
                 f"<p class='note'>Over {esc(cover)} ({cm['pixels']:,} labelled pixels, each once), computed here "
                 f"on {esc(section['device'])} from {esc(section['data_root'])}: macro F1 {num(cm['f1'])}, "
                 f"OA {num(cm['oa'])}, mIoU {num(cm['miou'])}.</p>")
    parts.append(figure_img(confusion_figure(cm), "confusion matrix"))
    palette, names = section["palette"], section["class_names"]
    for key, train, head in (("val_examples", False, "Validation images: image, truth, prediction"),
                             ("train_examples", True, "Training images and the clicks the best trial was trained "
                                                      "with")):
        if section[key]:
            parts.append(f"<h3>{head}</h3><div class='row'>")
            parts += [figure_img(example_figure(ex, palette, names, train=train),
                                 f"{'training' if train else 'validation'} image {ex['stem']}")
                      for ex in section[key]]
            parts.append("</div>")
    return "".join(parts)
