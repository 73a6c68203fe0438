"""How the report's tables mark a trial's status: its css class and what it says (the figures' colours and markers
are ``search.results.charts.style``)."""

from __future__ import annotations

# status -> (css mark, what the mark says)
MARKS = {"finished": ("finished", "finished"), "stopped early": ("stopped", "stopped early by the scheduler"),
         "failed": ("failed", "failed"), "diverged": ("diverged", "diverged (loss NaN or infinite)"),
         "running": ("running", "still running"), "pending": ("pending", "waiting to start"),
         "paused": ("paused", "paused"),
         "interrupted": ("paused", "interrupted: its search or run was stopped before it ended; --resume (`pointtune "
                         "run --resume`, `pointtune train --resume`) continues it"),
         "warm start": ("pending", "an earlier run put into this search's study (--warm-start): it taught the "
                        "searcher, it is not this search's trial")}

def status_mark(status: str) -> str:
    """The css mark of a trial's status (``failed``, ``stopped``, ``running``, ...)."""
    return MARKS.get(status, (status.replace(" ", "-"), status))[0]

