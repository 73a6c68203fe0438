"""How many validation clicks per image does ranking trials need? Click validation against dense validation.

Takes a finished search (``pointtune run ...``), predicts every validation image once with each trial's best model,
and scores each trial twice: on the dense masks (macro F1 over every pixel, as validation does) and on N random
clicks per validation image (macro F1 over those pixels only: what ``--val-clicks N`` or a user's own validation
clicks measure). For each N, over ``--repeats`` draws of the clicks: Spearman's and Kendall's rank correlation
between the two scores across trials, and how often both pick the same best trial.

    python benchmarks/point_validation.py EXPERIMENT [--clicks 1 2 5 10 20 50 100 200 500] [--repeats 20]

README's figure: EXPERIMENT = the 12-trial Dubai frontier search of README's "How many clicks do I need?" section.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import pandas as pd
import torch

from common import DUBAI_ROOT  # noqa: F401  (sets Ray's environment before anything imports it)
from search.model.export import build_export
from search.model.predict import model_from_payload, normalizer_of_export, predict_array
from search.results.experiment import RANKED, load_experiment
from trainable.config import TrialConfig
from trainable.data.index import build_index
from trainable.data.sources import ImageSource, LabelSource
from trainable.learn.metrics import metrics_from_confusion


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    keep = truth != 255
    return np.bincount(truth[keep].astype(np.int64) * num_classes + pred[keep], minlength=num_classes ** 2
                       ).reshape(num_classes, num_classes)


def macro_f1(cm: np.ndarray, names: tuple[str, ...], excluded: tuple[int, ...]) -> float:
    return metrics_from_confusion(cm, names, excluded, "v", per_class=False)["v_f1"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--clicks", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100, 200, 500])
    p.add_argument("--repeats", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(2)
    records = [r for r in load_experiment(a.experiment) if r.status in RANKED]
    index = build_index(TrialConfig.from_dict(records[0].config).data)
    names, excluded = index.classes.names, index.classes.excluded_indices
    c = index.classes.num_classes
    val = list(index.split.val)
    masks = [np.asarray(LabelSource(index.entries[i].files, index.classes, index.resize).array()) for i in val]
    images = [ImageSource(index.entries[i].files, index.resize, index.bands).read(0, 0, *m.shape)
              for i, m in zip(val, masks, strict=True)]
    preds: dict[str, list[np.ndarray]] = {}
    for r in records:
        payload, _ = build_export(a.experiment, records, r.trial_id)
        model, norm = model_from_payload(payload), normalizer_of_export(payload)
        preds[r.trial_id] = [predict_array(model, im, int(payload["tile_size"]), c, torch.device("cpu"),
                                           normalizer=norm) for im in images]
    dense = pd.Series({t: macro_f1(sum(confusion(m, p, c) for m, p in zip(masks, ps, strict=True)), names, excluded)
                       for t, ps in preds.items()})
    valid = [np.flatnonzero(m.ravel() != 255) for m in masks]
    print(f"{a.experiment}: {len(records)} trials, {len(val)} validation images; dense macro F1 of the trials "
          f"{dense.min():.4f} to {dense.max():.4f} (best {dense.idxmax()})")
    print("\n| clicks per image | clicks in all | Spearman (mean ± sd) | Kendall (mean ± sd) | same best trial |")
    print("|---|---|---|---|---|")
    needed = None
    for n in a.clicks:
        rho, tau, same = [], [], 0
        for rep in range(a.repeats):
            picks = [np.random.default_rng((n, rep, k)).choice(v, min(n, v.size), replace=False)
                     for k, v in enumerate(valid)]
            points = pd.Series({t: macro_f1(sum(confusion(m.ravel()[i], p.ravel()[i], c)
                                                for m, p, i in zip(masks, ps, picks, strict=True)), names, excluded)
                                for t, ps in preds.items()})
            rho.append(points.corr(dense, method="spearman"))
            tau.append(points.corr(dense, method="kendall"))
            same += points.idxmax() == dense.idxmax()
        print(f"| {n} | {n * len(val)} | {statistics.mean(rho):.3f} ± {statistics.stdev(rho):.3f} | "
              f"{statistics.mean(tau):.3f} ± {statistics.stdev(tau):.3f} | {same}/{a.repeats} |", flush=True)
        if needed is None and statistics.mean(rho) >= 0.9:
            needed = n
    print(f"\nfewest clicks per validation image for a mean Spearman of 0.9 or more: "
          f"{needed if needed is not None else 'not reached'}")


if __name__ == "__main__":
    main()
