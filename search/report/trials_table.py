"""The report's trials table: one row per trial, best first, with status marks; sortable and filterable in the
page (``search.report.page``'s script)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from search.report.markup import esc, fmt, plain
from search.report.style import MARKS, status_mark


def shown_columns(df: pd.DataFrame) -> list[str]:
    """The table's columns worth showing: not empty for every trial, and the click mode and class weights only when
    trials differ in them (as ``pointtune results`` on screen)."""
    keep = []
    for c in df.columns:
        if c in ("trial_id", "status"):
            keep.append(c)
        elif df[c].isna().all():
            continue
        elif c in ("mode", "class_weights") and df[c].nunique(dropna=False) <= 1:
            continue
        else:
            keep.append(c)
    return keep


def table_data(df: pd.DataFrame) -> dict[str, Any]:
    """The trials table (``search.results.tables.trials_table``'s frame) as columns and rows of plain values, each
    row
    with its status mark; the frame's order (best first) is kept."""
    columns = shown_columns(df)
    rows = []
    for _, r in df.iterrows():
        rows.append({"trial_id": str(r["trial_id"]), "status": str(r["status"]), "mark": status_mark(str(r["status"])),
                     "error": plain(r.get("error")), "cells": {c: plain(r[c]) for c in columns}})
    return {"columns": columns, "rows": rows}


def table_html(data: dict[str, Any], best: str | None) -> str:
    cols = data["columns"]
    text_cols = {"trial_id", "status", "mode", "error"}
    head = "".join(f'<th tabindex="0" class="{"t" if c in text_cols else ""}" title="sort by {esc(c)}">'
                   f"{esc(c)}</th>" for c in cols)
    rows = []
    for r in data["rows"]:
        cells = []
        for c in cols:
            v = r["cells"][c]
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            attrs = f' data-v="{esc(repr(v) if numeric else fmt(v))}"' + (" data-n" if numeric else "")
            if c == "status":
                what = MARKS.get(r["status"], (r["mark"], r["status"]))[1]
                tip = f"{what}: {r['error']}" if r["error"] else what
                cells.append(f'<td class="t"{attrs}><span class="mark {esc(r["mark"])}" title="{esc(tip)}">'
                             f"{esc(r['status'])}</span></td>")
            elif c == "error":
                cells.append(f'<td class="err"{attrs} title="{esc(fmt(v))}">{esc(fmt(v))}</td>')
            else:
                cells.append(f'<td class="{"t" if c in text_cols else ""}"{attrs}>{esc(fmt(v))}</td>')
        cls = f"{r['mark']}{' best' if r['trial_id'] == best else ''}"
        rows.append(f'<tr class="{esc(cls)}" data-status="{esc(r["status"])}">{"".join(cells)}</tr>')
    statuses = sorted({r["status"] for r in data["rows"]})
    options = "".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in statuses)
    return (f'<div class="controls"><input id="filter" type="search" placeholder="filter: any text of a row">'
            f'<select id="status-filter"><option value="">every status</option>{options}</select>'
            f'<span id="shown" class="note"></span></div>'
            f'<div class="tablewrap"><table id="trials"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="note">Click a column header to sort (again to reverse). Sorted at first by the best score. '
            "Marks: finished, stopped early (a scheduler stopped it), failed (hover for the error), diverged, "
            "running, interrupted (its search was stopped before it ended: --resume continues it).</p>")
