"""The ``pointtune`` command: parse flags, build the typed settings, dispatch. Nothing else lives here."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from trainable.config import BACKBONES, LR_SCHEDULES, METRICS, UNLABELED_LOSSES

EXIT_USAGE = 2
EXIT_NOTHING_TRAINED = 1
# what `run --resume` applies; every other flag belongs to the search being resumed (its saved settings)
RESUME_FLAGS = {"resume", "storage", "name", "address", "trials", "retry_failed", "verbose"}
# what `train --resume` applies; the rest is the run's saved config.yaml
TRAIN_RESUME_FLAGS = {"resume", "out", "epochs", "verbose"}
EXIT_INTERRUPTED = 130
MODEL_HELP = ("a model file (written by `pointtune export`, or a train folder's best.pt), a `pointtune train` --out "
              "folder, or a search's experiment folder STORAGE/NAME (its best model)")


def _bands(text: str) -> tuple[int, ...]:
    """``1,2,3,4`` -> (1, 2, 3, 4)."""
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give band numbers separated by commas, e.g. 1,2,3,4") from None


def _gpus(text: str) -> float | str:
    """``auto`` or a number of GPUs per trial."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, or GPUs per trial such as 1, 0.5 or 0 (CPU trials)"
                                         ) from None


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser: abbreviations off, so a flag is only ever what it spells (and --resume can tell which
    flags were given)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, allow_abbrev=False, **kwargs)


def _data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and model (shared by train and run)")
    g.add_argument("--data", help="dataset folder with images/ and semantic/ (default: built-in demo scenes)")
    g.add_argument("--format", help="a built-in dataset format, read as it ships: NAME or NAME:OPTION,... (e.g. "
                   "potsdam:irrg,eroded; `pointtune formats` lists them)")
    g.add_argument("--classes", help="class description YAML (default: DATA/classes.yaml)")
    g.add_argument("--clicks", help="your own clicks: a folder of sparse label images (class at clicked pixels, 255 "
                   "elsewhere), a CSV image,x,y,class[,object] or GeoJSON points; dense masks become optional and a "
                   "density is then the share of your clicks kept")
    g.add_argument("--val-clicks", type=int, help="clicks per validation image scored as click validation "
                   "(val_clicks_* metrics; default 100, simulated from the dense masks; with --clicks your clicks "
                   "on the validation images; 0: off)")
    g.add_argument("--tile-size", type=int, help="tile side in pixels (default 256; demo 64)")
    g.add_argument("--resize", type=float, default=1.0, help="scale images and masks when loading (default 1)")
    g.add_argument("--bands", type=_bands, help="bands read from every image, 1-based, e.g. 1,2,3,4 (default: all; "
                   "with pretrained weights the first three are taken as R, G, B)")
    g.add_argument("--normalize", choices=("auto", "imagenet", "dataset"), help="input normalisation: ImageNet's "
                   "statistics or the training split's own per band (default auto: imagenet for 8-bit RGB)")
    g.add_argument("--crops-per-epoch", type=int, help="training crops per epoch (default: cover the images once)")
    g.add_argument("--no-flips", action="store_true", help="no random flips of training crops")
    g.add_argument("--no-rotations", action="store_true", help="no random 90-degree rotations")
    g.add_argument("--split", help="official (the default where the --format defines one), seeded (scenes "
                   "shuffled with --split-seed; the default otherwise) or a file: YAML/JSON with train/val/test lists "
                   "of image stems or scene names, or a CSV of name,split rows")
    g.add_argument("--split-seed", type=int, help="seed of the seeded split (default 0), apart from --seed")
    g.add_argument("--val-fraction", type=float, help="seeded split: share of images (whole scenes) for validation "
                   "(default 0.2)")
    g.add_argument("--test-fraction", type=float, help="seeded split: share of images (whole scenes) held out for "
                   "the final test score (default 0.1; 0: no test part)")
    g.add_argument("--val-dir", help="a folder of its own (same layout) as the validation split")
    g.add_argument("--test-dir", help="a folder of its own (same layout) as the test split")
    g.add_argument("--background-share", type=float, help="per-instance mode: share of clicks on background")
    g.add_argument("--class-weights", action="store_true", help="weight the loss by inverse point frequency")
    g.add_argument("--seconds-per-click", type=float, help="annotation time of one click, for the annotation cost "
                   "each trial reports (default 1.75 s: Papadopoulos et al. 2017, 7 s per box of 4 clicks)")
    g.add_argument("--batch-size", type=int, help="crops per batch (default 8; at least 2: BatchNorm)")
    g.add_argument("--backbone", choices=BACKBONES,
                   help="DeepLabV3 backbone (default resnet50; the demo trains tiny)")
    g.add_argument("--weights", help="auto (default; demo: none): ImageNet backbone weights (torchvision's), "
                   "taken from torchvision's cache or downloaded once into it by the driver; offline without the "
                   "file the run stops and says where to put it, unless --allow-random-init; the tiny network has "
                   "none. Or none, imagenet, coco (the whole DeepLabV3), or a state-dict file")
    g.add_argument("--allow-random-init", action="store_true", help="train from scratch if weights are unavailable")
    g.add_argument("--bn-recalibration-batches", type=int, default=8,
                   help="batches to re-estimate BatchNorm statistics before each validation (0: off)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    g.add_argument("--seed", type=int, default=0, help="seed of the simulated annotator, init, crops and search "
                   "(the split has --split-seed)")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="learning-rate schedule over the epochs (default poly, "
                   "power 0.9 as DeepLab)")
    g.add_argument("--poly-power", type=float, help="exponent of the poly schedule (default 0.9)")
    g.add_argument("--warmup-epochs", type=float, help="linear warm-up epochs (default 0)")
    g.add_argument("--metric", choices=METRICS, help="validation metric that picks the best epoch and ranks trials "
                   "(default val_f1; val_clicks_f1 needs no dense mask)")
    g.add_argument("--unlabeled-loss", nargs="+", choices=UNLABELED_LOSSES, metavar="LOSS",
                   help="a loss on the unlabelled pixels from the image itself, added to partial cross-entropy: "
                        f"{', '.join(UNLABELED_LOSSES)} (default none; `run` searches among several given)")
    g.add_argument("--unlabeled-weight", type=float, help="its weight (default 0.1)")


def _train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="one training run", description="Train one model from simulated points.")
    p.add_argument("--config", help="YAML file of flag values (flags given on the command line override it)")
    _data_flags(p)
    p.add_argument("--lr", type=float, help="Adam's peak learning rate (default 1e-4)")
    pts = p.add_mutually_exclusive_group()
    pts.add_argument("--density", type=float, help="fraction of pixels labelled (default 0.01; 1 = full masks)")
    pts.add_argument("--clicks-per-object", type=int, help="clicks per object instance instead of a density")
    p.add_argument("--epochs", type=int, help="epochs (default 10; demo 3; with --resume: a longer run)")
    p.add_argument("--out", default="runs/train", help="output folder, a model for evaluate, predict and report: "
                   "best.pt (the best epoch's model, as `pointtune export` writes it, with the test score), last.pt "
                   "(to resume from), metrics.csv, config.yaml, test_scores.json (default runs/train; an --out that "
                   "holds a run is refused without --resume)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last.pt with "
                   "its saved config.yaml (only --epochs, to extend it, may be given with it)")


def _run_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="hyperparameter search (Ray Tune + Optuna)",
                       description="Search learning rate, point density and epochs with Ray Tune and Optuna.")
    p.add_argument("--config", help="YAML file of flag values (flags given on the command line override it)")
    _data_flags(p)
    s = p.add_argument_group("search")
    s.add_argument("--lr-range", type=float, nargs=2, metavar=("LO", "HI"), help="log-uniform Adam learning rate")
    s.add_argument("--density-range", type=float, nargs=2, metavar=("LO", "HI"), help="log-uniform point density")
    s.add_argument("--clicks-per-object-range", type=int, nargs=2, metavar=("LO", "HI"),
                   help="search clicks per instance in [LO, HI] instead of density")
    s.add_argument("--epochs-range", type=int, nargs=2, metavar=("LO", "HI"), help="epochs, integers in [LO, HI]")
    s.add_argument("--lr", type=float, help="a fixed learning rate (--lr-range X X)")
    s.add_argument("--density", type=float, help="a fixed point density (--density-range X X)")
    s.add_argument("--clicks-per-object", type=int, help="fixed clicks per instance (--clicks-per-object-range K K)")
    s.add_argument("--epochs", type=int, help="a fixed epoch count (--epochs-range N N)")
    s.add_argument("--background-share-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="with --clicks-per-object-range: search the share of clicks on background (a prior-aware "
                   "annotator)")
    s.add_argument("--search-class-weights", action="store_true",
                   help="search whether the loss weights classes by inverse point frequency")
    s.add_argument("--unlabeled-weight-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="log-uniform weight of --unlabeled-loss, searched")
    s.add_argument("--frontier", action="store_true", help="two objectives: best F1 up and clicks per image down "
                   "(a Pareto front; with both --density-range and --clicks-per-object-range, the click mode is "
                   "searched too)")
    s.add_argument("--reference", choices=("none", "full"),
                   help="full: after the search, one fully supervised trial (density 1) with the best trial's "
                        "settings, to compare every trial's F1 with")
    s.add_argument("--trials", type=int, help="number of trials (default 16; demo 4)")
    s.add_argument("--max-concurrent", type=int, default=0, help="trials at once (default: as resources allow)")
    s.add_argument("--cpus-per-trial", type=float, default=1.0)
    s.add_argument("--gpus-per-trial", type=_gpus, default="auto",
                   help="auto (default): 1 where the machine or cluster has GPUs (or its autoscaler can start them), "
                        "else 0; 0 keeps trials on CPUs; 0.5 or 0.25 packs trials on a GPU")
    s.add_argument("--scheduler", choices=("none", "asha"), help="asha stops weak trials early; the top of "
                   "--epochs-range is then every trial's budget (default none)")
    s.add_argument("--grace-period", type=int, help="ASHA: epochs before a trial can be stopped (default 1)")
    s.add_argument("--reduction-factor", type=int, help="ASHA: keep 1/F of the trials at each rung (default 3)")
    s.add_argument("--asha-search-epochs", action="store_true",
                   help="with asha, search the epoch count too (trials then stop at their own count or at a rung)")
    s.add_argument("--sampler", choices=("tpe", "random"), help="Optuna sampler (default tpe)")
    s.add_argument("--storage", default="pointtune-results", help="results folder or URI (s3://, gs://, NFS path)")
    s.add_argument("--name", help="experiment name (folder STORAGE/NAME; default search-DATE-TIME)")
    s.add_argument("--address", help="Ray cluster to join: auto or HOST:PORT (default: a new local instance)")
    s.add_argument("--resume", action="store_true", help="continue the interrupted search STORAGE/NAME with its saved "
                   "settings (only --trials, to raise the budget, and --retry-failed may be given with it)")
    s.add_argument("--retry-failed", action="store_true", help="with --resume: run the failed trials again")
    s.add_argument("--max-failures", type=int, default=2, help="retries of a trial whose worker died")
    s.add_argument("--keep-checkpoints", type=int, default=1,
                   help="checkpoints of best epochs kept per trial (weights only; default 1)")
    s.add_argument("--resume-every", type=int, help="epochs between two saves of a trial's resume state (weights and "
                   "optimizer: 3x the model); default 2 with a local --storage, 4 with a URI")
    return p


def _other_parsers(sub: Any) -> None:
    p = sub.add_parser("formats", help="the built-in dataset formats: classes, ignore rules, layout, split, source")
    p.add_argument("name", nargs="?", help="describe this one only")
    p = sub.add_parser("demo-data", help="write the built-in synthetic aerial scenes to a folder")
    p.add_argument("dir")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("results", help="table of the trials of a search (while it runs or after)")
    p.add_argument("experiment", help="experiment folder or URI (STORAGE/NAME)")
    p.add_argument("--format", choices=("table", "csv", "markdown", "json"), default="table")
    p.add_argument("--trial", help="show one trial's per-epoch history")
    p.add_argument("--frontier", action="store_true",
                   help="the Pareto-optimal trials (best score up, clicks per image down) and the fewest clicks per "
                        "image that reach --target of the best score")
    p.add_argument("--target", type=float, default=0.95, help="share of the best score for --frontier (default 0.95)")
    p = sub.add_parser("plot", help="PNG figures of a search or a train output folder")
    p.add_argument("experiment")
    p.add_argument("--out", help="folder for the PNGs (default EXPERIMENT/plots)")
    p.add_argument("--target", type=float, default=0.95,
                   help="share of the best score marked on the clicks-per-image figure (default 0.95)")
    p = sub.add_parser("report", help="one self-contained HTML report of a search or a train output folder",
                       description="One HTML file that needs no network: the trials table (sortable, filterable), "
                       "F1 curves, score against the settings, the frontier, the best model's per-class F1, confusion "
                       "matrix and validation images with its training clicks, and the test score.")
    p.add_argument("experiment", help="experiment folder or URI (STORAGE/NAME), or a `pointtune train` --out folder")
    p.add_argument("--out", help="HTML file to write (default EXPERIMENT/report.html; report.html for a URI)")
    p.add_argument("--target", type=float, default=0.95,
                   help="share of the best score marked on the frontier (default 0.95)")
    p.add_argument("--no-model", action="store_true", help="leave out what runs the best checkpoint on the data "
                   "(confusion matrix and images)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the best checkpoint runs on the validation images (default auto)")
    p = sub.add_parser("export", help="write the best trial's best-epoch model (or a train folder's) to one file")
    p.add_argument("experiment", help="experiment folder or URI (STORAGE/NAME), or a `pointtune train` --out folder")
    p.add_argument("--out", required=True, help="file to write, e.g. best.pt")
    p.add_argument("--trial", help="export this trial instead of the best")
    p = sub.add_parser("evaluate", help="score a model on data (OA, P, R, F1, mIoU, per class)",
                       description="Score a model on data, read as the model was trained: its dataset format (with "
                       "options), classes, bands, normalisation, tile size and resize.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--data", required=True, help="dataset folder (same layout as for training)")
    p.add_argument("--format", help="read --data as this built-in format, with its classes (default: the model's "
                   "format and classes)")
    p.add_argument("--classes", help="class description YAML (default: the classes stored in the model)")
    p.add_argument("--clicks", help="your own clicks on the images (as `train --clicks`: a folder of sparse label "
                   "images, a CSV image,x,y,class[,object] or GeoJSON points): images with only clicks are scored on "
                   "them (test_clicks_* scores)")
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                   help="the part of the model's split to score (default test), or all images of --data")
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=8)
    _suggest_parser(sub)
    p = sub.add_parser("predict", help="segment images with a model",
                       description="Segment images with a model, at its tile size, resize, bands and normalisation; "
                       "the masks have the input's size.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True, help="folder for the class-index and colour masks")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=8)


def _suggest_parser(sub: Any) -> None:
    p = sub.add_parser("suggest", help="where to click next: K clicks per training image where the model is most "
                       "likely wrong, as a --clicks file", description="For each training image of the model, K "
                       "pixels where it is most likely wrong, spread over the image and over its predicted classes, "
                       "never on ignored, no-data or already clicked pixels; written as CSV or GeoJSON (by the --out "
                       "suffix) in the format --clicks reads, with an empty class for the annotator to fill.")
    p.add_argument("model", help="file written by `pointtune export`")
    p.add_argument("--data", required=True, help="dataset folder the model was trained on")
    p.add_argument("--clicks-per-image", type=int, required=True, metavar="K", help="clicks suggested per image")
    p.add_argument("--out", required=True, help="file to write: .csv or .geojson")
    p.add_argument("--clicks", help="the clicks so far (never suggested again; none closer than the radius); default: "
                   "the clicks file the model was trained on, if it recorded one")
    p.add_argument("--strategy", default="margin",  # checked by SuggestSettings (no numpy import to parse flags)
                   help="margin: smallest gap between the two likeliest classes (default; measured best on the demo "
                   "scenes, benchmarks/active_clicks.py); regions: one click per predicted region, most errors the "
                   "model expects first; entropy; random: uniform, blind to the model (the control)")
    p.add_argument("--radius", type=float, help="no two clicks (old or new) closer than this, in pixels of the image "
                   "(default: sqrt(H*W/(pi*n))/2 for n clicks on the image, old and new: their spacing disks cover a "
                   "sixteenth of it)")
    p.add_argument("--seed", type=int, default=0, help="breaks ties and draws the random strategy (default 0)")
    p.add_argument("--split", choices=("train", "all"), default="train",
                   help="the model's training images (default) or every image of --data")
    p.add_argument("--answer-from-masks", action="store_true",
                   help="fill each click's class from the dense masks (a simulated annotator, to measure strategies)")
    p.add_argument("--format", help="built-in dataset format (default: the model's own)")
    p.add_argument("--classes", help="class description YAML (default: the one stored in the model)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=8)


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="pointtune", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hyperparameter search (Ray Tune + Optuna) for semantic segmentation trained from point labels.\n"
                    "With no command: a short demo search on built-in synthetic aerial scenes.",
        epilog="examples:\n  pointtune run --data DIR --trials 32 --gpus-per-trial 0.5 --name exp\n"
               "  pointtune results pointtune-results/exp\n  pointtune report pointtune-results/exp --out report.html\n"
               "  pointtune export pointtune-results/exp --out best.pt\n"
               "  pointtune predict best.pt scene.tif --out predictions/")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _train_parser(sub)
    run = _run_parser(sub)
    _other_parsers(sub)
    return parser, run


def config_argv(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """The flags a ``--config`` YAML file stands for (keys are flag names: ``lr_range`` or ``lr-range``).

    Each value goes through its flag's own type and choices, so ``lr_range: [1e-5, 1e-2]`` (which YAML reads as
    two strings) means what it says, and a bad value is an error that names its key.

    Raises:
        ConfigError: missing or malformed file, unknown key, or a value its flag does not take.
    """
    from pathlib import Path

    import yaml

    from trainable.config import ConfigError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path} does not exist")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"--config {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path} must be a mapping of flag names to values")
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest not in ("help", "config")}
    unknown = sorted(str(k) for k in raw if str(k).replace("-", "_") not in actions)
    if unknown:
        raise ConfigError(f"--config {path}: unknown setting(s) {unknown}; use the flag names of "
                          f"`{parser.prog} --help` (e.g. tile_size, batch_size)")
    argv: list[str] = []
    for key, value in raw.items():
        action = actions[str(key).replace("-", "_")]
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"--config {path}: {key}: {value!r} must be true or false")
            argv += [flag] if value else []
            continue
        if isinstance(value, list) and action.nargs is None:  # a list for one value (--bands 1,2,3,4)
            value = ",".join(map(str, value))
        values = value if isinstance(value, list) else [value]
        if isinstance(action.nargs, int) and len(values) != action.nargs:
            raise ConfigError(f"--config {path}: {key}: {value!r} must be a list of {action.nargs} values")
        for v in values:
            try:
                converted = action.type(str(v)) if action.type else str(v)
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                kind = getattr(action.type, "__name__", "value")
                raise ConfigError(f"--config {path}: {key}: {v!r} is not a valid {kind}") from None
            if action.choices is not None and converted not in action.choices:
                raise ConfigError(f"--config {path}: {key}: {v!r} is not one of {', '.join(map(str, action.choices))}")
        argv += [flag, *(str(v) for v in values)]
    return argv


def explicit_flags(argv: list[str], parser: argparse.ArgumentParser) -> set[str]:
    """Destinations of the flags written in ``argv`` (abbreviations are off, so each must be spelt out)."""
    given = {token.split("=", 1)[0] for token in argv if token.startswith("-")}
    return {a.dest for a in parser._actions if given & set(a.option_strings)}


def with_command(argv: list[str]) -> list[str]:
    """``pointtune [run flags]`` means ``pointtune run [run flags]``, and ``pointtune`` alone the demo search."""
    i = next((k for k, token in enumerate(argv) if token not in ("-v", "--verbose")), len(argv))
    if i == len(argv) or (argv[i].startswith("-") and argv[i] not in ("-h", "--help")):
        return [*argv[:i], "run", *argv[i:]]
    return argv


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse, expanding ``run``'s or ``train``'s ``--config FILE.yaml`` into flags that the command line's own flags
    override.

    Raises:
        ConfigError: a bad ``--config`` file, or ``--resume`` with flags it would not apply.
    """
    from trainable.config import ConfigError

    parser, _ = build_parser()
    argv = with_command(argv)
    args = parser.parse_args(argv)
    if args.command not in ("run", "train"):
        return args
    (commands,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    command = commands[args.command]
    position = argv.index(args.command) + 1
    if args.command == "train" and args.resume:
        ignored = sorted(explicit_flags(argv[position:], command) - TRAIN_RESUME_FLAGS)
        if ignored:
            raise ConfigError(
                "--resume continues the run in --out with the config it was started with (its config.yaml), so it "
                f"would ignore {', '.join('--' + d.replace('_', '-') for d in ignored)}; leave them out (only --out "
                "and --epochs, to extend the run, go with --resume), or start a new run with another --out")
    if args.command == "run" and args.resume:
        ignored = sorted(explicit_flags(argv[position:], command) - RESUME_FLAGS)
        if ignored:
            raise ConfigError(
                "--resume continues the search with the settings it was started with, so it would ignore "
                f"{', '.join('--' + d.replace('_', '-') for d in ignored)}; leave them out (only --storage, --name, "
                "--address, --trials to raise the budget and --retry-failed go with --resume), or start a new search "
                "with another --name")
    if args.config:
        argv = [*argv[:position], *config_argv(args.config, command), *argv[position:]]
        args = parser.parse_args(argv)
    return args


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "formats":
        from search.cli.formats_table import describe_formats

        print(describe_formats(args.name))
        return 0
    if args.command == "demo-data":
        from trainable.data.demo import generate_demo_data

        print(generate_demo_data(args.dir, args.images, args.size, args.seed))
        return 0
    if args.command == "train":
        return _train(args)
    if args.command == "run":
        from search.launch.run import run_search
        from search.launch.settings import search_settings_from_args

        return run_search(search_settings_from_args(args))
    if args.command == "evaluate":
        from search.model.evaluate import evaluate_file, render_scores

        print(render_scores(evaluate_file(args.model, args.data, args.split, args.format, args.classes,
                                          args.device, args.batch_size, args.clicks), args.output))
        return 0
    if args.command == "results":
        from search.results.tables import show_results

        return show_results(args.experiment, args.format, args.trial, args.frontier, args.target)
    if args.command == "plot":
        from search.results.plots import plot_experiment

        for path in plot_experiment(args.experiment, args.out, args.target):
            print(path)
        return 0
    if args.command == "report":
        from search.report.page import write_report

        print(write_report(args.experiment, args.out, not args.no_model, args.target, args.device))
        return 0
    if args.command == "export":
        from search.model.export import export_best

        export_best(args.experiment, args.out, args.trial)
        return 0
    if args.command == "suggest":
        from search.model.suggest import SuggestSettings, render_summary, suggest_files

        settings = SuggestSettings(args.clicks_per_image, args.strategy, args.radius, args.seed, args.split,
                                   args.answer_from_masks)
        report = suggest_files(args.model, args.data, args.out, settings, args.clicks, args.format, args.classes,
                               args.device, args.batch_size)
        print(render_summary(report, settings))
        return 0
    if args.command == "predict":
        from search.model.predict import predict_files

        for path in predict_files(args.model, args.images, args.out, args.device, args.batch_size):
            print(path)
        return 0
    raise AssertionError(args.command)


def _train(args: argparse.Namespace) -> int:
    from search.launch.settings import trial_config_from_args
    from search.launch.train import resume_command, resume_training, train_once

    try:
        if args.resume:
            resume_training(args.out, args.epochs)
        else:
            cfg, _ = trial_config_from_args(args)
            train_once(cfg, args.out)
    except KeyboardInterrupt:
        from pathlib import Path

        from search.results.experiment import TRAIN_RESUME

        then = (f"continue the run with:  {resume_command(args.out)}" if (Path(args.out) / TRAIN_RESUME).is_file()
                else "no epoch was recorded: start it again")
        print(f"\ninterrupted; {then}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pointtune`` and ``python -m search``; returns the exit code."""
    from search.errors import USER_ERRORS

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except USER_ERRORS as e:
        print(f"pointtune: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return dispatch(args)
    except USER_ERRORS as e:
        print(f"pointtune {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
