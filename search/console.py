"""Terminal output that needs neither torch nor Ray: progress of the data checks."""

from __future__ import annotations

import sys
import time
from typing import Any


class CheckProgress:
    """``progress(done, total)`` for the data checks: a bar that redraws in place on a terminal, a line every tenth
    of the way otherwise (logs, ``ray job logs``)."""

    def __init__(self, what: str = "checking images", stream: Any = None):
        self.what, self.stream, self.t0, self.shown = what, stream or sys.stderr, time.monotonic(), -1

    def __call__(self, done: int, total: int) -> None:
        if not total:
            return
        tenth = done * 10 // total
        if self.stream.isatty():
            bar = "#" * (done * 30 // total)
            end = "\n" if done == total else ""
            self.stream.write(f"\r{self.what} [{bar:<30}] {done}/{total} ({time.monotonic() - self.t0:.0f} s){end}")
        elif tenth != self.shown or done == total:
            self.stream.write(f"{self.what}: {done}/{total} ({time.monotonic() - self.t0:.0f} s)\n")
        self.shown = tenth
        self.stream.flush()
