"""``pointtune evaluate``: score an exported model on data, and the search's one score on its test split."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml

from search.errors import SearchError
from trainable.config import DataConfig

TEST_SCORES_FILE = "test_scores.json"


def score_model(payload: dict[str, Any], data: Any, indices: list[int], device_name: str = "auto",
                batch_size: int = 8, prefix: str = "test") -> dict[str, float]:
    """OA, macro P / R / F1, mIoU and per-class scores of an exported model on some images of ``data``.

    Every pixel of those images counts once (the validation grid), by the same rules as validation. Data with the
    user's own clicks is also scored on their clicks on those images (``<prefix>_points_*``); images without dense
    masks are scored on the clicks only.
    """
    from torch.utils.data import DataLoader

    from search.predict import model_from_payload, normalizer_of_export
    from trainable.clicks import user_points_of
    from trainable.inputs import image_sources, mask_sources, sizes
    from trainable.loop import evaluate
    from trainable.tiles import GridTiles
    from trainable.trial import pick_device

    if not indices:
        raise SearchError("no image to score: the chosen part of the split is empty")
    device = pick_device(device_name)
    model = model_from_payload(payload).to(device)
    clicks = user_points_of(data, indices) if data.user_clicks is not None else None
    tiles = GridTiles(image_sources(data, indices), mask_sources(data, indices), sizes(data, indices),
                      normalizer_of_export(payload), int(payload["tile_size"]), clicks)
    result = evaluate(model, DataLoader(tiles, batch_size=batch_size), device, data.classes.num_classes)
    names, excluded = data.classes.names, data.classes.excluded_indices
    scores = {}
    if data.masked(indices):
        scores = {**result.confusion.compute(names, excluded, prefix), f"{prefix}_loss": result.loss}
    if result.points_confusion is not None:
        scores.update(result.points_confusion.compute(names, excluded, f"{prefix}_points"))
    return {**scores, f"{prefix}_images": len(indices)}


def evaluate_file(model_path: str, data_dir: str, part: str = "test", fmt: str | None = None,
                  classes_file: str | None = None, device: str = "auto", batch_size: int = 8) -> dict[str, float]:
    """Score the model file on ``part`` of its own split (the stems it recorded), or on ``all`` images of the data.

    The data is decoded with the model's class description unless ``fmt`` or ``classes_file`` is given.

    Raises:
        SearchError: the model's split names images the folder does not have, or the part is empty.
    """
    from search.predict import read_export
    from trainable.index import build_index

    payload = read_export(model_path)
    with tempfile.TemporaryDirectory() as d:
        if not fmt and not classes_file:
            classes_file = str(Path(d) / "classes.yaml")
            Path(classes_file).write_text(yaml.safe_dump(payload["classes"]))
        cfg = DataConfig(root=str(Path(data_dir).expanduser().resolve()), format=fmt, classes_file=classes_file,
                         tile_size=int(payload["tile_size"]), resize=float(payload.get("resize", 1.0)),
                         bands=tuple(payload.get("bands", ())))
        data = build_index(cfg, split=False)
    if list(data.classes.names) != list(payload["class_names"]):
        raise SearchError(f"{model_path} predicts classes {payload['class_names']}, but {data_dir} is described "
                          f"with {list(data.classes.names)}; give the class description the model was trained with")
    if part == "all":
        indices = list(range(len(data.entries)))
    else:
        stems = payload.get("split", {}).get(part) or []
        if not stems:
            raise SearchError(f"{model_path} records no {part!r} images (its search had none); use --split all, or "
                              "another part")
        where = {e.stem: i for i, e in enumerate(data.entries)}
        missing = [s for s in stems if s not in where]
        if missing:
            raise SearchError(f"{len(missing)} {part} image(s) of the model's split are not in {data_dir} "
                              f"({', '.join(missing[:5])}); point --data at the data it was trained on, or use "
                              "--split all to score every image there")
        indices = [where[s] for s in stems]
    return score_model(payload, data, indices, device, batch_size, prefix=part if part != "all" else "test")


def render_scores(scores: dict[str, float], output: str = "table") -> str:
    if output == "json":
        return json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()},
                          indent=2)
    prefix = next(k for k in scores if k.endswith("_oa")).removesuffix("_oa")
    head = [f"{k.removeprefix(prefix + '_')} {v:.4f}" for k, v in scores.items()
            if k.removeprefix(prefix + "_") in ("oa", "precision", "recall", "f1", "miou")]
    lines = [f"{prefix}: {int(scores[f'{prefix}_images'])} image(s)  " + "  ".join(head), "",
             f"{'class':<20}{'F1':>8}{'IoU':>8}{'precision':>11}{'recall':>8}"]
    names = [k.removeprefix(f"{prefix}_f1_") for k in scores if k.startswith(f"{prefix}_f1_")]
    for name in names:
        vals = [scores[f"{prefix}_{m}_{name}"] for m in ("f1", "iou", "precision", "recall")]
        cells = ["-" if math.isnan(v) else f"{v:.4f}" for v in vals]
        lines.append(f"{name:<20}{cells[0]:>8}{cells[1]:>8}{cells[2]:>11}{cells[3]:>8}")
    return "\n".join(lines)
