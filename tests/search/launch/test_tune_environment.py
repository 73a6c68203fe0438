"""The environment every search gives Ray and Tune (search/launch/cluster.py ``tune_environment``)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from search.launch.cluster import tune_environment


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stdout", "no_color", "expected"), [
    (io.StringIO(), None, "0"),  # a pipe or a file: Ray's "(pid=...)" prefixes without colour codes
    (Terminal(), None, None),  # a terminal: Ray's own choice
    (Terminal(), "1", "0"),  # NO_COLOR (no-color.org) on a terminal
])
def test_ray_colours_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, stdout: io.StringIO, no_color: str | None,
                                        expected: str | None) -> None:
    monkeypatch.delenv("RAY_COLOR_PREFIX", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr(sys, "stdout", stdout)
    tune_environment()
    assert os.environ.get("RAY_COLOR_PREFIX") == expected


def test_a_users_own_choice_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_COLOR_PREFIX", "1")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    tune_environment()
    assert os.environ["RAY_COLOR_PREFIX"] == "1"
