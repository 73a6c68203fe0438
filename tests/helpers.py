"""Running a real `pointtune run` driver as a subprocess, and stopping everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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
