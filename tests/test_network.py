"""What a local Ray instance started by pointtune exposes: loopback sockets only, token auth on, no dashboard."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")


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


def test_local_instance_listens_on_loopback_only_with_token_auth(ray_local) -> None:
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    listening = _listening()
    ours = {pid: sorted(listening[i] for i in _socket_inodes(pid) if i in listening)
            for pid in _descendants(os.getpid())}
    sockets = [a for addresses in ours.values() for a in addresses]
    assert len(sockets) >= 3, f"expected Ray's GCS, raylet and workers to listen: {ours}"
    exposed = [a for a in sockets if not _is_loopback(a)]
    assert not exposed, f"Ray processes listen beyond loopback: {exposed}"
    assert is_token_auth_enabled()
    assert {n["NodeManagerAddress"] for n in ray_local.nodes()} == {"127.0.0.1"}
    assert not any(a.endswith(":8265") for a in sockets), "no dashboard"
