"""The optional PII findings file: one row per finding, with offsets but never the value.

Columns: record_id, detector, category, start, end (character offsets into the raw text) and
value_hash (salted HMAC-SHA256 of the value, or null without a salt). Parquet column statistics are
turned off: they would store min/max values in plain text.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FINDING_TYPE = pa.struct(
    [
        pa.field("detector", pa.string()),
        pa.field("category", pa.string()),
        pa.field("start", pa.int64()),
        pa.field("end", pa.int64()),
        pa.field("value_hash", pa.string()),
    ]
)
FINDINGS_SCHEMA = pa.schema([pa.field("record_id", pa.string()), *FINDING_TYPE])


def findings_table(records: pa.RecordBatch | pa.Table) -> pa.Table:
    """Flatten the ``pii_findings`` column of ``records`` into one row per finding, keyed by record_id."""
    table = records if isinstance(records, pa.Table) else pa.Table.from_batches([records])
    findings = table.column("pii_findings")
    parents = pc.list_parent_indices(findings)
    flat = pc.list_flatten(findings)
    columns = {"record_id": table.column("record_id").take(parents)}
    for field in FINDING_TYPE:
        columns[field.name] = pc.struct_field(flat, field.name)
    return pa.table(columns, schema=FINDINGS_SCHEMA)


def write_findings(table: pa.Table, path: Path | str) -> None:
    """Write a findings table as Parquet, without column statistics, via a temporary file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table.cast(FINDINGS_SCHEMA), tmp, write_statistics=False)
    tmp.replace(path)


def source_pii_summary(records: pa.Table) -> pa.Table:
    """Per-source PII aggregates from records with ``source``, ``pii_count``, ``pii_sensitive``,
    ``pii_types`` and ``pii_categories``: record counts overall, with PII and sensitive, the number of
    findings, and for each PII type and sensitive category how many records hold it. Sorted by source.
    """
    totals = (
        pa.table(
            {
                "source": records.column("source"),
                "records": pa.repeat(1, records.num_rows).cast(pa.int64()),
                "records_with_pii": pc.cast(pc.greater(records.column("pii_count"), 0), pa.int64()),
                "records_sensitive": pc.cast(
                    pc.fill_null(records.column("pii_sensitive"), False), pa.int64()
                ),
                "pii_findings": records.column("pii_count"),
            }
        )
        .group_by("source")
        .aggregate([(c, "sum") for c in ("records", "records_with_pii", "records_sensitive", "pii_findings")])
        .rename_columns(["source", "records", "records_with_pii", "records_sensitive", "pii_findings"])
    )
    for column, key in (("pii_types", "type"), ("pii_categories", "category")):
        values = records.column(column)
        per_value = (
            pa.table(
                {
                    "source": records.column("source").take(pc.list_parent_indices(values)),
                    key: pc.list_flatten(values),
                }
            )
            .group_by(["source", key])
            .aggregate([([], "count_all")])
            .sort_by([("source", "ascending"), (key, "ascending")])
        )
        nested = pa.StructArray.from_arrays(
            [per_value.column(key).combine_chunks(), per_value.column("count_all").combine_chunks()],
            names=[key, "records"],
        )
        grouped = {source: [] for source in totals.column("source").to_pylist()}
        for source, item in zip(per_value.column("source").to_pylist(), nested.to_pylist(), strict=True):
            grouped[source].append(item)
        totals = totals.append_column(
            column,
            pa.array([grouped[s] for s in totals.column("source").to_pylist()], pa.list_(nested.type)),
        )
    return totals.sort_by("source")
