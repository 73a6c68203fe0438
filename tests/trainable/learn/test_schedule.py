"""The learning-rate schedule (trainable/learn/schedule.py) and where a run is in it (``trial.lr_in_epoch``).

Every expected value is a literal worked out by hand (the arithmetic in its comment), never the schedule's formula
run again: a run of 4 epochs of 4 steps each at a peak lr of 1e-3, so that epoch E, step S is at progress
``(E - 1 + S / 4) / 4``; a warm-up of W epochs is the first ``W / 4`` of the run, and ``t`` the progress after it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trainable.config import TrainConfig, TrialConfig
from trainable.learn.schedule import lr_at
from trainable.trial import lr_in_epoch

EPOCHS, STEPS, LR = 4, 4, 1e-3

# (schedule, warm-up epochs): [(epoch, step, progress, lr before that step)], and the lr at progress 1 (the run's end)
CASES = {
    ("poly", 0.0): ([
        (1, 0, 0.0, 1e-3),                      # 1e-3 * (1 - 0) ** 0.9
        (1, 2, 0.125, 8.867623542572073e-4),    # mid-epoch: 1e-3 * (1 - 0.125) ** 0.9 = 1e-3 * 0.875 ** 0.9
        (2, 0, 0.25, 7.718895067235705e-4),     # 1e-3 * (1 - 1/4) ** 0.9
        (3, 0, 0.5, 5.358867312681466e-4),      # 1e-3 * 0.5 ** 0.9
        (4, 0, 0.75, 2.871745887492587e-4),     # 1e-3 * 0.25 ** 0.9
    ], 0.0),                                    # 1e-3 * 0 ** 0.9
    ("poly", 1.0): ([                           # warm-up over the first 1/4 of the run
        (1, 0, 0.0, 0.0),                       # 1e-3 * 0 / 0.25
        (1, 2, 0.125, 5e-4),                    # 1e-3 * 0.125 / 0.25
        (2, 0, 0.25, 1e-3),                     # t = 0: the peak
        (3, 0, 0.5, 6.94253162661607e-4),       # t = (0.5 - 0.25) / 0.75 = 1/3: 1e-3 * (2/3) ** 0.9
        (4, 0, 0.75, 3.7204105801130144e-4),    # t = 2/3: 1e-3 * (1/3) ** 0.9
    ], 0.0),
    ("poly", 0.5): ([                           # warm-up over the first 0.5/4 = 0.125 of the run
        (1, 0, 0.0, 0.0),
        (1, 1, 0.0625, 5e-4),                   # 1e-3 * 0.0625 / 0.125
        (1, 2, 0.125, 1e-3),                    # the warm-up's end, mid-epoch: t = 0
        (2, 0, 0.25, 8.704581368591592e-4),     # t = 0.125 / 0.875 = 1/7: 1e-3 * (6/7) ** 0.9
        (3, 0, 0.5, 6.043183144790013e-4),      # t = 0.375 / 0.875 = 3/7: 1e-3 * (4/7) ** 0.9
        (4, 0, 0.75, 3.238461661916278e-4),     # t = 5/7: 1e-3 * (2/7) ** 0.9
    ], 0.0),
    ("cosine", 0.0): ([
        (1, 0, 0.0, 1e-3),                      # 1e-3 * (1 + cos 0) / 2
        (1, 2, 0.125, 9.619397662556434e-4),    # 1e-3 * (1 + cos(pi/8)) / 2 = 1e-3 * (1 + 0.9238795) / 2
        (2, 0, 0.25, 8.535533905932737e-4),     # 1e-3 * (1 + cos(pi/4)) / 2 = 1e-3 * (1 + 0.7071068) / 2
        (3, 0, 0.5, 5e-4),                      # 1e-3 * (1 + cos(pi/2)) / 2 = 1e-3 * (1 + 0) / 2
        (4, 0, 0.75, 1.4644660940672627e-4),    # 1e-3 * (1 - 0.7071068) / 2
    ], 0.0),                                    # 1e-3 * (1 + cos(pi)) / 2
    ("cosine", 1.0): ([
        (1, 0, 0.0, 0.0),
        (1, 2, 0.125, 5e-4),                    # 1e-3 * 0.125 / 0.25
        (2, 0, 0.25, 1e-3),                     # t = 0
        (3, 0, 0.5, 7.5e-4),                    # t = 1/3: 1e-3 * (1 + cos(pi/3)) / 2 = 1e-3 * 1.5 / 2
        (4, 0, 0.75, 2.5e-4),                   # t = 2/3: 1e-3 * (1 - 0.5) / 2
    ], 0.0),
    ("cosine", 0.5): ([
        (1, 1, 0.0625, 5e-4),                   # 1e-3 * 0.0625 / 0.125
        (1, 2, 0.125, 1e-3),                    # t = 0
        (2, 0, 0.25, 9.504844339512095e-4),     # t = 1/7: 1e-3 * (1 + cos(pi/7)) / 2 = 1e-3 * (1 + 0.9009689) / 2
        (3, 0, 0.5, 6.112604669781572e-4),      # t = 3/7: 1e-3 * (1 + cos(3pi/7)) / 2 = 1e-3 * (1 + 0.2225209) / 2
        (4, 0, 0.75, 1.8825509907063326e-4),    # t = 5/7: 1e-3 * (1 + cos(5pi/7)) / 2 = 1e-3 * (1 - 0.6234898) / 2
    ], 0.0),
    ("constant", 0.0): ([
        (1, 0, 0.0, 1e-3), (1, 2, 0.125, 1e-3), (2, 0, 0.25, 1e-3), (3, 0, 0.5, 1e-3), (4, 0, 0.75, 1e-3),
    ], 1e-3),
    ("constant", 1.0): ([
        (1, 0, 0.0, 0.0),
        (1, 2, 0.125, 5e-4),                    # 1e-3 * 0.125 / 0.25
        (2, 0, 0.25, 1e-3), (3, 0, 0.5, 1e-3), (4, 0, 0.75, 1e-3),
    ], 1e-3),
    ("constant", 0.5): ([
        (1, 1, 0.0625, 5e-4),                   # 1e-3 * 0.0625 / 0.125
        (1, 2, 0.125, 1e-3), (2, 0, 0.25, 1e-3), (4, 0, 0.75, 1e-3),
    ], 1e-3),
}


def _train(schedule: str, warmup: float, pseudo_labels: float | None = None) -> TrainConfig:
    return TrainConfig(lr=LR, epochs=EPOCHS, lr_schedule=schedule, poly_power=0.9, warmup_epochs=warmup,
                       pseudo_labels=pseudo_labels)


def _run(train: TrainConfig) -> SimpleNamespace:
    """What ``lr_in_epoch`` reads of a run: its config and its optimizer steps per epoch."""
    return SimpleNamespace(cfg=TrialConfig(train=train), steps=STEPS)


@pytest.mark.parametrize(("schedule", "warmup"), list(CASES), ids=[f"{s}-warmup{w:g}" for s, w in CASES])
def test_lr_at_every_epoch_and_mid_epoch(schedule: str, warmup: float) -> None:
    points, at_end = CASES[schedule, warmup]
    train = _train(schedule, warmup)
    train.validate()  # the settings are ones a user may give
    for _, _, progress, expected in points:
        assert lr_at(train, progress) == pytest.approx(expected, rel=1e-12, abs=1e-15), progress
    assert lr_at(train, 1.0) == pytest.approx(at_end, abs=1e-15)


@pytest.mark.parametrize(("schedule", "warmup"), list(CASES), ids=[f"{s}-warmup{w:g}" for s, w in CASES])
def test_lr_in_epoch_is_the_schedule_at_that_step(schedule: str, warmup: float) -> None:
    points, _ = CASES[schedule, warmup]
    run = _run(_train(schedule, warmup))
    for epoch, step, _, expected in points:
        assert lr_in_epoch(run, epoch, step) == pytest.approx(expected, rel=1e-12, abs=1e-15), (epoch, step)


@pytest.mark.parametrize(("schedule", "warmup"), [("poly", 1.0), ("cosine", 0.5), ("constant", 1.0)])
def test_the_second_stage_of_self_training_restarts_the_schedule(schedule: str, warmup: float) -> None:
    """Epoch ``epochs + E`` (the second stage's E-th) is at the lr of epoch E, warm-up included."""
    points, _ = CASES[schedule, warmup]
    run = _run(_train(schedule, warmup, pseudo_labels=0.9))
    assert run.cfg.train.total_epochs == 8
    for epoch, step, _, expected in points:
        assert lr_in_epoch(run, EPOCHS + epoch, step) == pytest.approx(expected, rel=1e-12, abs=1e-15), (epoch, step)


def test_the_last_step_of_the_last_epoch_is_before_the_end() -> None:
    """Epoch 4's last step (3 of 0..3) is at progress (3 + 3/4) / 4 = 0.9375: poly 1e-3 * 0.0625 ** 0.9."""
    run = _run(_train("poly", 0.0))
    assert lr_in_epoch(run, 4, 3) == pytest.approx(8.246924442330589e-05, rel=1e-12)  # 0.0625 ** 0.9 = 0.0824692


def test_progress_outside_the_run_is_clamped_to_its_ends() -> None:
    train = _train("poly", 1.0)
    assert lr_at(train, -0.5) == 0.0  # the warm-up's start
    assert lr_at(train, 1.5) == 0.0  # the poly decay's end
    assert lr_at(_train("constant", 0.0), 2.0) == 1e-3
