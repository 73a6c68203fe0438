"""The report's summary: trials by status, the best trial and its settings, the test score, the reference."""

from __future__ import annotations

from typing import Any

import pandas as pd

from search.report.load import ReportInput
from search.report.markup import esc, gap, num, plain
from search.results.charts.data import per_class
from search.results.charts.style import metric_label
from search.results.frontier import settings_of


def test_score_data(scores: dict[str, Any] | None, best_trial: str | None,
                    best_epoch: int | None) -> dict[str, Any] | None:
    """The search's one test score (``test_scores.json``), and whether it is of the best trial's best epoch as the
    report finds it now (a running search may have a new best since)."""
    if not scores:
        return None
    return {"trial_id": scores.get("trial_id"), "epoch": scores.get("epoch"),
            "current": scores.get("trial_id") == best_trial and scores.get("epoch") == best_epoch,
            "images": plain(scores.get("test_images")), "scorings": plain(scores.get("test_scorings", 1)),
            **{m: plain(scores.get(f"test_{m}")) for m in ("f1", "miou", "oa", "precision", "recall")},
            "per_class": per_class(scores, "test")}


def summary_data(records: list[Any], df: pd.DataFrame, metric: str, planned: int | None = None,
                 best: Any | None = None) -> dict[str, Any]:
    """Trials by status, how many of those planned have ended, and the best trial with its settings."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    ended = sum(n for s, n in counts.items() if s in ("finished", "stopped early", "diverged", "failed"))
    out: dict[str, Any] = {"trials": len(records), "planned": planned, "ended": ended, "by_status": counts,
                           "metric": metric, "best": None}
    if best is not None and best.best_row is not None:
        row = df[df.trial_id == best.trial_id].iloc[0]
        out["best"] = {"trial_id": best.trial_id, "status": best.status, "score": float(best.best_row[metric]),
                       "epoch": int(best.best_row["epoch"]), "settings": settings_of(row),
                       "clicks_per_image": plain(row.get("clicks_per_image")),
                       "annotation_hours": plain(row.get("annotation_hours")),
                       "f1_vs_full": plain(row.get("f1_vs_full")), "network": network_text(best.config)}
    return out


def network_text(config: dict[str, Any]) -> str:
    """What a run trained: ``DeepLabV3-resnet50 (imagenet weights from ...)`` or the tiny stand-in CNN."""
    model = config.get("model", {})
    backbone = model.get("backbone", "?")
    name = "the tiny stand-in CNN" if backbone == "tiny" else f"DeepLabV3-{backbone}"
    note = model.get("weights_note") or f"weights {model.get('weights', '?')}"
    return f"{name} ({note})"


def summary_html(inp: ReportInput, summary: dict[str, Any], test: dict[str, Any] | None) -> str:
    """The summary section: progress, the best trial, the test score and the reference, then the loading notes."""
    planned = summary["planned"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["by_status"].items()))
    progress = (f"{summary['ended']} of {planned} trial(s) ended" if planned else f"{summary['trials']} trial(s)")
    parts = [f"<p>{esc(progress)} ({esc(counts or 'none yet')}).</p>", _best_html(summary["best"], summary["metric"]),
             _test_html(test, inp.kind == "search") if inp.kind != "rounds" else
             '<p class="note">Test scores: the <code>test_f1</code> column, each folder\'s one score of its model on '
             "its split's test part.</p>"]
    if inp.reference_text:
        parts.append(f"<p>{esc(inp.reference_text)}.</p>")
    elif inp.reference is not None:
        parts.append(f"<p>Full-supervision reference (dense masks, the best trial's settings, trial "
                     f"{esc(inp.reference.get('source_trial'))}): validation {esc(metric_label(summary['metric']))} "
                     f"{num(inp.reference.get(summary['metric']))}.</p>")
    parts += [f'<p class="note">{esc(n)}</p>' for n in inp.notes]
    return "".join(parts)


def _best_html(best: dict[str, Any] | None, metric: str) -> str:
    if best is None:
        return gap("No trial has finished an epoch yet (failed and diverged trials left out): nothing to rank. Make "
                   "the report again later.")
    kv = [("best trial", best["trial_id"]), (f"best validation {metric_label(metric)}", f"{best['score']:.4f}"),
          ("at epoch", best["epoch"]), ("status", best["status"]), ("network", best["network"])]
    if best["clicks_per_image"] is not None:
        kv.append(("clicks per image", f"{best['clicks_per_image']:.4g}"))
    if best["annotation_hours"] is not None:
        kv.append(("annotation hours", f"{best['annotation_hours']:.3g}"))
    if best["f1_vs_full"] is not None:
        kv.append(("F1 vs full supervision", f"{best['f1_vs_full']:.3f}x"))
    return ('<div class="kv">' + "".join(f"<div>{esc(k)}<b>{esc(v)}</b></div>" for k, v in kv) + "</div>"
            f"<p>Settings: {esc(best['settings'])}.</p>")


def _test_html(test: dict[str, Any] | None, search: bool) -> str:
    """The test score (``test_score_data``), saying which model it scored, or why there is none."""
    if test is None and search:
        return ('<p class="note">No test score: the search makes one when it has finished, if its split has a test '
                "part.</p>")
    if test is None:
        return ('<p class="note">No test score: <code>pointtune train</code> makes one when it has finished, if its '
                "split has a test part (score the model on other data with <code>pointtune evaluate</code>).</p>")
    which = (("the best trial's best epoch" if search else "the run's best epoch") if test["current"] else
             f"trial {test['trial_id']} epoch {test['epoch']}, the best when the search scored it (the best "
             "trial has changed since)" if search else
             f"epoch {test['epoch']}, the best when the run scored it (it has a new best epoch since)")
    times = "" if (test["scorings"] or 1) == 1 else f"; the test split has scored {test['scorings']} picks"
    among = "among many trials" if search else "among the run's epochs"
    return (f"<p><b>Test score</b> of {esc(which)}, on {esc(test['images'])} held-out image(s), scored "
            f"once{esc(times)}: F1 <b>{num(test['f1'])}</b>, mIoU {num(test['miou'])}, "
            f"OA {num(test['oa'])}, precision {num(test['precision'])}, recall {num(test['recall'])}. "
            f"The validation score picked this model {among}, so it is biased upwards; the test "
            "score is not.</p>")
