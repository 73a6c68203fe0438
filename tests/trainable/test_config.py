"""The typed config (trainable/config.py): its defaults are the defaults table's, it travels as a plain dict (as
Ray passes it) and comes back equal, and a bad value is refused with a ``ConfigError`` naming the setting."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from trainable.config import (
    ConfigError,
    DataConfig,
    ModelConfig,
    PointConfig,
    TrainConfig,
    TrialConfig,
    current_name,
    planned_epochs,
)
from trainable.defaults import TABLE

SECTIONS = {"data": DataConfig, "points": PointConfig, "model": ModelConfig, "train": TrainConfig}
# settings saved in a config whose dataclass default is not the table's value, and why
NOT_THE_TABLES = {"data.root": "--data none means the demo scenes; the CLI resolves it to a folder before a config"}


def _saved_in_config() -> list[tuple[str, str, str]]:
    """(setting, section, field) of every table entry saved in a config section."""
    found = []
    for name, entry in TABLE.items():
        for where in entry.where.split(", "):
            section, _, field = where.partition(".")
            if section in SECTIONS and where not in NOT_THE_TABLES:
                found.append((name, section, field))
    return found


@pytest.mark.parametrize(("name", "section", "field"), _saved_in_config(), ids=lambda v: str(v))
def test_each_fields_default_is_the_defaults_tables(name: str, section: str, field: str) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(SECTIONS[section])}
    assert field in defaults, f"{name} is saved as {section}.{field}, which the config lacks"
    assert defaults[field] == TABLE[name].value


def test_the_table_covers_the_config_and_the_default_config_is_valid() -> None:
    assert len(_saved_in_config()) >= 35  # every setting of the four sections but --data
    cfg = TrialConfig()
    assert cfg.validate() is cfg
    assert (cfg.train.lr, cfg.train.epochs, cfg.data.tile_size, cfg.points.density) == (1e-4, 10, 256, 0.01)


def _non_default() -> TrialConfig:
    return TrialConfig(data=DataConfig(root="/data/x", tile_size=32, bands=(1, 2, 3, 4), mean=(1.0, 2.0, 3.0, 4.0),
                                       std=(0.5, 0.5, 0.5, 0.5), split="split.yaml"),
                       points=PointConfig(mode="per_instance", clicks_per_object=3, background_share=0.2, seed=7),
                       model=ModelConfig(backbone="tiny", in_channels=4, weights="none"),
                       train=TrainConfig(lr=3e-3, epochs=4, lr_schedule="cosine", warmup_epochs=0.5,
                                         pseudo_labels=0.9, max_minutes=2.5, metric="val_miou"))


def test_a_config_round_trips_through_a_plain_dict_as_ray_and_json_pass_it() -> None:
    cfg = _non_default()
    plain = json.loads(json.dumps(cfg.to_dict()))  # tuples become lists on the way
    assert plain["data"]["bands"] == [1, 2, 3, 4]
    back = TrialConfig.from_dict(plain)
    assert back == cfg and back.data.bands == (1, 2, 3, 4) and isinstance(back.data.mean, tuple)
    assert TrialConfig.from_dict({}) == TrialConfig(), "a missing section is its defaults"
    assert TrialConfig.from_dict({"train": {"epochs": 3}}).train == TrainConfig(epochs=3)


def test_a_config_saved_before_the_renames_reads_under_the_new_names() -> None:
    old = {"data": {"points": "clicks.csv", "val_points": 5}, "points": {"points_per_instance": 2},
           "train": {"metric": "val_points_f1"}}
    cfg = TrialConfig.from_dict(old)
    assert (cfg.data.clicks, cfg.data.val_clicks, cfg.points.clicks_per_object) == ("clicks.csv", 5, 2)
    assert cfg.train.metric == "val_clicks_f1"
    assert current_name("best_val_points_f1") == "best_val_clicks_f1"
    assert current_name("points_per_image") == "clicks_per_image" and current_name("val_f1") == "val_f1"


def test_unknown_settings_and_sections_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['learning_rate'\] in section 'train'"):
        TrialConfig.from_dict({"train": {"learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match=r"unknown config section\(s\) \['optim'\]"):
        TrialConfig.from_dict({"optim": {}})


# (section, values, what the message says: the flag or setting, and the value)
BAD = [
    ("train", {"lr": 0}, "--lr 0: use a value in (0, 1)"),
    ("train", {"lr": 1.5}, "--lr 1.5"),
    ("train", {"epochs": 0}, "--epochs 0: use a value in [1, 100000]"),
    ("train", {"batch_size": 1}, "--batch-size 1"),
    ("train", {"poly_power": 0}, "--poly-power 0: use a value > 0"),
    ("train", {"warmup_epochs": -1}, "--warmup-epochs -1"),
    ("train", {"warmup_epochs": 3, "epochs": 3}, "--warmup-epochs 3 must be below --epochs 3"),
    ("train", {"unlabeled_weight": 1000}, "--unlabeled-weight 1000"),
    ("train", {"pseudo_labels": 0}, "--pseudo-labels 0"),
    ("train", {"seed": -1}, "--seed -1"),
    ("train", {"bn_recalibration_batches": -2}, "--bn-recalibration-batches -2"),
    ("train", {"lr_schedule": "step"}, "lr_schedule 'step': use one of poly, cosine, constant"),
    ("train", {"metric": "val_loss"}, "metric 'val_loss'"),
    ("train", {"device": "tpu"}, "device 'tpu'"),
    ("train", {"unlabeled_loss": "crf"}, "unlabeled_loss 'crf'"),
    ("train", {"resume_every": 0}, "resume_every=0"),
    ("data", {"tile_size": 4}, "--tile-size 4"),
    ("data", {"resize": 0}, "--resize 0"),
    ("data", {"val_fraction": 0}, "--val-fraction 0"),
    ("data", {"val_fraction": 0.6, "test_fraction": 0.4}, "--test-fraction 0.4 with --val-fraction 0.6"),
    ("data", {"crops_per_epoch": -1}, "--crops-per-epoch -1"),
    ("data", {"val_clicks": -1}, "--val-clicks -1"),
    ("data", {"bands": [0, 1]}, "--bands 0,1"),
    ("data", {"bands": [1, 1]}, "--bands 1,1"),
    ("data", {"normalize": "zscore"}, "normalize 'zscore'"),
    ("data", {"mean": [0.5], "std": []}, "mean and std need one positive std per band"),
    ("data", {"mean": [0.5], "std": [0.0]}, "mean and std need one positive std per band"),
    ("data", {"unlabeled_images": "/x/unlabeled"}, "--unlabeled-images /x/unlabeled"),
    ("points", {"density": 0}, "--density 0: use a value in (0, 1]"),
    ("points", {"density": 1.5}, "--density 1.5"),
    ("points", {"clicks_per_object": 0}, "--clicks-per-object 0"),
    ("points", {"background_share": 1.0}, "--background-share 1"),
    ("points", {"seconds_per_click": 0}, "--seconds-per-click 0"),
    ("points", {"mode": "grid"}, "points mode 'grid'"),
    ("model", {"backbone": "vgg16"}, "backbone 'vgg16' is unknown"),
    ("model", {"in_channels": 0}, "in_channels=0"),
]


@pytest.mark.parametrize(("section", "values", "says"), BAD, ids=[f"{s}-{'-'.join(v)}" for s, v, _ in BAD])
def test_a_bad_value_is_refused_naming_the_setting(section: str, values: dict, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        TrialConfig.from_dict({section: values})  # as a trial rebuilds it from Ray's dict
    assert says in str(e.value)
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    with pytest.raises(ConfigError) as e:  # the same config built in Python and validated
        TrialConfig().replace(**{section: typed}).validate()
    assert says in str(e.value)


@pytest.mark.parametrize("text", ["train:\n  lr: 1e-3\n", "train:\n  epochs: '3'\n", "train:\n  epochs: 2.5\n"])
def test_a_value_of_the_wrong_type_is_refused_naming_the_setting(text: str) -> None:
    """What `train --resume` reads from a train folder's config.yaml, edited by hand."""
    with pytest.raises(ConfigError, match=r"--lr|--epochs"):
        TrialConfig.from_dict(yaml.safe_load(text))


def test_replace_changes_only_the_fields_given() -> None:
    cfg = _non_default()
    changed = cfg.replace(train={"lr": 1e-2}, data={"tile_size": 64})
    assert (changed.train.lr, changed.data.tile_size) == (1e-2, 64)
    assert changed.train.epochs == 4 and changed.points == cfg.points and cfg.train.lr == 3e-3


def test_epochs_over_the_stages() -> None:
    one, two = TrainConfig(epochs=3), TrainConfig(epochs=3, pseudo_labels=0.8)
    assert (one.stages, one.total_epochs, two.stages, two.total_epochs) == (1, 3, 2, 6)
    assert planned_epochs(TrialConfig(train=two).to_dict()) == 6 and planned_epochs({"train": {"epochs": 3}}) == 3
    assert TrainConfig(metric="val_miou").objective == "best_val_miou"
