"""``pointtune evaluate``: score a model on data, and a run's one score on its test split (search and train)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from search.errors import SearchError
from search.files import TEST_SCORES_FILE
from search.model.model_data import index_for_model, model_data_dir
from search.model.model_file import save_export
from search.model.source import resolve_model, split_part_indices
from trainable.data import storage
from trainable.defaults import default
from trainable.trial import pick_device


def score_model(payload: dict[str, Any], data: Any, indices: list[int], device_name: str = default("device"),
                batch_size: int = default("batch_size"), prefix: str = "test",
                progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """OA, macro P / R / F1, mIoU and per-class scores of an exported model on some images of ``data``.

    Every pixel of those images counts once (the validation grid), by the same rules as validation. Data with the
    user's own clicks is also scored on their clicks on those images (``<prefix>_clicks_*``); images without dense
    masks are scored on the clicks only. ``progress(images done, images)`` hears how far it is.
    """
    from torch.utils.data import DataLoader

    from search.model.predict import model_from_payload, normalizer_of_export
    from trainable.data.tiles import GridTiles
    from trainable.inputs import image_sources, mask_sources, sizes
    from trainable.labels.clicks import user_points_of
    from trainable.learn.loop import evaluate
    from trainable.trial import pick_device

    if not indices:
        raise SearchError("no image to score: the chosen part of the split is empty")
    device = pick_device(device_name)
    model = model_from_payload(payload).to(device)
    clicks = user_points_of(data, indices) if data.user_clicks is not None else None
    tiles = GridTiles(image_sources(data, indices), mask_sources(data, indices), sizes(data, indices),
                      normalizer_of_export(payload), int(payload["tile_size"]), clicks)
    # the grid's tiles go image by image: before batch i, the images before that of its first tile are done
    on_batch = None if progress is None else lambda i, _: progress(tiles.index[i * batch_size][0], len(indices))
    result = evaluate(model, DataLoader(tiles, batch_size=batch_size), device, data.classes.num_classes, on_batch)
    if progress is not None:
        progress(len(indices), len(indices))
    names, excluded = data.classes.names, data.classes.excluded_indices
    scores = {}
    if data.masked(indices):
        scores = {**result.confusion.compute(names, excluded, prefix), f"{prefix}_loss": result.loss}
    if result.points_confusion is not None:
        scores.update(result.points_confusion.compute(names, excluded, f"{prefix}_clicks"))
    return {**scores, f"{prefix}_images": len(indices)}


def score_adapted(payload: dict[str, Any], data: Any, indices: list[int], adapt_bn: str | None,
                  device_name: str = default("device"), batch_size: int = default("batch_size"),
                  progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, float], dict[str, Any]]:
    """``score_model`` of the model with its BatchNorm statistics re-estimated on the images of ``adapt_bn`` first
    (AdaBN, ``search.model.adapt``; None: as it is); returns the scores and what changed in the model's contents (its
    weights' statistics and ``adapted_bn``; empty without adaptation), for the model file kept with the score."""
    changed: dict[str, Any] = {}
    if adapt_bn:
        from search.model.adapt import adapted

        payload = adapted(payload, adapt_bn, device_name, batch_size)
        changed = {"model": payload["model"], "adapted_bn": payload["adapted_bn"]}
    return score_model(payload, data, indices, device_name, batch_size, progress=progress), changed


def evaluate_file(model_path: str, data_dir: str | None, part: str = "test", fmt: str | None = None,
                  classes_file: str | None = None, device: str = default("device"),
                  batch_size: int = default("batch_size"),
                  points: str | None = None, progress: Callable[[int, int], None] | None = None,
                  adapt_bn: str | None = None) -> dict[str, float]:
    """Score a model (``search/model/source.py``: a model file, a train folder or a search) on ``part`` of its
    own split (the stems it recorded), or on ``all`` images of the data (``data_dir``; None: the folder the model
    was trained on).

    The data is read as the model was trained and checked against it (``search.model.model_data``); ``points``
    adds the user's clicks (the formats of ``train --clicks``), for images that have no dense mask.
    ``progress(images done, images)`` hears how far the scoring is. ``adapt_bn``: a folder of images the model's
    BatchNorm statistics are re-estimated on first (AdaBN, ``search.model.adapt``).

    Raises:
        SearchError: the model's split names images the folder does not have, the part is empty, or the
            ``adapt_bn`` folder's images cannot serve.
    """
    from search.model.adapt import adaptation_images, adapted

    pick_device(device)  # a GPU asked for where there is none: said before the model and the data are read
    payload = resolve_model(model_path).payload
    data_dir = model_data_dir(payload, data_dir, model_path)
    if adapt_bn:
        adaptation_images(adapt_bn, payload)  # before the data is read and checked
    data = index_for_model(payload, data_dir, fmt, classes_file, points, model_path)
    indices = split_part_indices(payload, data, part, model_path, data_dir)
    if adapt_bn:
        payload = adapted(payload, adapt_bn, device, batch_size)
    return score_model(payload, data, indices, device, batch_size, prefix=part if part != "all" else "test",
                       progress=progress)


def keep_test_score(folder: str, payload: dict[str, Any], trial_id: str, model_file: str,
                    score: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Score a run's model once on its test part, and keep the score: in the model file (``test_metrics``, written
    to ``model_file``) and in ``folder/test_scores.json``, with the trial and epoch scored.

    A run resumed after it was scored, whose best epoch did not change, keeps its score (the model was scored
    already); one whose best changed scores the new one and counts how many picks the test part has now scored.
    """
    path = f"{folder}/{TEST_SCORES_FILE}"
    before = json.loads(storage.read_text(path)) if storage.exists(path) else {}
    if (before.get("trial_id"), before.get("epoch")) == (trial_id, int(payload["epoch"])):
        return {k: v for k, v in before.items() if k not in ("trial_id", "epoch")}
    scores = score()
    scores["test_scorings"] = int(before.get("test_scorings", 0)) + 1
    payload["test_metrics"] = scores
    save_export(payload, model_file)
    storage.write_text(path, json.dumps({"trial_id": trial_id, "epoch": int(payload["epoch"]), **scores}, indent=2))
    return scores


def render_scores(scores: dict[str, float], output: str = "table") -> str:
    """The scores as JSON, or as a table per kind of truth: the dense masks (``PART_*``) and the user's clicks
    (``PART_clicks_*``), each with a line of macro scores and one row per class."""
    if output == "json":
        return json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()},
                          indent=2)
    part = next(k for k in scores if k.endswith("_images")).removesuffix("_images")
    blocks = []
    for prefix, what in ((part, ""), (f"{part}_clicks", " (on the clicks)")):
        if f"{prefix}_oa" not in scores:
            continue
        head = [f"{k.removeprefix(prefix + '_')} {v:.4f}" for k, v in scores.items()
                if k.removeprefix(prefix + "_") in ("oa", "precision", "recall", "f1", "miou")]
        lines = [f"{part}: {int(scores[f'{part}_images'])} image(s){what}  " + "  ".join(head), "",
                 f"{'class':<20}{'F1':>8}{'IoU':>8}{'precision':>11}{'recall':>8}"]
        names = [k.removeprefix(f"{prefix}_f1_") for k in scores if k.startswith(f"{prefix}_f1_")]
        for name in names:
            vals = [scores[f"{prefix}_{m}_{name}"] for m in ("f1", "iou", "precision", "recall")]
            cells = ["-" if math.isnan(v) else f"{v:.4f}" for v in vals]
            lines.append(f"{name:<20}{cells[0]:>8}{cells[1]:>8}{cells[2]:>11}{cells[3]:>8}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def test_score_line(scores: dict[str, Any], metric: str, validation: float) -> str:
    """The one line a search's summary (and ``train``) prints of the test score of its model."""
    times = int(scores.get("test_scorings", 1))
    how = "scored once" if times == 1 else f"the test split has now scored {times} picks (resumed runs)"
    on = "test" if "test_f1" in scores else "test_clicks"
    what = "" if on == "test" else " (on your clicks)"
    return (f"test score of its model ({int(scores['test_images'])} held-out image(s), {how}){what}: "
            f"F1 {scores[f'{on}_f1']:.4f}, mIoU {scores[f'{on}_miou']:.4f}, OA {scores[f'{on}_oa']:.4f} "
            f"(validation {metric} {validation:.4f})")
