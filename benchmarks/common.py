"""Shared helpers of the benchmarks: Ray start/stop, temporary Tune storage, demo/real data, timing and tables.

Every script in this folder is run as ``python benchmarks/NAME.py`` (so this module is importable as ``common``),
prints a short table of what it measured, and ends with one line whose last word is its headline figure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported anywhere

DUBAI_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "dubai_aerial"  # ../shared, as the tests


# ----------------------------------------------------------------------------------------------------- Ray

def start_ray(num_cpus: int | None = None, worker_logs: bool = False, system_config: dict | None = None) -> float:
    """Start a fresh local Ray (never join an existing one); returns the seconds it took.

    Same settings as ``search.launch.cluster.start_ray(None)`` (address="local", loopback, no dashboard, the
    environment of ``tune_environment``, its system config unless ``system_config`` is given), except that worker
    logs are not forwarded unless asked, so the benchmark output stays readable.
    """
    import ray

    from search.launch.cluster import LOCAL_SYSTEM_CONFIG, tune_environment

    tune_environment()
    t0 = time.perf_counter()
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", num_cpus=num_cpus,
             log_to_driver=worker_logs, logging_level="WARNING",
             _system_config=LOCAL_SYSTEM_CONFIG if system_config is None else system_config)
    return time.perf_counter() - t0


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


@contextlib.contextmanager
def ray_session(num_cpus: int | None = None, worker_logs: bool = False,
                system_config: dict | None = None) -> Iterator[float]:
    """``with ray_session() as start_s:`` a fresh local Ray, shut down on exit (also on errors)."""
    try:
        yield start_ray(num_cpus, worker_logs, system_config)
    finally:
        stop_ray()


# `pointtune ARGS...` with search.launch.cluster.LOCAL_SYSTEM_CONFIG replaced by the JSON given first
_WITH_SYSTEM_CONFIG = ("import json, sys; import search.launch.cluster as c; c.LOCAL_SYSTEM_CONFIG.clear(); "
                       "c.LOCAL_SYSTEM_CONFIG.update(json.loads(sys.argv[1])); from search.cli.main import main; "
                       "sys.exit(main(sys.argv[2:]))")


@contextlib.contextmanager
def search_beside(*flags: str, system_config: dict | None = None,
                  wait_s: float = 300.0) -> Iterator[subprocess.Popen]:
    """``with search_beside("--trials", "2", ...):`` another pointtune search (its own local Ray, in a process of its
    own) runs meanwhile: what a trial meets on a machine shared with a second search. It is up once its trials have
    reported a first epoch, and is interrupted (as Ctrl-C would) on exit. ``system_config`` replaces the Ray system
    config pointtune starts its local instance with."""
    with tmp_dir("pointtune-bench-beside-") as storage:
        pointtune = ([sys.executable, "-m", "search"] if system_config is None else
                     [sys.executable, "-c", _WITH_SYSTEM_CONFIG, json.dumps(system_config)])
        cmd = [*pointtune, "run", "--storage", storage, "--name", "beside", *flags]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=Path(__file__).resolve().parents[1])
        try:
            deadline = time.time() + wait_s
            while not any(p.stat().st_size for p in Path(storage).glob("beside/*/result.json")):
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the search beside did not start ({' '.join(cmd)}: exit {proc.poll()})")
                time.sleep(1)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # Tune stops its trials and the driver shuts its Ray down
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    proc.wait(30)


def process_cpu(root: int, leave_out: Sequence[int] = ()) -> dict[int, tuple[str, float]]:
    """``pid -> (name, CPU seconds so far)`` (user + system) of process ``root`` and of all its descendants but those
    under ``leave_out`` (Linux ``/proc``; empty elsewhere). A local Ray's daemons and workers descend from the driver
    that started it. The name is the program's (``raylet``, ``log_monitor.py``) or a Ray worker's title."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in leave_out:
            continue
        if pid in times:
            found[pid] = (_program(pid), times[pid])
        todo += children.get(pid, [])
    return found


def machine_busy_s() -> float:
    """CPU seconds all programs of the machine have used so far, every core together (Linux ``/proc/stat``; NaN
    elsewhere). With ``process_cpu``: how much CPU other programs took during a measurement."""
    try:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    except (OSError, ValueError):
        return float("nan")
    return (user + nice + system + irq + softirq + steal) / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf")
                                                              else 100)


def _program(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return "?"
    if args[0].startswith("ray::"):  # a worker's title
        return args[0].split()[0]
    script = next((a for a in args[1:3] if a.endswith(".py")), None)  # python [-u] SCRIPT.py
    return Path(script or args[0]).name


@contextlib.contextmanager
def tmp_dir(prefix: str) -> Iterator[str]:
    """A temporary directory (Tune storage, generated data), removed on exit."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Hide stdout (pointtune's per-trial progress lines) while the real callbacks still run."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def real_run_config(base: Any, storage: str, name: str, trials: int = 1) -> Any:
    """The ``tune.RunConfig`` a pointtune search uses (checkpoint/failure config, progress callback)."""
    from search.launch.progress import ProgressPrinter
    from search.launch.settings import SearchSettings
    from search.launch.tuner import run_config

    settings = SearchSettings(base=base, trials=trials, storage=storage, name=name)
    return run_config(settings, ProgressPrinter(settings))


# ---------------------------------------------------------------------------------------------------- data

def demo_root(num_images: int = 24, size: int = 128, seed: int = 0, scratch: str | None = None) -> str:
    """Folder of synthetic demo scenes: the cached default set, or a generated one of another size."""
    from trainable.data.demo import ensure_demo_data, generate_demo_data

    if (num_images, size) == (24, 128):
        return str(ensure_demo_data(seed))
    cache = Path(scratch or tempfile.gettempdir()) / f"pointtune-bench-demo-{num_images}x{size}-s{seed}"
    if not (cache / ".complete").is_file():
        generate_demo_data(cache, num_images=num_images, size=size, seed=seed)
        (cache / ".complete").write_text("")
    return str(cache)


def dubai_root() -> Path | None:
    """The real Dubai aerial dataset, or None (with a message saying so) when the folder is absent."""
    if (DUBAI_ROOT / "images").is_dir():
        return DUBAI_ROOT
    print(f"real data: {DUBAI_ROOT} is absent; skipping the Dubai aerial dataset, using demo data only")
    return None


def data_root(data: str, fmt: str | None) -> tuple[str, str | None]:
    """A quality benchmark's ``--data`` and ``--format``: ``dubai`` or the Dubai sample's folder (read as
    ``dubai_aerial``; absent: nothing measured, said), ``demo`` (the built-in scenes), or a folder of one's own."""
    if data in ("dubai", str(DUBAI_ROOT)):
        if not (DUBAI_ROOT / "images").is_dir():
            raise SystemExit(f"the Dubai sample is not at {DUBAI_ROOT}: nothing measured (give --data DIR)")
        return str(DUBAI_ROOT), fmt or "dubai_aerial"
    if data == "demo":
        return demo_root(), fmt or "demo"
    return data, fmt


def dataset_bytes(index: Any) -> int:
    """Decoded size of a dataset (its index): every image, mask and instance array."""
    import numpy as np

    return sum(e.pixels * (e.record.bands * np.dtype(e.record.dtype).itemsize + 1 + (4 if e.files.instance else 0))
               for e in index.entries)


def demo_config(root: str, backbone: str = "mobilenet_v3_large", tile_size: int = 64, crops_per_epoch: int = 64,
                epochs: int = 3, batch_size: int = 8, num_threads: int = 2, fmt: str = "demo",
                **train: Any) -> Any:
    """A fixed ``TrialConfig`` shaped like the CLI's demo defaults (random init: no weights on disk needed)."""
    from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig

    return TrialConfig(
        data=DataConfig(root=root, format=fmt, tile_size=tile_size, crops_per_epoch=crops_per_epoch),
        model=ModelConfig(backbone=backbone, weights="none"),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, num_threads=num_threads, device="cpu", **train),
    ).validate()


# ------------------------------------------------------------------------------------------ timing, output

def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def fmt(x: Any) -> str:
    """Numbers for tables: 3 decimals, or 3 significant digits below 0.01."""
    if isinstance(x, float):
        if x != x:
            return "n/a"
        return f"{x:.3g}" if 0 < abs(x) < 0.01 else f"{x:.3f}"
    return str(x)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def verdict(value: float, target: float, op: str) -> str:
    """``target <= 1.03: met`` style text; ``op`` is how ``value`` must compare to ``target``."""
    ok = {"<=": value <= target, "<": value < target, ">=": value >= target, ">": value > target}[op]
    return f"target {op} {target:g}: {'met' if ok else 'NOT met'}"


def machine_note() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {os.cpu_count()} CPU core(s), torch {torch.__version__}, load average (1 min) {load:.2f} "
            "(other processes on this machine add noise)")
