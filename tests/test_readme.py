"""README's examples, run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from search.cli import main
from search.results import load_experiment

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
