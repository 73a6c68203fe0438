"""Tune's snapshot of a search, checked before ``--resume`` hands it to Tune.

Tune keeps its state in three files per driver session (``experiment_state-S.json``, ``search_gen_state-S.json``
and ``searcher-state-S.pkl``, S the session's start time) and copies them from its staging folder into the
experiment folder. A driver killed during that copy leaves a torn file there, and Tune, which restores from the newest
session's files, then fails to restore at all ("Ran out of input"). Such a session is set aside (moved into
``torn-snapshot-S/``, nothing deleted) so that Tune restores from the previous session's complete snapshot; trials
that the torn session had started are then lost to Tune and run again as new ones, while every trial's
``result.json`` and checkpoints stay where they are.
"""

from __future__ import annotations

import json
import logging
import pickletools
import re

from search.errors import SearchError
from trainable.data import storage

log = logging.getLogger(__name__)
STATE_FILE = re.compile(r"^(experiment_state|search_gen_state|searcher-state)-(.+)\.(json|pkl)$")


def intact(name: str, data: bytes) -> bool:
    """Whether one of Tune's state files is whole: JSON that parses, or a pickle whose opcodes run to their STOP
    (walked with ``pickletools``, which imports and runs nothing)."""
    if not data:
        return False
    try:
        if name.startswith("experiment_state"):
            json.loads(data)
        else:
            ops = list(pickletools.genops(data))
            return bool(ops) and ops[-1][0].name == "STOP"
    except Exception:  # noqa: BLE001  a torn file fails in json or pickletools in many ways
        return False
    return True


def sessions(experiment: str) -> dict[str, dict[str, str]]:
    """Tune's state files by session (``{session: {file name: path}}``), oldest session first."""
    found: dict[str, dict[str, str]] = {}
    for path in storage.list_files(experiment):
        name = path.rsplit("/", 1)[-1]
        match = STATE_FILE.match(name)
        if match:
            found.setdefault(match.group(2), {})[name] = path
    return dict(sorted(found.items()))


def set_aside_torn_snapshot(experiment: str) -> str | None:
    """Move the newest session's state files aside when one of them is torn and an older session is whole.

    Returns:
        The folder they went to, or None when the newest snapshot is whole.

    Raises:
        SearchError: the only snapshot is torn: Tune cannot restore the search.
    """
    by_session = sessions(experiment)
    if not by_session:
        return None
    newest = list(by_session)[-1]
    torn = [name for name, path in by_session[newest].items() if not intact(name, storage.read_bytes(path))]
    if not torn:
        return None
    older = [s for s in list(by_session)[:-1]
             if all(intact(n, storage.read_bytes(p)) for n, p in by_session[s].items())]
    if not older:
        raise SearchError(f"{experiment}: Tune's snapshot {', '.join(torn)} is torn (its driver was killed while "
                          "writing it) and no earlier snapshot is whole, so the search cannot be resumed; its trials' "
                          "results stay readable (`pointtune results`, `pointtune export`): start a new search with "
                          "another --name")
    aside = f"{experiment}/torn-snapshot-{newest}"
    for name, path in by_session[newest].items():
        storage.write_bytes(f"{aside}/{name}", storage.read_bytes(path))
        storage.remove(path)
    log.warning("Tune's snapshot of session %s was torn (%s: the driver was killed while writing it); it is kept in "
                "%s and the search resumes from the snapshot of session %s (trials started after it run again)",
                newest, ", ".join(torn), aside, older[-1])
    return aside
