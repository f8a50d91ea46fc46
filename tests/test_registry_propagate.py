"""Propagation of rights matches and opt-out signals through duplicate clusters."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.registry import propagate_clusters
from auditor.stages.optout import OPT_OUT_TYPE
from auditor.stages.rights import RIGHTS_TYPE

W1 = {"registry": "reg/works", "entry": "W1", "kind": "work-excerpt", "score": 0.4}
W1_BETTER = {**W1, "score": 0.9}
HOLDER = {"registry": "reg/holders", "entry": "News", "kind": "holder-domain", "score": 1.0}
ROBOTS = {"signal": "robots", "detail": "GPTBot disallowed /a (robots x 2025-01-01)", "effective": True}
LATER = {"signal": "optout-list", "detail": "url x opted out since 2026-01-01, after 2025-01-01", "effective": False}


def table(rows: list[tuple[str, int | None, list[dict[str, object]], list[dict[str, object]]]]) -> pa.Table:
    return pa.table({
        "record_id": pa.array([r[0] for r in rows]),
        "dup_cluster": pa.array([r[1] for r in rows], pa.int64()),
        "rights": pa.array([r[2] for r in rows], RIGHTS_TYPE),
        "opt_out": pa.array([r[3] for r in rows], OPT_OUT_TYPE),
        "other": pa.array(list(range(len(rows))), pa.int64()),
    })


def test_matches_and_signals_reach_every_member() -> None:
    before = table([
        ("s/a#0", 7, [W1], []),
        ("s/a#1", 7, [], [ROBOTS]),
        ("s/a#2", 7, [W1_BETTER, HOLDER], [LATER]),
        ("s/a#3", None, [W1], [ROBOTS]),  # not in a cluster: untouched
        ("s/a#4", 8, [], []),  # a cluster with nothing to share: untouched
    ])
    after = propagate_clusters(before)
    rights = after.column("rights").to_pylist()
    signals = after.column("opt_out").to_pylist()
    assert rights[0] == [W1, {**HOLDER, "registry": "dup:reg/holders via s/a#2"}]
    assert rights[1] == [{**HOLDER, "registry": "dup:reg/holders via s/a#2"},
                         {**W1_BETTER, "registry": "dup:reg/works via s/a#2"}]
    assert rights[2] == [W1_BETTER, HOLDER]  # already has W1 (its own, better score)
    assert signals[0] == [{**LATER, "detail": LATER["detail"] + " (via duplicate s/a#2)"},
                          {**ROBOTS, "detail": ROBOTS["detail"] + " (via duplicate s/a#1)"}]
    assert signals[2] == [LATER, {**ROBOTS, "detail": ROBOTS["detail"] + " (via duplicate s/a#1)"}]
    assert rights[3:] == before.column("rights").to_pylist()[3:]
    assert signals[3:] == before.column("opt_out").to_pylist()[3:]
    assert after.column("other").equals(before.column("other"))
    assert after.schema == before.schema


def test_idempotent() -> None:
    once = propagate_clusters(table([("a", 1, [W1], []), ("b", 1, [], [ROBOTS]), ("c", 1, [], [])]))
    assert propagate_clusters(once).to_pylist() == once.to_pylist()


def test_missing_columns_named() -> None:
    with pytest.raises(ValueError, match=r"missing \['dup_cluster'\]"):
        propagate_clusters(pa.table({"record_id": ["a"], "rights": pa.array([[]], RIGHTS_TYPE),
                                     "opt_out": pa.array([[]], OPT_OUT_TYPE)}))


entries = st.lists(st.sampled_from([W1, W1_BETTER, HOLDER]), max_size=2, unique_by=lambda e: (e["entry"], e["score"]))
signals_st = st.lists(st.sampled_from([ROBOTS, LATER]), max_size=2, unique_by=lambda e: e["signal"])


@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), entries, signals_st), max_size=12))
@settings(max_examples=60, deadline=None)
def test_union_per_cluster(rows: list[tuple[int | None, list[dict[str, object]], list[dict[str, object]]]]) -> None:
    before = table([(f"r{i}", c, r, s) for i, (c, r, s) in enumerate(rows)])
    after = propagate_clusters(before)
    assert after.num_rows == before.num_rows
    assert propagate_clusters(after).to_pylist() == after.to_pylist()
    got = after.to_pylist()
    for i, (cluster, own_rights, own_signals) in enumerate(rows):
        # A record keeps its own entries, first and unchanged.
        assert got[i]["rights"][: len(own_rights)] == own_rights
        assert got[i]["opt_out"][: len(own_signals)] == own_signals
        if cluster is None:
            assert len(got[i]["rights"]) == len(own_rights) and len(got[i]["opt_out"]) == len(own_signals)
            continue
        # Every member ends up covering the same (entry, kind) and signal set.
        members = [j for j, r in enumerate(rows) if r[0] == cluster]
        cover = {(e["entry"], e["kind"]) for j in members for e in rows[j][1]}
        assert {(e["entry"], e["kind"]) for e in got[i]["rights"]} == cover
        sig_cover = {e["signal"] for j in members for e in rows[j][2]}
        assert {e["signal"] for e in got[i]["opt_out"]} == sig_cover
