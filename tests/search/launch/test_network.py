"""What a local Ray instance started by pointtune exposes: loopback sockets only, token auth on, no dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import _descendants, _is_loopback, _listening, _socket_inodes

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")


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
