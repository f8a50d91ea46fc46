"""Clusters of exact and near duplicates (``find_duplicates``): exact groups by ``norm_sha256``, LSH
banding of the signatures into candidate pairs (``candidate_pairs``), their verification
(``auditor.dedup.exact``), connected components, and the survivor of each cluster
(``auditor.dedup.survivors``). The steps are described in the docstring of ``auditor.dedup``.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from auditor.dedup._common import (
    CLUSTERED_SCHEMA,
    DEDUP_METADATA_KEY,
    DUP_COLUMNS,
    OUTPUT_SCHEMA,
    FetchTexts,
    _check_columns,
    _concat_ranges,
    _strings,
)
from auditor.dedup.exact import _fetch_shingle_sets, _verify, signature_jaccard
from auditor.dedup.partition import BAND_DTYPE, Partitions, exact_edges, partition_count
from auditor.dedup.records import RecordSource, TableRecords, _Rows
from auditor.dedup.signatures import _check_compatible
from auditor.dedup.survivors import _dup_table, _key_columns, _survivor_keys, _survivor_of, _survivor_rank
from auditor.errors import UsageError
from auditor.stages.minhash import EMPTY_HASH, MinHashParams, signature_matrix

_LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Buckets up to this size contribute all their pairs; larger ones a star and a chain.
_FULL_PAIRS_MAX = 64


def find_duplicates(
    table: pa.Table,
    params: MinHashParams,
    *,
    survivor_order: Sequence[str] | None = None,
    against: Mapping[str, pa.Table] | None = None,
    fetch_texts: FetchTexts | None = None,
    banded: BandedSignatures | None = None,
) -> pa.Table:
    """Cluster exact and near duplicates and choose survivors (see the module docstring): the
    ``OUTPUT_SCHEMA`` columns of every row of ``table``, in row order.

    ``against`` maps a label (``[A-Za-z0-9_.-]+``, e.g. the earlier manifest's name) to its
    signatures table; those records are never returned, and always win over new ones.
    ``fetch_texts(rows)`` returns the ``norm_text`` of the given rows of ``table`` (a sorted int64
    array of at most ``FETCH_BATCH`` indices), in that order, None where unavailable; when given,
    pairs near the threshold are decided by exact Jaccard. ``banded``: the signatures of ``table``'s
    rows as band keys and a loader (``BandedSignatures``), when ``table`` has no ``minhash`` column.
    """
    eligible = None
    if banded is None:
        _check_columns(table, "the records table")
        banded = BandedSignatures.of_column(table.column("minhash"), params)
        eligible = np.asarray(table.column("minhash").is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    clustered = cluster_records(TableRecords(table), params, banded, survivor_order=survivor_order,
                                against=against, fetch_texts=fetch_texts, eligible=eligible)
    return dense_duplicates(table.column("record_id"), clustered)


def dense_duplicates(record_ids: pa.Array | pa.ChunkedArray, clustered: pa.Table) -> pa.Table:
    """The ``OUTPUT_SCHEMA`` columns of every record from ``cluster_records``' rows of clustered
    records (null for the rest)."""
    columns = {"record_id": record_ids.cast(pa.string()), **dup_columns(clustered, 0, len(record_ids))}
    return pa.table(columns, schema=OUTPUT_SCHEMA).replace_schema_metadata(clustered.schema.metadata)


def dup_columns(clustered: pa.Table, start: int, n: int) -> dict[str, pa.Array]:
    """The ``dup_*`` columns of records ``start .. start + n`` from ``cluster_records``' result (null
    for records in no cluster)."""
    rows = clustered.column("row").to_numpy()
    lo, hi = np.searchsorted(rows, [start, start + n])
    position = np.full(n, -1, dtype=np.int64)
    position[rows[lo:hi] - start] = np.arange(hi - lo)
    index = pa.array(position, mask=position < 0)
    return {name: clustered.column(name).slice(lo, hi - lo).take(index) for name in DUP_COLUMNS}


def cluster_records(
    records: RecordSource,
    params: MinHashParams,
    banded: BandedSignatures,
    *,
    survivor_order: Sequence[str] | None = None,
    against: Mapping[str, pa.Table] | None = None,
    fetch_texts: FetchTexts | None = None,
    eligible: np.ndarray | None = None,
) -> pa.Table:
    """Cluster exact and near duplicates of ``records`` (a ``RecordSource`` with ``record_id``,
    ``norm_sha256``, optionally ``text_null`` and the survivor-order columns; signatures as
    ``banded``) and choose survivors, as ``find_duplicates``: but the result holds only the records
    that are in a cluster, as ``CLUSTERED_SCHEMA`` (``row``, then the ``dup_*`` columns), in row order.

    Memory holds a few bytes per record (which records take part in LSH banding, and the empty
    signature flags of ``banded``), one partition of keys at a time (``auditor.dedup.partition``), and the records of clusters: the digests,
    survivor keys and signatures of the records that are duplicates, read with ``records.gather``.
    ``eligible``: the rows that may take part (default: every row with a text).
    """
    _check_columns(records.schema.empty_table(), "the records table", ["record_id", "norm_sha256"])
    n = records.num_rows
    bands = params.band_params()[0]
    if banded.keys.shape != (bands, n) or len(banded.empty) != n:
        raise UsageError(
            f"banded signatures of shape {banded.keys.shape} for {n} records and {bands} bands"
        )
    priors = dict(against or {})
    for label, prior in priors.items():
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise UsageError(f"against: label {label!r} may use only letters, digits, '_', '.', '-'")
        _check_columns(prior, f"the signatures of {label!r}")
        _check_compatible(prior, params, f"the signatures of {label!r}")
    order = _survivor_keys(records.schema.empty_table(), survivor_order)
    rows = _Rows(records, priors)
    prior_banded = [BandedSignatures.of_column(p.column("minhash"), params) for p in priors.values()]
    count = partition_count(rows.total)

    if eligible is not None and len(eligible) != n:
        raise UsageError(f"eligible: {len(eligible)} flags for {n} records")
    # Rows in LSH banding: eligible, not an exact copy of an earlier row, not the empty signature.
    exact_u, exact_v, banding = exact_edges(rows, eligible, count)
    banding[exact_u] = False
    for start, empty in zip(rows.part_starts, [banded.empty, *(p.empty for p in prior_banded)], strict=True):
        banding[start : start + len(empty)] &= ~empty
    near_u, near_v = _band_edges([banded.keys, *(p.keys for p in prior_banded)], rows, banding, count, bands)
    del banding

    def rep_of(r: np.ndarray) -> np.ndarray:
        """Each row's exact representative (itself unless an exact copy of an earlier row)."""
        at = np.minimum(np.searchsorted(exact_u, r), max(len(exact_u) - 1, 0))
        hit = exact_u[at] == r if len(exact_u) else np.zeros(len(r), dtype=bool)
        return np.where(hit, exact_v[at] if len(exact_u) else r, r)

    # Exact duplicates have equal signatures: a row's is its exact representative's, and only the
    # representatives in candidate pairs have theirs loaded. Two rows of a cluster either share a
    # representative (estimate 1.0) or have representatives joined to the cluster by near pairs.
    held = np.unique(np.concatenate([near_u, near_v]))
    local = _load_signatures(held, rows, [banded, *prior_banded])

    def estimate(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        u, v = rep_of(u), rep_of(v)
        out = np.ones(len(u), dtype=np.float64)
        apart = np.flatnonzero(u != v)
        out[apart] = signature_jaccard(local, np.searchsorted(held, u[apart]), np.searchsorted(held, v[apart]))
        return out

    fetch = None
    if fetch_texts is not None:
        def expected(fetched: np.ndarray) -> tuple[list[str], list[str]]:
            table = records.gather(fetched, ["norm_sha256", "record_id"])
            return _strings(table.column("norm_sha256")).to_pylist(), _strings(table.column("record_id")).to_pylist()

        fetch = functools.partial(_fetch_shingle_sets, fetch_texts=fetch_texts, expected=expected, params=params)
    keep, stats = _verify(estimate(near_u, near_v), near_u, near_v, params, n, fetch)
    near_u, near_v = near_u[keep], near_v[keep]

    # The records of clusters: every row with an exact or a near edge.
    u, v = np.concatenate([exact_u, near_u]), np.concatenate([exact_v, near_v])
    nodes = np.unique(np.concatenate([u, v]))
    labels = _components(len(nodes), np.searchsorted(nodes, u), np.searchsorted(nodes, v))
    new = int(np.searchsorted(nodes, n))
    parts = rows.gather(nodes, [k for k in order if k != "record_id"] + ["record_id"])
    ids = pa.concat_arrays([_strings(p.column("record_id")) for p in parts])
    key_columns = _key_columns(parts, ids, order)
    survivor = _survivor_of(labels, _survivor_rank(key_columns, len(nodes), new))[:new]
    # Cluster id: the smallest new row index in the component.
    first_new = np.full(int(labels.max(initial=-1)) + 1, n, dtype=np.int64)
    np.minimum.at(first_new, labels[:new], nodes[:new])

    def jaccard(members: np.ndarray, survivors: np.ndarray) -> pa.Array:
        return pa.array(estimate(nodes[members], nodes[survivors]), pa.float32())

    result = _dup_table(parts[0], ids, rep_of(nodes), survivor, first_new[labels[:new]],
                        np.ones(new, dtype=bool), key_columns, order, jaccard)
    result = result.drop_columns(["record_id"]).add_column(0, "row", pa.array(nodes[:new], pa.int64()))
    metadata = {DEDUP_METADATA_KEY: json.dumps(stats, sort_keys=True).encode()}
    return result.cast(CLUSTERED_SCHEMA).replace_schema_metadata(metadata)


# Band keys read per step when they are partitioned.
_BAND_READ = 1 << 20


def _band_edges(keys: Sequence[np.ndarray | BandKeyFile], rows: _Rows, near_ok: np.ndarray, count: int,
                bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate pairs (u < v, sorted) among the rows of ``near_ok``: rows sharing a key in
    some band. ``keys``: the band keys of the new records, then of each earlier manifest."""
    found_u: list[np.ndarray] = []
    found_v: list[np.ndarray] = []
    for band in range(bands):
        parts = Partitions(count, BAND_DTYPE)
        try:
            for part_keys, start in zip(keys, rows.part_starts, strict=True):
                for at, block_keys in _band_blocks(part_keys, band):
                    keep = np.flatnonzero(near_ok[start + at : start + at + len(block_keys)])
                    block = np.empty(len(keep), dtype=BAND_DTYPE)
                    block["key"], block["row"] = block_keys[keep], start + at + keep
                    parts.append(block["key"], block)
            for block in parts:
                order = np.argsort(block["key"], kind="stable")
                u, v = _bucket_pairs(block["key"][order])
                found_u.append(block["row"][order[u]])
                found_v.append(block["row"][order[v]])
        finally:
            parts.close()
    u = np.concatenate(found_u) if found_u else np.empty(0, np.int64)
    v = np.concatenate(found_v) if found_v else np.empty(0, np.int64)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    total = np.int64(max(rows.total, 1))
    packed = np.unique(lo * total + hi)
    return packed // total, packed % total


def _band_blocks(keys: np.ndarray | BandKeyFile, band: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, keys) of one band, in blocks of at most ``_BAND_READ`` rows."""
    if isinstance(keys, BandKeyFile):
        yield from keys.blocks(band, _BAND_READ)
        return
    for at in range(0, keys.shape[1], _BAND_READ):
        yield at, keys[band, at : at + _BAND_READ]


def _load_signatures(held: np.ndarray, rows: _Rows, parts: Sequence[BandedSignatures]) -> np.ndarray:
    """The signatures of ``held`` (sorted rows) from the new records' and earlier manifests' loaders."""
    bounds = np.searchsorted(held, [*rows.part_starts, rows.total])
    blocks = []
    for k, (part, start) in enumerate(zip(parts, rows.part_starts, strict=True)):
        block = part.load(held[bounds[k] : bounds[k + 1]] - start)
        if len(block):
            blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, 0), np.uint32)


def candidate_pairs(
    sigs: np.ndarray, rows: np.ndarray, params: MinHashParams
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct LSH candidate pairs (u < v, row indices into ``sigs``, sorted) among ``rows``:
    rows whose values share a band key in at least one band."""
    bands, width = params.band_params()
    rows = np.sort(rows.astype(np.int64))
    return _pairs_from_band_keys((band_keys(sigs, rows, band, width) for band in range(bands)), rows, sigs.shape[0])


def _pairs_from_band_keys(
    keys_per_band: Iterator[np.ndarray], rows: np.ndarray, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs (u < v, sorted) of ``rows`` (sorted) whose keys are equal in some band; each item
    of ``keys_per_band`` holds one band's key of every row of ``rows``. ``total``: an upper bound of
    the row indices."""
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    found_u: list[np.ndarray] = []
    found_v: list[np.ndarray] = []
    for keys in keys_per_band:
        order = np.argsort(keys, kind="stable")
        u, v = _bucket_pairs(keys[order])
        found_u.append(rows[order[u]])
        found_v.append(rows[order[v]])
    u = np.concatenate(found_u)
    v = np.concatenate(found_v)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    packed = np.unique(lo * np.int64(total) + hi)
    return packed // total, packed % total


def near_pairs(sigs: np.ndarray, rows: np.ndarray, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs (u < v, row indices into ``sigs``) among ``rows``, by LSH banding and
    (with ``params.verify``) signature Jaccard verification."""
    lo, hi = candidate_pairs(sigs, rows, params)
    keep, _ = _verify(signature_jaccard(sigs, lo, hi), lo, hi, params, sigs.shape[0], None)
    return lo[keep], hi[keep]


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


def _components(total: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(u), dtype=np.int32), (u, v)), shape=(total, total)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


class BandKeyFile:
    """Band keys of shape (bands, n), uint64, in an unnamed temporary file (in ``TMPDIR``), band by
    band: clustering reads one band at a time (``keys[band, rows]``), so memory holds 8 bytes per
    record of one band, not of every band. Deleted when closed or garbage collected. ``np.asarray``
    of it reads every band."""

    def __init__(self, bands: int, n: int) -> None:
        self.shape = (bands, n)
        self._file = tempfile.TemporaryFile(prefix="auditor-bands-")  # noqa: SIM115 - closed by close()
        self._file.truncate(bands * n * 8)

    def write(self, start: int, keys: np.ndarray) -> None:
        """Keys (bands, m) of records start .. start + m."""
        for band in range(self.shape[0]):
            self._file.seek((band * self.shape[1] + start) * 8)
            self._file.write(np.ascontiguousarray(keys[band], dtype=np.uint64).tobytes())

    def band(self, band: int) -> np.ndarray:
        self._file.flush()
        self._file.seek(band * self.shape[1] * 8)
        keys = np.fromfile(self._file, dtype=np.uint64, count=self.shape[1])
        if len(keys) != self.shape[1]:
            raise OSError(f"band key file: read {len(keys)} keys of band {band}, expected {self.shape[1]}")
        return keys

    def blocks(self, band: int, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, keys) of one band, ``rows`` keys at a time."""
        self._file.flush()
        for at in range(0, self.shape[1], rows):
            count = min(rows, self.shape[1] - at)
            self._file.seek((band * self.shape[1] + at) * 8)
            keys = np.fromfile(self._file, dtype=np.uint64, count=count)
            if len(keys) != count:
                raise OSError(f"band key file: read {len(keys)} keys of band {band} at {at}, expected {count}")
            yield at, keys

    def __getitem__(self, index: tuple[int, np.ndarray]) -> np.ndarray:
        band, rows = index
        return self.band(band)[rows]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        keys = np.stack([self.band(b) for b in range(self.shape[0])]) if self.shape[1] else \
            np.empty(self.shape, np.uint64)
        return keys if dtype is None else keys.astype(dtype)

    def close(self) -> None:
        self._file.close()


# Rows per block when band keys are computed from a signature matrix (bounds the temporaries).
_BAND_BLOCK = 1 << 16


@dataclass(frozen=True)
class BandedSignatures:
    """The signatures of ``n`` records as clustering needs them: every record's LSH band keys
    (``keys``, shape (bands, n), uint64, ``band_keys``) and whether its signature is the empty sketch
    (``empty``); the full signatures of chosen rows come from ``load(rows)`` (sorted int64 indices ->
    (len(rows), num_perm) uint32). ``find_duplicates`` loads only the rows of candidate and exact
    pairs, so a corpus's signatures need not all be in memory at once."""

    keys: np.ndarray | BandKeyFile
    empty: np.ndarray
    load: Callable[[np.ndarray], np.ndarray]

    def close(self) -> None:
        """Delete the band key file, if the keys are in one."""
        if isinstance(self.keys, BandKeyFile):
            self.keys.close()

    @staticmethod
    def keys_of(sigs: np.ndarray, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
        """(band keys (bands, n), empty flags) of a signature matrix, computed in blocks of rows."""
        bands, width = params.band_params()
        n = sigs.shape[0]
        keys = np.empty((bands, n), dtype=np.uint64)
        empty = np.empty(n, dtype=bool)
        for lo in range(0, n, _BAND_BLOCK):
            rows = np.arange(lo, min(n, lo + _BAND_BLOCK))
            for band in range(bands):
                keys[band, rows] = band_keys(sigs, rows, band, width)
            block = sigs[lo : lo + _BAND_BLOCK]
            empty[lo : lo + len(rows)] = (block[:, 0] == EMPTY_HASH) & (block == EMPTY_HASH).all(axis=1)
        return keys, empty

    @classmethod
    def of_column(cls, column: pa.Array | pa.ChunkedArray, params: MinHashParams) -> BandedSignatures:
        """From a ``minhash`` column held in memory (null rows: the empty sketch)."""
        sigs = signature_matrix(column, params.num_perm)
        keys, empty = cls.keys_of(sigs, params)
        return cls(keys, empty, lambda rows: sigs[rows])
