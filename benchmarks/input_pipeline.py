"""Crops per second the input pipeline delivers from large files, against what a model consumes.

Data: ``--scenes`` generated scenes of ``--scene-size`` px (RGB images, class masks), like ISPRS Potsdam's 6000 px
tiles, written both as PNG (decoded once into the node cache, then read in windows) and, with rasterio, as GeoTIFF
(read in windows straight from the files). Loader: ``build_inputs(index, cfg).train_loader`` iterated with no
model, ``--tile-size`` crops (random crop with re-draws, clicks, flips/rotations, normalisation, collation) in the
training process (``num_workers=0``), after one warm-up epoch that fills the node cache. Model: one
DeepLabV3-ResNet50 training step (forward, loss, backward, Adam) on this CPU at the same tile size, batch
``--model-batch``. The loader and the model are timed alternately, round by round; medians are reported.

GPU: no GPU is timed here. The figure a loader must keep up with on one GPU is assumed: an A100 with mixed
precision trains DeepLabV3-ResNet50 at about 57 crops/s at 512 px. That is NVIDIA's published ResNet-50 training
throughput (2470 images/s at 224 px, AMP, one A100 80GB: NVIDIA DeepLearningExamples, PyTorch ResNet-50 v1.5
README) scaled by the ratio of the two models' cost in torchvision's weight metadata (178.7 GFLOPs for
DeepLabV3-ResNet50 at 520 px, 4.09 for ResNet-50 at 224 px); ``benchmarks/gpu.py`` measures it on a real GPU.
Headline: loader crops/s from the large PNG scenes divided by that GPU figure.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from common import machine_note, median, print_table, tmp_dir, verdict

GPU_CROPS_PER_S = 2470 * 4.089 / 178.722  # see the module docstring: ~57 crops/s of 512 px on one A100 (AMP)


def write_scenes(root: Path, scenes: int, size: int, geotiff: bool) -> None:
    from PIL import Image

    for sub in ("images", "semantic"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    palette = np.array([[90, 140, 60], [200, 60, 40], [40, 90, 220], [130, 130, 130]], np.uint8)
    for k in range(scenes):
        rng = np.random.default_rng(k)
        cells = rng.integers(0, 4, (size // 100, size // 100))
        mask = np.kron(cells, np.ones((100, 100), np.int64)).astype(np.uint8)
        image = (palette[mask].astype(np.int16) + rng.integers(-20, 20, (size, size, 3))).clip(0, 255).astype(np.uint8)
        if geotiff:
            import rasterio

            for path, array in ((root / "images" / f"s{k}.tif", image), (root / "semantic" / f"s{k}.tif", mask)):
                bands = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
                with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=bands.shape[0],
                                   dtype="uint8", tiled=True, blockxsize=512, blockysize=512) as dst:
                    dst.write(bands)
        else:
            Image.fromarray(image).save(root / "images" / f"s{k}.png", compress_level=1)
            Image.fromarray(mask).save(root / "semantic" / f"s{k}.png", compress_level=1)
    (root / "classes.yaml").write_text("classes:\n" + "".join(f"  - {{name: c{i}, value: {i}}}\n" for i in range(4)))


def loader_rounds(inputs: Any, batches: int, epoch: int) -> list[float]:
    """Seconds per batch over ``batches`` batches of fresh epochs."""
    times: list[float] = []
    while len(times) < batches:
        inputs.train_crops.set_epoch(epoch)
        t = time.perf_counter()
        for _ in inputs.train_loader:
            now = time.perf_counter()
            times.append(now - t)
            t = now
            if len(times) == batches:
                break
        epoch += 1
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--scene-size", type=int, default=6000)
    p.add_argument("--tile-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model-batch", type=int, default=2, help="batch of the ResNet-50 step (CPU: small)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch

    from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
    from trainable.data.index import build_index
    from trainable.data.rasters import has_rasterio
    from trainable.inputs import build_inputs, resolve_for_data
    from trainable.learn.loop import train_one_epoch
    from trainable.learn.model import build_model

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Dataset has no geotransform")  # the generated scenes have no CRS
    kinds = ["png"] + (["geotiff"] if has_rasterio() else [])
    results: dict[str, list[float]] = {k: [] for k in kinds}
    with tmp_dir("pointtune-bench-input-") as scratch:
        import os

        os.environ["POINTTUNE_NODE_CACHE"] = str(Path(scratch) / "node")  # a cold cache of its own
        inputs = {}
        for kind in kinds:
            root = Path(scratch) / kind
            write_scenes(root, args.scenes, args.scene_size, kind == "geotiff")
            cfg = TrialConfig(data=DataConfig(root=str(root), tile_size=args.tile_size,
                                              crops_per_epoch=args.batch_size * 8, val_fraction=0.25,
                                              test_fraction=0.0),
                              points=PointConfig(density=0.001), model=ModelConfig(backbone="resnet50", weights="none"),
                              train=TrainConfig(batch_size=args.batch_size))
            index = build_index(cfg.data)
            cfg = resolve_for_data(cfg, index)
            t0 = time.perf_counter()
            inputs[kind] = build_inputs(index, cfg)
            loader_rounds(inputs[kind], 8, epoch=1)  # warm-up: fills the node cache (PNG) and the page cache
            what = "decodes into the node cache" if kind == "png" else "windows of the files"
            print(f"{kind}: {args.scenes} scenes of {args.scene_size} px, first epoch ({what}) "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        model = build_model(ModelConfig(backbone="resnet50", weights="none"), 4)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        batch = next(iter(inputs["png"].train_loader))
        batch = {"image": batch["image"][:args.model_batch], "mask": batch["mask"][:args.model_batch],
                 "redraws": batch["redraws"][:args.model_batch]}
        train_one_epoch(model, [batch], optimizer, torch.device("cpu"), 4)  # warm-up step
        model_s: list[float] = []
        for r in range(args.rounds):
            for kind in kinds:
                results[kind] += loader_rounds(inputs[kind], 8, epoch=100 + 10 * r)
            t = time.perf_counter()
            train_one_epoch(model, [batch], optimizer, torch.device("cpu"), 4)
            model_s.append(time.perf_counter() - t)
    model_crops = args.model_batch / median(model_s)
    rows = [[f"loader, {k} scenes ({'node cache' if k == 'png' else 'windows of the files'})",
             args.batch_size / median(v), args.batch_size / median(v) / model_crops,
             args.batch_size / median(v) / GPU_CROPS_PER_S] for k, v in results.items()]
    rows.append([f"model: DeepLabV3-ResNet50 step, batch {args.model_batch}, this CPU", model_crops, 1.0,
                 float("nan")])
    rows.append(["assumed GPU need: DeepLabV3-ResNet50, one A100, AMP (see docstring)", GPU_CROPS_PER_S,
                 float("nan"), 1.0])
    print_table(["stage", f"crops/s at {args.tile_size} px", "/ CPU model", "/ GPU need"], rows,
                title=f"crops of {args.tile_size} px from {args.scenes} scenes of {args.scene_size} px")
    print(machine_note())
    headline = args.batch_size / median(results["png"]) / GPU_CROPS_PER_S
    print(f"{verdict(headline, 1.0, '>=')}; loader crops/s over the assumed GPU need (PNG scenes): {headline:.2f}")


if __name__ == "__main__":
    main()
