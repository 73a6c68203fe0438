"""Users' own clicks (trainable/data/user_clicks.py): sparse label rasters, CSV and GeoJSON (pixel and map
coordinates),
resize scaling, object ids, and every kind of problem, on files written in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainable.data import user_clicks_geojson
from trainable.data.classes import ClassDescription
from trainable.data.user_clicks import ImageRef, clicks_kind, read_user_clicks

INDEX = ClassDescription.from_dict({"classes": [{"name": "Road", "value": 0}, {"name": "building", "value": 1},
                                                {"name": "tree", "value": 2}], "ignore": [254]}, "test.yaml")
GREY = ClassDescription.from_dict({"classes": [{"name": "a", "value": 40}, {"name": "b", "value": 80}]})
RGB = ClassDescription.from_dict({"mask_encoding": "rgb", "classes": [
    {"name": "red", "value": [255, 0, 0]}, {"name": "green", "value": [0, 255, 0]},
    {"name": "white", "value": [255, 255, 255]}], "ignore": [[155, 155, 155]]})
UTM = "EPSG:32640"
ORIGIN = (300000.0, 2790000.0)  # UTM zone 40N (Dubai), upper-left corner of the GeoTIFF
PIXEL = 2.0  # metres


def _image(folder: Path, stem: str, h: int, w: int, suffix: str = ".png") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{suffix}"
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)
    return str(path)


def _refs(tmp_path: Path, sizes: dict[str, tuple[int, int]], resize: float = 1.0) -> list[ImageRef]:
    return [ImageRef.of(stem, _image(tmp_path / "images", stem, h, w), resize) for stem, (h, w) in sizes.items()]


def _geotiff(path: Path, h: int, w: int, crs: str | None = UTM) -> str:
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": "uint8"}
    if crs:
        profile |= {"crs": crs, "transform": from_origin(*ORIGIN, PIXEL, PIXEL)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((1, h, w), np.uint8))
    return str(path)


def _centre(row: int, col: int) -> tuple[float, float]:
    """UTM easting, northing of a pixel's centre."""
    return ORIGIN[0] + (col + 0.5) * PIXEL, ORIGIN[1] - (row + 0.5) * PIXEL


def _collection(features: list[dict], **members) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": features})


def _point(x: float, y: float, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": props}


def _only(problems: list[str], text: str) -> str:
    found = [p for p in problems if text in p]
    assert len(found) == 1, (text, problems)
    return found[0]


def test_ref_sizes_follow_resize(tmp_path: Path) -> None:
    (ref,) = _refs(tmp_path, {"t": (5, 9)}, resize=0.5)
    assert (ref.height, ref.width, ref.orig_height, ref.orig_width) == (2, 4, 5, 9)  # round(2.5) = 2, as resize_array


def test_clicks_kind(tmp_path: Path) -> None:
    (tmp_path / "rasters").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "rasters" / "a.png")
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "a.geojson").write_text(_collection([]))
    (tmp_path / "p.csv").write_text("image,x,y,class\n")
    (tmp_path / "p.json").write_text(_collection([]))
    (tmp_path / "p.txt").write_text("")
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.tif").write_bytes(b"")
    (tmp_path / "mixed" / "b.geojson").write_text("")
    assert clicks_kind(str(tmp_path / "rasters")) == "rasters"
    assert clicks_kind(str(tmp_path / "geo")) == "geojson"
    assert clicks_kind(str(tmp_path / "p.csv")) == "csv"
    assert clicks_kind(str(tmp_path / "p.json")) == "geojson"
    for bad, why in (("p.txt", "not a .csv"), ("empty", "holds no rasters"), ("mixed", "holds both"),
                     ("nothing.csv", "does not exist")):
        with pytest.raises(ValueError, match=why) as e:
            clicks_kind(str(tmp_path / bad))
        assert str(tmp_path / bad) in str(e.value) and ".geojson" in str(e.value)
    clicks, problems = read_user_clicks(str(tmp_path / "p.txt"), [], INDEX)
    assert clicks == {} and len(problems) == 1 and "p.txt" in problems[0]


def test_index_rasters_with_resize_and_collisions(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"t1": (8, 10), "t2": (8, 10), "t3": (8, 10)}, resize=0.5)
    raster = np.full((8, 10), 255, np.uint8)
    raster[1, 2] = 1  # -> (0, 1)
    raster[0, 3] = 2  # -> (0, 1) too, and first in row-major order: kept
    raster[3, 5] = 0  # class 0 is a click; 255 is the background
    raster[7, 9] = 2  # -> (3, 4)
    raster[5, 5] = 254  # the description's ignore value: background too
    folder = tmp_path / "clicks"
    folder.mkdir()
    Image.fromarray(raster).save(folder / "t1.png")
    Image.fromarray(np.full((8, 10), 255, np.uint8)).save(folder / "t2.png")  # no clicks: absent, no problem
    assert clicks_kind(str(folder)) == "rasters"
    clicks, problems = read_user_clicks(str(folder), refs, INDEX, resize=0.5)
    assert problems == []
    assert list(clicks) == ["t1"]
    c = clicks["t1"]
    assert (c.height, c.width, c.object) == (4, 5, None)
    assert c.index.tolist() == [0 * 5 + 1, 1 * 5 + 2, 3 * 5 + 4]
    assert c.label.tolist() == [2, 0, 2] and c.index.dtype == np.int64 and c.label.dtype == np.uint8
    full, _ = read_user_clicks(str(folder), _refs(tmp_path, {"t1": (8, 10)}), INDEX)
    assert full["t1"].index.tolist() == [3, 12, 35, 79] and full["t1"].label.tolist() == [2, 1, 0, 2]


def test_grey_level_rasters_and_their_problems(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"g1": (6, 6), "g2": (6, 6), "g3": (6, 6), "g4": (6, 6)})
    folder = tmp_path / "clicks"
    folder.mkdir()
    ok = np.full((6, 6), 0, np.uint8)
    ok[2, 3], ok[4, 1], ok[5, 5] = 80, 40, 7  # 7: no class
    Image.fromarray(ok).save(folder / "g1.png")
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(folder / "g2.png")  # wrong size
    Image.fromarray(np.full((6, 6), 40, np.uint8)).save(folder / "g3.png")  # dense
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(folder / "stray.png")  # no such image
    (folder / "g4.tif").write_bytes(b"not a tiff")
    clicks, problems = read_user_clicks(str(folder), refs, GREY, ignore_value=0)
    assert clicks["g1"].index.tolist() == [15, 25] and clicks["g1"].label.tolist() == [1, 0]
    assert set(clicks) == {"g1"}
    assert "values in no class (7)" in _only(problems, "g1.png")
    assert "raster is 6x5 but its image" in _only(problems, "g2.png")
    assert "dense mask" in _only(problems, "g3.png")
    assert "no image is named stray" in _only(problems, "stray.png")
    assert "cannot read this raster" in _only(problems, "g4.tif")
    assert len(problems) == 5
    _, problems = read_user_clicks(str(folder), refs, GREY, ignore_value=40)
    assert problems == [f"{folder}: ignore value 40 (the background of sparse label rasters) is the value of class "
                        "'a'; give the rasters another background value and pass it as ignore value"]


def test_colour_rasters(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"c1": (4, 5), "c2": (4, 5)})
    folder = tmp_path / "clicks"
    folder.mkdir()
    raster = np.zeros((4, 5, 3), np.uint8)  # black background
    raster[0, 4] = (0, 255, 0)
    raster[1, 1] = (255, 0, 0)
    raster[2, 2] = (155, 155, 155)  # the description's ignore colour: background
    raster[3, 0] = (255, 255, 255)  # white is a class here, so a click
    raster[3, 3] = (10, 20, 30)  # a colour in no class: reported, not a click
    Image.fromarray(raster).save(folder / "c1.png")
    grey = np.full((4, 5, 3), 200, np.uint8)  # a grey canvas: background when it is the ignore value
    grey[2, 1] = (255, 0, 0)
    Image.fromarray(grey).save(folder / "c2.png")
    clicks, problems = read_user_clicks(str(folder), refs, RGB, ignore_value=200)
    assert clicks["c1"].index.tolist() == [4, 6, 15] and clicks["c1"].label.tolist() == [1, 0, 2]
    assert clicks["c2"].index.tolist() == [11] and clicks["c2"].label.tolist() == [0]
    assert problems == [f"{folder / 'c1.png'}: 1 pixel(s) hold values in no class (#0A141E): not used as clicks; a "
                        "clicked pixel holds its class's value in the class description (<inline>), every other "
                        "pixel the background (black, grey 200 or an ignore colour)"]
    # a white canvas is background where white is no class (the default ignore value, 255)
    two = ClassDescription.from_dict({"mask_encoding": "rgb", "classes": [{"name": "red", "value": [255, 0, 0]}]})
    white = np.full((4, 5, 3), 255, np.uint8)
    white[1, 2] = (255, 0, 0)
    Image.fromarray(white).save(folder / "c2.png")
    clicks, problems = read_user_clicks(str(folder), refs, two)
    assert clicks["c2"].index.tolist() == [7] and "values in no class" in _only(problems, "c1.png")


def test_csv(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"tile_01": (20, 30), "tile_02": (10, 10), "tile_03": (10, 10)})
    path = tmp_path / "points.csv"
    path.write_text("image,x,y,class,object\n"
                    "tile_01,5,3,road,7\n"  # a name, case-insensitive
                    "tile_01.png,29.9,19.99,2,\n"  # the file name, floats, an index, no object
                    "images/tile_01.png,0,0,building,3\n"
                    "\n"
                    "tile_02,1,1,Road,1\n"
                    "tile_01,5.5,3.2,tree,9\n")  # the same pixel as line 2: dropped
    clicks, problems = read_user_clicks(str(path), refs, INDEX)
    assert problems == [] and set(clicks) == {"tile_01", "tile_02"}
    c = clicks["tile_01"]
    assert c.index.tolist() == [3 * 30 + 5, 19 * 30 + 29, 0]  # annotation order, not sorted
    assert c.label.tolist() == [0, 2, 1] and c.object.tolist() == [7, -1, 3] and c.object.dtype == np.int64
    assert clicks["tile_02"].index.tolist() == [11] and clicks["tile_02"].object.tolist() == [1]
    # resize: (floor(y * 0.5), floor(x * 0.5)) on a 10x15 image; the last column clamps into the resized image
    small = _refs(tmp_path, {"tile_01": (20, 30)}, resize=0.5)
    path.write_text("x,y,image,class\n5.9,3,tile_01,tree\n29.99,19.5,tile_01,Road\n")
    clicks, problems = read_user_clicks(str(path), small, INDEX, resize=0.5)
    assert problems == [] and clicks["tile_01"].object is None
    assert (clicks["tile_01"].height, clicks["tile_01"].width) == (10, 15)
    assert clicks["tile_01"].index.tolist() == [1 * 15 + 2, 9 * 15 + 14]
    odd = _refs(tmp_path, {"odd": (5, 5)}, resize=0.5)  # 2x2 after resize (round(2.5) = 2)
    path.write_text("image,x,y,class\nodd,4,4,road\n")
    clicks, _ = read_user_clicks(str(path), odd, INDEX, resize=0.5)
    assert clicks["odd"].index.tolist() == [3]


def test_csv_problems(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"tile_01": (20, 30), "tile_03": (512, 512)})
    path = tmp_path / "points.csv"
    path.write_text("image,x,y,class,object\n"
                    "tile_01,1,1,road,\n"  # fine
                    "tile_03,530,3,road,\n"
                    "tile_01,-1,20,road,\n"
                    "tile_09,1,1,road,\n"
                    "tile_01,abc,1,road,\n"
                    "tile_01,1,1,sky,\n"
                    "tile_09,2,2,sky,\n"
                    "tile_01,1\n"
                    "tile_01,2,2,road,x7\n"
                    "tile_01,3,3,9,\n")
    clicks, problems = read_user_clicks(str(path), refs, INDEX)
    assert clicks["tile_01"].index.tolist() == [31]
    assert len(problems) == 8, problems
    assert problems[0] == (f"{path} line 3: x=530 outside image tile_03 (512x512 px); x is the pixel column "
                           "(0 <= x < 512) and y the row (0 <= y < 512) in the original image, before any resize; "
                           "fix or remove the line")
    assert "line 4: x=-1, y=20 outside image tile_01 (30x20 px)" in problems[1]
    assert problems[2] == (f"{path} lines 5, 8: image 'tile_09' is not among the 2 images of the dataset (e.g. "
                           "tile_01, tile_03); give an image's stem or file name, or remove these lines")
    assert "line 6: x='abc' is not a number" in problems[3]
    assert problems[4] == (f"{path} lines 7, 8: class 'sky' is not in the class description (test.yaml); give a "
                           "class name (Road, building, tree) or index 0..2")
    assert "line 9: has 2 field(s), the header 5" in problems[5]
    assert "line 10: object 'x7' is not a non-negative integer id" in problems[6]
    assert problems[7].startswith(f"{path} line 11: class '9' is not in the class description")  # no index 9


def test_csv_unparseable(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"t": (4, 4)})
    bad = tmp_path / "bad.csv"
    for content, why in ((b"image;x;y;class\nt;1;1;0\n", "not comma-separated"), (b"", "is empty"),
                         (b"image,x,class\n", "lacks column(s) y"), (b"\xff\xfe\x00bad", "save it as UTF-8")):
        bad.write_bytes(content)
        clicks, problems = read_user_clicks(str(bad), refs, INDEX)
        assert clicks == {} and len(problems) == 1 and why in problems[0] and str(bad) in problems[0]


def test_many_problems_are_counted(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"t": (4, 4)})
    path = tmp_path / "p.csv"
    path.write_text("image,x,y,class\n" + "t,9,9,0\n" * 25)
    _, problems = read_user_clicks(str(path), refs, INDEX)
    assert len(problems) == 21 and problems[-1] == f"{path}: 5 more problem(s) like the above (outside) not listed"


def test_geojson_pixel_coordinates(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"a": (10, 20), "b": (10, 20)}, resize=0.5)
    path = tmp_path / "clicks.geojson"
    path.write_text(_collection([
        _point(3.5, 7.2, image="a", **{"class": "tree"}, object=4),
        _point(19.0, 0.0, image="a.png", **{"class": 1}),
        {"type": "Feature", "properties": {"image": "b", "class": "road", "object": 2},
         "geometry": {"type": "MultiPoint", "coordinates": [[0, 0], [4, 2]]}},
    ], **{"pointtune:coordinates": "pixel"}))
    clicks, problems = read_user_clicks(str(path), refs, INDEX, resize=0.5)
    assert problems == []
    assert clicks["a"].index.tolist() == [3 * 10 + 1, 0 * 10 + 9] and clicks["a"].label.tolist() == [2, 1]
    assert clicks["a"].object.tolist() == [4, -1]
    assert clicks["b"].index.tolist() == [0, 12] and clicks["b"].object.tolist() == [2, 2]


def test_geojson_folder_per_image(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"a": (10, 20), "b": (10, 20)})
    folder = tmp_path / "clicks"
    folder.mkdir()
    pixel = {"pointtune:coordinates": "pixel"}
    (folder / "a.geojson").write_text(_collection([_point(1, 2, **{"class": "tree"}),
                                                   _point(2, 2, image="b", **{"class": "road"})], **pixel))
    (folder / "b.json").write_text(_collection([_point(5, 5, **{"class": "road"})], **pixel))
    (folder / "zz.geojson").write_text(_collection([_point(5, 5, **{"class": "road"})], **pixel))
    assert clicks_kind(str(folder)) == "geojson"
    clicks, problems = read_user_clicks(str(folder), refs, INDEX)
    assert clicks["a"].index.tolist() == [41] and clicks["a"].object is None
    assert clicks["b"].index.tolist() == [42, 105]  # a.geojson's feature naming b comes first: files in name order
    assert problems == [f"{folder / 'zz.geojson'} features[0]: has no 'image' property and the file's name "
                        "(zz.geojson) is no image's; give the image's stem, or put each image's clicks in a file "
                        "named like it"]


def test_geojson_problems(tmp_path: Path) -> None:
    refs = _refs(tmp_path, {"a": (10, 20)})
    path = tmp_path / "p.geojson"
    path.write_text(_collection([
        _point(1, 1, image="a", **{"class": "road"}),  # fine
        _point(25, 1, image="a", **{"class": "road"}),
        _point(1, 1, image="nope", **{"class": "road"}),
        _point(1, 1, image="a", **{"class": "lake"}),
        _point(1, 1, image="a"),
        {"type": "Feature", "properties": {"image": "a", "class": 0},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1], [0, 0]]]}},
        _point(1, 1, image="a", **{"class": 0}, object=-3),
        {"type": "Feature", "properties": {"image": "a", "class": 0},
         "geometry": {"type": "Point", "coordinates": ["1", 2]}},
        [1, 2],
    ], **{"pointtune:coordinates": "pixel"}))
    clicks, problems = read_user_clicks(str(path), refs, INDEX)
    assert clicks["a"].index.tolist() == [21]
    assert _only(problems, "features[1]") == (
        f"{path} features[1]: x=25.0, y=1.0 outside image a (20x10 px); pixel coordinates are column 0 <= x < 20 and "
        "row 0 <= y < 10 of the original image; fix or remove the feature")
    rest = problems[:-1]  # in feature order, then the clicks outside their image (checked once all are parsed)
    assert "features[2]: image 'nope' is not among" in rest[0]
    assert "features[3]: class 'lake' is not in the class description" in rest[1]
    assert "features[4]: has no 'class' property" in rest[2]
    assert "features[5]: geometry is 'Polygon'" in rest[3]
    assert "features[6]: object -3 is not a non-negative integer id" in rest[4]
    assert "features[7]: coordinates ['1', 2] are not a position" in rest[5]
    assert "features[8]: is not a GeoJSON Feature" in rest[6]
    assert len(problems) == 8
    for content, why in (("{not json", "is not a readable JSON file"), ('{"type": "Feature"}', "not a GeoJSON "
                         "FeatureCollection (type 'Feature')"),
                         (_collection([], **{"pointtune:coordinates": "pixels"}), "use \"pixel\"")):
        path.write_text(content)
        clicks, problems = read_user_clicks(str(path), refs, INDEX)
        assert clicks == {} and len(problems) == 1 and why in problems[0] and str(path) in problems[0]


@pytest.fixture
def georeferenced(tmp_path: Path) -> list[ImageRef]:
    pytest.importorskip("rasterio")
    image = _geotiff(tmp_path / "scene.tif", 48, 64)
    return [ImageRef.of("scene", image, 1.0), ImageRef.of("plain", _image(tmp_path, "plain", 48, 64))]


def test_geojson_map_coordinates_utm_and_wgs84(tmp_path: Path, georeferenced: list[ImageRef]) -> None:
    from rasterio.warp import transform

    wanted = [(0, 0), (12, 37), (47, 63), (30, 5)]  # (row, col)
    east, north = zip(*[_centre(r, c) for r, c in wanted], strict=True)
    utm = [_point(e, n, image="scene", **{"class": "tree"}, object=k) for k, (e, n) in enumerate(zip(east, north,
                                                                                                    strict=True))]
    expected = [r * 64 + c for r, c in wanted]
    for name in (UTM, "urn:ogc:def:crs:EPSG::32640"):
        path = tmp_path / "utm.geojson"
        path.write_text(_collection(utm, crs={"type": "name", "properties": {"name": name}}))
        clicks, problems = read_user_clicks(str(path), georeferenced, INDEX)
        assert problems == [] and clicks["scene"].index.tolist() == expected
        assert clicks["scene"].object.tolist() == [0, 1, 2, 3]
    lon, lat = transform(UTM, "EPSG:4326", list(east), list(north))
    assert all(55 < x < 56 for x in lon) and all(25 < y < 26 for y in lat)  # Dubai, longitude first
    path = tmp_path / "wgs84.geojson"
    path.write_text(_collection([_point(x, y, image="scene", **{"class": 2}) for x, y in zip(lon, lat, strict=True)]))
    clicks, problems = read_user_clicks(str(path), georeferenced, INDEX)
    assert problems == [] and clicks["scene"].index.tolist() == expected and clicks["scene"].object is None
    clicks, problems = read_user_clicks(str(path), [ImageRef.of("scene", georeferenced[0].image, 0.5)], INDEX,
                                        resize=0.5)
    assert problems == [] and clicks["scene"].index.tolist() == [(r // 2) * 32 + c // 2 for r, c in wanted]


def test_geojson_map_coordinate_problems(tmp_path: Path, georeferenced: list[ImageRef],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.geojson"
    crs = {"type": "name", "properties": {"name": UTM}}
    inside = _centre(3, 4)
    path.write_text(_collection([_point(*inside, image="scene", **{"class": 0}),
                                 _point(inside[0] - 100, inside[1], image="scene", **{"class": 0}),
                                 _point(*inside, image="plain", **{"class": 0})], crs=crs))
    clicks, problems = read_user_clicks(str(path), georeferenced, INDEX)
    assert clicks["scene"].index.tolist() == [3 * 64 + 4] and "plain" not in clicks
    assert len(problems) == 2
    assert problems[0].startswith(f"{path} features[1]: map point (299909.0, 2789993.0) in EPSG:32640 falls at pixel "
                                  "column -45.5, row 3.5, outside image scene (64x48 px); check the collection's CRS")
    assert problems[1].startswith(f"{path}: 1 click(s) on image plain: the image {georeferenced[1].image} has no "
                                  "georeference (no CRS)")
    path.write_text(_collection([_point(*inside, image="scene", **{"class": 0})],
                                crs={"type": "name", "properties": {"name": "EPSG:99999999"}}))
    _, problems = read_user_clicks(str(path), georeferenced, INDEX)
    assert len(problems) == 1 and "CRS 'EPSG:99999999' of the 'crs' member is not known" in problems[0]
    path.write_text(_collection([_point(55.3, 25.2, image="scene", **{"class": 0})]))
    monkeypatch.setattr(user_clicks_geojson, "has_rasterio", lambda: False)
    clicks, problems = read_user_clicks(str(path), georeferenced, INDEX)
    assert clicks == {} and len(problems) == 1
    assert "need rasterio" in problems[0] and "pointtune[geo]" in problems[0] and '"pixel"' in problems[0]
