"""The errors that are the user's to fix: the CLI prints their message and exits with status 2, no traceback."""

from __future__ import annotations

from typing import Any

from trainable.config import ConfigError
from trainable.errors import CheckpointError, DatasetError, WeightsError


class SearchError(RuntimeError):
    """A search cannot start or continue (resources, storage, experiment folder); the message says what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, DatasetError, CheckpointError, WeightsError, SearchError)


def sigterm_as_ctrl_c() -> None:
    """SIGTERM (``kill``, a job scheduler's stop, a container's) does what Ctrl-C does: Tune saves the search and
    stops it, ``train`` records where it stopped, and either says how to resume. Ray's own handler, which ``ray.init``
    installs, exits at once with a traceback and leaves the search unsaved. Only in the main thread (where signals
    are handled)."""
    import signal
    import threading

    def as_ctrl_c(signum: int, frame: Any) -> None:
        on_ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(on_ctrl_c) and on_ctrl_c is not signal.default_int_handler:
            on_ctrl_c(signal.SIGINT, frame)  # Tune's: it saves the search and stops it
        else:  # Python's own, or none (a process started in the background ignores SIGINT): stop anyway
            raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, as_ctrl_c)
