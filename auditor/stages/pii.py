"""PII stage: which kinds of personal information each record holds, where, and how sensitive.

Inputs: ``text`` (large_string), ``lang`` (string, from LanguageStage; optional, may be null) and
``source``. Adds:

- ``pii_types``      list<string>   sorted unique detector names found (e.g. ``email``, ``cn_resident_id``)
- ``pii_count``      int64          number of findings
- ``pii_sensitive``  bool           any finding of a detector with sensitivity tags (PIPL art. 28, GDPR art. 9)
- ``pii_categories`` list<string>   sorted sensitivity tags found (e.g. ``pipl28.financial_account``)
- ``pii_findings``   list<struct{detector, category, start, end, value_hash}>  character offsets into the
  raw text; ``value_hash`` is a salted HMAC-SHA256 of the value when ``params["pii_salt"]`` is given

Parameters (``StageContext.params``): ``pii_salt`` (bytes, never written anywhere), ``pii_phone_regions``
(``{source: ["DE", ...]}``, tried before the language's regions), ``pii_detectors`` (path to another
detectors file). Otherwise ``rules_dir/pii/detectors.toml`` is used when it exists, else the shipped file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from auditor.errors import ConfigError
from auditor.pii.findings import FINDING_TYPE
from auditor.pii.loader import default_detectors, load_detectors
from auditor.pii.model import DetectorSet, Finding
from auditor.pii.scanner import PiiScanner
from auditor.stages.base import StageContext, append_columns

PII_COLUMNS = pa.schema(
    [
        pa.field("pii_types", pa.list_(pa.string())),
        pa.field("pii_count", pa.int64()),
        pa.field("pii_sensitive", pa.bool_()),
        pa.field("pii_categories", pa.list_(pa.string())),
        pa.field("pii_findings", pa.list_(FINDING_TYPE)),
    ]
)


def _detector_set(context: StageContext) -> DetectorSet:
    override = context.params.get("pii_detectors")
    if override is not None:
        return load_detectors(Path(override))
    if context.rules_dir is not None:
        candidate = Path(context.rules_dir) / "pii" / "detectors.toml"
        if candidate.is_file():
            return load_detectors(candidate)
    return default_detectors()


class PiiStage:
    """Detects personal information; see the module docstring for the columns it adds."""

    name = "pii"

    def __init__(self) -> None:
        self._scanner: PiiScanner | None = None

    def setup(self, context: StageContext) -> None:
        salt = context.params.get("pii_salt")
        if salt is not None and not isinstance(salt, bytes | bytearray):
            raise ConfigError(f"params.pii_salt must be bytes, got {type(salt).__name__}")
        regions = context.params.get("pii_phone_regions") or {}
        if not isinstance(regions, dict):
            raise ConfigError("params.pii_phone_regions must map source names to lists of region codes")
        self._scanner = PiiScanner(_detector_set(context), salt=salt, source_regions=regions)

    @property
    def detectors(self) -> DetectorSet:
        return self._require_setup().detectors

    def _require_setup(self) -> PiiScanner:
        if self._scanner is None:
            raise RuntimeError("PiiStage.setup(context) must be called before the stage is used")
        return self._scanner

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        scanner = self._require_setup()
        names = batch.schema.names
        langs = batch.column("lang") if "lang" in names else None
        sources = batch.column("source") if "source" in names else None
        findings = scanner.scan_texts(batch.column("text"), langs, sources)
        return append_columns(batch, findings_columns(findings, scanner.detectors))


def findings_columns(findings: list[list[Finding]], detectors: DetectorSet) -> dict[str, pa.Array]:
    """The five ``pii_*`` columns for per-row findings (rows without findings cost no Python work)."""
    n = len(findings)
    counts = np.fromiter((len(f) for f in findings), dtype=np.int64, count=n)
    finding_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=finding_offsets[1:])
    type_offsets = np.zeros(n + 1, dtype=np.int32)
    category_offsets = np.zeros(n + 1, dtype=np.int32)
    type_values: list[str] = []
    category_values: list[str] = []
    sensitive = np.zeros(n, dtype=bool)
    flat: list[Finding] = []
    tags = {d.name: d.sensitivity for d in detectors.detectors}
    for row in np.flatnonzero(counts).tolist():
        row_findings = findings[row]
        flat.extend(row_findings)
        kinds = sorted({f.detector for f in row_findings})
        row_tags = sorted({tag for kind in kinds for tag in tags.get(kind, ())})
        type_values.extend(kinds)
        category_values.extend(row_tags)
        type_offsets[row + 1] = len(kinds)
        category_offsets[row + 1] = len(row_tags)
        sensitive[row] = bool(row_tags)
    np.cumsum(type_offsets, out=type_offsets)
    np.cumsum(category_offsets, out=category_offsets)
    structs = pa.StructArray.from_arrays(
        [
            pa.array([f.detector for f in flat], pa.string()),
            pa.array([f.category for f in flat], pa.string()),
            pa.array([f.start for f in flat], pa.int64()),
            pa.array([f.end for f in flat], pa.int64()),
            pa.array([f.value_hash for f in flat], pa.string()),
        ],
        fields=list(FINDING_TYPE),
    )
    return {
        "pii_types": pa.ListArray.from_arrays(pa.array(type_offsets), pa.array(type_values, pa.string())),
        "pii_count": pa.array(counts, pa.int64()),
        "pii_sensitive": pa.array(sensitive, pa.bool_()),
        "pii_categories": pa.ListArray.from_arrays(
            pa.array(category_offsets), pa.array(category_values, pa.string())
        ),
        "pii_findings": pa.ListArray.from_arrays(pa.array(finding_offsets), structs),
    }
