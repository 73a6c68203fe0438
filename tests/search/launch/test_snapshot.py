"""A torn snapshot of Tune's (a driver killed while Tune copied its state into the experiment folder) is set aside
before --resume, so that Tune restores from the previous whole one (search/launch/snapshot.py)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from search.errors import SearchError
from search.launch.snapshot import intact, set_aside_torn_snapshot

OLD, NEW = "2026-12-05_10-00-00", "2026-12-05_11-00-00"


def _session(folder: Path, session: str, torn: str | None = None) -> None:
    files = {f"experiment_state-{session}.json": json.dumps({"trial_data": []}).encode(),
             f"search_gen_state-{session}.json": pickle.dumps({"counter": 3}),
             f"searcher-state-{session}.pkl": pickle.dumps({"trials": {"a": 0}})}
    for name, data in files.items():
        (folder / name).write_bytes(data[: len(data) // 2] if name == torn else data)


def test_whole_files_are_intact_and_cut_ones_are_not() -> None:
    data = pickle.dumps({"counter": 3, "trials": list(range(100))})
    assert intact("searcher-state-x.pkl", data)
    assert not any(intact("searcher-state-x.pkl", data[:cut]) for cut in (0, 1, len(data) // 2, len(data) - 1))
    assert intact("experiment_state-x.json", b'{"trial_data": []}') and not intact("experiment_state-x.json", b'{"tr')


def test_a_torn_newest_session_is_set_aside_and_the_previous_one_restored(tmp_path: Path) -> None:
    _session(tmp_path, OLD)
    _session(tmp_path, NEW, torn=f"search_gen_state-{NEW}.json")
    aside = set_aside_torn_snapshot(str(tmp_path))
    assert aside == f"{tmp_path}/torn-snapshot-{NEW}"
    assert sorted(p.name for p in tmp_path.glob("*state-*")) == sorted(
        [f"experiment_state-{OLD}.json", f"search_gen_state-{OLD}.json", f"searcher-state-{OLD}.pkl"])
    assert len(list(Path(aside).iterdir())) == 3, "nothing deleted: the torn session's files are kept aside"


def test_a_whole_snapshot_is_left_alone(tmp_path: Path) -> None:
    _session(tmp_path, OLD)
    _session(tmp_path, NEW)
    assert set_aside_torn_snapshot(str(tmp_path)) is None and len(list(tmp_path.iterdir())) == 6


def test_a_torn_only_snapshot_says_the_search_cannot_be_resumed(tmp_path: Path) -> None:
    _session(tmp_path, NEW, torn=f"searcher-state-{NEW}.pkl")
    with pytest.raises(SearchError, match=r"searcher-state-.*is torn .*another --name"):
        set_aside_torn_snapshot(str(tmp_path))
