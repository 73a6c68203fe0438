"""A search's memory does not grow with its data: the driver keeps an index, trials read windows.

A real 2-trial search runs as a subprocess on scenes of 2000 x 2000 px, and the driver's and each trial's peak
resident memory are bounded by what they hold with no data to speak of (their base: imports, a training batch) plus
what the design lets them hold at once: the driver checks one scene per check thread (``check_files``), a trial reads
windows. The scene count is then chosen from those bounds: a driver or trial that kept the decoded images alone (let
alone their masks) would break its bound even at the low end of its base. (Checked: a driver patched to keep each
image it checks peaked at 1242-1249 MiB, ~100 above its bound.) The first version decoded everything in the driver
and put it in the object store; it fails here as it did on the 3.5 GB this test used to generate (24 scenes of 6000
px: a minute of decoding on 2 cores to make the same point). The files weigh a few MB: large uniform blocks compress
well. (Validation and test are small folders of their own, ``--val-dir`` / ``--test-dir``: scoring the big scenes
would take time and say nothing of memory.) Peaks are each program's own (``peak_rss_mb``: not the size of the
pytest process that launched the driver).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow

SIZE = 2000
SCENE_MIB = SIZE * SIZE * (3 + 1) / 2**20  # one scene decoded: RGB image and class mask, 15.3 MiB
# peak of a 2-trial search on 2 scenes of 512 px (no data to speak of), measured on a 2-core CPU machine: the driver
# 897-912 MiB (imports: torch, Ray, pandas, rich, tensorboardX), a trial 1247-1377 MiB (imports, and training a batch
# of 8 crops of 256 px); the ranges here are those widened by ~50 MiB each way
DRIVER_BASE_MIB, TRIAL_BASE_MIB = (850, 950), (1200, 1400)
HEADROOM_MIB = 100  # what glibc's per-thread arenas keep of what they free, and the index itself
CHECK_THREADS = min(4, os.cpu_count() or 1)  # trainable/data/index.py check_files: each holds one scene at a time
CHECK_BYTES_PER_PX = 12  # a scene being checked: image (3) and PIL's buffer of it (3), raw and decoded mask (2), slack
DRIVER_BOUND_MIB = DRIVER_BASE_MIB[1] + HEADROOM_MIB + CHECK_THREADS * CHECK_BYTES_PER_PX * SIZE**2 / 2**20
TRIAL_BOUND_MIB = TRIAL_BASE_MIB[1] + HEADROOM_MIB  # a batch's windows of 256 px: a few MiB
IMAGE_MIB = SIZE * SIZE * 3 / 2**20  # its image alone
# enough scenes that a process holding their images alone (let alone their masks) breaks its bound from the low end
# of its base, and one to spare (2 check threads: 28 scenes, 427 MiB decoded)
SCENES = 1 + math.ceil(max(DRIVER_BOUND_MIB - DRIVER_BASE_MIB[0], TRIAL_BOUND_MIB - TRIAL_BASE_MIB[0]) / IMAGE_MIB)


def _scene(seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.kron(rng.integers(0, 3, (size // 250, size // 250)), np.ones((250, 250), np.int64)).astype(np.uint8)
    palette = np.array([[90, 140, 60], [200, 60, 40], [40, 90, 220]], np.uint8)
    return palette[mask], mask


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    for sub in ("images", "semantic"):
        (root / sub).mkdir()
    for k in range(2):  # two distinct scenes, copied: each copy is a file of its own to check, cache and read
        image, mask = _scene(k)
        Image.fromarray(image).save(root / "images" / f"s{k}.png", compress_level=1)
        Image.fromarray(mask).save(root / "semantic" / f"s{k}.png", compress_level=1)
    for i in range(2, SCENES):
        for sub in ("images", "semantic"):
            shutil.copy(root / sub / f"s{i % 2}.png", root / sub / f"s{i}.png")
    for part, seed in (("val", 7), ("test", 8)):  # small scenes of their own (module docstring)
        for sub in ("images", "semantic"):
            (root / part / sub).mkdir(parents=True)
        image, mask = _scene(seed, 500)
        Image.fromarray(image).save(root / part / "images" / f"{part}0.png")
        Image.fromarray(mask).save(root / part / "semantic" / f"{part}0.png")
    (root / "classes.yaml").write_text("classes:\n  - {name: grass, value: 0}\n  - {name: roof, value: 1}\n"
                                       "  - {name: water, value: 2}\n")
    return root


def test_a_search_whose_memory_does_not_grow_with_its_data(big_dir: Path, tmp_path: Path) -> None:
    decoded = SCENES * SCENE_MIB
    assert DRIVER_BASE_MIB[0] + SCENES * IMAGE_MIB > DRIVER_BOUND_MIB, "a driver holding the images must fail"
    assert TRIAL_BASE_MIB[0] + SCENES * IMAGE_MIB > TRIAL_BOUND_MIB, "a trial holding the images must fail"
    assert sum(p.stat().st_size for p in big_dir.rglob("*.png")) < decoded * 2**20 / 20
    assert len(list((big_dir / "images").iterdir())) == SCENES
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        code = subprocess.run([sys.executable, "-m", "search", "run", "--data", str(big_dir), "--backbone", "tiny",
                               "--tile-size", "256", "--crops-per-epoch", "16",
                               "--density-range", "0.0005", "0.002", "--epochs-range", "1", "1", "--trials", "2",
                               "--val-dir", str(big_dir / "val"), "--test-dir", str(big_dir / "test"),
                               "--storage", str(tmp_path),
                               "--name", "big"], stdout=out, stderr=subprocess.STDOUT, timeout=800).returncode
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "\x1b[" not in text, "colour codes in output written to a file (Ray's worker prefixes)"
    assert f"({SCENES} training, 1 validation and 1 test image(s))" in text, "every big scene is trained on"
    driver = float(re.search(r"driver peak memory: (\d+) MiB", text).group(1))
    records = load_experiment(str(tmp_path / "big"))
    assert len(records) == 2 and all(r.status == "finished" for r in records)
    trials = [float(r.history["peak_rss_mb"].max()) for r in records]
    print(json.dumps({"decoded_MiB": decoded, "driver_peak_MiB": driver, "driver_bound_MiB": DRIVER_BOUND_MIB,
                      "trial_peak_MiB": trials, "trial_bound_MiB": TRIAL_BOUND_MIB}))
    assert driver < DRIVER_BOUND_MIB, f"driver peaked at {driver} MiB on {decoded:.0f} MiB of pixels"
    assert max(trials) < TRIAL_BOUND_MIB, f"a trial peaked at {max(trials)} MiB on {decoded:.0f} MiB of pixels"
