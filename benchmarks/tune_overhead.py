"""Per-epoch cost of running a trial under Ray Tune instead of a bare loop, and the search's fixed start-up cost.

The same training (demo scenes, DeepLabV3-MobileNetV3 at 64-px tiles, batch 8, 2 torch threads, random init,
checkpoint written every epoch) runs these ways, alternately, ``--repeats`` times each:

* bare: ``run_trial(cfg, report)`` in this process with a report function that only records ``time.time()``;
* tune: a one-trial ``tune.Tuner`` over ``tune.with_resources(tune.with_parameters(tune_entrypoint, data=data),
  cpu=2)`` with pointtune's real run config (checkpoint config, progress callback) and the same fixed config
  dict. A thin wrapper stamps ``time.time()`` on entry to every ``tune.report`` call inside the trial, so both
  runs measure an epoch the same way: the interval between consecutive report calls (training, BN
  recalibration, validation, checkpoint save, and whatever the previous report call blocked for);

Inside the trial, the time spent in ``tune.report`` and in Ray's copy of the checkpoint into storage is also
recorded, and the per-epoch checkpoint cost common to both paths (size, save as run_trial does and made durable)
is timed.

Epoch 1 (warm-up) is left out of the epoch medians. Ray is started afresh for every tune repetition and shut down
after it, so the bare runs have no Ray in the background. Fixed start-up cost of a search = Ray start, plus
(``Tuner.fit`` until the first result reaches the driver) minus (bare ``run_trial`` call until its first report),
i.e. what Tune adds before epoch 1 (trial actor start, imports, fetching the data from the object store).

Where the time goes is shown beside the epochs: the CPU seconds the trial's process spent per epoch (all its
threads), those of everything else the search runs (this driver, Ray's daemons and agents: the process tree under
this process), and the trial's niceness (its CPU priority: Ray lowers its workers' to 15 unless told otherwise).
``--beside`` runs the whole measurement while another 2-trial pointtune search (its own Ray) trains on the same
machine: what contention does to each path.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import time
from typing import Any

from common import (
    demo_config,
    demo_root,
    dubai_root,
    machine_busy_s,
    machine_note,
    median,
    print_table,
    process_cpu,
    quiet_stdout,
    ray_session,
    real_run_config,
    search_beside,
    tmp_dir,
    verdict,
)

TARGET = 1.03
# the search beside (--beside): 2 trials of 1 CPU each on the demo scenes, long enough to outlast the measurement
BESIDE_FLAGS = ("--backbone", "mobilenet_v3_large", "--weights", "none", "--tile-size", "64", "--trials", "2",
                "--epochs", "1000", "--cpus-per-trial", "1", "--seed", "1")


def stamped_entrypoint(config: dict[str, Any], data: Any = None, **passed: Any) -> None:
    """Runs in the trial actor: the real ``tune_entrypoint``, with a time stamp added to each report."""
    from ray import tune

    from trainable.tune_trial import tune_entrypoint

    real_report = tune.report
    previous = {"report_s": float("nan"), "persist_s": float("nan")}
    try:  # time Ray's copy of the checkpoint into the storage folder (a Ray internal: skipped if it moved)
        from ray.train._internal.storage import StorageContext

        real_persist = StorageContext.persist_current_checkpoint

        def persist(self: Any, checkpoint: Any) -> Any:
            t = time.time()
            out = real_persist(self, checkpoint)
            previous["persist_s"] = time.time() - t
            return out

        StorageContext.persist_current_checkpoint = persist
    except (ImportError, AttributeError):
        pass

    def report(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        t = time.time()
        stamps = {"bench_report_t": t, "bench_prev_report_s": previous["report_s"],
                  "bench_prev_persist_s": previous["persist_s"], "bench_cpu_s": time.process_time(),
                  "bench_nice": os.nice(0)}
        previous["persist_s"] = 0.0  # persist() sets it if this report copies a checkpoint
        real_report({**metrics, **stamps}, checkpoint=checkpoint)
        previous["report_s"] = time.time() - t  # durations travel with the next report

    tune.report = report  # tune_entrypoint looks tune.report up at call time
    try:
        tune_entrypoint(config, data, **passed)
    finally:
        tune.report = real_report


def run_bare(cfg: Any, data: Any) -> dict[str, Any]:
    from trainable.trial import run_trial

    stamps: list[float] = []
    compute: list[float] = []
    cpu: list[float] = []
    busy: list[float] = []

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        stamps.append(time.time())
        cpu.append(time.process_time())
        busy.append(machine_busy_s())
        compute.append(metrics["epoch_time_s"])

    t0 = time.time()
    run_trial(cfg, report, data=data)
    return {"first": stamps[0] - t0, "epochs": [b - a for a, b in itertools.pairwise(stamps)], "compute": compute[1:],
            "cpu": [b - a for a, b in itertools.pairwise(cpu)], "nice": os.nice(0),
            "elsewhere": [(busy[-1] - busy[0] - (cpu[-1] - cpu[0])) / (stamps[-1] - stamps[0])]}


def run_tune(cfg: Any, data: Any, cpus: int, system_config: dict | None = None,
             beside_pid: int | None = None) -> dict[str, Any]:
    from ray import tune

    METRIC, MODE = "best_val_f1", "max"  # what pointtune searches rank by

    arrivals: list[float] = []
    results: list[dict[str, Any]] = []
    cpu: list[dict[int, tuple[str, float]]] = []  # CPU seconds of this process and all under it, at each result
    busy: list[float] = []
    leave_out = [beside_pid] if beside_pid is not None else []  # the search beside is another program

    class Clock(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            arrivals.append(time.time())
            results.append(result)
            cpu.append(process_cpu(os.getpid(), leave_out=leave_out))
            busy.append(machine_busy_s())

    with ray_session(system_config=system_config) as ray_start_s, tmp_dir("pointtune-bench-tune-") as storage:
        run_config = real_run_config(cfg, storage, "tune_overhead")
        run_config.callbacks = [*run_config.callbacks, Clock()]
        trainable = tune.with_resources(tune.with_parameters(stamped_entrypoint, data=data),
                                        {"cpu": cpus, "gpu": 0})
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
    trial_pid = results[-1]["pid"]
    others: dict[str, float] = {}  # CPU seconds per epoch, by program: this driver, Ray's daemons
    for pid, (name, t) in cpu[-1].items():
        if pid != trial_pid:
            name = "driver (Tune's loop, callbacks)" if pid == os.getpid() else name
            others[name] = others.get(name, 0.0) + (t - cpu[0].get(pid, ("", 0.0))[1]) / (len(cpu) - 1)
    return {
        "ray_start": ray_start_s, "first": arrivals[0] - t_fit,
        "epochs": [b - a for a, b in itertools.pairwise(stamps)],
        "arrival_epochs": [b - a for a, b in itertools.pairwise(arrivals)],
        "time_this_iter": [r["time_this_iter_s"] for r in results[1:]],
        "compute": [r["epoch_time_s"] for r in results[1:]],
        "report": [r["bench_prev_report_s"] for r in results[2:]],  # durations of the reports of epochs 2+
        "persist": [r["bench_prev_persist_s"] for r in results[2:]],
        "checkpoints": sum(r.get("checkpoint_dir_name") is not None for r in results),
        "cpu": [b["bench_cpu_s"] - a["bench_cpu_s"] for a, b in itertools.pairwise(results)],
        "others_cpu": [sum(others.values())], "others": others, "nice": results[-1]["bench_nice"],
        "elsewhere": [(busy[-1] - busy[0] - sum(t - cpu[0].get(pid, ("", 0.0))[1] for pid, (_, t) in cpu[-1].items()))
                      / (arrivals[-1] - arrivals[0])],
        "fit_after_last": t_end - arrivals[-1], "shutdown": t_down - t_end,
    }


def checkpoint_costs(cfg: Any, num_classes: int, repeats: int = 3) -> list[list[Any]]:
    """Per-epoch checkpoint cost, common to both paths: size, save as run_trial does (``durable=False``: the file
    is a temporary copy), the same save made durable (fsync, as ``export`` writes), and a pyarrow copy as Ray's
    persist does."""

    import pyarrow.fs as pafs
    import torch

    from trainable.learn.checkpoint import save_checkpoint
    from trainable.learn.model import build_model

    model = build_model(cfg.model, num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    model(torch.randn(2, 3, cfg.data.tile_size, cfg.data.tile_size))["out"].mean().backward()
    optimizer.step()  # Adam's moments exist, as after an epoch
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1, "config": cfg.to_dict()}
    times: dict[str, list[float]] = {"temporary": [], "durable": [], "copy": []}
    size = 0
    for _ in range(repeats):
        for mode in ("temporary", "durable"):
            with tmp_dir("ckpt-src-") as src, tmp_dir("ckpt-dst-") as dst:
                t = time.perf_counter()
                size = save_checkpoint(src, state, durable=mode == "durable").stat().st_size
                times[mode].append(time.perf_counter() - t)
                t = time.perf_counter()
                pafs.copy_files(src, dst, source_filesystem=pafs.LocalFileSystem(),
                                destination_filesystem=pafs.LocalFileSystem())
                times["copy"].append(time.perf_counter() - t)
    return [[f"resume state size (MiB, {cfg.model.backbone} + Adam)", size / 2**20],
            ["save_checkpoint as run_trial does (durable=False)", median(times["temporary"])],
            ["save_checkpoint durable (fsync, as export writes)", median(times["durable"])],
            ["pyarrow copy into storage (as Ray's persist)", median(times["copy"])]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="mobilenet_v3_large", help="resnet50 for a heavier model")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--crops-per-epoch", type=int, default=64, help="64 = 8 batches, a few seconds per epoch here")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2, help="runs of each kind, alternated")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the trial = torch threads of the bare loop")
    p.add_argument("--data", choices=("demo", "dubai"), default="demo")
    p.add_argument("--beside", action="store_true",
                   help="measure while another 2-trial search (1 CPU per trial, its own Ray) trains beside")
    p.add_argument("--before", action="store_true",
                   help="also measure as pointtune ran before: Ray's default worker niceness (15) for the tune path "
                        "(and the search beside); alternated with the current settings")
    args = p.parse_args()

    from trainable.data.index import build_index
    from trainable.inputs import resolve_for_data

    root, fmt = demo_root(), "demo"
    if args.data == "dubai" and (real := dubai_root()) is not None:
        root, fmt = str(real), "dubai_aerial"
    cfg = demo_config(root, args.backbone, args.tile_size, args.crops_per_epoch, args.epochs,
                      num_threads=args.cpus, fmt=fmt)
    data = build_index(cfg.data)
    cfg = resolve_for_data(cfg, data)
    print(f"tune overhead: {args.backbone}, {args.tile_size}-px tiles, batch {cfg.train.batch_size}, "
          f"{args.crops_per_epoch} crops/epoch, {args.epochs} epochs, {args.cpus} threads/CPUs, data {root}")
    print(machine_note())

    # a condition: how Ray starts (None: as pointtune does, {}: Ray's defaults), for the tune path and the search beside
    conditions = {"": None, **({" (before)": {}} if args.before else {})}
    kinds = [f"{k}{c}" for c in conditions for k in ("bare", "tune")]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    if args.beside:
        print("a second search runs beside: pointtune run " + " ".join(BESIDE_FLAGS), flush=True)
    for rep in range(args.repeats):
        for label, system_config in conditions.items():
            beside = (search_beside(*BESIDE_FLAGS, system_config=system_config) if args.beside
                      else contextlib.nullcontext())
            with beside as other:
                for kind in ("bare", "tune"):
                    t0 = time.perf_counter()
                    run = (run_bare(cfg, data) if kind == "bare" else
                           run_tune(cfg, data, args.cpus, system_config, other.pid if other else None))
                    runs[kind + label].append(run)
                    print(f"  rep {rep + 1} {kind}{label}: {time.perf_counter() - t0:.1f} s, "
                          f"CPU/epoch {median(run['cpu']):.2f} s, other programs {run['elsewhere'][0]:.2f} "
                          "cores, epoch intervals "
                          + " ".join(f"{e:.2f}" for e in run["epochs"]), flush=True)
    bare, tuned = runs["bare"], runs["tune"]

    def pooled(group: list[dict[str, Any]], key: str) -> Any:
        values = [e for r in group for e in r.get(key, [])]
        return median(values) if values else ""

    def ratio_of(label: str) -> float:
        return pooled(runs["tune" + label], "epochs") / pooled(runs["bare" + label], "epochs")

    ratio = ratio_of("")
    b_first, t_first = median([r["first"] for r in bare]), median([r["first"] for r in tuned])
    ray_start = median([r["ray_start"] for r in tuned])

    def row(label: str, key: str) -> list[Any]:
        return [label, *(pooled(runs[k], key) for k in kinds)]

    rows = [
        row("epoch 2+ (s, between report calls)", "epochs"),
        row("  of which train+BN+val (epoch_time_s)", "compute"),
        row("  of which inside tune.report", "report"),
        row("    of which copying the checkpoint to storage", "persist"),
        row("epoch 2+ (s, driver: result arrivals)", "arrival_epochs"),
        row("epoch 2+ (s, Tune time_this_iter_s)", "time_this_iter"),
        row("trial process CPU per epoch (s, all threads)", "cpu"),
        row("driver + Ray's other processes CPU per epoch (s)", "others_cpu"),
        row("other programs of the machine meanwhile (cores)", "elsewhere"),
        ["trial niceness (CPU priority; 0 = as the command)", *(runs[k][0]["nice"] for k in kinds)],
        ["start until 1st report (s, epoch 1 incl.)", *(median([r["first"] for r in runs[k]]) for k in kinds)],
        ["checkpoints copied to storage per run", *(median([r.get("checkpoints", 0) for r in runs[k]]) for k in kinds)],
        ["epoch ratio tune/bare", *(ratio_of(k.removeprefix("tune")) if k.startswith("tune") else ""
                                    for k in kinds)],
    ]
    print_table(["median over runs", *kinds], rows, title="per-epoch time" + (", a search beside" if args.beside
                                                                             else ""))
    startup = ray_start + t_first - b_first
    programs = sorted({n for r in tuned for n in r["others"]}, key=lambda n: -median([r["others"].get(n, 0.0)
                                                                                     for r in tuned]))
    print_table(["CPU per epoch beside the trial (median)", "s"],
                [[n, median([r["others"].get(n, 0.0) for r in tuned])] for n in programs[:8]],
                title="what else ran during the tune path's epochs 2+ (the trial yields a core meanwhile)")
    print_table(["fixed cost of a search (median)", "s"], [
        ["ray start (fresh local instance)", ray_start],
        ["Tuner.fit -> 1st result, minus bare start -> 1st report", t_first - b_first],
        ["start-up total (ray start + the line above)", startup],
        ["last result -> fit returns", median([r["fit_after_last"] for r in tuned])],
        ["ray shutdown", median([r["shutdown"] for r in tuned])],
    ], title="search start-up / teardown (pointtune's tune path)")
    print_table(["checkpoint, every epoch (median of 3)", "s / MiB"],
                checkpoint_costs(cfg, data.classes.num_classes), title="checkpoint cost (both paths)")
    for label in conditions:
        print(f"\nper-rep ratios{label}: " + " ".join(
            f"{median(t['epochs']) / median(b['epochs']):.3f}"
            for b, t in zip(runs["bare" + label], runs["tune" + label], strict=True)), end="")
    print()
    print(f"search start-up cost (s): {startup:.2f}")
    print(f"{verdict(ratio, TARGET, '<=')}; tune/bare epoch ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
