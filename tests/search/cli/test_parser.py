"""The parser: help on every command and flag, each default shown, one vocabulary, the former spellings. No Ray."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from search.cli.main import build_parser, main, parse
from trainable.config import ConfigError, DataConfig, PointConfig, TrialConfig
from trainable.defaults import TABLE
from trainable.setting_text import default_text


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def _visible(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]


def test_every_command_and_every_visible_argument_has_help() -> None:
    parser, _ = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {a.dest: a.help for a in sub._choices_actions}
    assert set(helped) == set(sub.choices) and all(helped.values()), "a command without help"
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items() for a in _visible(p)
               if not a.help]
    assert not missing, f"arguments without help: {missing}"


def test_every_argument_with_a_default_shows_it() -> None:
    """argparse's default in every command; in train and run, the table's (which the run picks where the demo's
    differs) as the table says it."""
    fixed = {e.fixed[2:].replace("-", "_") for e in TABLE.values() if e.fixed}  # run's --lr X: no default of its own
    unshown = []
    for name, p in _commands().items():
        for a in _visible(p):
            if isinstance(a, argparse._StoreTrueAction) or not a.option_strings:
                continue
            if a.default is not None and "(default" not in a.help:
                unshown.append(f"{name} {a.option_strings[0]}: {a.help!r}")
            from_table = name in ("train", "run") and a.dest in TABLE and not (name == "run" and a.dest in fixed)
            if from_table and f"(default {default_text(a.dest)}" not in a.help:
                unshown.append(f"{name} {a.option_strings[0]}: {a.help!r}")
    assert not unshown, "defaults not shown:\n" + "\n".join(unshown)


def test_help_shows_the_demo_default_where_it_differs() -> None:
    commands = _commands()
    helps = {a.dest: a.help for a in commands["run"]._actions}
    assert "(default 16; demo 6; valid [1, 100000])" in helps["trials"]
    assert "(default 256; demo 64; valid [8, 8192])" in helps["tile_size"]
    assert "(default 1e-5 0.01; demo 1e-4 0.03; valid (0, 1))" in helps["lr_range"]
    assert "with --clicks 0.05 1" in helps["density_range"]
    train = {a.dest: a.help for a in commands["train"]._actions}
    assert "(default runs/train)" in train["out"] and "folder" in train["out"]
    assert "(default 2; valid >= 0)" in helps["max_failures"]


def test_every_out_says_file_or_folder() -> None:
    for name, p in _commands().items():
        for a in p._actions:
            if "--out" in a.option_strings:
                assert re.search(r"\b(file|folder)\b", a.help), f"{name} --out: {a.help!r}"


@pytest.mark.parametrize("argv", [["-v", "results", "x"], ["results", "x", "-v"], ["results", "-v", "x"],
                                  ["train", "--verbose"], ["-v", "--data", "d"], ["run", "-v"]])
def test_verbose_works_before_and_after_the_command(argv: list[str]) -> None:
    assert parse(argv).verbose
    assert not parse([a for a in argv if a not in ("-v", "--verbose")]).verbose


def test_output_is_the_output_format_and_format_the_dataset_format(tmp_path: Path) -> None:
    assert parse(["results", "x", "--output", "json"]).output == "json"
    assert parse(["results", "x"]).output == "table"
    args = parse(["evaluate", "m", "--data", "d", "--format", "potsdam", "--output", "json", "--part", "val"])
    assert (args.format, args.output, args.part) == ("potsdam", "json", "val")
    assert parse(["evaluate", "m", "--data", "d"]).part == "test"
    assert parse(["suggest", "m", "--data", "d", "--clicks-per-image", "3", "--out", "c.csv"]).part == "train"


@pytest.mark.parametrize("argv, dest, value, note", [
    (["results", "x", "--format", "csv"], "output", "csv", "--format is now --output"),
    (["evaluate", "m", "--data", "d", "--split", "all"], "part", "all", "--split is now --part"),
    (["suggest", "m", "--data", "d", "--clicks-per-image", "3", "--out", "c.csv", "--split", "all"], "part", "all",
     "--split is now --part"),
    (["train", "--points", "p.csv"], "clicks", "p.csv", "--points is now --clicks"),
    (["train", "--val-points", "5"], "val_clicks", 5, "--val-points is now --val-clicks"),
    (["train", "--points-per-instance", "2"], "clicks_per_object", 2,
     "--points-per-instance is now --clicks-per-object"),
    (["run", "--points-range", "1", "3"], "clicks_per_object_range", [1, 3],
     "--points-range is now --clicks-per-object-range"),
    (["evaluate", "m", "--data", "d", "--points", "p.csv"], "clicks", "p.csv", "--points is now --clicks"),
])
def test_former_spellings_still_work_and_say_the_new_one(argv: list[str], dest: str, value: object,
                                                         note: str) -> None:
    args = parse(argv)
    assert getattr(args, dest) == value
    assert any(note in n for n in args.renamed)


def test_former_spellings_are_hidden_and_noted_on_stderr(capsys: pytest.CaptureFixture) -> None:
    commands = _commands()
    hidden = {"train": ("--points", "--val-points", "--points-per-instance"),
              "run": ("--points", "--val-points", "--points-per-instance", "--points-range"),
              "results": ("--format",), "evaluate": ("--split", "--points"), "suggest": ("--split", "--points")}
    for name, formers in hidden.items():
        shown = set(re.findall(r"--[a-z-]+", commands[name].format_help()))
        assert not shown & set(formers), f"{name} shows {shown & set(formers)}"
    assert main(["results", "/nonexistent/experiment", "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "note: --format is now --output; the old spelling goes in the next release" in err


def test_a_former_metric_name_is_read_as_todays() -> None:
    assert parse(["train", "--metric", "val_points_f1"]).metric == "val_clicks_f1"
    with pytest.raises(SystemExit):
        parse(["train", "--metric", "val_nonsense"])


def test_a_config_file_may_use_former_spellings(tmp_path: Path) -> None:
    cfg = tmp_path / "old.yaml"
    cfg.write_text("points_per_instance: 2\nval_points: 7\n")
    args = parse(["train", "--config", str(cfg)])
    assert (args.clicks_per_object, args.val_clicks) == (2, 7)


def test_the_parsers_defaults_are_the_tables() -> None:
    """The flags train and run build from the table are the table's: no stray default in the parser."""
    for a in _commands()["run"]._actions:
        store_true = isinstance(a, argparse._StoreTrueAction)
        if a.dest in TABLE and a.default not in (None, argparse.SUPPRESS) and not store_true:
            assert a.default == TABLE[a.dest].value, a.dest


def test_every_number_a_user_gives_is_checked_against_its_range_in_the_table() -> None:
    """No flag of any command reads a bare int or float: each goes through its setting's valid range."""
    bare = [f"{name} {a.option_strings[0]}" for name, p in _commands().items() for a in p._actions
            if a.option_strings and a.type in (int, float)]
    assert not bare, f"numbers read without a range: {bare}"
    numeric = [n for n, e in TABLE.items() if isinstance(e.value, int | float | tuple) and e.value != ()
               and not isinstance(e.value, bool)]
    assert all(TABLE[n].valid for n in numeric if n != "bands"), [n for n in numeric if not TABLE[n].valid]


@pytest.mark.parametrize("argv, flag, said", [
    (["train", "--batch-size", "0"], "--batch-size",
     "0: use a value in [2, 100000] (crops per batch (at least 2: BatchNorm); default 8"),
    (["train", "--lr", "nan"], "--lr", "nan: use a value in (0, 1)"),
    (["train", "--epochs", "1.5"], "--epochs", "'1.5' is not a whole number"),
    (["run", "--resume-every", "0"], "--resume-every", "0: use a value >= 1"),
    (["run", "--lr-range", "0", "0.1"], "--lr-range", "0: use a value in (0, 1)"),
    (["run", "--gpus-per-trial", "-1"], "--gpus-per-trial", "-1: use a value >= 0 ("),
    (["predict", "m", "i.png", "--out", "o", "--batch-size", "-4"], "--batch-size", "-4: use a value in [1,"),
    (["suggest", "m", "--data", "d", "--clicks-per-image", "0", "--out", "c.csv"], "--clicks-per-image", "0: use"),
    (["demo-data", "d", "--size", "8"], "--size", "8: use a value in [32, 8192]"),
    (["train", "--seconds-per-click", "-1"], "--seconds-per-click", "-1: use a value > 0"),
])
def test_a_number_out_of_its_range_is_refused_naming_the_flag_and_the_range(
        argv: list[str], flag: str, said: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {flag}: {said}" in err and "usage:" not in err


def test_a_config_file_is_checked_against_the_same_ranges(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tile_size: 4\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: tile_size: 4: use a value in \[8, 8192\]"):
        parse(["train", "--config", str(cfg)])


def test_a_saved_config_out_of_range_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"--tile-size 4: use a value in \[8, 8192\]"):
        TrialConfig(data=DataConfig(tile_size=4)).validate()
    with pytest.raises(ConfigError, match=r"--density 0: use a value in \(0, 1\]"):
        TrialConfig(points=PointConfig(density=0)).validate()


@pytest.mark.parametrize("argv, said", [
    (["run", "--retry-failed"], "--retry-failed does nothing without --resume: add --resume"),
    (["run", "--grace-period", "2"], "--grace-period does nothing without --scheduler asha"),
    (["train", "--lr-schedule", "cosine", "--poly-power", "2"], "--poly-power does nothing without --lr-schedule"),
    (["train", "--background-share", "0.2"], "--background-share does nothing without --clicks-per-object: add"),
    (["train", "--split", "s.yaml", "--val-fraction", "0.3"], "--val-fraction does nothing without --split auto or "
                                                               "--split seeded"),
])
def test_a_flag_that_does_nothing_without_another_is_refused_saying_what_to_add(argv: list[str], said: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(said)):
        parse(argv)
    assert parse(["run", "--resume", "--retry-failed", "--name", "x"]).retry_failed  # with what it needs: taken
