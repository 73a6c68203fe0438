"""Seconds until ``pointtune --help``, ``results`` and ``report`` answer, against the bare Python start-up.

Each command runs as a fresh subprocess (what a user types), alternated round by round ``--repeats`` times; medians
are printed beside Python's own start-up (``python -c pass``) and ``import torch`` (what ``--help`` used to pay).
``results`` and ``report --no-model`` read EXPERIMENT (default: a 2-trial demo search this script runs first in a
temporary folder). Target: under a second each.

    python benchmarks/cli_speed.py [EXPERIMENT] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import tmp_dir


def seconds(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", nargs="?")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    with tmp_dir("pointtune-cli-speed-") as d:
        experiment = a.experiment
        if experiment is None:
            experiment = str(Path(d) / "res" / "speed")
            subprocess.run([sys.executable, "-m", "search", "run", "--trials", "2", "--epochs-range", "1", "1",
                            "--storage", str(Path(d) / "res"), "--name", "speed"], check=True, cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = str(Path(d) / "report.html")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "pointtune --help": [sys.executable, "-m", "search", "--help"],
            "pointtune results EXP": [sys.executable, "-m", "search", "results", experiment],
            "pointtune report EXP --no-model": [sys.executable, "-m", "search", "report", experiment, "--no-model",
                                                "--out", out],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(a.repeats):
            for name, argv in commands.items():
                times[name].append(seconds(argv))
    print(f"{'command':<36}{'median s':>10}{'min s':>8}")
    for name, ts in times.items():
        print(f"{name:<36}{statistics.median(ts):>10.2f}{min(ts):>8.2f}")
    slowest = max(statistics.median(times[k]) for k in list(commands)[2:])
    print(f"slowest of --help, results, report (median s): {slowest:.2f}")


if __name__ == "__main__":
    main()
