"""A dataset far bigger than a search's memory: the driver keeps an index, trials read windows.

24 training scenes of 6000 x 6000 px decode to 3.5 GB (RGB images and class masks) though the files weigh a few MB
(large uniform blocks compress well). The first version decoded everything in the driver and put it in the object
store: it would need that twice over. Here a real 2-trial search runs on it as a subprocess, and the driver's and
each trial's peak resident memory are measured and bounded. (Validation and test are small folders of their own,
``--val-dir`` / ``--test-dir``: scoring a 36-Mpx scene takes the tiny CNN half a minute and says nothing of memory.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.results import load_experiment

pytestmark = pytest.mark.slow

SIZE, SCENES = 6000, 24
# imports (torch, Ray, pandas, rich, tensorboardX) take ~830 MiB; each of the two check threads holds one decoded
# scene (PIL's buffer and its array, ~220 MB) and its mask at a time, and glibc's per-thread arenas keep some of what
# they free: measured 1326-1657 MiB across runs, on 3.2 GiB of pixels
DRIVER_BOUND_MIB = 2000
# imports ~700 MiB; training a batch of 8 crops of 256 px takes ~300 MiB of activations; the data adds windows
TRIAL_BOUND_MIB = 1600


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.kron(rng.integers(0, 3, (SIZE // 500, SIZE // 500)), np.ones((500, 500), np.int64)).astype(np.uint8)
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
        image, mask = (a[:512, :512] for a in _scene(seed))
        Image.fromarray(image).save(root / part / "images" / f"{part}0.png")
        Image.fromarray(mask).save(root / part / "semantic" / f"{part}0.png")
    (root / "classes.yaml").write_text("classes:\n  - {name: grass, value: 0}\n  - {name: roof, value: 1}\n"
                                       "  - {name: water, value: 2}\n")
    return root


def test_a_search_on_data_bigger_than_its_memory(big_dir: Path, tmp_path: Path) -> None:
    decoded = SCENES * SIZE * SIZE * (3 + 1)
    assert decoded > 3 * 2**30 and sum(p.stat().st_size for p in big_dir.rglob("*.png")) < 100 * 2**20
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
    driver = float(re.search(r"driver peak memory: (\d+) MiB", text).group(1))
    records = load_experiment(str(tmp_path / "big"))
    assert len(records) == 2 and all(r.status == "finished" for r in records)
    trials = [float(r.history["peak_rss_mb"].max()) for r in records]
    print(json.dumps({"decoded_GiB": decoded / 2**30, "driver_peak_MiB": driver, "trial_peak_MiB": trials}))
    assert driver < DRIVER_BOUND_MIB, f"driver peaked at {driver} MiB on {decoded / 2**30:.1f} GiB of pixels"
    assert max(trials) < TRIAL_BOUND_MIB, f"a trial peaked at {max(trials)} MiB"
