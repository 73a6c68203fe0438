"""The parser of ``pointtune``: ``train`` and ``run`` (their flags built from the defaults table) and the other
commands (``search.cli.tools``)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from search.cli.flags import add, add_former, add_former_click_flags, add_range
from search.cli.tools import add_tool_parsers
from trainable.defaults import TABLE
from trainable.setting_text import help_text

# the flags train and run share, by group of --help
SHARED = {
    "data": ("data", "format", "classes", "tile_size", "resize", "bands", "normalize", "crops_per_epoch", "flips",
             "rotations", "standardize", "split", "split_seed", "val_fraction", "test_fraction", "val_dir", "test_dir",
             "unlabeled_images", "adapt_bn"),
    "clicks": ("clicks", "val_clicks", "background_share", "min_region_pixels", "class_weights",
               "seconds_per_click"),
    "model": ("backbone", "weights", "allow_random_init"),
    "training": ("batch_size", "weight_decay", "bn_recalibration_batches", "device", "seed", "lr_schedule",
                 "poly_power", "warmup_epochs", "metric", "unlabeled_loss", "unlabeled_weight"),
}
SEARCH_SPACE = ("lr_range", "density_range", "clicks_per_object_range", "epochs_range", "background_share_range",
                "unlabeled_weight_range", "pseudo_labels_range", "pseudo_lr_factor_range", "teacher_decay_range",
                "pseudo_class_share_range", "pseudo_weight_range", "color_jitter_range", "scale_jitter_range")
SEARCH = ("frontier", "reference", "trials", "max_concurrent", "cpus_per_trial", "gpus_per_trial", "sampler",
          "scheduler", "grace_period", "reduction_factor", "asha_search_epochs", "storage", "name", "address",
          "max_failures", "keep_checkpoints", "resume_every", "warm_start", "max_annotation_hours",
          "max_trial_minutes")
CONFIG_HELP = "YAML file of flag values, keys as the flags' names (flags given on the command line override it)"


class _Brief(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """The error and where the flags are listed, without argparse's usage block (train's and run's are 40
        lines, which bury the one line that matters)."""
        self.exit(2, f"{self.prog}: error: {message}\n(`{self.prog} --help` lists its flags)\n")


class _Parser(_Brief):
    """A subcommand's parser: abbreviations off, so a flag is only ever what it spells (and --resume can tell which
    flags were given); ``-v`` works after the command as before it."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, allow_abbrev=False, **kwargs)
        # SUPPRESS: given here it sets verbose; not given, it leaves the value `pointtune -v CMD` set
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")


def _groups(p: argparse.ArgumentParser) -> dict[str, Any]:
    """The argument groups of train and run, with the flags they share."""
    groups = {name: p.add_argument_group(name) for name in SHARED}
    for name, flags in SHARED.items():
        add(groups[name], *flags)
    return groups


def _train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="one training run", description="Train one model from simulated or your own "
                       "clicks; with no --data, on the built-in demo scenes with the demo's defaults.")
    p.add_argument("--config", help=CONFIG_HELP)
    groups = _groups(p)
    add(groups["training"], "lr", "pseudo_labels", "pseudo_lr_factor", "teacher_decay", "pseudo_class_share",
        "pseudo_weight")
    add(groups["data"], "color_jitter", "scale_jitter")
    add(groups["training"], "epochs", default=None, help=help_text("epochs", "epochs; with --resume: a longer run"))
    one = groups["clicks"].add_mutually_exclusive_group()
    add(one, "density", "clicks_per_object")
    add_former(one, "--points-per-instance", p, "--clicks-per-object")
    add(p, "train_out", help=help_text("train_out", "output folder, a model for evaluate, predict and report: best.pt "
                                       "(the best epoch's model, as `pointtune export` writes it, with the test "
                                       "score), last.pt (to resume from), metrics.csv, config.yaml, test_scores.json; "
                                       "one that holds a run is refused without --resume"))
    add(p, "like")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last.pt with "
                   "its saved config.yaml (only --epochs, to extend it, may be given with it)")
    add_former_click_flags(p)


def _run_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="hyperparameter search (Ray Tune + Optuna)",
                       description="Search learning rate, click density or clicks per object, and epochs with Ray "
                       "Tune and Optuna; with no --data, on the built-in demo scenes with the demo's defaults.")
    p.add_argument("--config", help=CONFIG_HELP)
    _groups(p)
    space = p.add_argument_group("search space")
    for name in SEARCH_SPACE:
        add_range(space, name)
    for name in ("search_class_weights", "search_standardize"):
        add(space, name, help="search " + TABLE[name].help)
    s = p.add_argument_group("search")
    add(s, *SEARCH)
    s.add_argument("--resume", action="store_true", help="continue the interrupted search STORAGE/NAME with its saved "
                   "settings (only --trials, to raise the budget, and --retry-failed may be given with it)")
    s.add_argument("--retry-failed", action="store_true", help="with --resume: run the failed trials again")
    add_former_click_flags(p)
    return p


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parser of ``pointtune``, and its ``run`` subparser."""
    parser = _Brief(
        prog="pointtune", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hyperparameter search (Ray Tune + Optuna) for semantic segmentation trained from clicks.\n"
                    "With no command: a short demo search on built-in synthetic aerial scenes.",
        epilog="examples:\n  pointtune run --data DIR --trials 32 --gpus-per-trial 0.5 --name exp\n"
               "  pointtune results pointtune-results/exp\n  pointtune report pointtune-results/exp --out report.html\n"
               "  pointtune export pointtune-results/exp --out best.pt\n"
               "  pointtune predict best.pt scene.tif --out predictions/")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (also after the command)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND",
                                help="with none: `run` (flags without a command are run's)")
    _train_parser(sub)
    run = _run_parser(sub)
    add_tool_parsers(sub)
    return parser, run
