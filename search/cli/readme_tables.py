"""README's generated tables: the defaults and the search space (from ``trainable.defaults``) and the dataset formats
(``search.cli.formats_table``). Each sits between marker comments; ``python -m search.cli.readme_tables`` writes
them into README.md, and a test checks that README holds them as generated."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from search.cli.formats_table import markdown_table
from trainable.defaults import GROUPS, SAME, TABLE, Default, shown

README = Path(__file__).resolve().parents[2] / "README.md"
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


def regenerate(text: str) -> str:
    """README's text with every generated table as its generator writes it now.

    Raises:
        ValueError: a table's markers are missing.
    """
    for name, make in TABLES.items():
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no {begin} ... {end} block")
        text = pattern.sub(lambda _, b=begin, e=end, m=make: f"{b}\n{m()}\n{e}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m search.cli.readme_tables [README.md]``: rewrite the generated tables in place."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else README
    old = path.read_text()
    new = regenerate(old)
    if new != old:
        path.write_text(new)
    print(f"{path}: {'tables regenerated' if new != old else 'tables already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
