"""benchmarks/search_efficiency.py counts trial-epochs as a search spent them: every epoch of every trial, in the
order they were reported, and the first at which the best F1 so far reaches the target; a search that never does
needed more than its budget."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from search_efficiency import METHODS, arm_flags, curve, epochs_to_reach, parse, reach, search_flags, versus_rows


def _trial(experiment: Path, name: str, start: float, epochs: list[tuple[float, float]]) -> None:
    """A trial's result.json: per epoch, (seconds since the trial started, val_f1)."""
    folder = experiment / f"trial_{name}"
    folder.mkdir(parents=True)
    lines = [{"epoch": e + 1, "val_f1": f1, "time_total_s": t, "trial_start_time": start,
              "timestamp": int(start + t)} for e, (t, f1) in enumerate(epochs)]
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_the_curve_interleaves_trials_by_when_each_epoch_was_reported(tmp_path: Path) -> None:
    _trial(tmp_path, "a", 100.0, [(1.0, 0.40), (2.0, 0.55), (3.0, 0.50)])  # epochs at 101, 102, 103
    _trial(tmp_path, "b", 101.5, [(1.0, 0.60), (2.0, 0.58)])  # at 102.5, 103.5: within a's seconds
    assert curve(tmp_path) == [0.40, 0.55, 0.60, 0.60, 0.60]
    assert epochs_to_reach(curve(tmp_path), 0.57) == 3
    assert epochs_to_reach(curve(tmp_path), 0.40) == 1
    assert epochs_to_reach(curve(tmp_path), 0.61) == math.inf


def test_an_epoch_without_a_score_is_spent_without_raising_the_curve(tmp_path: Path) -> None:
    _trial(tmp_path, "a", 0.0, [(1.0, 0.30), (2.0, float("nan"))])  # diverged at its second epoch
    folder = tmp_path / "trial_b"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"epoch": 1, "trial_start_time": 0.0, "time_total_s": 3.0,
                                                    "timestamp": 3, "trial_outcome": "diverged"}) + "\n\n")
    assert curve(tmp_path) == [0.30, 0.30, 0.30]
    assert curve(tmp_path / "nothing") == []


def test_the_target_is_a_share_of_the_best_any_arm_found_at_the_seed_or_at_any() -> None:
    """Seed 1's searches all stay below seed 0's best: against the best of all, no arm reaches it there (a tie of
    two searches past their budget); against the seed's own best, its arms are told apart."""
    curves = {"random": {0: [0.5, 0.8, 1.0], 1: [0.4, 0.5, 0.6]}, "tpe": {0: [0.96, 0.96, 0.96], 1: [0.6, 0.6, 0.6]}}
    goal, steps = reach(curves, 0.95, "seed")
    assert goal == {0: 0.95, 1: 0.57} and steps == {"random": {0: 3, 1: 3}, "tpe": {0: 1, 1: 1}}
    goal, steps = reach(curves, 0.95, "all")
    assert goal == {0: 0.95, 1: 0.95} and steps == {"random": {0: 3, 1: math.inf}, "tpe": {0: 1, 1: math.inf}}


def test_verdicts_pair_the_seeds_of_each_arm_with_random() -> None:
    """random needs 6-8 trial-epochs, tpe 2-3: fewer at every seed is "better"; asha needs 9 at three seeds and never
    gets there at two (more than its budget): more at every seed is "worse"."""
    slow = {s: [0.5] * (5 + s % 3) + [0.9] for s in range(5)}  # reaches 0.9 at trial-epoch 6, 7 or 8
    fast = {s: [0.5] + [0.9] * (1 + s % 2) + [0.9] * 5 for s in range(5)}
    never = {s: [0.5] * 9 if s < 2 else [0.5] * 8 + [0.9] for s in range(5)}
    curves = {"random": slow, "tpe": fast, "tpe+asha": never}
    steps = {over: reach(curves, 0.95, over)[1] for over in ("seed", "all")}
    assert steps["seed"] == steps["all"]  # every seed's best is 0.9
    assert steps["seed"]["random"] == {0: 6, 1: 7, 2: 8, 3: 6, 4: 7} and steps["seed"]["tpe"][0] == 2
    assert steps["seed"]["tpe+asha"][0] == math.inf and steps["seed"]["tpe+asha"][4] == 9
    rows, verdicts = versus_rows(curves, steps, {})
    assert verdicts == {"tpe": "better", "tpe+asha": "worse"}
    assert rows[0][0] == "tpe vs random" and rows[0][1].startswith("+5.0") and rows[0][6].startswith("no diff")


def test_every_arm_and_seed_searches_the_same_data_split_and_space(tmp_path: Path) -> None:
    """--data, --format and --split go to every search as given (the split file, not re-drawn per seed)."""
    split = tmp_path / "split.yaml"
    split.write_text("train: [a]\nval: [b]\ntest: [c]\n")
    flags = search_flags(parse(["--data", str(tmp_path), "--format", "potsdam", "--split", str(split)]))
    assert flags[:6] == ["--data", str(tmp_path), "--format", "potsdam", "--split", str(split)]
    assert "--seed" not in flags and "--sampler" not in flags and "--split-seed" not in flags
    assert flags[flags.index("--cpus-per-trial") + 1] == "1"
    assert set(METHODS) == {"random", "tpe", "tpe+asha", "tpe+warm"} and "--scheduler" in METHODS["tpe+asha"]
    assert "--trials" not in flags  # each arm-seed gives its own (the warm arm's earlier search fewer)
    assert flags[flags.index("--weights") + 1] == "none"  # as the earlier trials resolved it: --warm-start takes them
    bare = search_flags(parse(["--data", str(tmp_path)]))
    assert "--format" not in bare and bare[bare.index("--split") + 1] == "auto"


def test_the_warm_arm_starts_from_a_smaller_random_search_at_another_seed(tmp_path: Path) -> None:
    """tpe+warm: TPE with --warm-start its seed's earlier search, a random one of a third of the trials at seed +
    1000; the other arms have no --warm-start and the same trials and seed."""
    a = parse(["--data", str(tmp_path), "--trials", "12"])
    prior, warm = arm_flags(a, "prior", 3, "/s"), arm_flags(a, "tpe+warm", 3, "/s")
    assert prior == ["--sampler", "random", "--seed", "1003", "--trials", "4"]
    assert warm[:2] == ["--sampler", "tpe"] and warm[warm.index("--warm-start") + 1] == str(Path("/s") / "prior-3")
    assert warm[-4:] == ["--seed", "3", "--trials", "12"]
    for method in ("random", "tpe", "tpe+asha"):
        assert "--warm-start" not in arm_flags(a, method, 3, "/s") and arm_flags(a, method, 3, "/s")[-4:] == warm[-4:]
    assert arm_flags(parse(["--trials", "4"]), "prior", 0, "/s")[-1] == "2"  # at least 2
    assert arm_flags(parse(["--trials", "9", "--prior-trials", "5"]), "prior", 0, "/s")[-1] == "5"
