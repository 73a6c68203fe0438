"""A careless user's bad inputs, across every command: each exits non-zero with one clear message (naming the flag or
the file), never a traceback or an internal error, and leaves every file the user has as it was (hashes before and
after) and nothing behind.

Each case runs the real command in-process (``main(argv)``) on tiny real data: the demo scenes, a real ``train``
run and one trained from clicks. Paths in a case's argv are written with placeholders: ``{D}`` the demo scenes
(shared, read-only), ``{T}`` a train run on them (shared), ``{C}`` a train run from a clicks file (shared; its
clicks in ``{C}.csv``), ``{W}`` the case's own folder (its ``prep`` puts what it needs there).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.cli.main import main

Prep = Callable[[Path, dict[str, Path]], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    said: tuple[str, ...]  # what the message must hold (the flag, the file, what to do)
    prep: Prep | None = None
    code: int = 2


CASES: list[Case] = []


def case(id: str, argv: str, *said: str, prep: Prep | None = None, code: int = 2) -> None:
    CASES.append(Case(id, tuple(argv.split()), said, prep, code))


# ------------------------------------------------------------------------------------------------------ preparations
def dataset(w: Path, f: dict[str, Path], name: str = "D") -> Path:
    """A copy of the demo scenes as a dataset of the user's own (no demo marker)."""
    shutil.copytree(f["D"], w / name)
    (w / name / "README.txt").unlink()
    return w / name


def prep_dataset(w: Path, f: dict[str, Path]) -> None:
    dataset(w, f)


def write(name: str, content: str | bytes) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        (w / name).parent.mkdir(parents=True, exist_ok=True)
        (w / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return prep


def both(*preps: Prep) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        for p in preps:
            p(w, f)
    return prep


def damaged(change: Callable[[Path], None]) -> Prep:
    """A dataset of the user's with one thing wrong."""
    def prep(w: Path, f: dict[str, Path]) -> None:
        change(dataset(w, f))
    return prep


def truncate(rel: str) -> Callable[[Path], None]:
    def change(d: Path) -> None:
        data = (d / rel).read_bytes()
        (d / rel).write_bytes(data[: len(data) // 3])
    return change


def mask_value(d: Path) -> None:
    m = np.array(Image.open(d / "semantic/scene001.png"))
    m[:4, :4] = 77
    Image.fromarray(m).save(d / "semantic/scene001.png")


def mask_size(d: Path) -> None:
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(d / "semantic/scene002.png")


def grey_images(d: Path) -> None:
    for p in sorted((d / "images").glob("*.png")):
        Image.open(p).convert("L").save(p)


def other_classes(d: Path) -> None:
    text = (d / "classes.yaml").read_text()
    (d / "classes.yaml").write_text(text.replace("road", "street"))


def loop(w: Path, f: dict[str, Path]) -> None:
    os.symlink(w / "loop", w / "loop")


def demo_of(seed: int, images: int) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        assert main(["demo-data", str(w / "demo"), "--images", str(images), "--size", "32", "--seed", str(seed)]) == 0
    return prep


def experiment_like(w: Path, f: dict[str, Path]) -> None:
    (w / "exp").mkdir()
    (w / "exp" / "pointtune_settings.yaml").write_text("trials: 1\n")


def answered(w: Path, f: dict[str, Path]) -> None:
    """Suggestions pointtune wrote, then answered by the annotator (one class changed)."""
    assert main(["suggest", str(f["T"]), "--data", str(f["D"]), "--clicks-per-image", "1", "--out", str(w / "s.csv"),
                 "--answer-from-masks"]) == 0
    lines = (w / "s.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[3] = "building" if cells[3] != "building" else "road"
    (w / "s.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")


def model_without(key: str) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        import torch

        payload = torch.load(f["T"] / "best.pt", weights_only=True)
        del payload[key]
        torch.save(payload, w / "m.pt")
    return prep


def model_trained_on(root: str | None) -> Prep:
    """The shared run's model as if trained on ``root`` (None: a model that does not record its folder)."""
    def prep(w: Path, f: dict[str, Path]) -> None:
        import torch

        payload = torch.load(f["T"] / "best.pt", weights_only=True)
        payload["config"]["data"]["root"] = root
        torch.save(payload, w / "m.pt")
    return prep


def model_edited(**entries: object) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        import torch

        payload = torch.load(f["T"] / "best.pt", weights_only=True)
        torch.save({**payload, **entries}, w / "m.pt")
    return prep


def running_driver(w: Path, f: dict[str, Path]) -> None:
    import json

    from search.results.driver import DRIVER_FILE, this_process

    (w / "exp" / DRIVER_FILE).write_text(json.dumps({"state": "running", **this_process()}))


def corrected_mask(w: Path, f: dict[str, Path]) -> None:
    """Masks predict wrote, one of them corrected by hand since (its Software tag kept, as editors do)."""
    assert main(["predict", str(f["T"]), str(f["D"] / "images/scene000.png"), "--out", str(w / "out")]) == 0
    mask = w / "out" / "scene000_classes.png"
    with Image.open(mask) as im:
        info, pixels = im.info, np.array(im)
    from PIL.PngImagePlugin import PngInfo

    keep = PngInfo()
    keep.add_text("Software", info["Software"])
    Image.fromarray(np.full_like(pixels, 3)).save(mask, pnginfo=keep)


def copied_search(w: Path, f: dict[str, Path]) -> None:
    """A search's folder copied elsewhere (its settings name where it was made)."""
    import yaml

    from search.launch.settings import SearchSettings
    from trainable.config import TrialConfig

    settings = SearchSettings(base=TrialConfig(), storage=str(w / "made"), name="exp")
    for where in ("made", "copy"):
        (w / where / "exp").mkdir(parents=True)
        (w / where / "exp" / "pointtune_settings.yaml").write_text(yaml.safe_dump(settings.to_dict()))


def clicks_only(w: Path, f: dict[str, Path]) -> None:
    (w / "X" / "images").mkdir(parents=True)
    shutil.copy(f["D"] / "images/scene000.png", w / "X/images/a.png")
    (w / "X" / "clicks.csv").write_text("image,x,y,class\na,3,3,road\n")


def float_tif(w: Path, f: dict[str, Path]) -> None:
    import rasterio

    pixels = np.array(Image.open(f["D"] / "images/scene000.png"), np.float32).transpose(2, 0, 1) / 255
    from rasterio.transform import from_origin

    with rasterio.open(w / "f.tif", "w", driver="GTiff", width=pixels.shape[2], height=pixels.shape[1], count=3,
                       dtype="float32", crs="EPSG:32640", transform=from_origin(500000, 2800000, 0.5, 0.5)) as out:
        out.write(pixels)


def val_dir_other_classes(w: Path, f: dict[str, Path]) -> None:
    dataset(w, f)
    val = w / "V"
    (val / "images").mkdir(parents=True)
    (val / "semantic").mkdir()
    for sub in ("images", "semantic"):
        shutil.move(str(w / "D" / sub / "scene011.png"), val / sub / "scene011.png")
    text = (w / "D" / "classes.yaml").read_text()
    (val / "classes.yaml").write_text(text.replace("road", "street"))


def copy_model(w: Path, f: dict[str, Path]) -> None:
    shutil.copy(f["T"] / "best.pt", w / "m.pt")


def user_png(name: str) -> Prep:
    def prep(w: Path, f: dict[str, Path]) -> None:
        (w / "out").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(w / "out" / name)
    return prep


def grey_image(w: Path, f: dict[str, Path]) -> None:
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(w / "grey.png")


def same_stem(w: Path, f: dict[str, Path]) -> None:
    for sub in ("a", "b"):
        (w / sub).mkdir()
        shutil.copy(f["D"] / "images/scene000.png", w / sub / "x.png")


TRAIN = "train --data {D} --backbone tiny --tile-size 32 --epochs 1 --crops-per-epoch 16"
RUN = "run --data {D} --backbone tiny --tile-size 32 --epochs 1 --crops-per-epoch 16 --trials 1 --storage {W}/s"
EVAL = "evaluate {T} --data {D}"
PRED = "predict {T} {D}/images/scene000.png"
SUGG = "suggest {T} --data {D} --clicks-per-image 2"


# ------------------------------------------------------------------------------------------------------------ demo-data
case("demo-data-over-a-file", "demo-data {W}/f.txt", "{W}/f.txt is a file", prep=write("f.txt", "mine"))
case("demo-data-images-0", "demo-data {W}/d --images 0", "--images", "[1, 10000]")
case("demo-data-images-negative", "demo-data {W}/d --images -3", "--images", "-3")
case("demo-data-images-huge", "demo-data {W}/d --images 1000000", "--images", "1000000")
case("demo-data-images-text", "demo-data {W}/d --images many", "--images", "not a whole number")
case("demo-data-size-0", "demo-data {W}/d --size 0", "--size", "[32, 8192]")
case("demo-data-size-8", "demo-data {W}/d --size 8", "--size", "8")
case("demo-data-size-float", "demo-data {W}/d --size 64.5", "--size", "not a whole number")
case("demo-data-seed-negative", "demo-data {W}/d --seed -1", "--seed", "-1")
case("demo-data-over-a-dataset", "demo-data {W}/D", "{W}/D holds a dataset", prep=prep_dataset)
case("demo-data-over-other-demo-scenes", "demo-data {W}/demo --seed 1 --images 2 --size 32",
     "{W}/demo holds other demo scenes", "would mix them", prep=demo_of(0, 3))
case("demo-data-over-a-folder-of-yours", "demo-data {W}/mine", "{W}/mine is not empty",
     prep=write("mine/notes.txt", "keep me"))
case("demo-data-read-only-place", "demo-data /sys/pointtune-bad-input", "/sys/pointtune-bad-input", "cannot write")
case("demo-data-under-a-file", "demo-data {W}/f.txt/sub", "{W}/f.txt is a file, not a folder",
     prep=write("f.txt", "mine"))
case("demo-data-in-a-datasets-images", "demo-data {W}/D/images/more", "inside {W}/D/images", prep=prep_dataset)
case("plot-out-the-models-clicks", "plot {C} --out {C}.csv", "--out {C}.csv is the clicks the model is trained on")
case("report-out-the-models-clicks", "report {C} --no-model --out {C}.csv", "--out {C}.csv is the clicks")
case("run-resume-a-running-search", "run --resume --storage {W} --name exp", "is running now", "pid",
     prep=both(experiment_like, running_driver))
case("predict-out-a-bucket", f"{PRED} --out s3://bucket/masks", "--out s3://bucket/masks", "local path")
case("plot-out-a-mask-corrected-by-hand", f"{PRED} --out {{W}}/out", "{W}/out/scene000_classes.png", "changed since",
     prep=corrected_mask)
case("demo-data-without-a-folder", "demo-data", "the following arguments are required: dir")
case("demo-data-over-a-search", "demo-data {W}/exp", "{W}/exp holds a search's results", prep=experiment_like)

# ---------------------------------------------------------------------------------------------------- train: numbers
for flag, value, said in [
        ("--batch-size", "0", "[2, 100000]"), ("--batch-size", "1", "BatchNorm"), ("--batch-size", "-2", "-2"),
        ("--batch-size", "100000000", "100000000"), ("--lr", "0", "(0, 1)"), ("--lr", "1", "(0, 1)"),
        ("--lr", "nan", "nan"), ("--lr", "inf", "inf"), ("--lr", "fast", "not a number"), ("--epochs", "0", "0"),
        ("--epochs", "-1", "-1"), ("--epochs", "1.5", "not a whole number"), ("--tile-size", "4", "[8, 8192]"),
        ("--tile-size", "0", "0"), ("--resize", "0", "(0, 8]"), ("--resize", "9", "9"), ("--density", "0", "(0, 1]"),
        ("--density", "2", "2"), ("--clicks-per-object", "0", ">= 1"), ("--val-fraction", "1", "(0, 1)"),
        ("--test-fraction", "-0.1", "[0, 1)"), ("--crops-per-epoch", "-1", ">= 0"),
        ("--seconds-per-click", "-1", "> 0"), ("--seconds-per-click", "0", "> 0"), ("--warmup-epochs", "-1", ">= 0"),
        ("--poly-power", "0", "> 0"), ("--bn-recalibration-batches", "-1", ">= 0"),
        ("--unlabeled-weight", "-1", "[0, 1000)"), ("--pseudo-labels", "0", "(0, 1]"),
        ("--pseudo-labels", "1.5", "1.5"), ("--seed", "-1", "[0, 4294967295]"), ("--split-seed", "-1", ">= 0"),
        ("--val-clicks", "-5", ">= 0"), ("--weight-decay", "-0.1", "[0, 1)")]:
    case(f"train{flag}-{value}", f"{TRAIN} {flag} {value} --out {{W}}/out", flag, said)
for flag, value, said in [  # self-training's second stage: each setting's range, given with --pseudo-labels
        ("--pseudo-lr-factor", "0", "(0, 10]"), ("--pseudo-lr-factor", "11", "11"), ("--teacher-decay", "1", "(0, 1)"),
        ("--teacher-decay", "0", "(0, 1)"), ("--teacher-decay", "fast", "not a number"),
        ("--pseudo-class-share", "0", "(0, 1]"), ("--pseudo-class-share", "1.5", "(0, 1]"),
        ("--pseudo-weight", "0", "(0, 100]"), ("--pseudo-weight", "-1", "(0, 100]")]:
    case(f"train{flag}-{value}", f"{TRAIN} --pseudo-labels 0.9 {flag} {value} --out {{W}}/out", flag, said)
case("train-fractions-leave-no-training", f"{TRAIN} --val-fraction 0.6 --test-fraction 0.5 --out {{W}}/out",
     "--test-fraction 0.5 with --val-fraction 0.6 leaves no image for training")
case("train-warmup-past-the-epochs", f"{TRAIN} --warmup-epochs 2 --out {{W}}/out", "--warmup-epochs 2",
     "below --epochs 1")
case("train-batch-beyond-the-epoch", f"{TRAIN} --batch-size 50 --out {{W}}/out", "--batch-size 50",
     "--crops-per-epoch 16")
case("train-background-share-high", f"{TRAIN} --clicks-per-object 1 --background-share 1.5 --out {{W}}/out",
     "--background-share", "[0, 1)")

case("train-like-a-missing-run", f"{TRAIN} --like {{W}}/nothere --out {{W}}/out", "--like", "nothere",
     "does not exist")
case("train-like-a-folder-of-something-else", f"{TRAIN} --like {{W}}/notes --out {{W}}/out", "--like", "notes",
     prep=write("notes/a.txt", "x"))

# ------------------------------------------------------------------------------------- train: flags needing others
case("train-poly-power-with-cosine", f"{TRAIN} --lr-schedule cosine --poly-power 2 --out {{W}}/out",
     "--poly-power does nothing without --lr-schedule poly")
case("train-background-share-alone", f"{TRAIN} --background-share 0.3 --out {{W}}/out",
     "--background-share does nothing without --clicks-per-object")
case("train-min-region-pixels-alone", f"{TRAIN} --min-region-pixels 4 --out {{W}}/out",
     "--min-region-pixels does nothing without --clicks-per-object")
case("train-unlabeled-weight-alone", f"{TRAIN} --unlabeled-weight 0.5 --out {{W}}/out",
     "--unlabeled-weight does nothing without --unlabeled-loss with a value other than none")
case("train-split-seed-with-a-split-file", f"{TRAIN} --split {{W}}/s.yaml --split-seed 3 --out {{W}}/out",
     "--split-seed does nothing without --split auto or --split seeded", prep=write("s.yaml", "train: [a]\n"))
for flag, value in [("--pseudo-lr-factor", "0.1"), ("--teacher-decay", "0.99"), ("--pseudo-class-share", "0.5"),
                    ("--pseudo-weight", "0.5")]:
    case(f"train{flag}-without-a-second-stage", f"{TRAIN} {flag} {value} --out {{W}}/out",
         f"{flag} does nothing without --pseudo-labels")
case("train-second-stage-in-a-config-without-one", f"{TRAIN} --config {{W}}/c.yaml --out {{W}}/out",
     "--teacher-decay does nothing without --pseudo-labels", prep=write("c.yaml", "teacher_decay: 0.99\n"))
case("train-unlabeled-images-alone", f"{TRAIN} --unlabeled-images {{D}}/images --out {{W}}/out",
     "--unlabeled-images", "add --pseudo-labels")
case("train-two-unlabeled-losses", f"{TRAIN} --unlabeled-loss entropy affinity --out {{W}}/out",
     "--unlabeled-loss entropy affinity", "give one")
case("train-density-and-clicks-per-object", f"{TRAIN} --density 0.1 --clicks-per-object 2 --out {{W}}/out",
     "not allowed with argument")

# ------------------------------------------------------------------------------------------------- train: choices
for flag, value in [("--backbone", "vgg16"), ("--device", "tpu"), ("--metric", "accuracy"), ("--normalize", "zscore"),
                    ("--lr-schedule", "step"), ("--unlabeled-loss", "dice")]:
    case(f"train{flag}-{value}", f"{TRAIN} {flag} {value} --out {{W}}/out", flag, "invalid choice")
case("train-unknown-flag", f"{TRAIN} --learning-rate 0.1 --out {{W}}/out", "unrecognized arguments: --learning-rate")
case("train-device-cuda-without-a-gpu", f"{TRAIN} --device cuda --out {{W}}/out", "--device cuda", "--device auto")

# -------------------------------------------------------------------------------------------- train: inputs (paths)
case("train-data-missing", "train --data {W}/nothing --out {W}/out", "--data {W}/nothing does not exist")
case("train-data-a-file", "train --data {W}/f.txt --out {W}/out", "--data {W}/f.txt is a file",
     prep=write("f.txt", "x"))
case("train-data-empty-folder", "train --data {W}/empty --out {W}/out", "{W}/empty",
     prep=lambda w, f: (w / "empty").mkdir())
case("train-data-without-images", "train --data {W}/D --out {W}/out", "images",
     prep=damaged(lambda d: shutil.rmtree(d / "images")))
case("train-data-symlink-loop", "train --data {W}/loop --out {W}/out", "{W}/loop", prep=loop)
case("train-data-a-uri-of-nothing", "train --data foo://bucket/x --out {W}/out", "foo://bucket/x")
case("train-classes-missing", f"{TRAIN} --classes {{W}}/nope.yaml --out {{W}}/out",
     "class description {W}/nope.yaml does not exist")
case("train-classes-an-image", f"{TRAIN} --classes {{D}}/images/scene000.png --out {{W}}/out",
     "{D}/images/scene000.png is not valid YAML")
case("train-classes-a-folder", f"{TRAIN} --classes {{D}} --out {{W}}/out", "{D} is a folder")
case("train-classes-truncated", "train --data {W}/D --out {W}/out", "{W}/D/classes.yaml",
     prep=damaged(truncate("classes.yaml")))
case("train-classes-not-a-mapping", "train --data {W}/D --out {W}/out", "{W}/D/classes.yaml",
     prep=damaged(lambda d: (d / "classes.yaml").write_text("- road\n- building\n")))
case("train-split-missing", f"{TRAIN} --split {{W}}/split.yaml --out {{W}}/out", "{W}/split.yaml")
case("train-split-malformed", f"{TRAIN} --split {{W}}/split.yaml --out {{W}}/out", "{W}/split.yaml",
     prep=write("split.yaml", "train: [scene000\nval: ]]\n"))
case("train-split-an-image", f"{TRAIN} --split {{D}}/images/scene000.png --out {{W}}/out",
     "--split {D}/images/scene000.png is not a text file")
case("train-split-unknown-images", f"{TRAIN} --split {{W}}/split.yaml --out {{W}}/out", "nowhere",
     prep=write("split.yaml", "train: [nowhere]\nval: [scene001]\n"))
case("train-clicks-missing", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "{W}/clicks.csv")
case("train-clicks-empty", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "{W}/clicks.csv",
     prep=write("clicks.csv", ""))
case("train-clicks-unknown-class", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "lava",
     prep=write("clicks.csv", "image,x,y,class\nscene000,3,3,lava\n"))
case("train-clicks-outside-the-image", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "scene000",
     prep=write("clicks.csv", "image,x,y,class\nscene000,900,3,road\n"))
case("train-clicks-unknown-image", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "nosuchscene",
     prep=write("clicks.csv", "image,x,y,class\nnosuchscene,3,3,road\n"))
case("train-clicks-binary", f"{TRAIN} --clicks {{W}}/clicks.csv --out {{W}}/out", "{W}/clicks.csv",
     prep=write("clicks.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff"))
case("train-clicks-geojson-broken", f"{TRAIN} --clicks {{W}}/c.geojson --out {{W}}/out", "{W}/c.geojson",
     prep=write("c.geojson", '{"type": "FeatureCollection", "features": [{"type": '))
case("train-weights-missing", f"{TRAIN} --backbone mobilenet_v3_large --weights {{W}}/w.pt --out {{W}}/out",
     "{W}/w.pt")
case("train-weights-not-weights", f"{TRAIN} --backbone mobilenet_v3_large --weights {{D}}/classes.yaml "
     "--out {W}/out", "{D}/classes.yaml")
case("train-weights-for-tiny", f"{TRAIN} --weights imagenet --out {{W}}/out", "tiny")
case("train-val-dir-missing", f"{TRAIN} --val-dir {{W}}/val --out {{W}}/out", "{W}/val")
case("train-config-missing", "train --config {W}/c.yaml", "--config {W}/c.yaml does not exist")
case("train-config-a-folder", "train --config {W}", "--config {W} is a folder")
case("train-config-an-image", "train --config {D}/images/scene000.png", "--config {D}/images/scene000.png",
     "not valid YAML")
case("train-config-unknown-key", "train --config {W}/c.yaml", "unknown setting(s) ['learning_rate']",
     prep=write("c.yaml", "learning_rate: 0.1\n"))
case("train-config-wrong-type", "train --config {W}/c.yaml", "{W}/c.yaml: epochs", "not a whole number",
     prep=write("c.yaml", "epochs: many\n"))
case("train-config-out-of-range", "train --config {W}/c.yaml", "{W}/c.yaml: lr", "(0, 1)",
     prep=write("c.yaml", "lr: 5\n"))
case("train-config-a-list-for-one", "train --config {W}/c.yaml", "{W}/c.yaml: tile_size",
     prep=write("c.yaml", "tile_size: [32, 64]\n"))
case("train-config-not-a-mapping", "train --config {W}/c.yaml", "--config {W}/c.yaml must be a mapping",
     prep=write("c.yaml", "- lr\n"))
case("train-config-bool-expected", "train --config {W}/c.yaml", "class_weights: 3 must be true or false",
     prep=write("c.yaml", "class_weights: 3\n"))

# -------------------------------------------------------------------------------------------- train: data content
case("train-image-truncated", "train --data {W}/D --out {W}/out", "scene000",
     prep=damaged(truncate("images/scene000.png")))
case("train-mask-unknown-value", "train --data {W}/D --out {W}/out", "77", "classes.yaml",
     prep=damaged(mask_value))
case("train-mask-wrong-size", "train --data {W}/D --out {W}/out", "scene002", prep=damaged(mask_size))
case("train-mask-missing", "train --data {W}/D --out {W}/out", "scene003",
     prep=damaged(lambda d: (d / "semantic/scene003.png").unlink()))
case("train-images-empty", "train --data {W}/D --out {W}/out", "{W}/D",
     prep=damaged(lambda d: [p.unlink() for p in (d / "images").glob("*")]))

# ------------------------------------------------------------------------------------------------ train: its --out
case("train-out-the-data", f"{TRAIN} --out {{D}}", "--out {D} is the data folder")
case("train-out-in-the-images", f"{TRAIN} --out {{D}}/images/run", "inside {D}/images")
case("train-out-a-file", f"{TRAIN} --out {{W}}/f.txt", "--out {W}/f.txt is a file", prep=write("f.txt", "x"))
case("train-out-under-a-file", f"{TRAIN} --out {{W}}/f.txt/run", "{W}/f.txt is a file, not a folder",
     prep=write("f.txt", "x"))
case("train-out-read-only", f"{TRAIN} --out /sys/pointtune-run", "/sys/pointtune-run", "cannot write")
case("train-out-a-folder-of-yours", f"{TRAIN} --out {{W}}/mine", "--out {W}/mine is not empty",
     prep=write("mine/config.yaml", "my: own\n"))
case("train-out-a-search", f"{TRAIN} --out {{W}}/exp", "holds a search's results", prep=experiment_like)
case("train-out-a-run-without-resume", f"{TRAIN} --out {{T}}", "--out {T} already holds a training run",
     "--resume")
case("train-out-the-clicks", f"{TRAIN} --clicks {{W}}/c.csv --out {{W}}/c.csv", "--out {W}/c.csv",
     prep=write("c.csv", "image,x,y,class\nscene000,3,3,road\n"))

# ---------------------------------------------------------------------------------------------- train: --resume
case("train-resume-nothing", "train --resume --out {W}/none", "nothing to resume", "--out {W}/none")
case("train-resume-a-dataset", "train --resume --out {D}", "nothing to resume")
case("train-resume-with-other-flags", "train --resume --out {T} --lr 0.1", "would ignore --lr")
case("train-resume-fewer-epochs", "train --resume --out {T} --epochs 1", "--epochs 1 with --resume")
case("train-resume-finished", "train --resume --out {T}", "has finished its 2 epoch(s)")

# ----------------------------------------------------------------------------------------------------------- run
for flag, value in [("--trials", "0"), ("--max-concurrent", "-1"), ("--cpus-per-trial", "0"),
                    ("--gpus-per-trial", "-1"), ("--resume-every", "0"), ("--keep-checkpoints", "0"),
                    ("--max-failures", "-1"), ("--trials", "lots")]:
    case(f"run{flag}-{value}", f"{RUN} {flag} {value}", flag)
case("run-max-annotation-hours-0", f"{RUN} --max-annotation-hours 0", "--max-annotation-hours", "> 0")
case("run-max-trial-minutes-negative", f"{RUN} --max-trial-minutes -5", "--max-trial-minutes", "-5")
case("run-reduction-factor-1", f"{RUN} --scheduler asha --reduction-factor 1", "--reduction-factor", ">= 2")
case("run-gpus-fraction-above-one", f"{RUN} --gpus-per-trial 1.5", "--gpus-per-trial 1.5", "whole number")
case("run-gpus-without-a-gpu", f"{RUN} --gpus-per-trial 1", "--gpus-per-trial 1", "no GPU")
case("run-device-cuda-without-a-gpu", f"{RUN} --device cuda", "--device cuda")
case("run-retry-failed-alone", f"{RUN} --retry-failed", "--retry-failed does nothing without --resume")
case("run-grace-period-alone", f"{RUN} --grace-period 2", "--grace-period does nothing without --scheduler asha")
case("run-asha-search-epochs-alone", f"{RUN} --asha-search-epochs", "--asha-search-epochs does nothing without")
case("run-lr-range-reversed", f"{RUN} --lr-range 0.1 0.001", "--lr-range 0.1 0.001", "LO <= HI")
case("run-lr-range-out", f"{RUN} --lr-range 0 1", "--lr-range", "(0, 1)")
case("run-epochs-range-0", f"{RUN} --epochs-range 0 3", "--epochs-range", "0")
case("run-density-range-above-1", f"{RUN} --density-range 0.5 2", "--density-range", "(0, 1]")
case("run-lr-and-lr-range", f"{RUN} --lr 0.01 --lr-range 0.001 0.1", "--lr 0.01 and --lr-range")
case("run-frontier-with-asha", f"{RUN} --frontier --scheduler asha", "--frontier with --scheduler asha")
case("run-teacher-decay-range-alone", f"{RUN} --teacher-decay-range 0.9 0.99",
     "--teacher-decay-range does nothing without --pseudo-labels")
case("run-pseudo-weight-alone", f"{RUN} --pseudo-weight 0.5", "--pseudo-weight does nothing without --pseudo-labels")
case("run-pseudo-weight-range-reversed", f"{RUN} --pseudo-labels 0.9 --pseudo-weight-range 2 0.5",
     "--pseudo-weight-range 2 0.5", "LO <= HI")
case("run-pseudo-lr-factor-range-out", f"{RUN} --pseudo-labels 0.9 --pseudo-lr-factor-range 0 0.5",
     "--pseudo-lr-factor-range", "(0, 10]")
case("run-pseudo-class-share-and-its-range", f"{RUN} --pseudo-labels 0.9 --pseudo-class-share 0.5 "
     "--pseudo-class-share-range 0.2 0.8", "--pseudo-class-share 0.5 and --pseudo-class-share-range")
case("run-background-share-range-alone", f"{RUN} --background-share-range 0.1 0.5",
     "--background-share-range does nothing without --clicks-per-object-range")
case("run-warmup-past-the-fewest-epochs", "run --data {D} --storage {W}/s --warmup-epochs 2 --epochs-range 1 3",
     "--warmup-epochs 2 must be below the low end of --epochs-range 1 3")
case("run-sampler-unknown", f"{RUN} --sampler grid", "--sampler", "invalid choice")
case("run-name-a-path-up", f"{RUN} --name ../../escaped", "--name '../../escaped'", "not a path")
case("run-name-nested", f"{RUN} --name a/b", "--name 'a/b'")
case("run-name-dotdot", f"{RUN} --name ..", "--name '..'")
case("run-storage-a-file", "run --data {D} --storage {W}/f.txt --name x", "{W}/f.txt is a file",
     prep=write("f.txt", "x"))
case("run-storage-the-data", "run --data {W}/D --storage {W}/D --name x", "--storage {W}/D is the data folder",
     prep=prep_dataset)
case("run-storage-in-the-images", "run --data {W}/D --storage {W}/D/images --name x",
     "--storage {W}/D/images is a dataset's images/ folder", prep=prep_dataset)
case("run-storage-read-only", "run --data {D} --storage /sys/pointtune-results --name x", "/sys/pointtune-results",
     "cannot write")
case("run-storage-a-train-run", "run --data {D} --storage {T} --name x", "--storage {T} holds a `pointtune train` run")
case("run-name-a-folder-of-yours", "run --data {D} --storage {W} --name mine", "--name {W}/mine is not empty",
     prep=write("mine/notes.txt", "keep"))
case("run-resume-without-a-name", "run --resume --storage {W}", "--resume needs the --name")
case("run-resume-nothing-there", "run --resume --storage {W} --name none", "nothing to resume")
case("run-resume-with-other-flags", "run --resume --storage {W} --name x --lr-range 0.1 0.2", "would ignore --lr-range")
case("run-address-unreachable", f"{RUN} --address 127.0.0.1:1", "--address 127.0.0.1:1")
case("run-data-missing", "run --data {W}/nothing --storage {W}/s", "--data {W}/nothing does not exist")
case("run-resume-damaged-settings", "run --resume --storage {W} --name exp",
     "{W}/exp/pointtune_settings.yaml is damaged", prep=experiment_like)
case("run-config-a-folder", "run --config {W}", "--config {W} is a folder")
case("run-unknown-flag", "run --trails 3", "unrecognized arguments: --trails")

# ------------------------------------------------------------------------------------------------------- results
case("results-missing", "results {W}/nothing", "{W}/nothing does not exist")
case("results-a-file", "results {W}/f.txt", "{W}/f.txt", prep=write("f.txt", "x"))
case("results-an-empty-folder", "results {W}", "{W} is an empty folder")
case("results-a-dataset", "results {D}", "{D} is a dataset's folder", "`pointtune train` --out folder")
case("results-a-search-not-started", "results {W}/exp", "has not recorded a trial yet", prep=experiment_like)
case("results-unknown-trial", "results {T} --trial nosuch", "nosuch")
case("results-output-unknown", "results {T} --output xml", "--output", "invalid choice")
case("results-target-0", "results {T} --frontier --target 0", "--target", "(0, 1]")
case("results-importance-of-a-train-run", "results {T} --importance", "{T} has no Optuna study")
case("results-importance-of-two-folders", "results {T} {C} --importance", "--importance ranks one search's")
case("results-importance-unknown", "results {T} --importance shap", "--importance", "invalid choice")
case("results-target-without-frontier", "results {T} --target 0.9", "--target does nothing without --frontier")
case("results-target-above-1", "results {T} --frontier --target 1.5", "--target", "1.5")

# ---------------------------------------------------------------------------------------------------------- plot
case("plot-missing", "plot {W}/nothing", "{W}/nothing does not exist")
case("plot-a-dataset", "plot {D}", "{D} is a dataset's folder")
case("plot-out-a-file", "plot {T} --out {W}/f.txt", "--out {W}/f.txt is a file", prep=write("f.txt", "x"))
case("plot-out-the-data", "plot {T} --out {D}", "--out {D} is the data folder")
case("plot-out-in-the-images", "plot {T} --out {D}/images", "--out {D}/images is a dataset's images/ folder")
case("plot-out-read-only", "plot {T} --out /sys/pointtune-plots", "cannot write")
case("plot-out-the-experiment", "plot {T} --out {T}", "--out {T} is the experiment being read")
case("plot-out-over-a-png-of-yours", "plot {T} --out {W}/out", "{W}/out/val_f1_per_epoch.png",
     "not a file `pointtune plot` wrote", prep=user_png("val_f1_per_epoch.png"))
case("plot-target-2", "plot {T} --target 2", "--target", "(0, 1]")
case("plot-out-under-a-file", "plot {T} --out {W}/f.txt/plots", "{W}/f.txt is a file, not a folder",
     prep=write("f.txt", "x"))

# -------------------------------------------------------------------------------------------------------- report
case("report-out-a-folder", "report {T} --no-model --out {W}", "--out {W} is a folder")
case("report-out-a-file-of-yours", "report {T} --no-model --out {W}/notes.html", "{W}/notes.html exists",
     "not a file `pointtune report` wrote", prep=write("notes.html", "<p>mine</p>"))
case("report-out-the-model", "report {T} --no-model --out {T}/best.pt", "--out {T}/best.pt")
case("report-out-a-runs-config", "report {T} --no-model --out {T}/config.yaml", "--out {T}/config.yaml")
case("report-out-read-only", "report {T} --no-model --out /sys/pointtune/r.html", "cannot write")
case("report-out-under-a-file", "report {T} --no-model --out {W}/f.txt/r.html", "{W}/f.txt is a file",
     prep=write("f.txt", "x"))
case("report-device-cuda", "report {T} --device cuda --out {W}/r.html", "--device cuda")
case("report-missing", "report {W}/nothing --out {W}/r.html", "{W}/nothing does not exist")
case("report-a-dataset", "report {D} --out {W}/r.html", "{D} is a dataset's folder")
case("report-target-0", "report {T} --target 0 --out {W}/r.html", "--target", "(0, 1]")
case("report-out-in-the-images", "report {T} --no-model --out {D}/images/r.html", "inside {D}/images")

# -------------------------------------------------------------------------------------------------------- export
case("export-without-out", "export {T}", "the following arguments are required: --out")
case("export-out-a-folder", "export {T} --out {W}", "--out {W} is a folder")
case("export-out-the-model-it-exports", "export {T} --out {T}/best.pt", "--out {T}/best.pt")
case("export-out-a-file-of-yours", "export {T} --out {W}/mine.pt", "{W}/mine.pt exists",
     prep=write("mine.pt", "not a model"))
case("export-out-the-classes", "export {T} --out {D}/classes.yaml", "--out {D}/classes.yaml")
case("export-out-in-the-images", "export {T} --out {D}/images/m.pt", "inside {D}/images")
case("export-out-read-only", "export {T} --out /sys/pointtune/m.pt", "cannot write")
case("export-trial-of-a-train-run", "export {T} --trial abc --out {W}/m.pt", "leave --trial out")
case("export-out-not-a-model-name", "export {T} --out {W}/model.csv", "--out {W}/model.csv", ".pt")
case("export-missing", "export {W}/nothing --out {W}/m.pt", "{W}/nothing does not exist")
case("export-a-dataset", "export {D} --out {W}/m.pt", "{D} is a dataset's folder")
case("export-an-empty-folder", "export {W}/e --out {W}/m.pt", "{W}/e is an empty folder",
     prep=lambda w, f: (w / "e").mkdir())

# ------------------------------------------------------------------------------------------------------ evaluate
case("evaluate-model-missing", "evaluate {W}/m.pt --data {D}", "{W}/m.pt does not exist")
case("evaluate-model-an-image", "evaluate {D}/images/scene000.png --data {D}", "{D}/images/scene000.png")
case("evaluate-model-empty", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", prep=write("m.pt", b""))
case("evaluate-model-a-csv", "evaluate {W}/m.csv --data {D}", "{W}/m.csv", prep=write("m.csv", "a,b\n1,2\n"))
case("evaluate-model-truncated", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", "damaged or truncated",
     prep=both(copy_model, lambda w, f: (w / "m.pt").write_bytes((w / "m.pt").read_bytes()[:500])))
case("evaluate-model-without-classes", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", "'classes'",
     prep=model_without("classes"))
case("evaluate-model-edited-tile", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", "damaged or edited (tile_size 0)",
     prep=model_edited(tile_size=0))
case("evaluate-model-edited-classes", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", "num_classes 9 for 6",
     prep=model_edited(num_classes=9))
case("evaluate-model-of-other-weights", "evaluate {W}/m.pt --data {D}", "weights do not fit",
     prep=model_edited(backbone="mobilenet_v3_large"))
case("evaluate-model-the-resume-state", "evaluate {T}/last.pt --data {D}", "{T}/last.pt", "resume state")
case("evaluate-model-a-folder-of-nothing", "evaluate {W} --data {D}", "{W} is a folder but neither")
case("evaluate-data-missing", f"{EVAL}/nowhere", "{D}/nowhere does not exist")
case("evaluate-data-a-file", "evaluate {T} --data {D}/classes.yaml", "{D}/classes.yaml is a file")
case("evaluate-batch-0", f"{EVAL} --batch-size 0", "--batch-size", "[1, 100000]")
case("evaluate-batch-negative", f"{EVAL} --batch-size -1", "--batch-size", "-1")
case("evaluate-device-cuda", f"{EVAL} --device cuda", "--device cuda")
case("evaluate-part-unknown", f"{EVAL} --part everything", "--part", "invalid choice")
case("evaluate-classes-missing", f"{EVAL} --classes {{W}}/c.yaml", "{W}/c.yaml does not exist")
case("evaluate-other-classes", "evaluate {T} --data {W}/D --part all", "--classes model", "street",
     prep=damaged(other_classes))
case("evaluate-grey-images", "evaluate {T} --data {W}/D --part all", "band", prep=damaged(grey_images))
case("evaluate-format-unknown", f"{EVAL} --format potsdamm", "potsdamm")
case("evaluate-clicks-missing", f"{EVAL} --clicks {{W}}/c.csv", "{W}/c.csv")
case("evaluate-output-unknown", f"{EVAL} --output xml", "--output", "invalid choice")
case("evaluate-no-data-and-its-data-gone", "evaluate {W}/m.pt", "no --data given", "/gone/demo", "give --data DIR",
     prep=model_trained_on("/gone/demo"))
case("suggest-no-data-and-none-recorded", "suggest {W}/m.pt --clicks-per-image 1 --out {W}/s.csv",
     "does not record the folder it was trained on: give --data DIR", prep=model_trained_on(None))

# ------------------------------------------------------------------------------------------------------- predict
case("predict-out-a-file", f"{PRED} --out {{W}}/f.txt", "--out {W}/f.txt is a file", prep=write("f.txt", "x"))
case("predict-out-the-data", f"{PRED} --out {{D}}", "--out {D} holds the demo scenes")
case("predict-out-in-the-images", f"{PRED} --out {{D}}/images", "--out {D}/images is a dataset's images/ folder")
case("predict-out-read-only", f"{PRED} --out /sys/pointtune-masks", "cannot write")
case("predict-batch-negative", f"{PRED} --out {{W}}/o --batch-size -4", "--batch-size", "-4")
case("predict-batch-0", f"{PRED} --out {{W}}/o --batch-size 0", "--batch-size", "[1, 100000]")
case("predict-device-cuda", f"{PRED} --out {{W}}/o --device cuda", "--device cuda")
case("predict-image-missing", "predict {T} {W}/none.png --out {W}/o", "{W}/none.png")
case("predict-image-corrupt", "predict {T} {W}/bad.png --out {W}/o", "{W}/bad.png",
     prep=write("bad.png", b"\x89PNG\r\n\x1a\nnot really"))
case("predict-image-a-folder", "predict {T} {D} --out {W}/o", "{D}")
case("predict-images-of-one-name", "predict {T} {W}/a/x.png {W}/b/x.png --out {W}/o", "same name", prep=same_stem)
case("predict-image-grey-for-rgb-model", "predict {T} {W}/grey.png --out {W}/o", "{W}/grey.png", "1 band(s)",
     prep=grey_image)
case("predict-out-over-a-mask-of-yours", f"{PRED} --out {{W}}/out", "{W}/out/scene000_classes.png",
     "not a file `pointtune predict` wrote", prep=user_png("scene000_classes.png"))
case("predict-out-the-image", "predict {T} {W}/x.png --out {W}/x.png", "--out {W}/x.png",
     prep=lambda w, f: shutil.copy(f["D"] / "images/scene000.png", w / "x.png"))
case("predict-model-missing", "predict {W}/m.pt {D}/images/scene000.png --out {W}/o", "{W}/m.pt does not exist")
case("predict-without-out", "predict {T} {D}/images/scene000.png", "the following arguments are required: --out")

# ------------------------------------------------------------------------------------------------------- suggest
case("suggest-over-the-clicks-the-model-trained-on", "suggest {C} --data {D} --clicks-per-image 2 --out {C}.csv",
     "--out {C}.csv is the clicks the model is trained on")
case("suggest-over-the-clicks-so-far", f"{SUGG} --clicks {{W}}/c.csv --out {{W}}/c.csv", "--out {W}/c.csv",
     prep=write("c.csv", "image,x,y,class\nscene000,3,3,road\n"))
case("suggest-over-answered-suggestions", f"{SUGG} --out {{W}}/s.csv", "{W}/s.csv exists",
     "changed since", prep=answered)
case("suggest-over-a-csv-of-yours", f"{SUGG} --out {{W}}/mine.csv", "{W}/mine.csv exists",
     prep=write("mine.csv", "image,x,y,class\n"))
case("suggest-over-a-record-of-yours", f"{SUGG} --out {{W}}/s.csv", "{W}/s.csv.json exists",
     prep=write("s.csv.json", "{}"))
case("suggest-out-a-text-file", f"{SUGG} --out {{W}}/s.txt", "--out {W}/s.txt", ".csv or .geojson")
case("suggest-out-a-folder", f"{SUGG} --out {{W}}", "--out {W}")
case("suggest-out-read-only", f"{SUGG} --out /sys/pointtune/s.csv", "cannot write")
case("suggest-out-in-the-images", f"{SUGG} --out {{D}}/images/s.csv", "inside {D}/images")
case("suggest-clicks-per-image-0", "suggest {T} --data {D} --clicks-per-image 0 --out {W}/s.csv",
     "--clicks-per-image", "[1, 100000]")
case("suggest-clicks-per-image-negative", "suggest {T} --data {D} --clicks-per-image -2 --out {W}/s.csv",
     "--clicks-per-image", "-2")
case("suggest-batch-negative", f"{SUGG} --out {{W}}/s.csv --batch-size -2", "--batch-size", "-2")
case("suggest-strategy-unknown", f"{SUGG} --out {{W}}/s.csv --strategy best", "--strategy best")
case("suggest-radius-negative", f"{SUGG} --out {{W}}/s.csv --radius -1", "--radius", ">= 0")
case("suggest-radius-nan", f"{SUGG} --out {{W}}/s.csv --radius nan", "--radius", "nan")
case("suggest-data-missing", "suggest {T} --data {W}/none --clicks-per-image 2 --out {W}/s.csv",
     "{W}/none does not exist")
case("suggest-device-cuda", f"{SUGG} --out {{W}}/s.csv --device cuda", "--device cuda")
case("suggest-other-classes", "suggest {T} --data {W}/D --clicks-per-image 2 --out {W}/s.csv", "--classes model",
     prep=damaged(other_classes))
case("suggest-oracle-without-answer-from-masks", f"{SUGG} --out {{W}}/s.csv --strategy oracle", "--strategy oracle",
     "--answer-from-masks")
case("suggest-oracle-on-an-image-without-mask", "suggest {T} --data {W}/D --part all --clicks {W}/c.csv "
     "--clicks-per-image 2 --out {W}/s.csv --strategy oracle --answer-from-masks", "--strategy oracle",
     "1 image(s) have none (e.g. scene000)", prep=both(damaged(lambda d: (d / "semantic/scene000.png").unlink()),
                                                       write("c.csv", "image,x,y,class\nscene000,3,3,road\n")))
case("suggest-without-clicks-per-image", "suggest {T} --data {D} --out {W}/s.csv",
     "the following arguments are required: --clicks-per-image")

# ------------------------------------------------------------------------ another site: augmentation and AdaBN
def grey_folder(w: Path, f: dict[str, Path]) -> None:
    (w / "grey").mkdir()
    for p in sorted((f["D"] / "images").glob("*.png"))[:2]:
        Image.open(p).convert("L").save(w / "grey" / p.name)


def small_folder(w: Path, f: dict[str, Path]) -> None:
    (w / "small").mkdir()
    Image.open(f["D"] / "images/scene000.png").convert("RGB").crop((0, 0, 16, 16)).save(w / "small/x.png")


for flag, value, said in [("--color-jitter", "-0.1", "[0, 1)"), ("--color-jitter", "1", "[0, 1)"),
                          ("--color-jitter", "nan", "nan"), ("--scale-jitter", "5", "[0, 4]"),
                          ("--scale-jitter", "-1", "[0, 4]"), ("--scale-jitter", "big", "not a number")]:
    case(f"train{flag}-{value}", f"{TRAIN} {flag} {value} --out {{W}}/out", flag, said)
case("run-color-jitter-range-reversed", f"{RUN} --color-jitter-range 0.3 0.1", "--color-jitter-range 0.3 0.1",
     "low end first")
case("run-scale-jitter-range-beyond", f"{RUN} --scale-jitter-range 0 5", "--scale-jitter-range", "[0, 4]")
case("run-color-jitter-and-its-range", f"{RUN} --color-jitter 0.1 --color-jitter-range 0 0.2", "--color-jitter 0.1",
     "give one of them")
case("run-search-standardize-with-a-value", f"{RUN} --search-standardize yes", "unrecognized arguments: yes")
case("evaluate-adapt-bn-missing-folder", f"{EVAL} --adapt-bn {{W}}/none", "--adapt-bn {W}/none is not a folder")
case("evaluate-adapt-bn-a-file", f"{EVAL} --adapt-bn {{D}}/classes.yaml", "--adapt-bn {D}/classes.yaml is not a folder")
case("evaluate-adapt-bn-empty-folder", f"{EVAL} --adapt-bn {{W}}/empty", "--adapt-bn {W}/empty holds no image",
     prep=lambda w, f: (w / "empty").mkdir())
case("evaluate-adapt-bn-other-bands", f"{EVAL} --adapt-bn {{W}}/grey", "--adapt-bn", "1 band(s)", prep=grey_folder)
case("evaluate-adapt-bn-images-smaller-than-the-tile", f"{EVAL} --adapt-bn {{W}}/small", "--adapt-bn",
     "smaller than the model's tile (32 px)", prep=small_folder)
case("evaluate-adapt-bn-empty-value", f"{EVAL} --adapt-bn=", "--adapt-bn '' is empty")
case("predict-adapt-bn-missing-folder", f"{PRED} --out {{W}}/o --adapt-bn {{W}}/none",
     "--adapt-bn {W}/none is not a folder")
case("predict-adapt-bn-other-bands", f"{PRED} --out {{W}}/o --adapt-bn {{W}}/grey", "--adapt-bn", "1 band(s)",
     prep=grey_folder)
case("predict-out-the-adapt-bn-folder", f"{PRED} --out {{W}}/a --adapt-bn {{W}}/a",
     "--out {W}/a is the folder of images BatchNorm adapts to",
     prep=lambda w, f: shutil.copytree(f["D"] / "images", w / "a"))
case("train-adapt-bn-missing-folder", f"{TRAIN} --adapt-bn {{W}}/none --out {{W}}/out",
     "--adapt-bn {W}/none is not a folder")
case("train-adapt-bn-other-bands", f"{TRAIN} --adapt-bn {{W}}/grey --out {{W}}/out", "--adapt-bn", "1 band(s)",
     prep=grey_folder)
case("run-adapt-bn-missing-folder", f"{RUN} --adapt-bn {{W}}/none", "--adapt-bn {W}/none is not a folder")

# ------------------------------------------------------------------------------------ found by a careless user
case("run-resume-a-copied-search", "run --resume --storage {W}/copy --name exp", "{W}/copy/exp was started in "
     "{W}/made/exp", "--storage {W}/made --name exp", prep=copied_search)
case("predict-into-a-clicks-only-datasets-images", "predict {T} {W}/X/images/a.png --out {W}/X/images",
     "--out {W}/X/images is a dataset's images/ folder", prep=clicks_only)
case("predict-a-float-image-for-an-8-bit-model", "predict {T} {W}/f.tif --out {W}/o", "{W}/f.tif holds values in "
     "[0, 1]", prep=float_tif)
case("evaluate-model-std-0", "evaluate {W}/m.pt --data {D}", "{W}/m.pt", "normalization std",
     prep=model_edited(normalization={"mean": [1.0, 1.0, 1.0], "std": [0.0, 1.0, 1.0]}))
case("train-resume-in-the-config-with-other-settings", "train --config {W}/c.yaml --out {T}", "would ignore --lr",
     prep=write("c.yaml", "resume: true\nlr: 0.5\n"))
case("train-val-dir-with-other-classes", "train --data {W}/D --val-dir {W}/V --out {W}/out",
     "--val-dir: {W}/V/classes.yaml describes the masks otherwise", prep=val_dir_other_classes)
case("train-classes-misspelt-key", "train --data {W}/D --out {W}/out", "unknown key(s) ['exclude_from_means']",
     prep=damaged(lambda d: (d / "classes.yaml").write_text((d / "classes.yaml").read_text()
                                                           + "exclude_from_means: [car]\n")))
case("run-config-a-list-for-one-folder", "run --config {W}/c.yaml", "{W}/c.yaml: storage", "is a list",
     prep=write("c.yaml", "storage: [a, b]\n"))
case("run-storage-empty", "run --data {D} --storage=", "--storage '' is empty")
case("train-weights-a-folder", f"{TRAIN} --backbone mobilenet_v3_large --weights {{W}} --out {{W}}/out",
     "--weights {W} is a folder")

# ------------------------------------------------------------------------------------------------ formats, general
case("formats-unknown", "formats potsdamm", "potsdamm")
case("command-unknown", "trian --data {D}", "invalid choice: 'trian'")


# --------------------------------------------------------------------------------------------------------- the test
def _fill(text: str, places: dict[str, Path]) -> str:
    for key, path in places.items():
        text = text.replace("{" + key + "}", str(path))
    return text


def _snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders with its SHA-256 (links as their target)."""
    found = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_symlink():
                found[str(p)] = "-> " + os.readlink(p)
            elif p.is_file():
                found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                found[str(p)] = "folder"
    return found


@pytest.fixture(scope="module")
def clicks_run(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A train run from a clicks file (``RUN.csv`` beside the run folder ``RUN``): the file a careless ``suggest
    --out`` would write over."""
    from trainable.data.classes import ClassDescription

    names = ClassDescription.load(demo_dir / "classes.yaml").names
    rows = ["image,x,y,class"]
    for p in sorted((demo_dir / "semantic").glob("*.png")):
        mask = np.array(Image.open(p))
        ys, xs = np.nonzero(mask < len(names))
        rows += [f"{p.stem},{xs[i]},{ys[i]},{names[mask[ys[i], xs[i]]]}" for i in range(0, len(ys), len(ys) // 6)]
    folder = tmp_path_factory.mktemp("clicks")
    (folder / "RUN.csv").write_text("\n".join(rows) + "\n")
    assert main(["train", "--data", str(demo_dir), "--clicks", str(folder / "RUN.csv"), "--backbone", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--crops-per-epoch", "16", "--out", str(folder / "RUN")]) == 0
    return folder / "RUN"


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_is_refused_in_one_clear_line_and_loses_nothing(
        bad: Case, demo_dir: Path, train_dir: Path, clicks_run: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    places = {"D": demo_dir, "T": train_dir, "C": clicks_run, "W": tmp_path}
    if bad.prep:
        bad.prep(tmp_path, places)
        capsys.readouterr()
    watched = (demo_dir, train_dir, clicks_run.parent, tmp_path)
    before = _snapshot(*watched)
    code = main([_fill(a, places) for a in bad.argv])
    out, err = capsys.readouterr()
    said = out + err
    assert code == bad.code, f"exit {code}: {said[-600:]}"
    assert "Traceback" not in said and "internal error" not in said, said[-1500:]
    for words in bad.said:
        assert _fill(words, places) in err, f"{_fill(words, places)!r} not in: {err[-800:]}"
    assert _snapshot(*watched) == before, "a file was changed, made or left behind"


def test_the_table_covers_every_command_and_is_long_enough() -> None:
    commands = {c.argv[0] for c in CASES}
    assert {"demo-data", "train", "run", "results", "plot", "report", "export", "evaluate", "predict", "suggest",
            "formats"} <= commands
    assert len(CASES) >= 150 and len({c.id for c in CASES}) == len(CASES)
