"""Which searched settings mattered: Optuna's own importance evaluators on a search's study.

PED-ANOVA (Optuna's ``PedAnovaImportanceEvaluator``, optuna-dashboard's first choice: fast, no extra dependency)
by default, fANOVA (``FanovaImportanceEvaluator``: needs scikit-learn, ``pip install "pointtune[importance]"``) on
request. Only completed trials count (a diverged trial's value is a stand-in, a pruned or failed one has none), and
the importance is taken in the objective's direction: PED-ANOVA compares the trials in the best quantile with the
rest, and given a target it takes lower as better, so a maximised score is handed to it negated (the pitfall its
issue tracker reports). With a frontier search, the importance is that of the first objective (the score).

The study is the search's Optuna journal (``optuna_journal.log``, a local folder or a URI).
"""

from __future__ import annotations

import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from search.errors import SearchError
from search.files import JOURNAL_FILE
from trainable.data import storage
from trainable.data.storage import is_uri

EVALUATORS = ("ped-anova", "fanova")
MIN_TRIALS = 6  # fewer completed trials: no ranking, only the note that says so
OUTCOME_ATTR = "pointtune_outcome"  # what search.launch.searcher writes of a diverged trial


@dataclass
class Importance:
    """A ranking of the searched settings by their effect on the objective."""

    evaluator: str
    ranking: list[tuple[str, float]]  # (setting as the table names it, importance in [0, 1]), most important first
    trials: int  # completed trials it rests on
    left_out: dict[str, int] = field(default_factory=dict)  # trials not counted, by why
    note: str = ""


def load_study(experiment: str) -> object:
    """The one Optuna study of the search at ``experiment`` (its journal, fetched from a URI).

    Raises:
        SearchError: the folder holds no study (a train folder, or a search from before the journal).
    """
    import optuna

    path = f"{experiment.rstrip('/')}/{JOURNAL_FILE}"
    if not storage.exists(path):
        raise SearchError(f"{experiment} has no Optuna study ({JOURNAL_FILE}): importance is a search's, not a "
                          "`pointtune train` run's; give the folder of a `pointtune run` search")
    with tempfile.TemporaryDirectory() as d:
        local = path
        if is_uri(path):
            local = str(Path(d) / JOURNAL_FILE)
            storage.download(path, local)
        journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(local))
        (name,) = optuna.study.get_all_study_names(journal)
        return optuna.load_study(study_name=name, storage=journal)


def _evaluator(name: str, trials: int) -> object:
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if name == "fanova":
        try:
            import sklearn  # noqa: F401  fANOVA's forest
        except ImportError:
            raise SearchError("--importance fanova needs scikit-learn (pip install \"pointtune[importance]\"); "
                              "--importance ped-anova needs nothing more") from None
        return FanovaImportanceEvaluator(seed=0)
    # the best tenth against the rest, as optuna-dashboard; at least two trials in the best quantile
    return PedAnovaImportanceEvaluator(target_quantile=max(0.1, 2 / trials))


def study_importance(study: object, evaluator: str = "ped-anova") -> Importance:
    """The searched settings of ``study`` ranked by their importance to its (first) objective (module docstring).

    Raises:
        SearchError: an evaluator that is not one of ``EVALUATORS``, or fANOVA without scikit-learn.
    """
    import optuna
    from optuna.trial import TrialState

    if evaluator not in EVALUATORS:
        raise SearchError(f"--importance {evaluator}: use one of {', '.join(EVALUATORS)}")
    left_out: Counter[str] = Counter()
    complete = []
    for t in study.trials:
        if t.state != TrialState.COMPLETE:
            left_out[t.state.name.lower()] += 1
        elif t.user_attrs.get(OUTCOME_ATTR) == "diverged":
            left_out["diverged"] += 1
        else:
            complete.append(t)
    searched = sorted({p for t in complete for p in t.params})
    if len(complete) < MIN_TRIALS or not searched:
        why = "no setting was searched" if not searched else (
            f"too few trials to say: {len(complete)} completed, at least {MIN_TRIALS} needed")
        return Importance(evaluator, [], len(complete), dict(left_out), why)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0  # lower is better to it
    view = optuna.create_study(directions=study.directions)
    view.add_trials(complete)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental and small-sample warnings: the note says it
        scores = optuna.importance.get_param_importances(view, evaluator=_evaluator(evaluator, len(complete)),
                                                         params=searched, target=lambda t: sign * t.values[0])
    note = "" if len(complete) >= 20 else f"{len(complete)} completed trials: a rough answer (20 or more say more)"
    return Importance(evaluator, sorted(scores.items(), key=lambda kv: -kv[1]), len(complete), dict(left_out), note)


def experiment_importance(experiment: str, evaluator: str = "ped-anova") -> Importance:
    """``study_importance`` of the search at ``experiment``."""
    return study_importance(load_study(experiment), evaluator)


def render_importance(imp: Importance) -> str:
    """The ranking as lines: the evaluator, the trials counted, one row per setting."""
    left = ", ".join(f"{n} {why}" for why, n in sorted(imp.left_out.items()))
    head = (f"importance of the searched settings ({imp.evaluator.upper()}, Optuna's optuna.importance) over "
            f"{imp.trials} completed trial(s)" + (f"; left out: {left}" if left else ""))
    lines = [head] + ([f"  {imp.note}"] if imp.note else [])
    width = max((len(name) for name, _ in imp.ranking), default=0)
    lines += [f"  {name:<{width}}  {value:.3f}  {'#' * round(value * 40)}" for name, value in imp.ranking]
    return "\n".join(lines)
