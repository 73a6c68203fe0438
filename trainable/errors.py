"""The errors a user can fix (a file, a setting), in a module of their own: naming them imports nothing heavy."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(RuntimeError):
    """A checkpoint or exported model cannot be read safely."""


class WeightsError(RuntimeError):
    """Requested weights are missing, unreadable or do not fit the model."""


class DatasetError(ValueError):
    """The dataset folder has problems; ``problems`` lists each one with its file and what to do."""

    def __init__(self, root: str | Path, problems: list[str]):
        self.problems = problems
        shown = "\n  - ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        super().__init__(f"dataset {root}: {len(problems)} problem(s):\n  - {shown}{more}")


class ConfigError(ValueError):
    """A setting is invalid; the message names the setting and says what to do."""
