"""Driver memory, search start-up and trial memory for 1x, 4x and 16x the Dubai sample, side by side.

For each scale, a dataset of that many copies of ``../shared/data/dubai_aerial`` (symbolic links to the same files
under other names: each copy is a file of its own to check, cache and read; the demo scenes when Dubai is absent)
gets two real searches (``pointtune run`` as a subprocess, 2 trials of 1 epoch, the tiny CNN, a fresh node cache
per scale): the first checks every file (cold), the second finds the checks cache (warm). Measured per search:
seconds from the command's start until the driver prints its ``search ...`` line (checks, click simulation, Ray
start: everything before the first trial), the driver's peak resident memory (it prints it), and the trials'
peak resident memory (they report it). Target: memory flat in the dataset's size; start-up linear with a small
constant cold, near flat warm.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import demo_root, dubai_root, machine_note, print_table, tmp_dir


def tiled_copies(source: Path, target: Path, copies: int) -> None:
    """``copies`` copies of a dataset, as symbolic links under new names (``c03_tile1_part001.jpg``); the scene
    pattern keeps each copy's tiles together."""
    for sub in ("images", "semantic", "instance"):
        if not (source / sub).is_dir():
            continue
        (target / sub).mkdir(parents=True)
        for f in sorted((source / sub).iterdir()):
            for c in range(copies):
                (target / sub / f"c{c:02d}_{f.name}").symlink_to(f.resolve())
    classes = (source / "classes.yaml").read_text() if (source / "classes.yaml").is_file() else None
    if classes is not None:
        (target / "classes.yaml").write_text(re.sub(r"group_pattern:.*", "group_pattern: '^(c\\\\d+_scene\\\\d+)'",
                                                    classes))


def search(data: Path, fmt: list[str], storage: str, name: str, env: dict[str, str]) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "search", "run", "--data", str(data), *fmt, "--backbone", "tiny",
                             "--tile-size", "64", "--crops-per-epoch", "32", "--trials", "2", "--epochs-range", "1",
                             "1", "--density-range", "0.001", "0.01", "--storage", storage, "--name", name],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    startup, lines = float("nan"), []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("search ") and startup != startup:
            startup = time.perf_counter() - t0
    if proc.wait() != 0:
        raise SystemExit(f"search {name} failed:\n{''.join(lines[-40:])}")
    text = "".join(lines)
    driver = float(re.search(r"driver peak memory: (\d+) MiB", text).group(1))
    from search.results.experiment import load_experiment

    trials = max(float(r.history["peak_rss_mb"].max()) for r in load_experiment(f"{storage}/{name}"))
    return {"startup_s": startup, "driver_mib": driver, "trial_mib": trials}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    args = p.parse_args()
    real = dubai_root()
    source = real or Path(demo_root())
    fmt = ["--format", "dubai_aerial", "--resize", "0.5"] if real else []
    rows = []
    with tmp_dir("pointtune-bench-scale-") as scratch:
        for scale in args.scales:
            data = Path(scratch) / f"x{scale}"
            tiled_copies(source, data, scale)
            if real:  # the built-in format's scene pattern names Dubai's tiles: keep each copy's parts together
                (data / "classes.yaml").write_text(
                    (Path(__file__).resolve().parents[1] / "trainable" / "formats" / "dubai_aerial.yaml").read_text()
                    .replace("group_pattern: '^(tile\\d+)_'", "group_pattern: '^(c\\d+_tile\\d+)_'"))
                run_fmt = ["--classes", str(data / "classes.yaml"), "--resize", "0.5"]
            else:
                run_fmt = fmt
            env = {**os.environ, "POINTTUNE_NODE_CACHE": str(Path(scratch) / f"node{scale}"),
                   "POINTTUNE_CACHE": str(Path(scratch) / f"cache{scale}")}
            images = len(list((data / "images").iterdir()))
            for label in ("cold", "warm"):
                m = search(data, run_fmt, scratch, f"x{scale}-{label}", env)
                rows.append([f"{scale}x", images, label, m["startup_s"], m["driver_mib"], m["trial_mib"]])
                print(f"{scale}x {label}: {m}", flush=True)
            shutil.rmtree(Path(scratch) / f"node{scale}", ignore_errors=True)
    print_table(["scale", "images", "checks", "start-up s", "driver peak MiB", "trial peak MiB"], rows,
                title=f"{source if real else 'demo scenes'} ({'Dubai at half size' if real else ''}), 2 trials")
    print(machine_note())
    by = {(r[0], r[2]): r for r in rows}
    first, last = f"{args.scales[0]}x", f"{args.scales[-1]}x"
    print(f"driver memory {last}/{first}: {by[(last, 'cold')][4] / by[(first, 'cold')][4]:.2f}; trial memory "
          f"{last}/{first}: {by[(last, 'cold')][5] / by[(first, 'cold')][5]:.2f}; warm start-up {last}/{first}: "
          f"{by[(last, 'warm')][3] / by[(first, 'warm')][3]:.2f}")


if __name__ == "__main__":
    main()
