"""Per-trial cost of the searcher and of Tune's bookkeeping, with a trainable that does nothing.

The trainable reports one result (random ``val_f1``, ``best_val_f1`` and the keys pointtune's progress callback
prints) and returns; it imports neither torch nor pointtune's trainable. ``--trials`` trials (1 CPU each, so 2 at
a time on 2 cores, as ``pointtune run`` would allow) run over pointtune's real search space (its sampler with the
demo ranges) and its real run config (``search.launch.tuner.run_config``: checkpoint config, failure config, progress
callback, per-trial directory names), with:

* ``pointtune``: pointtune's own TuneConfig (``search.launch.tuner.tune_config``: OptunaSearch with TPE and a
  JournalStorage file through a ConcurrencyLimiter, trial processes reused);
* ``no reuse``: the same with ``reuse_actors=False``: every trial starts a new process;
* ``random``: no searcher (Tune's BasicVariantGenerator over the base config), processes reused: the reference.

Per trial: wall time of ``Tuner.fit`` / trials (Ray is started once beforehand and not counted). Variants run
in turn, ``--repeats`` times; medians are reported. Headline: the ``pointtune`` figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from typing import Any

from common import machine_note, median, print_table, quiet_stdout, ray_session, tmp_dir, verdict

TARGET = 0.2


def null_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    f1 = random.random()
    tune.report({"val_f1": f1, "best_val_f1": f1, "val_miou": 0.0, "epoch": 1, "epoch_time_s": 0.0})


def run_variant(variant: str, trials: int, concurrent: int, storage: str) -> dict[str, float]:
    """One search with the null trainable: fit seconds per trial, time to the first trial start, the rest."""
    from ray import tune

    from search.launch.progress import ProgressPrinter
    from search.launch.settings import SearchSettings, SearchSpace
    from search.launch.space import build_param_space
    from search.launch.tuner import run_config, tune_config
    from trainable.config import TrialConfig
    from trainable.defaults import profile

    demo = profile(demo=True)
    space = SearchSpace(lr=demo["lr_range"], density=demo["density_range"], epochs=demo["epochs_range"])
    settings = SearchSettings(base=TrialConfig(), space=space, trials=trials, max_concurrent=concurrent,
                              storage=storage, name=f"overhead-{variant}-{time.time_ns()}")
    searching = tune_config(settings, concurrent)
    if variant == "no reuse":
        searching = dataclasses.replace(searching, reuse_actors=False)
    elif variant == "random":
        searching = dataclasses.replace(searching, search_alg=None, max_concurrent_trials=concurrent)
    starts: list[float] = []

    class Clock(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            starts.append(time.perf_counter())

    running = run_config(settings, ProgressPrinter(settings))
    running.callbacks = [*running.callbacks, Clock()]
    tuner = tune.Tuner(tune.with_resources(null_trainable, {"cpu": 1, "gpu": 0}),
                       param_space=build_param_space(settings), tune_config=searching, run_config=running)
    t0 = time.perf_counter()
    with quiet_stdout():
        grid = tuner.fit()
    seconds = time.perf_counter() - t0
    if grid.errors or len(grid) != trials:
        raise RuntimeError(f"{variant}: {len(grid.errors)} failed trial(s) of {len(grid)}")
    return {"per_trial": seconds / trials, "to_first": starts[0] - t0,
            "after_first": (seconds - (starts[0] - t0)) / trials}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--concurrent", type=int, default=2, help="trials at once (= CPUs here, 1 CPU per trial)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=["pointtune", "no reuse", "random"],
                   choices=["pointtune", "no reuse", "random"])
    args = p.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" lines
    print(f"search overhead: {args.trials} trials of a do-nothing trainable, {args.concurrent} at a time")
    print(machine_note())
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    with ray_session(num_cpus=args.concurrent) as ray_start_s, tmp_dir("pointtune-bench-search-") as storage:
        print(f"ray start: {ray_start_s:.1f} s (not counted below)")
        for rep in range(args.repeats):
            for v in args.variants:
                runs[v].append(run_variant(v, args.trials, args.concurrent, storage))
                print(f"  rep {rep + 1} {v}: {runs[v][-1]['per_trial']:.3f} s/trial", flush=True)

    def m(v: str, key: str) -> float:
        return median([r[key] for r in runs[v]]) if v in runs else float("nan")

    rows = [[v, m(v, "per_trial"), m(v, "per_trial") * args.trials, m(v, "per_trial") - m("random", "per_trial"),
             m(v, "to_first"), m(v, "after_first")] for v in runs]
    print_table(["variant", "s/trial", "fit wall s", "minus random", "fit->1st trial s", "s/trial after 1st"],
                rows, title=f"per-trial cost (fit wall / {args.trials}), median of {args.repeats}")
    headline = m("pointtune", "per_trial") if "pointtune" in runs else m(next(iter(runs)), "per_trial")
    print(f"{verdict(headline, TARGET, '<')}; search overhead per trial (s): {headline:.3f}")


if __name__ == "__main__":
    main()
