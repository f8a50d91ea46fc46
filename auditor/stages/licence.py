"""The licence stage: licence evidence per record, and the licence it concludes.

Inputs: ``text`` (raw text), ``meta_licence`` (the record's licence metadata, optional column) and
``source``; the source-level licence comes from ``context.sources[name].declared_licence`` (audit.toml)
and from a Hugging Face dataset folder's own metadata (``dataset_info.json``, README.md card).

Adds:

- ``licence`` (string, nullable): concluded SPDX expression (LicenseRef-* for non-SPDX terms);
- ``licence_evidence`` (list<struct{kind, value, where}>): every piece of evidence, never raw text;
- ``licence_conflict`` (bool): the evidence disagrees (e.g. CC-BY-4.0 source, "All rights reserved" text);
- ``licence_traits`` (list<string>): sorted trait names of the concluded licence ("unknown" if none).

Cost: rows are grouped by (source, meta_licence) with Arrow dictionary encoding, so the conclusion is
computed once per distinct pair; content is scanned only for rows that pass one vectorised RE2
pre-filter over the whole column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.errors import ConfigError
from auditor.licences.conclude import Conclusion, Evidence, conclude
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


def _encode(column: pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """(codes with -1 for null, dictionary values) of a string column."""
    encoded = pc.dictionary_encode(column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


class LicenceStage:
    """Map stage adding ``licence``, ``licence_evidence``, ``licence_conflict``, ``licence_traits``."""

    name = "licence"

    def __init__(self, *, full_text: bool = True) -> None:
        self.full_text = full_text
        self._scanner: ContentScanner | None = None
        self._sources: dict[str, tuple[Evidence, ...]] = {}
        self._rules_dir: Path | None = None

    def setup(self, context: StageContext) -> None:
        self._rules_dir = context.rules_dir
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
        meta_evidence = [self._metadata_evidence(v, self._rules_dir) for v in meta_values]
        combo = src_codes * (len(meta_values) + 1) + (meta_codes + 1)
        uniques, row_keys = np.unique(combo, return_inverse=True)
        conclusions: list[Conclusion] = []
        for key in uniques.tolist():
            src, meta = divmod(key, len(meta_values) + 1)
            evidence = self._sources.get(src_values[src] or "", ()) if src >= 0 else ()
            if meta > 0:
                evidence = evidence + meta_evidence[meta - 1]
            conclusions.append(conclude(evidence, self._rules_dir))
        row_keys = row_keys.astype(np.int64)
        if "text" in names:
            for row, findings in self._scanner.scan_batch(batch.column("text")).items():
                content = tuple(Evidence(f.kind, f.value, f.where) for f in findings)
                conclusions.append(conclude(conclusions[row_keys[row]].evidence + content, self._rules_dir))
                row_keys[row] = len(conclusions) - 1
        return append_columns(batch, self._columns(conclusions, row_keys))

    @staticmethod
    def _metadata_evidence(value: str | None, rules_dir: Path | None) -> tuple[Evidence, ...]:
        result = normalise_licence(value, rules_dir)
        if result.status == "empty":
            return ()
        return (Evidence("metadata", result.spdx or "unknown", "metadata:license"),)

    @staticmethod
    def _columns(conclusions: list[Conclusion], row_keys: np.ndarray) -> dict[str, pa.Array]:
        take = pa.array(row_keys, type=pa.int64())
        kinds: list[str] = []
        values: list[str] = []
        wheres: list[str] = []
        offsets = [0]
        for conclusion in conclusions:
            for e in conclusion.evidence:
                kinds.append(e.kind)
                values.append(e.value)
                wheres.append(e.where)
            offsets.append(len(kinds))
        items = pa.StructArray.from_arrays(
            [pa.array(kinds, pa.string()), pa.array(values, pa.string()), pa.array(wheres, pa.string())],
            fields=list(EVIDENCE_TYPE),
        )
        evidence = pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), items, type=pa.list_(EVIDENCE_TYPE)
        )
        return {
            "licence": pa.array([c.licence for c in conclusions], type=pa.string()).take(take),
            "licence_evidence": evidence.take(take),
            "licence_conflict": pa.array([c.conflict for c in conclusions], type=pa.bool_()).take(take),
            "licence_traits": pa.array(
                [list(c.traits) for c in conclusions], type=pa.list_(pa.string())
            ).take(take),
        }
