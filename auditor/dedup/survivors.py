"""The survivor of each cluster and the ``dup_*`` output columns: the survivor order (``licence_rank,
evidence_rank, crawl_date, record_id`` by default, prior records first), each record's rank in it,
the reason the survivor won, and ``choose_survivors``, which re-chooses the survivors of existing
clusters under another order without re-clustering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.dedup._common import DEFAULT_SURVIVOR_ORDER, DUP_COLUMNS, OUTPUT_SCHEMA, PRIOR_REASON, _strings
from auditor.dedup.exact import signature_jaccard
from auditor.errors import ColumnError, ConfigError, ManifestError
from auditor.stages.minhash import signature_matrix

# A record of an earlier manifest, as dup_of names it: "<label>:<record_id>".
_PRIOR_ID_RE = r"^[A-Za-z0-9_.-]+:"


def _survivor_keys(table: pa.Table, survivor_order: Sequence[str] | None) -> list[str]:
    keys = list(DEFAULT_SURVIVOR_ORDER if survivor_order is None else survivor_order)
    available = sorted(set(DEFAULT_SURVIVOR_ORDER) | set(table.column_names) - {"minhash"})
    for key in keys:
        if key not in available:
            raise ConfigError(f"dedup survivor order: unknown key {key!r}; available: {available}")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError(f"dedup survivor order: key(s) {repeated} given more than once")
    if "record_id" not in keys:
        keys.append("record_id")
    return keys


def _key_columns(parts: list[pa.Table], ids: pa.Array, order: list[str]) -> dict[str, pa.Array]:
    """The combined column of every survivor key some table has (a key no table has ties everywhere)."""
    columns: dict[str, pa.Array] = {}
    for key in order:
        if key == "record_id":
            columns[key] = ids
            continue
        present = [p.column(key) for p in parts if key in p.column_names]
        if not present:
            continue
        target = present[0].type
        pieces = []
        for p in parts:
            if key not in p.column_names:
                pieces.append(pa.nulls(p.num_rows, target))
                continue
            try:
                pieces.append(p.column(key).cast(target).combine_chunks())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ManifestError(
                    f"survivor key {key!r} is {p.column(key).type} in one table and {target} in another: {exc}"
                ) from None
        columns[key] = pa.concat_arrays(pieces)
    return columns


def _dense_rank(column: pa.Array) -> np.ndarray:
    """1-based dense ascending ranks; nulls after every value."""
    ranks = (
        pc.rank(column, sort_keys="ascending", tiebreaker="dense")
        .to_numpy(zero_copy_only=False)
        .astype(np.int64)
    )
    if column.null_count:
        ranks[column.is_null().to_numpy(zero_copy_only=False)] = len(column) + 1
    return ranks


def _survivor_rank(key_columns: dict[str, pa.Array], total: int, n: int) -> np.ndarray:
    """Each row's position in the survivor order (prior records first)."""
    is_new = np.zeros(total, dtype=np.int8)
    is_new[:n] = 1
    # Dense ranks per key (nulls last), then one lexsort: the last key given to lexsort is primary.
    ranks = [_dense_rank(column) for column in reversed(key_columns.values())]
    indices = np.lexsort([np.arange(total), *ranks, is_new])  # unique tie-break: input order
    rank = np.empty(total, dtype=np.int64)
    rank[indices] = np.arange(total)
    return rank


def _survivor_of(labels: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For every row, the row of its component with the lowest rank."""
    best = np.full(int(labels.max(initial=-1)) + 1, len(rank), dtype=np.int64)
    np.minimum.at(best, labels, rank)
    by_rank = np.empty(len(rank), dtype=np.int64)
    by_rank[rank] = np.arange(len(rank))
    return by_rank[best[labels]]


def _dup_table(
    table: pa.Table,
    ids: pa.Array,
    exact_key: np.ndarray,
    survivor: np.ndarray,
    cluster: np.ndarray,
    clustered: np.ndarray,
    key_columns: dict[str, pa.Array],
    order: list[str],
    jaccard: Callable[[np.ndarray, np.ndarray], pa.Array],
) -> pa.Table:
    """The output columns for the first n rows (n = len(survivor)); survivors >= n are prior records."""
    n = len(survivor)
    dup = clustered & (survivor != np.arange(n))
    dup_rows = np.flatnonzero(dup)
    dup_surv = survivor[dup_rows]

    kind_codes = np.where(exact_key[dup_rows] == exact_key[dup_surv], 0, 1).astype(np.int8)
    reason_names = [PRIOR_REASON, *order]
    reason_codes = np.full(len(dup_rows), len(order), dtype=np.int8)  # record_id unless decided earlier
    undecided = np.ones(len(dup_rows), dtype=bool)
    from_prior = dup_surv >= n
    reason_codes[from_prior] = 0
    undecided &= ~from_prior
    for code, key in enumerate(order[:-1], start=1):
        column = key_columns.get(key)
        if column is None:
            continue
        mine, theirs = column.take(pa.array(dup_rows)), column.take(pa.array(dup_surv))
        same = pc.or_(
            pc.fill_null(pc.equal(mine, theirs), False), pc.and_(mine.is_null(), theirs.is_null())
        ).to_numpy(zero_copy_only=False)
        decided = undecided & ~same
        reason_codes[decided] = code
        undecided &= same

    def scatter(values: np.ndarray, dictionary: list[str]) -> pa.Array:
        codes = np.zeros(n, dtype=np.int8)
        codes[dup_rows] = values
        indices = pa.array(codes, mask=~dup)
        return pa.DictionaryArray.from_arrays(indices, pa.array(dictionary, pa.string())).cast(pa.string())

    dup_of_index = np.zeros(n, dtype=np.int64)
    dup_of_index[dup_rows] = dup_surv
    # Position of each row among dup_rows, to spread the (nullable) Jaccard values over all rows.
    position = np.zeros(n, dtype=np.int64)
    position[dup_rows] = np.arange(len(dup_rows))
    return pa.table(
        {
            "record_id": table.column("record_id").cast(pa.string()),
            "dup_cluster": pa.array(cluster, pa.int64(), mask=~clustered),
            "dup_of": ids.take(pa.array(dup_of_index, mask=~dup)),
            "dup_kind": scatter(kind_codes, ["exact", "near"]),
            "dup_reason": scatter(reason_codes, reason_names),
            "dup_jaccard": jaccard(dup_rows, dup_surv).cast(pa.float32()).take(pa.array(position, mask=~dup)),
        },
        schema=OUTPUT_SCHEMA,
    )


def choose_survivors(table: pa.Table, *, survivor_order: Sequence[str] | None = None) -> pa.Table:
    """Re-choose the survivor of every existing cluster under ``survivor_order``, without re-clustering.

    ``table`` holds records as ``find_duplicates`` left them: ``record_id``, ``norm_sha256`` and the
    ``dup_*`` columns, plus the preference columns the order names and, optionally, ``minhash``.
    Returns the ``OUTPUT_SCHEMA`` columns in row order; ``dup_cluster`` is kept, so membership never
    changes. A cluster with a record of an earlier manifest (``dup_reason`` ``prior_manifest`` or
    ``dup_of`` ``<label>:<record_id>``) is kept as it is: the prior record still wins. Elsewhere
    ``dup_of``, ``dup_kind`` and ``dup_reason`` are what ``find_duplicates`` gives with this order.
    ``dup_jaccard``: with ``minhash``, the signature estimate against the new survivor (as
    ``find_duplicates``); without it, 1.0 for an exact copy, else the stored value when the pair is
    the same as before (same survivor, or the two records swapped roles), else null.
    """
    missing = [c for c in ("record_id", "norm_sha256", *DUP_COLUMNS) if c not in table.column_names]
    if missing:
        raise ColumnError(f"choose_survivors: the records table lacks column(s) {missing}")
    n = table.num_rows
    order = _survivor_keys(table, survivor_order)
    ids = _strings(table.column("record_id"))
    old_of = _strings(table.column("dup_of"))
    digests = _strings(table.column("norm_sha256"))
    exact_key = pc.dictionary_encode(digests).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    cluster_column = table.column("dup_cluster").combine_chunks()
    clustered = cluster_column.is_valid().to_numpy(zero_copy_only=False)
    cluster = pc.fill_null(cluster_column, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    prior_row = pc.fill_null(pc.match_substring_regex(old_of, _PRIOR_ID_RE), False)
    reason = table.column("dup_reason").combine_chunks().cast(pa.string())
    prior_row = pc.or_(prior_row, pc.fill_null(pc.equal(reason, PRIOR_REASON), False))
    prior_clusters = np.unique(cluster[prior_row.to_numpy(zero_copy_only=False) & clustered])
    kept = clustered & np.isin(cluster, prior_clusters)

    _, labels = np.unique(np.where(clustered, cluster, -1 - np.arange(n)), return_inverse=True)
    key_columns = _key_columns([table], ids, order)
    survivor = _survivor_of(labels.astype(np.int64), _survivor_rank(key_columns, n, n))

    if "minhash" in table.column_names:
        sigs = signature_matrix(table.column("minhash"))

        def jaccard(rows: np.ndarray, survivors: np.ndarray) -> pa.Array:
            return pa.array(signature_jaccard(sigs, rows, survivors), pa.float32())
    else:
        old_jaccard = table.column("dup_jaccard").combine_chunks().cast(pa.float32())
        old_survivor = pc.coalesce(old_of, ids)  # each clustered row's old survivor

        def jaccard(rows: np.ndarray, survivors: np.ndarray) -> pa.Array:
            rows_a, surv_a = pa.array(rows, pa.int64()), pa.array(survivors, pa.int64())
            same_pair = pc.equal(old_survivor.take(rows_a), ids.take(surv_a))  # same survivor as before
            swapped = pc.and_(old_of.take(rows_a).is_null(), pc.equal(old_of.take(surv_a), ids.take(rows_a)))
            values = pc.if_else(
                pc.fill_null(same_pair, False),
                old_jaccard.take(rows_a),
                pc.if_else(
                    pc.fill_null(swapped, False), old_jaccard.take(surv_a), pa.scalar(None, pa.float32())
                ),
            )
            exact = pa.array(exact_key[rows] == exact_key[survivors])
            return pc.if_else(exact, pa.scalar(1.0, pa.float32()), values)

    fresh = _dup_table(table, ids, exact_key, survivor, cluster, clustered, key_columns, order, jaccard)
    if not kept.any():
        return fresh
    keep_mask = pa.array(kept)
    columns = {"record_id": fresh.column("record_id")}
    for name in DUP_COLUMNS:
        old = table.column(name).combine_chunks().cast(OUTPUT_SCHEMA.field(name).type)
        columns[name] = pc.if_else(keep_mask, old, fresh.column(name).combine_chunks())
    return pa.table(columns, schema=OUTPUT_SCHEMA)
