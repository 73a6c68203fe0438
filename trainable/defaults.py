"""Every default a user can set, written once: its value on your data, with the demo scenes, with your own clicks,
and what it means.

The dataclasses of ``trainable.config`` and ``search.launch.settings`` take their field defaults from here
(``default("tile_size")``), the CLI builds its flags and their help from it (``search.cli.flags``), the search picks
the demo's or your clicks' values from it (``profile``), and the defaults and search-space tables of docs/search.md
are generated from it (``search.cli.readme_tables``). Fields the code fills in itself (a trial's ``mean``/``std``,
the weights' SHA-256, the cache bounds) keep their dataclass defaults: no user sets them.

A setting's name is its flag's (``tile_size`` is ``--tile-size``, and the key of a ``--config`` YAML file); ``where``
says where it is saved (``data.tile_size`` in a run's config.yaml, ``search.trials`` in a search's
pointtune_settings.yaml). This module imports nothing of pointtune but ``trainable.valid_range`` (which imports
nothing): everything may import it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from trainable.valid_range import Valid

# the `--storage` of a search: resume states are saved every RESUME_EVERY epochs on a local disk, every
# RESUME_EVERY_URI epochs to a bucket (uploads); a state is 3x the model (weights and Adam's moments)
RESUME_EVERY, RESUME_EVERY_URI = 2, 4


class _Same:
    def __repr__(self) -> str:
        return "SAME"


SAME: Any = _Same()  # a profile's value is the one on your data


@dataclass(frozen=True)
class Default:
    """One setting's defaults and help.

    Attributes:
        value: the default on your data.
        help: what it means, in the words of ``--help`` (without the default: ``help_text`` adds it).
        demo: with the built-in demo scenes (no ``--data``, or a ``pointtune demo-data`` folder), where it differs.
        clicks: with your own clicks (``--clicks``), where it differs; it wins over ``demo``.
        words: how the default reads where the value alone does not say it (``bands`` ``()``: "all").
        flag: the flag (default ``--NAME``; for a ``True`` default: ``--no-NAME`` turns it off); for a searched
            choice that other flags make, those flags in words (no parser builds it).
        where: where it is saved, ``section.field`` (set from its group in ``TABLE``).
        searched: for the search space: how Optuna samples it (``log-uniform``, ``integers``, ...).
        fixed: for a searched range: the flag of one fixed value (``--lr X`` is ``--lr-range X X``).
        valid: the values a number may take (``Valid``: ``(0, 1]``, ``>= 1``); a range's ends each, LO <= HI.
            The command line and ``--config`` are checked against it when they are read, and so is every config.
        needs: a flag that does nothing without another: the settings that make it count, any one of them
            (``scheduler=asha``: that value; ``unlabeled_loss!=none``: another value; ``resume``: given); a flag
            given without them is refused.
    """

    value: Any
    help: str
    demo: Any = SAME
    clicks: Any = SAME
    words: str = ""
    flag: str | None = None
    where: str = ""
    searched: str = ""
    fixed: str = ""
    valid: str = ""
    needs: tuple[str, ...] = ()


SECOND_STAGE = ("pseudo_labels", "pseudo_labels_range")  # what a setting of self-training's second stage needs

# data: config.yaml's `data` section (trainable.config.DataConfig)
DATA = {
    "data": Default(None, "dataset folder with images/ and semantic/ (or a URI: s3://, gs://, file://)",
                    words="none, the built-in demo scenes read as --format demo", where="data.root"),
    "format": Default(None, "a built-in dataset format, read as it ships: NAME or NAME:OPTION,... (e.g. "
                      "potsdam:irrg,eroded; `pointtune formats` lists them)", words="none, a folder of your own"),
    "classes": Default(None, "class description YAML", words="DATA/classes.yaml", where="data.classes_file"),
    "clicks": Default(None, "your own clicks: a folder of sparse label images (class at clicked pixels, 255 "
                      "elsewhere), a CSV image,x,y,class[,object] or GeoJSON points; dense masks become optional and a "
                      "density is then the share of your clicks kept",
                      words="none, clicks simulated from the dense masks"),
    "val_clicks": Default(100, "clicks per validation image scored as click validation (val_clicks_* metrics), "
                          "simulated from the dense masks; with --clicks your clicks on the validation images; 0: off",
                          valid=">= 0"),
    "tile_size": Default(256, "tile side in pixels", valid="[8, 8192]", demo=64),
    "resize": Default(1.0, "scale images and masks when loading", valid="(0, 8]"),
    "bands": Default((), "bands read from every image, 1-based, e.g. 1,2,3,4; with pretrained weights the first "
                     "three are taken as R, G, B", words="all"),
    "normalize": Default("auto", "input normalisation: ImageNet's statistics (imagenet) or the training split's own "
                         "per band (dataset)", words="auto, imagenet for 8-bit RGB, else dataset"),
    "crops_per_epoch": Default(0, "training crops per epoch", valid=">= 0", demo=96,
                               words="0, as many as cover the training images once"),
    "flips": Default(True, "random flips of training crops"),
    "rotations": Default(True, "random 90-degree rotations of training crops"),
    "color_jitter": Default(0.0, "photometric jitter of training crops, drawn per crop: each band's gain in [1-J, 1+J] "
                            "and offset in [-J, J] band standard deviations, then saturation (a blend with the mean "
                            "of the bands) in [1-J, 1+J]; 0: off", valid="[0, 1)"),
    "scale_jitter": Default(0.0, "random rescaling of training crops: each crop is a window of side T/f resized to T "
                            "px, f log-uniform in [1/(1+R), 1+R]; clicks stay on their pixels; 0: off",
                            valid="[0, 4]"),
    "standardize": Default(False, "standardise every tile the network sees (training crops, validation, test, "
                           "evaluate and predict tiles): each band to zero mean and unit std over the tile, after "
                           "--normalize; the model file keeps it"),
    "adapt_bn": Default(None, "AdaBN: before the test score, re-estimate every BatchNorm's running statistics on the "
                        "images of DIR (no labels: e.g. the site to be mapped); the model file keeps them",
                        words="none: the --unlabeled-images folder where one is given, else none"),
    "split": Default("auto", "official (the --format's own split), seeded (scenes shuffled with --split-seed) or a "
                     "file: YAML/JSON with train/val/test lists of image stems or scene names, or a CSV of name,split "
                     "rows", words="auto, official where the --format defines one, else seeded"),
    "split_seed": Default(0, "seed of the seeded split, apart from --seed", valid=">= 0",
                          needs=("split=auto", "split=seeded")),
    "val_fraction": Default(0.2, "seeded split: share of images (whole scenes) for validation", valid="(0, 1)",
                            needs=("split=auto", "split=seeded")),
    "test_fraction": Default(0.1, "seeded split: share of images (whole scenes) held out for the final test score; "
                             "0: no test part", valid="[0, 1)", needs=("split=auto", "split=seeded")),
    "val_dir": Default(None, "a folder of its own (same layout) as the validation split",
                       words="none, made by --split"),
    "test_dir": Default(None, "a folder of its own (same layout) as the test split", words="none, made by --split"),
    "unlabeled_images": Default(None, "a folder of images without clicks (scenes of the sites to be mapped, the same "
                                "bands; in DIR or DIR/images/): with --pseudo-labels, the second stage also learns "
                                "from their pseudo-labels, and the finished model adapts its BatchNorm statistics "
                                "to them (--adapt-bn); never validation or test images", words="none"),
}

# the clicks a run trains from: config.yaml's `points` section (trainable.config.PointConfig)
POINTS = {
    "density": Default(0.01, "fraction of pixels clicked (1: full masks); with --clicks the share of your clicks kept",
                       valid="(0, 1]", clicks=1.0),
    "clicks_per_object": Default(1, "clicks per object instance (and per background region) instead of a density",
                                 valid=">= 1", words="none, a --density"),
    "background_share": Default(None, "with --clicks-per-object: the share of clicks placed at random on background",
                                valid="[0, 1)", needs=("clicks_per_object", "clicks_per_object_range"),
                                words="none, one click per background region"),
    "class_weights": Default(False, "weight the loss by the inverse click frequency of each class"),
    "min_region_pixels": Default(16, "background regions smaller than this get no click (mask noise, slivers)",
                                 valid=">= 1", needs=("clicks_per_object", "clicks_per_object_range")),
    "seconds_per_click": Default(1.75, "annotation time of one click in seconds, for the annotation cost each trial "
                                 "reports (Papadopoulos et al. 2017: 7 s per box of 4 clicks)", valid="> 0"),
}

# config.yaml's `model` section (trainable.config.ModelConfig)
MODEL = {
    # the demo trains the small stand-in CNN: a DeepLabV3 from random init does not learn in a CPU-minute (measured on
    # the demo scenes, 3 epochs x 24 steps: MobileNetV3 val F1 0.19-0.21, ResNet-50 0.15; the small CNN 0.5-0.6)
    "backbone": Default("resnet50", "DeepLabV3 backbone (tiny: a small stand-in CNN)", demo="tiny"),
    "weights": Default("auto", "auto: ImageNet backbone weights (torchvision's), taken from torchvision's cache or "
                       "downloaded once into it by the driver; offline without the file the run stops and says where "
                       "to put it, unless --allow-random-init; the tiny network has none. Or none, imagenet, coco (the "
                       "whole DeepLabV3), or a state-dict file", demo="none"),
    "allow_random_init": Default(False, "train from scratch if the weights are unavailable"),
}

# config.yaml's `train` section (trainable.config.TrainConfig)
TRAIN = {
    "lr": Default(1e-4, "Adam's peak learning rate", valid="(0, 1)"),
    "epochs": Default(10, "epochs; the learning-rate schedule spans them", valid="[1, 100000]", demo=3),
    "batch_size": Default(8, "crops per batch (at least 2: BatchNorm)", valid="[2, 100000]"),
    "lr_schedule": Default("poly", "learning-rate schedule over the epochs (poly: DeepLab's (1 - progress) ** "
                           "--poly-power)"),
    "poly_power": Default(0.9, "exponent of the poly schedule (DeepLab's)", valid="> 0", needs=("lr_schedule=poly",)),
    "warmup_epochs": Default(0.0, "linear warm-up epochs (may be fractional)", valid=">= 0"),
    "bn_recalibration_batches": Default(8, "batches to re-estimate BatchNorm statistics before each validation "
                                        "(0: off)", valid=">= 0"),
    "weight_decay": Default(0.0, "Adam's weight decay (L2 penalty)", valid="[0, 1)"),
    "metric": Default("val_f1", "validation metric that picks the best epoch and ranks trials (val_clicks_f1 needs no "
                      "dense mask)"),
    "unlabeled_loss": Default("none", "a loss on the unlabelled pixels from the image itself, added to partial "
                              "cross-entropy (`run` searches among several given)"),
    "unlabeled_weight": Default(0.1, "the weight of --unlabeled-loss", valid="[0, 1000)",
                                needs=("unlabeled_loss!=none",)),
    "pseudo_labels": Default(None, "self-training: after the run's epochs, its best model labels the training images' "
                             "pixels whose top class probability is at least THRESHOLD, and the model trains as many "
                             "epochs again on clicks + those pseudo-labels (clicks win)", valid="(0, 1]",
                             words="none, one stage"),
    "pseudo_lr_factor": Default(1.0, "self-training: the second stage's peak learning rate, as a factor of --lr",
                                valid="(0, 10]", needs=SECOND_STAGE),
    "teacher_decay": Default(None, "self-training with a mean teacher: an average of the model's weights (teacher = "
                             "DECAY x teacher + (1 - DECAY) x model after each step) pseudo-labels every crop",
                             valid="(0, 1)", words="none, the stage-1 model labels once", needs=SECOND_STAGE),
    "pseudo_class_share": Default(None, "self-training with per-class thresholds: each class keeps at least its most "
                                  "confident SHARE of the pixels predicted as it", valid="(0, 1]",
                                  words="none, one threshold", needs=SECOND_STAGE),
    "pseudo_weight": Default(None, "self-training: the loss is the clicks' partial cross-entropy + WEIGHT x the "
                             "pseudo-labels' (class-balanced)", valid="(0, 100]",
                             words="none, one class-balanced loss over both", needs=SECOND_STAGE),
    "seed": Default(0, "seed of the simulated annotator, init, crops and search (the split has --split-seed)",
                    valid="[0, 4294967295]", where="points.seed, train.seed"),
    "device": Default("auto", "where the network runs (auto: CUDA when present)"),
}

# how a search runs: pointtune_settings.yaml's top level (search.launch.settings.SearchSettings)
SEARCH = {
    "trials": Default(16, "number of trials", valid="[1, 100000]", demo=6),
    "max_concurrent": Default(0, "trials at once", valid=">= 0", words="0, as many as the resources allow"),
    "cpus_per_trial": Default(1.0, "CPUs of each trial (its torch threads)", valid="> 0"),
    "gpus_per_trial": Default("auto", "auto: 1 where the machine or cluster has GPUs (or its autoscaler can start "
                              "them), else 0; 0 keeps trials on CPUs; 0.5 or 0.25 packs trials on a GPU",
                              valid=">= 0"),
    "sampler": Default("tpe", "Optuna sampler"),
    "scheduler": Default("none", "asha stops weak trials early; the top of --epochs-range is then every trial's "
                         "budget"),
    "grace_period": Default(1, "ASHA: epochs before a trial can be stopped", valid=">= 1", needs=("scheduler=asha",)),
    "reduction_factor": Default(3, "ASHA: keep 1/F of the trials at each rung", valid=">= 2",
                                needs=("scheduler=asha",)),
    "asha_search_epochs": Default(False, "with asha, search the epoch count too (trials then stop at their own count "
                                  "or at a rung)", needs=("scheduler=asha",)),
    "frontier": Default(False, "two objectives: best F1 up and clicks per image down (a Pareto front; with both "
                        "--density-range and --clicks-per-object-range, the click mode is searched too)"),
    "reference": Default("none", "full: after the search, one fully supervised trial (density 1) with the best "
                         "trial's settings, to compare every trial's F1 with"),
    "storage": Default("pointtune-results", "results folder (made if missing; a file there is refused before "
                       "anything starts) or URI (s3://, gs://, NFS path)"),
    "name": Default("", "experiment name: the folder STORAGE/NAME", words="search-DATE-TIME"),
    "address": Default(None, "Ray cluster to join: auto or HOST:PORT", words="none, a new local instance"),
    "max_failures": Default(2, "retries of a trial whose worker died", valid=">= 0"),
    "warm_start": Default((), "earlier searches or `pointtune train` runs whose trials start this search's study "
                          "(Optuna's add_trial: TPE begins from them), where their settings lie inside its space; "
                          "other data, classes, split or metric are refused", words="none, a cold start"),
    "max_annotation_hours": Default(None, "a budget of annotation hours per trial (clicks per image x training "
                                    "images x --seconds-per-click): TPE learns to stay within it (Optuna's "
                                    "constraints), trials beyond it are marked infeasible and never the best",
                                    valid="> 0", words="none, no budget"),
    "max_trial_minutes": Default(None, "a budget of minutes per trial: a trial past it stops after its epoch, its best "
                                 "epoch kept, marked infeasible and never the best; TPE learns to stay within it",
                                 valid="> 0", words="none, no budget"),
    "keep_checkpoints": Default(1, "checkpoints of best epochs kept per trial (weights only)", valid=">= 1"),
    "resume_every": Default(None, "epochs between two saves of a trial's resume state (weights and optimizer: 3x the "
                            "model)", valid=">= 1",
                            words=f"{RESUME_EVERY} with a local --storage, {RESUME_EVERY_URI} with a URI"),
}

# the search space: pointtune_settings.yaml's `space` (search.launch.settings.SearchSpace); Optuna samples each
# setting where it applies to a trial's click mode, and a range whose ends are equal is a constant
SPACE = {
    "lr_range": Default((1e-5, 1e-2), "Adam's peak learning rate", valid="(0, 1)", demo=(1e-4, 3e-2),
                        where="space.lr", searched="log-uniform", fixed="--lr"),
    "density_range": Default((1e-4, 1e-1), "fraction of pixels clicked (with --clicks: share of your clicks kept)",
                             valid="(0, 1]", demo=(1e-3, 1e-1), clicks=(0.05, 1.0), where="space.density",
                             searched="log-uniform", fixed="--density"),
    "clicks_per_object_range": Default(None, "clicks per object instead of a density", valid=">= 1",
                                       where="space.clicks_per_object", words="none, a density is searched",
                                       searched="integers", fixed="--clicks-per-object"),
    "epochs_range": Default((2, 12), "epochs (the length of the learning-rate schedule)", valid="[1, 100000]",
                            demo=(1, 4), where="space.epochs", searched="integers", fixed="--epochs"),
    "click_mode": Default(False, "the click mode, density or clicks per object", where="space.both_modes",
                          flag="--density-range with --clicks-per-object-range", words="not searched",
                          searched="categorical"),
    "background_share_range": Default(None, "with --clicks-per-object-range: the share of clicks on background (a "
                                      "prior-aware annotator)", valid="[0, 1)", needs=("clicks_per_object_range",),
                                      where="space.background_share", words="not searched", searched="uniform"),
    "search_class_weights": Default(False, "whether the loss weights classes by inverse click frequency",
                                    where="space.class_weights", words="not searched",
                                    searched="categorical (off, on)"),
    "unlabeled_losses": Default((), "the loss on the unlabelled pixels, among those given", flag="--unlabeled-loss "
                                "with several", where="space.unlabeled_losses", words="not searched",
                                searched="categorical"),
    "unlabeled_weight_range": Default(None, "the weight of --unlabeled-loss", valid="(0, 1000)",
                                      needs=("unlabeled_loss!=none",), where="space.unlabeled_weight",
                                      words="not searched", searched="log-uniform"),
    "color_jitter_range": Default(None, "photometric jitter of training crops", valid="[0, 1)",
                                  where="space.color_jitter", words="not searched", searched="uniform",
                                  fixed="--color-jitter"),
    "scale_jitter_range": Default(None, "random rescaling of training crops", valid="[0, 4]",
                                  where="space.scale_jitter", words="not searched", searched="uniform",
                                  fixed="--scale-jitter"),
    "search_standardize": Default(False, "whether every tile is standardised per band", where="space.standardize",
                                  words="not searched", searched="categorical (off, on)"),
    "pseudo_labels_range": Default(None, "the pseudo-label threshold of a second, self-training stage", valid="(0, 1]",
                                   where="space.pseudo_labels", words="not searched, no second stage",
                                   searched="uniform", fixed="--pseudo-labels"),
    "pseudo_lr_factor_range": Default(None, "the second stage's peak learning rate, as a factor of --lr",
                                      valid="(0, 10]", needs=SECOND_STAGE, where="space.pseudo_lr_factor",
                                      words="not searched, 1", searched="log-uniform", fixed="--pseudo-lr-factor"),
    "teacher_decay_range": Default(None, "the decay of the second stage's mean teacher", valid="(0, 1)",
                                   needs=SECOND_STAGE, where="space.teacher_decay", words="not searched, no teacher",
                                   searched="uniform", fixed="--teacher-decay"),
    "pseudo_class_share_range": Default(None, "the share of each class the second stage's per-class thresholds "
                                        "keep", valid="(0, 1]", needs=SECOND_STAGE, where="space.pseudo_class_share",
                                        words="not searched, one threshold", searched="uniform",
                                        fixed="--pseudo-class-share"),
    "pseudo_weight_range": Default(None, "the weight of the second stage's pseudo-label term", valid="(0, 100]",
                                   needs=SECOND_STAGE, where="space.pseudo_weight", words="not searched, one loss",
                                   searched="log-uniform", fixed="--pseudo-weight"),
}

# the other commands' own flags
COMMANDS = {
    "train_out": Default("runs/train", "`train`'s output folder", flag="--out", where="train --out"),
    "like": Default(None, "train with the settings of this `train` run or search (its best trial), the flags given "
                    "overriding them: a next round with --clicks", where="train --like", words="none"),
    "target": Default(0.95, "share of the best score the frontier marks", valid="(0, 1]", needs=("frontier",),
                      where="results, plot, report --target"),
    "output": Default("table", "how a command prints what it shows", where="results, evaluate --output"),
    "part": Default("test", "the part of the model's split `evaluate` scores", where="evaluate --part"),
    "suggest_part": Default("train", "the images `suggest` clicks on", flag="--part", where="suggest --part"),
    "strategy": Default("margin", "where `suggest` clicks (margin: the highest mean on Dubai, +0.05 [-0.01, +0.11] "
                        "F1 over random, not detectable; benchmarks/active_clicks.py)", where="suggest --strategy"),
    "demo_images": Default(24, "number of synthetic scenes to write", valid="[1, 10000]", flag="--images",
                           where="demo-data --images"),
    "demo_size": Default(128, "side of each scene in pixels", valid="[32, 8192]", flag="--size",
                         where="demo-data --size"),
    "clicks_per_image": Default(None, "clicks suggested per image", valid="[1, 100000]", words="none, required",
                                where="suggest --clicks-per-image"),
    "radius": Default(None, "no two clicks (old or new) closer than this, in pixels of the image", valid=">= 0",
                      words="sqrt(H*W/(pi*n))/2 for n clicks on the image, old and new: their spacing disks cover a "
                      "sixteenth of it", where="suggest --radius"),
    "inference_batch_size": Default(8, "tiles per batch", valid="[1, 100000]", flag="--batch-size",
                                    where="evaluate, predict, suggest --batch-size"),
    "retry_failed": Default(False, "with --resume: run the failed trials again", needs=("resume",),
                            where="run --retry-failed"),
}

GROUPS: dict[str, dict[str, Default]] = {"data": DATA, "points": POINTS, "model": MODEL, "train": TRAIN,
                                         "search": SEARCH, "space": SPACE, "commands": COMMANDS}


def _table() -> dict[str, Default]:
    table: dict[str, Default] = {}
    for section, group in GROUPS.items():
        for name, entry in group.items():
            assert name not in table, f"{name} is in two groups of the defaults table"
            flag = entry.flag if entry.flag is not None else (
                "--no-" + name.replace("_", "-") if entry.value is True else "--" + name.replace("_", "-"))
            if entry.valid:
                Valid.parse(entry.valid)  # written as it is read
            table[name] = dataclasses.replace(entry, flag=flag, where=entry.where or f"{section}.{name}")
    return table


TABLE: dict[str, Default] = _table()


def default(name: str) -> Any:
    """The default of a setting on your data (a dataclass field's default: ``tile_size: int = default("tile_size")``).

    Raises:
        KeyError: no such setting; the message lists them.
    """
    try:
        return TABLE[name].value
    except KeyError:
        raise KeyError(f"no default {name!r} in trainable.defaults; settings: {', '.join(TABLE)}") from None


def setting_at(section: str, field: str) -> str | None:
    """The setting saved as ``section.field`` (``data.tile_size`` -> ``tile_size``), or None."""
    return _WHERE.get(f"{section}.{field}")


_WHERE = {w: name for name, entry in TABLE.items() for w in entry.where.split(", ")}


def profile(demo: bool = False, clicks: bool = False) -> dict[str, Any]:
    """Every setting's default for a run: on your data, with the demo scenes, and/or with your own clicks (which win
    over the demo's where both say something)."""
    values = {}
    for name, entry in TABLE.items():
        value = entry.value
        if demo and entry.demo is not SAME:
            value = entry.demo
        if clicks and entry.clicks is not SAME:
            value = entry.clicks
        values[name] = value
    return values
