from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainable.config import IGNORE_INDEX, DataConfig
from trainable.data.classes import ClassDescription, ClassDescriptionError
from trainable.data.index import DatasetError, build_index
from trainable.data.sources import LabelSource


def load_dataset(cfg: DataConfig):
    return build_index(cfg)


def mask_of(index, i: int) -> np.ndarray:
    e = index.entries[i]
    return LabelSource(e.files, index.classes, index.resize).array()

RGB_CLASSES = """
mask_encoding: rgb
group_pattern: '^(scene\\d+)_'
classes:
  - {name: red, value: [255, 0, 0]}
  - {name: green, value: [0, 255, 0]}
ignore: [[0, 0, 0]]
"""


def _write_pair(root: Path, stem: str, mask: np.ndarray, size: tuple[int, int] | None = None) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "semantic").mkdir(parents=True, exist_ok=True)
    h, w = size or mask.shape[:2]
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
        root / "images" / f"{stem}.png")
    Image.fromarray(mask).save(root / "semantic" / f"{stem}.png")


def _rgb_dataset(root: Path) -> Path:
    (root / "classes.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.yaml").write_text(RGB_CLASSES)
    for k in range(4):
        m = np.zeros((32, 32, 3), np.uint8)
        m[:, :16] = (255, 0, 0)
        m[:, 16:] = (0, 255, 0)
        m[:2] = 0  # ignored strip
        _write_pair(root, f"scene{k // 2}_part{k}", m)
    return root


def test_demo_data_loads_with_instances_and_every_class(demo_dir: Path) -> None:
    data = load_dataset(DataConfig(root=str(demo_dir), tile_size=32))
    assert len(data.entries) == 12 and data.classes.names[0] == "road"
    ids = [LabelSource(e.files, data.classes, 1.0, "instance").array() for e in data.entries]
    assert all(e.files.instance and i.max() > 255 for e, i in zip(data.entries, ids, strict=True))
    assert (data.class_pixels(range(12)) > 0).all(), "every class is present"
    present = np.unique(np.concatenate([mask_of(data, i).ravel() for i in range(12)]))
    assert set(range(6)) <= set(present.tolist())


def test_rgb_masks_palette_pngs_and_ignore_colours(tmp_path: Path) -> None:
    root = _rgb_dataset(tmp_path)
    rgb = np.asarray(Image.open(root / "semantic" / "scene0_part0.png").convert("RGB"))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=3).save(
        root / "semantic" / "scene0_part0.png")  # the same mask as a palette PNG
    data = load_dataset(DataConfig(root=str(root), tile_size=16))
    for i in range(len(data.entries)):
        m = mask_of(data, i)
        assert np.all(m[:2] == IGNORE_INDEX) and np.all(m[2:, :16] == 0) and np.all(m[2:, 16:] == 1)


def test_split_keeps_scenes_together_and_is_seeded(tmp_path: Path) -> None:
    data = load_dataset(DataConfig(root=str(_rgb_dataset(tmp_path)), tile_size=16))
    train, val = data.split.train, data.split.val
    groups = lambda idx: {data.entries[i].group for i in idx}  # noqa: E731
    assert train and val and not groups(train) & groups(val)
    assert load_dataset(DataConfig(root=str(tmp_path), tile_size=16)).split == data.split


def test_grey_level_masks_map_to_classes(tmp_path: Path) -> None:
    (tmp_path / "classes.yaml").write_text(
        "classes: [{name: a, value: 50}, {name: b, value: 200}]\nignore: [0]\n")
    for k in range(2):
        m = np.full((20, 20), 50, np.uint8)
        m[10:] = 200
        m[0, 0] = 0
        _write_pair(tmp_path, f"img{k}", m)
    data = load_dataset(DataConfig(root=str(tmp_path), tile_size=16))
    assert mask_of(data, 0)[0, 0] == IGNORE_INDEX and mask_of(data, 0)[15, 5] == 1


def test_every_bad_file_is_reported_together(tmp_path: Path) -> None:
    root = _rgb_dataset(tmp_path)
    (root / "images" / "scene0_part0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 40)  # truncated image
    Image.open(root / "images" / "scene1_part2.png").crop((0, 0, 20, 20)).save(root / "images" / "scene1_part2.png")
    bad = np.zeros((32, 32, 3), np.uint8)
    bad[5, 5] = (1, 2, 3)
    Image.fromarray(bad).save(root / "semantic" / "scene1_part3.png")  # a colour not in the description
    Image.fromarray(bad).save(root / "semantic" / "orphan.png")  # a mask without image
    with pytest.raises(DatasetError) as err:
        load_dataset(DataConfig(root=str(root), tile_size=16))
    text = str(err.value)
    assert len(err.value.problems) == 4
    assert "orphan.png: mask has no image" in text
    assert "scene0_part0.png: cannot read this image" in text
    assert "scene1_part2.png: mask is 32x32 but its image" in text
    assert "scene1_part3.png: mask values #010203" in text


def test_missing_folder_empty_folder_and_tile_too_large(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(DataConfig(root=str(tmp_path / "nope"), format="demo"))
    with pytest.raises(DatasetError, match="no images/ and semantic/"):
        load_dataset(DataConfig(root=str(tmp_path), format="demo"))
    with pytest.raises(DatasetError, match="smaller than --tile-size 64"):
        load_dataset(DataConfig(root=str(_rgb_dataset(tmp_path / "d")), tile_size=64))


@pytest.mark.parametrize("text, message", [
    ("classes: []", "non-empty list 'classes'"),
    ("classes: [{name: a}]", "needs 'name' and 'value'"),
    ("mask_encoding: rgb\nclasses: [{name: a, value: 3}]", "must be an \\[R, G, B\\] colour"),
    ("classes: [{name: a, value: 1}, {name: b, value: 1}]", "used twice"),
    ("classes: [{name: a, value: 1}]\nexclude_from_mean: [zz]", "'zz', which is not a class"),
    ("classes: [{name: a, value: 1}\n", "not valid YAML"),
])
def test_malformed_class_descriptions(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ClassDescriptionError, match=message):
        ClassDescription.load(f)


def test_dubai_colour_and_palette_masks_split_by_tile(dubai_dir: Path) -> None:
    data = load_dataset(DataConfig(root=str(dubai_dir), format="dubai_aerial", tile_size=64, resize=0.25))
    assert len(data.entries) == 72 and data.classes.num_classes == 5
    palette_stem = "tile2_part001"  # stored as an 8-bit palette PNG
    with Image.open(dubai_dir / "semantic" / f"{palette_stem}.png") as im:
        assert im.mode == "P"
    mask = mask_of(data, data.stems.index(palette_stem))
    assert set(np.unique(mask).tolist()) <= {0, 1, 2, 3, 4, IGNORE_INDEX} and len(np.unique(mask)) > 2
    gaps = mask_of(data, data.stems.index("tile8_part003"))  # 17 % unannotated black
    assert (gaps == IGNORE_INDEX).mean() > 0.1
    train, val, test = data.split.train, data.split.val, data.split.test
    tiles = lambda idx: {data.entries[i].stem.split("_")[0] for i in idx}  # noqa: E731
    assert not tiles(train) & tiles(val) and not (tiles(train) | tiles(val)) & tiles(test)
    assert 0.1 < len(val) / 72 < 0.35 and len(test) == 9, "one tile of 9 parts held out for the test score"


def test_one_grey_image_among_rgb_is_named_with_its_bands(tmp_path: Path) -> None:
    root = _rgb_dataset(tmp_path)
    grey = root / "images" / "scene1_part3.png"
    Image.open(grey).convert("L").save(grey)
    with pytest.raises(DatasetError) as err:
        load_dataset(DataConfig(root=str(root), tile_size=16))
    assert err.value.problems == [f"{grey}: has 1 band(s) of uint8, while 3 of the 4 images have 3 band(s) of uint8; "
                                  "every image of a dataset must have the same bands: convert it to 3 band(s) of "
                                  "uint8 (RGB) or remove it"]


@pytest.mark.parametrize("flag, holds", [
    ("root", "--data takes a dataset's folder, which holds images/, semantic/ and classes.yaml"),
    ("val_dir", "--val-dir takes a dataset's folder, which holds images/ and semantic/"),
])
def test_a_file_where_a_folder_belongs_is_named_a_file(tmp_path: Path, flag: str, holds: str) -> None:
    from trainable.data.index import check_roots

    (tmp_path / "data.zip").write_bytes(b"")
    cfg = DataConfig(**{"root": str(tmp_path), flag: str(tmp_path / "data.zip")})
    with pytest.raises(DatasetError) as err:
        check_roots(cfg)
    assert err.value.problems == [f"{'--data' if flag == 'root' else '--val-dir'} {tmp_path / 'data.zip'} is a file, "
                                  f"not a folder: {holds}"]


def test_a_class_description_given_as_its_folder(tmp_path: Path) -> None:
    (tmp_path / "classes.yaml").write_text("classes: [{name: a, value: 1}]\n")
    with pytest.raises(ClassDescriptionError, match=f"{tmp_path} is a folder: give its YAML file "
                                                    f"\\({tmp_path / 'classes.yaml'}\\)"):
        ClassDescription.load(tmp_path)


def test_the_same_problem_in_many_files_is_said_once_with_their_count(tmp_path: Path) -> None:
    root = _rgb_dataset(tmp_path)
    with pytest.raises(DatasetError) as err:
        load_dataset(DataConfig(root=str(root), tile_size=16, bands=(5,)))
    images = sorted(str(p) for p in (root / "images").glob("*.png"))
    assert err.value.problems == [f"4 files ({', '.join(images[:3])}, ...): has 3 band(s), but --bands 5 asks for "
                                  "band 5; choose bands 1 to 3"]
