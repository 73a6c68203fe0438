"""The one output rule (search/outputs.py) and the writes through a temporary name (trainable/data/storage.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from search.errors import SearchError
from search.outputs import SOFTWARE, folder_holds, local, plan_file, plan_folder, record_written, written_as
from trainable.data import storage


def test_an_input_is_never_an_output(tmp_path: Path) -> None:
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("image,x,y,class\n")
    with pytest.raises(SearchError, match=r"--out .*clicks\.csv is the clicks: pointtune never writes over"):
        plan_file(clicks, "--out", "suggest", [("the clicks", str(clicks))])
    link = tmp_path / "link.csv"
    link.symlink_to(clicks)
    with pytest.raises(SearchError, match="is the clicks"):  # the same file by another name
        plan_file(link, "--out", "suggest", [("the clicks", str(clicks))])


def test_a_file_pointtune_did_not_write_is_refused_and_one_it_wrote_is_replaced(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<p>mine</p>")
    with pytest.raises(SearchError, match="exists and is not a file `pointtune report` wrote"):
        plan_file(mine, "--out", "report")
    ours = tmp_path / "report.html"
    ours.write_text(f'<html><head><meta name="generator" content="{SOFTWARE.format(kind="report")}">')
    assert plan_file(ours, "--out", "report") == ours
    assert f"replacing {ours} (written before by `pointtune report`)" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["plot", "predict"])
def test_a_png_is_the_commands_while_it_is_as_written(tmp_path: Path, kind: str) -> None:
    """Its Software says which command wrote it and the folder's manifest keeps its checksum: a mask corrected by
    hand since (the tag is kept by editors) is the user's."""
    info = PngInfo()
    info.add_text("Software", SOFTWARE.format(kind=kind))
    Image.new("L", (2, 2)).save(tmp_path / "a.png", pnginfo=info)
    record_written(tmp_path / "a.png")
    Image.new("L", (2, 2)).save(tmp_path / "b.png")
    assert written_as(tmp_path / "a.png", kind) and not written_as(tmp_path / "b.png", kind)
    assert not written_as(tmp_path / "a.png", "plot" if kind == "predict" else "predict")
    Image.new("L", (2, 2), 3).save(tmp_path / "a.png", pnginfo=info)  # corrected by hand, the tag kept
    assert not written_as(tmp_path / "a.png", kind)
    with pytest.raises(SearchError, match="or changed since"):
        plan_file(tmp_path / "a.png", "--out", kind)


def test_a_model_file_is_one_pointtune_wrote_only_when_it_says_its_format(tmp_path: Path) -> None:
    torch.save({"format": "pointtune-model/1", "model": {}}, tmp_path / "ours.pt")
    torch.save({"state_dict": {}}, tmp_path / "theirs.pt")
    (tmp_path / "text.pt").write_text("not a zip")
    assert written_as(tmp_path / "ours.pt", "export")
    assert not written_as(tmp_path / "theirs.pt", "export") and not written_as(tmp_path / "text.pt", "export")


def test_answered_suggestions_are_not_what_suggest_wrote(tmp_path: Path) -> None:
    import hashlib
    import json

    out = tmp_path / "next.csv"
    out.write_text("image,x,y,class\nscene000,1,1,\n")
    record = {"format": "pointtune-suggest/1", "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    Path(f"{out}.json").write_text(json.dumps(record))
    assert written_as(out, "suggest")
    out.write_text("image,x,y,class\nscene000,1,1,road\n")  # the annotator's answer
    assert not written_as(out, "suggest")
    with pytest.raises(SearchError, match="changed since"):
        plan_file(out, "--out", "suggest")


def test_a_datasets_own_folders_and_a_runs_own_files_are_never_outputs(demo_dir: Path, train_dir: Path) -> None:
    with pytest.raises(SearchError, match=r"inside .*images, a dataset's images/ folder"):
        plan_file(demo_dir / "images" / "r.html", "--out", "report")
    with pytest.raises(SearchError, match=r"config\.yaml is a file of a `pointtune train` run"):
        plan_file(train_dir / "config.yaml", "--out", "report")
    assert folder_holds(demo_dir).startswith("the demo scenes") and folder_holds(train_dir).startswith("a `pointt")


def test_a_folder_output_refuses_what_holds_data_or_must_start_empty(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    (data / "README.txt").unlink()
    with pytest.raises(SearchError, match="holds a dataset"):
        plan_folder(data, "--out", "predict")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x.txt").write_text("keep")
    assert plan_folder(tmp_path / "mine", "--out", "predict") == tmp_path / "mine", "files beside: fine"
    with pytest.raises(SearchError, match="is not empty"):
        plan_folder(tmp_path / "mine", "demo-data DIR", "demo-data", empty=True)
    with pytest.raises(SearchError, match=r"x\.txt is a file, not a folder"):
        plan_folder(tmp_path / "mine" / "x.txt" / "sub", "--out", "plot")


def test_a_place_that_cannot_be_written_is_said_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SearchError, match=r"cannot write in /sys"):
        plan_file("/sys/pointtune-test/r.html", "--out", "report")


def test_a_write_is_whole_or_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with storage.replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("done")
    assert target.read_text() == "done" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with pytest.raises(ValueError), storage.replacing(target) as tmp:
        tmp.write_text("half")
        raise ValueError("the writer failed")
    assert target.read_text() == "done" and [p.name for p in tmp_path.iterdir()] == ["a.txt"], "nothing left"
    folder = tmp_path / "scenes"
    folder.mkdir()  # an empty folder given: replaced by the one written
    with storage.replacing(folder) as tmp:
        (tmp / "images").mkdir(parents=True)
    assert (folder / "images").is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "scenes"]


def test_a_failed_rename_is_said_of_the_file_asked_for(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("in the way")  # a folder that is not empty cannot be replaced
    with pytest.raises(OSError) as failed, storage.replacing(tmp_path / "full") as tmp:
        tmp.mkdir()
    assert failed.value.filename == str(tmp_path / "full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_an_earlier_versions_report_is_one_pointtune_wrote(tmp_path: Path) -> None:
    old = tmp_path / "report.html"
    old.write_text('<html><head><title>pointtune report: exp</title></head><body><script id="report-data">{}</script>')
    assert written_as(old, "report")


def test_a_bucket_is_not_a_local_output_but_a_file_uri_is(tmp_path: Path) -> None:
    assert local(f"file://{tmp_path}/x", "--out") == tmp_path / "x"
    with pytest.raises(SearchError, match="--out s3://b/x: this command writes to a local path"):
        plan_folder("s3://b/x", "--out", "predict")
    data = tmp_path / "d"
    (data / "images").mkdir(parents=True)
    (data / "classes.yaml").write_text("classes: []\n")
    with pytest.raises(SearchError, match="is a dataset's images/ folder"):
        plan_folder(f"file://{data}/images", "--storage", "run")


def test_a_folder_given_empty_keeps_its_place(tmp_path: Path) -> None:
    """Written into, not swapped for another: a shell sitting in it, its mode and owner stay."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    inode = folder.stat().st_ino
    with storage.replacing(folder) as tmp:
        (tmp / "images").mkdir(parents=True)
    assert folder.stat().st_ino == inode and (folder / "images").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenes"]
