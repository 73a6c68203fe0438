"""``pointtune report``: one self-contained HTML file of a search (or of a ``pointtune train`` folder).

The file needs no network to be read: figures are SVG in ``data:`` URIs, the table's sorting and filtering is a
few lines of inline JavaScript, and a Content-Security-Policy forbids the page to fetch anything (it allows
``data:`` images). It can be made while the search runs (running trials are marked) or after.

This module is the page: its shell (CSS, script, header, navigation) around the sections, each a module of this
package with a pure function from records and tables to plain dicts and lists (testable on a hand-made table
without Ray, torch or pixels) and a thin one that draws it:

- ``load``: the experiment (``search.results.experiment``) or ``train`` folder, the saved settings, the test score
  and the full-supervision reference;
- ``summary``, ``trials_table``, ``curves``, ``frontier``, ``scatter``: the search's sections;
- ``best_model``: the best checkpoint run here on a few validation images (the data folder is in the checkpoint's
  config; when it cannot be reached, the report says why and goes on without that section), drawn with
  ``per_class``, ``confusion`` and ``examples``;
- ``svg``, ``svg_charts``: SVG written in plain Python (axes, ticks, lines, markers, legends) as
  ``data:image/svg+xml;base64`` URIs; ``style`` and ``markup``: the marks, colours and HTML pieces they share.

No plotting library is used: importing matplotlib and laying out its figures took 3 of the 4 seconds of a
``--no-model`` report, which now costs little more than loading the trials. Nothing of torch or Ray is imported at
module level, nor on the ``--no-model`` path: each is imported by the function that needs it.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.outputs import SOFTWARE, experiment_inputs, plan_file
from search.report.best_model import Gap, model_html, model_section
from search.report.curves import curves, draw_curves
from search.report.frontier import draw_frontier, frontier_data
from search.report.learned import importance_of, learned_html, parallel_data
from search.report.load import ReportInput, load_campaign_input, load_report_input
from search.report.markup import esc, gap, img, json_script
from search.report.per_class import per_class
from search.report.rounds import rounds_data, rounds_html
from search.report.scatter import draw_scatter, scatter_panels
from search.report.summary import summary_data, summary_html, test_score_data
from search.report.trials_table import table_data, table_html
from search.results.experiment import TrialRecord, best_record
from search.results.importance import Importance
from search.results.tables import trials_table, with_warm_start
from trainable.config import ConfigError
from trainable.data import storage
from trainable.data.storage import is_uri

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header .sub{color:#b8c0d0;font-size:12px;word-break:break-all}
nav{padding:6px 24px;background:#e9ecf1;font-size:13px}nav a{margin-right:14px;color:#1d4ed8}
main{padding:8px 24px 40px;max-width:1500px}section{background:#fff;border:1px solid #dde1e8;border-radius:6px;
padding:10px 16px;margin:14px 0}h2{font-size:16px;margin:4px 0 10px}
.note{color:#6b7280;font-size:12px}.gap{background:#fff7e6;border-left:4px solid #f0a020;padding:6px 10px}
.kv{display:flex;flex-wrap:wrap;gap:8px 26px}.kv div b{display:block;font-size:18px}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th{background:#f0f2f5;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.t,th.t{text-align:left}tr.best td{font-weight:600}
.mark{display:inline-block;border-radius:9px;padding:0 7px;font-size:11.5px;color:#fff;background:#6b7280}
.mark.finished{background:#15803d}.mark.stopped{background:#c2710c}.mark.failed{background:#b91c1c}
.mark.diverged{background:#7e22ce}.mark.running{background:#1d4ed8}
tr.failed td,tr.diverged td{background:#fdf2f2}tr.stopped td{background:#fff8ed}tr.running td{background:#eff5ff}
td.err{max-width:420px;overflow:hidden;text-overflow:ellipsis;text-align:left;color:#991b1b}
.tablewrap{max-height:560px;overflow:auto;border:1px solid #e5e7eb}
.controls{margin:0 0 8px}.controls input,.controls select{font:inherit;padding:2px 6px;margin-right:10px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}.pair section{min-width:0}
img.fig{max-width:100%;height:auto;display:block;margin:6px 0}.row{display:flex;flex-wrap:wrap;gap:16px}
"""

JS = """
(function () {
  var table = document.getElementById('trials');
  if (!table) return;
  var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
  function key(td) {
    var v = td.getAttribute('data-v');
    if (v === null || v === '') return null;
    return td.getAttribute('data-n') !== null ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i], asc = th.getAttribute('aria-sort') !== 'ascending';
    for (var k = 0; k < heads.length; k++) heads[k].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[i]), y = key(b.cells[i]);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    (function (i) {
      heads[i].addEventListener('click', function () { sortBy(i); });
      heads[i].addEventListener('keydown', function (e) { if (e.key === 'Enter') sortBy(i); });
    })(i);
  }
  var text = document.getElementById('filter'), status = document.getElementById('status-filter'),
      count = document.getElementById('shown');
  function filter() {
    var q = text.value.trim().toLowerCase(), s = status.value, shown = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var ok = (!s || r.getAttribute('data-status') === s) && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) shown++;
    });
    count.textContent = shown + ' of ' + body.rows.length + ' trial(s) shown';
  }
  text.addEventListener('input', filter);
  status.addEventListener('change', filter);
  filter();
})();
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"



def build_report(inp: ReportInput, model: bool = True, target: float = 0.95, device: str = "auto",
                 section: dict[str, Any] | None = None) -> str:
    """The report's HTML. ``model=False`` leaves out what needs the best checkpoint and the data (the confusion
    matrix and the images); ``section`` gives that part ready-made (tests)."""
    records, metric = inp.records, inp.metric
    df = inp.table if inp.table is not None else trials_table(records, inp.reference)
    try:
        best = best_record(records, "report")
    except SearchError:
        best = None
    best_epoch = int(best.best_row["epoch"]) if best is not None else None
    planned = (inp.settings or {}).get("trials") if inp.kind == "search" else None
    f1 = "val_clicks_f1" if metric.startswith("val_clicks_") else "val_f1"  # a search on clicks only: their F1
    section, why = _model_part(inp, best, model, device, section)
    listed = with_warm_start(df, inp.path) if inp.kind == "search" else df  # the earlier trials it started from
    data = {"kind": inp.kind, "path": inp.path, "metric": metric,
            "summary": summary_data(records, df, metric, planned, best), "table": table_data(listed),
            "curves": curves(records, f1), "settings_panels": scatter_panels(df, metric),
            "frontier": frontier_data(df, metric, target, inp.reference) if inp.kind != "train" else None,
            "rounds": rounds_data(inp.campaign, df, metric) if inp.campaign is not None else None,
            "per_class": per_class(best.best_row, f1.removesuffix("_f1")) if best is not None else [],
            "test": test_score_data(inp.test_scores, best.trial_id if best is not None else None, best_epoch),
            "confusion": None if section is None else section["confusion"], "model_gap": why,
            "parallel": parallel_data(df, metric, best.trial_id if best is not None else None)}
    imp, data["importance_gap"] = importance_of(inp.path) if inp.kind == "search" else (None, None)
    data["importance"] = None if imp is None else dataclasses.asdict(imp)  # in the page's data as plain values
    return _page(inp, _sections(inp, data, best, f1, section), data)


def _model_part(inp: ReportInput, best: TrialRecord | None, model: bool, device: str,
                section: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """The best model's section (``best_model.model_section``), or why there is none."""
    if section is None and best is not None and model:
        try:
            return model_section(inp.folders.get(best.trial_id, inp), best, device), None
        except Gap as e:
            return None, str(e)
    if best is None:
        return section, "no trial has finished an epoch yet"
    if not model:
        return section, "left out (--no-model)"
    return section, None


Section = tuple[str, str, str]  # id, title, HTML


def _sections(inp: ReportInput, data: dict[str, Any], best: TrialRecord | None, f1: str,
              section: dict[str, Any] | None) -> list[Section | list[Section]]:
    """The page's sections in order (a list: sections shown side by side)."""
    best_id = best.trial_id if best is not None else None
    sections: list[Section | list[Section]] = [
        ("summary", "Summary", summary_html(inp, data["summary"], data["test"])),
        *([("rounds", f"Rounds ({len(data['rounds'])} folders)", rounds_html(data["rounds"], inp.metric,
                                                                             inp.reference_text))]
          if data["rounds"] is not None else []),
        ("trials", f"Trials ({len(inp.records)})", table_html(data["table"], best_id) if inp.records
         else gap("No trial has started yet."))]
    curves_html = (img(draw_curves(data["curves"], f1, best_id), "validation F1 per epoch of every trial")
                   if data["curves"] else gap("No trial has reported an epoch yet."))
    pair = [("curves", "F1 per epoch", curves_html)]
    frontier = data["frontier"]
    if frontier is not None:  # side by side
        statements = "".join(f"<li>{esc(s)}</li>" for s in frontier["statements"])
        pair.append(("frontier", "Annotation budget: the frontier",
                     img(draw_frontier(frontier), "score against clicks per image, Pareto front")
                     + (f"<ul>{statements}</ul>" if statements else "")))
    sections.append(pair)
    if data["settings_panels"]:
        sections.append(("settings", "Score against the settings",
                         img(draw_scatter(data["settings_panels"], inp.metric, best_id),
                             "best score against the searched settings")))
    if inp.kind == "search":
        imp = Importance(**data["importance"]) if data["importance"] else None
        sections.append(("learned", "What the search learned", learned_html(data["parallel"], imp,
                                                                          data["importance_gap"])))
    sections.append(("model", "The best model", model_html(section, data["model_gap"], data["per_class"], best)))
    return sections


def _page(inp: ReportInput, sections: list[Section | list[Section]], data: dict[str, Any]) -> str:
    """The HTML document: header, navigation, the sections, the report's data as JSON and the table's script."""
    def one(sid: str, title: str, content: str) -> str:
        return f'<section id="sec-{sid}"><h2>{esc(title)}</h2>{content}</section>'

    flat = [s for entry in sections for s in (entry if isinstance(entry, list) else [entry])]
    nav = "".join(f'<a href="#sec-{sid}">{esc(title)}</a>' for sid, title, _ in flat)
    body = "".join(f'<div class="pair">{"".join(one(*s) for s in entry)}</div>' if isinstance(entry, list)
                   and len(entry) > 1 else one(*(entry[0] if isinstance(entry, list) else entry))
                   for entry in sections)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    what = {"search": "search", "train": "training run (pointtune train)",
            "rounds": f"rounds: {len(inp.campaign.folders) if inp.campaign else 0} folders in"}[inp.kind]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="{SOFTWARE.format(kind="report")}">'
            f"<title>pointtune report: {esc(inp.name)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>pointtune report: {esc(inp.name)}</h1><div class='sub'>{esc(what)} {esc(inp.path)}"
            f" &middot; made {esc(when)} &middot; ranked by {esc(inp.metric)}</div></header><nav>{nav}</nav>"
            f"<main>{body}</main>"
            f'<script type="application/json" id="report-data">{json_script(data)}</script>'
            f"<script>{JS}</script></body></html>")


def write_report(experiment: str | list[str], out: str | None = None, model: bool = True, target: float = 0.95,
                 device: str = "auto") -> Path:
    """Write the report of ``experiment`` (a search folder or URI, or a ``train`` folder; several: the rounds of a
    campaign, ``search.results.campaign``) to ``out`` (default: ``EXPERIMENT/report.html`` for a local folder,
    ``report.html`` here for a URI or several folders); returns the path."""
    if not 0 < target <= 1:
        raise ConfigError(f"--target {target}: use a share of the best score in (0, 1], e.g. 0.95")
    if model:
        from trainable.trial import pick_device

        pick_device(device)  # a GPU asked for where there is none: said before anything is read
    paths = [experiment] if isinstance(experiment, str) else list(dict.fromkeys(experiment))
    inp = load_report_input(paths[0]) if len(paths) == 1 else load_campaign_input(paths)
    here = is_uri(inp.path) or inp.kind == "rounds"
    path = plan_file(out or ("report.html" if here else Path(inp.path) / "report.html"), "--out", "report",
                     [found for p in paths for found in experiment_inputs(p)])
    storage.write_text(str(path), build_report(inp, model, target, device))
    return path
