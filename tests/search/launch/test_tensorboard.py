"""The search's TensorBoard files: one scalar per epoch and metric per trial, HParams sessions, resumed trials,
storage URIs, the summary's hint, and Ray's own TensorBoard logger kept out. No Ray cluster: fake trials."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

from search.launch.settings import SearchSettings
from search.launch.tensorboard import TensorBoardLog, tensorboard_dir
from trainable.config import TrialConfig


def read_events(folder: Path) -> list[Event]:
    """Every event in a run folder's event files (TFRecord: length, its CRC, the record, its CRC), in file order."""
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            events.append(Event.FromString(data[at + 12:at + 12 + length]))
            at += 12 + length + 4
    return events


def scalars(events: list[Event]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for e in events:
        for v in e.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, []).append((e.step, v.simple_value))
    return out


def hparams_data(events: list[Event], tag: str) -> list[HParamsPluginData]:
    return [HParamsPluginData.FromString(v.metadata.plugin_data.content)
            for e in events for v in e.summary.value if v.tag == tag]


def fake_trial(trial_id: str, epochs: int = 3, last_result: dict | None = None) -> Any:
    config = TrialConfig().to_dict()
    config["train"].update(lr=2e-3, epochs=epochs)
    config["points"].update(density=0.05)
    return SimpleNamespace(trial_id=trial_id, config=config, status="RUNNING", last_result=last_result or {})


def epoch_result(epoch: int) -> dict:
    f1 = 0.5 + epoch / 100
    return {"epoch": epoch, "val_f1": f1, "best_val_f1": f1, "val_miou": f1 - 0.1, "train_loss": 1.0 / epoch,
            "clicks_per_image": 120.0, "annotation_hours": float("nan"), "epoch_time_s": 3.0, "node_id": "abc",
            "node_ip": "127.0.0.1", "training_iteration": epoch, "time_total_s": 3.0 * epoch, "done": False,
            "trial_start_time": 1.7e9, "best_epoch": epoch}


def test_every_epoch_is_a_scalar_and_every_trial_an_hparams_session(tmp_path: Path) -> None:
    experiment = str(tmp_path / "exp")
    log = TensorBoardLog(experiment)
    good, bad = fake_trial("good0001"), fake_trial("bad00002", epochs=4)
    log.on_trial_start(0, [], good)
    log.on_trial_start(0, [], bad)
    for epoch in (1, 2, 3):
        log.on_trial_result(epoch, [], good, epoch_result(epoch))
    log.on_trial_result(1, [], bad, epoch_result(1))
    log.on_trial_complete(0, [], good)
    log.on_trial_error(0, [], bad)

    assert tensorboard_dir(experiment) == str(tmp_path / "exp" / "tensorboard")
    events = read_events(tmp_path / "exp" / "tensorboard" / "good0001")
    found = scalars(events)
    assert found["val/f1"] == [(1, pytest.approx(0.51)), (2, pytest.approx(0.52)), (3, pytest.approx(0.53))]
    assert [step for step, _ in found["train/loss"]] == [1, 2, 3]
    assert [step for step, _ in found["best/val_f1"]] == [1, 2, 3] and "trial/clicks_per_image" in found
    # bookkeeping is not plotted; a NaN (no annotation-time estimate) is left out
    assert not {"trial/epoch", "trial/training_iteration", "trial/time_total_s", "trial/trial_start_time",
                "trial/done", "trial/annotation_hours"} & set(found)

    (start,) = hparams_data(events, "_hparams_/session_start_info")
    hparams = start.session_start_info.hparams
    assert hparams["lr"].number_value == pytest.approx(2e-3) and hparams["density"].number_value == 0.05
    assert hparams["epochs"].number_value == 3 and hparams["mode"].string_value == "density"
    assert "clicks_per_object" not in hparams, "only the settings of the trial's click mode"
    (end,) = hparams_data(events, "_hparams_/session_end_info")
    assert end.session_end_info.status == 1  # STATUS_SUCCESS
    (end,) = hparams_data(read_events(tmp_path / "exp" / "tensorboard" / "bad00002"), "_hparams_/session_end_info")
    assert end.session_end_info.status == 2  # STATUS_FAILURE


def test_a_resumed_trial_purges_the_epochs_it_reports_again(tmp_path: Path) -> None:
    log = TensorBoardLog(str(tmp_path))
    trial = fake_trial("res00001")
    for epoch in (1, 2, 3):  # epoch 3 written, but the driver was killed before Tune recorded it
        log.on_trial_result(epoch, [], trial, epoch_result(epoch))
    resumed = TensorBoardLog(str(tmp_path))  # the new driver: Tune's record ends at epoch 2
    trial.last_result = epoch_result(2)
    resumed.on_trial_start(0, [], trial)
    resumed.on_trial_result(3, [], trial, epoch_result(3))
    for callback in (log, resumed):  # the writers write from a queue, in a thread of their own: closing drains it
        callback.on_experiment_end([])
    events = read_events(tmp_path / "tensorboard" / "res00001")
    starts = [e.step for e in events if e.HasField("session_log") and e.session_log.status == 1]
    assert starts == [3], "TensorBoard is told to drop steps >= 3 from earlier files"


def test_a_trial_restarted_with_a_record_purges_from_the_epoch_after_it(tmp_path: Path) -> None:
    """A resumed search's driver records what result.json holds (search/launch/recorded.py): more or less than Tune's
    snapshot, whose last result the trial then does not go by."""
    from trainable.learn.run_record import Recorded

    trial = fake_trial("rec00001")
    trial.last_result = epoch_result(2)  # Tune's snapshot
    Recorded(epoch=1).save(str(tmp_path / "trial_rec00001"))  # result.json ends at epoch 1
    log = TensorBoardLog(str(tmp_path))
    log.on_trial_start(0, [], trial)
    log.on_trial_result(2, [], trial, epoch_result(2))
    log.on_experiment_end([])
    events = read_events(tmp_path / "tensorboard" / "rec00001")
    assert [e.step for e in events if e.HasField("session_log") and e.session_log.status == 1] == [2]


def test_storage_uri_writes_locally_and_copies_into_the_experiment(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    experiment = f"file://{tmp_path}/bucket/exp"
    log = TensorBoardLog(experiment)
    trial = fake_trial("uri00001")
    log.on_trial_start(0, [], trial)
    log.on_trial_result(1, [], trial, epoch_result(1))
    local = Path(tensorboard_dir(experiment))
    assert local.is_relative_to(tmp_path / "home") and (local / "uri00001").is_dir()
    assert not (tmp_path / "bucket" / "exp" / "tensorboard").exists(), "copied when the trial ends"
    log.on_trial_complete(0, [], trial)
    copied = tmp_path / "bucket" / "exp" / "tensorboard" / "uri00001"
    assert scalars(read_events(copied))["val/f1"] == [(1, pytest.approx(0.51))]


def test_the_summary_prints_the_logdir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from search.launch.summary import print_tensorboard_hint

    print_tensorboard_hint(str(tmp_path / "exp"))
    assert capsys.readouterr().out == "", "no TensorBoard files, no hint"
    (tmp_path / "exp" / "tensorboard").mkdir(parents=True)
    print_tensorboard_hint(str(tmp_path / "exp"))
    assert f"tensorboard --logdir {tmp_path / 'exp' / 'tensorboard'}" in capsys.readouterr().out


def test_rays_own_tensorboard_logger_stays_out(tmp_path: Path) -> None:
    """The search's listeners reach Tune through one callback, which Tune counts as its TensorBoard logger."""
    import pickle

    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
    from ray.tune.utils.callback import _create_default_callbacks

    from search.launch.live_view import LiveView
    from search.launch.tuner import TuneEvents, run_config

    settings = SearchSettings(base=TrialConfig(), trials=2, storage=str(tmp_path), name="exp")
    config = run_config(settings, LiveView(settings))
    callbacks = _create_default_callbacks(list(config.callbacks), air_verbosity=None)
    tbx = [c for c in callbacks if isinstance(c, TBXLoggerCallback)]
    assert len(tbx) == 1 and isinstance(tbx[0], TuneEvents)
    assert any(isinstance(listener, TensorBoardLog) for listener in tbx[0].listeners)
    assert any(isinstance(c, CSVLoggerCallback) for c in callbacks), "results still read progress.csv"
    assert any(isinstance(c, JsonLoggerCallback) for c in callbacks)
    pickle.dumps(config.callbacks)  # Tune keeps them in tuner.pkl for --resume

