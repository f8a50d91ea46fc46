"""Propagation through duplicate clusters: a match or an opt-out on one member applies to all.

``propagate_clusters`` runs after clustering (the reduce step). Only clusters in which some member has
a ``rights`` or ``opt_out`` entry are touched; every other row keeps its lists unchanged (the arrays
are reused, not rebuilt). Propagated entries are marked:

- ``rights``: registry becomes ``dup:<registry> via <record_id>`` (kind, entry and score kept);
- ``opt_out``: detail gets `` (via duplicate <record_id>)`` appended (signal and effective kept).

An entry a member already has (same registry/entry/kind, or same signal/detail) is not added again;
when several members carry it, the one with the highest score (then the smallest record id) is the
source. Entries that are themselves propagated are never propagated again, so the function is
idempotent. ``rights_spans`` and ``copyright_status`` are not propagated: offsets belong to one text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DUP_PREFIX = "dup:"
VIA = " (via duplicate "


def _is_propagated_right(entry: dict[str, Any]) -> bool:
    return str(entry.get("registry") or "").startswith(DUP_PREFIX)


def _is_propagated_signal(entry: dict[str, Any]) -> bool:
    return VIA in str(entry.get("detail") or "")


def propagate_clusters(table: pa.Table) -> pa.Table:
    """``table`` with ``rights`` and ``opt_out`` unioned across each ``dup_cluster``."""
    needed = {"dup_cluster", "rights", "opt_out", "record_id"}
    missing = sorted(needed - set(table.column_names))
    if missing:
        raise ValueError(f"propagate_clusters needs columns {sorted(needed)}; missing {missing}")
    if table.num_rows == 0:
        return table
    cluster = table.column("dup_cluster")
    has_any = pc.or_(pc.greater(pc.list_value_length(table.column("rights")), 0),
                     pc.greater(pc.list_value_length(table.column("opt_out")), 0))
    sources = pc.and_(pc.is_valid(cluster), pc.fill_null(has_any, False))
    hot = pc.unique(pc.filter(cluster, sources))
    if len(hot) == 0:
        return table
    member = pc.fill_null(pc.is_in(cluster, value_set=hot), False)
    rows = np.flatnonzero(np.asarray(member.to_numpy(zero_copy_only=False)))
    sub = table.take(pa.array(rows)).select(["dup_cluster", "record_id", "rights", "opt_out"]).to_pylist()

    groups: dict[int, list[int]] = {}
    for k, rec in enumerate(sub):
        groups.setdefault(rec["dup_cluster"], []).append(k)
    new_rights: list[list[dict[str, Any]]] = [list(r["rights"] or []) for r in sub]
    new_signals: list[list[dict[str, Any]]] = [list(r["opt_out"] or []) for r in sub]
    for members in groups.values():
        best_rights: dict[tuple[Any, ...], tuple[float, str, dict[str, Any]]] = {}
        best_signals: dict[tuple[Any, ...], tuple[bool, str, dict[str, Any]]] = {}
        for k in members:
            rid = sub[k]["record_id"]
            for e in sub[k]["rights"] or []:
                if _is_propagated_right(e):
                    continue
                key = (e["registry"], e["entry"], e["kind"])
                cand = (-(e["score"] or 0.0), rid, e)
                if key not in best_rights or cand[:2] < best_rights[key][:2]:
                    best_rights[key] = cand
            for e in sub[k]["opt_out"] or []:
                if _is_propagated_signal(e):
                    continue
                skey = (e["signal"], e["detail"])
                scand = (not e["effective"], rid, e)
                if skey not in best_signals or scand[:2] < best_signals[skey][:2]:
                    best_signals[skey] = scand
        for k in members:
            rid = sub[k]["record_id"]
            own_rights = {(e["registry"], e["entry"], e["kind"]) for e in sub[k]["rights"] or []}
            own_rights |= {(e["registry"].split(" via ")[0][len(DUP_PREFIX):], e["entry"], e["kind"])
                           for e in sub[k]["rights"] or [] if _is_propagated_right(e)}
            for key in sorted(best_rights, key=str):
                _, src, e = best_rights[key]
                if src != rid and key not in own_rights:
                    new_rights[k].append({**e, "registry": f"{DUP_PREFIX}{e['registry']} via {src}"})
            own_signals = {(e["signal"], e["detail"].split(VIA)[0]) for e in sub[k]["opt_out"] or []}
            for skey in sorted(best_signals, key=str):
                _, src, e = best_signals[skey]
                if src != rid and skey not in own_signals:
                    new_signals[k].append({**e, "detail": f"{e['detail']}{VIA}{src})"})

    return _replace_rows(table, rows, {"rights": new_rights, "opt_out": new_signals})


def _replace_rows(table: pa.Table, rows: np.ndarray, values: dict[str, list[Any]]) -> pa.Table:
    """Replace the given rows of list columns, keeping all other rows' values as they are."""
    n = table.num_rows
    index = np.arange(n, dtype=np.int64)
    index[rows] = n + np.arange(len(rows), dtype=np.int64)
    take = pa.array(index)
    for name, new in values.items():
        col = table.column(name)
        combined = pa.chunked_array([*col.chunks, pa.array(new, col.type)], type=col.type)
        table = table.set_column(table.schema.get_field_index(name), name, combined.take(take))
    return table
