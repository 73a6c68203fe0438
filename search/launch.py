"""Starting (or resuming) a search: Ray, the Tuner, OptunaSearch, ASHA, and the checks before any trial.

With ``search/results.py`` and ``trainable/trial.py`` this is the only place that imports Ray.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shlex
import socket
import sys
import time
import uuid
from pathlib import Path

import optuna
import ray
import yaml
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from search import storage
from search.errors import SearchError
from search.progress import ProgressPrinter
from search.searcher import TrialBudget, make_search_algorithm
from search.settings import SearchSettings, is_uri
from search.space import build_param_space
from trainable.dataset import SegmentationData, load_dataset
from trainable.inputs import cache_click_orders, cache_training_points, training_points
from trainable.trial import tune_entrypoint

log = logging.getLogger(__name__)
SETTINGS_FILE = "pointtune_settings.yaml"
JOURNAL_FILE = "optuna_journal.log"
MAX_CACHED_K = 8  # clicks-per-instance values simulated once in the driver (each costs one uint8 mask per image)
SHARED_CHECK_TIMEOUT_S = 120  # seconds the nodes get, together, to look for the storage marker
MAX_CACHED_DENSITY = 0.25  # click orders cached up to this top density: int32 indices, <= 1 byte per mask pixel


def _loopback_only() -> None:
    """Keep Ray on the loopback address: ray.init maps 127.0.0.1 (as a node IP or in an address) to the machine's
    outbound IP, unless clustering is off (Ray's own setting on macOS/Windows)."""
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _check_reachable(address: str) -> None:
    """Fail in seconds, not retry forever, when ``--address HOST:PORT`` has no Ray cluster behind it."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise SearchError(f"cannot reach a Ray cluster at --address {address} ({e}): start one (`ray start --head`, "
                          "`ray up cluster.yaml`), fix the address, or leave --address out for a local instance"
                          ) from None


def start_ray(address: str | None) -> None:
    """Join ``address`` (auto or HOST:PORT), or start a fresh local instance.

    A bare ``ray.init()`` would join whatever cluster this machine started last, even a dead one, so a local
    search always asks for a new instance: loopback only, no dashboard, Ray's token authentication left on
    (its default for a new local instance; the token lives in ``~/.ray/auth_token``).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return
    if address:
        _check_reachable(address)
        if address.rpartition(":")[0] in ("127.0.0.1", "localhost", "::1"):
            _loopback_only()
        try:
            ray.init(address=address, log_to_driver=True)
        except ConnectionError as e:
            raise SearchError(f"cannot join the Ray cluster at --address {address}: {e}") from None
    else:
        _loopback_only()
        ray.init(address="local", include_dashboard=False, log_to_driver=True)


def check_resources(settings: SearchSettings) -> int:
    """Refuse trials no node can host; return how many can run at once on the whole cluster.

    Raises:
        SearchError: with what the nodes have and what to ask for instead.
    """
    cpu, gpu = settings.cpus_per_trial, settings.gpus_per_trial
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    fits = [n for n in nodes if n.get("CPU", 0) >= cpu and n.get("GPU", 0) >= gpu]
    if not fits:
        have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes)
        hint = ("lower --gpus-per-trial to 0 (CPU) or add GPU nodes" if gpu and not any(n.get("GPU") for n in nodes)
                else "lower --cpus-per-trial / --gpus-per-trial")
        raise SearchError(f"no node can run a trial needing {cpu:g} CPU and {gpu:g} GPU (nodes: {have}); {hint}")
    slots = sum(min(math.floor(n.get("CPU", 0) / cpu + 1e-9),
                    math.floor(n.get("GPU", 0) / gpu + 1e-9) if gpu else 10**6) for n in fits)
    return max(1, slots)


def check_shared_storage(path: str) -> None:
    """On more than one node, every node must see the storage folder (NFS) unless it is a URI (s3://, gs://).

    Raises:
        SearchError: a node cannot see a marker file written by the driver.
    """
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2 or is_uri(path):
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    marker = Path(path) / f".pointtune-shared-check-{uuid.uuid4().hex}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    try:
        @ray.remote(num_cpus=0)
        def sees(p: str) -> bool:
            return os.path.exists(p)

        asked = {sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            str(marker)): f"{n['NodeManagerAddress']} (node {n['NodeID'][:8]})" for n in nodes}
        answered, silent = ray.wait(list(asked), num_returns=len(asked), timeout=SHARED_CHECK_TIMEOUT_S)
        blind = []
        for ref in answered:
            try:
                if not ray.get(ref):
                    blind.append(asked[ref])
            except ray.exceptions.RayError:  # the node died or cannot run the task
                silent.append(ref)
        for ref in silent:
            ray.cancel(ref, force=True)
    finally:
        marker.unlink(missing_ok=True)
    if silent:
        raise SearchError(f"node(s) {', '.join(asked[ref] for ref in silent)} did not answer within "
                          f"{SHARED_CHECK_TIMEOUT_S} s whether they see --storage {path}; check `ray status`")
    if blind:
        raise SearchError(f"--storage {path} is not shared: node(s) {', '.join(blind)} cannot see it. On a cluster "
                          "use a folder every node mounts (NFS) or a URI such as s3://BUCKET/pointtune or gs://...")


def preflight(settings: SearchSettings, data: SegmentationData) -> None:
    """Checks that need the data: the sparsest setting searched must leave every training image a point."""
    base, space = settings.base, settings.space
    sparsest = (base.replace(points={"mode": "per_instance", "points_per_instance": space.points_per_instance[0]})
                if space.points_per_instance else base.replace(points={"mode": "density", "density": space.density[0]}))
    if not space.points_per_instance and space.density[1] <= MAX_CACHED_DENSITY:
        # ordering the clicks costs ~20 ms per Mpx (Dubai, up to 0.1): do it once here (int32 indices, at most
        # 1 byte per pixel of the masks) and let every trial take its density's prefix
        t0 = time.perf_counter()
        n = cache_click_orders(data, sparsest, space.density[1])
        log.info("ordered %d clicks up to density %g once, in %.1f s", n, space.density[1], time.perf_counter() - t0)
    if space.points_per_instance and space.points_per_instance[1] - space.points_per_instance[0] < MAX_CACHED_K:
        # clicks per instance cost ~0.2 s per Mpx (distance transforms): compute each searched value once here and
        # ship them with the data, instead of once per trial
        t0 = time.perf_counter()
        for k in range(space.points_per_instance[0], space.points_per_instance[1] + 1):
            cache_training_points(data, base.replace(points={"mode": "per_instance", "points_per_instance": k}))
        log.info("simulated the clicks of %d points-per-instance values once, in %.1f s",
                 len(data.points_cache), time.perf_counter() - t0)
    training_points(data, sparsest)  # from the caches above when they were made
    missing = classes_without_pixels(data, data.split.val)
    if missing:
        log.warning("class(es) %s have no pixel in the validation split: they are left out of the macro means "
                    "(a prediction of them still counts as an error); add validation scenes that hold them, or a "
                    "--split file", ", ".join(missing))
    if space.points_per_instance and not any(s.instances is not None for s in data.samples):
        log.warning("searching points per instance, but %s has no instance/ masks: connected regions of each "
                    "class stand in for objects", data.root)


def classes_without_pixels(data: SegmentationData, indices: tuple[int, ...]) -> list[str]:
    """Names of the classes that no pixel of these images holds."""
    import numpy as np

    counts = np.zeros(data.classes.num_classes + 1, np.int64)
    for i in indices:
        counts += np.bincount(np.minimum(data.samples[i].mask.ravel(), data.classes.num_classes),
                              minlength=data.classes.num_classes + 1)
    return [name for name, n in zip(data.classes.names, counts, strict=False) if n == 0]


def _study(settings: SearchSettings, journal: str) -> tuple[optuna.storages.BaseStorage, str]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines say what Optuna's INFO lines would
    study_storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    return study_storage, f"pointtune-{settings.name}-{uuid.uuid4().hex[:8]}"


def _journal_path(settings: SearchSettings) -> str:
    if is_uri(settings.storage):  # Optuna's journal needs a local file; keep it beside the driver
        local = Path.home() / ".cache" / "pointtune" / "optuna"
        local.mkdir(parents=True, exist_ok=True)
        return str(local / f"{settings.name}.log")
    Path(settings.experiment_path).mkdir(parents=True, exist_ok=True)
    return str(Path(settings.experiment_path) / JOURNAL_FILE)


def _run_config(settings: SearchSettings, printer: ProgressPrinter) -> tune.RunConfig:
    return tune.RunConfig(
        name=settings.name, storage_path=settings.storage, verbose=0, callbacks=[printer],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings.keep_checkpoints,
                                                checkpoint_score_attribute=settings.metric,
                                                checkpoint_score_order="max"),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures))


def _tune_config(settings: SearchSettings, max_concurrent: int) -> tune.TuneConfig:
    # ASHA compares trials by their best-so-far objective at rungs of grace_period * reduction_factor**k epochs
    scheduler = (ASHAScheduler(time_attr="epoch", max_t=settings.space.epochs[1], grace_period=settings.grace_period,
                               reduction_factor=settings.reduction_factor) if settings.scheduler == "asha" else None)
    study_storage, study_name = _study(settings, _journal_path(settings))
    # reuse_actors: a trial process is kept for the next trial instead of re-importing torch (measured per trial
    # with a no-op trainable: 1.60 s -> 0.09 s; a real trial's start 3.4 s -> 0.004 s; benchmarks/)
    return tune.TuneConfig(metric=settings.objective, mode="max", num_samples=settings.trials, scheduler=scheduler,
                           reuse_actors=True,
                           search_alg=make_search_algorithm(settings, study_storage, study_name, max_concurrent),
                           trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}")


def build_tuner(settings: SearchSettings, data: SegmentationData, slots: int) -> tune.Tuner:
    trainable = tune.with_resources(tune.with_parameters(tune_entrypoint, data=data),
                                    {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    printer = ProgressPrinter(settings)
    if settings.resume:
        TrialBudget.raise_to = settings.trials
        return tune.Tuner.restore(settings.experiment_path, trainable=trainable, resume_unfinished=True,
                                  resume_errored=False, restart_errored=False)
    tune_config = _tune_config(settings, min(settings.trials, settings.max_concurrent or slots))
    return tune.Tuner(trainable, param_space=build_param_space(settings), tune_config=tune_config,
                      run_config=_run_config(settings, printer))


def resume_command(settings: SearchSettings) -> str:
    parts = ["pointtune", "run", "--resume", "--storage", settings.storage, "--name", settings.name]
    if settings.address:
        parts += ["--address", settings.address]
    return shlex.join(parts)


def _prepare(settings: SearchSettings) -> SearchSettings:
    """Fill in the name; on --resume, take the settings the search was started with (and a raised budget)."""
    from search.settings import default_name

    if not settings.resume:
        name = settings.name or default_name()
        settings = dataclasses.replace(settings, name=name)
        if storage.exists(f"{settings.experiment_path}/tuner.pkl"):
            raise SearchError(f"experiment {settings.experiment_path} already exists: add --resume to continue it, "
                              "or choose another --name")
        return settings
    if not settings.name:
        raise SearchError("--resume needs the --name (and --storage) of the search to continue")
    saved = f"{settings.experiment_path}/{SETTINGS_FILE}"
    if not storage.exists(saved):
        raise SearchError(f"nothing to resume at {settings.experiment_path} (no {SETTINGS_FILE}); check --storage "
                          "and --name")
    previous = SearchSettings.from_dict(yaml.safe_load(storage.read_text(saved)))
    trials = previous.trials
    if settings.trials_given:
        if settings.trials < previous.trials:
            raise SearchError(f"--trials {settings.trials} with --resume: the search already asked for "
                              f"{previous.trials}; give a higher number to add trials, or leave --trials out")
        trials = settings.trials
    settings = dataclasses.replace(previous, resume=True, address=settings.address, storage=settings.storage,
                                   name=settings.name, trials=trials, retry_failed=settings.retry_failed)
    if settings.retry_failed:
        settings = _queue_retries(settings)
    return settings


def _queue_retries(settings: SearchSettings) -> SearchSettings:
    """``--retry-failed``: the failed trials' parameters run again as new trials (queued in the study, so that it
    learns from them), and the budget grows by as many."""
    from search.results import load_experiment
    from search.searcher import PointtuneOptunaSearch, params_to_retry

    failed = {r.trial_id for r in load_experiment(settings.experiment_path) if r.status == "failed"}
    study_storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        _journal_path(settings)))
    (name,) = optuna.study.get_all_study_names(study_storage)
    retries = params_to_retry(optuna.load_study(study_name=name, storage=study_storage), failed)
    PointtuneOptunaSearch.requeue = retries
    print(f"--retry-failed: {len(retries)} failed trial(s) run again as new trials with the same parameters")
    return dataclasses.replace(settings, trials=settings.trials + len(retries))


def _write_settings(settings: SearchSettings) -> None:
    saved = dataclasses.replace(settings, resume=False, retry_failed=False, trials_given=False)
    storage.write_text(f"{settings.experiment_path}/{SETTINGS_FILE}", yaml.safe_dump(saved.to_dict(), sort_keys=False))


def run_search(settings: SearchSettings) -> int:
    """Run (or resume) the search; score the best model once on the test split; print the results table.

    Returns:
        The process exit code: 0 when every trial ended, 130 when interrupted (resume with ``--resume``), 1 when
        no trial finished an epoch.
    """
    settings = _prepare(settings).validate()
    data = load_dataset(settings.base.data)  # read and decoded once; trials get it from the object store
    preflight(settings, data)
    start_ray(settings.address)
    slots = check_resources(settings)
    check_shared_storage(settings.storage)
    _write_settings(settings)
    print(f"search {settings.experiment_path}: {settings.trials} trial(s), up to "
          f"{min(settings.trials, settings.max_concurrent or slots)} at once, objective {settings.objective} "
          f"({data.split.describe()})", flush=True)
    build_tuner(settings, data, slots).fit()
    from search.results import print_summary

    scores = score_on_test(settings, data)
    ended, trained = print_summary(settings, scores)
    if ended < settings.trials:
        print(f"\nThe search stopped before all trials finished. Resume it with:\n  {resume_command(settings)}")
        return 130
    if not trained:
        print(f"\nNo trial finished an epoch: see the errors above (`pointtune results {settings.experiment_path}`)",
              file=sys.stderr)
        return 1
    return 0


def score_on_test(settings: SearchSettings, data: SegmentationData) -> dict[str, float] | None:
    """Export the best trial's best epoch to ``EXPERIMENT/best_model.pt`` and score it once on the test split.

    The scores go into that file and into ``EXPERIMENT/test_scores.json``; the test split is used nowhere else.
    Runs as a Ray task with a trial's resources (a GPU where trials have one).
    """
    from search.evaluate import TEST_SCORES_FILE, score_model
    from search.export import build_export, save_export
    from search.results import load_experiment

    if not data.split.test:
        return None
    try:
        payload, record = build_export(settings.experiment_path, load_experiment(settings.experiment_path), None)
    except SearchError as e:  # nothing trained: nothing to score
        log.info("no test score: %s", e)
        return None
    task = ray.remote(score_model).options(num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial)
    scores = ray.get(task.remote(payload, data, list(data.split.test)))
    payload["test_metrics"] = scores
    save_export(payload, f"{settings.experiment_path}/best_model.pt")
    storage.write_text(f"{settings.experiment_path}/{TEST_SCORES_FILE}", json.dumps(
        {"trial_id": record.trial_id, "epoch": int(payload["epoch"]), **scores}, indent=2))
    return scores
