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


def _encode(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
    """(codes with -1 for null, dictionary values) of a string column. A column of one repeated value
    (the source of a batch read from one shard) is recognised on its buffers, without a hash kernel."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) and not column.null_count and pa.types.is_string(column.type):
        _validity, offsets_buffer, data = column.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int32, count=len(column) + 1, offset=column.offset * 4)
        width = int(offsets[1] - offsets[0])
        if data is not None and int(offsets[-1] - offsets[0]) == width * len(column) and width:
            raw = np.frombuffer(data, np.uint8, count=width * len(column), offset=int(offsets[0]))
            if (raw.reshape(len(column), width) == raw[:width]).all():
                return np.zeros(len(column), np.int64), [column[0].as_py()]
    encoded = pc.dictionary_encode(column)
    indices = encoded.indices
    validity, values = indices.buffers()
    codes = np.frombuffer(values, np.int32, count=len(indices), offset=indices.offset * 4).astype(np.int64)
    if indices.null_count:
        valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
        codes[~valid[indices.offset : indices.offset + len(indices)].astype(bool)] = -1
    return codes, encoded.dictionary.to_pylist()


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
        self._conclusions: dict[
            tuple[tuple[Evidence, ...], tuple[tuple[str, str], ...]], tuple[str | None, bool, tuple[str, ...]]
        ] = {}

    def setup(self, context: StageContext) -> None:
        self._rules_dir = context.rules_dir
        self._conclusions.clear()
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
        # Codes shifted by one: 0 is a null source or metadata value.
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
        take = pa.array(group_of_row, type=pa.int64())
        columns = {
            "licence": pa.array([c[0] for c in conclusions], type=pa.string()).take(take),
            "licence_evidence": _evidence_column(bases, base_of_row, found, rank),
            "licence_conflict": pa.array(np.array([c[1] for c in conclusions], bool)[group_of_row]),
            "licence_traits": pa.array([list(c[2]) for c in conclusions], type=pa.list_(pa.string())).take(
                take
            ),
        }
        return append_columns(batch, columns)

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


def _content_where(found: ContentColumns) -> tuple[pa.Array, np.ndarray]:
    """The ``where`` of the findings, as (pool, index into it per finding): ``content:offset N`` (one
    pool entry per finding, built by Arrow kernels), or ``content:DETAIL`` for full texts (one per
    label)."""
    details = pa.array([f"content:{d}" if d else "content" for d in found.labels], pa.string())
    texts = pc.cast(pa.array(found.offset, pa.int64()), pa.string())
    at_offset = pc.binary_join_element_wise("content:offset ", texts, "")
    index = np.where(found.offset >= 0, len(found.labels) + np.arange(len(found.offset)), found.detail)
    return pa.concat_arrays([details, at_offset]), index


def _evidence_column(
    bases: list[tuple[Evidence, ...]], base_of_row: np.ndarray, found: ContentColumns, rank: np.ndarray
) -> pa.Array:
    """list<struct{kind, value, where}> per row: its base evidence, then its content findings. Each
    field is one ``take`` from a small pool: the base evidence's strings, then the findings' labels (or
    ``where`` strings)."""
    n = len(base_of_row)
    base_len = np.array([len(b) for b in bases], np.int64)
    base_start = np.cumsum(base_len) - base_len
    flat = [e for b in bases for e in b]
    n_base = base_len[base_of_row]
    n_content = np.bincount(found.rows, minlength=n).astype(np.int64)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(n_base + n_content, out=offsets[1:])
    # Base items of row r go to offsets[r] + k, taken from base_start[base] + k.
    reps = np.repeat(np.arange(n), n_base)
    k = np.arange(len(reps)) - np.repeat(np.cumsum(n_base) - n_base, n_base)
    base_slot, base_item = offsets[reps] + k, base_start[base_of_row[reps]] + k
    # Content finding j of row r (rank k) goes after the row's base items.
    content_slot = offsets[found.rows] + n_base[found.rows] + rank
    where_pool, where_index = _content_where(found)
    pools = (
        ([e.kind for e in flat], found.kind),
        ([e.value for e in flat], found.value),
        ([e.where for e in flat], where_index),
    )
    fields = []
    for base_strings, content_index in pools:
        index = np.empty(int(offsets[-1]), np.int64)
        index[base_slot] = base_item
        index[content_slot] = len(flat) + content_index
        tail = where_pool if content_index is where_index else pa.array(found.labels, pa.string())
        pool = pa.concat_arrays([pa.array(base_strings, pa.string()), tail])
        fields.append(pool.take(pa.array(index)))
    items = pa.StructArray.from_arrays(fields, fields=list(EVIDENCE_TYPE))
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32), pa.int32()), items, type=pa.list_(EVIDENCE_TYPE)
    )
