"""``train``'s progress: the clock's rates and times left, plain lines at an interval off a terminal, one line
updating in place on a (fake) terminal. No training here: ``tests/search/launch/test_train_cli.py`` runs a real one."""

from __future__ import annotations

import io
import re

import pytest

from search.launch.train_progress import RunClock, TrainProgress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    """A clock a test sets."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_clock_times_training_validation_and_the_epochs_left() -> None:
    t = Clock()
    clock = RunClock(epochs=3, batch_size=8, val_batches=4, clock=t)
    assert clock.line() == "preparing the data and the model"
    clock.tell(1, 0, 10)
    assert clock.line() == "epoch 1/3: batch 0/10, time left: known after the first batch"
    t.t = 5.0
    clock.tell(1, 5, 10)  # 1 s a batch: 8 crops/s; validation counted at a third of a step a batch
    assert clock.epoch_left_s() == pytest.approx(5 + 4 / 3)
    # two more epochs, each as long as this one will have been (5 s so far + what is left)
    assert clock.run_left_s() == pytest.approx(5 + 4 / 3 + 2 * (5 + 5 + 4 / 3))
    assert clock.line() == "epoch 1/3: batch 5/10, 8.0 crops/s, ~6 s left in the epoch, ~29 s in the run"
    t.t = 10.0
    clock.tell(1, 10, 10)  # training ended: it validates next
    assert clock.line().startswith("epoch 1/3: validating, ~1 s left in the epoch")
    t.t = 11.0
    clock.tell(1, 0, 4, "validate")
    t.t = 12.0
    clock.tell(1, 2, 4, "validate")  # 0.5 s a validation batch: 16 tiles/s
    assert clock.epoch_left_s() == pytest.approx(1.0) and clock.run_left_s() == pytest.approx(1 + 2 * 13)
    assert clock.line() == "epoch 1/3: validating 2/4, 16.0 tiles/s, ~1 s left in the epoch, ~27 s in the run"
    t.t = 14.0
    clock.tell(2, 0, 10)  # the first epoch took 14 s: the last one will too
    assert clock.epoch_s == [14.0]
    assert clock.epoch_left_s() == pytest.approx(10 * 1 + 4 * 0.5) and clock.run_left_s() == pytest.approx(12 + 14)
    t.t = 30.0
    clock.tell(3, 0, 10, "test")  # scoring the test images (images, not batches)
    t.t = 36.0
    clock.tell(3, 2, 3, "test")
    assert clock.line() == "test score: image 2/3, ~3 s left"


def test_off_a_terminal_a_plain_line_every_interval_not_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import search.launch.console

    monkeypatch.setattr(search.launch.console, "PLAIN_EVERY_S", 10.0)
    t, out = Clock(), io.StringIO()
    with TrainProgress(epochs=2, batch_size=4, val_batches=2, stream=out, clock=t) as progress:
        assert progress.live is None
        for second in range(31):  # a batch a second
            t.t = float(second)
            progress(1, second, 100)
        t.t = 35.0
        progress.scoring(0, 5)
        t.t = 41.0
        progress.scoring(1, 5)  # 6 s an image
    lines = out.getvalue().splitlines()
    # 90 batches of 1 s and 2 validation batches of 1/3 s left: ~2 min in the epoch; then an epoch of ~101 s
    assert lines[:3] == ["epoch 1/2: batch 10/100, 4.0 crops/s, ~2 min left in the epoch, ~3 min in the run",
                         "epoch 1/2: batch 20/100, 4.0 crops/s, ~1 min left in the epoch, ~3 min in the run",
                         "epoch 1/2: batch 30/100, 4.0 crops/s, ~1 min left in the epoch, ~3 min in the run"]
    assert lines[3] == "test score: image 1/5, ~24 s left" and len(lines) == 4


def test_on_a_terminal_one_line_updates_in_place_and_the_epochs_lines_scroll_above() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, t = Terminal(), Clock()
    with TrainProgress(epochs=2, batch_size=4, val_batches=2, stream=screen, clock=t) as progress:
        assert progress.live is not None
        progress(1, 0, 10)
        t.t = 2.0
        progress(1, 4, 10)
        progress.live.refresh()
        print("epoch 1/2  train_loss 1.0000")  # what the run prints meanwhile goes above the live line
        t.t = 3.0
        progress(1, 6, 10)
        progress.live.refresh()
    drawn = screen.getvalue()
    assert "\x1b[" in drawn, "drawn with cursor moves, not appended"
    plain = ANSI.sub("", drawn)
    assert "epoch 1/2: batch 4/10, 8.0 crops/s" in plain and "epoch 1/2: batch 6/10" in plain
    assert "epoch 1/2  train_loss 1.0000" in plain and "━" in plain
