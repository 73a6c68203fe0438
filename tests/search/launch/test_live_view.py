"""The search's progress output: the live table on a (fake) terminal, the plain lines elsewhere, the time left, and
the batch progress trials report (no Ray cluster except in the last, slow, test)."""

from __future__ import annotations

import io
import logging
import pickle
import re
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import search.launch.live_view
from search.launch.live_view import LiveView
from search.launch.progress import SearchTracker, format_duration
from search.launch.settings import SearchSettings, SearchSpace
from trainable.config import TrialConfig
from trainable.progress_board import BatchReporter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def fake_trial(trial_id: str, epochs: int, lr: float = 1e-3, density: float = 0.02, status: str = "RUNNING") -> Any:
    config = TrialConfig().to_dict()
    config["train"].update(lr=lr, epochs=epochs)
    config["points"].update(density=density)
    return SimpleNamespace(trial_id=trial_id, config=config, status=status, last_result={})


def result(epoch: int, f1: float, best: float, seconds: float = 10.0) -> dict:
    return {"epoch": epoch, "val_f1": f1, "best_val_f1": best, "val_miou": f1 - 0.1, "epoch_time_s": seconds,
            "node_ip": "10.0.0.7", "node_id": "abcdef0123456789", "time_this_iter_s": seconds}


class FakeBoard:
    """What ``BoardReader`` gives the view: the trials' batch progress, once."""

    def __init__(self, progress: dict):
        self.progress = progress

    def read(self) -> dict | None:
        progress, self.progress = self.progress, None
        return progress


@pytest.fixture
def settings(tmp_path: Any) -> SearchSettings:
    return SearchSettings(base=TrialConfig(), space=SearchSpace(epochs=(2, 4)), trials=3, storage=str(tmp_path),
                          name="live")


def run_two_trials(view: LiveView) -> tuple[Any, Any]:
    """Two trials of three run: a's first epoch and b's, b 37 batches into its second, a ends after its second."""
    a, b = fake_trial("aaaa0001", epochs=2, lr=1e-3), fake_trial("bbbb0002", epochs=4, lr=5e-4, density=0.05)
    trials = [a, b]
    view.setup(total_num_samples=3)
    view.on_trial_start(0, trials, a)
    view.on_trial_start(0, trials, b)
    view.on_trial_result(1, trials, a, result(1, 0.61, 0.61))
    view.on_trial_result(2, trials, b, result(1, 0.55, 0.55))
    view.on_step_end(2, trials)
    return a, b


def test_live_table_updates_in_place_with_progress_within_the_epoch_and_time_left(
        settings: SearchSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.launch.live_view, "REFRESH_S", 0.0)
    screen = io.StringIO()
    console = search.launch.live_view.Console(file=screen, force_terminal=True, width=120, height=30)
    view = LiveView(settings, console=console, board=FakeBoard({"bbbb0002": (2, 37, 120, 0.0)}))
    stderr = sys.stderr
    handler = logging.StreamHandler(stderr)  # a handler made before the view, on the real stderr
    logging.getLogger().addHandler(handler)
    try:
        a, b = run_two_trials(view)
        assert view.live is not None, "a terminal gets the live table"
        logging.getLogger("search.launch.run").warning("a real warning")
    finally:
        logging.getLogger().removeHandler(handler)

    # time left: mean epoch 10 s x (2 + 4 + 3 planned epochs (the third trial at the middle of 2..4) - 2 done
    # - 37/120 of b's second) / 2 trials at once
    left = view.tracker.remaining_s()
    assert left == pytest.approx(10 * (9 - 2 - 37 / 120) / 2)
    frame = io.StringIO()
    search.launch.live_view.Console(file=frame, width=120, color_system=None).print(view.render())
    text = frame.getvalue()
    row_b = next(line for line in text.splitlines() if "bbbb0002" in line)
    for cell in ("running", "lr 5.00e-04", "density 5.00e-02", "1/4", "batch 37/120", "0.5500", "10.0.0.7"):
        assert cell in row_b, (cell, row_b)
    assert "0/3 done, 2 running" in text and f"~{format_duration(left)} left" in text and "2/~9" in text

    view.on_trial_result(3, [a, b], a, result(2, 0.66, 0.66))
    view.on_trial_complete(3, [a, b], a)  # Tune calls it while the trial is still RUNNING
    view.on_step_end(3, [a, b])
    b.status = "ERROR"
    view.on_trial_error(4, [a, b], b)
    a.status = "TERMINATED"
    view.on_experiment_end([a, b])
    assert view.live is None

    out = screen.getvalue()
    assert "\x1b[1A" in out or "\x1b[2K" in out, "the table is redrawn in place (cursor moves), not appended"
    plain = ANSI.sub("", out)
    last = plain[plain.rindex("trial "):]  # the last frame stays on the screen
    assert re.search(r"aaaa0001 +finished .* 2/2 .* 0\.6600 +0\.6600 +10\.0\.0\.7", last), last
    assert re.search(r"bbbb0002 +failed", last), last
    assert "[bbbb0002] FAILED" in plain, "a failure also goes to the scrollback"
    assert "a real warning" in plain and handler.stream is stderr, "log records go above the table meanwhile"
    assert "2/3 done" in last


def test_plain_lines_when_the_output_is_not_a_terminal(settings: SearchSettings) -> None:
    out = io.StringIO()
    view = LiveView(settings, console=search.launch.live_view.Console(file=out, width=120))
    a, b = run_two_trials(view)
    view.on_trial_result(3, [a, b], a, result(2, 0.66, 0.66))
    view.on_trial_complete(3, [a, b], a)
    assert view.live is None
    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue()
    assert lines[0].startswith("[aaaa0001] started   lr 1.00e-03  density 2.00e-02  epochs 2")
    assert lines[2].startswith("[aaaa0001] epoch 1/2  val_f1 0.6100")
    # the first result has timed an epoch: the time left is known from there on
    assert all(line.endswith(" left") and "trials done]" in line for line in lines[2:5]), lines
    assert lines[-1] == "[aaaa0001] finished"


def test_off_a_terminal_a_periodic_line_says_where_the_running_trials_are(
        settings: SearchSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search whose epochs take half an hour is not silent for half an hour in a log: the board of batch progress
    is opened off a terminal too, and after ``PLAIN_EVERY_S`` seconds without a line one says where the running
    trials are, with the time left."""
    import search.launch.console

    opened: list[str] = []

    def open_board(experiment: str) -> FakeBoard:
        opened.append(experiment)
        return FakeBoard({"bbbb0002": (2, 37, 120, 0.0)})

    out = io.StringIO()
    view = LiveView(settings, console=search.launch.live_view.Console(file=out, width=120), open_board=open_board)
    a, b = run_two_trials(view)  # its on_step_end reads the board, within the interval: no line yet
    assert opened == [settings.experiment_path] and view.live is None
    assert "running:" not in out.getvalue(), "within the interval after the last line: nothing more"
    monkeypatch.setattr(search.launch.console, "PLAIN_EVERY_S", 0.0)
    view.on_step_end(3, [a, b])
    line = out.getvalue().splitlines()[-1]
    left = format_duration(view.tracker.remaining_s())
    assert line == f"running: [aaaa0001] epoch 2/2, [bbbb0002] epoch 2/4 batch 37/120  [0/3 trials done]  ~{left} left"
    view.tracker.trials["bbbb0002"].batch = (2, 120, 120)
    view.on_step_end(4, [a, b])
    assert "[bbbb0002] epoch 2/4 validating  [0/3" in out.getvalue().splitlines()[-1]


def test_ended_trials_take_their_remaining_epochs_out_of_the_estimate() -> None:
    tracker = SearchTracker(planned=2, epochs_range=(2, 4), objective="best_val_f1")
    a, b = fake_trial("a", epochs=4), fake_trial("b", epochs=4)
    tracker.sync([a, b])
    assert tracker.remaining_s() is None, "no estimate before an epoch is timed"
    tracker.result(a, result(1, 0.5, 0.5, seconds=20.0))
    tracker.result(b, result(1, 0.5, 0.5, seconds=20.0))
    assert tracker.epochs() == (2, 8) and tracker.remaining_s() == pytest.approx(20 * 6 / 2)
    tracker.ended(a)  # stopped by ASHA after one of its four epochs
    assert tracker.trials["a"].state == "stopped early"
    assert tracker.epochs() == (2, 5) and tracker.remaining_s() == pytest.approx(20 * 3 / 1)
    tracker.result(b, {"trial_outcome": "diverged", "trial_error": "loss became nan"})
    tracker.sync([a, b])
    assert tracker.trials["b"].state == "diverged" and tracker.remaining_s() == 0


def test_a_resumed_search_shows_where_its_trials_got_to(settings: SearchSettings) -> None:
    done = fake_trial("done0001", epochs=2, status="TERMINATED")
    done.last_result = result(2, 0.7, 0.7)
    tracker = SearchTracker(planned=2, epochs_range=(2, 2), objective="best_val_f1")
    tracker.sync([done])
    row = tracker.trials["done0001"]
    assert (row.state, row.epoch, row.best_f1) == ("finished", 2, 0.7) and tracker.epoch_seconds == []


def test_the_view_pickles_without_its_terminal(settings: SearchSettings) -> None:
    """Tune pickles the callbacks into the experiment (and restores them on --resume)."""
    view = LiveView(settings, console=search.launch.live_view.Console(file=io.StringIO(), force_terminal=True),
                    board=FakeBoard({}))
    view.setup(total_num_samples=3)
    try:
        copy = pickle.loads(pickle.dumps(view))
    finally:
        view.close()
    assert copy.live is None and copy.console is None and copy.board is None and copy.settings == settings


def test_the_train_loop_tells_its_batches_and_the_reporter_throttles_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainable.learn.loop import train_one_epoch

    class Segmenter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"out": self.conv(x)}

    model = Segmenter()
    batches = [{"image": torch.randn(2, 3, 8, 8), "mask": torch.randint(0, 3, (2, 8, 8)),
                "redraws": torch.zeros(2, dtype=torch.long)} for _ in range(5)]
    told: list[tuple[int, int]] = []
    train_one_epoch(model, batches, torch.optim.SGD(model.parameters(), 0.1), torch.device("cpu"), 3,
                    on_batch=lambda done, total: told.append((done, total)))
    assert told == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5)]

    sent: list[tuple] = []
    clock = iter([0.0, 0.5, 1.0, 2.5, 3.0, 3.1, 9.0])
    monkeypatch.setattr("trainable.progress_board.time.monotonic", lambda: next(clock))
    reporter = BatchReporter(lambda *told: sent.append(told) or True, every_s=2.0)
    for done in range(5):
        reporter(1, done, 5)
    reporter(1, 5, 5)  # the end of training is always told (validation starts)
    reporter(1, 0, 3, "validate")  # validation batches stay in the trial
    assert sent == [(1, 0, 5), (1, 3, 5), (1, 5, 5)]
    reporter.send = lambda *told: False  # the board has gone away: reporting stops
    reporter(2, 0, 5)
    assert reporter.send is None


@pytest.mark.slow
def test_trials_find_the_drivers_board(ray_local, settings: SearchSettings) -> None:
    from search.launch.tuner import BoardReader, start_board
    from trainable.tune_trial import batch_reporter

    assert batch_reporter("/no/such/search", "t1") is None, "no board: nothing is reported"
    reader = BoardReader(start_board(settings.experiment_path), every_s=0.0)

    @ray_local.remote(num_cpus=0)
    def trial() -> None:
        reporter = batch_reporter(settings.experiment_path, "t1")
        assert reporter is not None
        reporter(3, 0, 120)
        ray_local.get(reporter.send.pending)

    ray_local.get(trial.remote())
    snapshot = None
    for _ in range(200):
        snapshot = reader.read() or snapshot
        if snapshot:
            break
        time.sleep(0.05)  # a moment for the snapshot call
    assert snapshot and snapshot["t1"][:3] == (3, 0, 120)


def test_a_short_terminal_shows_the_running_trials_and_counts_the_rest(settings: SearchSettings) -> None:
    view = LiveView(settings)
    view.tracker = SearchTracker(planned=20, epochs_range=(2, 4), objective="best_val_f1")
    trials = [fake_trial(f"t{i:07d}", epochs=2, status="TERMINATED" if i < 17 else "RUNNING") for i in range(20)]
    for t in trials[:17]:
        view.tracker.result(t, result(2, 0.5 + t.config["train"]["epochs"] / 100, 0.5))
    view.tracker.sync(trials)
    frame = io.StringIO()
    console = search.launch.live_view.Console(file=frame, width=120, height=16, color_system=None)
    console.print(view.render(console))
    text = frame.getvalue()
    assert all(f"t{i:07d}" in text for i in (17, 18, 19)), "running trials come first"
    assert "... 13 more trial(s) (0 running or pending): `pointtune results` lists them all" in text
    assert "17/20 done, 3 running" in text


def test_the_data_checks_draw_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    from search.launch.console import CheckProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, log = Terminal(), io.StringIO()
    for stream in (screen, log):
        progress = CheckProgress(stream=stream)
        for done in range(0, 25):
            progress(done, 24)
    assert progress.bar is None
    drawn = ANSI.sub("", screen.getvalue())
    assert "checking images" in drawn and "24/24" in drawn and "━" in drawn
    assert log.getvalue().splitlines()[-1].startswith("checking images: 24/24 (")
    assert "\x1b[" not in log.getvalue() and len(log.getvalue().splitlines()) == 11
