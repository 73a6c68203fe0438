"""Best validation F1 reached against trial-epochs spent: random search, TPE, and TPE with ASHA, side by side.

Each method runs the same real pointtune search (``pointtune run`` in this process, one fresh local Ray for the
whole benchmark) on ``../shared/data/dubai_aerial`` (the demo scenes when it is absent), with small settings so a
repetition takes minutes on a laptop CPU: the tiny CNN, images at a quarter of their size, 64-px crops. Every
method gets the same number of trials and repeats with the same ``--seeds`` (the search's seed: sampler and
annotator; the split is fixed).

* random: ``--sampler random``; epochs searched in ``--epochs-range``;
* tpe: ``--sampler tpe`` (multivariate, constant liar); epochs searched;
* tpe+asha: ``--sampler tpe --scheduler asha``: the top of the epochs range is every trial's budget and ASHA stops
  weak trials at 1, 3, ... epochs.

Trial-epochs are counted in the order the epochs finished (every epoch report of every trial, by its time). The
curve of a run is the best ``val_f1`` of any epoch reported so far. The table gives, per method, the median over
seeds of the trial-epochs spent before the curve first reaches 95 % (``--target``) of the best F1 that any run of
any method found, and the best F1 at the end; the last line names the method that needed the fewest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import demo_root, dubai_root, machine_note, median, print_table, quiet_stdout, ray_session, tmp_dir

METHODS = {"random": ["--sampler", "random"], "tpe": ["--sampler", "tpe"],
           "tpe+asha": ["--sampler", "tpe", "--scheduler", "asha"]}


def curve(experiment: Path) -> list[float]:
    """Best val_f1 so far after each trial-epoch, the epochs ordered by when they were reported."""
    reports = []
    for result in experiment.glob("trial_*/result.json"):
        for line in result.read_text().splitlines():
            r = json.loads(line)
            if "val_f1" in r and r["val_f1"] == r["val_f1"]:
                reports.append((r["timestamp"], r.get("time_total_s", 0.0), r["val_f1"]))
    best, out = 0.0, []
    for _, _, f1 in sorted(reports):
        best = max(best, f1)
        out.append(best)
    return out


def epochs_to_reach(points: list[float], threshold: float) -> float:
    return next((i + 1 for i, v in enumerate(points) if v >= threshold), float("nan"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs-range", type=int, nargs=2, default=[1, 6])
    p.add_argument("--target", type=float, default=0.95)
    args = p.parse_args()
    from search.cli.main import main as pointtune

    real = dubai_root()
    data = ["--data", str(real), "--format", "dubai_aerial", "--resize", "0.25"] if real else ["--data", demo_root()]
    common = [*data, "--backbone", "tiny", "--tile-size", "64", "--crops-per-epoch", "64", "--batch-size", "8",
              "--lr-range", "1e-4", "3e-2", "--density-range", "1e-3", "1e-1", "--epochs-range",
              *map(str, args.epochs_range), "--trials", str(args.trials), "--cpus-per-trial", "1",
              "--max-concurrent", "2"]
    curves: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    print(f"data: {real or 'demo scenes'}; {args.trials} trials per search, epochs {args.epochs_range}, "
          f"seeds {args.seeds}")
    with tmp_dir("pointtune-bench-efficiency-") as storage, ray_session():
        for seed in args.seeds:
            for method, flags in METHODS.items():
                name = f"{method}-{seed}"
                with quiet_stdout():
                    code = pointtune(["run", *common, *flags, "--seed", str(seed), "--storage", storage,
                                      "--name", name])
                assert code == 0, f"search {name} exited {code}"
                curves[method].append(curve(Path(storage) / name))
                print(f"{name}: {len(curves[method][-1])} trial-epochs, best val_f1 {curves[method][-1][-1]:.4f}",
                      flush=True)
    best_any = max(c[-1] for runs in curves.values() for c in runs)
    threshold = args.target * best_any
    rows = []
    for method, runs in curves.items():
        reach = [epochs_to_reach(c, threshold) for c in runs]
        rows.append([method, median([len(c) for c in runs]), median([c[-1] for c in runs]),
                     " ".join("-" if r != r else str(int(r)) for r in reach),
                     median([r for r in reach if r == r]) if all(r == r for r in reach) else float("nan")])
    print_table(["method", "trial-epochs spent", "best val_f1 (median)", f"trial-epochs to {args.target:.0%} "
                 "of best, per seed", "median"], rows,
                title=f"best val_f1 of any run {best_any:.4f}; {args.target:.0%} of it = {threshold:.4f}")
    print(machine_note())
    reached = [r for r in rows if r[4] == r[4]]
    winner = min(reached, key=lambda r: r[4]) if reached else None
    print(f"fewest trial-epochs to {args.target:.0%} of the best F1: "
          + (f"{winner[0]} {winner[4]:g}" if winner else "none reached it on every seed"))


if __name__ == "__main__":
    main()
