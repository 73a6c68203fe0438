"""``pointtune results FOLDER...``: one folder as ``search.results.tables`` shows it; several as one campaign
(``search.results.campaign``): every run and trial a row with its folder, round and clicks file, on one frontier."""

from __future__ import annotations

import json

from search.results.campaign import LEAD, campaign_reference, campaign_table, load_campaign, reference_line
from search.results.experiment import find_trial
from search.results.frontier import DEFAULT_TARGET
from search.results.tables import history_table, render, render_frontier
from search.results.tables import show_results as show_one


def show_results(experiments: str | list[str], fmt: str = "table", trial_id: str | None = None,
                 frontier: bool = False, target: float = DEFAULT_TARGET) -> int:
    """Print the trials table (or ``--frontier``, or a trial's history) of one folder or of several."""
    paths = [experiments] if isinstance(experiments, str) else list(dict.fromkeys(experiments))
    if len(paths) == 1:
        return show_one(paths[0], fmt, trial_id, frontier, target)
    camp = load_campaign(paths)
    if trial_id:
        print(render(history_table(find_trial(camp.records, trial_id)), fmt))
        return 0
    df = campaign_table(camp)
    line = reference_line(camp)
    if frontier:
        text = render_frontier(df, camp.metric, fmt, target, campaign_reference(camp), lead=LEAD[:3])
        if fmt == "json":
            doc = json.loads(text)
            doc["folders"] = [{"path": f.path, "kind": f.kind, "round": (f.clicks or {}).get("round"),
                               "clicks": f.clicks, "full_supervision": f.dense} for f in camp.folders]
            text = json.dumps(doc, indent=2)
        print(text)
    else:
        print(render(df, fmt))
    if line and fmt == "table":
        print("\n" + line)
    return 0
