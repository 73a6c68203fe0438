"""What each command does with its parsed flags: build the typed settings and call the library. ``argparse.Namespace``
stops here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from search.cli.failures import EXIT_INTERRUPTED, calm_while_stopping

EXIT_NOTHING_TRAINED = 1


def _formats(args: argparse.Namespace) -> int:
    from search.cli.formats_table import describe_formats

    print(describe_formats(args.name))
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from search.errors import SearchError
    from search.outputs import plan_folder
    from trainable.data import storage
    from trainable.data.demo import demo_description, generate_demo_data, is_demo_folder

    folder = Path(args.dir).expanduser().resolve()
    there, asked = demo_description(folder), demo_description(None, args.images, args.size, args.seed)
    if is_demo_folder(folder) and there == asked:
        print(f"{folder} already holds these demo scenes: nothing written", file=sys.stderr)
        print(folder)
        return 0
    if is_demo_folder(folder):
        raise SearchError(f"demo-data DIR {folder} holds other demo scenes ({there.split(': ', 1)[1]}); writing "
                          f"{asked.split(': ', 1)[1]} there would mix them: give another folder")
    folder = plan_folder(folder, "demo-data DIR", "demo-data", empty=True)
    with storage.replacing(folder) as tmp:
        generate_demo_data(tmp, args.images, args.size, args.seed)
    print(folder)
    return 0


def _train(args: argparse.Namespace) -> int:
    from search.cli.args_to_settings import trial_config_from_args
    from search.launch.train import resume_command, resume_training, train_once

    try:
        if args.resume:
            resume_training(args.out, args.epochs)
        else:
            if args.like:
                from search.cli.like import apply_like

                apply_like(args)
            cfg, _ = trial_config_from_args(args)
            train_once(cfg, args.out)
    except KeyboardInterrupt:
        calm_while_stopping()
        from search.files import TRAIN_RESUME

        then = (f"continue the run with:  {resume_command(args.out)}" if (Path(args.out) / TRAIN_RESUME).is_file()
                else "no epoch was recorded: start it again")
        print(f"\ninterrupted; {then}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run(args: argparse.Namespace) -> int:
    from search.cli.args_to_settings import search_settings_from_args
    from search.launch.run import run_search

    return run_search(search_settings_from_args(args))


def _evaluate(args: argparse.Namespace) -> int:
    from search.launch.console import CheckProgress
    from search.model.evaluate import evaluate_file, render_scores

    print(render_scores(evaluate_file(args.model, args.data, args.part, args.format, args.classes, args.device,
                                      args.batch_size, args.clicks, CheckProgress("scoring images"), args.adapt_bn),
                        args.output))
    return 0


def _results(args: argparse.Namespace) -> int:
    from search.results.show import show_results

    if args.importance:
        return _importance(args)
    return show_results(args.experiment, args.output, args.trial, args.frontier, args.target)


def _importance(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from search.errors import SearchError
    from search.results.importance import experiment_importance, render_importance

    if len(args.experiment) != 1:
        raise SearchError("--importance ranks one search's settings: give one experiment folder")
    imp = experiment_importance(args.experiment[0], args.importance)
    print(json.dumps(asdict(imp), indent=2) if args.output == "json" else render_importance(imp))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from search.results.plots import plot_experiment

    for path in plot_experiment(args.experiment, args.out, args.target):
        print(path)
    return 0


def _report(args: argparse.Namespace) -> int:
    from search.report.page import write_report

    print(write_report(args.experiment, args.out, not args.no_model, args.target, args.device))
    return 0


def _export(args: argparse.Namespace) -> int:
    from search.model.export import export_best

    export_best(args.experiment, args.out, args.trial)
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from search.launch.console import CheckProgress
    from search.model.suggest import SuggestSettings, render_summary, suggest_files

    settings = SuggestSettings(args.clicks_per_image, args.strategy, args.radius, args.seed, args.part,
                               args.answer_from_masks)
    report = suggest_files(args.model, args.data, args.out, settings, args.clicks, args.format, args.classes,
                           args.device, args.batch_size, CheckProgress("suggesting clicks on images"))
    print(render_summary(report, settings))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from search.launch.console import CheckProgress
    from search.model.adapt import adapted
    from search.model.predict import predict_files

    adapt = (args.adapt_bn, lambda meta: adapted(meta, args.adapt_bn, args.device, args.batch_size)) \
        if args.adapt_bn else None
    for path in predict_files(args.model, args.images, args.out, args.device, args.batch_size,
                              CheckProgress("predicting images"), adapt):
        print(path)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "formats": _formats, "demo-data": _demo_data, "train": _train, "run": _run, "evaluate": _evaluate,
    "results": _results, "plot": _plot, "report": _report, "export": _export, "suggest": _suggest,
    "predict": _predict}


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit code."""
    return COMMANDS[args.command](args)
