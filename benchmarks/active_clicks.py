"""Where to click next, measured against a ceiling: rounds of clicks placed by the strategies of ``pointtune
suggest``, between random clicks (the floor) and the error oracle (the ceiling: the simulated annotator clicks where
the model is wrong by the dense masks, its most confident errors first, inside their error regions and one per
missed true class before a second of any, as iSAGE's does: ``search/model/error_oracle.py``).

Per seed: a first round (round 0) of ``--first`` uniform random clicks per training image (the simulated annotator's
order, ``trainable.labels.points.click_order``, answered from the dense masks) and a model trained on them
(``pointtune train --clicks``). Then each arm, for ``--rounds`` rounds, has its previous round's model suggest
``--per-round`` more clicks per training image (``pointtune suggest --strategy ARM --answer-from-masks``, the clicks
so far as ``--clicks``) and trains a model on all its clicks so far. Every arm of a seed has the same first round,
network, epochs, crops and seed; only where its clicks go differs.

Each arm's last model, and the first round's, is scored image by image on the split's test part (the same images
for every arm: ``compare.per_image_f1``), and ``benchmarks/compare.py`` compares them, paired per seed and image:
per arm its mean test F1 with a 95 % interval, its gap closure ``(arm - random) / (oracle - random)`` with its
interval, and ``difference(arm, random)`` with its verdict. The bar: a strategy of suggest's (not the oracle) that
closes at least half the gap with its interval above zero. The runs keep their round (suggest's ``round`` column,
``clicks.json``), so ``pointtune results FOLDERS... --frontier`` on the kept folders (``--keep``) shows the rounds.

    python benchmarks/active_clicks.py                                     # demo scenes: 5 seeds, 1 round
    python benchmarks/active_clicks.py --data ../shared/data/dubai_aerial --format dubai_aerial \\
        --split benchmarks/splits/dubai_tiles.yaml --first 10 --per-round 10 --tile-size 96 --resize 0.3 \\
        --epochs 16 --seeds 0 1 2 3 --keep runs/active-dubai                 # README "Where to click next"
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np
from compare import VERDICTS, Interval, difference, gap_closure, mean_f1, per_image_f1

from common import data_root, quiet_stdout, tmp_dir
from search.cli.main import main as pointtune
from trainable.config import DataConfig
from trainable.data.index import DatasetIndex, build_index
from trainable.data.sources import LabelSource
from trainable.labels.points import click_order, image_seed

FIRST_ROUND_SEED = 104_729  # mixed into the first round's annotator seed: never the training seed's clicks
FLOOR, CEILING = "random", "oracle"
HALF = 0.5  # the bar: a strategy closes at least this share of the gap, its interval above zero
FIELDS = ("image", "x", "y", "class", "round")
Scores = dict[int, dict[str, float]]  # seed -> test image -> F1


# --- clicks files ---------------------------------------------------------------------------------------------

def first_round(index: DatasetIndex, k: int, seed: int, out: Path) -> Path:
    """``k`` uniform random valid pixels per training image, answered from the dense masks: round 0, as a --clicks
    CSV."""
    rows = []
    for i in index.split.train:
        e = index.entries[i]
        mask = np.asarray(LabelSource(e.files, index.classes, index.resize).array())
        chosen = click_order(mask, (seed, image_seed(e.stem), FIRST_ROUND_SEED), k)
        for r, c in zip(*np.divmod(chosen, mask.shape[1]), strict=True):
            x, y = (c, r) if index.resize == 1.0 else ((c + 0.5) / index.resize, (r + 0.5) / index.resize)
            rows.append({"image": e.stem, "x": x, "y": y, "class": index.classes.names[mask[r, c]], "round": 0})
    return write_clicks(out, rows)


def write_clicks(out: Path, rows: list[dict]) -> Path:
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return out


def read_clicks(path: Path) -> list[dict]:
    """The rows of a clicks CSV, each with its round (a file without the column: round 0)."""
    with path.open() as f:
        return [{**r, "round": r.get("round") or 0} for r in csv.DictReader(f)]


def run(argv: list[str], quiet: bool, makes: Path | None = None) -> None:
    """``pointtune ARGV``, unless what it makes (a train folder's best.pt, a suggest file) is already there: a rerun
    with the same --keep reuses the finished runs."""
    if makes is not None and makes.is_file():
        return
    said = io.StringIO()
    with quiet_stdout(quiet), contextlib.redirect_stderr(said if quiet else sys.stderr):  # progress lines
        code = pointtune(argv)
    if code != 0:
        raise SystemExit(f"{said.getvalue()}pointtune {' '.join(argv)} failed with status {code}")


# --- running ----------------------------------------------------------------------------------------------------

def train(ctx: dict, seed: int, clicks: Path, out: Path) -> Path:
    run(["train", *ctx["common"], "--seed", str(seed), "--clicks", str(clicks), "--out", str(out)], ctx["quiet"],
        makes=out / "best.pt")
    return out


def run_first(seed: int, a: argparse.Namespace, ctx: dict) -> tuple[Path, Path]:
    """Round 0 of a seed: its clicks file and its model's folder."""
    first = ctx["work"] / f"s{seed}_r0_k{a.first}.csv"
    if not first.is_file():
        first_round(ctx["index"], a.first, seed, first)
    t0 = time.perf_counter()
    folder = train(ctx, seed, first, ctx["work"] / f"s{seed}_r0_k{a.first}")
    print(f"  seed {seed} round 0 ({a.first} random clicks/image)  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return first, folder


def run_arm(arm: str, seed: int, first: tuple[Path, Path], a: argparse.Namespace, ctx: dict) -> Path:
    """The rounds of one arm for one seed, from the shared first round; its last model's folder."""
    (so_far, previous), have, work = first, a.first, ctx["work"]
    for r in range(1, a.rounds + 1):
        t0, count = time.perf_counter(), a.first + r * a.per_round
        added, clicks = work / f"s{seed}_{arm}_r{r}_k{count}_added.csv", work / f"s{seed}_{arm}_r{r}_k{count}.csv"
        run(["suggest", str(previous), "--data", ctx["root"], "--clicks-per-image", str(count - have), "--out",
             str(added), "--clicks", str(so_far), "--strategy", arm, "--seed", str(seed), "--answer-from-masks",
             *ctx["fmt"]], ctx["quiet"], makes=added)
        write_clicks(clicks, read_clicks(so_far) + read_clicks(added))
        previous = train(ctx, seed, clicks, work / f"s{seed}_{arm}_r{r}_k{count}")
        print(f"  seed {seed} round {r} {arm:<10} ({count} clicks/image)  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        so_far, have = clicks, count
    return previous


def run_seed(seed: int, a: argparse.Namespace, ctx: dict, scores: dict[str, Scores]) -> None:
    """Every arm of one seed, each last model scored on each test image."""
    first = run_first(seed, a, ctx)
    scores.setdefault("first round", {})[seed] = per_image_f1(first[1], ctx["root"], "test", ctx["format"])
    for arm in a.arms:
        last = run_arm(arm, seed, first, a, ctx)
        scores.setdefault(arm, {})[seed] = per_image_f1(last, ctx["root"], "test", ctx["format"])
        ctx["folders"].setdefault(seed, []).append(last)


# --- the table and the bar --------------------------------------------------------------------------------------

def table(scores: dict[str, Scores], a: argparse.Namespace) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """Per arm: mean test F1 [95 %], gap closure [95 %], difference from random [95 %] and its verdict; returns the
    gap closures and the differences."""
    seeds = sorted(scores[FLOOR])
    n_images = len(scores[FLOOR][seeds[0]])
    print(f"\ntest F1 per image (macro over the classes in its truth), {n_images} test image(s) x {len(seeds)} "
          f"seed(s) {seeds}; intervals: 95 % two-level bootstrap (benchmarks/compare.py)\n")
    print("| arm | clicks/image | mean test F1 [95 %] | per seed | gap closure [95 %] | vs random [95 %] | verdict |")
    print("|---|---|---|---|---|---|---|")
    closures, differences = {}, {}
    for arm in ["first round", *a.arms]:
        level = mean_f1(scores[arm])
        per_seed = " / ".join(f"{np.mean(list(scores[arm][s].values())):.3f}" for s in seeds)
        clicks = a.first if arm == "first round" else a.first + a.rounds * a.per_round
        gap = vs = verdict = "-"
        if arm != FLOOR:
            closure = closures[arm] = gap_closure(scores[arm], scores[FLOOR], scores[CEILING])
            diff = differences[arm] = difference(scores[arm], scores[FLOOR])
            gap = (f"{closure.mean:.2f} [{closure.low:.2f}, {closure.high:.2f}]" if not np.isnan(closure.mean) else
                   "n/a (the oracle is not above random)")
            vs, verdict = diff.text(), diff.verdict
        print(f"| {arm} | {clicks} | {level.mean:.3f} [{level.low:.3f}, {level.high:.3f}] | {per_seed} | {gap} | {vs} "
              f"| {verdict} |")
    return closures, differences


def bar_sentence(closures: dict[str, Interval], ceiling_verdict: str, strategies: list[str]) -> str:
    """Plainly: does a strategy of suggest's close at least half the gap between random and the oracle, with its
    interval above zero? Only where the oracle is detectably above random is there a gap to close."""
    if ceiling_verdict != VERDICTS[0]:
        return (f"BAR NOT TESTABLE: the oracle is not detectably above random at this budget ({ceiling_verdict}), so "
                "there is no gap to close; place more clicks per round, or start from fewer.")
    ranked = sorted(strategies, key=lambda s: closures[s].mean, reverse=True)
    shown = "; ".join(f"{s} {closures[s].mean:.2f} [{closures[s].low:.2f}, {closures[s].high:.2f}]" for s in ranked)
    met = [s for s in ranked if closures[s].mean >= HALF and closures[s].low > 0]
    if met:
        return (f"BAR MET: {met[0]} closes at least half the gap between random and the oracle with its interval "
                f"above zero (gap closure {shown}).")
    above = [s for s in ranked if closures[s].low > 0]
    return ("BAR NOT MET: no strategy closes at least half the gap between random and the oracle with its interval "
            f"above zero (gap closure {shown}); "
            + (f"{' and '.join(above)} close{'s' if len(above) == 1 else ''} some of it (interval above zero)."
               if above else
               "none closes a part of it that its interval tells from nothing."))


def report(scores: dict[str, Scores], a: argparse.Namespace) -> None:
    closures, differences = table(scores, a)
    ceiling = differences[CEILING]
    strategies = [s for s in a.arms if s not in (FLOOR, CEILING)]
    print(f"\nthe gap: oracle - random = {ceiling.text()} ({ceiling.verdict})")
    print(bar_sentence(closures, ceiling.verdict, strategies))
    best = max(strategies, key=lambda s: differences[s].mean)
    print(f"best strategy measured (highest mean difference from random, so highest gap closure): {best} "
          f"{differences[best].text()} ({differences[best].verdict})")


# --- main -------------------------------------------------------------------------------------------------------

def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo", help="demo (the 24 built-in 128-px scenes), dubai (../shared/data), or "
                   "a folder")
    p.add_argument("--format", help="the data's built-in format (default: demo / dubai_aerial for those)")
    p.add_argument("--split", default="auto", help="train --split: auto, seeded, official or a split file (the test "
                   "part is what every arm is scored on)")
    p.add_argument("--arms", nargs="+", default=["margin", "pixelpick", "regions", FLOOR, CEILING],
                   help=f"suggest --strategy of each arm; {FLOOR} (the floor) and {CEILING} (the ceiling) are needed")
    p.add_argument("--rounds", type=int, default=1, help="rounds of suggested clicks after the first")
    p.add_argument("--first", type=int, default=10, help="random clicks per training image in the first round")
    p.add_argument("--per-round", type=int, default=10, help="clicks per training image added each round")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--backbone", default="tiny", help="tiny, or a DeepLabV3 backbone (from scratch: --weights none)")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--resize", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--keep", help="keep the runs and click files in this folder (default: a temporary one); a rerun "
                   "with the same settings and --keep reuses the runs there (named by seed, arm, round and clicks "
                   "per image), so more seeds train only what is new")
    p.add_argument("--verbose", action="store_true", help="show pointtune's own output")
    a = p.parse_args()
    if FLOOR not in a.arms or CEILING not in a.arms or len(a.arms) < 3:
        p.error(f"--arms needs {FLOOR} and {CEILING} (the floor and the ceiling) and a strategy to measure")
    if len(a.seeds) < 3:
        p.error("--seeds: give at least 3 (a difference is claimed only over seeds)")
    return a


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def main() -> None:
    a = parse()
    if not a.verbose:  # before pointtune's own logging.basicConfig: the index's notes stay quiet
        logging.basicConfig(level=logging.WARNING)
    root, fmt = data_root(a.data, a.format)
    index = build_index(DataConfig(root=root, format=fmt, tile_size=a.tile_size, resize=a.resize, split=a.split))
    if not index.split.test:
        raise SystemExit(f"--split {a.split}: no test part, nothing to score the arms on")
    fmt_args = ["--format", fmt] if fmt else []
    common = ["--data", root, "--split", a.split, "--backbone", a.backbone, "--weights", "none", "--tile-size",
              str(a.tile_size), "--resize", str(a.resize), "--epochs", str(a.epochs), "--lr", f"{a.lr:g}",
              "--crops-per-epoch", str(a.crops_per_epoch), "--val-clicks", "0", *fmt_args]
    print(f"data {root}: {len(index.entries)} images, {index.split.describe()} (--split {a.split}); {a.backbone}, "
          f"tile {a.tile_size}, resize {a.resize:g}, {a.epochs} epochs x {a.crops_per_epoch} crops, lr {a.lr:g}; "
          f"round 0: {a.first} random clicks per training image, then {a.rounds} round(s) of {a.per_round}; arms "
          f"{', '.join(a.arms)}; seeds {a.seeds}", flush=True)
    scores: dict[str, Scores] = {}
    t_start, cpu_start = time.perf_counter(), cpu_seconds()
    with tmp_dir("pointtune-active-") as scratch:
        work = Path(a.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        ctx = {"work": work, "root": root, "fmt": fmt_args, "format": fmt, "common": common, "index": index,
               "quiet": not a.verbose, "folders": {}}
        for seed in a.seeds:
            run_seed(seed, a, ctx, scores)
    report(scores, a)
    if a.keep:
        folders = [work / f"s{a.seeds[0]}_r0_k{a.first}", *ctx["folders"][a.seeds[0]]]
        print(f"\nthe rounds on one frontier (seed {a.seeds[0]}): pointtune results "
              + " ".join(str(f) for f in folders) + " --frontier")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s wall, {cpu_seconds() - cpu_start:.0f} s CPU (user + system, "
          "this process and its children)", file=sys.stderr)


if __name__ == "__main__":
    main()
