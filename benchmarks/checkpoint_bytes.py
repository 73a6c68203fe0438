"""Bytes a trial writes to its storage per epoch: a full checkpoint every epoch (before) against pointtune's scheme.

One real training run per backbone (``run_trial`` on the demo scenes, random init, small crops so that a
DeepLabV3-ResNet50 epoch takes seconds on a CPU). Every epoch it measures, side by side in the same run:

* before: the checkpoint the first version reported every epoch, weights plus Adam's state, saved as it saved it;
* after: what the run wrote that epoch (``checkpoint_bytes``): the weights of a new best epoch (no optimizer), plus
  the resume state (weights, Adam's state and the history) every ``--resume-every`` epochs, for 1, 2 (pointtune's
  default with a local --storage) and 4 (its default with a URI).

The last line is the ratio before/after per trial-epoch for ResNet-50 with --resume-every 4 (a search on S3).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from common import demo_config, demo_root, machine_note, print_table

MIB = 2**20


def measure(backbone: str, epochs: int, resume_every: int) -> dict[str, Any]:
    import torch

    from trainable.learn.checkpoint import atomic_torch_save
    from trainable.trial import run_trial

    cfg = demo_config(demo_root(), backbone=backbone, tile_size=64, crops_per_epoch=16, epochs=epochs,
                      lr=1e-3).replace(train={"resume_every": resume_every})
    before, after, improved = [], [], []
    with tempfile.TemporaryDirectory(prefix="pointtune-bench-ckpt-") as d:
        full_state: dict[str, Any] = {}

        def save_state(state: dict[str, Any]) -> int:
            return atomic_torch_save(state, Path(d) / "resume_state.pt").stat().st_size

        def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
            after.append(metrics["checkpoint_bytes"])
            improved.append(checkpoint_dir is not None)
            # what the first version wrote every epoch: weights and optimizer state (from the live objects below)
            path = atomic_torch_save({"model": full_state["model"].state_dict(),
                                      "optimizer": full_state["optimizer"].state_dict(), "metrics": metrics},
                                     Path(d) / "full.pt", durable=False)
            before.append(path.stat().st_size)

        original = torch.optim.Adam

        class Spy(original):  # keeps a handle on the run's model and optimizer for the "before" save
            def __init__(self, params, *args, **kwargs):
                params = list(params)
                super().__init__(params, *args, **kwargs)
                full_state["optimizer"] = self

        import trainable.trial as trial

        build = trial.build_model

        def build_model(*args, **kwargs):
            full_state["model"] = build(*args, **kwargs)
            return full_state["model"]

        torch.optim.Adam, trial.build_model = Spy, build_model
        try:
            run_trial(cfg, report, save_state=save_state)
        finally:
            torch.optim.Adam, trial.build_model = original, build
    return {"before": sum(before) / epochs, "after": sum(after) / epochs, "improved": sum(improved),
            "epochs": epochs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--backbones", nargs="+", default=["mobilenet_v3_large", "resnet50"])
    args = p.parse_args()
    rows, headline = [], float("nan")
    for backbone in args.backbones:
        for k in (1, 2, 4):
            m = measure(backbone, args.epochs, k)
            ratio = m["before"] / m["after"]
            rows.append([backbone, k, f"{m['improved']}/{m['epochs']}", m["before"] / MIB, m["after"] / MIB, ratio])
            if backbone == "resnet50" and k == 4:
                headline = ratio
            print(f"{backbone} resume_every={k}: {m['before'] / MIB:.1f} MiB -> {m['after'] / MIB:.1f} MiB per "
                  "trial-epoch", flush=True)
    print_table(["backbone", "resume every", "epochs that improved", "before MiB/epoch", "after MiB/epoch",
                 "before/after"], rows, title=f"bytes written per trial-epoch ({args.epochs} epochs, demo scenes)")
    print(machine_note())
    print(f"checkpoint bytes per trial-epoch, before/after (resnet50, resume every 4): {headline:.2f}")


if __name__ == "__main__":
    main()
