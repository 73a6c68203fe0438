"""Which files make a dataset: what hides a file from its pair is named, with what to do (no decoding here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainable.data.layout import folder_files


def _folder(root: Path, images: tuple[str, ...] = ("a.png", "b.png"), masks: tuple[str, ...] = ("a.png", "b.png")
            ) -> Path:
    for sub, names in (("images", images), ("semantic", masks)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / sub / name).write_bytes(b"")
    return root


def test_a_well_paired_folder_has_no_problem(tmp_path: Path) -> None:
    files, problems = folder_files(str(_folder(tmp_path)))
    assert [f.stem for f in files] == ["a", "b"] and problems == []


def test_a_dangling_link_is_named_as_one_not_as_a_missing_image(tmp_path: Path) -> None:
    root = _folder(tmp_path, images=("a.png",))
    (root / "images" / "b.png").symlink_to("gone.png")
    files, problems = folder_files(str(root))
    assert [f.stem for f in files] == ["a"]
    assert problems == [f"{root}/images/b.png: is a broken symbolic link (its target gone.png does not exist); fix "
                        "the link or remove it"]


def test_a_looping_link_is_named_as_one(tmp_path: Path) -> None:
    root = _folder(tmp_path, masks=("a.png",))
    (root / "semantic" / "b.png").symlink_to(root / "semantic" / "c.png")
    (root / "semantic" / "c.png").symlink_to(root / "semantic" / "b.png")  # b -> c -> b
    _, problems = folder_files(str(root))
    assert f"{root}/semantic/b.png: is a symbolic link that loops back on itself; fix the link or remove it" in problems
    assert not any("has no mask" in p or "has no image" in p for p in problems), problems


def test_a_working_link_is_a_file_like_any_other(tmp_path: Path) -> None:
    root = _folder(tmp_path, images=("a.png",))
    (tmp_path / "elsewhere.png").write_bytes(b"")
    (root / "images" / "b.png").symlink_to(tmp_path / "elsewhere.png")
    files, problems = folder_files(str(root))
    assert [f.stem for f in files] == ["a", "b"] and problems == []


def test_two_images_of_one_name_are_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path, images=("a.png", "b.png", "b.tif"))
    _, problems = folder_files(str(root))
    assert problems == [f"{root}/images/b.tif: b.png has the same name; keep one of them (files are paired by name "
                        "without the extension)"]


def test_a_jpeg_mask_is_named_with_why_not_reported_missing(tmp_path: Path) -> None:
    root = _folder(tmp_path, masks=("a.png", "b.jpg"))
    _, problems = folder_files(str(root))
    assert problems == [f"{root}/semantic/b.jpg: masks cannot be JPEG (lossy compression changes class values at "
                        "every edge); save it as PNG or TIFF"]


@pytest.mark.parametrize("images, masks, message", [
    ((), ("a.png", "b.png"), "images has no image files (.png, .jpg, .jpeg, .tif, .tiff) but semantic/ has 2 "
                             "mask(s): put each mask's image in images/"),
    (("a.png", "b.png"), (), "semantic has no mask files (.png, .tif, .tiff, .bmp) but images/ has 2 image(s): put "
                             "each image's dense mask in semantic/, with the same file name, or give --clicks FILE"),
    ((), (), "has no images/ and semantic/ files"),
])
def test_an_empty_images_or_semantic_folder_is_one_problem(tmp_path: Path, images: tuple[str, ...],
                                                           masks: tuple[str, ...], message: str) -> None:
    _, problems = folder_files(str(_folder(tmp_path, images, masks)))
    assert len(problems) == 1 and message in problems[0], problems


def test_images_without_masks_are_fine_with_clicks(tmp_path: Path) -> None:
    files, problems = folder_files(str(_folder(tmp_path, masks=())), masks_required=False)
    assert [f.stem for f in files] == ["a", "b"] and problems == []
