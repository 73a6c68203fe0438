"""The search on a terminal: one table of the trials that updates in place, bars for trials and epochs, time left.

``LiveView`` is the search's progress listener. Where stdout is a terminal it draws with ``rich.live``: each trial's
id, state, parameters, epoch, progress within the epoch (from ``trainable/progress_board.py``), validation F1, best
F1 and node, then the search's bars and the estimated time left (``SearchTracker``). Anything else printed meanwhile
(log records, warnings, trial output) scrolls above the table. Elsewhere (CI, a log file, ``ray job logs``) it prints
``ProgressPrinter``'s lines, the periodic line of the running trials' batches with them. The choice is made when a
search (or a resumed one) starts: Tune restores this listener from the experiment on ``--resume``. No Ray here: the
board that tells the batches is opened by ``open_board``, in both cases.
"""

from __future__ import annotations

import atexit
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from search.launch.progress import (
    ACTIVE,
    ProgressPrinter,
    SearchTracker,
    TrialState,
    describe_params,
    format_duration,
)
from search.launch.settings import SearchSettings

STYLES = {"running": "green", "pending": "dim", "paused": "yellow", "finished": "blue", "stopped early": "cyan",
          "failed": "red", "diverged": "red"}
# the table is redrawn at most this often: once a second keeps its clock ticking, and the driver shares the trials' CPUs
# (a frame of 16 trials costs ~10 ms of CPU; the board tells batches once a second at most)
REFRESH_S = 1.0


class LiveView(ProgressPrinter):
    """A table updating in place on a terminal, else ``ProgressPrinter``'s lines.

    Args:
        settings: the search's settings (objective, planned trials, the experiment folder).
        console: where to draw; stdout when None. Live mode needs ``console.is_terminal``.
        board: what tells the trials' batch progress (an object with ``read() -> dict | None``); None: the one
            ``open_board(experiment)`` opens at setup (``search/launch/tuner.py``'s, the search's progress board),
            or none.
        open_board: opens the search's board, or returns None (pickled with the view: a module-level function).
    """

    def __init__(self, settings: SearchSettings, console: Console | None = None, board: Any = None,
                 open_board: Callable[[str], Any] | None = None):
        super().__init__(settings, board=board)
        self.console, self.open_board = console, open_board
        self.live: Live | None = None
        self.rerouted: list[tuple[logging.StreamHandler, Any]] = []
        self.drawn = -math.inf

    def __getstate__(self) -> dict:
        # Tune pickles the callbacks into the experiment (tuner.pkl): terminals and actors stay behind
        state = self.__dict__.copy()
        state.update(console=None, board=None, live=None, rerouted=[])
        return state

    # --------------------------------------------------------------------------------------- setup and teardown

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        super().setup(stop, num_samples, total_num_samples, **info)
        if self.board is None and self.open_board is not None:  # before the first trial: trials look for it at start
            self.board = self.open_board(self.settings.experiment_path)
        console = self.console or Console()
        if not console.is_terminal or console.is_dumb_terminal:
            self.live, self.out = None, console.file if self.console is not None else None
            return
        out, err = sys.stdout, sys.stderr
        self.live = Live(self.render(console), console=console, auto_refresh=False, transient=False,
                         vertical_overflow="crop")
        self.live.start()
        # handlers made before the live view hold the real stdout/stderr: send their records above the table too
        self.rerouted = []
        for name in ("", "ray"):
            for handler in logging.getLogger(name).handlers:
                if type(handler).__name__ != "FileHandler" and isinstance(handler, logging.StreamHandler) \
                        and handler.stream in (out, err):
                    self.rerouted.append((handler, handler.setStream(sys.stdout if handler.stream is out
                                                                     else sys.stderr)))
        atexit.register(self.close)

    def close(self) -> None:
        """Stop drawing (the last table stays on the screen) and give the log handlers their streams back."""
        if self.live is None:
            return
        for handler, stream in self.rerouted:
            handler.setStream(stream)
        self.rerouted = []
        live, self.live = self.live, None
        live.update(self.render(live.console), refresh=True)
        live.stop()
        atexit.unregister(self.close)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.live is not None:
            self.tracker.sync(trials)
        self.close()

    # ---------------------------------------------------------------------------------------------- trial events

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.live is None:
            return super().on_trial_start(iteration, trials, trial, **info)
        self.tracker.sync(trials)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.live is None:
            return super().on_trial_result(iteration, trials, trial, result, **info)
        row = self.tracker.result(trial, result)
        self.tracker.sync(trials)
        if result.get("trial_outcome"):  # kept in the scrollback: the table shows only the state
            self.live.console.print(f"[{trial.trial_id}] {result['trial_outcome'].upper()}  {row.note}",
                                    markup=False, highlight=False)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.live is None:
            return super().on_trial_complete(iteration, trials, trial, **info)
        self.tracker.ended(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.live is None:
            return super().on_trial_error(iteration, trials, trial, **info)
        self.tracker.ended(trial, failed=True)
        self.live.console.print(f"[{trial.trial_id}] FAILED    {describe_params(trial.config)} "
                                "(see `pointtune results`)", markup=False, highlight=False)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self.live is None:
            return super().on_step_end(iteration, trials, **info)
        snapshot = self.board.read() if self.board is not None else None
        if snapshot:
            self.tracker.batches(snapshot)
        if time.monotonic() - self.drawn >= REFRESH_S:
            self.tracker.sync(trials)
            self.refresh()

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render(self.live.console), refresh=True)
            self.drawn = time.monotonic()

    # ------------------------------------------------------------------------------------------------- drawing

    def render(self, console: Console | None = None) -> RenderableType:
        """The table of trials, the bars and the time left."""
        t = self.tracker
        height = console.height if console is not None else 40
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        # fixed widths where the content changes, so that the columns do not shift from one frame to the next
        for name, justify, width in (("trial", "left", None), ("state", "left", 13), ("params", "left", None),
                                     ("epochs", "right", 7), ("this epoch", "left", 13), ("val F1", "right", 6),
                                     ("best F1", "right", 7)):
            table.add_column(name, justify=justify, no_wrap=name != "params", min_width=width)
        extra = t.objective not in ("best_val_f1",)  # a search ranked by another metric shows that too
        if extra:
            table.add_column(t.objective, justify="right")
        table.add_column("node", no_wrap=True)
        rows = _ordered(t.trials.values())
        room = max(height - 9, 3)
        hidden = rows[room:] if len(rows) > room else []
        for r in rows[:room]:
            cells = [r.trial_id, Text(r.state, style=STYLES.get(r.state, "")), r.params, f"{r.epoch}/{r.epochs}",
                     r.activity(), _num(r.f1), _num(r.best_f1)]
            if extra:
                cells.append(_num(r.objective))
            table.add_row(*cells, r.node)
        if hidden:
            table.caption = f"... {len(hidden)} more trial(s) ({sum(r.state in ACTIVE for r in hidden)} running " \
                            "or pending): `pointtune results` lists them all"
        bars = _bars(t, time.monotonic() - getattr(self, "t0", time.monotonic()))
        return Group(table, Text(""), bars)


def _bars(t: SearchTracker, elapsed_s: float) -> Table:
    """The search's bars (trials, epochs) and its time so far and left."""
    done, planned = t.epochs()
    left = t.remaining_s()
    running = sum(r.state == "running" for r in t.trials.values())
    bars = Table.grid(padding=(0, 1))
    bars.add_column(no_wrap=True)
    bars.add_column(width=40)
    bars.add_column(no_wrap=True)
    bars.add_row("trials", ProgressBar(total=max(t.planned, 1), completed=t.trials_done, width=40),
                 f"{t.trials_done}/{t.planned} done, {running} running")
    bars.add_row("epochs", ProgressBar(total=max(planned, 1), completed=done, width=40),
                 f"{done:.0f}/{'~' if t.planned > len(t.trials) else ''}{planned:.0f}")
    when = ("done" if t.trials_done >= t.planned else "time left: known after the first epoch" if left is None
            else f"~{format_duration(left)} left")
    bars.add_row("time", "", f"{format_duration(elapsed_s)} so far, {when}")
    return bars


def _ordered(rows: Any) -> list[TrialState]:
    """Running first, then pending and paused, then ended trials best first."""
    order = {"running": 0, "paused": 1, "pending": 2}

    def key(r: TrialState) -> tuple:
        best = r.objective if not math.isnan(r.objective) else -math.inf
        return (order.get(r.state, 3), -best if r.state not in order else 0, r.trial_id)

    return sorted(rows, key=key)


def _num(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.4f}"

