"""Starting (or resuming) a search: Ray, the Tuner, OptunaSearch, ASHA, and the checks before any trial.

With ``search/results/experiment.py`` and ``trainable/trial.py`` this is the only place that imports Ray.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import ray
import yaml
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from search.cli.console import CheckProgress
from search.cli.live_view import LiveView
from search.cli.progress import ProgressPrinter
from search.errors import SearchError
from search.launch.cluster import (
    check_resources,
    check_shared_data,
    check_shared_storage,
    check_storage_for_autoscaling,
    launchable_node_types,
    start_ray,
)
from search.launch.recorded import RecordBeforeRetry, record_before_resume
from search.launch.searcher import (
    JournalSync,
    PointtuneOptunaSearch,
    TrialBudget,
    journal_storage,
    local_journal_path,
    make_search_algorithm,
)
from search.launch.settings import SearchSettings, resolve_gpus
from search.launch.space import build_param_space
from search.results.tensorboard import TensorBoardLog
from trainable.config import ConfigError
from trainable.data import storage
from trainable.data.index import DatasetIndex, build_index
from trainable.data.node_cache import NodeCache
from trainable.data.storage import is_uri
from trainable.inputs import resolve_for_data, training_clicks
from trainable.learn.model import resolve_weights, resolved_config
from trainable.trial import peak_rss_mb, tune_entrypoint

log = logging.getLogger(__name__)
SETTINGS_FILE = "pointtune_settings.yaml"
JOURNAL_FILE = "optuna_journal.log"


def preflight(settings: SearchSettings, index: DatasetIndex) -> SearchSettings:
    """Settings that need the data, and the checks that do: the clicks every trial selects from are computed once
    (on this node; each node caches its own), and the sparsest setting searched must leave every training image a
    point. Returns the settings with the normalisation, the input bands and the click limits filled in."""
    space = settings.space
    base = resolve_for_data(settings.base, index)
    # every trial's clicks are a selection of those up to the top of the searched ranges: nodes cache those
    limits: dict[str, Any] = {}
    if "density" in space.modes:
        limits["order_up_to"] = space.density[1]
    if "per_instance" in space.modes:
        limits["clicks_up_to"] = space.clicks_per_object[1]
        if space.background_share is not None:
            limits["share_up_to"] = space.background_share[1]
    base = base.replace(points=limits)
    if "per_instance" in space.modes:  # which images get no click depends on their objects: simulate (and cache)
        t0 = time.perf_counter()
        share = space.background_share[0] if space.background_share else base.points.background_share
        training_clicks(index, base.replace(points={"mode": "per_instance", "background_share": share,
                                                    "clicks_per_object": space.clicks_per_object[0]}))
        log.info("simulated the training clicks up to the top of the searched range in %.1f s",
                 time.perf_counter() - t0)
    if "density" in space.modes and index.user_clicks is None:  # round(density * valid pixels) clicks an image
        density_check(index, space.density[0])
    if index.user_clicks is not None:  # the sparsest setting: at least one of each image's clicks is kept
        training_clicks(index, base.replace(points={"density": space.density[0]}))
    missing = [n for n, c in zip(index.classes.names, index.class_pixels(index.split.val), strict=True)
               if c == 0 and index.masked(index.split.val)]
    if missing:
        log.warning("class(es) %s have no pixel in the validation split: they are left out of the macro means "
                    "(a prediction of them still counts as an error); add validation scenes that hold them, or a "
                    "--split file", ", ".join(missing))
    if space.clicks_per_object and not any(e.files.instance for e in index.entries):
        log.warning("searching points per instance, but %s has no instance/ masks: connected regions of each "
                    "class stand in for objects", index.root)
    return dataclasses.replace(settings, base=base)


def density_check(index: DatasetIndex, density: float) -> None:
    """Every training image gets a click at the lowest density searched.

    Raises:
        ConfigError: naming the images that would get none.
    """
    empty = [index.entries[i].stem for i in index.split.train
             if round(density * sum(index.entries[i].record.class_pixels)) < 1]
    if empty:
        raise ConfigError(f"density {density:g} leaves {len(empty)} training image(s) with no labelled point "
                          f"({', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}); raise the low end of "
                          "--density-range or use per-instance points")


def _journal_path(settings: SearchSettings) -> str:
    """Where the driver writes the study's journal: in the experiment folder, or, for a storage URI (Optuna's
    journal needs a local file), in a local copy that ``JournalSync`` keeps copying into the experiment folder."""
    if is_uri(settings.storage):
        return local_journal_path(settings.experiment_path)
    Path(settings.experiment_path).mkdir(parents=True, exist_ok=True)
    return str(Path(settings.experiment_path) / JOURNAL_FILE)


def _fetch_journal(settings: SearchSettings) -> str:
    """On --resume: the local journal, brought from the experiment folder when this machine has no newer copy."""
    local = _journal_path(settings)
    remote = f"{settings.experiment_path}/{JOURNAL_FILE}"
    if is_uri(settings.storage) and storage.exists(remote):
        here = Path(local).stat().st_size if Path(local).is_file() else -1
        if storage.size(remote) > here:
            storage.download(remote, local)
    if not Path(local).is_file():
        raise SearchError(f"the Optuna study of {settings.experiment_path} ({JOURNAL_FILE}) is missing: the search "
                          "cannot be resumed with its searcher state; start a new search")
    return local


def _run_config(settings: SearchSettings, printer: ProgressPrinter) -> tune.RunConfig:
    # TensorBoardLog also keeps Ray's own TensorBoard logger out (search/results/tensorboard.py); Tune adds its CSV and
    # JSON
    # loggers, which `pointtune results` reads
    callbacks: list[tune.Callback] = [printer, TensorBoardLog(settings.experiment_path),
                                      RecordBeforeRetry(settings.experiment_path)]
    if is_uri(settings.storage):
        callbacks.append(JournalSync(settings.experiment_path, f"{settings.experiment_path}/{JOURNAL_FILE}"))
    return tune.RunConfig(
        name=settings.name, storage_path=settings.storage, verbose=0, callbacks=callbacks,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings.keep_checkpoints,
                                                checkpoint_score_attribute=settings.metric,
                                                checkpoint_score_order="max"),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures))


def _tune_config(settings: SearchSettings, max_concurrent: int) -> tune.TuneConfig:
    # ASHA compares trials by their best-so-far objective at rungs of grace_period * reduction_factor**k epochs
    scheduler = (ASHAScheduler(time_attr="epoch", max_t=settings.space.epochs[1], grace_period=settings.grace_period,
                               reduction_factor=settings.reduction_factor) if settings.scheduler == "asha" else None)
    # reuse_actors: a trial process is kept for the next trial instead of re-importing torch (measured per trial
    # with a no-op trainable: 1.60 s -> 0.09 s; a real trial's start 3.4 s -> 0.004 s; benchmarks/)
    # a frontier search has two objectives: only the searcher knows them (Tune's metric serves schedulers, and there
    # is none); a single-objective one ranks by the best-so-far metric everywhere
    return tune.TuneConfig(metric=None if settings.frontier else settings.objective,
                           mode=None if settings.frontier else "max", num_samples=settings.trials, scheduler=scheduler,
                           reuse_actors=True,
                           search_alg=make_search_algorithm(settings, _journal_path(settings), max_concurrent),
                           trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}")


def build_tuner(settings: SearchSettings, data: DatasetIndex, weights: dict | None, slots: int) -> tune.Tuner:
    trainable = tune.with_resources(tune.with_parameters(tune_entrypoint, data=data, weights=weights,
                                                         experiment=settings.experiment_path),
                                    {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    printer = LiveView(settings)  # a table on a terminal, lines elsewhere (chosen when the search starts)
    if settings.resume:  # Tune restores the callbacks the search started with
        TrialBudget.raise_to = settings.trials
        PointtuneOptunaSearch.journal_path = _fetch_journal(settings)
        PointtuneOptunaSearch.ended_before_resume = record_before_resume(settings.experiment_path)
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
    from search.launch.settings import default_name

    if not settings.resume:
        name = settings.name or default_name()
        settings = dataclasses.replace(settings, name=name)
        check_storage_folder(settings)
        if storage.exists(f"{settings.experiment_path}/tuner.pkl"):
            raise SearchError(f"experiment {settings.experiment_path} already exists: add --resume to continue it, "
                              "or choose another --name")
        return settings
    if not settings.name:
        raise SearchError("--resume needs the --name (and --storage) of the search to continue")
    check_storage_folder(settings)
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


def check_storage_folder(settings: SearchSettings) -> None:
    """``--storage`` (and the search's folder in it) must be folders, or not exist yet, unless a URI.

    Raises:
        SearchError: naming the file in the way.
    """
    if is_uri(settings.storage):
        return
    experiment = Path(settings.experiment_path)
    for path in (experiment, *experiment.parents):
        if path.exists() and not path.is_dir():
            what = f"--name {settings.name}: {path}" if path == experiment else f"--storage {settings.storage}: {path}"
            raise SearchError(f"{what} is a file, not a folder; --storage takes a folder (made if missing) or a "
                              "storage URI (s3://, gs://, ...), and a search keeps its results in the folder "
                              "STORAGE/NAME")


def _queue_retries(settings: SearchSettings) -> SearchSettings:
    """``--retry-failed``: the failed trials' parameters run again as new trials (queued in the study, so that it
    learns from them), and the budget grows by as many."""
    from search.launch.searcher import PointtuneOptunaSearch, params_to_retry
    from search.results.experiment import load_experiment

    failed = {r.trial_id for r in load_experiment(settings.experiment_path) if r.status == "failed"}
    study_storage = journal_storage(_fetch_journal(settings))
    (name,) = optuna.study.get_all_study_names(study_storage)
    retries = params_to_retry(optuna.load_study(study_name=name, storage=study_storage), failed)
    PointtuneOptunaSearch.requeue = retries
    print(f"--retry-failed: {len(retries)} failed trial(s) run again as new trials with the same parameters")
    return dataclasses.replace(settings, trials=settings.trials + len(retries))


def reset_restore_hints() -> None:
    """What the driver tells a searcher that Tune restores (budget, journal, retries) is per search: forget the last
    one's (several searches may run in one process: tests, notebooks)."""
    TrialBudget.raise_to = None
    PointtuneOptunaSearch.journal_path = None
    PointtuneOptunaSearch.requeue = []
    PointtuneOptunaSearch.ended_before_resume = {}


def _write_settings(settings: SearchSettings) -> None:
    saved = dataclasses.replace(settings, resume=False, retry_failed=False, trials_given=False)
    storage.write_text(f"{settings.experiment_path}/{SETTINGS_FILE}", yaml.safe_dump(saved.to_dict(), sort_keys=False))


def run_search(settings: SearchSettings) -> int:
    """Run (or resume) the search; score the best model once on the test split; print the results table.

    Returns:
        The process exit code: 0 when every trial ended, 130 when interrupted (resume with ``--resume``), 1 when
        no trial finished an epoch.
    """
    reset_restore_hints()
    settings = _prepare(settings).validate()
    # checked once here; trials get the index (paths and statistics, not pixels) and read what they train on
    data = build_index(settings.base.data, warm=None if settings.address else NodeCache(), progress=CheckProgress())
    settings = preflight(settings, data)
    settings, weights = resolve_search_weights(settings)
    start_ray(settings.address)
    node_types = launchable_node_types() if settings.address else []
    if node_types:
        print("autoscaling cluster: can start " + ", ".join(
            f"up to {t.max_workers} x {t.name} ({t.resources.get('CPU', 0):g} CPU/{t.resources.get('GPU', 0):g} GPU)"
            for t in node_types), flush=True)
    settings, gpus_line = resolve_gpus(settings, ray.cluster_resources(), {t.name: t.resources for t in node_types})
    if gpus_line:
        print(gpus_line, flush=True)
    slots = check_resources(settings.cpus_per_trial, settings.gpus_per_trial, node_types)
    check_storage_for_autoscaling(settings.storage, node_types)
    check_shared_storage(settings.storage)
    check_shared_data(data.root, data.entries[0].files.image)
    _write_settings(settings)
    print(f"search {settings.experiment_path}: {settings.trials} trial(s), up to "
          f"{min(settings.trials, settings.max_concurrent or slots)} at once, objective {settings.objective} "
          f"({data.split.describe()})", flush=True)
    from search.launch.time_estimate import warn_if_long

    warn_if_long(settings, data, min(settings.trials, settings.max_concurrent or slots))
    build_tuner(settings, data, weights, slots).fit()
    from search.results.experiment import ENDED, load_experiment, print_summary

    records = load_experiment(settings.experiment_path)
    complete = sum(r.status in ENDED for r in records) >= settings.trials
    scores = None
    if complete:  # only a finished search is tidied and scored: an interrupted one may yet change its best trial
        tidy_after_search(settings, records)
        scores = score_on_test(settings, data)
        if settings.reference == "full":
            run_reference(settings, data, weights, records)
    ended, trained = print_summary(settings, scores)
    print(f"driver peak memory: {peak_rss_mb():.0f} MiB")
    if ended < settings.trials:
        print(f"\nThe search stopped before all trials finished. Resume it with:\n  {resume_command(settings)}")
        return 130
    if not trained:
        print(f"\nNo trial finished an epoch: see the errors above (`pointtune results {settings.experiment_path}`)",
              file=sys.stderr)
        return 1
    return 0


def tidy_after_search(settings: SearchSettings, records: list) -> None:
    """After a finished search: drop the trials' resume states (3x a model each) and what the driver recorded of them
    for a restart, and close the study's trials that no Tune trial owns (a driver killed between creating a trial and
    its next snapshot leaves one RUNNING).

    Trials keep their resume state (after their last epoch a finished one: history, no weights) until here, not just
    until they end: a driver killed after a trial ended but before Tune recorded it replays that trial from it.
    """
    from search.launch.searcher import OUTCOME_ATTR, TRIAL_ID_ATTR
    from trainable.learn.checkpoint import RESUME_FILE, drop_resume_state
    from trainable.learn.run_record import RECORD_FILE

    known = {r.trial_id for r in records}
    for path in {r.path for r in records} | storage.glob(settings.experiment_path, f"trial_*/{RESUME_FILE}"):
        drop_resume_state(path.removesuffix(f"/{RESUME_FILE}"))
    for path in storage.glob(settings.experiment_path, f"trial_*/{RECORD_FILE}"):
        storage.remove(path)
    study_storage = journal_storage(_journal_path(settings))
    for name in optuna.study.get_all_study_names(study_storage):
        study = optuna.load_study(study_name=name, storage=study_storage)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get(TRIAL_ID_ATTR) not in known:
                study_storage.set_trial_user_attr(t._trial_id, OUTCOME_ATTR, "lost: its driver was killed")
                study_storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)


def resolve_search_weights(settings: SearchSettings) -> tuple[SearchSettings, dict | None]:
    """Resolve the weights once, in the driver, before any trial; on --resume, check they are still the same file.

    Raises:
        WeightsError: as ``resolve_weights``; SearchError: a resumed search's weights file changed.
    """
    model = settings.base.model
    resolved, state = resolve_weights(model)
    if settings.resume and model.weights_sha256 and resolved.sha256 != model.weights_sha256:
        raise SearchError(f"the weights this search started from ({model.weights_source}, sha256 "
                          f"{model.weights_sha256[:16]}...) changed on disk (now {resolved.sha256[:16]}...): put the "
                          "original file back, or start a new search")
    print(f"weights: {resolved.describe()}", flush=True)
    return dataclasses.replace(settings, base=settings.base.replace(
        model=dataclasses.asdict(resolved_config(model, resolved)))), state


def run_reference(settings: SearchSettings, data: DatasetIndex, weights: dict | None, records: list) -> None:
    """``--reference full``: train the best trial's settings once more on dense masks (``search/launch/reference.py``),
    as a
    Ray task with a trial's resources; a resumed search whose best trial did not change keeps the one it has."""
    from search.launch.reference import REFERENCE_DIR, load_reference, reference_config, same_run
    from search.launch.train import train_reference
    from search.results.experiment import best_record

    try:
        best = best_record(records, "compare with full supervision")
    except SearchError as e:
        print(f"no full-supervision reference: {e}")
        return
    cfg = reference_config(best.config).replace(train={"num_threads": max(int(settings.cpus_per_trial), 1)})
    done = load_reference(settings.experiment_path)
    if done is not None and same_run(cfg, done):
        return
    print(f"full-supervision reference: trial {best.trial_id}'s settings on dense masks (density 1), "
          f"{cfg.train.epochs} epoch(s) ...", flush=True)
    task = ray.remote(train_reference).options(num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial)
    out = f"{settings.experiment_path}/{REFERENCE_DIR}"
    try:
        ray.get(task.remote(cfg, data, ray.put(weights) if weights is not None else None, out, best.trial_id))
    except ray.exceptions.RayTaskError as e:
        # the search's trials are complete and kept: only the comparison is missing
        print(f"the full-supervision reference failed ({e.cause if hasattr(e, 'cause') else e}); the search's results "
              f"are complete. Run it again with:  {resume_command(settings)}", file=sys.stderr)


def score_on_test(settings: SearchSettings, data: DatasetIndex) -> dict[str, float] | None:
    """Export the best trial's best epoch to ``EXPERIMENT/best_model.pt`` and score it once on the test split.

    The scores go into that file and into ``EXPERIMENT/test_scores.json``; the test split is used nowhere else.
    Runs as a Ray task with a trial's resources (a GPU where trials have one).
    """
    from search.model.evaluate import keep_test_score, score_model
    from search.model.export import build_export
    from search.results.experiment import load_experiment

    if not data.split.test:
        return None
    try:
        payload, record = build_export(settings.experiment_path, load_experiment(settings.experiment_path), None)
    except SearchError as e:  # nothing trained: nothing to score
        log.info("no test score: %s", e)
        return None
    task = ray.remote(score_model).options(num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial)
    # a resumed search with more trials may pick another best: the test split then serves more than one pick
    return keep_test_score(settings.experiment_path, payload, record.trial_id,
                           f"{settings.experiment_path}/best_model.pt",
                           lambda: ray.get(task.remote(payload, data, list(data.split.test))))
