"""README's examples, run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from search.cli.main import main
from search.results.experiment import load_experiment

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_config_example_runs_verbatim(ray_local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    block = re.search(r"```yaml\n# search\.yaml\n(.*?)```\n\n```bash\n(pointtune run --config search\.yaml.*?)\n```",
                      text, re.S)
    assert block, "README lost its --config example"
    yaml_text, command = block.groups()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "search.yaml").write_text(yaml_text)
    argv = shlex.split(command)
    assert argv[0] == "pointtune" and main(argv[1:]) == 0
    name = argv[argv.index("--name") + 1]
    records = load_experiment(str(tmp_path / "pointtune-results" / name))
    assert len(records) == 4 and all(r.status == "finished" for r in records)
    assert all(1e-5 <= r.config["train"]["lr"] <= 1e-2 and 1 <= r.config["train"]["epochs"] <= 3 for r in records)


def readme_commands(text: str) -> list[list[str]]:
    """Every ``pointtune ...`` command in README's bash blocks, as argv (comments and ``\\`` continuations undone;
    ``a && pointtune b`` gives ``pointtune b``)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;", line):
                argv = shlex.split(part, comments=True)
                if argv and argv[0] == "pointtune":
                    commands.append(argv)
    return commands


def test_every_pointtune_command_in_readme_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from search.cli.main import parse

    text = README.read_text()
    monkeypatch.chdir(tmp_path)  # where README's `--config search.yaml` finds the file README shows
    (tmp_path / "search.yaml").write_text(re.search(r"```yaml\n# search\.yaml\n(.*?)```", text, re.S).group(1))
    commands = readme_commands(text)
    assert len(commands) >= 20, "README's commands were not found"
    for argv in commands:
        try:
            parse(argv[1:])
        except SystemExit as e:  # argparse's way of refusing
            raise AssertionError(f"README's `{shlex.join(argv)}` does not parse (exit {e.code})") from None


def _shrunk(argv: list[str], overrides: dict[str, list[str]]) -> list[str]:
    """``argv`` with each flag of ``overrides`` set to its values (replaced where given, else added); a range flag
    of the same setting (``--epochs-range`` for ``--epochs``) is dropped."""
    out, i = [], 0
    while i < len(argv):
        flag = argv[i]
        base = flag.removesuffix("-range")
        if flag in overrides or (flag.endswith("-range") and base in overrides):
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                i += 1
            continue
        out.append(flag)
        i += 1
    for flag, values in overrides.items():
        out += [flag, *values]
    return out


SHRINK = {"demo-data": {"--images": ["10"], "--size": ["64"]},
          "train": {"--epochs": ["1"], "--crops-per-epoch": ["16"]},
          "run": {"--trials": ["2"], "--epochs": ["1"], "--crops-per-epoch": ["16"], "--cpus-per-trial": ["1"]}}


@pytest.mark.slow
def test_the_quick_start_runs_as_written_on_the_demo_folder(ray_local, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """README's quick-start block, each command in order in a fresh folder, shrunk by the flags above."""
    text = README.read_text()
    quick = text[text.index("## Quick start"):]
    commands = readme_commands(quick[:quick.index("```\n", quick.index("```bash")) + 4])
    assert [argv[1] for argv in commands][:4] == ["demo-data", "train", "evaluate", "predict"]
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        args = _shrunk(argv[1:], SHRINK.get(argv[1], {}))
        assert main(args) == 0, f"README's `{shlex.join(argv)}` failed"
    assert (tmp_path / "runs" / "one" / "best.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert (tmp_path / "report.html").is_file() and any((tmp_path / "predictions").glob("*_classes.png"))
    assert (tmp_path / "next-clicks.csv").read_text().startswith("image,x,y,class,")
    assert len(load_experiment(str(tmp_path / "pointtune-results" / "demo"))) == 2
