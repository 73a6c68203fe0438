"""The one schema of a trial: typed, frozen dataclasses that flow from the CLI through the search into training.

A trial's configuration travels through Ray as a plain nested dict (``TrialConfig.to_dict``) and is rebuilt and
validated on the worker with ``TrialConfig.from_dict``. Every setting that changes a result is here, seeds included,
and the resolved config is saved inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from trainable.defaults import default
from trainable.errors import ConfigError
from trainable.setting_text import check_ranges

IGNORE_INDEX = 255  # label of unlabelled / ignored pixels everywhere (sparse point masks, ignore colours)

Backbone = Literal["resnet50", "resnet101", "mobilenet_v3_large", "tiny"]
BACKBONES: tuple[str, ...] = ("resnet50", "resnet101", "mobilenet_v3_large", "tiny")
PointMode = Literal["density", "per_instance"]
LrSchedule = Literal["poly", "cosine", "constant"]
LR_SCHEDULES: tuple[str, ...] = ("poly", "cosine", "constant")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")  # auto: CUDA when present
NORMALIZATIONS: tuple[str, ...] = ("auto", "imagenet", "dataset")
# validation metrics a search may rank by (all "higher is better", in [0, 1]); the objective is best_<metric>
# ``val_clicks_*``: the same metrics on held-out validation clicks instead of dense masks (data with clicks only)
DENSE_F1, CLICKS_F1 = "val_f1", "val_clicks_f1"  # validation F1 on dense masks, on held-out clicks
METRICS: tuple[str, ...] = ("val_f1", "val_miou", "val_oa", "val_precision", "val_recall", "val_clicks_f1",
                            "val_clicks_miou", "val_clicks_oa", "val_clicks_precision", "val_clicks_recall")
UNLABELED_LOSSES: tuple[str, ...] = ("none", "gated_crf", "affinity", "entropy")


# (section, key) of a saved config before 0.2 -> its key now: experiments, train folders and models written then
# still load
FORMER_KEYS = {("data", "points"): "clicks", ("data", "val_points"): "val_clicks",
               ("points", "points_per_instance"): "clicks_per_object"}
# metric and column names before 0.2 -> now (results of older experiments, --metric val_points_f1); a prefix maps
# every name that starts with it (val_points_f1 -> val_clicks_f1)
FORMER_NAMES = {"points_per_image": "clicks_per_image", "points_per_instance": "clicks_per_object"}
FORMER_PREFIXES = {"val_points_": "val_clicks_", "test_points_": "test_clicks_", "best_val_points_": "best_val_clicks_"}


def saved_data_config(payload: dict[str, Any]) -> dict[str, Any]:
    """The data section of a saved config (a model file's, a checkpoint's), its keys spelt as now."""
    data = (payload.get("config") or {}).get("data") or {}
    return {FORMER_KEYS.get(("data", k), k): v for k, v in data.items()}


def current_name(name: str) -> str:
    """A metric or column name as pointtune spells it now (``val_points_f1`` -> ``val_clicks_f1``)."""
    for old, new in FORMER_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old):]
    return FORMER_NAMES.get(name, name)


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is cut into tiles.

    Attributes:
        root: dataset folder with ``images/``, ``semantic/`` and optional ``instance/`` (absolute path).
        format: name of a built-in class description (``demo``, ``dubai_aerial``), or None.
        classes_file: path of a class description YAML; None looks for ``classes.yaml`` in ``root``.
        tile_size: side of the square training crops and validation tiles, in pixels.
        resize: scale factor applied to every image and mask when loaded (1.0 keeps the size).
        flips: random horizontal and vertical flips of training crops.
        rotations: random 90-degree rotations of training crops.
        color_jitter: photometric jitter of training crops (``trainable.data.augment``): per band a gain in
            [1-J, 1+J] and an offset in [-J, J] standard deviations, then a saturation in [1-J, 1+J]; 0: off.
        scale_jitter: random rescaling of training crops: a window of side T/f resized to T, f log-uniform in
            [1/(1+R), 1+R]; 0: off.
        standardize: every tile the network sees, each band to zero mean and unit std over the tile (after the
            normalisation); kept in the model file, so evaluate and predict do the same.
        adapt_bn: a folder of images the finished model's BatchNorm statistics are re-estimated on (AdaBN) before
            its test score (``search.model.adapt``); trials do not use it. None: those of ``unlabeled_images``
            where it is given (``adaptation_folder``).
        val_fraction: share of images (whole scenes) held out for validation (seeded split).
        test_fraction: share of images (whole scenes) held out for the final test score (seeded split).
        split: ``auto`` (the dataset's official split where its format defines one, else seeded), ``official``,
            ``seeded`` (scenes shuffled with ``split_seed``) or the path of a split file (YAML/JSON mapping
            ``train``/``val``/``test`` to lists of stems or scene names, or a CSV of ``name,split`` rows).
        split_seed: seed of the seeded split, separate from the annotator and training seeds.
        val_dir: a folder of its own (same layout) used as the validation split; the data folder is then training.
        test_dir: a folder of its own (same layout) used as the test split.
        crops_per_epoch: training crops per epoch; 0 means enough to cover the training pixels once.
        bands: 1-based bands read from every image (``--bands 1,2,3,4``); empty: all of them.
        clicks: the user's own clicks (a folder of sparse label images, a CSV ``image,x,y,class[,object]`` or
            GeoJSON points): training clicks are then chosen among them instead of simulated from dense masks,
            and dense masks become optional (``trainable.labels.user_points``).
        val_clicks: clicks per validation image scored as click validation (``val_clicks_*`` metrics): simulated
            at random valid pixels of the dense mask (seeded, never the training clicks: validation images are
            other scenes); with ``clicks`` every click of the user's on validation images is used; 0 turns point
            validation off where dense masks exist.
        normalize: ``auto`` (ImageNet statistics for 8-bit RGB, the training split's own per band otherwise),
            ``imagenet`` or ``dataset``.
        mean, std: per-band statistics inputs are normalised with, in the files' units; filled in by the driver
            from ``normalize`` (empty before).
        unlabeled_images: a folder of images without clicks or masks (``DIR`` or ``DIR/images/``), learnt from in
            a self-training second stage only, through their pseudo-labels (``TrainConfig.pseudo_labels``); never
            part of the split (``trainable.data.unlabeled``).
    """

    root: str = ""
    format: str | None = default("format")
    classes_file: str | None = default("classes")
    tile_size: int = default("tile_size")
    resize: float = default("resize")
    flips: bool = default("flips")
    rotations: bool = default("rotations")
    color_jitter: float = default("color_jitter")
    scale_jitter: float = default("scale_jitter")
    standardize: bool = default("standardize")
    val_fraction: float = default("val_fraction")
    test_fraction: float = default("test_fraction")
    split: str = default("split")
    split_seed: int = default("split_seed")
    val_dir: str | None = default("val_dir")
    test_dir: str | None = default("test_dir")
    crops_per_epoch: int = default("crops_per_epoch")
    bands: tuple[int, ...] = default("bands")
    clicks: str | None = default("clicks")
    val_clicks: int = default("val_clicks")
    normalize: str = default("normalize")
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    unlabeled_images: str | None = default("unlabeled_images")
    adapt_bn: str | None = default("adapt_bn")

    @property
    def adaptation_folder(self) -> str | None:
        """The folder the finished model adapts its BatchNorm statistics to before its test score: ``adapt_bn``,
        else the unlabelled images of the site to be mapped (``unlabeled_images``), else None."""
        return self.adapt_bn or self.unlabeled_images

    def validate(self) -> None:
        check_ranges(self, "data")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(f"--test-fraction {self.test_fraction:g} with --val-fraction {self.val_fraction:g} "
                              "leaves no image for training: lower one of them, e.g. --test-fraction 0.1")
        if any(b < 1 for b in self.bands) or len(set(self.bands)) != len(self.bands):
            raise ConfigError(f"--bands {','.join(map(str, self.bands))}: give distinct 1-based band numbers, e.g. "
                              "--bands 1,2,3,4")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize {self.normalize!r}: use auto, imagenet or dataset")
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ConfigError("mean and std need one positive std per band")


@dataclass(frozen=True)
class PointConfig:
    """How sparse point labels are simulated from the dense masks.

    Attributes:
        mode: ``density`` labels a random fraction of pixels; ``per_instance`` clicks inside objects.
        density: fraction of (non-ignored) pixels labelled in ``density`` mode; 1.0 is full supervision. With the
            user's own clicks (``DataConfig.clicks``): the share of their clicks kept, per image, nested.
        clicks_per_object: clicks per object instance (and per background region) in ``per_instance`` mode;
            with the user's own clicks: the first K clicks of each object id they gave.
        background_share: in ``per_instance`` mode, the share of all clicks placed at random on background
            (classes without instances); None clicks once per connected background region instead.
        min_region_pixels: background regions smaller than this get no click (mask noise, slivers).
        class_weights: weight the loss by inverse class frequency among the training points.
        seed: seed of the simulated annotator; points are frozen per image for a seed.
        order_up_to, clicks_up_to, share_up_to: how far the clicks each node computes and caches per image go
            (a search sets the top of its ranges, so that its trials share them); results do not depend on them.
        seconds_per_click: annotation time of one click, for the annotation cost a run reports.
    """

    mode: PointMode = "density"
    density: float = default("density")
    clicks_per_object: int = default("clicks_per_object")
    background_share: float | None = default("background_share")
    min_region_pixels: int = default("min_region_pixels")
    class_weights: bool = default("class_weights")
    seed: int = default("seed")
    order_up_to: float = 0.0
    clicks_up_to: int = 0
    share_up_to: float | None = None
    seconds_per_click: float = default("seconds_per_click")

    def validate(self) -> None:
        if self.mode not in ("density", "per_instance"):
            raise ConfigError(f"points mode {self.mode!r}: use 'density' or 'per_instance'")
        check_ranges(self, "points")


@dataclass(frozen=True)
class ModelConfig:
    """The segmentation network.

    Attributes:
        backbone: DeepLabV3 backbone; ``tiny`` is a small stand-in CNN for fast tests.
        in_channels: input bands; with pretrained weights and more than 3, the first convolution is widened and
            keeps its RGB filters for the first three bands.
        weights: ``auto``: ImageNet backbone weights (torchvision's), taken from torchvision's cache or downloaded
            once into it by the driver; offline without the file the run stops and says where to put it, unless
            ``allow_random_init``; the tiny network has none. Or ``none``, ``imagenet`` (as auto, an error for
            tiny), ``coco`` (whole DeepLabV3, COCO-VOC labels), or a path to a state dict.
        allow_random_init: when requested weights cannot be found or downloaded, continue from random init
            instead of stopping.
        weights_source, weights_sha256, weights_note: what ``weights`` resolved to (file or URL, its SHA-256, and
            a sentence), filled in once by the driver; empty before.
    """

    backbone: Backbone = default("backbone")
    in_channels: int = 3
    weights: str = default("weights")
    allow_random_init: bool = default("allow_random_init")
    weights_source: str = ""
    weights_sha256: str = ""
    weights_note: str = ""

    def validate(self) -> None:
        if self.in_channels < 1:
            raise ConfigError(f"in_channels={self.in_channels}: need at least one input band")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone {self.backbone!r} is unknown: choose one of {', '.join(BACKBONES)}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        lr: Adam's peak learning rate (after warm-up; the schedule decays it from there).
        epochs: number of epochs (counted from 1); the learning-rate schedule spans them.
        lr_schedule: ``poly`` (DeepLab's ``(1 - progress) ** poly_power``), ``cosine`` or ``constant``.
        poly_power: exponent of the poly schedule (0.9 as in DeepLab and torchvision's references).
        warmup_epochs: linear warm-up from 0 over this many epochs (may be fractional; 0 = none).
        batch_size: training crops per batch (at least 2: every backbone has BatchNorm).
        weight_decay: Adam weight decay.
        bn_recalibration_batches: training batches used to re-estimate BatchNorm statistics before each
            validation (0 disables). Short runs need it: MobileNetV3's BN momentum of 0.01 leaves running
            statistics far behind the weights after a few hundred steps.
        seed: seed of weights init, crops and augmentation.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        num_threads: torch CPU threads (0 leaves torch's default).
        metric: the validation metric that picks the best epoch (and ranks trials in a search).
        resume_every: epochs between two saves of the state to resume from (weights and optimizer).
        unlabeled_loss: a loss on the unlabelled pixels computed from the image itself, added to partial
            cross-entropy: ``none``, ``gated_crf``, ``affinity`` or ``entropy`` (``trainable.learn.unlabeled_loss``).
        unlabeled_weight: its weight.
        max_minutes: a search's budget of minutes per trial (``--max-trial-minutes``): the run stops after the
            epoch that passes it, its best epoch kept; None: no budget.
        pseudo_labels: the threshold of a second, self-training stage (``trainable.self_training``): after
            ``epochs`` epochs, the best epoch's model labels the pixels of the training images whose top class
            probability is at least this, and the model trains ``epochs`` more epochs (``epochs + 1`` to
            ``2 * epochs``) on the clicks and those pseudo-labels; None: one stage.
        pseudo_lr_factor, teacher_decay, pseudo_class_share, pseudo_weight: how the second stage learns (its
            peak learning rate as a factor of ``lr``; a mean teacher's decay; per-class thresholds' share; the
            pseudo-labels' own loss term and its weight): ``trainable.learn.stage_two_loss``. None (1 for the
            factor): as without them.
    """

    lr: float = default("lr")
    epochs: int = default("epochs")
    lr_schedule: LrSchedule = default("lr_schedule")
    poly_power: float = default("poly_power")
    warmup_epochs: float = default("warmup_epochs")
    batch_size: int = default("batch_size")
    weight_decay: float = default("weight_decay")
    bn_recalibration_batches: int = default("bn_recalibration_batches")
    seed: int = default("seed")
    device: str = default("device")
    num_threads: int = 0
    metric: str = default("metric")
    resume_every: int = 1
    unlabeled_loss: str = default("unlabeled_loss")
    unlabeled_weight: float = default("unlabeled_weight")
    pseudo_labels: float | None = default("pseudo_labels")
    pseudo_lr_factor: float = default("pseudo_lr_factor")
    teacher_decay: float | None = default("teacher_decay")
    pseudo_class_share: float | None = default("pseudo_class_share")
    pseudo_weight: float | None = default("pseudo_weight")
    max_minutes: float | None = None  # a search's --max-trial-minutes: the run stops after the epoch that passes it

    def validate(self) -> None:
        check_ranges(self, "train")
        stage_two = {"--pseudo-lr-factor": self.pseudo_lr_factor != 1.0, "--teacher-decay": self.teacher_decay,
                     "--pseudo-class-share": self.pseudo_class_share, "--pseudo-weight": self.pseudo_weight}
        idle = [flag for flag, given in stage_two.items() if given is not None and given is not False]
        if idle and self.pseudo_labels is None:
            raise ConfigError(f"{idle[0]} sets how self-training's second stage learns, and there is none: add "
                              "--pseudo-labels THRESHOLD (in a search, or --pseudo-labels-range LO HI)")
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r}: use auto, cpu or cuda")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule {self.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}")
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(f"--warmup-epochs {self.warmup_epochs:g} must be below --epochs {self.epochs}: the "
                              "schedule would end during its warm-up")
        if self.resume_every < 1:
            raise ConfigError(f"resume_every={self.resume_every}: save the resume state every 1 or more epochs")
        if self.unlabeled_loss not in UNLABELED_LOSSES:
            raise ConfigError(f"unlabeled_loss {self.unlabeled_loss!r}: use one of {', '.join(UNLABELED_LOSSES)}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric {self.metric!r}: use one of {', '.join(METRICS)}")

    @property
    def objective(self) -> str:
        """What a trial reports as its best-so-far score: ``best_<metric>``."""
        return f"best_{self.metric}"

    @property
    def stages(self) -> int:
        """1, or 2 with self-training (``pseudo_labels``)."""
        return 1 if self.pseudo_labels is None else 2

    @property
    def total_epochs(self) -> int:
        """The epochs a run reports, both stages together: ``epochs`` per stage."""
        return self.epochs * self.stages


def planned_epochs(config: dict[str, Any]) -> int:
    """The epochs a run's config (``TrialConfig.to_dict``, as saved and as Tune holds it) plans over its stages:
    ``train.epochs``, twice with self-training."""
    train = config.get("train", {})
    return int(train.get("epochs", 0)) * (1 if train.get("pseudo_labels") is None else 2)


@dataclass(frozen=True)
class TrialConfig:
    """Everything one training run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    points: PointConfig = field(default_factory=PointConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> TrialConfig:
        for part in (self.data, self.points, self.model, self.train):
            part.validate()
        if self.data.unlabeled_images and self.train.pseudo_labels is None:
            raise ConfigError(f"--unlabeled-images {self.data.unlabeled_images}: those images have no clicks and are "
                              "learnt from through pseudo-labels only; add --pseudo-labels THRESHOLD (in a search, or "
                              "--pseudo-labels-range LO HI), e.g. --pseudo-labels 0.9")
        return self

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialConfig:
        """Rebuild (and validate) a config from ``to_dict`` output; unknown keys are an error. Keys of configs
        written before the settings were renamed (``FORMER_KEYS``) are read under their new names."""
        parts = {}
        for f in fields(cls):
            section_type = {"data": DataConfig, "points": PointConfig, "model": ModelConfig,
                            "train": TrainConfig}[f.name]
            values = {FORMER_KEYS.get((f.name, k), k): v for k, v in d.get(f.name, {}).items()}
            if f.name == "train" and isinstance(values.get("metric"), str):  # a config of 0.1 ranked by val_points_f1
                values["metric"] = current_name(values["metric"])
            known = {sf.name for sf in fields(section_type)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(f"unknown setting(s) {sorted(unknown)} in section {f.name!r}; known: {sorted(known)}")
            parts[f.name] = section_type(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        unknown_sections = set(d) - {f.name for f in fields(cls)}
        if unknown_sections:
            raise ConfigError(f"unknown config section(s) {sorted(unknown_sections)}")
        return cls(**parts).validate()

    def replace(self, **sections: dict[str, Any]) -> TrialConfig:
        """Copy with some fields of some sections changed: ``cfg.replace(train={"lr": 1e-3})``."""
        return TrialConfig(**{
            f.name: dataclasses.replace(getattr(self, f.name), **sections.get(f.name, {})) for f in fields(self)
        })
