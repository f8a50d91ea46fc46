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
import pyarrow.compute as pc

from auditor.dedup._common import (
    DEDUP_METADATA_KEY,
    REQUIRED_COLUMNS,
    FetchTexts,
    _check_columns,
    _chunked_strings,
    _concat_ranges,
    _digest_groups,
    _strings,
)
from auditor.dedup.exact import _fetch_shingle_sets, _verify, signature_jaccard
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
    """Cluster exact and near duplicates and choose survivors (see the module docstring).

    ``against`` maps a label (``[A-Za-z0-9_.-]+``, e.g. the earlier manifest's name) to its
    signatures table; those records are never returned, and always win over new ones.
    ``fetch_texts(rows)`` returns the ``norm_text`` of the given rows of ``table`` (a sorted int64
    array of at most ``FETCH_BATCH`` indices), in that order, None where unavailable; when given,
    pairs near the threshold are decided by exact Jaccard. ``banded``: the signatures of ``table``'s
    rows as band keys and a loader (``BandedSignatures``), when ``table`` has no ``minhash`` column.
    """
    if banded is None:
        _check_columns(table, "the records table")
    else:
        _check_columns(table, "the records table", [c for c in REQUIRED_COLUMNS if c != "minhash"])
        if banded.keys.shape[1] != table.num_rows or banded.keys.shape[0] != params.band_params()[0]:
            raise UsageError(
                f"banded signatures of shape {banded.keys.shape} for {table.num_rows} records and "
                f"{params.band_params()[0]} bands"
            )
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

    sigs = BandedSignatures.combine(
        [banded if banded is not None else BandedSignatures.of_column(table.column("minhash"), params)]
        + [BandedSignatures.of_column(p.column("minhash"), params) for p in priors.values()]
    )
    # Chunked, not concatenated: no copy of every record id and digest.
    ids = _chunked_strings(
        [table.column("record_id")]
        + [pc.binary_join_element_wise(label + ":", _strings(p.column("record_id")), "") for label, p in priors.items()]
    )
    digests = _chunked_strings([p.column("norm_sha256") for p in parts])
    exact_key = _digest_groups(digests)
    eligible = np.concatenate([_eligible(p, banded is not None and i == 0) for i, p in enumerate(parts)])

    exact_u, exact_v, reps = _exact_pairs(exact_key, eligible)
    near = reps[~sigs.empty[reps]]
    near_u, near_v = _pairs_from_band_keys((sigs.keys[band, near] for band in range(sigs.keys.shape[0])), near, total)
    # Exact duplicates have equal signatures: a row's is its exact representative's, and only the
    # representatives in candidate pairs have theirs loaded. Two rows of a cluster either share a
    # representative (estimate 1.0) or have representatives joined to the cluster by near pairs.
    rep_of = np.arange(total, dtype=np.int64)
    rep_of[exact_u] = exact_v
    held = np.unique(np.concatenate([near_u, near_v]))
    local = sigs.load(held)

    def estimate(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        u, v = rep_of[u], rep_of[v]
        out = np.ones(len(u), dtype=np.float64)
        apart = np.flatnonzero(u != v)
        out[apart] = signature_jaccard(local, np.searchsorted(held, u[apart]), np.searchsorted(held, v[apart]))
        return out

    fetch = None
    if fetch_texts is not None:
        fetch = functools.partial(
            _fetch_shingle_sets, fetch_texts=fetch_texts, digests=digests, ids=ids, params=params
        )
    keep, stats = _verify(estimate(near_u, near_v), near_u, near_v, params, n, fetch)
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
        return pa.array(estimate(rows, survivors), pa.float32())

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


def _eligible(table: pa.Table, banded: bool = False) -> np.ndarray:
    """Rows that take part: a signature (not null; always, for ``banded`` rows) and a text."""
    if banded:
        ok = np.ones(table.num_rows, dtype=bool)
    else:
        ok = table.column("minhash").is_valid().to_numpy(zero_copy_only=False)
    if "text_null" in table.column_names:
        ok &= ~pc.fill_null(table.column("text_null"), False).to_numpy(zero_copy_only=False)
    return ok


class BandKeyFile:
    """Band keys of shape (bands, n), uint64, in an unnamed temporary file (in ``TMPDIR``), band by
    band: clustering reads one band at a time (``keys[band, rows]``), so memory holds 8 bytes per
    record of one band, not of every band. Deleted when closed or garbage collected. ``np.asarray``
    of it reads every band (``BandedSignatures.combine`` does, to add an earlier manifest's rows)."""

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

    @classmethod
    def combine(cls, parts: Sequence[BandedSignatures]) -> BandedSignatures:
        """The rows of ``parts`` one after the other."""
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0] + [p.empty.shape[0] for p in parts])

        def load(rows: np.ndarray) -> np.ndarray:
            bounds = np.searchsorted(rows, starts)
            blocks = [
                part.load(rows[bounds[i] : bounds[i + 1]] - starts[i]) for i, part in enumerate(parts)
            ]
            return np.concatenate(blocks) if blocks else np.empty((0, 0), np.uint32)

        return cls(
            np.concatenate([np.asarray(p.keys) for p in parts], axis=1), np.concatenate([p.empty for p in parts]),
            load,
        )
