"""Every file name pointtune keeps in its folders, once: a search's experiment folder and a ``pointtune train`` run's
folder. The modules that write and read each file take its name from here, and ``search.outputs`` keeps every other
command from writing over them."""

from __future__ import annotations

# a search's experiment folder (pointtune run)
SETTINGS_FILE = "pointtune_settings.yaml"  # the settings it ran with: what --resume reads
DRIVER_FILE = "pointtune_driver.json"  # while it runs: the driver's host and pid; after: that it finished
HINTS_FILE = "pointtune_resume.json"  # .json: Tune brings the experiment folder's .json files to where it restores
JOURNAL_FILE = "optuna_journal.log"  # the Optuna study
BEST_MODEL = "best_model.pt"  # the best trial's best epoch, a model file
TUNER_FILE = "tuner.pkl"  # Tune's own state (with experiment_state-*.json)
DONE_FILE = "reference.json"  # --reference full: what the full-supervision run reached
WARM_START_FILE = "warm_start.json"  # --warm-start: the earlier trials put into the study, and those left out
# a train run's folder (pointtune train --out)
TRAIN_CONFIG = "config.yaml"
TRAIN_METRICS = "metrics.csv"  # one row per epoch
TRAIN_MODEL = "best.pt"  # the best epoch's model, in `pointtune export`'s format (evaluate and predict take it)
TRAIN_RESUME = "last.pt"  # the last epoch's weights and optimizer: what `train --resume` continues from
TRAIN_OUTCOME = "outcome.txt"  # "diverged: ...", "failed: ..." or "interrupted: ..." when the run did not finish
TRAIN_RUNNING = "running.json"  # host and pid of the process training into the folder, while it runs
# in both
TEST_SCORES_FILE = "test_scores.json"  # a run's one test score, beside its model (search/model/evaluate.py)
CLICKS_RECORD = "clicks.json"  # with --clicks: the file it trained on (path, SHA-256, clicks, round)

# the files a search or a train run keeps for itself: no other command writes over them (search.outputs)
OWN_FILES = frozenset({SETTINGS_FILE, DRIVER_FILE, HINTS_FILE, JOURNAL_FILE, BEST_MODEL, TUNER_FILE, DONE_FILE,
                       WARM_START_FILE,
                       TRAIN_CONFIG, TRAIN_METRICS, TRAIN_MODEL, TRAIN_RESUME, TRAIN_OUTCOME, TRAIN_RUNNING,
                       TEST_SCORES_FILE, CLICKS_RECORD})
