"""The report of several folders: the rounds of an annotation campaign, one line per folder (its round, clicks file,
clicks per image, best score and test score), before the trials table and the frontier they share."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from search.report.markup import esc, fmt, num, plain


def rounds_data(campaign: Any, df: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    """Per folder given (``search.results.campaign.Campaign``), in order: what it trained on and its best row."""
    score = f"best_{metric}"
    out = []
    for f in campaign.folders:
        clicks = f.clicks or {}
        rows = df[df["folder"] == f.name] if "folder" in df else df.iloc[0:0]
        best = rows.iloc[0] if len(rows) else None  # the campaign table lists each folder's best first
        out.append({"folder": f.name, "path": f.path, "kind": "full supervision" if f.dense else f.kind,
                    "runs": len(f.records), "round": clicks.get("round"), "clicks_file": clicks.get("name"),
                    "sha256": clicks.get("sha256"), "clicks": clicks.get("clicks"),
                    "clicks_by_round": clicks.get("clicks_by_round"),
                    "strategy": ((clicks.get("sidecar") or {}).get("strategy")),
                    "clicks_per_image": None if best is None else plain(best.get("clicks_per_image")),
                    "score": None if best is None else plain(best.get(score)),
                    "test_f1": None if best is None else plain(best.get("test_f1")),
                    "dense_score": _dense_score(f, metric) if f.dense else None})
    return out


def _dense_score(folder: Any, metric: str) -> float | None:
    row = folder.records[0].best_row if folder.records else None
    return None if row is None or metric not in row or math.isnan(float(row[metric])) else float(row[metric])


def rounds_html(rows: list[dict[str, Any]], metric: str, reference_text: str | None) -> str:
    head = ("<tr><th class='t'>folder</th><th class='t'>kind</th><th>round</th><th class='t'>clicks file</th>"
            "<th class='t'>sha256</th><th>clicks</th><th class='t'>by round</th><th class='t'>strategy</th>"
            f"<th>clicks per image</th><th>best {esc(metric)}</th><th>test F1</th></tr>")
    body = []
    for r in rows:
        by_round = ", ".join(f"{k}: {v}" for k, v in (r["clicks_by_round"] or {}).items())
        score = r["dense_score"] if r["dense_score"] is not None else r["score"]
        sha = _text(r["sha256"])
        cells = [("t", r["folder"], r["path"]), ("t", r["kind"], ""), ("", _text(r["round"]), ""),
                 ("t", _text(r["clicks_file"]), ""), ("t", sha[:12], sha), ("", _text(r["clicks"]), ""),
                 ("t", by_round, ""), ("t", _text(r["strategy"]), ""), ("", fmt(r["clicks_per_image"]), ""),
                 ("", num(score), ""), ("", num(r["test_f1"]), "")]
        body.append("<tr>" + "".join(f"<td class='{c}' title='{esc(tip)}'>{esc(v)}</td>" for c, v, tip in cells)
                    + "</tr>")
    note = f"<p>{esc(reference_text)}.</p>" if reference_text else ""
    return (f"<div class='tablewrap'><table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>{note}"
            "<p class='note'>Each folder's clicks file, SHA-256 and round are those it recorded when it started "
            "(clicks.json); the round of a click is the one <code>pointtune suggest</code> wrote with it (a first "
            "file is round 0). A folder trained on dense masks is full supervision, the reference of the ratios.</p>")


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
