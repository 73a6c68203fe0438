"""The defaults table: every default once, the dataclasses and the profiles read from it."""

from __future__ import annotations

import dataclasses

import pytest

from search.launch.settings import SearchSettings, SearchSpace
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
from trainable.defaults import TABLE, default, profile
from trainable.setting_text import help_text, shown


@pytest.mark.parametrize("cls, section", [(DataConfig, "data"), (PointConfig, "points"), (ModelConfig, "model"),
                                          (TrainConfig, "train"), (SearchSettings, "search"),
                                          (SearchSpace, "space")])
def test_every_dataclass_field_of_a_setting_takes_the_tables_default(cls: type, section: str) -> None:
    where = {field: entry for entry in TABLE.values() for w in entry.where.split(", ")
             for s, _, field in [w.partition(".")] if s == section or (section == "search" and w == "train.seed")}
    checked = 0
    for f in dataclasses.fields(cls):
        if f.name in where and f"{section}.{f.name}" != "data.root":  # no --data: the demo scenes; a config has one
            assert f.default == where[f.name].value, f"{cls.__name__}.{f.name}"
            checked += 1
    assert checked >= 3, f"{cls.__name__}: the table names none of its fields"


def test_profiles_differ_where_the_demo_or_your_clicks_do() -> None:
    data, demo, clicks = profile(), profile(demo=True), profile(clicks=True)
    assert (data["tile_size"], demo["tile_size"]) == (256, 64)
    assert (data["trials"], demo["trials"]) == (16, 6)
    assert (data["backbone"], demo["backbone"]) == ("resnet50", "tiny")
    assert (data["weights"], demo["weights"]) == ("auto", "none")
    assert clicks["density"] == 1.0 and clicks["density_range"] == (0.05, 1.0)
    assert profile(demo=True, clicks=True)["density_range"] == (0.05, 1.0), "your clicks win over the demo's"
    assert data["batch_size"] == demo["batch_size"] == TrainConfig().batch_size == 8
    assert TrialConfig().data.tile_size == default("tile_size")


def test_values_read_as_one_types_them() -> None:
    assert [shown(v) for v in (1e-4, 1e-5, 0.03, 0.01, 1.0, 1.75, (1e-5, 1e-2), True, None, ())] == [
        "1e-4", "1e-5", "0.03", "0.01", "1", "1.75", "1e-5 0.01", "on", "none", "none"]
    assert help_text("tile_size") == "tile side in pixels (default 256; demo 64; valid [8, 8192])"
    assert help_text("bands").endswith("(default all)")


def test_an_unknown_setting_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no default 'tile' in trainable\.defaults; settings: data, format"):
        default("tile")


def test_every_entry_has_help_and_a_flag() -> None:
    for name, entry in TABLE.items():
        assert entry.help and entry.flag.startswith("--") and entry.where, name
        assert entry.value is not None or entry.words, f"{name}: a default of None says in words what it means"
