"""The docs' generated tables: the defaults and the search space (from ``trainable.defaults``) in docs/search.md, and
the dataset formats (``search.cli.formats_table``) in docs/data.md. Each sits between marker comments;
``python -m search.cli.readme_tables`` writes them into their pages, and a test checks that each page holds its
tables as generated."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from search.cli.formats_table import markdown_table
from trainable.defaults import GROUPS, SAME, TABLE, Default
from trainable.setting_text import shown

ROOT = Path(__file__).resolve().parents[2]
# each page of the docs and the generated tables it holds
PAGES: dict[Path, tuple[str, ...]] = {ROOT / "docs" / "data.md": ("formats",),
                                      ROOT / "docs" / "search.md": ("search-space", "defaults")}
# the sections of the defaults table: the settings of `train` and `run` (search: `run` only)
DEFAULT_SECTIONS = ("data", "points", "model", "train", "search")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(entry: Default) -> str:
    text = entry.words or shown(entry.value)
    return text + (f"; with `--clicks`: {shown(entry.clicks)}" if entry.clicks is not SAME else "")


def defaults_table() -> str:
    """Every setting of train and run: where it is saved, its flag, its default, the demo's, what it means."""
    rows = ["| setting | flag | default | demo | valid | meaning |", "|---|---|---|---|---|---|"]
    for section in DEFAULT_SECTIONS:
        for name in GROUPS[section]:
            entry = TABLE[name]
            demo = shown(entry.demo) if entry.demo is not SAME else ""
            rows.append(f"| `{entry.where}` | `{entry.flag}` | {_cell(_default(entry))} | {_cell(demo)} | "
                        f"{_cell(entry.valid)} | {_cell(entry.help)} |")
    return "\n".join(rows)


def space_table() -> str:
    """The search space: each searched setting, its flag, how Optuna samples it, its default range and the demo's."""
    rows = ["| setting | flag | searched as | default | demo | valid | meaning |", "|---|---|---|---|---|---|---|"]
    for name in GROUPS["space"]:
        entry = TABLE[name]
        if entry.value is False or entry.value == ():  # a choice: its flag, or the flags that make it
            flag = re.sub(r"(--[a-z-]+)", r"`\1`", entry.flag)
        else:
            flag = f"`{entry.flag} LO HI`" + (f" (`{entry.fixed} X`)" if entry.fixed else "")
        demo = shown(entry.demo) if entry.demo is not SAME else ""
        rows.append(f"| `{entry.where}` | {flag} | {entry.searched} | {_cell(_default(entry))} | {_cell(demo)} | "
                    f"{_cell(entry.valid)} | {_cell(entry.help)} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {"formats": markdown_table, "defaults": defaults_table,
                                        "search-space": space_table}


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- generated: {name} table (python -m search.cli.readme_tables) -->",
            f"<!-- end of the generated {name} table -->")


def regenerate(text: str, names: tuple[str, ...] | None = None) -> str:
    """A page's text with each generated table of ``names`` (default: every table the page has markers for) as its
    generator writes it now.

    Raises:
        ValueError: a table's markers are missing (or, with no ``names``, the page has none).
    """
    if names is None:
        names = tuple(name for name in TABLES if _markers(name)[0] in text)
        if not names:
            raise ValueError("the page has no generated table (<!-- generated: NAME table ... --> markers)")
    for name in names:
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"the page has no {begin} ... {end} block")
        text = pattern.sub(lambda _, b=begin, e=end, m=TABLES[name]: f"{b}\n{m()}\n{e}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m search.cli.readme_tables [PAGE.md ...]``: rewrite the generated tables in place (every page of
    ``PAGES`` by default; a page given is rewritten for the tables it has markers for)."""
    args = sys.argv[1:] if argv is None else argv
    pages = [(Path(a), None) for a in args] if args else list(PAGES.items())
    for path, names in pages:
        old = path.read_text()
        new = regenerate(old, names)
        if new != old:
            path.write_text(new)
        print(f"{path}: {'tables regenerated' if new != old else 'tables already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
