"""The one rule for every path a command writes (``--out``, ``--storage``/``--name``, ``demo-data DIR``).

A command plans each output before it reads or computes anything (``plan_file``, ``plan_folder``), then writes it
through ``trainable.data.storage.replacing`` (a temporary name in the same folder, renamed when complete, removed
on failure). An output is refused, with one line naming it and what to do, when it:

- is one of the command's inputs, or of the model it reads (a clicks file, the data folder, a model file, ...);
- lies inside a dataset's own folders (``images/``, ``semantic/``, ``instance/``) or is one of a run's or a search's
  own files (its ``config.yaml``, ``best.pt``, ...);
- is an existing folder that holds a dataset or another kind of pointtune output (a search, a train run, the demo
  scenes), or for a folder that must start empty, anything at all;
- is an existing file that pointtune did not write as this kind of output, or that changed since (a suggestions
  file whose clicks were answered); a file pointtune wrote may be replaced, and the command says so;
- has a parent that is a file, or a folder it cannot write in.

Missing folders on the way are made. Storage URIs (s3://, gs://) are not checked here: a bucket has no folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from search.errors import SearchError
from search.files import OWN_FILES, SETTINGS_FILE, TRAIN_CONFIG, TRAIN_METRICS, TRAIN_MODEL, TRAIN_RESUME, TUNER_FILE
from trainable.data.storage import is_uri

Inputs = Iterable[tuple[str, str | Path | None]]  # (what it is, in words; its path)
DATASET_FOLDERS = ("images", "semantic", "instance")
SOFTWARE = "pointtune {kind}"  # the "Software" a PNG of ours records, the generator an HTML report names
MANIFEST = ".pointtune-outputs.json"  # in a folder of predict's or plot's outputs: each file's checksum as written


HOLDS_TRAIN_RUN = f"a `pointtune train` run ({TRAIN_CONFIG}, {TRAIN_METRICS})"


def config_inputs(config: dict) -> list[tuple[str, str | None]]:
    """What a run's config (``TrialConfig.to_dict``, as saved in a model or a run) reads: its data, clicks, class
    description, split file, other folders and weights file."""
    from trainable.config import FORMER_KEYS
    from trainable.data.split import SPLIT_CHOICES

    data = {FORMER_KEYS.get(("data", k), k): v for k, v in (config.get("data") or {}).items()}
    split, weights = data.get("split"), (config.get("model") or {}).get("weights")
    return [("the clicks the model is trained on", data.get("clicks")), ("the data folder", data.get("root")),
            ("the class description", data.get("classes_file")),
            ("the split file", split if split and split not in SPLIT_CHOICES else None),
            ("the validation folder", data.get("val_dir")), ("the test folder", data.get("test_dir")),
            ("the unlabelled images", data.get("unlabeled_images")),
            ("the folder of images BatchNorm adapts to", data.get("adapt_bn")),
            ("the weights file", weights if weights and weights not in ("none", "auto", "imagenet", "coco") else None)]


def experiment_inputs(path: str) -> list[tuple[str, str | None]]:
    """A search's or a train run's folder and what it read (``config_inputs`` of its settings), for the outputs of
    the commands that read it (plot, report)."""
    import yaml

    found: list[tuple[str, str | None]] = [("the experiment being read", path)]
    if is_uri(path):
        return found
    for name, section in ((TRAIN_CONFIG, None), (SETTINGS_FILE, "base")):
        try:
            saved = yaml.safe_load((Path(path).expanduser() / name).read_text()) or {}
            config = saved.get(section) if section else saved
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if isinstance(config, dict):
            found += config_inputs(config)
    return found


def local(out: str | Path, flag: str) -> Path:
    """``out`` as a local path (``file://`` URIs too).

    Raises:
        SearchError: another storage URI, which this command does not write.
    """
    text = str(out)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if is_uri(text):
        raise SearchError(f"{flag} {text}: this command writes to a local path; give one (and copy the result to "
                          "the bucket), or a file:// path")
    return Path(text)


def folder_holds(folder: Path) -> str | None:
    """What kind of folder ``folder`` is, in words, when it is a dataset or a pointtune output; else None."""
    from trainable.data.demo import is_demo_folder

    if not folder.is_dir():
        return None
    if is_demo_folder(folder):
        return "the demo scenes of `pointtune demo-data`"
    if (folder / "images").is_dir() and ((folder / "semantic").is_dir() or (folder / "instance").is_dir() or (
            folder / "classes.yaml").is_file() or any(folder.glob("*.csv")) or any(folder.glob("*.geojson"))):
        return "a dataset (images/ with semantic/, classes.yaml or clicks)"
    if (folder / SETTINGS_FILE).is_file() or (folder / TUNER_FILE).is_file() or any(
            folder.glob("experiment_state-*.json")):
        return f"a search's results ({SETTINGS_FILE})"
    if (folder / TRAIN_CONFIG).is_file() and any((folder / n).exists() for n in (TRAIN_METRICS, TRAIN_MODEL,
                                                                                 TRAIN_RESUME)):
        return HOLDS_TRAIN_RUN
    return None


def written_as(path: Path, kind: str) -> bool:
    """Whether the file at ``path`` is one pointtune wrote as a ``kind`` output and nobody changed since (where
    that can be told: a suggestions file against the checksum its ``.json`` record keeps)."""
    try:
        if kind == "report":  # this version's generator tag, or an earlier version's title
            head = path.read_text(encoding="utf-8", errors="replace")[:4096]
            return f'<meta name="generator" content="{SOFTWARE.format(kind=kind)}">' in head or (
                "<title>pointtune report: " in head and 'id="report-data"' in path.read_text(errors="replace"))
        if kind in ("plot", "predict"):  # as written: the checksum the folder's manifest keeps (record_written)
            known = json.loads((path.parent / MANIFEST).read_text())
            return known.get(path.name) == _sha256(path) and _image_software(path) == SOFTWARE.format(kind=kind)
        if kind == "export":
            with zipfile.ZipFile(path) as z:  # a torch file is a zip; its pickle names the format
                pickle = next(n for n in z.namelist() if n.endswith("data.pkl"))
                return b"pointtune-model" in z.read(pickle)
        if kind == "suggest":
            record = json.loads(Path(f"{path}.json").read_text())
            return record.get("sha256") == hashlib.sha256(path.read_bytes()).hexdigest()
        if kind == "suggest record":
            return str(json.loads(path.read_text()).get("format", "")).startswith("pointtune-suggest")
    except (OSError, ValueError, StopIteration, zipfile.BadZipFile, KeyError):
        return False
    return False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_written(path: Path) -> None:
    """After pointtune wrote ``path`` into a folder of outputs (predict's masks, plot's figures): its checksum in the
    folder's manifest, so that a file changed since (a mask corrected by hand) is never written over."""
    from trainable.data import storage

    manifest = path.parent / MANIFEST
    try:
        known = json.loads(manifest.read_text())
    except (OSError, ValueError):
        known = {}
    known[path.name] = _sha256(path)
    storage.write_text(str(manifest), json.dumps(known, indent=1, sort_keys=True) + "\n")


def _kind_words(kind: str) -> str:
    return ("the record `pointtune suggest` writes beside its clicks" if kind == "suggest record"
            else f"a file `pointtune {kind}` wrote")


def _image_software(path: Path) -> str | None:
    from PIL import Image

    with Image.open(path) as im:
        if path.suffix.lower() in (".tif", ".tiff"):
            return im.tag_v2.get(305)  # TIFFTAG_SOFTWARE
        return im.info.get("Software")


def _check_inputs(path: Path, flag: str, inputs: Inputs) -> None:
    for what, given in inputs:
        if given is None or is_uri(str(given)):
            continue
        other = Path(given).expanduser().resolve()
        if path == other or (path.exists() and other.exists() and path.samefile(other)):
            raise SearchError(f"{flag} {path} is {what}: pointtune never writes over what it reads; give another "
                              f"{flag}")


def _check_place(path: Path, flag: str) -> None:
    """Not inside a dataset's own folders, not one of a run's or search's own files; a parent that is a folder
    this process can write in."""
    for parent in (path, *path.parents):
        if parent.name in DATASET_FOLDERS and folder_holds(parent.parent) is not None:
            where = "is" if parent == path else f"is inside {parent},"
            raise SearchError(f"{flag} {path} {where} a dataset's {parent.name}/ folder: outputs there would be read "
                              "as data; write them elsewhere")
    if path.name in OWN_FILES and (holder := folder_holds(path.parent)):
        raise SearchError(f"{flag} {path} is a file of {holder} in {path.parent}: give another {flag}")
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if existing != path and not existing.is_dir():
        raise SearchError(f"{flag} {path}: {existing} is a file, not a folder; give a path in a folder")
    folder = existing if existing != path else path.parent
    try:  # a real file, not os.access: root passes every permission check, yet not a read-only file system
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".pointtune-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SearchError(f"{flag} {path}: cannot write in {folder} ({e.strerror}); give a path in a folder you "
                          "can write to") from None


def plan_file(out: str | Path, flag: str, kind: str, inputs: Inputs = ()) -> Path:
    """Check a file output (module docstring) before anything is computed; returns its absolute path.

    Raises:
        SearchError: naming ``flag``, the path and what to do.
    """
    path = local(out, flag).expanduser().resolve()
    _check_inputs(path, flag, inputs)
    _check_place(path, flag)
    if path.is_dir():
        raise SearchError(f"{flag} {path} is a folder: give the name of the file to write, e.g. "
                          f"{path / ('report.html' if kind == 'report' else 'out' + path.suffix)}")
    if path.exists():
        if not written_as(path, kind):
            changed = (" and has changed since (answered clicks?)" if kind == "suggest" and Path(
                f"{path}.json").is_file() else " (or changed since; delete an earlier version's yourself)" if kind in (
                "plot", "predict") else "")
            raise SearchError(f"{flag} {path} exists and is not {_kind_words(kind)}{changed}: pointtune does not "
                              f"write over it; give another {flag}, or move it away first")
        print(f"replacing {path} (written before by `pointtune {kind.split()[0]}`)", file=sys.stderr)
    return path


def plan_folder(out: str | Path, flag: str, kind: str, inputs: Inputs = (), empty: bool = False) -> Path:
    """Check a folder output (module docstring) before anything is computed; returns its absolute path (not yet
    made). ``empty``: the folder must be missing or empty (a dataset or a run is written into it).

    Raises:
        SearchError: naming ``flag``, the path and what to do.
    """
    path = local(out, flag).expanduser().resolve()
    _check_inputs(path, flag, inputs)
    _check_place(path, flag)
    if path.exists() and not path.is_dir():
        raise SearchError(f"{flag} {path} is a file: give a folder (it is made if missing)")
    holds = folder_holds(path)
    if holds:
        raise SearchError(f"{flag} {path} holds {holds}: pointtune does not write `{kind}` output into it; give "
                          f"a folder of its own")
    if empty and path.is_dir() and any(path.iterdir()):
        raise SearchError(f"{flag} {path} is not empty: give a new or empty folder (pointtune does not mix its "
                          "files with yours)")
    return path


def plan_files_in(folder: Path, names: Iterable[str], flag: str, kind: str, inputs: Inputs = ()) -> None:
    """The files a command will write into a planned folder: each one a new file or one it wrote before."""
    for name in names:
        plan_file(folder / name, flag, kind, inputs)
