"""The Optuna study's journal: where the driver writes it, bringing it back on ``--resume``, and keeping the copy in
a storage URI's experiment folder up to date (``JournalSync``). Optuna's journal needs a local file: a search stored
at a URI (s3://, gs://) writes a local copy and syncs it into the experiment folder."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import optuna

from search.errors import SearchError
from search.files import JOURNAL_FILE
from trainable.data import storage
from trainable.data.storage import is_uri

log = logging.getLogger(__name__)


def journal_storage(path: str) -> optuna.storages.JournalStorage:
    """The study's storage: Optuna's journal file (appends only; a URI-stored search keeps a local copy)."""
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def local_journal_path(experiment_path: str) -> str:
    """This machine's copy of the journal of a search stored at a URI (Optuna's journal needs a local file)."""
    digest = hashlib.sha256(experiment_path.encode()).hexdigest()[:12]
    local = Path.home() / ".cache" / "pointtune" / "optuna" / f"{experiment_path.rstrip('/').rsplit('/', 1)[-1]}-" \
        f"{digest}.log"
    local.parent.mkdir(parents=True, exist_ok=True)
    return str(local)


def journal_path(experiment_path: str) -> str:
    """Where the driver writes the study's journal: in the experiment folder, or, for a storage URI, in a local copy
    that ``JournalSync`` keeps copying into the experiment folder."""
    if is_uri(experiment_path):
        return local_journal_path(experiment_path)
    Path(experiment_path).mkdir(parents=True, exist_ok=True)
    return str(Path(experiment_path) / JOURNAL_FILE)


def fetch_journal(experiment_path: str) -> str:
    """On --resume: the local journal, brought from the experiment folder when this machine has no newer copy.

    Raises:
        SearchError: the experiment has no journal.
    """
    local = journal_path(experiment_path)
    remote = f"{experiment_path}/{JOURNAL_FILE}"
    if is_uri(experiment_path) and storage.exists(remote):
        here = Path(local).stat().st_size if Path(local).is_file() else -1
        if storage.size(remote) > here:
            storage.download(remote, local)
    if not Path(local).is_file():
        raise SearchError(f"the Optuna study of {experiment_path} ({JOURNAL_FILE}) is missing: the search "
                          "cannot be resumed with its searcher state; start a new search")
    return local


def load_the_study(journal: str) -> optuna.Study:
    """The one study a search's journal holds."""
    study_storage = journal_storage(journal)
    (name,) = optuna.study.get_all_study_names(study_storage)
    return optuna.load_study(study_name=name, storage=study_storage)


class JournalSync:
    """Copies the study's local journal into the experiment folder (a storage URI) whenever a trial ends, at most
    every ``every_s`` seconds while results arrive, and at the end: the study lives with the experiment. A listener
    of the search's events (``search/launch/tuner.py``).

    The local copy is found on the machine the driver runs on (a resumed search restores this listener from the
    experiment, perhaps elsewhere)."""

    def __init__(self, experiment_path: str, remote: str, every_s: float = 30.0):
        self.experiment_path, self.remote, self.every_s, self.last = experiment_path, remote, every_s, 0.0

    def sync(self) -> None:
        try:
            storage.upload(local_journal_path(self.experiment_path), self.remote)
            self.last = time.monotonic()
        except OSError as e:  # a flaky bucket must not stop the search; the next sync tries again
            log.warning("could not copy the Optuna journal to %s: %s", self.remote, e)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if time.monotonic() - self.last > self.every_s:
            self.sync()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.sync()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.sync()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.sync()
