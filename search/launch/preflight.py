"""The checks a search makes of its data and weights before it starts Ray: the clicks every trial selects from, the
sparsest setting searched, the validation split's classes, and the weights, resolved once."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from search.errors import SearchError
from search.launch.settings import SearchSettings
from search.model.adapt import adaptation_flag, adaptation_images, adaptation_meta
from trainable.config import ConfigError
from trainable.data.index import DatasetIndex
from trainable.inputs import resolve_for_data, training_clicks
from trainable.learn.model import resolve_weights, resolved_config

log = logging.getLogger(__name__)


def preflight(settings: SearchSettings, index: DatasetIndex) -> SearchSettings:
    """Settings that need the data, and the checks that do: the clicks every trial selects from are computed once
    (on this node; each node caches its own), and the sparsest setting searched must leave every training image a
    point. Returns the settings with the normalisation, the input bands and the click limits filled in."""
    space = settings.space
    base = resolve_for_data(settings.base, index).replace(points=click_limits(settings))
    if "per_instance" in space.modes:  # which images get no click depends on their objects: simulate (and cache)
        t0 = time.perf_counter()
        share = space.background_share[0] if space.background_share else base.points.background_share
        training_clicks(index, base.replace(points={"mode": "per_instance", "background_share": share,
                                                    "clicks_per_object": space.clicks_per_object[0]}))
        log.info("simulated the training clicks up to the top of the searched range in %.1f s",
                 time.perf_counter() - t0)
    if "density" in space.modes and index.user_clicks is None:  # round(density * valid pixels) clicks an image
        density_check(index, space.density[0])
    if index.user_clicks is not None:  # the sparsest setting: at least one of each image's clicks is kept
        training_clicks(index, base.replace(points={"density": space.density[0]}))
    warn_of_gaps(settings, index)
    if base.data.adaptation_folder:  # the images the best model adapts to before its test score
        adaptation_images(base.data.adaptation_folder, adaptation_meta(base), adaptation_flag(base.data))
    return dataclasses.replace(settings, base=base)


def click_limits(settings: SearchSettings) -> dict[str, Any]:
    """Every trial's clicks are a selection of those up to the top of the searched ranges: nodes cache those."""
    space, limits = settings.space, {}
    if "density" in space.modes:
        limits["order_up_to"] = space.density[1]
    if "per_instance" in space.modes:
        limits["clicks_up_to"] = space.clicks_per_object[1]
        if space.background_share is not None:
            limits["share_up_to"] = space.background_share[1]
    return limits


def warn_of_gaps(settings: SearchSettings, index: DatasetIndex) -> None:
    """Classes the validation split lacks; instances searched where the data has no instance masks."""
    missing = [n for n, c in zip(index.classes.names, index.class_pixels(index.split.val), strict=True)
               if c == 0 and index.masked(index.split.val)]
    if missing:
        log.warning("class(es) %s have no pixel in the validation split: they are left out of the macro means "
                    "(a prediction of them still counts as an error); add validation scenes that hold them, or a "
                    "--split file", ", ".join(missing))
    if settings.space.clicks_per_object and not any(e.files.instance for e in index.entries):
        log.warning("searching points per instance, but %s has no instance/ masks: connected regions of each "
                    "class stand in for objects", index.root)


def density_check(index: DatasetIndex, density: float) -> None:
    """Every training image gets a click at the lowest density searched.

    Raises:
        ConfigError: naming the images that would get none.
    """
    empty = [index.entries[i].stem for i in index.split.train
             if round(density * sum(index.entries[i].record.class_pixels)) < 1]
    if empty:
        raise ConfigError(f"density {density:g} leaves {len(empty)} training image(s) with no labelled point "
                          f"({', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}); raise the low end of "
                          "--density-range or use per-instance points")


def resolve_search_weights(settings: SearchSettings) -> tuple[SearchSettings, dict | None]:
    """Resolve the weights once, in the driver, before any trial; on --resume, check they are still the same file.

    Raises:
        WeightsError: as ``resolve_weights``; SearchError: a resumed search's weights file changed.
    """
    model = settings.base.model
    resolved, state = resolve_weights(model)
    if settings.resume and model.weights_sha256 and resolved.sha256 != model.weights_sha256:
        raise SearchError(f"the weights this search started from ({model.weights_source}, sha256 "
                          f"{model.weights_sha256[:16]}...) changed on disk (now {resolved.sha256[:16]}...): put the "
                          "original file back, or start a new search")
    print(f"weights: {resolved.describe()}", flush=True)
    return dataclasses.replace(settings, base=settings.base.replace(
        model=dataclasses.asdict(resolved_config(model, resolved)))), state


def check_devices(settings: SearchSettings) -> None:
    """On this machine (no ``--address``), before Ray starts: a GPU asked for is one torch sees.

    Raises:
        ConfigError: ``--device cuda`` or ``--gpus-per-trial`` above 0 where torch sees no GPU, saying what the
            machine has.
    """
    import torch

    from trainable.trial import pick_device

    if settings.address:
        return  # a cluster's GPUs are counted once it is joined (search.launch.run.join_cluster)
    pick_device(settings.base.train.device)
    gpus = settings.gpus_per_trial
    if gpus != "auto" and gpus > 0 and not torch.cuda.is_available():
        raise ConfigError(f"--gpus-per-trial {gpus:g}: torch sees no GPU on this machine (a CPU-only torch, or no "
                          "CUDA device), so no trial could start; use --gpus-per-trial 0 (or auto), or --address of a "
                          "cluster with GPUs")
