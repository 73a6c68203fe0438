"""Offline checks of the Ray cluster launcher configs (cluster.yaml, docs/cluster-gcp.yaml).

Each config goes through the same two steps `ray up` applies before it talks to
the cloud: ``prepare_config`` (merge the provider's defaults.yaml, merge the
setup commands, fill per-node-type min/max workers) and ``validate_config``
(Ray's ray-schema.json via jsonschema, plus its cross-field checks). The
provider's ``bootstrap_config`` (IAM, key pairs, subnets: cloud API calls) and
the AWS resource auto-detection are deliberately NOT called, so this runs
without credentials or network in about a second.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = {
    "aws": ROOT / "cluster.yaml",
    "gcp": ROOT / "docs" / "cluster-gcp.yaml",
}

ray = pytest.importorskip("ray")
try:  # both ship with the plain `ray` wheel; jsonschema comes with ray[tune]
    from ray.autoscaler._private.util import prepare_config, validate_config
except ImportError as exc:  # pragma: no cover - depends on the installed Ray
    pytest.skip(
        f"Ray's cluster-launcher config code is not importable ({exc!r})",
        allow_module_level=True,
    )
jsonschema = pytest.importorskip(
    "jsonschema", reason="validate_config needs the 'jsonschema' module"
)

# ray[default,tune]==2.60.0  (quotes around it are fine)
RAY_PIN = re.compile(r"\bray\[[^\]]*\]==([0-9][0-9A-Za-z.+\-]*[0-9A-Za-z])")
SETUP_KEYS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
)


def _load(name: str) -> dict:
    with open(CONFIGS[name], encoding="utf-8") as f:
        return yaml.safe_load(f)


def _prepare_and_validate(config: dict) -> dict:
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def _head_and_workers(config: dict):
    types = config["available_node_types"]
    head_name = config["head_node_type"]
    workers = {name: t for name, t in types.items() if name != head_name}
    return types[head_name], workers


def _setup_commands(config: dict) -> list[str]:
    return [cmd for key in SETUP_KEYS for cmd in config.get(key) or []]


@pytest.fixture(params=sorted(CONFIGS), ids=sorted(CONFIGS))
def name(request) -> str:
    return request.param


@pytest.fixture
def raw(name) -> dict:
    return _load(name)


@pytest.fixture
def prepared(raw) -> dict:
    return _prepare_and_validate(raw)


def test_files_exist():
    for path in CONFIGS.values():
        assert path.is_file(), path


def test_passes_ray_config_preparation_and_schema(name, raw, prepared):
    assert prepared["provider"]["type"] == name
    assert prepared["cluster_name"] == "pointtune"
    assert prepared["head_node_type"] in prepared["available_node_types"]
    # The provider's defaults.yaml is merged at the top level only: keys the
    # file omits come from Ray's defaults. The defaults' setup_commands install
    # a nightly Ray wheel; ours must replace them completely.
    for cmd in _setup_commands(prepared):
        assert "ray-wheels" not in cmd and "dev0" not in cmd, cmd
    # merge_setup_commands prepends the common commands to head/worker ones.
    n = len(raw["setup_commands"])
    assert prepared["head_setup_commands"][:n] == raw["setup_commands"]
    assert prepared["worker_setup_commands"][:n] == raw["setup_commands"]


@pytest.mark.parametrize(
    "breakage",
    [
        "unknown_top_level_key",
        "max_workers_as_string",
        "node_type_without_resources",
        "fractional_gpu_resource",
        "head_node_type_missing",
    ],
)
def test_validation_rejects_broken_copy(raw, breakage):
    broken = copy.deepcopy(raw)
    head_name = broken["head_node_type"]
    worker_name = next(n for n in broken["available_node_types"] if n != head_name)
    worker = broken["available_node_types"][worker_name]
    expected: type[Exception] = jsonschema.ValidationError
    if breakage == "unknown_top_level_key":
        broken["max_worker"] = 4  # typo of max_workers
    elif breakage == "max_workers_as_string":
        broken["max_workers"] = "4"
    elif breakage == "node_type_without_resources":
        del worker["resources"]
    elif breakage == "fractional_gpu_resource":
        worker["resources"]["GPU"] = 0.5
    elif breakage == "head_node_type_missing":
        broken["head_node_type"] = "no.such.type"
        expected = ValueError
    with pytest.raises(expected):
        _prepare_and_validate(broken)


def test_node_types(prepared):
    head, workers = _head_and_workers(prepared)
    # The head runs the driver, Tune and Optuna, never a trial.
    assert head["resources"].get("CPU") == 0
    assert head["resources"].get("GPU", 0) == 0
    assert head["max_workers"] == 0

    gpu_workers = {n: t for n, t in workers.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_workers, "no worker node type with GPU >= 1"
    for node_name, node_type in gpu_workers.items():
        assert node_type["min_workers"] == 0, node_name
        assert node_type["max_workers"] >= 1, node_name
        assert node_type["max_workers"] <= prepared["max_workers"], node_name
        assert node_type["resources"].get("CPU", 0) >= 1, node_name


def test_ray_version_pinned_to_client(raw):
    pins = [m.group(1) for cmd in _setup_commands(raw) for m in RAY_PIN.finditer(cmd)]
    assert pins, "no ray[...]==X.Y.Z in the setup commands"
    assert set(pins) == {ray.__version__}, (
        f"cluster Ray {sorted(set(pins))} != client Ray {ray.__version__}"
    )
    # ray[default] on the nodes: autoscaler, dashboard and job server.
    assert any(re.search(r"ray\[[^\]]*\bdefault\b", cmd) for cmd in _setup_commands(raw))


def test_pointtune_installed_from_synced_folder(raw):
    mounts = raw["file_mounts"]
    remotes = [remote for remote, local in mounts.items() if local in (".", "./")]
    assert remotes, f"file_mounts does not map a remote path to '.': {mounts}"
    installs = [
        cmd for cmd in _setup_commands(raw) if "pip install" in cmd and "~/pointtune" in cmd
    ]
    assert installs, "no setup command pip-installs ~/pointtune"
    assert any(remote.rstrip("/") == "~/pointtune" for remote in remotes)
    excluded = set(raw.get("rsync_exclude") or [])
    for pattern in (".git", ".venv", "__pycache__"):
        assert pattern in excluded, pattern
    assert any("results" in p for p in excluded)


def test_dashboard_only_on_loopback(prepared):
    head_start = " ".join(prepared["head_start_ray_commands"])
    assert re.search(r"--dashboard-host[= ]127\.0\.0\.1\b", head_start), head_start
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head_start
    assert re.search(r"--port[= ]6379\b", head_start)
    worker_start = " ".join(prepared["worker_start_ray_commands"])
    assert "$RAY_HEAD_IP:6379" in worker_start
    for cmd in prepared["head_start_ray_commands"] + prepared["worker_start_ray_commands"]:
        assert "0.0.0.0" not in cmd, cmd


def test_gcp_gpu_worker_details():
    prepared = _prepare_and_validate(_load("gcp"))
    _, workers = _head_and_workers(prepared)
    gpu = [t["node_config"] for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    assert gpu
    for node_config in gpu:
        accelerators = node_config["guestAccelerators"]
        assert accelerators[0]["acceleratorType"] == "nvidia-tesla-t4"
        assert accelerators[0]["acceleratorCount"] == 1
        assert node_config["scheduling"]["onHostMaintenance"] == "TERMINATE"
