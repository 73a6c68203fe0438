"""The watchdog of the local Ray instance a search starts for itself (``start_ray(None)``, search/launch/cluster.py):
when the driver dies, however it dies (SIGKILL included), every process of that Ray session dies within a second.

Ray ties its head processes (GCS, raylet, log monitor, dashboard) to the driver that started them (Linux's parent
death signal), but the raylet's children outlive it: the dashboard agent and the runtime-env agent see the raylet
die at once, then report it to the GCS, dead too, and exit a minute later (their logs, Ray 2.60); workers take a
few seconds. The watchdog is a small process of its own (no Ray, no project import: it runs this file), started by
the driver in a session of its own (Ctrl-C in the terminal is the driver's). It waits for the driver's end of a pipe
to close or for its parent to change (the driver's death, even a SIGKILL), then kills with SIGKILL the processes of
this user that belong to the session: Ray's programs (the executable or script is in Ray's package) whose command
line names the session's folder (the head's daemons), and Ray's processes (``ray::...``) that hold a file in it open
(agents and workers log there); a ``tail -f`` of its logs is neither. It exits when none is left. A cluster joined
with ``--address`` gets no watchdog. Linux only (it reads ``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5  # how often the watchdog looks whether its parent changed (a closed pipe wakes it at once)
KILL_FOR_S = 10.0  # how long it goes on finding and killing the session's processes (new ones may be starting)
PROC = Path("/proc")


def start_watchdog(session_dir: str, ray_dir: str) -> subprocess.Popen | None:
    """Start the watchdog of this process's local Ray session (its folder: ``session_dir``; Ray's package:
    ``ray_dir``); None where there is no ``/proc`` to find the session's processes in. Keep the returned handle for
    as long as the process lives: closing its pipe is what tells the watchdog that the driver ended."""
    if not (PROC / "self" / "fd").is_dir():
        return None
    return subprocess.Popen([sys.executable, "-I", __file__, str(os.getpid()), session_dir, ray_dir],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            close_fds=True)


def wait_for_driver(driver: int) -> None:
    """Return when the driver has ended: its end of the pipe on stdin closed, or this process has a new parent."""
    while os.getppid() == driver:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            return


def _ray_program_of(args: bytes, session: str, ray_dir: str) -> bool:
    """A command line (NUL-separated) of one of Ray's programs (its executable or script in ``ray_dir``) that names
    the session's folder or a path inside it."""
    words = args.decode(errors="replace").split("\0")
    return (any(w.startswith(ray_dir + "/") for w in words[:3])  # python [-u] SCRIPT, or the program itself
            and any(w == session or w.endswith("=" + session) or session + "/" in w for w in words))


def _holds_file_in(pid: str, session: str) -> bool:
    try:
        fds = list((PROC / pid / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(session + "/"):
                return True
    return False


def session_processes(session: str, ray_dir: str) -> list[int]:
    """The live processes of this user (this one left out) that belong to the Ray session in ``session``."""
    uid, me, found = os.getuid(), str(os.getpid()), []
    for entry in PROC.iterdir():
        pid = entry.name
        if not pid.isdigit() or pid == me:
            continue
        try:
            if entry.stat().st_uid != uid or (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX":
                continue  # another user's, or dead already (a zombie waits for its parent)
            args = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if _ray_program_of(args, session, ray_dir) or (args.startswith(b"ray::") and _holds_file_in(pid, session)):
            found.append(int(pid))
    return found


def stop_session(session: str, ray_dir: str, for_s: float = KILL_FOR_S) -> None:
    """SIGKILL the session's processes until none is left (or ``for_s`` has passed)."""
    end = time.monotonic() + for_s
    while time.monotonic() < end:
        found = session_processes(session, ray_dir)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    driver, session, ray_dir = int(argv[1]), argv[2].rstrip("/"), argv[3].rstrip("/")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    wait_for_driver(driver)
    stop_session(session, ray_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
