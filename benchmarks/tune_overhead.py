"""Per-epoch cost of running a trial under Ray Tune instead of a bare loop, and the search's fixed start-up cost.

The same training (demo scenes, DeepLabV3-MobileNetV3 at 64-px tiles, batch 8, 2 torch threads, random init,
checkpoint written every epoch) runs two ways, alternately, ``--repeats`` times each:

* bare: ``run_trial(cfg, report)`` in this process with a report function that only records ``time.time()``;
* tune: a one-trial ``tune.Tuner`` over ``tune.with_resources(tune.with_parameters(tune_entrypoint, data=data),
  cpu=2)`` with pointtune's real run config (checkpoint config, progress callback) and the same fixed config
  dict. A thin wrapper stamps ``time.time()`` on entry to every ``tune.report`` call inside the trial, so both
  runs measure an epoch the same way: the interval between consecutive report calls (training, BN
  recalibration, validation, checkpoint save, and whatever the previous report call blocked for).

Epoch 1 (warm-up) is left out of the epoch medians. Ray is started afresh for every tune repetition and shut down
after it, so the bare runs have no Ray in the background. Fixed start-up cost of a search = Ray start, plus
(``Tuner.fit`` until the first result reaches the driver) minus (bare ``run_trial`` call until its first report),
i.e. what Tune adds before epoch 1 (trial actor start, imports, fetching the data from the object store).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import (demo_config, demo_root, dubai_root, machine_note, median, print_table, quiet_stdout, ray_session,
                    real_run_config, tmp_dir, verdict)

TARGET = 1.03


def stamped_entrypoint(config: dict[str, Any], data: Any = None) -> None:
    """Runs in the trial actor: the real ``tune_entrypoint``, with a time stamp added to each report."""
    from ray import tune

    from trainable.trial import tune_entrypoint

    real_report = tune.report

    def report(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        real_report({**metrics, "bench_report_t": time.time()}, checkpoint=checkpoint)

    tune.report = report  # tune_entrypoint looks tune.report up at call time
    try:
        tune_entrypoint(config, data)
    finally:
        tune.report = real_report


def run_bare(cfg: Any, data: Any) -> dict[str, Any]:
    from trainable.trial import run_trial

    stamps: list[float] = []
    t0 = time.time()
    run_trial(cfg, lambda metrics, checkpoint_dir: stamps.append(time.time()), data=data)
    return {"first": stamps[0] - t0, "epochs": [b - a for a, b in zip(stamps, stamps[1:])]}


def run_tune(cfg: Any, data: Any, cpus: int) -> dict[str, Any]:
    from ray import tune

    from search.launch import METRIC, MODE
    from trainable.trial import tune_entrypoint  # noqa: F401  (imported here so its import time is not timed)

    arrivals: list[float] = []
    results: list[dict[str, Any]] = []

    class Clock(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            arrivals.append(time.time())
            results.append(result)

    t_ray0 = time.time()
    with ray_session() as ray_start_s, tmp_dir("pointtune-bench-tune-") as storage:
        run_config = real_run_config(cfg, storage, "tune_overhead")
        run_config.callbacks = [*run_config.callbacks, Clock()]
        trainable = tune.with_resources(tune.with_parameters(stamped_entrypoint, data=data), {"cpu": cpus, "gpu": 0})
        tuner = tune.Tuner(trainable, param_space=cfg.to_dict(), run_config=run_config,
                           tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=1))
        t_fit = time.time()
        with quiet_stdout():
            grid = tuner.fit()
        t_end = time.time()
        if grid.errors:
            raise RuntimeError(f"the tune trial failed: {grid.errors[0]}")
    t_down = time.time()
    stamps = [r["bench_report_t"] for r in results]
    return {
        "ray_start": ray_start_s, "first": arrivals[0] - t_fit,
        "epochs": [b - a for a, b in zip(stamps, stamps[1:])],
        "arrival_epochs": [b - a for a, b in zip(arrivals, arrivals[1:])],
        "time_this_iter": [r["time_this_iter_s"] for r in results[1:]],
        "fit_after_last": t_end - arrivals[-1], "shutdown": t_down - t_end, "total": t_down - t_ray0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="mobilenet_v3_large", help="resnet50 for a heavier model")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--crops-per-epoch", type=int, default=64, help="64 = 8 batches, a few seconds per epoch here")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2, help="bare and tune runs each, alternated")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the trial = torch threads of the bare loop")
    p.add_argument("--data", choices=("demo", "dubai"), default="demo")
    args = p.parse_args()

    from trainable.dataset import load_dataset

    root, fmt = demo_root(), "demo"
    if args.data == "dubai" and (real := dubai_root()) is not None:
        root, fmt = str(real), "dubai_aerial"
    cfg = demo_config(root, args.backbone, args.tile_size, args.crops_per_epoch, args.epochs,
                      num_threads=args.cpus, fmt=fmt)
    data = load_dataset(cfg.data)
    print(f"tune overhead: {args.backbone}, {args.tile_size}-px tiles, batch {cfg.train.batch_size}, "
          f"{args.crops_per_epoch} crops/epoch, {args.epochs} epochs, {args.cpus} threads/CPUs, data {root}")
    print(machine_note())

    bare, tuned = [], []
    for rep in range(args.repeats):
        for kind in ("bare", "tune"):
            t0 = time.perf_counter()
            run = run_bare(cfg, data) if kind == "bare" else run_tune(cfg, data, args.cpus)
            (bare if kind == "bare" else tuned).append(run)
            print(f"  rep {rep + 1} {kind}: {time.perf_counter() - t0:.1f} s, epoch intervals "
                  + " ".join(f"{e:.2f}" for e in run["epochs"]), flush=True)

    b_ep = median([e for r in bare for e in r["epochs"]])
    t_ep = median([e for r in tuned for e in r["epochs"]])
    ratio = t_ep / b_ep
    b_first, t_first = median([r["first"] for r in bare]), median([r["first"] for r in tuned])
    ray_start = median([r["ray_start"] for r in tuned])
    rows = [
        ["epoch 2+ (s, between report calls)", b_ep, t_ep, t_ep - b_ep],
        ["epoch 2+ (s, driver: result arrivals)", "", median([e for r in tuned for e in r["arrival_epochs"]]), ""],
        ["epoch 2+ (s, Tune time_this_iter_s)", "", median([e for r in tuned for e in r["time_this_iter"]]), ""],
        ["start until 1st report (s, epoch 1 incl.)", b_first, t_first, t_first - b_first],
    ]
    print_table(["median over runs", "bare", "tune", "tune - bare"], rows, title="per-epoch time")
    startup = ray_start + t_first - b_first
    print_table(["fixed cost of a search (median)", "s"], [
        ["ray start (fresh local instance)", ray_start],
        ["Tuner.fit -> 1st result, minus bare start -> 1st report", t_first - b_first],
        ["start-up total (ray start + the line above)", startup],
        ["last result -> fit returns", median([r["fit_after_last"] for r in tuned])],
        ["ray shutdown", median([r["shutdown"] for r in tuned])],
    ], title="search start-up / teardown")
    print(f"\nper-rep ratios: " + " ".join(f"{median(t['epochs']) / median(b['epochs']):.3f}"
                                         for b, t in zip(bare, tuned)))
    print(f"search start-up cost (s): {startup:.2f}")
    print(f"{verdict(ratio, TARGET, '<=')}; tune/bare epoch ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
