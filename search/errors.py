"""The errors that are the user's to fix: the CLI prints their message and exits with status 2, no traceback."""

from __future__ import annotations

from trainable.config import ConfigError
from trainable.errors import CheckpointError, DatasetError, WeightsError


class SearchError(RuntimeError):
    """A search cannot start or continue (resources, storage, experiment folder); the message says what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, DatasetError, CheckpointError, WeightsError, SearchError)
