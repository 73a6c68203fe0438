"""Shared fixtures: tiny generated datasets, environment for Ray and matplotlib, the real Dubai sample."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")  # what a local instance started by pointtune uses by default
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# decoded rasters, clicks and the checks cache of this test session go to a folder of its own (trials inherit it)
_CACHES = tempfile.mkdtemp(prefix="pointtune-test-caches-")
atexit.register(shutil.rmtree, _CACHES, ignore_errors=True)
os.environ.setdefault("POINTTUNE_NODE_CACHE", os.path.join(_CACHES, "node"))
os.environ.setdefault("POINTTUNE_CACHE", os.path.join(_CACHES, "cache"))

from pathlib import Path  # noqa: E402  the environment above must be set before these imports

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


def _ensure_ray_token() -> None:
    """Token authentication needs ~/.ray/auth_token; ``ray.init`` writes it, but a test cluster built with
    ``ray.cluster_utils.Cluster`` does not, and its GCS dies without one on a fresh machine."""
    from ray._private.authentication.authentication_token_setup import ensure_token_if_auth_enabled

    ensure_token_if_auth_enabled()


_ensure_ray_token()

DUBAI = Path(__file__).resolve().parents[2] / "shared" / "data" / "dubai_aerial"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic aerial scenes of 64x64 px with class-index masks and RGB-encoded instances."""
    from trainable.data.demo import generate_demo_data

    return generate_demo_data(tmp_path_factory.mktemp("demo"), num_images=12, size=64, seed=0)


@pytest.fixture(scope="session")
def train_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `pointtune train` run on the demo scenes (no Ray), 2 epochs: the cheapest real experiment. Read only."""
    from search.cli.main import main

    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "2",
                 "--lr", "3e-3", "--density", "0.05", "--crops-per-epoch", "48", "--out", str(out)]) == 0
    return out


@pytest.fixture
def dubai_dir() -> Path:
    if not (DUBAI / "README.txt").is_file():
        pytest.skip(f"real Dubai aerial sample not found at {DUBAI} (it lives in the team's shared/data folder)")
    return DUBAI


_SHARED_RAY: dict[str, str] = {}  # "gcs": the address of the local instance ray_local started (one per test session)


@pytest.fixture(scope="session")
def _shared_ray_shut_down_at_the_end():
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="module")
def ray_local(_shared_ray_shut_down_at_the_end):
    """The test session's local Ray instance (this machine's CPUs, loopback), as ``pointtune run`` starts it: started
    by the first module that asks, shared by every later one, shut down at the end of the session.

    A Ray start-up costs 4-7 s on 2 cores, and ``run_search`` (in-process, as ``main(["run", ...])``) joins the
    instance it finds and leaves it up, so every in-process search of the session runs on this one. A test that
    needs a cluster of its own asks for ``own_cluster``, which shuts this instance down; those tests run last
    (``pytest_collection_modifyitems``), and a module after them would get a fresh instance here: no test depends on
    which tests ran before it.
    """
    import ray

    from search.launch.cluster import start_ray

    if ray.is_initialized() and ray.get_runtime_context().gcs_address != _SHARED_RAY.get("gcs"):
        ray.shutdown()  # a connection some other test left (not the shared local instance)
    if not ray.is_initialized():
        start_ray(None)
        _SHARED_RAY["gcs"] = ray.get_runtime_context().gcs_address
    yield ray


@pytest.fixture
def own_cluster():
    """For a test whose driver joins a cluster of its own (``--address``): this process must not be connected to the
    shared local instance (``start_ray`` would keep that connection). Shuts it down before the test and after it."""
    import ray

    ray.shutdown()
    _SHARED_RAY.clear()
    yield
    ray.shutdown()


@pytest.hookimpl(trylast=True)  # after pytest's own reordering
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests with a cluster of their own run last, so that the shared local Ray instance starts once."""
    items.sort(key=lambda item: "own_cluster" in getattr(item, "fixturenames", ()))
