"""The manifest contract (schema_version 1): column names and Arrow types of records.parquet.

Users, auditors and regulators read these files: change a column only on purpose, with a bump of
``SCHEMA_VERSION``. Columns after the contract's are extensions; readers must ignore columns they do
not know.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

LICENCE_EVIDENCE = pa.struct([("kind", pa.string()), ("value", pa.string()), ("where", pa.string())])
RIGHTS_MATCH = pa.struct([("registry", pa.string()), ("entry", pa.string()), ("kind", pa.string()),
                          ("score", pa.float64())])
OPT_OUT_SIGNAL = pa.struct([("signal", pa.string()), ("detail", pa.string()), ("effective", pa.bool_())])
RIGHTS_SPAN = pa.struct([("entry", pa.string()), ("start", pa.int64()), ("end", pa.int64())])
COPYRIGHT_STATUS = pa.struct([("registry", pa.string()), ("entry", pa.string()), ("jurisdiction", pa.string()),
                              ("status", pa.string()), ("basis", pa.string())])

CONTRACT_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),
    pa.field("row", pa.int64(), nullable=False),
    pa.field("input_id", pa.string()),
    pa.field("url", pa.string()),
    pa.field("content_sha256", pa.string(), nullable=False),
    pa.field("norm_sha256", pa.string(), nullable=False),
    pa.field("n_chars", pa.int64(), nullable=False),
    pa.field("lang", pa.string()),
    pa.field("dup_cluster", pa.int64()),
    pa.field("dup_of", pa.string()),
    pa.field("dup_kind", pa.string()),
    pa.field("licence", pa.string()),
    pa.field("licence_evidence", pa.list_(LICENCE_EVIDENCE)),
    pa.field("rights", pa.list_(RIGHTS_MATCH)),
    pa.field("opt_out", pa.list_(OPT_OUT_SIGNAL)),
    pa.field("pii_types", pa.list_(pa.string())),
    pa.field("pii_count", pa.int64()),
    pa.field("pii_sensitive", pa.bool_()),
    pa.field("decision", pa.string(), nullable=False),
    pa.field("reasons", pa.list_(pa.string())),
]

# Extensions: written after the contract columns.
EXTENSION_FIELDS = [
    pa.field("text_null", pa.bool_()),
    pa.field("crawl_date", pa.date32()),
    pa.field("licence_conflict", pa.bool_()),
    pa.field("licence_traits", pa.list_(pa.string())),
    pa.field("pii_categories", pa.list_(pa.string())),
    pa.field("dup_reason", pa.string()),
    pa.field("dup_jaccard", pa.float32()),
    pa.field("licence_rank", pa.int32()),
    pa.field("evidence_rank", pa.int32()),
    pa.field("rights_spans", pa.list_(RIGHTS_SPAN)),  # character offsets of matched passages, no text
    pa.field("copyright_status", pa.list_(COPYRIGHT_STATUS)),  # per matched work and jurisdiction
]

RECORDS_SCHEMA = pa.schema(CONTRACT_FIELDS + EXTENSION_FIELDS)
CONTRACT_COLUMNS = [f.name for f in CONTRACT_FIELDS]


def conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly the RECORDS_SCHEMA columns, in order; absent columns filled with nulls
    (lists: empty lists; counts: 0; flags: false) so that every contract column is always present."""
    n = table.num_rows
    arrays = []
    for field in RECORDS_SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        elif pa.types.is_list(field.type):
            arrays.append(pa.array([[]] * n, field.type))
        elif field.name == "pii_count":
            arrays.append(pa.array([0] * n, pa.int64()))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array([False] * n, pa.bool_()))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=RECORDS_SCHEMA)
