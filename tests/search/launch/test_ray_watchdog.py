"""The watchdog of a search's local Ray instance (``search/launch/ray_watchdog.py``), without Ray: a driver killed
with SIGKILL takes the session's processes with it (stand-ins: a script in "Ray's package" naming the session's
folder, a ``ray::`` process logging into it), and leaves everything else alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import stop_group

ROOT = Path(__file__).resolve().parents[3]
DRIVER = """
import subprocess, sys, time
sys.path.insert(0, {root!r})
from search.launch.ray_watchdog import start_watchdog

session, ray_dir = {session!r}, {ray_dir!r}
watchdog = start_watchdog(session, ray_dir)
daemon = subprocess.Popen([sys.executable, "-u", ray_dir + "/daemon.py", "--logs-dir=" + session + "/logs"])
worker = subprocess.Popen(["bash", "-c", "exec -a ray::Worker sleep 600"],
                          stdout=open(session + "/logs/worker.out", "w"))
print(watchdog.pid, daemon.pid, worker.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie, dead and waiting for its parent to collect it, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while any(map(_alive, pids)) and time.monotonic() < end:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_a_killed_driver_takes_its_sessions_processes_and_nothing_else(tmp_path: Path) -> None:
    session, ray_dir = tmp_path / "session_2026_1", tmp_path / "site-packages" / "ray"
    (session / "logs").mkdir(parents=True)
    ray_dir.mkdir(parents=True)
    (ray_dir / "daemon.py").write_text("import time\ntime.sleep(600)\n")
    (session / "logs" / "worker.out").write_text("")
    # a user reading the session's logs, and a Ray process of another session: not the watchdog's to kill
    reader = subprocess.Popen(["tail", "-f", str(session / "logs" / "worker.out")], stdout=subprocess.DEVNULL)
    stranger = subprocess.Popen(["bash", "-c", "exec -a ray::Stranger sleep 600"])
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=str(ROOT), session=str(session),
                                                                  ray_dir=str(ray_dir))],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        watchdog, daemon, worker = map(int, driver.stdout.readline().split())
        time.sleep(1.0)  # the watchdog waits on its pipe, the stand-ins run
        assert all(map(_alive, (watchdog, daemon, worker))), "the watchdog must not act while the driver lives"
        assert os.getsid(watchdog) == watchdog, "in a session of its own: Ctrl-C in the terminal is the driver's"
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, not its group
        driver.wait(10)
        assert _gone_within([daemon, worker], 5) == [], "the session's processes outlived the driver"
        assert _gone_within([watchdog], 5) == [], "the watchdog ends when its work is done"
        assert reader.poll() is None and stranger.poll() is None, "a process outside the session was killed"
    finally:
        stop_group(driver)
        for p in (reader, stranger):
            p.kill()
            p.wait(10)
