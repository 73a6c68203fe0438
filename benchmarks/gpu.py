"""Training throughput on one CUDA GPU: float32 vs bf16 autocast + channels_last, and 1/2/4 trials sharing it.

Part 1 (one process): DeepLabV3-ResNet50 (``trainable.learn.model.build_model``, random init) trained with
``trainable.learn.loop.train_one_epoch`` at 512x512, batch 8, in two modes, alternated ``--repeats`` times:

* ``fp32``: float32 weights and activations, contiguous tensors (``trainable.learn.loop.autocast`` and ``_to_device``
  are patched to no autocast / no channels_last; torch defaults otherwise, so cuDNN may use TF32 for convs);
* ``bf16+cl``: what pointtune does on CUDA: model in channels_last, bf16 autocast (the real loop code, which
  makes no per-batch GPU sync, so the CPU loads the next batch while the GPU trains);

each fed two ways: ``synthetic`` (batches already on the GPU: the model alone) and ``loader`` (the real
``build_inputs`` train loader on generated demo scenes, so its CPU time shows). Images/s = trained crops / time
of ``train_one_epoch`` (which syncs once at its end); peak GPU memory is reported too.

Part 2 (Ray Tune): 1, 2 and 4 trials share the GPU through ``tune.with_resources(gpu=1/k)``. Each trial trains
bf16+cl for ``--share-seconds`` after a warm-up and a barrier (all k trials ready), so the timed windows overlap;
GPU utilisation and memory are sampled by ``nvidia-smi -lms 500`` over the common window. Reported: aggregate
images/s and mean utilisation per k.

Without CUDA it prints a notice and exits 0; ``--dry-run`` runs every code path on the CPU with tiny sizes
(``tiny`` backbone, 64-px tiles, batch 2, no GPU sampling) to check the script, not to measure anything.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

from common import demo_config, demo_root, machine_note, median, print_table, quiet_stdout, ray_session, tmp_dir

NO_GPU = "no CUDA GPU on this machine: gpu.py needs one (run it on a GPU machine)"
FP32, BF16 = "fp32", "bf16+cl"
MODES = (FP32, BF16)


# --------------------------------------------------------------------------------------------- precision

@contextlib.contextmanager
def precision(mode: str) -> Iterator[None]:
    """``fp32``: patch the loop to run without autocast and without channels_last; ``bf16+cl``: the real loop."""
    import torch

    import trainable.learn.loop as loop

    if mode != FP32:
        yield
        return
    real = loop.autocast, loop._to_device

    def to_device(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["image"].to(device, non_blocking=True), batch["mask"].to(device, non_blocking=True)

    loop.autocast, loop._to_device = (lambda device: contextlib.nullcontext()), to_device
    try:
        yield
    finally:
        loop.autocast, loop._to_device = real


def make_model(backbone: str, num_classes: int, device: Any, mode: str, seed: int = 0) -> tuple[Any, Any]:
    import torch

    from trainable.config import ModelConfig
    from trainable.learn.model import build_model

    torch.manual_seed(seed)
    model = build_model(ModelConfig(backbone=backbone, weights="none"), num_classes).to(device)
    if mode != FP32 and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # as run_trial does on CUDA
    return model, torch.optim.Adam(model.parameters(), lr=1e-4)


def synthetic_batches(n: int, batch: int, tile: int, num_classes: int, device: Any, density: float = 0.01,
                      seed: int = 0) -> list[dict]:
    """``n`` batches shaped like the train loader's, already on ``device``; ``density`` of pixels labelled."""
    import torch

    from trainable.config import IGNORE_INDEX

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        image = torch.randn(batch, 3, tile, tile, generator=g)
        mask = torch.randint(0, num_classes, (batch, tile, tile), generator=g)
        mask[torch.rand(batch, tile, tile, generator=g) >= density] = IGNORE_INDEX
        out.append({"image": image.to(device), "mask": mask.to(device),
                    "redraws": torch.zeros(batch, dtype=torch.int64)})
    return out


def endless_batches(inputs: Any) -> Iterator[dict]:
    """The real train loader, epoch after epoch."""
    for epoch in itertools.count(1):
        inputs.train_crops.set_epoch(epoch)
        yield from inputs.train_loader


def train_images(model: Any, optimizer: Any, batches: Any, device: Any, num_classes: int, batch: int) -> int:
    """One ``train_one_epoch`` over ``batches``; returns the crops trained (it syncs once at its end)."""
    from trainable.learn.loop import train_one_epoch

    return train_one_epoch(model, batches, optimizer, device, num_classes).batches * batch


# -------------------------------------------------------------------------------------- GPU utilisation

class GpuSampler:
    """``nvidia-smi --query-gpu=utilization.gpu,memory.used -lms 500`` in a subprocess, each line time-stamped."""

    def __init__(self, gpu_index: int, period_ms: int = 500):
        self.samples: list[tuple[float, float, float]] = []  # (time.time(), util %, memory MiB)
        self.cmd = ["nvidia-smi", f"--id={gpu_index}", "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits", "-lms", str(period_ms)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi") is None:
            print("nvidia-smi not found: GPU utilisation is not sampled")
            return self
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                util, mem = (float(x) for x in line.strip().split(","))
            except ValueError:
                continue
            self.samples.append((time.time(), util, mem))

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def window(self, t0: float, t1: float) -> tuple[float, float, int]:
        """Mean utilisation %, max memory MiB and sample count within [t0, t1]."""
        inside = [(u, m) for t, u, m in self.samples if t0 <= t <= t1]
        if not inside:
            return float("nan"), float("nan"), 0
        return sum(u for u, _ in inside) / len(inside), max(m for _, m in inside), len(inside)


# ------------------------------------------------------------------------------------- part 1: one process

def single_process(args: Any, device: Any, data: Any, num_classes: int) -> dict[tuple[str, str], float]:
    import torch

    from trainable.inputs import build_inputs

    cfg = demo_config(data.root, args.backbone, args.tile_size, crops_per_epoch=args.steps * args.batch_size,
                      batch_size=args.batch_size, num_threads=0)
    inputs = build_inputs(data, cfg, pin_memory=torch.cuda.is_available())
    synthetic = synthetic_batches(args.steps, args.batch_size, args.tile_size, num_classes, device)
    speed: dict[tuple[str, str], list[float]] = {(m, s): [] for m in MODES for s in ("synthetic", "loader")}
    memory = {m: 0.0 if device.type == "cuda" else float("nan") for m in MODES}  # peak GiB
    models = {m: make_model(args.backbone, num_classes, device, m) for m in MODES}  # kept across repetitions
    for m, (model, opt) in models.items():  # warm-up: cuDNN algorithm choice, allocator, lazy init
        with precision(m):
            train_images(model, opt, synthetic[: args.warmup], device, num_classes, args.batch_size)
    for rep in range(args.repeats):
        for m, (model, opt) in models.items():
            for source in ("synthetic", "loader"):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                inputs.train_crops.set_epoch(rep + 1)
                batches = synthetic if source == "synthetic" else inputs.train_loader
                with precision(m):
                    t0 = time.perf_counter()
                    n = train_images(model, opt, batches, device, num_classes, args.batch_size)
                    seconds = time.perf_counter() - t0
                speed[(m, source)].append(n / seconds)
                if device.type == "cuda":
                    memory[m] = max(memory[m], torch.cuda.max_memory_allocated() / 2**30)
            print(f"  rep {rep + 1} {m}: synthetic {speed[(m, 'synthetic')][-1]:.1f} img/s, "
                  f"loader {speed[(m, 'loader')][-1]:.1f} img/s", flush=True)
    del models, synthetic
    if device.type == "cuda":
        torch.cuda.empty_cache()
    result = {k: median(v) for k, v in speed.items()}
    rows = [[m, result[(m, "synthetic")], result[(m, "loader")], 1 - result[(m, "loader")] / result[(m, "synthetic")],
             memory[m]] for m in MODES]
    print_table(["mode", "img/s model only", "img/s with loader", "lost to loader", "peak GiB"], rows,
                title=f"{args.backbone} at {args.tile_size} px, batch {args.batch_size} (median of {args.repeats})")
    return result


# --------------------------------------------------------------------------------- part 2: shared GPU

def share_trainable(config: dict[str, Any], data: Any = None, **passed: Any) -> None:
    """One trial of the sharing test: warm up, wait for the others, train for a fixed time, report images/s."""
    import ray
    import torch
    from ray import tune

    from trainable.inputs import build_inputs

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
    torch.set_num_threads(max(1, cpus))
    device = torch.device("cuda" if config["cuda"] else "cpu")
    num_classes = data.classes.num_classes
    model, opt = make_model(config["backbone"], num_classes, device, BF16)
    batch, tile = config["batch_size"], config["tile_size"]
    if config["source"] == "loader":
        cfg = demo_config(data.root, config["backbone"], tile, crops_per_epoch=batch * 64, batch_size=batch,
                          num_threads=cpus)
        stream = endless_batches(build_inputs(data, cfg, pin_memory=torch.cuda.is_available()))
    else:
        stream = itertools.cycle(synthetic_batches(4, batch, tile, num_classes, device))
    report: dict[str, Any] = {"oom": False}
    ready = os.path.join(config["barrier"], tune.get_context().get_trial_id())
    try:
        train_images(model, opt, itertools.islice(stream, config["warmup"]), device, num_classes, batch)
        open(ready, "w").close()
        deadline = time.time() + 600
        while len(os.listdir(config["barrier"])) < config["k"] and time.time() < deadline:
            time.sleep(0.05)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        images, t0 = 0, time.time()
        while time.time() - t0 < config["seconds"]:
            images += train_images(model, opt, itertools.islice(stream, config["chunk"]), device, num_classes, batch)
        t1 = time.time()
        report.update(images_per_s=images / (t1 - t0), t0=t0, t1=t1,
                      peak_gib=torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan"))
    except torch.cuda.OutOfMemoryError:
        open(ready, "w").close()  # never leave the other trials waiting at the barrier
        report.update(oom=True, images_per_s=float("nan"), t0=float("nan"), t1=float("nan"), peak_gib=float("nan"))
    tune.report(report)


def shared_gpu(args: Any, data: Any, cuda: bool) -> list[list[Any]]:
    import ray
    from ray import tune

    rows = []
    total_cpus = int(ray.cluster_resources().get("CPU", 1))
    for k in args.share:
        cpus = max(1, total_cpus // k)
        resources = {"cpu": cpus, "gpu": 1 / k if cuda else 0}
        with tmp_dir("pointtune-bench-gpu-") as storage, tmp_dir("pointtune-bench-barrier-") as barrier:
            config = {"cuda": cuda, "backbone": args.backbone, "batch_size": args.batch_size,
                      "tile_size": args.tile_size, "source": args.share_source, "warmup": args.warmup,
                      "chunk": args.chunk, "seconds": args.share_seconds, "barrier": barrier, "k": k}
            tuner = tune.Tuner(tune.with_resources(tune.with_parameters(share_trainable, data=data), resources),
                               param_space=config,
                               tune_config=tune.TuneConfig(num_samples=k, max_concurrent_trials=k),
                               run_config=tune.RunConfig(storage_path=storage, name=f"share{k}", verbose=0))
            with GpuSampler(args.gpu_index) if cuda else contextlib.nullcontext() as sampler, quiet_stdout():
                grid = tuner.fit()
            if grid.errors:
                raise RuntimeError(f"a sharing trial failed: {grid.errors[0]}")
            results = [r.metrics for r in grid]
        ok = [r for r in results if not r["oom"]]
        t0, t1 = max((r["t0"] for r in ok), default=0.0), min((r["t1"] for r in ok), default=0.0)
        util, mem, n = sampler.window(t0, t1) if sampler is not None else (float("nan"), float("nan"), 0)
        aggregate = sum(r["images_per_s"] for r in ok)
        rows.append([k, f"{resources['gpu']:g}", cpus, len(results) - len(ok), aggregate,
                     aggregate / len(ok) if ok else float("nan"), util, mem, n, max(t1 - t0, 0.0)])
        print(f"  {k} trial(s): {aggregate:.1f} img/s together, mean utilisation "
              + (f"{util:.0f}%" if util == util else "n/a (not sampled)"), flush=True)
    print_table(["trials", "gpu each", "cpu each", "OOM", "img/s total", "img/s per trial", "mean util %",
                 "max mem MiB", "samples", "overlap s"], rows,
                title=f"trials sharing one GPU (bf16+cl, {args.share_source} batches, {args.share_seconds:g} s each)")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="run every code path on the CPU with tiny sizes")
    p.add_argument("--backbone", default=None, help="default resnet50 (tiny with --dry-run)")
    p.add_argument("--tile-size", type=int, default=None, help="default 512 (64 with --dry-run)")
    p.add_argument("--batch-size", type=int, default=None, help="default 8 (2 with --dry-run)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per mode and repetition (default 20)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--share", type=int, nargs="+", default=[1, 2, 4], help="trials sharing the GPU")
    p.add_argument("--share-seconds", type=float, default=None, help="timed seconds per trial (default 30)")
    p.add_argument("--share-source", choices=("loader", "synthetic"), default="loader")
    p.add_argument("--chunk", type=int, default=4, help="steps between clock checks in the sharing test")
    p.add_argument("--images", type=int, default=16, help="generated demo scenes for the loader")
    p.add_argument("--gpu-index", type=int, default=0)
    args = p.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        print(NO_GPU)
        print("bf16/fp32 speedup: n/a")
        return
    dry = {"backbone": "tiny", "tile_size": 64, "batch_size": 2, "steps": 3, "warmup": 1, "share_seconds": 2.0}
    full = {"backbone": "resnet50", "tile_size": 512, "batch_size": 8, "steps": 20, "warmup": 5,
            "share_seconds": 30.0}
    for key, value in (dry if args.dry_run else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    device = torch.device("cuda" if cuda and not args.dry_run else "cpu")
    if args.dry_run:
        args.share = [k for k in args.share if k <= 2]
        print("DRY RUN on the CPU with tiny sizes: checks the code paths, the figures mean nothing")
    print(f"GPU: {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'none (CPU dry run)'}; "
          f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"cudnn.benchmark={torch.backends.cudnn.benchmark}, cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}")
    print(machine_note())

    from trainable.data.index import build_index

    with tmp_dir("pointtune-bench-gpudata-") as scratch:
        root = demo_root(args.images, args.tile_size + 128, scratch=scratch)
        data = build_index(demo_config(root, args.backbone, args.tile_size).data)
        result = single_process(args, device, data, data.classes.num_classes)
        with ray_session():
            shared_gpu(args, data, device.type == "cuda")
    speedup = result[(BF16, "synthetic")] / result[(FP32, "synthetic")]
    with_loader = result[(BF16, "loader")] / result[(FP32, "loader")]
    print(f"\nbf16+channels_last vs fp32, with the real loader: {with_loader:.2f}x")
    label = "bf16/fp32 speedup (DRY RUN on CPU, not a GPU figure)" if args.dry_run else "bf16/fp32 speedup"
    print(f"{label}: {speedup:.2f}")


if __name__ == "__main__":
    main()
