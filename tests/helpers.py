"""Running a real `pointtune run` driver as a subprocess and stopping everything it started; a trainable that
waits for a second trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ray

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/


def start_search(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m search run ARGS` with its output in ``log``, in its own session so that every process it starts
    (Ray's daemons too) can be stopped as one group."""
    return subprocess.Popen([sys.executable, "-m", "search", "run", *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def waiting_for_a_second_trial(folder: Path, timeout_s: float = 120.0):
    """The real trainable, preceded by a rendezvous: a trial starts training only once two trials have started (or
    after ``timeout_s``). Trials of 0.3 s finish before a second worker process is up on a slow 2-core machine, and
    Tune then reuses the first worker for every trial; the rendezvous makes "did two run at once" a question about
    the search's resources and concurrency, not about how fast the machine starts processes."""

    def entrypoint(config: dict, data=None) -> None:
        from trainable.trial import tune_entrypoint

        (folder / f"{time.time_ns()}").touch()
        deadline = time.monotonic() + timeout_s
        while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tune_entrypoint(config, data)

    return entrypoint
