"""Time from a trial's start to its first training batch, for 1 vs 8 trials and a small vs a larger dataset, and
the memory of a trial process against the size of the decoded dataset it trains on.

Each dataset is checked once in this process (``build_index``) and its index given to Tune as pointtune does:
``tune.with_resources(tune.with_parameters(<trainable>, data=index), cpu=1)``. The trainable is a thin wrapper
around the real ``tune_entrypoint`` that, inside the trial process, stamps the time

* on entry (the data has already arrived: ``with_parameters`` fetches it from the object store before the call),
* when ``build_inputs`` (split, point simulation, loaders) and ``build_model`` return,
* when the first training batch comes out of the train loader (the loader is wrapped, nothing else changes;
  wall and process CPU time, the latter immune to CPU contention),

and, at the first ``tune.report`` (after epoch 1), reads the trial process's USS/PSS/RSS (psutil). The driver
stamps each trial's start (``on_trial_start``) too. Trials reuse their
processes as ``pointtune run`` does (``TuneConfig(reuse_actors=True)``); an extra search of ``--trials`` trials
with a new process per trial (``reuse_actors=False``) on the small data shows what that saves.

Searches: 1 trial (run ``--single-repeats`` times) and ``--trials`` trials with 2 at a time, same fixed config
(MobileNetV3, 64-px tiles, 1 epoch of 2 batches), on demo data of 24 images of 128 px and of 96 images of 256 px.
Headline: median(entry -> first batch) with 8 trials / median with 1 trial, over both datasets.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from common import (
    dataset_bytes,
    demo_config,
    demo_root,
    machine_note,
    median,
    print_table,
    quiet_stdout,
    ray_session,
    real_run_config,
    timed,
    tmp_dir,
    verdict,
)

TARGET = 1.25  # 2 trials share 2 cores with the driver: some contention is expected, no growth beyond


def probed_entrypoint(config: dict[str, Any], data: Any = None, **passed: Any) -> None:
    """Runs in the trial process: the real ``tune_entrypoint`` with time stamps and a memory probe."""
    import psutil
    from ray import tune

    import trainable.trial as trial
    from trainable.tune_trial import tune_entrypoint

    marks: dict[str, float] = {"entry": time.time(), "entry_cpu": time.process_time()}
    real = {"report": tune.report, "train": trial.train_one_epoch, "inputs": trial.build_inputs,
            "model": trial.build_model}

    def build_inputs(*a: Any, **k: Any) -> Any:
        out = real["inputs"](*a, **k)
        marks.setdefault("inputs", time.time())
        return out

    def build_model(*a: Any, **k: Any) -> Any:
        out = real["model"](*a, **k)
        marks.setdefault("model", time.time())
        return out

    def train_one_epoch(model: Any, loader: Any, *a: Any, **k: Any) -> Any:
        def batches() -> Any:
            for batch in loader:
                if "first_batch" not in marks:
                    marks.update(first_batch=time.time(), first_batch_cpu=time.process_time())
                yield batch
        return real["train"](model, batches(), *a, **k)

    def report(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        mem = psutil.Process().memory_full_info()
        probe = {f"bench_{k}_t": v for k, v in marks.items()}
        probe.update(bench_uss=mem.uss, bench_pss=mem.pss, bench_rss=mem.rss, bench_pid=psutil.Process().pid)
        real["report"]({**metrics, **probe}, checkpoint=checkpoint)

    tune.report, trial.train_one_epoch, trial.build_inputs, trial.build_model = (
        report, train_one_epoch, build_inputs, build_model)
    try:
        tune_entrypoint(config, data, **passed)
    finally:
        tune.report, trial.train_one_epoch, trial.build_inputs, trial.build_model = (
            real["report"], real["train"], real["inputs"], real["model"])


def run_search(cfg: Any, data: Any, trials: int, concurrent: int, reuse: bool = True) -> list[dict[str, Any]]:
    """One search of ``trials`` identical trials; per trial: its first result plus the driver's start stamp."""
    from ray import tune

    METRIC, MODE = "best_val_f1", "max"  # what pointtune searches rank by

    started: dict[str, float] = {}
    first: dict[str, dict[str, Any]] = {}

    class Clock(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            started[trial.trial_id] = time.time()

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            first.setdefault(trial.trial_id, result)

    with tmp_dir("pointtune-bench-start-") as storage:
        run_config = real_run_config(cfg, storage, "trial_start", trials)
        run_config.callbacks = [*run_config.callbacks, Clock()]
        trainable = tune.with_resources(tune.with_parameters(probed_entrypoint, data=data), {"cpu": 1, "gpu": 0})
        tuner = tune.Tuner(trainable, param_space=cfg.to_dict(), run_config=run_config,
                           tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=trials,
                                                       max_concurrent_trials=concurrent, reuse_actors=reuse))
        with quiet_stdout():
            grid = tuner.fit()
    if grid.errors:
        raise RuntimeError(f"a trial failed: {grid.errors[0]}")
    return [{**r, "driver_start_t": started[tid]} for tid, r in first.items()]


def import_seconds(repeats: int = 2) -> float:
    """Seconds a fresh Python process takes to ``import trainable.trial`` (torch, torchvision, scipy ...)."""
    code = "import time; t = time.perf_counter(); import trainable.trial; print(time.perf_counter() - t)"
    return median([float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                        check=True).stdout.split()[-1]) for _ in range(repeats)])


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    def m(key: str) -> float:
        return median([r[key] for r in runs])

    return {
        "start_to_entry": median([r["bench_entry_t"] - r["driver_start_t"] for r in runs]),
        "inputs": median([r["bench_inputs_t"] - r["bench_entry_t"] for r in runs]),
        "model": median([r["bench_model_t"] - r["bench_inputs_t"] for r in runs]),
        "entry_to_batch": median([r["bench_first_batch_t"] - r["bench_entry_t"] for r in runs]),
        "entry_to_batch_cpu": median([r["bench_first_batch_cpu_t"] - r["bench_entry_cpu_t"] for r in runs]),
        "start_to_batch": median([r["bench_first_batch_t"] - r["driver_start_t"] for r in runs]),
        "uss": m("bench_uss"), "pss": m("bench_pss"), "rss": m("bench_rss"),
    }


def table_rows(name: str, label: str, runs: list[dict[str, Any]], nbytes: int) -> tuple[list[Any], list[Any]]:
    """One row of the timing table and one of the memory table for a group of trials."""
    s = summarise(runs)
    mib = 2**20
    return ([name, label, s["start_to_entry"], s["inputs"], s["model"], s["entry_to_batch"], s["entry_to_batch_cpu"],
             s["start_to_batch"]],
            [name, label, nbytes / mib, s["uss"] / mib, s["pss"] / mib, s["rss"] / mib])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8, help="trials of the larger search (2 run at a time)")
    p.add_argument("--concurrent", type=int, default=2)
    p.add_argument("--single-repeats", type=int, default=2, help="1-trial searches per dataset")
    p.add_argument("--large", default="96x256", help="IMAGESxSIZE of the larger demo dataset, e.g. 96x512")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--no-reuse-variant", dest="reuse_variant", action="store_false",
                   help="skip the extra search with a new process per trial (reuse_actors=False) on the small data")
    args = p.parse_args()

    from trainable.data.index import build_index
    from trainable.inputs import resolve_for_data

    n_large, size_large = (int(x) for x in args.large.split("x"))
    sets = {"24x128": demo_root(), args.large: demo_root(n_large, size_large)}
    print(f"trial start: MobileNetV3, {args.tile_size}-px tiles, 1 epoch of 2 batches, 1 CPU per trial; "
          f"searches of 1 trial (x{args.single_repeats}) and {args.trials} trials ({args.concurrent} at a time)")
    print(machine_note())
    rows, mem_rows, growth, cpu_growth, first_batch_1, nbytes_of = [], [], [], [], {}, {}
    extra: list[tuple[list[Any], list[Any]]] = []
    with ray_session() as ray_start_s:
        print(f"ray start: {ray_start_s:.1f} s")
        for name, root in sets.items():
            cfg = demo_config(root, tile_size=args.tile_size, crops_per_epoch=16, epochs=1, num_threads=1)
            cfg = cfg.replace(data={"val_fraction": 0.05})  # few validation tiles: the start is what is measured
            decode_s, data = timed(lambda cfg=cfg: build_index(cfg.data))
            cfg = resolve_for_data(cfg, data)
            nbytes = nbytes_of[name] = dataset_bytes(data)
            print(f"  {name}: checked once in {decode_s:.2f} s, {nbytes / 2**20:.1f} MiB decoded", flush=True)
            one: list[dict[str, Any]] = []
            many: list[dict[str, Any]] = []
            for step in ["one", "many"] + ["one"] * (args.single_repeats - 1):
                n = 1 if step == "one" else args.trials
                t0 = time.perf_counter()
                (one if step == "one" else many).extend(run_search(cfg, data, n, min(n, args.concurrent)))
                print(f"  {name}: search of {n} trial(s) {time.perf_counter() - t0:.1f} s", flush=True)
            for label, runs in ((f"1 trial (x{len(one)})", one), (f"{args.trials} trials", many)):
                r, m = table_rows(name, label, runs, nbytes)
                rows.append(r)
                mem_rows.append(m)
            single, several = summarise(one), summarise(many)
            first_batch_1[name] = single["entry_to_batch"]
            growth.append(several["entry_to_batch"] / first_batch_1[name])
            cpu_growth.append(several["entry_to_batch_cpu"] / single["entry_to_batch_cpu"])
            if args.reuse_variant and not extra:  # first (small) dataset only
                t0 = time.perf_counter()
                fresh = run_search(cfg, data, args.trials, args.concurrent, reuse=False)
                print(f"  {name}: search of {args.trials} trials, a new process per trial "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
                extra.append(table_rows(name, f"{args.trials} trials, new processes", fresh, nbytes))
    import_s = import_seconds()
    rows += [r for r, _ in extra]
    mem_rows += [m for _, m in extra]

    print_table(["data", "search", "start->entry", "build_inputs", "build_model", "entry->1st batch",
                 "same, CPU s", "start->1st batch"], rows,
                title="seconds, median over trials (start = driver's on_trial_start; "
                      "entry = trainable called, data already fetched)")
    print_table(["data", "search", "data MiB", "USS MiB", "PSS MiB", "RSS MiB"], mem_rows,
                title="trial process memory at its first report (after epoch 1)")
    print(f"\na fresh process imports trainable.trial (torch, torchvision ...) in {import_s:.2f} s "
          "(part of start->entry whenever a trial gets a new process instead of a reused one)")
    (small, large) = sets
    print(f"entry->1st batch, {large} vs {small} data (1 trial): {first_batch_1[large] / first_batch_1[small]:.2f}x "
          f"for {nbytes_of[large] / nbytes_of[small]:.0f}x the decoded bytes")
    uss = {r[0]: r[3] for r in mem_rows if r[1].startswith("1 trial")}
    print(f"USS {large} minus {small} (1 trial): {uss[large] - uss[small]:+.1f} MiB for "
          f"{(nbytes_of[large] - nbytes_of[small]) / 2**20:+.1f} MiB more decoded data")
    ratio = median(growth)
    print("growth per dataset: " + ", ".join(f"{n} {g:.2f}" for n, g in zip(sets, growth, strict=True))
          + "; in CPU seconds of the trial process: "
          + ", ".join(f"{n} {g:.2f}" for n, g in zip(sets, cpu_growth, strict=True)))
    print(f"{verdict(ratio, TARGET, '<=')}; trial start growth {args.trials} vs 1 trials: {ratio:.2f}")


if __name__ == "__main__":
    main()
