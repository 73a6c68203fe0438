"""`run --resume` of a search that has finished: it says so (its trials, where the results are, how to add trials),
changes nothing in the folder and exits with status 2, without a traceback and without the demo's "no --data given"
line (a resumed search reads its own settings)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli.main import main
from search.results.driver import finished_budget
from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow

FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32", "--density-range", "0.01", "0.1",
        "--epochs-range", "1", "1", "--trials", "2", "--max-concurrent", "1"]


@pytest.fixture(scope="module")
def finished(ray_local, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    assert main(["run", "--data", str(demo_dir), *FAST, "--storage", str(storage), "--name", "done"]) == 0
    return storage / "done"


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder`` (hidden ones too): size, modification time and SHA-256."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_search_records_that_it_finished(finished: Path) -> None:
    assert finished_budget(str(finished)) == 2
    assert [r.status for r in load_experiment(str(finished))] == ["finished", "finished"]


def test_resume_of_a_finished_search_says_so_changes_nothing_and_exits_2(finished: Path) -> None:
    before = _snapshot(finished)
    run = subprocess.run([sys.executable, "-m", "search", "run", "--resume", "--storage", str(finished.parent),
                          "--name", finished.name], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert f"the search {finished} has finished: all 2 of its trials ended (2 finished)" in run.stderr, out
    assert f"pointtune results {finished}" in run.stderr and "--trials 3" in run.stderr, out
    assert "none of its trials failed" in run.stderr, out
    assert "Traceback" not in out and "no --data given" not in out and "test score" not in out, out
    assert _snapshot(finished) == before, "the refused resume changed the folder"


@pytest.mark.parametrize("extra", [["--trials", "2"], ["--retry-failed"]])
def test_nothing_to_add_is_refused_too(finished: Path, extra: list[str], capsys: pytest.CaptureFixture,
                                       caplog: pytest.LogCaptureFixture) -> None:
    before = _snapshot(finished)
    with caplog.at_level(logging.INFO):
        assert main(["run", "--resume", "--storage", str(finished.parent), "--name", finished.name, *extra]) == 2
    err = capsys.readouterr().err
    assert "has finished" in err and "(a budget above 2)" in err, err
    assert "no --data given" not in caplog.text
    assert _snapshot(finished) == before


def test_a_raised_budget_still_resumes_a_finished_search(finished: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--resume", "--storage", str(finished.parent), "--name", finished.name, "--trials", "3"]) == 0
    assert len(load_experiment(str(finished))) == 3 and finished_budget(str(finished)) == 3
    assert "has finished" not in capsys.readouterr().err
    assert json.loads((finished / "pointtune_driver.json").read_text())["state"] == "finished"
