"""A bounded on-disk cache on each node: decoded rasters and simulated clicks, made once, read in windows by trials.

Every trial on a node shares it (``POINTTUNE_NODE_CACHE``, default ``~/.cache/pointtune/node``). An entry is made
by one process while the others wait on its lock file, written to a temporary file and renamed, so a reader never
sees half an entry. When the cache grows past its bound (``POINTTUNE_NODE_CACHE_GB``, default 50 GB or a third of
the free disk, whichever is smaller), the least recently used entries go. Removing a file that a trial has open is
safe on Linux and macOS: the open file keeps its data until the trial closes it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def cache_root() -> Path:
    root = os.environ.get("POINTTUNE_NODE_CACHE") or Path.home() / ".cache" / "pointtune" / "node"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_bound(root: Path) -> int:
    """The most bytes the cache may hold."""
    if os.environ.get("POINTTUNE_NODE_CACHE_GB"):
        return int(float(os.environ["POINTTUNE_NODE_CACHE_GB"]) * 2**30)
    return min(50 * 2**30, shutil.disk_usage(root).free // 3)


def key_of(*parts: Any) -> str:
    """A cache key: the SHA-256 of what an entry depends on (paths, file sizes and times, settings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:40]


class NpyFile:
    """A ``.npy`` file read in windows with ``pread``: only the window's bytes enter the process (no memory map,
    whose touched pages would count as the process's memory until it lets go of the whole file)."""

    def __init__(self, path: Path):
        self.path = path
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            self.shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran:
            raise ValueError(f"{path}: expected a C-ordered array")
        self.dtype = np.dtype(dtype)
        self._fd: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Rows ``y:y+h``, columns ``x:x+w`` (and every band)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        height, width = self.shape[:2]
        h, w = min(h, height - y), min(w, width - x)
        bands = int(np.prod(self.shape[2:], dtype=np.int64))
        pixel = self.dtype.itemsize * bands
        out = np.empty((h, w * pixel), np.uint8)
        for r in range(h):
            start = self.offset + ((y + r) * width + x) * pixel
            out[r] = np.frombuffer(os.pread(self._fd, w * pixel, start), np.uint8)
        return out.view(self.dtype).reshape((h, w, *self.shape[2:]))

    def load(self) -> np.ndarray:
        """The whole array."""
        return np.load(self.path)


class NodeCache:
    """``cached_npy(key, make)``: the ``.npy`` that ``make()`` computed once on this node, read in windows."""

    def __init__(self, root: Path | None = None, bound: int | None = None):
        self.root = root or cache_root()
        self.bound = bound if bound is not None else cache_bound(self.root)
        self._total: int | None = None  # bytes in the cache, as this process last counted them (plus its writes)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def cached_npy(self, key: str, make: Callable[[], np.ndarray]) -> NpyFile:
        path = self._path(key, ".npy")
        if not path.is_file():
            with self._locked(path):
                if not path.is_file():
                    self._write(path, make())
        os.utime(path)  # least recently used goes first
        return NpyFile(path)

    def cached_arrays(self, key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Several arrays kept together (an ``.npz``, read whole: for small ones such as sparse clicks)."""
        path = self._path(key, ".npz")
        if not path.is_file():
            with self._locked(path):
                if not path.is_file():
                    arrays = make()
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
                    with os.fdopen(fd, "wb") as f:
                        np.savez(f, **arrays)
                    os.replace(tmp, path)
                    self._added(path)
        os.utime(path)
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    def _write(self, path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npy")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(array))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._added(path)

    def _locked(self, path: Path) -> Any:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _FileLock(path.with_suffix(path.suffix + ".lock"))

    def _entries(self) -> list[tuple[float, int, Path]]:
        found = []
        for p in self.root.glob("*/*.np[yz]"):
            if ".tmp." in p.name:
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            found.append((st.st_mtime, st.st_size, p))
        return found

    def _added(self, path: Path) -> None:
        """Count a new entry; when the count passes the bound, look at the whole cache and drop the oldest."""
        if self._total is None:
            self._total = sum(size for _, size, _ in self._entries())
        else:
            self._total += path.stat().st_size
        if self._total <= self.bound:
            return
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        for _, size, old in sorted(entries):
            if total <= self.bound:
                break
            old.unlink(missing_ok=True)
            total -= size
            log.info("node cache over %.1f GB: removed %s", self.bound / 2**30, old.name)
        self._total = total


class _FileLock:
    """An exclusive ``flock`` held while one process makes an entry (the others wait, then read it)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> _FileLock:
        self.f = self.path.open("a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
