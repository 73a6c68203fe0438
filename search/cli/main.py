"""The ``pointtune`` command (and ``python -m search``): parse the flags, expand ``--config``, refuse what
``--resume`` would ignore, dispatch. The parser is ``search.cli.parser``, the commands ``search.cli.commands``."""

from __future__ import annotations

import argparse
import logging
import sys

from search.cli.commands import EXIT_NOTHING_TRAINED, dispatch
from search.cli.config_file import config_argv, explicit_flags
from search.cli.failures import AS_PROGRAM, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, report_failure
from search.cli.parser import build_parser
from search.errors import sigterm_as_ctrl_c

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_NOTHING_TRAINED", "EXIT_USAGE", "build_parser", "config_argv",
           "main", "parse"]

# what `run --resume` applies; every other flag belongs to the search being resumed (its saved settings)
RESUME_FLAGS = {"resume", "storage", "name", "address", "trials", "retry_failed", "verbose", "config"}
# what `train --resume` applies; the rest is the run's saved config.yaml
TRAIN_RESUME_FLAGS = {"resume", "out", "epochs", "verbose", "config"}
RESUME_REFUSALS = {
    "train": ("--resume continues the run in --out with the config it was started with (its config.yaml), so it "
              "would ignore {}; leave them out (only --out and --epochs, to extend the run, go with --resume), or "
              "start a new run with another --out"),
    "run": ("--resume continues the search with the settings it was started with, so it would ignore {}; leave them "
            "out (only --storage, --name, --address, --trials to raise the budget and --retry-failed go with "
            "--resume), or start a new search with another --name"),
}


def with_command(argv: list[str]) -> list[str]:
    """``pointtune [run flags]`` means ``pointtune run [run flags]``, and ``pointtune`` alone the demo search."""
    i = next((k for k, token in enumerate(argv) if token not in ("-v", "--verbose")), len(argv))
    if i == len(argv) or (argv[i].startswith("-") and argv[i] not in ("-h", "--help")):
        return [*argv[:i], "run", *argv[i:]]
    return argv


def _refuse_ignored(args: argparse.Namespace, argv: list[str], command: argparse.ArgumentParser) -> None:
    """``--resume`` applies a few flags (``RESUME_FLAGS``, ``TRAIN_RESUME_FLAGS``): any other given is an error.

    Raises:
        ConfigError: naming the flags it would ignore.
    """
    from trainable.config import ConfigError

    kept = TRAIN_RESUME_FLAGS if args.command == "train" else RESUME_FLAGS
    ignored = sorted(explicit_flags(argv, command) - kept)
    if ignored:
        raise ConfigError(RESUME_REFUSALS[args.command].format(', '.join('--' + d.replace('_', '-') for d in ignored)))


def _need(need: str) -> tuple[str, str, str]:
    """``scheduler=asha`` -> (name, operator, value): ``=`` that value, ``!=`` given with another, none: given."""
    for op in ("!=", "="):
        if op in need:
            name, value = need.split(op, 1)
            return name, op, value
    return need, "", ""


def _met(args: argparse.Namespace, need: str) -> bool:
    name, op, value = _need(need)
    given = getattr(args, name, None)
    values = [str(v) for v in given] if isinstance(given, list | tuple) else [str(given)]
    if not given:
        return False
    return value in values if op == "=" else any(v != value for v in values) if op == "!=" else True


def _alternative(need: str) -> str:
    """``scheduler=asha`` as one types it: ``--scheduler asha``; ``unlabeled_loss!=none``: ``--unlabeled-loss`` with
    a value other than none."""
    name, op, value = _need(need)
    flag = "--" + name.replace("_", "-")
    return f"{flag} {value}" if op == "=" else f"{flag} with a value other than {value}" if op == "!=" else flag


def _refuse_idle(args: argparse.Namespace, argv: list[str], command: argparse.ArgumentParser) -> None:
    """A flag given that does nothing without another (``Default.needs`` in ``trainable.defaults``) is refused,
    saying what to add.

    Raises:
        ConfigError: naming the flag and what it needs.
    """
    from trainable.config import ConfigError
    from trainable.defaults import TABLE

    for dest in sorted(explicit_flags(argv, command)):
        entry = TABLE.get(dest)
        if entry is None or not entry.needs:
            continue
        if any(_met(args, need) for need in entry.needs):
            continue
        needs = [n for n in entry.needs if hasattr(args, _need(n)[0])]
        if not needs:
            continue  # this command uses the flag by itself (report's --target)
        raise ConfigError(f"{entry.flag} does nothing without {' or '.join(map(_alternative, needs))}: add "
                          f"{_alternative(needs[0])}, or leave {entry.flag} out")


def _refuse_empty(args: argparse.Namespace, argv: list[str], command: argparse.ArgumentParser) -> None:
    """A flag given an empty value (``--storage ''``, a ``--config`` key left blank) means nothing: it would become
    the current folder or a default without a word.

    Raises:
        ConfigError: naming the flag.
    """
    from trainable.config import ConfigError

    for a in command._actions:
        if a.dest in explicit_flags(argv, command) and getattr(args, a.dest, None) == "":
            raise ConfigError(f"{a.option_strings[-1]} '' is empty: give a value, or leave the flag out")


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse, expanding ``run``'s or ``train``'s ``--config FILE.yaml`` into flags that the command line's own flags
    override.

    Raises:
        ConfigError: a bad ``--config`` file, or ``--resume`` with flags it would not apply.
    """
    parser, _ = build_parser()
    argv = with_command(argv)
    args = parser.parse_args(argv)
    (commands,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    command = commands[args.command]
    position = argv.index(args.command) + 1
    if args.command in ("run", "train"):
        if args.config:
            argv = [*argv[:position], *config_argv(args.config, command), *argv[position:]]
            args = parser.parse_args(argv)
        if args.resume:  # given on the command line or in the --config file
            _refuse_ignored(args, argv[position:], command)
    _refuse_idle(args, argv[position:], command)
    _refuse_empty(args, argv[position:], command)
    if args.command == "train":
        args.given = explicit_flags(argv[position:], command)  # what `train --like` must not override
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pointtune`` and ``python -m search``; returns the exit code. Whatever stops a command is said
    in one line (``search.cli.failures``), never as a traceback."""
    if argv is None:  # the program itself (not a call from Python): a SIGTERM stops it as Ctrl-C does
        sigterm_as_ctrl_c()
        AS_PROGRAM["yes"] = True
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in with_command(argv) if not a.startswith("-")), "")  # for the words of an error
    verbose = "-v" in argv or "--verbose" in argv
    try:
        try:
            args = parse(argv)
        except SystemExit as stop:  # argparse's own exit (an error it printed, or --help): its status, returned
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else EXIT_USAGE)
        command, verbose = args.command, args.verbose
        for note in getattr(args, "renamed", []):
            print(f"pointtune: note: {note}", file=sys.stderr)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        return dispatch(args)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001  the one place every failure is said in words
        return report_failure(command, argv, e, verbose)
