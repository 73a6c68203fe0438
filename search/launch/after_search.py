"""After a finished search: tidying its folder and study, scoring the best model once on the test split, and the
full-supervision reference (``--reference full``). The scoring and the reference run as Ray tasks with a trial's
resources (``search/launch/tuner.py``)."""

from __future__ import annotations

import logging
import sys

import optuna

from search.errors import SearchError
from search.files import BEST_MODEL
from search.launch.journal import journal_path, journal_storage
from search.launch.prepare import resume_command
from search.launch.searcher import OUTCOME_ATTR, TRIAL_ID_ATTR
from search.launch.settings import SearchSettings
from search.launch.train import train_reference
from search.launch.tuner import TaskError, run_task
from search.model.evaluate import keep_test_score, score_adapted
from search.model.export import build_export
from search.results.experiment import best_record, load_experiment
from search.results.reference import REFERENCE_DIR, load_reference, reference_config, same_run
from trainable.data import storage
from trainable.data.index import DatasetIndex
from trainable.learn.checkpoint import RESUME_FILE, drop_resume_state
from trainable.learn.run_record import RECORD_FILE

log = logging.getLogger(__name__)


def tidy_after_search(settings: SearchSettings, records: list) -> None:
    """After a finished search: drop the trials' resume states (3x a model each) and what the driver recorded of them
    for a restart, and close the study's trials that no Tune trial owns (a driver killed between creating a trial and
    its next snapshot leaves one RUNNING).

    Trials keep their resume state (after their last epoch a finished one: history, no weights) until here, not just
    until they end: a driver killed after a trial ended but before Tune recorded it replays that trial from it.
    """
    known = {r.trial_id for r in records}
    for path in {r.path for r in records} | storage.glob(settings.experiment_path, f"trial_*/{RESUME_FILE}"):
        drop_resume_state(path.removesuffix(f"/{RESUME_FILE}"))
    for path in storage.glob(settings.experiment_path, f"trial_*/{RECORD_FILE}"):
        storage.remove(path)
    study_storage = journal_storage(journal_path(settings.experiment_path))
    for name in optuna.study.get_all_study_names(study_storage):
        study = optuna.load_study(study_name=name, storage=study_storage)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get(TRIAL_ID_ATTR) not in known:
                study_storage.set_trial_user_attr(t._trial_id, OUTCOME_ATTR, "lost: its driver was killed")
                study_storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)


def score_on_test(settings: SearchSettings, data: DatasetIndex) -> dict[str, float] | None:
    """Export the best trial's best epoch to ``EXPERIMENT/best_model.pt`` and score it once on the test split.

    The scores go into that file and into ``EXPERIMENT/test_scores.json``; the test split is used nowhere else.
    Runs as a Ray task with a trial's resources (a GPU where trials have one).
    """
    if not data.split.test:
        return None
    try:
        payload, record = build_export(settings.experiment_path, load_experiment(settings.experiment_path), None)
    except SearchError as e:  # nothing trained: nothing to score
        log.info("no test score: %s", e)
        return None
    def score() -> dict[str, float]:  # with --adapt-bn, of the model adapted to its images, which the file keeps
        scores, changed = run_task(score_adapted, payload, data, list(data.split.test),
                                   settings.base.data.adaptation_folder, cpus=settings.cpus_per_trial,
                                   gpus=settings.gpus_per_trial)
        payload.update(changed)
        return scores

    # a resumed search with more trials may pick another best: the test split then serves more than one pick
    return keep_test_score(settings.experiment_path, payload, record.trial_id,
                           f"{settings.experiment_path}/{BEST_MODEL}", score)


def run_reference(settings: SearchSettings, data: DatasetIndex, weights: dict | None, records: list) -> bool:
    """``--reference full``: train the best trial's settings once more on dense masks (``search/results/reference.py``),
    as a Ray task with a trial's resources; a resumed search whose best trial did not change keeps the one it has.

    Returns:
        False when the reference failed (``--resume`` runs it again), True otherwise.
    """
    try:
        best = best_record(records, "compare with full supervision")
    except SearchError as e:
        print(f"no full-supervision reference: {e}")
        return True
    cfg = reference_config(best.config).replace(train={"num_threads": max(int(settings.cpus_per_trial), 1)})
    done = load_reference(settings.experiment_path)
    if done is not None and same_run(cfg, done):
        return True
    print(f"full-supervision reference: trial {best.trial_id}'s settings on dense masks (density 1), "
          f"{cfg.train.epochs} epoch(s) ...", flush=True)
    try:
        run_task(train_reference, cfg, data, weights, f"{settings.experiment_path}/{REFERENCE_DIR}", best.trial_id,
                 cpus=settings.cpus_per_trial, gpus=settings.gpus_per_trial)
    except TaskError as e:  # the search's trials are complete and kept: only the comparison is missing
        print(f"the full-supervision reference failed ({e.cause if hasattr(e, 'cause') else e}); the search's results "
              f"are complete. Run it again with:  {resume_command(settings)}", file=sys.stderr)
        return False
    return True
