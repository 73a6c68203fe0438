"""What a command says when it stops: one line, never a traceback; a bug names the log that holds it."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

import search.cli.commands
from search.cli.failures import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, report_failure
from search.cli.main import main
from search.errors import SearchError


def test_a_bug_is_one_line_naming_the_log_with_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))

    def broken(args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setitem(search.cli.commands.COMMANDS, "formats", broken)
    assert main(["formats"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pointtune formats: internal error (a bug in pointtune, not in what you gave it): KeyError" in err
    (log,) = (tmp_path / "logs").glob("pointtune-formats-*.log")
    text = log.read_text()
    assert str(log) in err and "command: pointtune formats" in text and "Traceback" in text and "a bug" in text


def test_with_verbose_a_bug_shows_its_traceback_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    try:
        raise ValueError("deep down")
    except ValueError as e:
        assert report_failure("plot", ["plot", "-v"], e, verbose=True) == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("error, said, code", [
    (SearchError("--out x is a folder"), "pointtune export: error: --out x is a folder", EXIT_USAGE),
    (PermissionError(errno.EACCES, "Permission denied", "/data/m.pt"),
     "/data/m.pt: Permission denied; check its permissions", EXIT_USAGE),
    (OSError(errno.ENOSPC, "No space left on device", "/out/r.html"), "the disk is full", EXIT_USAGE),
    (RuntimeError("Symlink loop from '/d/loop'"), "/d/loop: a symbolic link loop; a symbolic link there points back",
     EXIT_USAGE),
    (MemoryError(), "out of memory (MemoryError); lower --batch-size", EXIT_USAGE),
    (KeyboardInterrupt(), "pointtune export: interrupted", EXIT_INTERRUPTED),
])
def test_what_the_user_or_the_machine_can_fix_is_said_in_words(error: BaseException, said: str, code: int,
                                                               capsys: pytest.CaptureFixture) -> None:
    assert report_failure("export", ["export"], error) == code
    err = capsys.readouterr().err
    assert said in err and "internal error" not in err


def test_the_command_line_tool_exits_with_the_status_and_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "search", "results", str(tmp_path / "none")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == EXIT_USAGE and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("does not exist: give STORAGE/NAME of a search")
