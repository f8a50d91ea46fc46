"""The licence stage: licence evidence per record, and the licence it concludes.

Inputs: ``text`` (raw text), ``meta_licence`` (the record's licence metadata, optional column) and
``source``; the source-level licence comes from ``context.sources[name].declared_licence`` (audit.toml)
and from a Hugging Face dataset folder's own metadata (``dataset_info.json``, README.md card).

Adds:

- ``licence`` (string, nullable): concluded SPDX expression (LicenseRef-* for non-SPDX terms);
- ``licence_evidence`` (list<struct{kind, value, where}>): every piece of evidence, never raw text;
- ``licence_conflict`` (bool): the evidence disagrees (e.g. CC-BY-4.0 source, "All rights reserved" text);
- ``licence_traits`` (list<string>): sorted trait names of the concluded licence ("unknown" if none).

Cost: content evidence comes column-wise from ``ContentScanner.plan.scan`` (``licences/batch.py``: one
cue pass over the column, with Hyperscan when installed, else pyarrow's RE2; rows without a cue make no
Python object; copyright notices, SPDX ids and licence notices, Chinese ones included, are matched
column-wise too, and only rows that cannot be proved to match as in Python, such as rows with accented
letters near a cue, are scanned by ``ContentScanner._scan``). A row's conclusion
depends on its source, its ``meta_licence`` and the kinds and values of its content findings, not on
their offsets: it is computed once per distinct (source, meta_licence, content signature) in the batch,
and the output columns are assembled with Arrow ``take`` and numpy, without a per-row loop. When the
normalise stage ran before, its ``n_chars`` column converts byte offsets to character offsets for free.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.errors import ConfigError
from auditor.licences.batch import ContentColumns
from auditor.licences.conclude import Evidence, conclude
from auditor.licences.content import ContentScanner
from auditor.licences.hf import source_licence_from_hf_dir
from auditor.licences.normalise import normalise_licence
from auditor.stages.base import StageContext, append_columns

EVIDENCE_TYPE = pa.struct([("kind", pa.string()), ("value", pa.string()), ("where", pa.string())])
LICENCE_COLUMNS = pa.schema(
    [
        pa.field("licence", pa.string()),
        pa.field("licence_evidence", pa.list_(EVIDENCE_TYPE)),
        pa.field("licence_conflict", pa.bool_()),
        pa.field("licence_traits", pa.list_(pa.string())),
    ]
)


def source_evidence(
    name: str, declared: str | None, paths: tuple[Path, ...], rules_dir: Path | None = None
) -> tuple[Evidence, ...]:
    """Evidence for one source: its audit.toml declaration and its Hugging Face metadata, if any."""
    found: list[Evidence] = []
    if declared is not None:
        result = normalise_licence(declared, rules_dir)
        if result.status == "malformed":
            raise ConfigError(
                f"source {name!r}: declared_licence {declared!r} is malformed ({result.message}); "
                "write an SPDX expression such as 'MIT OR Apache-2.0', or a licence name"
            )
        found.append(Evidence("source", result.spdx or "unknown", "source:audit.toml"))
    for path in paths:
        hf = source_licence_from_hf_dir(path)
        if hf is not None:
            result = normalise_licence(hf.licence, rules_dir)
            found.append(Evidence("source", result.spdx or "unknown", f"source:{hf.file.name}"))
    return tuple(dict.fromkeys(found))


_MAX_CACHED_CONCLUSIONS = 65_536
_MAX_CACHED_POOLS = 256


def _encode(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
    """(codes with -1 for null, dictionary values) of a string column. A column of one repeated value
    (the source of a batch read from one shard) is recognised on its buffers, without a hash kernel."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    if n and not column.null_count and pa.types.is_string(column.type):
        _validity, offsets_buffer, data = column.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int32, count=n + 1, offset=column.offset * 4)
        width = int(offsets[1] - offsets[0])
        if data is not None and width and int(offsets[-1] - offsets[0]) == width * n:
            raw = memoryview(data)[int(offsets[0]) : int(offsets[-1])]
            first = bytes(raw[:width])
            # The bytes repeat the first value, and every value is as long as it ("aa", "a", "aaa" is not).
            if bytes(raw) == first * n and (np.diff(offsets) == width).all():
                return np.zeros(n, np.int64), [first.decode()]
    encoded = pc.dictionary_encode(column)
    indices = encoded.indices
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    return np.asarray(indices).astype(np.int64), encoded.dictionary.to_pylist()


def _dense(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys ascending, index of each row's key among them) of non-negative integer keys:
    ``np.unique(keys, return_inverse=True)``, with a table instead of a sort when the keys are small
    (a batch's few sources and metadata values)."""
    top = int(keys.max()) + 1 if len(keys) else 0
    if top > 4 * len(keys) + 1024:
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.reshape(-1).astype(np.int64)
    present = np.zeros(top, bool)
    present[keys] = True
    distinct = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    return distinct, rank[keys]


def _signatures(found: ContentColumns) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(signature id per row, 0 for none; rank of each finding within its row; the findings [first,
    last) of one row with each signature id). A signature is the ordered sequence of (kind, value) of
    a row's findings."""
    n = found.num_rows
    row_sig = np.zeros(n, np.int64)
    count = len(found.rows)
    if not count:
        return row_sig, np.empty(0, np.int64), [(0, 0)]
    head = np.empty(count, bool)
    head[0] = True
    np.not_equal(found.rows[1:], found.rows[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    per_row = np.diff(np.append(starts, count))
    rank = np.arange(count) - np.repeat(starts, per_row)
    width = int(per_row.max())
    code = found.kind * (len(found.labels) + 1) + found.value + 1
    radix = int(code.max()) + 1
    if radix**width < 2**62:  # the sequence as one integer (digits base ``radix``), else as a matrix row
        key = np.zeros(len(starts), np.int64)
        np.add.at(key, np.repeat(np.arange(len(starts)), per_row), code * radix**rank)
        _uniq, first_row, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        matrix = np.zeros((len(starts), width), np.int64)
        matrix[np.repeat(np.arange(len(starts)), per_row), rank] = code
        _uniq, first_row, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    row_sig[found.rows[starts]] = inverse.reshape(-1) + 1
    first = starts[first_row]
    return row_sig, rank, [(0, 0), *zip(first.tolist(), (first + per_row[first_row]).tolist(), strict=True)]


class LicenceStage:
    """Map stage adding ``licence``, ``licence_evidence``, ``licence_conflict``, ``licence_traits``."""

    name = "licence"

    def __init__(self, *, full_text: bool = True) -> None:
        self.full_text = full_text
        self._scanner: ContentScanner | None = None
        self._sources: dict[str, tuple[Evidence, ...]] = {}
        self._rules_dir: Path | None = None
        self._pools = _BasePools()
        self._outcome_arrays: dict[
            tuple[tuple[str | None, bool, tuple[str, ...]], ...], tuple[pa.Array, np.ndarray, pa.Array]
        ] = {}
        self._conclusions: dict[
            tuple[tuple[Evidence, ...], tuple[tuple[str, str], ...]], tuple[str | None, bool, tuple[str, ...]]
        ] = {}

    def setup(self, context: StageContext) -> None:
        self._rules_dir = context.rules_dir
        self._conclusions.clear()
        self._outcome_arrays.clear()
        self._scanner = ContentScanner(context.rules_dir, full_text=self.full_text)
        self._sources = {
            name: source_evidence(name, spec.declared_licence, spec.paths, context.rules_dir)
            for name, spec in context.sources.items()
        }

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._scanner is None:
            raise RuntimeError("LicenceStage.setup(context) must be called before the first batch")
        n = batch.num_rows
        names = batch.schema.names
        src_codes, src_values = _encode(batch.column("source"))
        if "meta_licence" in names:
            meta_codes, meta_values = _encode(batch.column("meta_licence"))
        else:
            meta_codes, meta_values = np.full(n, -1, dtype=np.int64), []
        # Codes shifted by one: 0 is a null source or metadata value. With one source (a batch read from
        # one shard), every metadata value gets a base, present or not: no need to find which are.
        if len(src_values) == 1 and src_values[0] is not None and not src_codes.any():
            base_keys, base_of_row = np.arange(len(meta_values) + 1) + (len(meta_values) + 1), meta_codes + 1
        else:
            base_keys, base_of_row = _dense((src_codes + 1) * (len(meta_values) + 1) + (meta_codes + 1))
        bases: list[tuple[Evidence, ...]] = []
        for key in base_keys.tolist():
            src, meta = divmod(key, len(meta_values) + 1)
            evidence = self._sources.get(src_values[src - 1] or "", ()) if src > 0 else ()
            if meta > 0:
                evidence = evidence + self._metadata_evidence(meta_values[meta - 1], self._rules_dir)
            bases.append(evidence)
        if "text" in names:
            n_chars = batch.column("n_chars") if "n_chars" in names else None
            found = self._scanner.plan.scan(batch.column("text"), n_chars)
        else:
            found = ContentColumns.empty(n)
        row_sig, rank, sig_bounds = _signatures(found)
        labels = found.labels
        kinds, values = found.kind.tolist(), found.value.tolist()
        signatures = [
            tuple((labels[kinds[j]], labels[values[j]]) for j in range(first, last)) for first, last in sig_bounds
        ]
        # One conclusion per distinct (base evidence, content signature), cached across batches: the
        # licence, conflict flag and traits do not depend on where the evidence was seen.
        group_keys, group_of_row = _dense(base_of_row * len(sig_bounds) + row_sig)
        conclusions = [
            self._conclusion(bases[base], signatures[sig])
            for base, sig in (divmod(key, len(sig_bounds)) for key in group_keys.tolist())
        ]
        # Outcomes in a canonical order, so that their arrays are cached across batches.
        outcomes = sorted(set(conclusions), key=lambda c: (c[0] or "", c[1], c[2]))
        position = {outcome: k for k, outcome in enumerate(outcomes)}
        outcome_of_row = np.array([position[c] for c in conclusions], np.int64)[group_of_row]
        licences, conflicts, traits = self._outcomes(outcomes)
        take = pa.array(outcome_of_row, type=pa.int64())
        columns = {
            "licence": licences.take(take),
            "licence_evidence": _evidence_column(self._pools, bases, base_of_row, found, rank),
            "licence_conflict": pa.array(conflicts[outcome_of_row]),
            "licence_traits": traits.take(take),
        }
        return append_columns(batch, columns)

    def _outcomes(
        self, conclusions: list[tuple[str | None, bool, tuple[str, ...]]]
    ) -> tuple[pa.Array, np.ndarray, pa.Array]:
        """The licences, conflict flags and traits of ``conclusions`` as arrays (cached per list: a
        batch's outcomes are mostly those of the previous one)."""
        key = tuple(conclusions)
        cached = self._outcome_arrays.get(key)
        if cached is None:
            if len(self._outcome_arrays) >= _MAX_CACHED_POOLS:
                self._outcome_arrays.clear()
            cached = self._outcome_arrays[key] = (
                pa.array([c[0] for c in conclusions], type=pa.string()),
                np.array([c[1] for c in conclusions], bool),
                pa.array([list(c[2]) for c in conclusions], type=pa.list_(pa.string())),
            )
        return cached

    def _conclusion(
        self, base: tuple[Evidence, ...], signature: tuple[tuple[str, str], ...]
    ) -> tuple[str | None, bool, tuple[str, ...]]:
        """(licence, conflict, traits) of a row with this base evidence and these content findings."""
        key = (base, signature)
        cached = self._conclusions.get(key)
        if cached is None:
            if len(self._conclusions) >= _MAX_CACHED_CONCLUSIONS:
                self._conclusions.clear()
            content = tuple(Evidence(kind, value, "content") for kind, value in signature)
            conclusion = conclude(base + content, self._rules_dir)
            cached = self._conclusions[key] = (conclusion.licence, conclusion.conflict, conclusion.traits)
        return cached

    @staticmethod
    def _metadata_evidence(value: str | None, rules_dir: Path | None) -> tuple[Evidence, ...]:
        result = normalise_licence(value, rules_dir)
        if result.status == "empty":
            return ()
        return (Evidence("metadata", result.spdx or "unknown", "metadata:license"),)


def _content_where(found: ContentColumns) -> pa.Array:
    """The ``where`` of each finding: ``content:offset N``, or ``content:DETAIL`` for one without an
    offset (a full text)."""
    where = pc.binary_join_element_wise("content:offset ", pc.cast(pa.array(found.offset), pa.string()), "")
    no_offset = np.flatnonzero(found.offset < 0)
    if not len(no_offset):
        return where
    labels = found.labels
    details = [f"content:{labels[d]}" if labels[d] else "content" for d in found.detail[no_offset].tolist()]
    pick = np.arange(len(found.offset))
    pick[no_offset] = len(found.offset) + np.arange(len(no_offset))
    return pa.concat_arrays([where, pa.array(details, pa.string())]).take(pa.array(pick))


class _BasePools:
    """The base evidence items of a batch (the evidence of each distinct source and metadata value, in
    order) as a struct array, with each base's item count and first item; cached per list of bases."""

    def __init__(self) -> None:
        self._cache: dict[tuple[tuple[Evidence, ...], ...], tuple[pa.StructArray, np.ndarray, np.ndarray]] = {}

    def get(self, bases: list[tuple[Evidence, ...]]) -> tuple[pa.StructArray, np.ndarray, np.ndarray]:
        key = tuple(bases)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= _MAX_CACHED_POOLS:
                self._cache.clear()
            flat = [e for b in bases for e in b]
            pool = pa.StructArray.from_arrays(
                [pa.array([getattr(e, f.name) for e in flat], pa.string()) for f in EVIDENCE_TYPE],
                fields=list(EVIDENCE_TYPE),
            )
            length = np.array([len(b) for b in bases], np.int64)
            cached = self._cache[key] = (pool, length, np.cumsum(length) - length)
        return cached


def _evidence_column(
    pools: _BasePools,
    bases: list[tuple[Evidence, ...]],
    base_of_row: np.ndarray,
    found: ContentColumns,
    rank: np.ndarray,
) -> pa.Array:
    """list<struct{kind, value, where}> per row: its base evidence, then its content findings, taken at
    once from a pool of items: the base evidence (``_BasePools``), then one item per finding."""
    n = len(base_of_row)
    pool, base_len, base_start = pools.get(bases)
    n_base = base_len[base_of_row]
    sizes = n_base + np.bincount(found.rows, minlength=n) if len(found.rows) else n_base
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    index = np.empty(int(offsets[-1]), np.int64)
    first = base_start[base_of_row]
    # Base item k of a row goes to its offset + k (rows with fewer items skip k).
    for k in range(int(base_len.max()) if len(base_len) else 0):
        rows = np.flatnonzero(n_base > k) if k >= int(base_len.min()) else slice(None)
        index[offsets[:-1][rows] + k] = first[rows] + k
    if len(found.rows):
        # Content finding j of row r (rank k) goes after the row's base items.
        index[offsets[found.rows] + n_base[found.rows] + rank] = len(pool) + np.arange(len(found.rows))
        labels = pa.array(found.labels, pa.string())
        content = pa.StructArray.from_arrays(
            [labels.take(pa.array(found.kind)), labels.take(pa.array(found.value)), _content_where(found)],
            fields=list(EVIDENCE_TYPE),
        )
        pool = pa.concat_arrays([pool, content])
    return pa.ListArray.from_arrays(pa.array(offsets), pool.take(pa.array(index)), type=pa.list_(EVIDENCE_TYPE))
