"""Ray is imported by four modules only: the trial adapter, launching, the cluster checks and the results' fallback
reader. Everything else runs, and is tested, without Ray. Read from the source (AST), nothing imported; the last test
imports the plain modules in a process where Ray cannot be imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FALLBACK = "search/results/ray_fallback.py"  # Ray's ExperimentAnalysis, where Tune's files are not laid out as expected
ALLOWED = {"trainable/tune_trial.py", "search/launch/tuner.py", "search/launch/cluster.py", FALLBACK}
# plain modules of the search's driver and trial (their listeners, the searcher's logic, the steps around Tune)
PLAIN = ["trainable.trial", "trainable.progress_board", "search.launch.progress", "search.launch.live_view",
         "search.launch.tensorboard", "search.launch.searcher", "search.launch.journal", "search.launch.recorded",
         "search.launch.prepare", "search.launch.preflight"]


def imports_ray(path: Path) -> bool:
    """Any ``import ray...`` or ``from ray... import`` in the module, at its top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "ray" or name.startswith("ray.") for name in names):
            return True
    return False


def test_ray_is_imported_by_four_modules_only() -> None:
    found = {p.relative_to(ROOT).as_posix() for package in ("search", "trainable")
             for p in (ROOT / package).rglob("*.py") if imports_ray(p)}
    assert found == ALLOWED, f"modules importing Ray: {sorted(found)}; allowed: {sorted(ALLOWED)}"


def test_the_plain_modules_load_without_ray() -> None:
    code = f"import sys; sys.modules['ray'] = None\nfor m in {PLAIN!r}: __import__(m)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
