"""Terminal output that needs neither torch nor Ray: progress of the data checks, and how often long work writes a
progress line where its output is not a terminal."""

from __future__ import annotations

import atexit
import sys
import time
from typing import Any

# Off a terminal (a log file, CI, ``ray job logs``) long work writes a progress line at most this often: often enough
# that a log shows within seconds that the work goes on and how long it has left, seldom enough that a day of
# training writes under 9,000 lines (not one per batch). Read at each line: a test may set it.
PLAIN_EVERY_S = 10.0


class CheckProgress:
    """``progress(done, total)`` for work on many files (the data checks; ``predict``, ``suggest`` and ``evaluate``
    on many images): a rich bar that redraws in place on a terminal, otherwise (logs, ``ray job logs``) a line every
    tenth of the way, and at least every ``PLAIN_EVERY_S`` seconds while told."""

    def __init__(self, what: str = "checking images", stream: Any = None):
        self.what, self.stream, self.t0, self.shown = what, stream or sys.stderr, time.monotonic(), -1
        self.said = self.t0
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not total:
            return
        if self.stream.isatty():
            self._draw(done, total)
            return
        tenth, now = done * 10 // total, time.monotonic()
        if tenth != self.shown or done == total or now - self.said >= PLAIN_EVERY_S:
            self.stream.write(f"{self.what}: {done}/{total} ({now - self.t0:.0f} s)\n")
            self.stream.flush()
            self.said = now
        self.shown = tenth

    def _draw(self, done: int, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.bar is None:
            # drawn when told, no refresh thread: the checks call often enough
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(file=self.stream), auto_refresh=False)
            self.task = self.bar.add_task(self.what, total=total)
            self.bar.start()
            atexit.register(self.close)  # the checks may raise: the terminal gets its cursor back
            self.drawn = 0.0
        self.bar.update(self.task, completed=done, total=total)
        if done >= total:
            self.close()
        elif time.monotonic() - self.drawn > 0.1:
            self.bar.refresh()
            self.drawn = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.stop()
            self.bar = None
            atexit.unregister(self.close)
