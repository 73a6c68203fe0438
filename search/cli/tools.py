"""The parsers of the commands around a search: what a search or a run wrote (results, plot, report, export), using a
model (evaluate, predict, suggest) and the data (formats, demo-data). Every ``--out`` says whether it is a file or a
folder; ``--output`` is how a command prints, ``--format`` always a dataset format."""

from __future__ import annotations

from typing import Any

from search.cli.flags import DEVICES, add, add_former, add_former_click_flags
from trainable.setting_text import help_text

EXPERIMENT_HELP = "experiment folder or URI (STORAGE/NAME), or a `pointtune train` --out folder"
MODEL_HELP = ("a model file (written by `pointtune export`, or a train folder's best.pt), a `pointtune train` --out "
              "folder, or a search's experiment folder STORAGE/NAME (its best model)")
TABLE_OUTPUTS = ("table", "csv", "markdown", "json")
MODEL_CLASSES_HELP = ("how the masks of --data are read: model (the classes the model was trained with), data (the "
                      "data's own classes.yaml or --format) or a class description YAML; default: the data's own where "
                      "it agrees with the model's (a difference is refused, naming both), else the model's")


def _data_parsers(sub: Any) -> None:
    p = sub.add_parser("formats", help="the built-in dataset formats: classes, ignore rules, layout, split, source")
    p.add_argument("name", nargs="?", help="describe this one only")
    p = sub.add_parser("demo-data", help="write the built-in synthetic aerial scenes to a folder (images/, semantic/, "
                       "instance/, classes.yaml)")
    p.add_argument("dir", help="folder to write the scenes to (made if missing)")
    add(p, "demo_images", "demo_size")
    add(p, "seed", help=help_text("seed", "seed of the scenes"))


def _results_parsers(sub: Any) -> None:
    p = sub.add_parser("results", help="table of the trials of a search (while it runs or after)")
    p.add_argument("experiment", nargs="+", help=EXPERIMENT_HELP + "; several: one table and frontier (rounds)")
    add(p, "output", choices=TABLE_OUTPUTS, help=help_text("output", "how to print the table"))
    add_former(p, "--format", p, "--output")
    p.add_argument("--trial", help="show this trial's per-epoch history")
    p.add_argument("--frontier", action="store_true",
                   help="the Pareto-optimal trials (best score up, clicks per image down) and the fewest clicks per "
                        "image that reach --target of the best score")
    add(p, "target", help=help_text("target", "share of the best score for --frontier"))
    p.add_argument("--importance", nargs="?", const="ped-anova", choices=("ped-anova", "fanova"),
                   help="rank the searched settings by their importance to the objective instead (Optuna's "
                   "evaluators, on completed trials; ped-anova by default, fanova needs scikit-learn)")
    p = sub.add_parser("plot", help="PNG figures of a search or a train output folder")
    p.add_argument("experiment", help=EXPERIMENT_HELP)
    p.add_argument("--out", help="folder for the PNGs, made if missing (default EXPERIMENT/plots)")
    add(p, "target", help=help_text("target", "share of the best score marked on the clicks-per-image figure"))
    p = sub.add_parser("report", help="one self-contained HTML report of a search or a train output folder",
                       description="One HTML file that needs no network: the trials table (sortable, filterable), "
                       "F1 curves, score against the settings, the frontier, the best model's per-class F1, confusion "
                       "matrix and validation images with its training clicks, and the test score.")
    p.add_argument("experiment", nargs="+", help=EXPERIMENT_HELP + "; several: one table and frontier (rounds)")
    p.add_argument("--out", help="HTML file to write (default EXPERIMENT/report.html; report.html here for a URI or "
                   "several folders)")
    add(p, "target", help=help_text("target", "share of the best score marked on the frontier"))
    p.add_argument("--no-model", action="store_true", help="leave out what runs the best checkpoint on the data "
                   "(confusion matrix and images)")
    add(p, "device", choices=DEVICES, help=help_text("device", "where the best checkpoint runs on the validation "
                                                     "images"))
    p = sub.add_parser("export", help="write the best trial's best-epoch model (or a train folder's) to one file")
    p.add_argument("experiment", help=EXPERIMENT_HELP)
    p.add_argument("--out", required=True, help="file to write, e.g. best.pt (required)")
    p.add_argument("--trial", help="export this trial instead of the best")


def _adapt_flag(p: Any, does: str) -> None:
    add(p, "adapt_bn", help=help_text("adapt_bn", "AdaBN: before it " + does + ", re-estimate every BatchNorm's "
                                      "running statistics of the model on the images of DIR (in it or in DIR/images/; "
                                      "no labels: e.g. images of the site being mapped); the model file is unchanged"))


def _inference_flags(p: Any) -> None:
    add(p, "device", choices=DEVICES, help=help_text("device", "where the model runs (auto: CUDA when present)"))
    add(p, "inference_batch_size")


def _model_parsers(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="score a model on data (OA, P, R, F1, mIoU, per class)",
                       description="Score a model on data, read as the model was trained: its dataset format (with "
                       "options), classes, bands, normalisation, tile size and resize.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--data", help="dataset folder (same layout as for training); default: the folder the model was "
                   "trained on")
    p.add_argument("--format", help="read --data as this built-in format, with its classes (default: the model's "
                   "format and classes)")
    p.add_argument("--classes", metavar="model|data|FILE", help=MODEL_CLASSES_HELP)
    p.add_argument("--clicks", help="your own clicks on the images (as `train --clicks`: a folder of sparse label "
                   "images, a CSV image,x,y,class[,object] or GeoJSON points): images with only clicks are scored on "
                   "them (test_clicks_* scores)")
    add(p, "part", choices=("test", "val", "train", "all"),
        help=help_text("part", "the part of the model's split to score, or all images of --data"))
    add_former(p, "--split", p, "--part")
    add(p, "output", choices=("table", "json"), help=help_text("output", "how to print the scores"))
    _adapt_flag(p, "scores")
    _inference_flags(p)
    add_former_click_flags(p)
    p = sub.add_parser("predict", help="segment images with a model",
                       description="Segment images with a model, at its tile size, resize, bands and normalisation; "
                       "the masks have the input's size.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+", help="image files to segment (PNG, JPEG or GeoTIFF)")
    p.add_argument("--out", required=True, help="folder for the class-index and colour masks, made if missing "
                   "(required)")
    _adapt_flag(p, "predicts")
    _inference_flags(p)


def _suggest_parser(sub: Any) -> None:
    p = sub.add_parser("suggest", help="where to click next: K clicks per training image where the model is most "
                       "likely wrong, as a --clicks file", description="For each training image of the model, K "
                       "pixels where it is most likely wrong, spread over the image and over its predicted classes, "
                       "never on ignored, no-data or already clicked pixels; written as CSV or GeoJSON (by the --out "
                       "suffix) in the format --clicks reads, with an empty class for the annotator to fill.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--data", help="dataset folder the model was trained on (default: that folder, as the model "
                   "recorded it)")
    add(p, "clicks_per_image", required=True)
    p.add_argument("--out", required=True, help="file to write, .csv or .geojson (required)")
    p.add_argument("--clicks", help="the clicks so far (never suggested again; none closer than the radius); default: "
                   "the clicks file the model was trained on, if it recorded one")
    add(p, "strategy", help=help_text("strategy", "margin: smallest gap between the two likeliest classes; "
                                      "pixelpick: a random pick among each image's 5 percent most uncertain pixels by "
                                      "margin (PixelPick); regions: one click per predicted region, most errors the "
                                      "model expects first; entropy; random: uniform, blind to the model (the "
                                      "control); oracle: the model's most confident errors by the dense masks, a "
                                      "simulated annotator's ceiling (needs --answer-from-masks). Measured: "
                                      "benchmarks/active_clicks.py"))  # checked by SuggestSettings
    add(p, "radius")
    add(p, "seed", help=help_text("seed", "breaks ties and draws the random strategy"))
    add(p, "suggest_part", choices=("train", "all"),
        help=help_text("suggest_part", "the model's training images, or every image of --data"))
    add_former(p, "--split", p, "--part")
    p.add_argument("--answer-from-masks", action="store_true",
                   help="fill each click's class from the dense masks (a simulated annotator, to measure strategies)")
    p.add_argument("--format", help="built-in dataset format (default: the model's own)")
    p.add_argument("--classes", metavar="model|data|FILE", help=MODEL_CLASSES_HELP)
    _inference_flags(p)
    add_former_click_flags(p)


def add_tool_parsers(sub: Any) -> None:
    """Every command but train and run."""
    _data_parsers(sub)
    _results_parsers(sub)
    _model_parsers(sub)
    _suggest_parser(sub)
