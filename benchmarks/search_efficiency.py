"""Best validation F1 reached against trial-epochs spent: random search, TPE, TPE with ASHA and warm-started TPE.

Each arm-seed is a real pointtune search (``pointtune run`` in this process, one fresh local Ray for the whole
benchmark) on ``--data`` (default: the Dubai sample in ``../shared/data`` where it is, else the demo scenes), with
small settings so that 4 arms x 5 seeds fit in half an hour of a 2-core CPU: the tiny CNN, images resized,
small crops. Every arm gets the same number of trials, the same split (``--split``, fixed across arms and seeds)
and the same ``--seeds`` (the search's seed: sampler, annotator, init and crops).

* random: ``--sampler random``; epochs searched in ``--epochs-range``;
* tpe: ``--sampler tpe`` (multivariate, constant liar); epochs searched;
* tpe+asha: ``--sampler tpe --scheduler asha``: the top of the epochs range is every trial's budget and ASHA stops
  weak trials at 1, 3, ... epochs;
* tpe+warm: ``--sampler tpe --warm-start`` an earlier, smaller random search (``--prior-trials``, a third of the
  trials by default) of the same data, split, space and metric at another seed (the seed + 1000), run just before
  it. Its trial-epochs are the new search's own (its curve starts at its own first epoch); the earlier search's
  trial-epochs are reported beside them, not added.

Trial-epochs are counted in the order the epochs finished (every epoch report of every trial, by its time). The
curve of a search is the best ``val_f1`` of any epoch reported so far. Per arm: the median over seeds of the
trial-epochs spent before the curve first reaches ``--target`` (95 %) of the best F1 that any search of any arm
found (a search that never reaches it counts as more than any: ``inf``), and of the best F1 at the end, each with
a 95 % bootstrap interval over seeds; against random, the paired difference at the same seeds with its interval
and verdict (``compare.seed_median``). The best model each search picked is also scored on the test images, per
image, paired across arms (``compare.difference``).

The last lines give the wall time and the CPU time (user + system) of this process and its descendants, Ray's
daemons and trial workers included, sampled every second (``TreeCpu``): ``time`` misses the CPU of Ray's workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

from compare import Interval, difference, per_image_f1, seed_median

from common import DUBAI_ROOT, data_root, machine_note, print_table, process_cpu, quiet_stdout, ray_session, tmp_dir

WARM = "tpe+warm"  # TPE whose study starts from the trials of an earlier, smaller random search
METHODS = {"random": ["--sampler", "random"], "tpe": ["--sampler", "tpe"],
           "tpe+asha": ["--sampler", "tpe", "--scheduler", "asha"], WARM: ["--sampler", "tpe"]}
BASELINE = "random"
PRIOR_SEED = 1000  # the warm arm's earlier search runs at the arm's seed + this


# --- a search's curve ---------------------------------------------------------------------------------------------

def curve(experiment: Path) -> list[float]:
    """Best val_f1 so far after each trial-epoch, the epochs of every trial ordered by when they were reported (an
    epoch without a finite val_f1, such as a diverged one, is spent without raising the curve)."""
    reports = []
    for result in experiment.glob("trial_*/result.json"):
        for line in result.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            if "epoch" not in r:
                continue
            when = r["trial_start_time"] + r["time_total_s"] if "trial_start_time" in r else r["timestamp"]
            f1 = r.get("val_f1", math.nan)
            reports.append((when, f1 if isinstance(f1, float | int) and math.isfinite(f1) else 0.0))
    best, out = 0.0, []
    for _, f1 in sorted(reports):
        best = max(best, f1)
        out.append(best)
    return out


def epochs_to_reach(points: list[float], threshold: float) -> float:
    """Trial-epochs until the curve first reaches ``threshold``; ``inf`` where it never does (past the budget)."""
    return float(next((i + 1 for i, v in enumerate(points) if v >= threshold), math.inf))


# --- running the searches -----------------------------------------------------------------------------------------

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="auto", help="a dataset folder; dubai (../shared/data), demo (the built-in "
                   "scenes) or auto (dubai where it is, else demo)")
    p.add_argument("--format", help="the data's built-in format (default: dubai_aerial for dubai; a folder's own "
                   "classes.yaml otherwise)")
    p.add_argument("--split", default="auto", help="pointtune's --split: auto, official, seeded or a split file; "
                   "one split for every arm and seed (--split-seed stays 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--prior-trials", type=int, help="trials of the earlier random search the warm arm starts from "
                   "(default: a third of --trials, at least 2)")
    p.add_argument("--epochs-range", type=int, nargs=2, default=[1, 3])
    p.add_argument("--target", type=float, default=0.95, help="share of the best F1 any search found")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--resize", type=float, default=0.25)
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-concurrent", type=int, default=2, help="trials at once, 1 CPU each (Ray's num_cpus)")
    p.add_argument("--keep", help="write the searches into this new folder (default: a temporary one, removed)")
    p.add_argument("--verbose", action="store_true", help="show pointtune's own output")
    return p.parse_args(argv)


def data_flags(a: argparse.Namespace) -> list[str]:
    """``--data``, ``--format`` and ``--split`` as pointtune takes them."""
    data = a.data if a.data != "auto" else "dubai" if (DUBAI_ROOT / "images").is_dir() else "demo"
    root, fmt = data_root(data, a.format)
    return ["--data", root, *(["--format", fmt] if fmt else []), "--split", a.split]


def search_flags(a: argparse.Namespace) -> list[str]:
    """What every arm-seed shares: the data, split, network, crops and search space."""
    # --weights none: what the tiny CNN resolves "auto" to, given as such, or --warm-start leaves every earlier
    # trial out (its resolved "none" against the new search's unresolved "auto")
    return [*data_flags(a), "--resize", f"{a.resize:g}", "--backbone", a.backbone, "--weights", "none",
            "--tile-size", str(a.tile_size),
            "--crops-per-epoch", str(a.crops_per_epoch), "--batch-size", str(a.batch_size), "--val-clicks", "0",
            "--lr-range", "1e-4", "3e-2", "--density-range", "1e-3", "1e-1",
            "--epochs-range", *map(str, a.epochs_range), "--cpus-per-trial", "1",
            "--max-concurrent", str(a.max_concurrent)]


class TreeCpu:
    """``with TreeCpu() as cpu:`` CPU seconds (user + system) of this process and all its descendants, Ray's daemons
    and trial workers included, sampled from ``/proc`` every ``period`` s (``cpu.seconds``; NaN where there is no
    ``/proc``). Sampled, because a Ray worker killed at the end of a search is not reaped into its parent's
    children's times: ``time`` and ``getrusage`` never see its CPU. One exiting between two samples loses at most
    its last period."""

    def __init__(self, period: float = 1.0) -> None:
        self.period, self.seen, self._stop = period, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid, (_, cpu) in process_cpu(os.getpid()).items():
            self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def __enter__(self) -> TreeCpu:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(list(self.seen.values())) if self.seen else math.nan


def prior_trials(a: argparse.Namespace) -> int:
    """Trials of the earlier random search the warm arm starts from."""
    return a.prior_trials if a.prior_trials is not None else max(2, a.trials // 3)


def arm_flags(a: argparse.Namespace, method: str, seed: int, storage: str) -> list[str]:
    """One arm-seed's own flags (the shared ones aside); ``method="prior"``: the warm arm's earlier search."""
    if method == "prior":
        return ["--sampler", "random", "--seed", str(seed + PRIOR_SEED), "--trials", str(prior_trials(a))]
    warm = ["--warm-start", str(Path(storage) / f"prior-{seed}")] if method == WARM else []
    return [*METHODS[method], *warm, "--seed", str(seed), "--trials", str(a.trials)]


def run_one(a: argparse.Namespace, storage: str, cpu: TreeCpu, method: str, seed: int) -> list[float]:
    """One real ``pointtune run``, named ``METHOD-SEED`` in ``storage``; its curve."""
    from search.cli.main import main as pointtune

    name, t0, cpu0 = f"{method}-{seed}", time.perf_counter(), cpu.seconds
    with quiet_stdout(not a.verbose):
        code = pointtune(["run", *search_flags(a), *arm_flags(a, method, seed, storage), "--storage", storage,
                          "--name", name])
    if code != 0:
        raise SystemExit(f"search {name} exited {code}: nothing measured")
    c = curve(Path(storage) / name)
    print(f"{name}: {len(c)} trial-epochs, best val_f1 {c[-1]:.4f} ({time.perf_counter() - t0:.0f} s, "
          f"{cpu.seconds - cpu0:.0f} CPU-s)", flush=True)
    return c


def run_searches(a: argparse.Namespace, storage: str,
                 cpu: TreeCpu) -> tuple[dict[str, dict[int, list[float]]], dict[int, float]]:
    """Every arm at every seed (seeds outermost, so a stopped run has whole seeds): arm -> seed -> curve; and per
    seed the trial-epochs of the warm arm's earlier search."""
    curves, prior = {m: {} for m in METHODS}, {}
    for seed in a.seeds:
        for method in METHODS:
            if method == WARM:
                prior[seed] = float(len(run_one(a, storage, cpu, "prior", seed)))
            curves[method][seed] = run_one(a, storage, cpu, method, seed)
    return curves, prior


# --- what the searches show ---------------------------------------------------------------------------------------

TARGETS = ("seed", "all")  # the best F1 of any arm at the same seed; of any search at any seed


def reach(curves: dict[str, dict[int, list[float]]], target: float,
          over: str) -> tuple[dict[int, float], dict[str, dict[int, float]]]:
    """Per seed the F1 to reach (``target`` of the best any arm found at that seed, ``over="seed"``, or at any seed,
    ``"all"``), and per arm and seed the trial-epochs until the curve reached it."""
    seeds = sorted({s for runs in curves.values() for s in runs})
    best = {s: max(runs[s][-1] for runs in curves.values() if s in runs) for s in seeds}
    goal = {s: target * (best[s] if over == "seed" else max(best.values())) for s in seeds}
    return goal, {m: {s: epochs_to_reach(c, goal[s]) for s, c in runs.items()} for m, runs in curves.items()}


def _span(iv: Interval, digits: int, signed: bool = False) -> str:
    """``12 [8, 20]`` (``+3 [-2, +9]`` for a difference); inf: past the budget."""
    def one(x: float) -> str:
        return ("+" if signed and x > 0 else "") + (f"{x:.{digits}f}" if math.isfinite(x) else str(x))
    return f"{one(iv.mean)} [{one(iv.low)}, {one(iv.high)}]"


def arm_rows(curves: dict[str, dict[int, list[float]]], steps: dict[str, dict[str, dict[int, float]]],
             tested: dict[str, dict[int, dict[str, float]]]) -> list[list[str]]:
    """Per arm: trial-epochs spent; to each target, per seed and their median; the best F1; the test F1."""
    rows = []
    for m, runs in curves.items():
        test = [f for per_image in tested.get(m, {}).values() for f in per_image.values()]
        to_target = [x for over in TARGETS for x in (
            " ".join("-" if math.isinf(r) else f"{r:g}" for r in steps[over][m].values()),
            _span(seed_median(steps[over][m]), 1))]
        rows.append([m, _span(seed_median({s: float(len(c)) for s, c in runs.items()}), 1), *to_target,
                     _span(seed_median({s: c[-1] for s, c in runs.items()}), 4),
                     f"{sum(test) / len(test):.4f}" if test else "-"])
    return rows


def versus_rows(curves: dict[str, dict[int, list[float]]], steps: dict[str, dict[str, dict[int, float]]],
                tested: dict[str, dict[int, dict[str, float]]]) -> tuple[list[list[str]], dict[str, str]]:
    """Each arm against random at the same seeds; and the verdict of each on trial-epochs to its seed's target."""
    rows, verdicts = [], {}
    best = {m: {s: c[-1] for s, c in runs.items()} for m, runs in curves.items()}
    for m in (x for x in curves if x != BASELINE):
        row = [f"{m} vs {BASELINE}"]
        for over in TARGETS:
            fewer = seed_median(steps[over][BASELINE], steps[over][m])  # positive: the arm needed fewer
            row += [_span(fewer, 1, True), fewer.verdict]
            verdicts.setdefault(m, fewer.verdict)
        gain = seed_median(best[m], best[BASELINE])
        row += [_span(gain, 4, True), gain.verdict]
        if tested.get(m) and tested.get(BASELINE):
            test = difference(tested[m], tested[BASELINE])
            row += [f"{test.text(4)} ({test.units} units)", test.verdict]
        rows.append(row)
    return rows, verdicts


def score_test_images(a: argparse.Namespace, storage: str, seeds: list[int]) -> dict[str, dict[int, dict[str, float]]]:
    """Per arm and seed, the F1 of each test image under the best model that search picked ({} where the split has
    no test part)."""
    from search.model.source import resolve_model

    flags = data_flags(a)
    root, fmt = flags[1], (flags[3] if flags[2] == "--format" else None)
    if not resolve_model(Path(storage) / f"{BASELINE}-{seeds[0]}").payload.get("split", {}).get("test"):
        print("the split has no test part: the best models are not scored on test images")
        return {}
    return {m: {s: per_image_f1(Path(storage) / f"{m}-{s}", root, "test", fmt) for s in seeds} for m in METHODS}


def report(a: argparse.Namespace, curves: dict[str, dict[int, list[float]]],
           tested: dict[str, dict[int, dict[str, float]]], prior: dict[int, float] | None = None) -> str:
    """Print the tables; returns the headline (the verdicts on trial-epochs to each seed's target)."""
    goals, steps = {}, {}
    for over in TARGETS:
        goals[over], steps[over] = reach(curves, a.target, over)
    share = f"{a.target:.0%}"
    print(f"\n{share} of the best val_f1 any arm found at the seed: "
          + ", ".join(f"seed {s} {g:.4f}" for s, g in goals["seed"].items())
          + f"; at any seed: {next(iter(goals['all'].values())):.4f}")
    print_table(["arm", "trial-epochs spent", f"to {share} of its seed's best, per seed", "median [95%]",
                 f"to {share} of the best of all, per seed", "median [95%]", "best val_f1: median [95%]",
                 "test F1 (mean per image)"], arm_rows(curves, steps, tested),
                title=f"medians over {len(a.seeds)} seeds, 95% bootstrap intervals over seeds; - per seed: never "
                      "reached (inf)")
    rows, verdicts = versus_rows(curves, steps, tested)
    print_table(["against random, same seeds", "fewer trial-epochs (seed's best)", "verdict",
                 "fewer trial-epochs (best of all)", "verdict", "best val_f1 gain", "verdict",
                 *(["test F1 gain per image: mean [95%]", "verdict"] if tested else [])], rows,
                title="paired differences at the same seeds: medians [95% interval] over seeds (test F1: mean "
                      "[95% two-level interval] over seeds and test images)")
    if prior:
        print(f"{WARM}: its trial-epochs above are its own; the earlier random search it started from "
              f"({prior_trials(a)} trials, seed + {PRIOR_SEED}) spent {_span(seed_median(prior), 1)} more "
              "(median [95%] over seeds), not counted above")
    print(machine_note())
    return (f"fewer trial-epochs to {share} of the seed's best F1 than random ({len(a.seeds)} seeds): "
            + "; ".join(f"{m} {v}" for m, v in verdicts.items()))


def main() -> None:
    a = parse()
    if not a.verbose:  # before pointtune's own logging.basicConfig: the index's notes stay quiet
        logging.basicConfig(level=logging.WARNING)
    if a.keep and Path(a.keep).exists() and any(Path(a.keep).iterdir()):
        raise SystemExit(f"--keep {a.keep}: give a new or empty folder")
    t0, print_flags = time.perf_counter(), search_flags(a)
    print(f"{len(METHODS)} arms x seeds {a.seeds}, {a.trials} trials each ({WARM} after {prior_trials(a)} random "
          f"trials): pointtune run {' '.join(print_flags)}", flush=True)
    with tmp_dir("pointtune-bench-efficiency-") as scratch:
        storage = a.keep or scratch
        with TreeCpu() as cpu:
            with ray_session(num_cpus=a.max_concurrent):
                curves, prior = run_searches(a, storage, cpu)
            tested = score_test_images(a, storage, a.seeds)
    headline = report(a, curves, tested, prior)
    print(f"time: {time.perf_counter() - t0:.0f} s wall, {cpu.seconds / 60:.1f} CPU-minutes (user + system of this "
          "process, Ray's daemons and its trial workers, sampled every second)")
    print(headline)


if __name__ == "__main__":
    main()
