"""``pointtune train``: one training run into an ``--out`` folder that is a model, scored once on its test part.

The folder (file names: ``search/results/experiment.py``):

- ``config.yaml``: the resolved config; ``train --resume`` rebuilds the run from it.
- ``metrics.csv``: one row per epoch.
- ``best.pt``: the best epoch's model, the file ``pointtune export`` writes (``evaluate``, ``predict``, ``report`` and
  ``export`` take it, or the folder); after the last epoch it also holds the test score (``test_metrics``).
- ``last.pt``: the last epoch's weights, optimizer and history, what ``train --resume`` continues from.
- ``test_scores.json``: the one score of the model on the split's held-out test part, as a search keeps it.
- ``outcome.txt``: ``diverged: ...``, ``failed: ...`` or ``interrupted: ...`` when the run did not finish;
  ``running.json``: the host and pid of the process training into the folder, while it runs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from search.errors import SearchError
from search.files import (
    CLICKS_RECORD,
    DONE_FILE,
    TRAIN_CONFIG,
    TRAIN_METRICS,
    TRAIN_MODEL,
    TRAIN_OUTCOME,
    TRAIN_RESUME,
    TRAIN_RUNNING,
)
from search.launch.console import CheckProgress
from search.launch.time_estimate import epoch_work, warn_if_long_run
from search.launch.train_progress import TrainProgress
from search.model.adapt import adaptation_flag, adaptation_images, adaptation_meta
from search.model.evaluate import test_score_line
from search.outputs import HOLDS_TRAIN_RUN, config_inputs, folder_holds, plan_folder
from search.results.driver import this_process
from search.results.experiment import is_train_folder, train_status
from search.results.rounds import record_clicks
from trainable.config import METRICS, TrialConfig
from trainable.data import storage
from trainable.data.index import DatasetIndex, build_index
from trainable.data.node_cache import NodeCache
from trainable.data.storage import is_uri
from trainable.inputs import resolve_for_data
from trainable.learn.checkpoint import CHECKPOINT_FILE, atomic_torch_save, load_checkpoint
from trainable.learn.model import resolve_weights, resolved_config
from trainable.trial import pick_device, run_trial

SUMMARY_KEYS = ("train_loss", "train_f1", "val_loss", "val_oa", "val_precision", "val_recall", "val_f1", "val_miou")


def format_epoch(metrics: dict[str, Any], epochs: int) -> str:
    """An epoch's lines (``epochs``: the run's last epoch, over its stages); a second stage's say so and how much it
    pseudo-labelled."""
    stage = (f" (stage 2: {metrics['pseudo_labelled_fraction']:.1%} pseudo-labelled)"
             if metrics.get("stage") == 2 else "")
    parts = [f"epoch {metrics['epoch']}/{epochs}{stage}"] + [f"{k} {metrics[k]:.4f}" for k in SUMMARY_KEYS
                                                             if k in metrics]
    per_class = [f"{k[7:]} {v:.3f}" for k, v in metrics.items() if k.startswith("val_f1_") and not math.isnan(v)]
    return "  ".join(parts) + f"  ({metrics['epoch_time_s']:.1f}s)\n    val F1 per class: " + ", ".join(per_class)


def resume_command(out: str | Path) -> str:
    return shlex.join(["pointtune", "train", "--resume", "--out", str(out)])


class RunDirectory:
    """The ``--out`` folder as the run writes it (module docstring); ``resume_after``: continue a run whose resume
    state is of that epoch (its ``metrics.csv`` keeps the rows up to it)."""

    def __init__(self, out: str | Path, cfg: TrialConfig, resume_after: int | None = None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.csv = self.out / TRAIN_METRICS
        if resume_after is None:
            self.csv.unlink(missing_ok=True)
        else:
            self._keep_rows(resume_after)
        (self.out / TRAIN_CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        self.best = -math.inf
        self.epochs = cfg.train.total_epochs
        self.metric = cfg.train.metric
        self.diverged = False

    def _keep_rows(self, last_epoch: int) -> None:
        if not self.csv.is_file():
            return
        with self.csv.open(newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], [r for r in reader if int(float(r["epoch"])) <= last_epoch]
        with self.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    @property
    def recorded_epoch(self) -> int:
        """The last epoch ``metrics.csv`` holds (0: none)."""
        if not self.csv.is_file():
            return 0
        with self.csv.open(newline="") as f:
            return max((int(float(r["epoch"])) for r in csv.DictReader(f)), default=0)

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        if metrics.get("trial_outcome"):  # diverged: no validation, no checkpoint
            print(metrics["trial_error"], flush=True)
            (self.out / TRAIN_OUTCOME).write_text(f"{metrics['trial_outcome']}: {metrics['trial_error']}\n")
            self.diverged = True
            return
        print(format_epoch(metrics, self.epochs), flush=True)
        self._append(metrics)
        if checkpoint_dir is not None:  # a new best epoch: its model file
            from search.model.export import export_payload, save_export

            self.best = metrics[self.metric]
            state = load_checkpoint(Path(checkpoint_dir) / CHECKPOINT_FILE)
            save_export(export_payload(state, self.metric, self.out.name, str(self.out)), self.out / TRAIN_MODEL)

    def _append(self, metrics: dict[str, Any]) -> None:
        """One row; a file that has rows keeps its columns (an epoch reported again on resume lacks a few)."""
        fields = list(metrics)
        if self.csv.is_file():
            with self.csv.open(newline="") as f:
                fields = next(csv.reader(f), None) or fields
        new = not self.csv.is_file()
        with self.csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="", extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(metrics)

    def save_state(self, state: dict[str, Any]) -> int:
        """The latest full state (weights, optimizer, history) as ``last.pt``."""
        return atomic_torch_save(state, self.out / TRAIN_RESUME).stat().st_size


def check_out(out: Path, cfg: TrialConfig) -> None:
    """``--out`` can take a new run: a new or empty folder (``search.outputs``), none of the run's inputs, not
    holding a run already (that one ``--resume`` continues).

    Raises:
        SearchError: saying which, and what to do.
    """
    held = [n for n in (TRAIN_CONFIG, TRAIN_METRICS, TRAIN_MODEL, TRAIN_RESUME) if (out / n).exists()]
    if folder_holds(out) == HOLDS_TRAIN_RUN:
        raise SearchError(f"--out {out} already holds a training run ({', '.join(held)}): add --resume to continue "
                          "it, or choose another --out")
    plan_folder(out, "--out", "train", config_inputs(cfg.to_dict()), empty=True)


def train_once(cfg: TrialConfig, out: str | Path) -> float:
    """Run one training into ``out``; returns the best value of the run's metric."""
    out = Path(out).expanduser().absolute()
    pick_device(cfg.train.device)  # a GPU asked for where there is none: said before the data is checked
    check_out(out, cfg)
    # this process trains: the checks leave the decoded rasters in the node cache for it
    index = build_index(cfg.data, warm=NodeCache(), progress=CheckProgress())
    cfg = resolve_for_data(cfg, index)
    if cfg.data.adaptation_folder:  # the images BatchNorm adapts to before the test score: checked before training
        adaptation_images(cfg.data.adaptation_folder, adaptation_meta(cfg), adaptation_flag(cfg.data))
    resolved, weights = resolve_weights(cfg.model)
    cfg = cfg.replace(model=dataclasses.asdict(resolved_config(cfg.model, resolved)))
    print(f"training {cfg.model.backbone} on {cfg.data.root}: lr {cfg.train.lr:g}, "
          f"{_points_text(cfg)}, {_epochs_text(cfg)}, tiles {cfg.data.tile_size}px -> {out}")
    print(f"weights: {resolved.describe()}", flush=True)
    warn_if_long_run(cfg, index, cfg.train.total_epochs)  # before the folder is made: Ctrl-C here leaves none
    made = not out.exists()
    run_dir = RunDirectory(out, cfg)
    try:
        record_clicks(run_dir.out, cfg.data.clicks, index)  # which clicks file, its SHA-256 and round
    except BaseException as e:
        _record_failure(run_dir, e, made)
        raise
    _train(cfg, run_dir, index, weights, made=made)
    return run_dir.best


def resume_training(out: str | Path, epochs: int | None = None) -> float:
    """``train --resume``: continue the run in ``out`` from its ``last.pt`` with its saved config (``epochs``: a
    longer run); returns the best value of the run's metric."""
    out = Path(out).expanduser().absolute()
    cfg, state = _resumable(out)
    done, planned = int(state["epoch"]), cfg.train.epochs
    if epochs is not None:
        if epochs < planned:
            raise SearchError(f"--epochs {epochs} with --resume: the run in {out} was planned for {planned} epoch(s); "
                              "--epochs can only extend it (or leave it out)")
        if cfg.train.pseudo_labels is not None and epochs != planned and done > planned:
            raise SearchError(f"--epochs {epochs} with --resume: the run in {out} is in its second, self-training "
                              f"stage (epoch {done}; each stage has {planned}): its stages can no longer be made "
                              "longer; leave --epochs out")
        cfg = cfg.replace(train={"epochs": epochs}).validate()
    if done >= cfg.train.total_epochs:
        further = (f"give --epochs N (more than {cfg.train.epochs}) with --resume to train it further"
                   if cfg.train.pseudo_labels is None else
                   "a run that finished its self-training stage cannot be made longer; start a new run (another --out) "
                   "with more --epochs")
        raise SearchError(f"the run in {out} has finished its {done} epoch(s): nothing to resume; {further}")
    resolved, weights = resolve_weights(cfg.model)
    if cfg.model.weights_sha256 and resolved.sha256 != cfg.model.weights_sha256:
        raise SearchError(f"the weights this run started from ({cfg.model.weights_source}, sha256 "
                          f"{cfg.model.weights_sha256[:16]}...) changed on disk (now {resolved.sha256[:16]}...): put "
                          "the original file back, or start a new run")
    index = build_index(cfg.data, warm=NodeCache(), progress=CheckProgress())
    cfg = resolve_for_data(cfg, index)
    record_clicks(out, cfg.data.clicks, index, resume=True)  # refuses a clicks file changed since
    run_dir = RunDirectory(out, cfg, resume_after=done)
    (out / TRAIN_OUTCOME).unlink(missing_ok=True)
    best = state.get("best", {})
    run_dir.best = best.get("value", -math.inf) if best.get("epoch") else -math.inf
    longer = f"; the schedule now spans {cfg.train.epochs} epochs" if cfg.train.epochs != planned else ""
    print(f"resuming {out} after epoch {done} of {cfg.train.total_epochs}{longer}", flush=True)
    warn_if_long_run(cfg, index, cfg.train.total_epochs - done)
    _train(cfg, run_dir, index, weights, resume=state, recorded=run_dir.recorded_epoch)
    return run_dir.best


def _resumable(out: Path) -> tuple[TrialConfig, dict[str, Any]]:
    """The saved config and resume state of the run in ``out``.

    Raises:
        SearchError: no run to resume there (with why), or one still training or diverged.
    """
    if not is_train_folder(str(out)) or not (out / TRAIN_RESUME).is_file():
        why = "does not exist" if not out.exists() else f"holds no {TRAIN_CONFIG} and {TRAIN_RESUME} of a train run"
        raise SearchError(f"nothing to resume: --out {out} {why}; give the --out of an interrupted `pointtune train`, "
                          "or start a run there without --resume")
    try:
        cfg = TrialConfig.from_dict(yaml.safe_load((out / TRAIN_CONFIG).read_text()))
    except (yaml.YAMLError, TypeError, ValueError, AttributeError) as e:
        raise SearchError(f"{out / TRAIN_CONFIG} is damaged ({type(e).__name__}: {str(e).splitlines()[0]}): the run "
                          "cannot be resumed with its settings; restore the file, or start a new run") from None
    history = pd.read_csv(out / TRAIN_METRICS) if (out / TRAIN_METRICS).is_file() else pd.DataFrame()
    status, why = train_status(out, history, cfg.train.total_epochs)
    if status == "running":
        raise SearchError(f"a `pointtune train` process is still training into {out} ({TRAIN_RUNNING}); wait for "
                          "it or stop it first")
    if status == "diverged":
        raise SearchError(f"the run in {out} diverged ({why}): resuming would diverge again; start a new run with "
                          "a lower --lr and another --out")
    return cfg, load_checkpoint(out / TRAIN_RESUME)


def _train(cfg: TrialConfig, run_dir: RunDirectory, index: DatasetIndex, weights: Any, made: bool = False,
           resume: dict[str, Any] | None = None, recorded: int | None = None) -> None:
    """Train (or continue) into the folder, then score the best model once on the test part, saying how far each
    is (``TrainProgress``). A run stopped or failed after an epoch says so in ``outcome.txt`` (``train --resume``
    continues it); one that recorded nothing leaves no folder behind."""
    running = run_dir.out / TRAIN_RUNNING
    running.write_text(json.dumps(this_process()))
    model = run_dir.out / TRAIN_MODEL
    with TrainProgress(cfg.train.total_epochs, cfg.train.batch_size, epoch_work(cfg, index)[1]) as progress:
        try:
            run_trial(cfg, run_dir.report, data=index, weights=weights, save_state=run_dir.save_state,
                      resume=resume, recorded_epochs=recorded, progress=progress)
        except BaseException as e:
            _record_failure(run_dir, e, made)
            raise
        finally:
            running.unlink(missing_ok=True)
        print(f"best {cfg.train.metric} {run_dir.best:.4f}; model: {model} (resume state: "
              f"{run_dir.out / TRAIN_RESUME})")
        if not run_dir.diverged:
            scores = score_test_part(run_dir, index, cfg, progress.scoring)
            if scores is not None:
                print(test_score_line(scores, cfg.train.metric, run_dir.best))
    if model.is_file():
        out = shlex.quote(str(run_dir.out))
        print(f"use it:  pointtune predict {out} IMAGE... --out predictions/\n"
              f"         pointtune evaluate {out} --data DIR --part all   (score it on other data)\n"
              f"         pointtune report {out}")


def _record_failure(run_dir: RunDirectory, error: BaseException, made: bool) -> None:
    """A run that recorded an epoch (or a resume state) keeps its folder and says why it stopped; one that recorded
    nothing takes its files away again (and the folder, when it made it)."""
    out = run_dir.out
    if not (out / TRAIN_RESUME).is_file() and not run_dir.csv.is_file():
        for name in (TRAIN_CONFIG, TRAIN_RUNNING, TRAIN_MODEL, CLICKS_RECORD):
            (out / name).unlink(missing_ok=True)
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        return
    if isinstance(error, KeyboardInterrupt):
        why = f"interrupted: stopped after epoch {run_dir.recorded_epoch}; continue with `{resume_command(out)}`"
    else:
        why = f"failed: {type(error).__name__}: {error}"
    (out / TRAIN_OUTCOME).write_text(why + "\n")


def score_test_part(run_dir: RunDirectory, index: DatasetIndex, cfg: TrialConfig,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, float] | None:
    """The best model's one score on the split's test part (``keep_test_score``), or None without one;
    ``progress(images done, images)`` hears how far the scoring is."""
    from search.model.adapt import adaptation_note
    from search.model.evaluate import keep_test_score, score_adapted
    from search.model.source import read_export

    model = run_dir.out / TRAIN_MODEL
    if not index.split.test or not model.is_file():
        return None
    payload = read_export(model)

    def score() -> dict[str, float]:  # with --adapt-bn, of the model adapted to its images, which best.pt keeps
        scores, changed = score_adapted(payload, index, list(index.split.test), cfg.data.adaptation_folder,
                                        cfg.train.device, cfg.train.batch_size, progress)
        payload.update(changed)
        return scores

    scores = keep_test_score(str(run_dir.out), payload, run_dir.out.name, str(model), score)
    if note := adaptation_note(payload):
        print(f"{note}; {TRAIN_MODEL} keeps them")
    return scores


def train_reference(cfg: TrialConfig, data: Any, weights: dict | None, out: str, source_trial: str) -> dict[str, Any]:
    """Train a search's full-supervision reference (``search/results/reference.py``) into ``out`` (a folder or URI), as
    a ``pointtune train`` run; returns what ``reference.json`` holds."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) if is_uri(out) else Path(out)
        run_dir = RunDirectory(local, cfg)
        run_trial(cfg, run_dir.report, data=data, weights=weights)
        history = pd.read_csv(run_dir.csv) if run_dir.csv.is_file() else pd.DataFrame()
        if history.empty:
            outcome = (local / TRAIN_OUTCOME).read_text().strip() if (local / TRAIN_OUTCOME).is_file() else "no epoch"
            raise RuntimeError(f"the full-supervision reference in {out} did not train: {outcome}; the search's "
                               "trials and best model are kept")
        best = history.loc[history[cfg.train.metric].idxmax()]
        done = {"source_trial": source_trial, "epoch": int(best["epoch"]), "config": cfg.to_dict(),
                **{m: float(best[m]) for m in METRICS if m in best}}
        (local / DONE_FILE).write_text(json.dumps(done, indent=2))
        if is_uri(out):
            for f in local.iterdir():
                storage.upload(f, f"{out}/{f.name}")
    return done


def _epochs_text(cfg: TrialConfig) -> str:
    if cfg.train.pseudo_labels is None:
        return f"{cfg.train.epochs} epoch(s)"
    return (f"{cfg.train.epochs} epoch(s), then {cfg.train.epochs} more on clicks + pseudo-labels at threshold "
            f"{cfg.train.pseudo_labels:g}")


def _points_text(cfg: TrialConfig) -> str:
    if cfg.points.mode == "density":
        return f"point density {cfg.points.density:g}"
    return f"{cfg.points.clicks_per_object} point(s) per instance"
