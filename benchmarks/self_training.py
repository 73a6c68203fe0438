"""Does self-training's second stage pay? Each variant of it against the same clicks trained as many epochs without it.

Per seed (the simulated annotator's clicks, the initial weights and the crops all follow it), on one split:

- ``control``: the clicks trained 2E epochs, one schedule over them: the fair control (the same epochs in all);
- ``stage 1``: the clicks trained E epochs (every variant's first stage: trained once per seed, its state at epoch E
  shared, since the second stage's settings change nothing before it);
- each variant: stage 1, then E epochs of the second stage (``--pseudo-labels T``) with the variant's settings:
  ``stage`` as it is (the stage-1 best model labels once, one class-balanced loss), ``lr`` a lower learning rate
  (``--pseudo-lr-factor``), ``teacher`` a mean teacher (``--teacher-decay``), ``class`` per-class thresholds
  (``--pseudo-class-share``), ``term`` the pseudo-labels' own loss term (``--pseudo-weight``), ``teacher+lr`` the
  mean teacher with the lower rate, ``all`` the four together.

With ``--keep DIR --reuse``, the finished runs and stage-1 states that DIR already holds from the same settings (an
earlier run's) are scored again rather than trained: more variants or seeds against the same controls.

Every run keeps its best epoch by validation F1 (dense masks), as ``pointtune train`` does (over both stages), and
that model is scored image by image on the split's test part (``compare.per_image_f1``); ``compare.difference``
pairs each arm with the control over seeds and test images: the mean difference, its 95 % two-level bootstrap
interval, a verdict. The bar: +0.02 F1 with the interval above zero.

    python benchmarks/self_training.py                        # Dubai (../shared/data/dubai_aerial), 3 seeds, E 8
    python benchmarks/self_training.py --data DIR --format NAME --split FILE --variants stage lr --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from compare import arm_mean, difference, per_image_f1

from common import DUBAI_ROOT, data_root, quiet_stdout, tmp_dir
from search.files import TRAIN_METRICS, TRAIN_MODEL
from search.launch.train import RunDirectory
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
from trainable.data.index import build_index
from trainable.trial import run_trial

BAR = 0.02  # F1 over the control, with the interval above zero
VARIANTS = ("stage", "lr", "teacher", "class", "term", "teacher+lr", "all")
_INDEX = None  # the checked dataset, built once in the parent and inherited by the forked workers


def variant_settings(name: str, a: argparse.Namespace) -> dict[str, Any]:
    """The second stage's settings of a variant (``TrainConfig`` fields)."""
    own = {"lr": {"pseudo_lr_factor": a.lr_factor}, "teacher": {"teacher_decay": a.teacher_decay},
           "class": {"pseudo_class_share": a.class_share}, "term": {"pseudo_weight": a.pseudo_weight}}
    settings = {"pseudo_labels": a.threshold}
    for part in own if name == "all" else name.split("+"):
        settings.update(own.get(part, {}))
    return settings


def config(a: argparse.Namespace, seed: int, epochs: int, **train: Any) -> TrialConfig:
    mode = ({"mode": "per_instance", "clicks_per_object": a.clicks_per_object} if a.clicks_per_object
            else {"density": a.density})
    return TrialConfig(
        data=DataConfig(root=a.data, format=a.format, split=a.split, tile_size=a.tile_size, resize=a.resize,
                        crops_per_epoch=a.crops_per_epoch, val_clicks=0),
        points=PointConfig(seed=seed, **mode), model=ModelConfig(backbone=a.backbone, weights="none"),
        train=TrainConfig(lr=a.lr, epochs=epochs, batch_size=a.batch_size, seed=seed, num_threads=1, device="cpu",
                          **train)).validate()


class _StageOneDone(Exception):
    """Raised once the state at the end of stage 1 is saved: what follows is each variant's."""


def stage_one(a: argparse.Namespace, seed: int, work: Path) -> Path:
    """Train stage 1 (E epochs, self-training on so that the best epoch's weights are kept) and save its state."""
    path = work / f"s{seed}_stage1.pt"
    if a.reuse and path.is_file():
        return path

    def keep(state: dict[str, Any]) -> int:
        if state["epoch"] == a.epochs:
            torch.save(state, path)
            raise _StageOneDone
        return 0

    try:
        run_trial(config(a, seed, a.epochs, pseudo_labels=a.threshold), lambda *_: None, data=_INDEX, save_state=keep)
    except _StageOneDone:
        pass
    return path


def one_arm(job: tuple[str, int, argparse.Namespace, str]) -> tuple[str, int, dict[str, float], dict[str, float],
                                                                   float]:
    """Train one arm for one seed into its folder, score its best model per test image; returns (arm, seed,
    per-image F1, what its second stage reported, seconds)."""
    arm, seed, a, work = job
    t0, out, state = time.perf_counter(), Path(work) / f"s{seed}_{arm}", Path(work) / f"s{seed}_stage1.pt"
    resume = None
    if arm == "control":
        cfg = config(a, seed, 2 * a.epochs)
    elif arm == "stage 1":  # nothing to train: the stage-1 history is reported again, its best epoch's weights kept
        cfg, resume = config(a, seed, a.epochs), torch.load(state, weights_only=False)
    else:
        cfg, resume = config(a, seed, a.epochs, **variant_settings(arm, a)), torch.load(state, weights_only=False)
    if not (a.reuse and finished(out, a.epochs if arm == "stage 1" else 2 * a.epochs)):
        with quiet_stdout():  # the epochs' lines
            run_dir = RunDirectory(out, cfg)
            run_trial(cfg, run_dir.report, data=_INDEX, resume=resume, recorded_epochs=0 if resume else None)
    history = pd.read_csv(out / TRAIN_METRICS)
    second = history[history["epoch"] == a.epochs + 1]
    stage = ({k: float(second[k].iloc[0]) for k in ("pseudo_labelled_fraction", "pseudo_label_accuracy")}
             if len(second) and "pseudo_labelled_fraction" in second else {})
    stage["best_epoch"] = int(history.loc[history["val_f1"].idxmax(), "epoch"])
    stage["val_f1"] = float(history["val_f1"].max())
    return arm, seed, per_image_f1(out, a.data, "test", a.format), stage, time.perf_counter() - t0


def finished(out: Path, epochs: int) -> bool:
    """Whether ``out`` holds a run of ``epochs`` epochs (its metrics and best model)."""
    return ((out / TRAIN_MODEL).is_file() and (out / TRAIN_METRICS).is_file()
            and len(pd.read_csv(out / TRAIN_METRICS)) == epochs)


def run_all(a: argparse.Namespace, work: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Every arm for every seed: the controls beside the stage-1 runs, then the variants from the saved states."""
    scores: dict[str, dict[int, dict[str, float]]] = {}
    stages: dict[str, list[dict]] = {}

    def keep(result: tuple) -> None:
        arm, seed, f1, stage, seconds = result
        scores.setdefault(arm, {})[seed] = f1
        stages.setdefault(arm, []).append(stage)
        mean = sum(f1.values()) / len(f1)
        print(f"  seed {seed} {arm:<8} test F1 {mean:.4f} over {len(f1)} images, best epoch {stage['best_epoch']} "
              f"(val F1 {stage['val_f1']:.4f})"
              + (f", stage 2 pseudo-labelled {stage['pseudo_labelled_fraction']:.1%} at accuracy "
                 f"{stage['pseudo_label_accuracy']:.3f}" if "pseudo_labelled_fraction" in stage else "")
              + f"  ({seconds:.0f} s)", flush=True)

    with mp.get_context("fork").Pool(a.workers) as pool:
        controls = pool.map_async(one_arm, [("control", s, a, str(work)) for s in a.seeds])
        for _ in pool.imap_unordered(_stage_one_job, [(a, s, str(work)) for s in a.seeds]):
            pass
        arms = ["stage 1", *a.variants]
        for result in pool.imap_unordered(one_arm, [(arm, s, a, str(work)) for s in a.seeds for arm in arms]):
            keep(result)
        for result in controls.get():
            keep(result)
    return scores, stages


def _stage_one_job(job: tuple[argparse.Namespace, int, str]) -> None:
    a, seed, work = job
    t0 = time.perf_counter()
    stage_one(a, seed, Path(work))
    print(f"  seed {seed} stage 1 ({a.epochs} epochs) trained  ({time.perf_counter() - t0:.0f} s)", flush=True)


def table(a: argparse.Namespace, scores: dict[str, dict], stages: dict[str, list[dict]]) -> list[str]:
    """Each arm against the control: the markdown table; returns the variants that meet the bar."""
    control = scores["control"]
    mean, spread = arm_mean(control)
    print("\n| arm | second stage | test F1 (per-seed spread) | vs control, 95 % interval | verdict | Wilcoxon p | "
          "pseudo-labelled (accuracy) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| control | none, {2 * a.epochs} epochs on the clicks | {mean:.3f} ({spread:.3f}) | | | | |")
    met = []
    for arm in ["stage 1", *a.variants]:
        mean, spread = arm_mean(scores[arm])
        gap = difference(scores[arm], control)
        what = (f"none, {a.epochs} epochs" if arm == "stage 1" else
                ", ".join(f"{k} {v:g}" for k, v in variant_settings(arm, a).items()))
        st = [s for s in stages[arm] if "pseudo_labelled_fraction" in s]
        pl = (f"{sum(s['pseudo_labelled_fraction'] for s in st) / len(st):.1%} "
              f"({sum(s['pseudo_label_accuracy'] for s in st) / len(st):.3f})" if st else "")
        print(f"| {arm} | {what} | {mean:.3f} ({spread:.3f}) | {gap.text()} | {gap.verdict} | {gap.p_wilcoxon:.3g} | "
              f"{pl} |")
        if arm != "stage 1" and gap.mean >= BAR and gap.low > 0:
            met.append(arm)
    return met


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DUBAI_ROOT), help="dataset folder (default: the Dubai sample)")
    p.add_argument("--format", help="its built-in format (default: dubai_aerial for the Dubai sample)")
    p.add_argument("--split", default="auto", help="auto, seeded, or a split file (YAML/JSON/CSV, as --split)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=[v for v in VARIANTS if v != "all"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threshold", type=float, default=0.7, help="--pseudo-labels of every variant")
    p.add_argument("--lr-factor", type=float, default=0.1, help="--pseudo-lr-factor of lr and all")
    p.add_argument("--teacher-decay", type=float, default=0.99, help="--teacher-decay of teacher and all")
    p.add_argument("--class-share", type=float, default=0.5, help="--pseudo-class-share of class and all")
    p.add_argument("--pseudo-weight", type=float, default=0.5, help="--pseudo-weight of term and all")
    clicks = p.add_mutually_exclusive_group()
    clicks.add_argument("--density", type=float, default=0.001)
    clicks.add_argument("--clicks-per-object", type=int)
    p.add_argument("--epochs", type=int, default=8, help="E: each stage's epochs (the control trains 2E)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--resize", type=float, default=0.3)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="runs at once (one CPU thread each)")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temporary one)")
    p.add_argument("--reuse", action="store_true", help="with --keep: score the finished runs and stage-1 states the "
                   "folder already holds (the same settings and seeds) rather than train them again")
    a = p.parse_args()
    if a.reuse and not a.keep:
        p.error("--reuse needs --keep DIR (the folder of an earlier run with the same settings)")
    a.data, a.format = data_root(a.data, a.format)
    return a


def main() -> None:
    global _INDEX
    a = parse()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    _INDEX = build_index(config(a, a.seeds[0], a.epochs).data)
    if not _INDEX.split.test:
        raise SystemExit("the split has no test part: give --split with test images (the arms are scored there)")
    clicks = f"{a.clicks_per_object} clicks per object" if a.clicks_per_object else f"density {a.density:g}"
    print(f"{a.data}: {_INDEX.split.describe()}; {a.backbone}, tile {a.tile_size}, resize {a.resize:g}, "
          f"{a.crops_per_epoch} crops x {a.epochs} epochs per stage, lr {a.lr:g}, {clicks}; threshold "
          f"{a.threshold:g}; seeds {a.seeds}; {a.workers} run(s) at a time", flush=True)
    with tmp_dir("pointtune-self-training-") as scratch:
        work = Path(a.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        scores, stages = run_all(a, work)
    met = table(a, scores, stages)
    if len(a.seeds) < 3:
        print(f"\n{len(a.seeds)} seed(s): no claim either way (a verdict needs at least 3)")
    print("\n" + (f"BAR MET (+{BAR:g} F1 over the control, interval above zero): {', '.join(met)}" if met else
                  f"BAR NOT MET: no variant gains +{BAR:g} F1 over the same clicks trained {2 * a.epochs} epochs "
                  "with its interval above zero"))
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    print(f"time: {time.perf_counter() - t0:.0f} s wall, {cpu:.0f} s CPU (user + sys, with the workers)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
