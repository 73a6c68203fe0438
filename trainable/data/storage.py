"""Small file operations that work on a local path or a storage URI (s3://, gs://), through pyarrow's filesystems.

Used by the search's driver (settings, results, the Optuna journal) and by trials (their resume state). pyarrow's
filesystem layer is imported by the functions that need it, and local paths are read with pathlib: reading a local
experiment (`pointtune results`) does without it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow.fs as pafs


def is_uri(path: str) -> bool:
    """A storage URI (s3://, gs://, file://, ...) rather than a local path."""
    return "://" in path


def _fs(path: str) -> tuple[pafs.FileSystem, str]:
    import pyarrow.fs as pafs

    if is_uri(path):
        try:
            return pafs.FileSystem.from_uri(path)
        except (OSError, ValueError) as e:  # an unknown scheme, an unreachable or missing bucket: said of the URI
            raise OSError(errno.EIO, f"cannot use this storage URI ({str(e).splitlines()[0]})", path) from None
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def exists(path: str) -> bool:
    if not is_uri(path):
        return Path(path).expanduser().exists()
    import pyarrow.fs as pafs

    fs, p = _fs(path)
    return fs.get_file_info(p).type != pafs.FileType.NotFound


def read_text(path: str) -> str:
    if not is_uri(path):
        return Path(path).expanduser().read_text()
    fs, p = _fs(path)
    with fs.open_input_stream(p) as f:
        return f.read().decode()


def write_text(path: str, text: str) -> None:
    """Write a whole file; on a local path through a temporary file and a rename."""
    write_bytes(path, text.encode())


@contextlib.contextmanager
def replacing(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` (same folder, same suffix, so writers that go by the suffix write the same
    format) for the block to write; renamed to ``target`` when the block ends, removed when it fails: a reader
    never sees half a file and a failure leaves nothing behind. Works for a file or a folder: a folder written where
    an empty one is moves its contents into it (the folder itself, its mode and whoever sits in it, stay)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}")
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():
            if any(target.iterdir()):
                raise OSError(errno.ENOTEMPTY, "Directory not empty", str(tmp))
            for child in tmp.iterdir():
                os.replace(child, target / child.name)
        else:
            os.replace(tmp, target)
    except OSError as e:  # said of the file the caller named, not of the temporary one
        if e.filename is None or str(tmp) not in str(e.filename):
            raise
        raise OSError(e.errno, e.strerror, str(target)) from e
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file; on a local path through a temporary file and a rename (``replacing``)."""
    if not is_uri(path):
        with replacing(path) as tmp:
            tmp.write_bytes(data)
        return
    fs, p = _fs(path)
    fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(p) as f:
        f.write(data)


def upload(local: str | Path, uri: str) -> None:
    """Copy a local file to a storage URI (or path)."""
    import pyarrow.fs as pafs

    fs, p = _fs(uri)
    fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
    pafs.copy_files(str(local), p, destination_filesystem=fs)


def download(uri: str, local: str | Path) -> None:
    """Copy a file at a storage URI (or path) to a local file."""
    import pyarrow.fs as pafs

    fs, p = _fs(uri)
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    pafs.copy_files(p, str(local), source_filesystem=fs)


def remove(path: str) -> None:
    """Delete a file if it exists."""
    import pyarrow.fs as pafs

    fs, p = _fs(path)
    if fs.get_file_info(p).type != pafs.FileType.NotFound:
        fs.delete_file(p)


def size(path: str) -> int:
    """A file's size in bytes."""
    fs, p = _fs(path)
    return fs.get_file_info(p).size


def glob(folder: str, pattern: str) -> set[str]:
    """Paths (or URIs) under ``folder`` matching a ``fnmatch`` pattern relative to it, e.g. ``trial_*/x.pt``."""
    import fnmatch

    import pyarrow.fs as pafs

    fs, base = _fs(folder)
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        return set()
    found = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    prefix = folder.rstrip("/")
    return {f"{prefix}/{info.path[len(base):].lstrip('/')}" for info in found
            if fnmatch.fnmatch(info.path[len(base):].lstrip("/"), pattern)}


def read_bytes(path: str) -> bytes:
    fs, p = _fs(path)
    with fs.open_input_stream(p) as f:
        return f.read()


def stat(path: str) -> tuple[str, int, int]:
    """``(path, size in bytes, modification time in ns)``: what tells a file's content changed."""
    if not is_uri(path):
        st = Path(path).stat()
        return (str(path), st.st_size, st.st_mtime_ns)
    fs, p = _fs(path)
    info = fs.get_file_info(p)
    mtime = info.mtime_ns if info.mtime_ns is not None else 0
    return (path, int(info.size or 0), int(mtime))


def list_files(folder: str) -> list[str]:
    """Files directly in ``folder`` (a path or URI), sorted; empty when the folder does not exist."""
    if not is_uri(folder):
        p = Path(folder)
        return sorted(str(f) for f in p.iterdir() if f.is_file()) if p.is_dir() else []
    import pyarrow.fs as pafs

    fs, base = _fs(folder)
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    prefix = folder.rstrip("/")
    return sorted(f"{prefix}/{info.base_name}" for info in fs.get_file_info(pafs.FileSelector(base))
                  if info.type == pafs.FileType.File)


def is_dir(path: str) -> bool:
    import pyarrow.fs as pafs

    fs, p = _fs(path)
    return fs.get_file_info(p).type == pafs.FileType.Directory
