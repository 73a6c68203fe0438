"""Another site: how much of a model's F1 is lost on scenes of a site it never saw, and what gets it back.

One split file (``--split``) holds both sites, and ``--new-site`` names the new site's scenes (or image stems):

- **in-site** test: the split's test images of the other scenes (held-out parts of the training scenes);
- **cross-site** test: its test images of the new site's scenes;
- the new site's **training** images: the arms never train on them (they get no click); they are the folder AdaBN
  adapts to for the cross-site score, and the images that get K clicks each in the clicks frontier;
- the validation images (in-site) pick each run's best epoch, and are the folder AdaBN adapts to in-site.

Arms, per seed (each seed: the same clicks, initialisation and crops in every arm):

- ``baseline``: random clicks on the training scenes' images only (``--clicks-per-image`` each);
- ``+AdaBN``: the baseline's model with its BatchNorm statistics re-estimated on the target images first
  (``evaluate --adapt-bn``);
- ``+augmentation``: trained with ``--color-jitter J --scale-jitter R --standardize``;
- ``+both``: the augmented model with AdaBN.

The clicks frontier: the baseline plus K random clicks on each of the new site's training images (K from
``--clicks-per-target``, nested: the first 2 of the 5), scored cross-site: what a new site costs in clicks.

Every comparison is ``benchmarks/compare.py``'s: each test image scored alone, paired across arms by (seed, image),
95 % two-level bootstrap intervals and verdicts. The drop is ``shift`` (the baseline in-site minus cross-site, on
different images, paired by seed), the recovery ``gap_closure(arm, baseline cross-site, baseline in-site)``, and the
interval of an arm's mean its ``shift`` from zero. The bar: ``+both`` recovers at least 40 % of the drop, the low
end of its interval included.

    python benchmarks/cross_site.py --data ../shared/data/dubai_aerial --format dubai_aerial \\
        --split benchmarks/splits/dubai_cross_site.yaml --new-site tile3 tile6 tile8 --keep runs/cross-site
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from compare import Interval, difference, gap_closure, per_image_f1, shift

from trainable.config import DataConfig
from trainable.data.index import DatasetIndex, build_index
from trainable.data.sources import LabelSource
from trainable.labels.points import click_order, image_seed

REPO = Path(__file__).resolve().parents[1]
BASE_SALT, TARGET_SALT = 7_919, 104_723  # mixed into the annotator's seeds: never a training seed's own clicks
BAR = 0.40  # of the drop, recovered by +both


@dataclass
class Sites:
    """The split's images by role (stems)."""

    home_train: list[str]
    target_train: list[str]
    in_site: list[str]  # test images of the training scenes
    cross_site: list[str]  # test images of the new site
    validation: list[str]


def sites_of(index: DatasetIndex, new_site: list[str]) -> Sites:
    new = set(new_site)
    is_new = [e.group in new or e.stem in new for e in index.entries]
    stems = [e.stem for e in index.entries]
    pick = lambda ids, new_one: [stems[i] for i in ids if is_new[i] == new_one]  # noqa: E731
    sites = Sites(pick(index.split.train, False), pick(index.split.train, True), pick(index.split.test, False),
                  pick(index.split.test, True), [stems[i] for i in index.split.val])
    if not sites.cross_site or not sites.in_site:
        raise SystemExit(f"--new-site {' '.join(new_site)}: the split's test part needs images of the new site's "
                         f"scenes and of the others (has {len(sites.cross_site)} and {len(sites.in_site)})")
    if any(is_new[i] for i in index.split.val):
        raise SystemExit("--new-site: a validation image is of the new site; keep its scenes out of validation")
    return sites


# --- clicks --------------------------------------------------------------------------------------------------------

def clicks_of(index: DatasetIndex, stem: str, count: int, seed: tuple[int, ...]) -> list[dict]:
    """``count`` uniform random valid pixels of one image (the simulated annotator's order), answered from its mask,
    in the image's own pixel coordinates."""
    e = next(e for e in index.entries if e.stem == stem)
    mask = np.asarray(LabelSource(e.files, index.classes, index.resize).array())
    rows = []
    for r, c in zip(*np.divmod(click_order(mask, (*seed, image_seed(stem)), count), mask.shape[1]), strict=True):
        x, y = (c, r) if index.resize == 1.0 else ((c + 0.5) / index.resize, (r + 0.5) / index.resize)
        rows.append({"image": stem, "x": x, "y": y, "class": index.classes.names[mask[r, c]]})
    return rows


def write_clicks(path: Path, index: DatasetIndex, sites: Sites, seed: int, per_image: int, per_target: int) -> Path:
    """The training scenes' clicks of a seed, and ``per_target`` on each new-site training image (nested in K)."""
    if path.is_file():
        return path
    rows = [r for stem in sites.home_train for r in clicks_of(index, stem, per_image, (seed, BASE_SALT))]
    rows += [r for stem in sites.target_train for r in clicks_of(index, stem, per_target, (seed, TARGET_SALT))]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ("image", "x", "y", "class"))
        writer.writeheader()
        writer.writerows(rows)
    return path


def image_folder(folder: Path, index: DatasetIndex, stems: list[str]) -> Path:
    """A folder of copies of these images: what ``--adapt-bn`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for e in index.entries:
        if e.stem in stems and not (folder / Path(e.files.image).name).exists():
            shutil.copy(e.files.image, folder / Path(e.files.image).name)
    return folder


# --- training and scoring --------------------------------------------------------------------------------------------

def train(out: Path, clicks: Path, seed: int, a: argparse.Namespace, augment: bool) -> Path:
    """``pointtune train`` in a process of its own (log beside the folder); a finished run is reused."""
    if (out / "test_scores.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    flags = ["--data", a.data, "--split", a.split, "--clicks", str(clicks), "--backbone", a.backbone,
             "--tile-size", str(a.tile_size), "--resize", str(a.resize), "--epochs", str(a.epochs),
             "--crops-per-epoch", str(a.crops_per_epoch), "--lr", str(a.lr), "--seed", str(seed), "--device", "cpu",
             *(["--format", a.format] if a.format else []), "--weights", "none"]
    if augment:
        flags += ["--color-jitter", str(a.color_jitter), "--scale-jitter", str(a.scale_jitter),
                  *(["--standardize"] if a.standardize else [])]
    t0 = time.perf_counter()
    with open(f"{out}.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "search", "train", *flags, "--out", str(out)], cwd=REPO,
                               stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"pointtune train into {out} failed ({code}); see {out}.log")
    print(f"  trained {out.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def scores(model: Path, adapt: Path | None, a: argparse.Namespace, cache: dict) -> dict[str, float]:
    """Per-image F1 of the model's test images (with AdaBN on ``adapt`` first), kept in the work folder's cache."""
    key = f"{model.name}|{adapt.name if adapt else ''}"
    if key not in cache:
        cache[key] = per_image_f1(model, a.data, "test", a.format, adapt_bn=adapt)
    return cache[key]


# --- tables -----------------------------------------------------------------------------------------------------------

def on(arm: dict[int, dict[str, float]], stems: list[str]) -> dict[int, dict[str, float]]:
    return {s: {i: f for i, f in images.items() if i in stems} for s, images in arm.items()}


def mean_text(arm: dict[int, dict[str, float]]) -> str:
    """An arm's mean F1 and its 95 % interval: its shift from zero."""
    x = shift(arm, {s: {"zero": 0.0} for s in arm})
    return f"{x.mean:.3f} [{x.low:.3f}, {x.high:.3f}]"


def verdict_text(x: Interval) -> str:
    return f"{x.text()} | {x.verdict} | {x.p_wilcoxon:.2g}"


def arms_table(arms: dict[str, dict], sites: Sites) -> Interval:
    """The drop and the arms, cross-site and in-site; returns +both's recovery."""
    base = arms["baseline"]
    home, away = on(base["in"], sites.in_site), on(base["cross"], sites.cross_site)
    drop = shift(home, away)
    print(f"\nthe drop (baseline, in-site minus cross-site F1): {drop.text()} ({drop.verdict}; {drop.seeds} seeds, "
          f"{len(sites.in_site)} in-site and {len(sites.cross_site)} cross-site test images)")
    print("\n| arm | cross-site F1 | vs baseline | verdict | p | recovery of the drop | in-site F1 | in-site vs "
          "baseline | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    recovery = None
    for name, arm in arms.items():
        cross, inside = on(arm["cross"], sites.cross_site), on(arm["in"], sites.in_site)
        if name == "baseline":
            print(f"| {name} | {mean_text(cross)} | | | | 0 | {mean_text(inside)} | | |")
            continue
        gain, closure, at_home = difference(cross, away), gap_closure(cross, away, home), difference(inside, home)
        recovery = closure if name == "+both" else recovery
        print(f"| {name} | {mean_text(cross)} | {verdict_text(gain)} | {closure.text(2)} | {mean_text(inside)} | "
              f"{at_home.text()} | {at_home.verdict} |")
    return recovery


def frontier_table(base: dict[str, dict], frontier: dict[int, dict], sites: Sites, counts: list[int]) -> None:
    home, away = on(base["in"], sites.in_site), on(base["cross"], sites.cross_site)
    print(f"\nclicks on the new site ({len(sites.target_train)} of its images; the training scenes keep theirs), "
          "cross-site test, against the in-site F1 of the baseline:")
    print("\n| clicks per new-site image | clicks in all | cross-site F1 | vs 0 clicks | verdict | p | recovery of "
          "the drop |")
    print("|---|---|---|---|---|---|---|")
    print(f"| 0 | 0 | {mean_text(away)} | | | | 0 |")
    for k in counts:
        arm = on(frontier[k], sites.cross_site)
        gain, closure = difference(arm, away), gap_closure(arm, away, home)
        print(f"| {k} | {k * len(sites.target_train)} | {mean_text(arm)} | {verdict_text(gain)} | "
              f"{closure.text(2)} |")
    print(f"| in-site (baseline) | | {mean_text(home)} | | | | 1 |")


def bar_sentence(recovery: Interval | None) -> str:
    if recovery is None:
        return "the bar (+both recovers >= 40 % of the drop) was not measured: run the arms"
    met = recovery.low >= BAR
    return (f"{'BAR MET' if met else 'BAR NOT MET'}: +both (AdaBN on the augmented model) recovers "
            f"{recovery.mean:.0%} of the in-site to cross-site drop, 95 % interval [{recovery.low:.0%}, "
            f"{recovery.high:.0%}]; the bar is {BAR:.0%}" + ("" if met else " with the interval's low end"))


# --- the run ----------------------------------------------------------------------------------------------------------

def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--format", default=None)
    p.add_argument("--split", required=True, help="a split file (YAML/JSON lists or a CSV name,split)")
    p.add_argument("--new-site", nargs="+", required=True, help="scenes (or image stems) of the new site")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--clicks-per-image", type=int, default=50, help="random clicks per training-scene image")
    p.add_argument("--clicks-per-target", type=int, nargs="*", default=[2, 5, 10],
                   help="the frontier's clicks per new-site training image (none: no frontier)")
    p.add_argument("--no-arms", action="store_true", help="the clicks frontier only")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--resize", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--crops-per-epoch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--color-jitter", type=float, default=0.2)
    p.add_argument("--scale-jitter", type=float, default=0.5)
    p.add_argument("--no-standardize", dest="standardize", action="store_false")
    p.add_argument("--workers", type=int, default=2, help="training runs at once (one CPU thread each)")
    p.add_argument("--keep", help="work folder kept (and reused: finished runs are not trained again)")
    return p.parse_args()


def main() -> None:
    a = parse()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    t0, work = time.perf_counter(), Path(a.keep or tempfile.mkdtemp(prefix="cross-site-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    a.split, a.data = str(Path(a.split).resolve()), str(Path(a.data).resolve())
    index = build_index(DataConfig(root=a.data, format=a.format, split=a.split, resize=a.resize,
                                   tile_size=a.tile_size))
    sites = sites_of(index, a.new_site)
    print(f"{len(sites.home_train)} training images of the training scenes, {len(sites.validation)} validation, "
          f"{len(sites.in_site)} in-site and {len(sites.cross_site)} cross-site test images, "
          f"{len(sites.target_train)} new-site images to adapt to or click on; seeds {a.seeds}; {a.backbone}, "
          f"{a.epochs} epochs of {a.crops_per_epoch} crops of {a.tile_size} px at resize {a.resize:g}, "
          f"{a.clicks_per_image} clicks per training image; work folder {work}", flush=True)
    target, home = image_folder(work / "target_images", index, sites.target_train), image_folder(
        work / "home_images", index, sites.validation)
    runs = plan(a, index, sites, work)
    with ThreadPoolExecutor(a.workers) as pool:
        # the arms of every seed first, then the clicks frontier: a run stopped early has whole arms to report
        first = sorted(runs, key=lambda key: isinstance(key[0], int))
        list(pool.map(lambda key: train(*runs[key]), first))
    cache_file = work / "scores.json"
    cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    report(a, sites, runs, target, home, cache)
    cache_file.write_text(json.dumps(cache))
    cpu = sum(os.times()[:4])
    print(f"\ntime: {time.perf_counter() - t0:.0f} s wall, {cpu / 60:.1f} CPU-min (user + sys, this process and the "
          "runs it started)")


def plan(a: argparse.Namespace, index: DatasetIndex, sites: Sites, work: Path) -> dict[tuple, tuple]:
    """Every training run: (arm or K, seed) -> the arguments of ``train``."""
    runs = {}
    top = max(a.clicks_per_target, default=0)
    for seed in a.seeds:
        base = write_clicks(work / f"s{seed}_k0.csv", index, sites, seed, a.clicks_per_image, 0)
        runs[("baseline", seed)] = (work / f"s{seed}_baseline", base, seed, a, False)
        if not a.no_arms:
            runs[("augmented", seed)] = (work / f"s{seed}_augmented", base, seed, a, True)
        for k in [k for k in a.clicks_per_target if k > 0]:
            write_clicks(work / f"s{seed}_k{top}_all.csv", index, sites, seed, a.clicks_per_image, top)
            clicks = nested(work / f"s{seed}_k{top}_all.csv", work / f"s{seed}_k{k}.csv", sites, k)
            runs[(k, seed)] = (work / f"s{seed}_k{k}", clicks, seed, a, False)
    return runs


def nested(whole: Path, path: Path, sites: Sites, k: int) -> Path:
    """The first ``k`` clicks of each new-site image of ``whole`` (the annotator's order), the rest as they are."""
    if not path.is_file():
        with whole.open() as f:
            rows = list(csv.DictReader(f))
        seen: dict[str, int] = {}
        target, kept = set(sites.target_train), []
        for r in rows:
            seen[r["image"]] = seen.get(r["image"], 0) + 1
            if r["image"] not in target or seen[r["image"]] <= k:
                kept.append(r)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, ("image", "x", "y", "class"))
            writer.writeheader()
            writer.writerows(kept)
    return path


def report(a: argparse.Namespace, sites: Sites, runs: dict, target: Path, home: Path, cache: dict) -> None:
    seeds = a.seeds
    model = {key: job[0] for key, job in runs.items()}
    base = {"cross": {s: scores(model[("baseline", s)], None, a, cache) for s in seeds}}
    base["in"] = base["cross"]
    if not a.no_arms:
        arms = {"baseline": base}
        for name, trained, adapt in (("+AdaBN", "baseline", True), ("+augmentation", "augmented", False),
                                     ("+both", "augmented", True)):
            arms[name] = {"cross": {s: scores(model[(trained, s)], target if adapt else None, a, cache)
                                    for s in seeds},
                          "in": {s: scores(model[(trained, s)], home if adapt else None, a, cache) for s in seeds}}
        print("\n" + bar_sentence(arms_table(arms, sites)))
    counts = [k for k in a.clicks_per_target if k > 0]
    if counts:
        frontier = {k: {s: scores(model[(k, s)], None, a, cache) for s in seeds} for k in counts}
        frontier_table(base, frontier, sites, counts)


if __name__ == "__main__":
    main()
