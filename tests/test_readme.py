"""The examples of README.md and docs/*.md: every ``pointtune`` command parses, and those on the built-in demo data
run (shrunk: fewer epochs, crops and trials), README's quick start first and as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from search.cli.main import main
from search.results.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
SEARCH_PAGE = ROOT / "docs" / "search.md"  # the page of the --config example
CONFIG_EXAMPLE = r"```yaml\n# search\.yaml\n(.*?)```"
# what a command needs beyond the demo data, by a mark in its arguments, and the words its page must say it with
NEEDS = {"../shared/data": "Dubai sample", "s3://": "cluster", "gs://": "cluster", "--address": "cluster",
         "/data/": "your data"}


def readme_commands(text: str) -> list[list[str]]:
    """Every ``pointtune ...`` command in a page's bash blocks, as argv (comments and ``\\`` continuations undone;
    ``a && pointtune b`` gives ``pointtune b``, and ``ray job submit ... -- pointtune b`` too)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;", line):
                argv = shlex.split(part, comments=True)
                if "--" in argv and argv[argv.index("--") + 1:][:1] == ["pointtune"]:
                    argv = argv[argv.index("--") + 1:]
                if argv and argv[0] == "pointtune":
                    commands.append(argv)
    return commands


def _outputs(argv: list[str]) -> list[str]:
    """The folders or files a command writes (``--name``, ``--out``), as a later command names them."""
    return [argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag in ("--name", "--out")]


def needs(commands: list[list[str]]) -> list[str | None]:
    """Per command, what it needs beyond the built-in demo data (the Dubai sample, a cluster, your data), or None:
    by a mark in its arguments, or by reading what an earlier command of the page that needs something wrote."""
    made: dict[str, str] = {}
    out = []
    for argv in commands:
        need = next((words for mark, words in NEEDS.items() if any(mark in arg for arg in argv)), None)
        need = need or next((made[o] for o in made for arg in argv if arg.rstrip("/").endswith(o.rstrip("/"))), None)
        if need:
            made.update(dict.fromkeys(_outputs(argv), need))
        out.append(need)
    return out


# demo searches of the pages that a test of their own runs end to end, with the same flag and more checks than an exit
# status: the page test leaves them (and what reads their folders) to that test, which keeps the suite under 8 min
COVERED = {"--frontier": "tests/search/results/test_frontier.py::test_a_frontier_search_with_a_reference_end_to_end",
           "--pseudo-labels-range": "tests/search/launch/test_pseudo_labels_cli.py::"
                                    "test_a_search_gives_its_trials_different_thresholds",
           "--warm-start": "tests/search/launch/test_warm_start.py::"
                           "test_a_warm_started_search_starts_from_the_earlier_run"}


def covered(commands: list[list[str]]) -> list[str | None]:
    """Per command, the test that runs it end to end (``COVERED``, by a flag of a ``run``), or None; a command that
    reads what a covered command wrote is covered with it."""
    made: dict[str, str] = {}
    out = []
    for argv in commands:
        test = next((COVERED[f] for f in COVERED if f in argv), None) if "run" in argv[1:2] else None
        test = test or next((made[o] for o in made for arg in argv if arg.rstrip("/").endswith(o.rstrip("/"))), None)
        if test:
            made.update(dict.fromkeys(_outputs(argv), test))
        out.append(test)
    return out


def test_a_covered_command_s_test_exists_and_uses_its_flag() -> None:
    root = README.parent
    for flag, test in COVERED.items():
        path, name = test.split("::")
        source = (root / path).read_text()
        body = source[source.index(f"def {name}("):]
        body = body.split("\ndef ", 1)[0]
        assert f'"{flag}"' in body, f"{test} no longer runs a search with {flag}"


def _write_config_example(folder: Path) -> None:
    """docs/search.md's ``search.yaml``, where its `--config search.yaml` command finds it."""
    (folder / "search.yaml").write_text(re.search(CONFIG_EXAMPLE, SEARCH_PAGE.read_text(), re.S).group(1))


@pytest.mark.slow
def test_the_config_example_runs_verbatim(ray_local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SEARCH_PAGE.read_text()
    block = re.search(CONFIG_EXAMPLE + r"\n\n```bash\n(pointtune run --config search\.yaml.*?)\n```", text, re.S)
    assert block, "docs/search.md lost its --config example"
    command = block.group(2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path / "cache"))
    _write_config_example(tmp_path)
    argv = shlex.split(command)
    assert argv[0] == "pointtune" and main(argv[1:]) == 0
    name = argv[argv.index("--name") + 1]
    records = load_experiment(str(tmp_path / "pointtune-results" / name))
    assert len(records) == 2 and all(r.status == "finished" for r in records)
    assert all(1e-5 <= r.config["train"]["lr"] <= 1e-2 and 1 <= r.config["train"]["epochs"] <= 3 for r in records)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_pointtune_command_of_the_page_parses(page: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from search.cli.main import parse

    monkeypatch.chdir(tmp_path)  # where `--config search.yaml` finds the file docs/search.md shows
    _write_config_example(tmp_path)
    text = page.read_text()
    commands = readme_commands(text)
    for argv, need in zip(commands, needs(commands), strict=True):
        try:
            parse(argv[1:])
        except SystemExit as e:  # argparse's way of refusing
            raise AssertionError(f"{page.name}'s `{shlex.join(argv)}` does not parse (exit {e.code})") from None
        assert need is None or need.lower() in text.lower(), \
            f"{page.name}'s `{shlex.join(argv)}` needs the {need}, and the page does not say so"


def test_the_docs_hold_commands_and_readme_links_every_page() -> None:
    commands = {page.name: readme_commands(page.read_text()) for page in PAGES}
    assert len(commands["README.md"]) >= 12, "README's commands were not found"
    assert sum(len(c) for c in commands.values()) >= 30, "the docs' commands were not found"
    readme = README.read_text()
    for page in DOCS:
        assert f"](docs/{page.name})" in readme, f"README does not link docs/{page.name}"
        assert page.read_text().startswith("# "), f"docs/{page.name} has no title"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (``-`` and ``_`` kept), spaces as ``-``."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_reaches_a_file_and_heading() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name} links {target}: no such file"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name} links {target}: no such heading"


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


def _run_shrunk(page: Path, argv: list[str]) -> None:
    command = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "run"  # flags alone: `pointtune run`
    args = _shrunk(argv[1:], SHRINK.get(command, {}))
    assert main(args) == 0, f"{page.name}'s `{shlex.join(argv)}` failed"


@pytest.fixture(scope="module")
def demo_workspace(ray_local, tmp_path_factory: pytest.TempPathFactory):
    """A folder where README's quick-start block ran, each command in order, shrunk by SHRINK: the demo folder, a
    train run, a search and its exported model, which the pages' commands then use."""
    folder = tmp_path_factory.mktemp("docs")
    text = README.read_text()
    quick = text[text.index("## Quick start"):]
    commands = readme_commands(quick[:quick.index("```\n", quick.index("```bash")) + 4])
    assert [argv[1] for argv in commands][:4] == ["demo-data", "train", "evaluate", "predict"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("POINTTUNE_CACHE", str(folder / "cache"))
        for argv in commands:
            _run_shrunk(README, argv)
    return folder, commands


@pytest.mark.slow
def test_the_quick_start_runs_as_written_on_the_demo_folder(demo_workspace) -> None:
    """README's quick-start block, each command in order in a fresh folder, shrunk by the flags above."""
    folder, _ = demo_workspace
    assert (folder / "runs" / "one" / "best.pt").is_file() and (folder / "best.pt").is_file()
    assert (folder / "report.html").is_file() and any((folder / "predictions").glob("*_classes.png"))
    assert (folder / "next-clicks.csv").read_text().startswith("image,x,y,class,")
    assert len(load_experiment(str(folder / "pointtune-results" / "demo"))) == 2


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_page_s_demo_commands_run(page: Path, demo_workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page's commands on the demo data, in order, in the quick start's folder (after it), shrunk as it is.
    Commands that need the Dubai sample, a cluster or your data are parsed only (above); the quick start and
    `--config search.yaml` have tests of their own, and so does README's main job, bare `pointtune` (the same demo
    search as the quick start's `run`; the hook that checks every stop runs it as written), and the searches that
    ``COVERED`` names."""
    folder, quick_start = demo_workspace
    monkeypatch.chdir(folder)
    monkeypatch.setenv("POINTTUNE_CACHE", str(folder / "cache"))
    ran = 0
    commands = readme_commands(page.read_text())
    for argv, need, test in zip(commands, needs(commands), covered(commands), strict=True):
        main_job = argv == ["pointtune"]
        if need is None and test is None and argv not in quick_start and "--config" not in argv and not main_job:
            _run_shrunk(page, argv)
            ran += 1
    if page.name in ("clicks.md", "training.md", "where-to-click.md", "results.md", "search.md"):
        assert ran, f"{page.name} lost its commands on the demo data"
