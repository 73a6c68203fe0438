"""Starting (or resuming) a search, step by step: its settings (``prepare``), the data and weights
(``preflight``), the cluster (``cluster``), the Tuner (``tuner``), and what follows a finished search
(``after_search``). Ray is imported by ``tuner`` and ``cluster`` only."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from search.cli.console import CheckProgress
from search.errors import SearchError
from search.files import (
    CLICKS_RECORD,
    DRIVER_FILE,
    HINTS_FILE,
    JOURNAL_FILE,
    SETTINGS_FILE,
    TUNER_FILE,
    WARM_START_FILE,
)
from search.launch.after_search import run_reference, score_on_test, tidy_after_search
from search.launch.cluster import (
    check_resources,
    check_shared_data,
    check_shared_storage,
    check_storage_for_autoscaling,
    cluster_resources,
    launchable_node_types,
    start_ray,
)
from search.launch.preflight import check_devices, preflight, resolve_search_weights
from search.launch.prepare import prepare, resume_command, tell_restored, write_settings
from search.launch.settings import SearchSettings, resolve_gpus
from search.launch.time_estimate import warn_if_long
from search.launch.tuner import build_tuner
from search.launch.warm_start import collect as collect_warm_start
from search.launch.warm_start import describe as describe_warm_start
from search.launch.warm_start import write_record as write_warm_start
from search.results.driver import driver_running, record_finished
from search.results.experiment import load_experiment
from search.results.rounds import record_clicks
from search.results.summary import print_summary
from trainable.data import storage
from trainable.data.index import DatasetIndex, build_index
from trainable.data.node_cache import NodeCache
from trainable.data.storage import is_uri
from trainable.trial import peak_rss_mb


def run_search(settings: SearchSettings) -> int:
    """Run (or resume) the search; score the best model once on the test split; print the results table.

    Returns:
        The process exit code: 0 when every trial ended, 130 when interrupted (resume with ``--resume``), 1 when
        no trial finished an epoch.
    """
    settings, retries = prepare(settings)
    settings = settings.validate()
    check_devices(settings)
    warm, left_out = collect_warm_start(settings) if settings.warm_start and not settings.resume else ([], [])
    # checked once here; trials get the index (paths and statistics, not pixels) and read what they train on
    data = build_index(settings.base.data, warm=None if settings.address else NodeCache(), progress=CheckProgress())
    settings = preflight(settings, data)
    settings, weights = resolve_search_weights(settings)
    settings, slots = join_cluster(settings, data)
    try:
        write_settings(settings)
        record_clicks(settings.experiment_path, settings.base.data.clicks, data, settings.resume)  # resume: same
        concurrent = min(settings.trials, settings.max_concurrent or slots)
        print(f"search {settings.experiment_path}: {settings.trials} trial(s), up to {concurrent} at once, objective "
              f"{settings.objective} ({data.split.describe()})", flush=True)
        warn_if_long(settings, data, concurrent)
        if settings.warm_start and not settings.resume:
            write_warm_start(settings.experiment_path, warm, left_out)
            print(describe_warm_start(warm, left_out), flush=True)
        if settings.resume:  # Tune restores the searcher and the listeners the search started with
            tell_restored(settings, retries)
        with driver_running(settings.experiment_path):  # readers tell running trials from interrupted ones by it
            build_tuner(settings, data, weights, slots, warm).fit()
    except BaseException:
        if not settings.resume:
            forget_unstarted(settings.experiment_path)
        raise
    return finish(settings, data, weights)


def forget_unstarted(experiment: str) -> None:
    """A new search stopped (Ctrl-C, an error) before Tune recorded anything: nothing could resume it, so what it
    wrote goes, and its folder when that is then empty; the same --name then starts it again."""
    if is_uri(experiment) or storage.glob(experiment, "experiment_state-*.json") or storage.exists(
            f"{experiment}/{TUNER_FILE}"):
        return
    folder = Path(experiment)
    for name in (SETTINGS_FILE, CLICKS_RECORD, DRIVER_FILE, JOURNAL_FILE, HINTS_FILE, WARM_START_FILE):
        (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def join_cluster(settings: SearchSettings, data: DatasetIndex) -> tuple[SearchSettings, int]:
    """Start or join Ray; settle the GPUs per trial; check that trials fit and that every node sees the storage and
    the data. Returns the settings and how many trials can run at once."""
    start_ray(settings.address)
    node_types = launchable_node_types() if settings.address else []
    if node_types:
        print("autoscaling cluster: can start " + ", ".join(
            f"up to {t.max_workers} x {t.name} ({t.resources.get('CPU', 0):g} CPU/{t.resources.get('GPU', 0):g} GPU)"
            for t in node_types), flush=True)
    settings, gpus_line = resolve_gpus(settings, cluster_resources(), {t.name: t.resources for t in node_types})
    if gpus_line:
        print(gpus_line, flush=True)
    if settings.base.train.device == "cuda" and not settings.gpus_per_trial:
        raise SearchError(f"--device cuda, but trials get no GPU ({gpus_line or '--gpus-per-trial 0'}): give "
                          "--gpus-per-trial 1 (or 0.5, ...) on a machine or cluster with GPUs, or --device auto")
    slots = check_resources(settings.cpus_per_trial, settings.gpus_per_trial, node_types)
    check_storage_for_autoscaling(settings.storage, node_types)
    check_shared_storage(settings.storage)
    check_shared_data(data.root, data.entries[0].files.image)
    return settings, slots


def finish(settings: SearchSettings, data: DatasetIndex, weights: dict | None) -> int:
    """Tidy, score and compare a finished search (an interrupted one may yet change its best trial); print the
    summary; record a finished search as such (``--resume`` then refuses it). Returns the exit code
    (``run_search``)."""
    records = load_experiment(settings.experiment_path)
    scores, complete = None, False
    if sum(r.ended for r in records) >= settings.trials:
        tidy_after_search(settings, records)
        scores = score_on_test(settings, data)
        complete = settings.reference != "full" or run_reference(settings, data, weights, records)
    ended, trained = print_summary(settings, scores)
    if complete:
        record_finished(settings.experiment_path, settings.trials)
    print(f"driver peak memory: {peak_rss_mb():.0f} MiB")
    if ended < settings.trials:
        print(f"\nThe search stopped before all trials finished. Resume it with:\n  {resume_command(settings)}")
        return 130
    if not trained:
        print(f"\nNo trial finished an epoch: see the errors above (`pointtune results {settings.experiment_path}`)",
              file=sys.stderr)
        return 1
    return 0


