"""``pointtune formats``: the built-in dataset formats described (and docs/data.md's table of them)."""

from __future__ import annotations

from trainable.config import ConfigError
from trainable.data.formats import Format, all_formats


def _classes_text(fmt: Format) -> tuple[str, str]:
    desc = fmt.classes(frozenset())
    unpack = (lambda v: f"#{v:06X}") if desc.mask_encoding == "rgb" else str
    classes = ", ".join(f"{n} ({unpack(v)})" for n, v in zip(desc.names, desc.values, strict=True))
    ignore = ", ".join(unpack(v) for v in desc.ignore_values) or "none"
    return classes, ignore


def describe_format(fmt: Format) -> str:
    classes, ignore = _classes_text(fmt)
    lines = [f"{fmt.name}: {fmt.title}", f"  source:  {fmt.source}", f"  licence: {fmt.licence}",
             f"  classes: {classes}", f"  ignored: {ignore}"
             + ("; values in no class are counted, reported and ignored" if fmt.classes(frozenset()).unknown ==
                "ignore" else ""),
             f"  split:   {fmt.split or 'none of its own: seeded by scene'}", "  layout:"]
    lines += [f"    {line}" for line in fmt.layout.splitlines()]
    if fmt.options:
        lines.append("  options (--format " + fmt.name + ":OPTION,...):")
        lines += [f"    {k}: {v}" for k, v in fmt.options.items()]
    return "\n".join(lines)


def describe_formats(name: str | None = None) -> str:
    formats = all_formats()
    if name is not None:
        if name not in formats:
            raise ConfigError(f"no format {name!r}; formats: {', '.join(formats)}")
        return describe_format(formats[name])
    return "\n\n".join(describe_format(f) for f in formats.values())


def markdown_table() -> str:
    """docs/data.md's table of the formats (format, classes, ignore, layout, split, licence, source)."""
    rows = ["| format | classes | ignored | layout | official split | licence | source |",
            "|---|---|---|---|---|---|---|"]
    for fmt in all_formats().values():
        desc = fmt.classes(frozenset())
        ignore = "none" if not desc.ignore_values else ", ".join(
            f"#{v:06X}" if desc.mask_encoding == "rgb" else str(v) for v in desc.ignore_values)
        first = fmt.layout.splitlines()[0].split()[0]
        rows.append(f"| `{fmt.name}` | {len(desc.names)}: {', '.join(desc.names)} | {ignore} | `{first}` ... | "
                    f"{fmt.split or 'none (seeded)'} | {fmt.licence} | {fmt.source} |")
    return "\n".join(rows)
