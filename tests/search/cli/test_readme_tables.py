"""The docs' generated tables (defaults and search space in docs/search.md, dataset formats in docs/data.md) are
what their generators write now."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.cli import readme_tables
from search.cli.readme_tables import PAGES, ROOT, TABLES, defaults_table, regenerate, space_table
from trainable.defaults import GROUPS, TABLE


def test_each_page_holds_its_generated_tables() -> None:
    assert sorted(name for names in PAGES.values() for name in names) == sorted(TABLES), "a table has no page"
    for path, names in PAGES.items():
        text = path.read_text()
        assert regenerate(text, names) == text, f"{path.name} is stale: run python -m search.cli.readme_tables"
        for name in names:
            assert f"<!-- generated: {name} table" in text, (path.name, name)
    assert "<!-- generated:" not in (ROOT / "README.md").read_text(), "README keeps no generated table: the docs do"


def test_the_tables_name_every_setting_of_train_and_run_and_the_search_space() -> None:
    defaults, space = defaults_table(), space_table()
    for section in readme_tables.DEFAULT_SECTIONS:
        for name in GROUPS[section]:
            assert f"`{TABLE[name].flag}`" in defaults, name
    assert "| `train.batch_size` | `--batch-size` | 8 |  |" in defaults
    assert "| `search.trials` | `--trials` | 16 | 6 |" in defaults
    assert "| `space.lr` | `--lr-range LO HI` (`--lr X`) | log-uniform | 1e-5 0.01 | 1e-4 0.03 |" in space
    assert len(space.splitlines()) == 2 + len(GROUPS["space"])


def test_the_script_rewrites_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    search_page = ROOT / "docs" / "search.md"
    stale = tmp_path / "search.md"
    stale.write_text(search_page.read_text().replace("| `search.trials` | `--trials` | 16 | 6 |",
                                                     "| `search.trials` | `--trials` | 12 | 4 |"))
    assert stale.read_text() != search_page.read_text()
    assert readme_tables.main([str(stale)]) == 0
    assert stale.read_text() == search_page.read_text() and "tables regenerated" in capsys.readouterr().out
    stale.write_text("no markers here\n")
    with pytest.raises(ValueError, match="the page has no generated table"):
        readme_tables.main([str(stale)])
    with pytest.raises(ValueError, match="the page has no <!-- generated: formats table"):
        regenerate("no markers here\n", ("formats",))
