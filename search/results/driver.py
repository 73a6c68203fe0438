"""Whether a search's driver is alive, and whether the search has finished: the record the driver of ``pointtune run``
keeps in the experiment folder (``pointtune_driver.json``; a local folder or a URI).

While Tune runs the trials, the record names the driver's host and pid (``state: running``); the driver takes it away
when Tune stops, and after a search whose every trial ended (and whose test score and reference are done) writes
``state: finished`` with the budget it finished. A driver killed (SIGKILL, power cut) leaves ``running`` behind with a
pid that no longer lives. Tune's own experiment state keeps saying RUNNING of the trials a stopped driver was running:
``search.results.experiment`` reads them as interrupted where this record shows no live driver. No Ray import.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from search.files import DRIVER_FILE
from trainable.data import storage


def process_started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux: ``/proc/PID/stat``); None where unknown. With
    the pid it names one process: a pid the system gave again to another one has another start."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> dict[str, Any]:
    """``{"host", "pid", "started"}`` of this process, as records of a live process keep it."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_started(os.getpid())}


def process_alive(owner: dict[str, Any]) -> bool:
    """Whether the process ``{"host": ..., "pid": ..., "started": ...}`` still runs (one on another host: assumed
    so, as is one that is not ours to signal); a pid now held by a process that started later is not it."""
    try:
        if owner.get("host") != socket.gethostname():
            return True
        pid = int(owner["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return True  # alive but not ours (PermissionError), or a record that is not what it should be
    started = owner.get("started")
    return started is None or process_started(pid) in (None, started)


def read_driver(experiment: str) -> dict[str, Any] | None:
    """The driver record of the search at ``experiment``, or None without one (``{}`` for one unreadable)."""
    try:
        text = storage.read_text(f"{experiment}/{DRIVER_FILE}")
    except OSError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def driver_alive(experiment: str) -> bool:
    """A driver runs the search's trials now: its record says running and its process lives (or is on another host,
    where this machine cannot tell). An unreadable record counts as a live driver."""
    record = read_driver(experiment)
    if record is None:
        return False
    return not record or (record.get("state") == "running" and process_alive(record))


def finished_budget(experiment: str) -> int | None:
    """The number of trials the search finished with (its every trial ended), or None where it has not finished."""
    record = read_driver(experiment)
    if not record or record.get("state") != "finished":
        return None
    try:
        return int(record["trials"])
    except (KeyError, TypeError, ValueError):
        return None


def _write(experiment: str, state: str, **more: Any) -> None:
    record = {"state": state, **this_process(), "time": time.time(), **more}
    storage.write_text(f"{experiment}/{DRIVER_FILE}", json.dumps(record))


@contextlib.contextmanager
def driver_running(experiment: str) -> Iterator[None]:
    """While Tune runs the search's trials: the record says this process drives them; removed when Tune stops (also
    on an exception or Ctrl-C). A driver killed leaves it behind, naming a process that no longer runs."""
    _write(experiment, "running")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            storage.remove(f"{experiment}/{DRIVER_FILE}")


def record_finished(experiment: str, trials: int) -> None:
    """The search has finished: every one of its ``trials`` ended, and what follows the trials is done."""
    _write(experiment, "finished", trials=trials)
