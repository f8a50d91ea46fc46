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
   signatures (empty text) take no part.
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
``dup_jaccard`` (signature Jaccard estimate between the record and its survivor).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.errors import ColumnError, ConfigError, ManifestError, UsageError
from auditor.stages.minhash import EMPTY_HASH, MinHashParams, signature_matrix

DEFAULT_SURVIVOR_ORDER = ("licence_rank", "evidence_rank", "crawl_date", "record_id")
# Preference columns that may be absent (then every record ties on them).
OPTIONAL_PREFERENCE_COLUMNS = ("licence_rank", "evidence_rank", "crawl_date")
REQUIRED_COLUMNS = ("record_id", "norm_sha256", "minhash")
SIGNATURE_COLUMNS = ("record_id", "norm_sha256", "minhash", "text_null", *OPTIONAL_PREFERENCE_COLUMNS)
PRIOR_REASON = "prior_manifest"
SIGNATURES_METADATA_KEY = b"auditor.minhash"
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


def find_duplicates(
    table: pa.Table,
    params: MinHashParams,
    *,
    survivor_order: Sequence[str] | None = None,
    against: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Cluster exact and near duplicates and choose survivors (see the module docstring).

    ``against`` maps a label (``[A-Za-z0-9_.-]+``, e.g. the earlier manifest's name) to its
    signatures table; those records are never returned, and always win over new ones.
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
    near_u, near_v = near_pairs(sigs, near, params)
    labels = _components(total, np.concatenate([exact_u, near_u]), np.concatenate([exact_v, near_v]))

    key_columns = _key_columns(parts, ids, order)
    rank = _survivor_rank(key_columns, total, n)
    return _assemble(table, ids, exact_key, sigs, labels, rank, key_columns, order, n)


def near_pairs(sigs: np.ndarray, rows: np.ndarray, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs (u < v, row indices into ``sigs``) among ``rows``, by LSH banding and
    (with ``params.verify``) signature Jaccard verification."""
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
    lo, hi = packed // sigs.shape[0], packed % sigs.shape[0]
    if params.verify and len(lo):
        keep = signature_jaccard(sigs, lo, hi) >= params.threshold
        lo, hi = lo[keep], hi[keep]
    return lo, hi


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
    pos = np.repeat(s_start, s_size) + (
        np.arange(int(s_size.sum())) - np.repeat(np.cumsum(s_size) - s_size, s_size)
    )
    later = np.repeat(s_start + s_size, s_size) - pos - 1
    u_small = np.repeat(pos, later)
    v_small = u_small + 1 + (np.arange(int(later.sum())) - np.repeat(np.cumsum(later) - later, later))
    # Large buckets: a star from the first row and the chain of neighbours.
    l_start, l_size = starts[~small], sizes[~small]
    members = np.repeat(l_start, l_size - 1) + (
        np.arange(int((l_size - 1).sum())) - np.repeat(np.cumsum(l_size - 1) - (l_size - 1), l_size - 1)
    )
    u_star = np.repeat(l_start, l_size - 1)
    v_star = members + 1
    return (
        np.concatenate([u_small, u_star, members]).astype(np.int64),
        np.concatenate([v_small, v_star, members + 1]).astype(np.int64),
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


def _assemble(
    table: pa.Table,
    ids: pa.Array,
    exact_key: np.ndarray,
    sigs: np.ndarray,
    labels: np.ndarray,
    rank: np.ndarray,
    key_columns: dict[str, pa.Array],
    order: list[str],
    n: int,
) -> pa.Table:
    total = len(labels)
    sizes = np.bincount(labels)
    in_cluster = sizes[labels] > 1
    # Survivor of each component: its member with the lowest rank.
    best = np.full(len(sizes), total, dtype=np.int64)
    np.minimum.at(best, labels, rank)
    by_rank = np.empty(total, dtype=np.int64)
    by_rank[rank] = np.arange(total)
    survivor = by_rank[best[labels[:n]]]
    # Cluster id: the smallest new row index in the component.
    first_new = np.full(len(sizes), n, dtype=np.int64)
    np.minimum.at(first_new, labels[:n], np.arange(n))
    clustered = in_cluster[:n]
    cluster = first_new[labels[:n]]
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
    jaccard = np.zeros(n, dtype=np.float32)
    jaccard[dup_rows] = signature_jaccard(sigs, dup_rows, dup_surv)
    return pa.table(
        {
            "record_id": table.column("record_id").cast(pa.string()),
            "dup_cluster": pa.array(cluster, pa.int64(), mask=~clustered),
            "dup_of": ids.take(pa.array(dup_of_index, mask=~dup)),
            "dup_kind": scatter(kind_codes, ["exact", "near"]),
            "dup_reason": scatter(reason_codes, reason_names),
            "dup_jaccard": pa.array(jaccard, pa.float32(), mask=~dup),
        },
        schema=OUTPUT_SCHEMA,
    )


def summarise_duplicates(result: pa.Table, params: MinHashParams) -> dict[str, Any]:
    """Counts and parameters for summary.json (no record content)."""
    kinds = result.column("dup_kind")
    clusters = pc.count_distinct(result.column("dup_cluster"), mode="only_valid").as_py()
    return {
        "minhash": params.to_summary(),
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
