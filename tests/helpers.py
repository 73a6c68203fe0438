"""Running a real `pointtune run` driver as a subprocess and stopping everything it started; a trainable that
waits for a second trial."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ray

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/


def start_search(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m search run ARGS` with its output in ``log``, in its own session so that every process it starts
    (Ray's daemons too) can be stopped as one group; ``env`` adds to the environment."""
    return subprocess.Popen([sys.executable, "-m", "search", "run", *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


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

    def entrypoint(config: dict, data=None, **passed) -> None:
        from trainable.tune_trial import tune_entrypoint

        (folder / f"{time.time_ns()}").touch()
        deadline = time.monotonic() + timeout_s
        while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tune_entrypoint(config, data, **passed)

    return entrypoint


def misbehaving(folder: Path):
    """The real trainable, except that the first trials to start misbehave, one way each (a slot file per way):
    the first diverges (its loss becomes NaN inside the real training loop), the second fails with a setting error
    (deterministic: must not be retried), the third with a RuntimeError on every attempt (retried, then failed).
    Every call appends the trial id to ``folder/calls``."""

    def entrypoint(config: dict, data=None, **passed) -> None:
        import ray.tune

        import trainable.learn.loop as loop
        from trainable.config import ConfigError
        from trainable.tune_trial import tune_entrypoint

        trial_id = ray.tune.get_context().get_trial_id()
        with (folder / "calls").open("a") as f:
            f.write(trial_id + "\n")
        role = next((r for r in ("diverge", "config", "crash")
                     if (folder / r).is_file() and (folder / r).read_text() == trial_id), None)
        for r in ("diverge", "config", "crash") if role is None else ():
            try:
                with (folder / r).open("x") as f:
                    f.write(trial_id)
                role = r
                break
            except FileExistsError:
                continue
        if role == "crash":
            raise RuntimeError("a fault that a retry might fix")
        original = loop.partial_cross_entropy
        if role == "diverge":
            loop.partial_cross_entropy = lambda logits, target, weight=None: original(logits, target, weight) * float(
                "nan")
        if role == "config":
            import trainable.trial

            def bad_inputs(*args, **kwargs):
                raise ConfigError("density=0.5 leaves no training image a point (a deterministic setting error)")

            trainable.trial.build_inputs, saved = bad_inputs, trainable.trial.build_inputs
        try:
            tune_entrypoint(config, data, **passed)
        finally:
            loop.partial_cross_entropy = original
            if role == "config":
                trainable.trial.build_inputs = saved

    return entrypoint


def behaving():
    """The real trainable under the name the misbehaving one had (Tune checks the name when a search resumes)."""

    def entrypoint(config: dict, data=None, **passed) -> None:
        from trainable.tune_trial import tune_entrypoint

        tune_entrypoint(config, data, **passed)

    return entrypoint


# ------------------------------------------------------------------ which sockets processes listen on (/proc)

def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = {p for p, parent in parents.items() if parent == pid} - found
        found |= kids
        frontier += kids
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listening() -> dict[str, str]:
    """inode -> local address of every listening TCP socket (IPv4 and IPv6) on the machine."""
    out = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] != "0A":  # LISTEN
                continue
            host_hex, port_hex = cols[1].split(":")
            raw = bytes.fromhex(host_hex)
            host = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))  # little-endian 32-bit words
            out[cols[9]] = f"{ipaddress.ip_address(host)}:{int(port_hex, 16)}"
    return out


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)
