"""Each trial's per-epoch metrics as TensorBoard scalars, and its settings as HParams, in the experiment folder.

``TensorBoardLog`` runs in the driver (a listener of Tune's events) and writes with tensorboardX, one run per trial:
``EXPERIMENT/tensorboard/TRIAL_ID/``. Every numeric metric a trial reports for an epoch is a scalar at step = epoch,
grouped by its prefix (``val/f1``, ``train/loss``, ``best/val_f1``, the rest under ``trial/``). When a trial starts
it writes its searched settings as an HParams session (lr, click mode, density or clicks per object, background
share, class weights, epochs), and when it ends the session's status: TensorBoard's HPARAMS tab then lists every
trial with its settings beside its metrics' last values (``best/...`` is the best so far, so the last value is the
trial's best) and compares them. No experiment summary is written: TensorBoard builds one from all trials' sessions,
so that every trial's settings count towards the columns and their ranges.

A resumed trial starts a new event file that tells TensorBoard to drop the steps from the first one it (re)reports:
epochs written but never recorded by Tune are not shown twice.

With a storage URI (s3://, gs://) the files are written to a local folder (``tensorboard_dir``) and copied into
``EXPERIMENT/tensorboard/`` when a trial ends and when the search ends; TensorBoard can read the local folder.

It takes the place of Ray's own TensorBoard logger, which would write ``ray/tune/...`` tags at Tune's iteration into
the trial folders and print a hint that points into Ray's temporary folder: ``search/launch/tuner.py`` keeps that one
out. No Ray here: this is a listener of the search's events, with Tune's callback arguments.
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import time
from pathlib import Path
from typing import Any

from search.launch.space import SEARCHED
from trainable.data import storage
from trainable.data.storage import is_uri
from trainable.learn.run_record import Recorded

log = logging.getLogger(__name__)
TENSORBOARD_DIR = "tensorboard"
# reported values that are bookkeeping, not metrics (Tune's own fields, times of day, ids)
NOT_METRICS = {"epoch", "trial_start_time", "timestamp", "time_this_iter_s", "time_total_s", "time_since_restore",
               "training_iteration", "iterations_since_restore", "pid", "done", "resumed_after_epoch"}


def tensorboard_dir(experiment_path: str) -> str:
    """Where the TensorBoard files are written: ``EXPERIMENT/tensorboard``, or for a storage URI a local folder
    (``~/.cache/pointtune/tensorboard/NAME-HASH``) that is copied there."""
    if not is_uri(experiment_path):
        return str(Path(experiment_path).expanduser().resolve() / TENSORBOARD_DIR)
    digest = hashlib.sha256(experiment_path.encode()).hexdigest()[:12]
    name = experiment_path.rstrip("/").rsplit("/", 1)[-1]
    return str(Path.home() / ".cache" / "pointtune" / TENSORBOARD_DIR / f"{name}-{digest}")


def scalar_tag(key: str) -> str:
    for prefix in ("val", "train", "best"):
        if key.startswith(f"{prefix}_"):
            return f"{prefix}/{key[len(prefix) + 1:]}"
    return f"trial/{key}"


def trial_hparams(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's searched settings, those that apply to its click mode (named as in the results table)."""
    per_instance = config["points"]["mode"] == "per_instance"
    skip = {"clicks_per_object", "background_share"} if not per_instance else {"density"}
    out = {}
    for section, field in SEARCHED:
        value = config.get(section, {}).get(field)
        if value is not None and field not in skip:
            out[field] = value if isinstance(value, (str, bool)) else float(value)
    return out


def _session_summary(**info: Any) -> Any:
    """A Summary holding the HParams plugin's session start info (``hparams=``) or end info (``status=``)."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    if "hparams" in info:
        start = SessionStartInfo(start_time_secs=time.time())
        for k, v in info["hparams"].items():
            if isinstance(v, bool):
                start.hparams[k].bool_value = v
            elif isinstance(v, str):
                start.hparams[k].string_value = v
            else:
                start.hparams[k].number_value = v
        data, tag = HParamsPluginData(session_start_info=start, version=0), "_hparams_/session_start_info"
    else:
        end = SessionEndInfo(status=Status.Value(info["status"]), end_time_secs=time.time())
        data, tag = HParamsPluginData(session_end_info=end, version=0), "_hparams_/session_end_info"
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams",
                                                                      content=data.SerializeToString()))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])


class TensorBoardLog:
    """Per-trial scalars (step = epoch) and HParams sessions with tensorboardX (module docstring)."""

    def __init__(self, experiment_path: str):
        self.experiment_path = experiment_path
        self.writers: dict[str, Any] = {}

    def __getstate__(self) -> dict:  # pickled into the experiment (tuner.pkl); writers are per process
        return {"experiment_path": self.experiment_path, "writers": {}}

    @property
    def local_dir(self) -> str:
        return tensorboard_dir(self.experiment_path)

    def _writer(self, trial: Any) -> Any:
        writer = self.writers.get(trial.trial_id)
        if writer is None:
            from tensorboardX import SummaryWriter

            # a restarted trial reports from the epoch after the last one its driver recorded
            # (search/launch/recorded.py; without that record, Tune's last result): TensorBoard drops what an earlier
            # file holds from there on
            recorded = Recorded.load(f"{self.experiment_path}/trial_{trial.trial_id}")
            last = (getattr(trial, "last_result", None) or {}).get("epoch")
            epoch = recorded.epoch if recorded is not None else last
            purge = int(epoch) + 1 if epoch is not None else None
            # tensorboardX names a file by the second it opens it in, and overwrites a file of that name: the suffix
            # keeps a trial restarted within the second from erasing what it wrote before
            writer = SummaryWriter(str(Path(self.local_dir) / trial.trial_id), purge_step=purge, flush_secs=30,
                                   filename_suffix=f".{time.time_ns()}")
            self.writers[trial.trial_id] = writer
        return writer

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.writers:  # restarted after a fault: a new file, purging what is re-reported
            self.writers.pop(trial.trial_id).close()
        writer = self._writer(trial)
        writer.file_writer.add_summary(_session_summary(hparams=trial_hparams(trial.config)))
        writer.flush()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if "epoch" not in result:  # an outcome without an epoch (a settings or data error)
            return
        writer, epoch = self._writer(trial), int(result["epoch"])
        for key, value in result.items():
            if key in NOT_METRICS or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            if math.isfinite(value):
                writer.add_scalar(scalar_tag(key), float(value), global_step=epoch)
        writer.flush()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.end(trial, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.end(trial, failed=True)

    def end(self, trial: Any, failed: bool) -> None:
        """Close the trial's session (failed, or with an outcome: a failure) and its file; copy it to a URI."""
        outcome = (getattr(trial, "last_result", None) or {}).get("trial_outcome")
        writer = self._writer(trial)
        writer.file_writer.add_summary(_session_summary(
            status="STATUS_FAILURE" if failed or outcome else "STATUS_SUCCESS"))
        writer.close()
        del self.writers[trial.trial_id]
        if is_uri(self.experiment_path):
            self.copy_out(trial.trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for writer in self.writers.values():  # trials still running (an interrupted search)
            writer.close()
        self.writers = {}
        if is_uri(self.experiment_path):
            self.copy_out()

    def copy_out(self, trial_id: str | None = None) -> None:
        """Copy the local files (of one trial, or all) into ``EXPERIMENT/tensorboard/`` at the storage URI."""
        base = Path(self.local_dir)
        folder = base / trial_id if trial_id else base
        try:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                storage.upload(path, f"{self.experiment_path}/{TENSORBOARD_DIR}/{path.relative_to(base).as_posix()}")
        except OSError as e:  # a flaky bucket must not stop the search; the next copy tries again
            log.warning("could not copy the TensorBoard files to %s/%s: %s", self.experiment_path, TENSORBOARD_DIR, e)
