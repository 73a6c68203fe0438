"""Before a search: its name and folder; on ``--resume``, the settings it was started with (a raised budget, the
failed trials to run again) and what the driver tells the searcher and the trials that Tune restores."""

from __future__ import annotations

import dataclasses
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from search.errors import SearchError
from search.files import SETTINGS_FILE, TUNER_FILE
from search.launch.journal import fetch_journal, load_the_study
from search.launch.recorded import record_before_resume
from search.launch.searcher import ResumeHints, params_to_retry
from search.launch.settings import SearchSettings, default_name
from search.launch.snapshot import set_aside_torn_snapshot
from search.outputs import config_inputs, plan_folder
from search.results.driver import driver_alive, finished_budget, read_driver
from search.results.experiment import load_experiment
from trainable.data import storage
from trainable.data.storage import is_uri

Retries = list[tuple[str, dict[str, Any]]]  # (Tune trial id, its searched parameters) of each trial to run again


def prepare(settings: SearchSettings) -> tuple[SearchSettings, Retries]:
    """Fill in the name; on --resume, take the settings the search was started with (and a raised budget).

    Returns:
        The settings, and the failed trials to run again (``--resume --retry-failed``).

    Raises:
        SearchError: a new search's folder is taken, or a resumed one's is missing or asks for fewer trials.
    """
    check_name(settings.name)
    if not settings.resume:
        settings = dataclasses.replace(settings, name=settings.name or default_name())
        check_storage_folder(settings)
        if storage.exists(f"{settings.experiment_path}/{TUNER_FILE}"):
            raise SearchError(f"experiment {settings.experiment_path} already exists: add --resume to continue it, "
                              "or choose another --name")
        if not is_uri(settings.storage) or settings.storage.startswith("file://"):  # a bucket: nothing to check
            reads = config_inputs(settings.base.to_dict())
            plan_folder(settings.storage, "--storage", "run", reads)
            plan_folder(settings.experiment_path, "--name", "run", reads, empty=True)
        return settings, []
    if not settings.name:
        raise SearchError("--resume needs the --name (and --storage) of the search to continue")
    check_storage_folder(settings)
    if driver_alive(settings.experiment_path):
        owner = read_driver(settings.experiment_path) or {}
        raise SearchError(f"the search {settings.experiment_path} is running now (its driver: pid "
                          f"{owner.get('pid', '?')} on {owner.get('host', '?')}): two drivers would run its trials "
                          "twice; wait for it, or stop it (Ctrl-C there, or `kill PID`) before --resume")
    saved = f"{settings.experiment_path}/{SETTINGS_FILE}"
    if not storage.exists(saved):
        raise SearchError(f"nothing to resume at {settings.experiment_path} (no {SETTINGS_FILE}); check --storage "
                          "and --name")
    try:
        previous = SearchSettings.from_dict(yaml.safe_load(storage.read_text(saved)))
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise SearchError(f"{saved} is damaged ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): the "
                          "search cannot be resumed with its settings; restore the file, or start a new search with "
                          "another --name") from None
    check_same_place(previous, settings)
    trials = previous.trials
    if settings.trials_given:
        if settings.trials < previous.trials:
            raise SearchError(f"--trials {settings.trials} with --resume: the search already asked for "
                              f"{previous.trials}; give a higher number to add trials, or leave --trials out")
        trials = settings.trials
    settings = dataclasses.replace(previous, resume=True, address=settings.address, storage=settings.storage,
                                   name=settings.name, trials=trials, retry_failed=settings.retry_failed)
    refuse_finished(settings)
    return queue_retries(settings) if settings.retry_failed else (settings, [])


def check_same_place(previous: SearchSettings, given: SearchSettings) -> None:
    """A search resumes where it was made: Tune keeps that place in its state and would write the new trials there,
    into the original folder, when a copy (or a moved folder) is resumed.

    Raises:
        SearchError: the folder given is not the one the search was started in.
    """
    if previous.experiment_path.rstrip("/") == given.experiment_path.rstrip("/"):
        return
    raise SearchError(f"the search in {given.experiment_path} was started in {previous.experiment_path}, and Tune "
                      "keeps that place in its state: resuming it here would write its new trials there. Resume it "
                      f"where it was made (--storage {previous.storage} --name {previous.name}), or start a new "
                      "search; this copy's results stay readable (results, report, export)")


def check_name(name: str) -> None:
    """``--name`` is a name (the folder STORAGE/NAME), not a path: no folder separators, not ``.`` or ``..``.

    Raises:
        SearchError: saying what to give instead.
    """
    if not name:
        return  # a new search names itself (default_name)
    bad = [c for c in name if c in "/\\" or not c.isprintable()]
    if bad or name in (".", "..") or name.startswith("-") or name != name.strip():
        raise SearchError(f"--name {name!r}: give a plain name (letters, digits, - _ .), not a path: the search's "
                          "folder is STORAGE/NAME; to put it elsewhere, use --storage")


def refuse_finished(settings: SearchSettings) -> None:
    """``--resume`` of a search that has finished (``search.results.driver``) and is given nothing to add: neither
    a higher ``--trials`` nor failed trials to ``--retry-failed`` (ones no earlier retry ran again). Reads the
    folder, writes nothing.

    Raises:
        SearchError: saying that it has finished, how many trials it has, where its results are and how to add trials.
    """
    done = finished_budget(settings.experiment_path)
    if done is None or settings.trials > done:
        return
    records = load_experiment(settings.experiment_path)
    failed = {r.trial_id for r in records if r.status == "failed"}
    retries = params_to_retry(load_the_study(fetch_journal(settings.experiment_path)), failed) if failed else []
    if settings.retry_failed and retries:
        return
    counts = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r.status for r in records).items()))
    path, command = settings.experiment_path, resume_command(settings)
    why = "every failed trial was run again already" if failed else "none of its trials failed"
    retry = (f"\n  run its {len(retries)} failed trial(s) again:  {command} --retry-failed" if retries
             else f"\n  (--retry-failed has nothing to run: {why})")
    raise SearchError(
        f"the search {path} has finished: all {len(records)} of its trials ended ({counts}); nothing to resume, and "
        f"nothing was changed.\n  its results:  pointtune results {shlex.quote(path)}   (or report, export)\n  add "
        f"trials:  {command} --trials {done + max(1, done // 2)}   (a budget above {done}){retry}")


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


def queue_retries(settings: SearchSettings) -> tuple[SearchSettings, Retries]:
    """``--retry-failed``: the failed trials' parameters run again as new trials (queued in the study when Tune
    restores the searcher, so that it learns from them), and the budget grows by as many."""
    failed = {r.trial_id for r in load_experiment(settings.experiment_path) if r.status == "failed"}
    retries = params_to_retry(load_the_study(fetch_journal(settings.experiment_path)), failed)
    print(f"--retry-failed: {len(retries)} failed trial(s) run again as new trials with the same parameters")
    return dataclasses.replace(settings, trials=settings.trials + len(retries)), retries


def write_settings(settings: SearchSettings) -> None:
    saved = dataclasses.replace(settings, resume=False, retry_failed=False, trials_given=False)
    storage.write_text(f"{settings.experiment_path}/{SETTINGS_FILE}", yaml.safe_dump(saved.to_dict(), sort_keys=False))


def tell_restored(settings: SearchSettings, retries: Retries) -> None:
    """Just before Tune restores a search: set a torn snapshot of Tune's aside (``search/launch/snapshot.py``), write
    each trial it starts again what the driver recorded of it
    (``search/launch/recorded.py``), and the searcher its hints: the journal on this machine, the budget, the trials
    to retry and the last results of those whose end was recorded (``ResumeHints``)."""
    set_aside_torn_snapshot(settings.experiment_path)
    journal = fetch_journal(settings.experiment_path)
    ended = record_before_resume(settings.experiment_path)
    ResumeHints(journal, settings.trials, retries, ended).write(settings.experiment_path)


def resume_command(settings: SearchSettings) -> str:
    parts = ["pointtune", "run", "--resume", "--storage", settings.storage, "--name", settings.name]
    if settings.address:
        parts += ["--address", settings.address]
    return shlex.join(parts)
