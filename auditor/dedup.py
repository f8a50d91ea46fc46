"""Exact and near-duplicate clusters, and the survivor of each cluster: the reduce step.

Input: one row per record with ``record_id``, ``norm_sha256`` and ``minhash`` (see
``auditor.stages.minhash``), optionally ``text_null`` and the survivor-preference columns
``licence_rank`` (lower = more permissive), ``evidence_rank`` (lower = better evidence) and
``crawl_date``. Everything is columnar (numpy and Arrow): no Python object per record.

1. Exact duplicates: equal ``norm_sha256``. Rows with ``text_null`` never cluster.
2. Near duplicates: one representative per exact group goes through MinHash LSH: each band of
   ``rows`` signature values is hashed to a 64-bit key; rows sharing a key in any band are candidate
   pairs (every pair in a bucket of up to ``_FULL_PAIRS_MAX`` rows; the star from the first row plus
   the chain of neighbours in larger buckets). With ``params.verify`` a candidate pair is kept only
   if its signature Jaccard estimate (equal values / num_perm, as datasketch's ``MinHash.jaccard``)
   is >= ``params.threshold``, so a band collision below the threshold merges nothing. Empty
   signatures (empty text) take no part. With ``fetch_texts`` (and ``verify``), a pair whose estimate
   lies within ``params.exact_band_used()`` of the threshold (3 standard deviations of the estimate
   by default) is decided by the exact Jaccard of the two shingle sets instead: the texts are fetched
   again (each row once, in batches of at most ``FETCH_BATCH`` rows, ascending), checked against
   their ``norm_sha256``, and reduced at once to sorted 64-bit shingle hashes
   (``shingle_hash_sets``), so memory holds one batch of text and 8 bytes per distinct shingle of
   the fetched rows. Pairs with a record of an earlier manifest, or a text fetched as None, keep the
   estimate's verdict.
3. Clusters are the connected components of the exact and near pairs (scipy's union-find-style
   ``connected_components`` on a sparse graph). A cluster's id is the smallest row index (in input
   order) among its records.
4. The survivor is the first record of the cluster in the survivor order: by default
   ``licence_rank, evidence_rank, crawl_date, record_id``, ascending, nulls last; an absent
   preference column counts as all equal; ``record_id`` always ends the order. Records of earlier
   manifests (``against``) come before all new records, so an already audited copy always survives.

Output columns, in input row order (see ``OUTPUT_SCHEMA``): ``dup_cluster`` (null if unique),
``dup_of`` (the survivor's record_id; null for the survivor and uniques; ``<label>:<record_id>`` for a
record of an earlier manifest labelled ``label``; labels have no ``/`` or ``:`` and source names no
``:``, so the two kinds of id cannot be confused), ``dup_kind`` (``exact`` when the record's
``norm_sha256`` equals its survivor's, else ``near``; null when ``dup_of`` is null), ``dup_reason``
(the first survivor-order key on which the survivor beat this record, or ``prior_manifest``) and
``dup_jaccard`` (signature Jaccard estimate between the record and its survivor). The result's
schema metadata ``auditor.dedup`` holds the pair counts (candidates, exact checks), which
``summarise_duplicates`` reports.

``choose_survivors`` re-chooses the survivors of existing clusters under another survivor order
without re-clustering (re-deciding a manifest under another policy never changes membership).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.errors import ColumnError, ConfigError, InputError, ManifestError, UsageError
from auditor.stages.minhash import (
    EMPTY_HASH,
    MinHashParams,
    shingle_hash_sets,
    signature_matrix,
    sort_by_group,
)

# Row indices (ascending, into the records table) -> their norm_text, None where unavailable.
FetchTexts = Callable[[np.ndarray], Sequence[str | None]]

DEFAULT_SURVIVOR_ORDER = ("licence_rank", "evidence_rank", "crawl_date", "record_id")
# Preference columns that may be absent (then every record ties on them).
OPTIONAL_PREFERENCE_COLUMNS = ("licence_rank", "evidence_rank", "crawl_date")
REQUIRED_COLUMNS = ("record_id", "norm_sha256", "minhash")
SIGNATURE_COLUMNS = ("record_id", "norm_sha256", "minhash", "text_null", *OPTIONAL_PREFERENCE_COLUMNS)
PRIOR_REASON = "prior_manifest"
SIGNATURES_METADATA_KEY = b"auditor.minhash"
DEDUP_METADATA_KEY = b"auditor.dedup"
DUP_COLUMNS = ("dup_cluster", "dup_of", "dup_kind", "dup_reason", "dup_jaccard")
# Rows per fetch_texts call.
FETCH_BATCH = 4096
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("dup_cluster", pa.int64()),
        pa.field("dup_of", pa.string()),
        pa.field("dup_kind", pa.string()),
        pa.field("dup_reason", pa.string()),
        pa.field("dup_jaccard", pa.float32()),
    ]
)

_LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Buckets up to this size contribute all their pairs; larger ones a star and a chain.
_FULL_PAIRS_MAX = 64
# Candidate pairs verified per chunk (bounds the (chunk, num_perm) comparison arrays).
_VERIFY_CHUNK = 1 << 15
# Shingle hashes compared per chunk of exact verification (bounds the sort arrays, 8 bytes each).
_EXACT_CHUNK = 1 << 19
_EXACT_CHUNK_PAIRS = (1 << 15) - 1  # pair numbers within a chunk fit in int16 (see sort_by_group)
# A record of an earlier manifest, as dup_of names it: "<label>:<record_id>".
_PRIOR_ID_RE = r"^[A-Za-z0-9_.-]+:"


def find_duplicates(
    table: pa.Table,
    params: MinHashParams,
    *,
    survivor_order: Sequence[str] | None = None,
    against: Mapping[str, pa.Table] | None = None,
    fetch_texts: FetchTexts | None = None,
) -> pa.Table:
    """Cluster exact and near duplicates and choose survivors (see the module docstring).

    ``against`` maps a label (``[A-Za-z0-9_.-]+``, e.g. the earlier manifest's name) to its
    signatures table; those records are never returned, and always win over new ones.
    ``fetch_texts(rows)`` returns the ``norm_text`` of the given rows of ``table`` (a sorted int64
    array of at most ``FETCH_BATCH`` indices), in that order, None where unavailable; when given,
    pairs near the threshold are decided by exact Jaccard.
    """
    _check_columns(table, "the records table")
    n = table.num_rows
    priors = dict(against or {})
    for label, prior in priors.items():
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise UsageError(f"against: label {label!r} may use only letters, digits, '_', '.', '-'")
        _check_columns(prior, f"the signatures of {label!r}")
        _check_compatible(prior, params, f"the signatures of {label!r}")
    order = _survivor_keys(table, survivor_order)
    parts = [table, *priors.values()]
    total = sum(p.num_rows for p in parts)

    matrices = [signature_matrix(p.column("minhash"), params.num_perm) for p in parts]
    sigs = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
    ids = pa.concat_arrays(
        [_strings(table.column("record_id"))]
        + [
            _strings(pc.binary_join_element_wise(label + ":", _strings(p.column("record_id")), ""))
            for label, p in priors.items()
        ]
    )
    digests = pa.concat_arrays([_strings(p.column("norm_sha256")) for p in parts])
    exact_key = pc.dictionary_encode(digests).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    eligible = np.concatenate([_eligible(p) for p in parts])

    exact_u, exact_v, reps = _exact_pairs(exact_key, eligible)
    maybe_empty = reps[sigs[reps, 0] == EMPTY_HASH]
    empty = maybe_empty[(sigs[maybe_empty] == EMPTY_HASH).all(axis=1)]
    near = np.setdiff1d(reps, empty, assume_unique=True)
    near_u, near_v = candidate_pairs(sigs, near, params)
    fetch = None
    if fetch_texts is not None:
        fetch = functools.partial(
            _fetch_shingle_sets, fetch_texts=fetch_texts, digests=digests, ids=ids, params=params
        )
    keep, stats = _verify(sigs, near_u, near_v, params, n, fetch)
    near_u, near_v = near_u[keep], near_v[keep]
    labels = _components(total, np.concatenate([exact_u, near_u]), np.concatenate([exact_v, near_v]))

    key_columns = _key_columns(parts, ids, order)
    rank = _survivor_rank(key_columns, total, n)
    survivor = _survivor_of(labels, rank)[:n]
    # Cluster id: the smallest new row index in the component.
    first_new = np.full(int(labels.max(initial=-1)) + 1, n, dtype=np.int64)
    np.minimum.at(first_new, labels[:n], np.arange(n))
    clustered = (np.bincount(labels) > 1)[labels[:n]]

    def jaccard(rows: np.ndarray, survivors: np.ndarray) -> pa.Array:
        return pa.array(signature_jaccard(sigs, rows, survivors), pa.float32())

    result = _dup_table(
        table, ids, exact_key, survivor, first_new[labels[:n]], clustered, key_columns, order, jaccard
    )
    metadata = {DEDUP_METADATA_KEY: json.dumps(stats, sort_keys=True).encode()}
    return result.replace_schema_metadata(metadata)


def candidate_pairs(
    sigs: np.ndarray, rows: np.ndarray, params: MinHashParams
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct LSH candidate pairs (u < v, row indices into ``sigs``, sorted) among ``rows``:
    rows whose values share a band key in at least one band."""
    bands, width = params.band_params()
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    rows = np.sort(rows.astype(np.int64))
    found_u: list[np.ndarray] = []
    found_v: list[np.ndarray] = []
    for band in range(bands):
        keys = band_keys(sigs, rows, band, width)
        order = np.argsort(keys, kind="stable")
        u, v = _bucket_pairs(keys[order])
        found_u.append(rows[order[u]])
        found_v.append(rows[order[v]])
    u = np.concatenate(found_u)
    v = np.concatenate(found_v)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    packed = np.unique(lo * np.int64(sigs.shape[0]) + hi)
    return packed // sigs.shape[0], packed % sigs.shape[0]


def near_pairs(sigs: np.ndarray, rows: np.ndarray, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs (u < v, row indices into ``sigs``) among ``rows``, by LSH banding and
    (with ``params.verify``) signature Jaccard verification."""
    lo, hi = candidate_pairs(sigs, rows, params)
    keep, _ = _verify(sigs, lo, hi, params, sigs.shape[0], None)
    return lo[keep], hi[keep]


def _verify(
    sigs: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    params: MinHashParams,
    n: int,
    fetch: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Which candidate pairs are near duplicates, and the counts for the summary. Rows >= ``n``
    (earlier manifests) have no text to fetch."""
    stats: dict[str, Any] = {"candidate_pairs": len(lo), "verification": "none"}
    if not params.verify:
        return np.ones(len(lo), dtype=bool), stats
    estimate = signature_jaccard(sigs, lo, hi)
    threshold = float(params.threshold)
    keep = estimate >= threshold
    stats["verification"] = "signature"
    if fetch is None:
        return keep, stats
    band = params.exact_band_used()
    in_band = np.abs(estimate - threshold) <= band + 1e-9
    check = np.flatnonzero(in_band & (hi < n))  # lo < hi: both rows are new
    rows = np.unique(np.concatenate([lo[check], hi[check]]))
    hashes, offsets, available = fetch(rows)
    a, b = np.searchsorted(rows, lo[check]), np.searchsorted(rows, hi[check])
    known = available[a] & available[b]
    checked = check[known]
    verdict = pair_jaccard(hashes, offsets, a[known], b[known]) >= threshold
    changed = int(np.count_nonzero(verdict != keep[checked]))
    keep[checked] = verdict
    stats.update(
        {
            "verification": "signature+exact",
            "exact_band": band,
            "exact_pairs_in_band": int(np.count_nonzero(in_band)),
            "exact_checked": len(checked),
            "exact_changed": changed,
            "exact_skipped_prior": int(np.count_nonzero(in_band & (hi >= n))),
            "exact_skipped_no_text": len(check) - len(checked),
            "exact_rows_fetched": len(rows),
        }
    )
    return keep, stats


def _fetch_shingle_sets(
    rows: np.ndarray, *, fetch_texts: FetchTexts, digests: pa.Array, ids: pa.Array, params: MinHashParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shingle hash sets (hashes, offsets) of ``rows`` (sorted) and which rows had a text."""
    parts: list[np.ndarray] = []
    sizes = np.zeros(len(rows), dtype=np.int64)
    available = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), FETCH_BATCH):
        batch = rows[start : start + FETCH_BATCH]
        got = fetch_texts(batch.copy())
        texts = got.to_pylist() if isinstance(got, pa.Array | pa.ChunkedArray) else list(got)
        if len(texts) != len(batch):
            raise UsageError(f"fetch_texts returned {len(texts)} texts for {len(batch)} rows")
        expected = digests.take(pa.array(batch)).to_pylist()
        for k, (text, digest) in enumerate(zip(texts, expected, strict=True)):
            if text is None:
                continue
            if not isinstance(text, str):
                raise UsageError(
                    f"fetch_texts returned {type(text).__name__} for row {batch[k]}, not str or None"
                )
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
                raise InputError(
                    f"fetch_texts returned a text for record {ids[int(batch[k])].as_py()} (row {batch[k]}) "
                    "whose SHA-256 is not its norm_sha256: it must return norm_text as the normalise "
                    "stage made it, of the same record"
                )
        hashes, offsets = shingle_hash_sets(pa.array(texts, pa.large_string()), params)
        parts.append(hashes)
        sizes[start : start + len(batch)] = np.diff(offsets)
        available[start : start + len(batch)] = [t is not None for t in texts]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return (np.concatenate(parts) if parts else np.empty(0, np.uint64)), offsets, available


def pair_jaccard(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard (float64) of the sets ``a[i]`` and ``b[i]``, where set k is the sorted distinct
    ``hashes[offsets[k]:offsets[k + 1]]`` (as ``shingle_hash_sets`` gives). Two empty sets: 1.0."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    size_a, size_b = offsets[a + 1] - offsets[a], offsets[b + 1] - offsets[b]
    both = size_a + size_b
    ends = np.cumsum(both)
    out = np.empty(len(a), dtype=np.float64)
    lo = 0
    while lo < len(a):
        # A chunk of pairs with about _EXACT_CHUNK hashes in all (at least one pair).
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - both[lo] + _EXACT_CHUNK, side="right")))
        hi = min(hi, lo + _EXACT_CHUNK_PAIRS)
        starts = np.stack([offsets[a[lo:hi]], offsets[b[lo:hi]]], axis=1).ravel()
        lengths = np.stack([size_a[lo:hi], size_b[lo:hi]], axis=1).ravel()
        values = hashes[_concat_ranges(starts, lengths)]
        pair = np.repeat(np.arange(hi - lo, dtype=np.int32), both[lo:hi])
        order = sort_by_group(values, pair)
        values, pair = values[order], pair[order]
        # Each set is distinct, so a value repeated within a pair is in both sets.
        shared = (values[1:] == values[:-1]) & (pair[1:] == pair[:-1])
        inter = np.bincount(pair[1:][shared], minlength=hi - lo)
        union = both[lo:hi] - inter
        out[lo:hi] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        lo = hi
    return out


def _concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``np.concatenate([np.arange(s, s + k) for s, k in zip(starts, lengths)])``, vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    begins = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - begins, lengths) + np.arange(int(lengths.sum()))


def band_keys(sigs: np.ndarray, rows: np.ndarray, band: int, width: int) -> np.ndarray:
    """A 64-bit key per row for values [band * width, (band + 1) * width) of its signature."""
    block = sigs[rows, band * width : (band + 1) * width].astype(np.uint64)
    block *= _band_multipliers(width)
    keys = block.sum(axis=1, dtype=np.uint64)
    # Finalise (MurmurHash3 fmix64) so that keys sort in no relation to the values.
    keys ^= keys >> np.uint64(33)
    keys *= np.uint64(0xFF51AFD7ED558CCD)
    keys ^= keys >> np.uint64(33)
    return keys


def signature_jaccard(sigs: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Jaccard estimates (float64) of the row pairs (u[i], v[i]), as datasketch's ``MinHash.jaccard``."""
    out = np.empty(len(u), dtype=np.float64)
    for lo in range(0, len(u), _VERIFY_CHUNK):
        hi = lo + _VERIFY_CHUNK
        equal = np.count_nonzero(sigs[u[lo:hi]] == sigs[v[lo:hi]], axis=1)
        out[lo:hi] = equal / float(sigs.shape[1])
    return out


@functools.lru_cache(maxsize=16)
def _band_multipliers(width: int) -> np.ndarray:
    gen = np.random.Generator(np.random.PCG64(0xA0D170))
    multipliers = gen.integers(0, 2**63, size=width, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    multipliers.flags.writeable = False
    return multipliers


def _bucket_pairs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of positions (in sorted order) of rows that share a key."""
    m = len(sorted_keys)
    if m < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts_flag = np.empty(m, dtype=bool)
    starts_flag[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts_flag[1:])
    starts = np.flatnonzero(starts_flag)
    sizes = np.diff(np.append(starts, m))
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    small = sizes <= _FULL_PAIRS_MAX
    # Every pair of the small buckets: position p pairs with each later position of its bucket.
    s_start, s_size = starts[small], sizes[small]
    pos = _concat_ranges(s_start, s_size)
    later = np.repeat(s_start + s_size, s_size) - pos - 1
    u_small = np.repeat(pos, later)
    v_small = _concat_ranges(pos + 1, later)
    # Large buckets: a star from the first row and the chain of neighbours.
    l_start, l_size = starts[~small], sizes[~small]
    members = _concat_ranges(l_start, l_size - 1)
    u_star = np.repeat(l_start, l_size - 1)
    return (
        np.concatenate([u_small, u_star, members]).astype(np.int64),
        np.concatenate([v_small, members + 1, members + 1]).astype(np.int64),
    )


def _exact_pairs(exact_key: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges from each eligible row to the first eligible row with the same digest, and those first rows."""
    rows = np.flatnonzero(eligible)
    _, first, inverse = np.unique(exact_key[rows], return_index=True, return_inverse=True)
    rep = rows[first][inverse]
    dup = rep != rows
    return rows[dup], rep[dup], rows[first]


def _components(total: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(u), dtype=np.int32), (u, v)), shape=(total, total)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    column = column.cast(pa.string())
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _check_columns(table: pa.Table, what: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ColumnError(f"{what} lacks column(s) {missing}; it has {table.column_names}")


def _check_compatible(table: pa.Table, params: MinHashParams, what: str) -> None:
    metadata = table.schema.metadata or {}
    if SIGNATURES_METADATA_KEY not in metadata:
        return
    stored = json.loads(metadata[SIGNATURES_METADATA_KEY])
    wanted = params.sketch_fields()
    differ = sorted(k for k in wanted if stored.get(k) != wanted[k])
    if differ:
        detail = ", ".join(f"{k}: stored {stored.get(k)!r}, now {wanted[k]!r}" for k in differ)
        raise ManifestError(
            f"{what} were made with other MinHash parameters ({detail}); they cannot be compared"
        )


def _eligible(table: pa.Table) -> np.ndarray:
    ok = table.column("minhash").is_valid().to_numpy(zero_copy_only=False)
    if "text_null" in table.column_names:
        ok &= ~pc.fill_null(table.column("text_null"), False).to_numpy(zero_copy_only=False)
    return ok


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


def summarise_duplicates(result: pa.Table, params: MinHashParams) -> dict[str, Any]:
    """Counts and parameters for summary.json (no record content)."""
    kinds = result.column("dup_kind")
    clusters = pc.count_distinct(result.column("dup_cluster"), mode="only_valid").as_py()
    stored = (result.schema.metadata or {}).get(DEDUP_METADATA_KEY)
    return {
        "minhash": params.to_summary(),
        "pairs": json.loads(stored) if stored else None,
        "records": result.num_rows,
        "clusters": clusters,
        "exact_duplicates": pc.sum(pc.equal(kinds, "exact")).as_py() or 0,
        "near_duplicates": pc.sum(pc.equal(kinds, "near")).as_py() or 0,
        "duplicates_of_prior_manifests": pc.sum(pc.equal(result.column("dup_reason"), PRIOR_REASON)).as_py()
        or 0,
    }


def write_signatures(table: pa.Table, path: Path, params: MinHashParams) -> None:
    """Write ``signatures.parquet`` (record_id, norm_sha256, minhash, text_null and the preference
    columns present), with the sketch parameters in the schema metadata; atomic (temp file, rename)."""
    from auditor.io.atomic import write_parquet_atomic

    _check_columns(table, "the records table")
    signature_matrix(table.column("minhash"), params.num_perm)  # checks type and width
    kept = table.select([c for c in SIGNATURE_COLUMNS if c in table.column_names])
    metadata = {SIGNATURES_METADATA_KEY: json.dumps(params.sketch_fields(), sort_keys=True).encode()}
    write_parquet_atomic(Path(path), kept.replace_schema_metadata(metadata))


def read_signatures(path: Path, params: MinHashParams | None = None) -> pa.Table:
    """Read ``signatures.parquet`` of an earlier manifest; with ``params``, check it is comparable."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ManifestError(f"{path}: signatures file not found") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path}: not a readable Parquet file: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ManifestError(f"{path}: lacks column(s) {missing}; it has {table.column_names}")
    if SIGNATURES_METADATA_KEY not in (table.schema.metadata or {}):
        raise ManifestError(
            f"{path}: no MinHash parameters in the file metadata ({SIGNATURES_METADATA_KEY.decode()})"
        )
    if params is not None:
        _check_compatible(table, params, str(path))
    return table
