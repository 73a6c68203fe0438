"""README's generated tables (defaults, search space, dataset formats) are what their generators write now."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.cli import readme_tables
from search.cli.readme_tables import README, TABLES, defaults_table, regenerate, space_table
from trainable.defaults import GROUPS, TABLE


def test_readme_holds_the_generated_tables() -> None:
    text = README.read_text()
    assert regenerate(text) == text, "README's generated tables are stale: run python -m search.cli.readme_tables"
    for name in TABLES:
        assert f"<!-- generated: {name} table" in text


def test_the_tables_name_every_setting_of_train_and_run_and_the_search_space() -> None:
    defaults, space = defaults_table(), space_table()
    for section in readme_tables.DEFAULT_SECTIONS:
        for name in GROUPS[section]:
            assert f"`{TABLE[name].flag}`" in defaults, name
    assert "| `train.batch_size` | `--batch-size` | 8 |  |" in defaults
    assert "| `search.trials` | `--trials` | 16 | 6 |" in defaults
    assert "| `space.lr` | `--lr-range LO HI` (`--lr X`) | log-uniform | 1e-5 0.01 | 1e-4 0.03 |" in space
    assert len(space.splitlines()) == 2 + len(GROUPS["space"])


def test_the_script_rewrites_a_stale_readme(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("| `search.trials` | `--trials` | 16 | 6 |",
                                                "| `search.trials` | `--trials` | 12 | 4 |"))
    assert readme_tables.main([str(stale)]) == 0
    assert stale.read_text() == README.read_text() and "tables regenerated" in capsys.readouterr().out
    stale.write_text("no markers here\n")
    with pytest.raises(ValueError, match="README has no <!-- generated: formats table"):
        readme_tables.main([str(stale)])
