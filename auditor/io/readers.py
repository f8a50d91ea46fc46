"""Readers: any supported shard -> a stream of work batches (``WORK_SCHEMA``) of bounded size.

Memory is bounded by the batch size: Parquet is read batch by batch (batches never span row groups),
Arrow IPC files and streams batch by batch, JSON Lines line by line. A record is never dropped: null or
missing text is kept as a null ``text`` and counted by the normalise stage.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from auditor.config import DEFAULT_METADATA_COLUMNS, DEFAULT_TEXT_COLUMNS, METADATA_FIELDS, SourceSpec
from auditor.errors import ColumnError, FormatError, InputError
from auditor.io.detect import (
    ARROW_FILE,
    ARROW_STREAM,
    JSONL,
    JSONL_GZ,
    JSONL_ZST,
    PARQUET,
    Shard,
    ShardPart,
    open_zstd,
)
from auditor.stages.base import WORK_SCHEMA

# Metadata fields of a work batch, by the name of the work column they fill.
_WORK_COLUMN = {"id": "input_id", "url": "url", "licence": "meta_licence", "crawl_date": "crawl_date",
                "http_headers": "http_headers"}


@dataclass(frozen=True)
class ColumnPlan:
    """Which input column (dotted path into structs) fills each work column; None = absent."""

    text: str
    metadata: dict[str, str | None]


def schema_paths(schema: pa.Schema) -> list[str]:
    """Every column of ``schema`` as a dotted path, nested struct fields included."""
    out: list[str] = []

    def walk(prefix: str, field: pa.Field) -> None:
        name = f"{prefix}{field.name}"
        out.append(name)
        if pa.types.is_struct(field.type):
            for child in field.type:
                walk(name + ".", child)

    for f in schema:
        walk("", f)
    return out


def plan_columns(paths: list[str], spec: SourceSpec, where: str) -> ColumnPlan:
    """Choose the text and metadata columns among ``paths`` (dotted names) for ``spec``."""
    available = set(paths)
    if spec.text_column:
        if spec.text_column not in available:
            raise ColumnError(
                f"text column {spec.text_column!r} not found; columns: {', '.join(paths) or '(none)'}",
                path=where,
            )
        text = spec.text_column
    else:
        found = [c for c in DEFAULT_TEXT_COLUMNS if c in available]
        if not found:
            raise ColumnError(
                f"no text column: expected one of {list(DEFAULT_TEXT_COLUMNS)} or text_column in audit.toml; "
                f"columns: {', '.join(paths) or '(none)'}",
                path=where,
            )
        text = found[0]
    metadata: dict[str, str | None] = {}
    for field in METADATA_FIELDS:
        if field in spec.columns:
            if spec.columns[field] not in available:
                raise ColumnError(
                    f"metadata column {spec.columns[field]!r} (columns.{field}) not found; "
                    f"columns: {', '.join(paths)}",
                    path=where,
                )
            metadata[field] = spec.columns[field]
        else:
            metadata[field] = next((c for c in DEFAULT_METADATA_COLUMNS[field] if c in available), None)
    return ColumnPlan(text=text, metadata=metadata)


def _get(batch: pa.RecordBatch, dotted: str) -> pa.Array:
    parts = dotted.split(".")
    # A top-level column may itself contain dots; prefer it.
    if dotted in batch.schema.names:
        return batch.column(dotted)
    array: Any = batch.column(parts[0])
    for part in parts[1:]:
        array = pc.struct_field(array, part)
    return array


def _as_text(array: pa.Array, where: str, row_offset: int) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type):
        return array
    if pa.types.is_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.large_string())
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.large_string())
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        try:
            return array.cast(pa.large_string())
        except pa.ArrowInvalid:
            for i, value in enumerate(array):
                raw = value.as_py()
                if raw is None:
                    continue
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"text column holds bytes that are not valid UTF-8 ({exc.reason} at byte {exc.start})",
                        path=where, row=row_offset + i,
                    ) from None
            raise
    raise ColumnError(f"text column has type {array.type}; expected a string or binary column", path=where)


def _as_string(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    try:
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Nested values (lists, structs) become their JSON text: metadata, never record text.
        return pa.array([None if v is None else json.dumps(v, sort_keys=True, default=str)
                         for v in array.to_pylist()], pa.string())


def _as_date(array: pa.Array) -> pa.Array:
    """Dates from timestamps, dates or ISO strings; anything unparseable becomes null."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    if pa.types.is_date32(t):
        return array
    if pa.types.is_date64(t) or pa.types.is_timestamp(t):
        return array.cast(pa.date32())
    if pa.types.is_null(t):
        return pa.nulls(len(array), pa.date32())
    strings = _as_string(array)
    head = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(strings), 0, 10)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    return parsed.cast(pa.date32())


def to_work_batch(batch: pa.RecordBatch, plan: ColumnPlan, *, source: str, shard: Shard,
                  row_offset: int, partition: dict[str, str] | None = None) -> pa.RecordBatch:
    """Turn a batch of input columns into a work batch with the ``WORK_SCHEMA`` columns."""
    n = batch.num_rows
    where = str(shard.path)
    rows = pa.array(range(row_offset, row_offset + n), pa.int64())
    prefix = f"{source}/{shard.name}#"
    record_id = pc.binary_join_element_wise(pa.scalar(prefix), rows.cast(pa.string()), "")
    columns: dict[str, pa.Array] = {
        "record_id": record_id,
        "source": pa.array([source] * n, pa.string()) if n else pa.array([], pa.string()),
        "shard": pa.array([shard.name] * n, pa.string()) if n else pa.array([], pa.string()),
        "row": rows,
        "text": _as_text(_get(batch, plan.text), where, row_offset),
    }
    for field, work_name in _WORK_COLUMN.items():
        col = plan.metadata.get(field)
        if col is None and partition and field in partition:
            value: pa.Array = pa.array([partition[field]] * n, pa.string())
        elif col is None:
            value = pa.nulls(n, WORK_SCHEMA.field(work_name).type)
        else:
            value = _get(batch, col)
        columns[work_name] = _as_date(value) if work_name == "crawl_date" else _as_string(value)
    return pa.RecordBatch.from_arrays([columns[f.name] for f in WORK_SCHEMA], schema=WORK_SCHEMA)


def _arrow_batches(
    shard: Shard, batch_size: int, part: ShardPart | None = None
) -> tuple[pa.Schema, Callable[[list[str]], Iterator[pa.RecordBatch]]]:
    """The shard's schema, and a function giving its batches (of ``part``'s row groups, or record
    batches of an Arrow IPC file, only, if given) with only the named top-level columns (a Parquet file
    decodes nothing else)."""
    where = str(shard.path)
    try:
        if shard.format == PARQUET:
            pf = pq.ParquetFile(shard.path)
            groups = list(range(*part.row_groups)) if part is not None else None
            return pf.schema_arrow, lambda columns: pf.iter_batches(
                batch_size=batch_size, row_groups=groups, columns=columns)
        if shard.format == ARROW_FILE:
            reader = ipc.open_file(pa.memory_map(str(shard.path)))
            batches = range(*part.row_groups) if part is not None else range(reader.num_record_batches)
            return reader.schema, lambda columns: (reader.get_batch(i).select(columns) for i in batches)
        if shard.format == ARROW_STREAM and part is not None:
            return _stream_part(shard, part)
        if shard.format == ARROW_STREAM:
            stream = ipc.open_stream(pa.memory_map(str(shard.path)))
            return stream.schema, lambda columns: (b.select(columns) for b in stream)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise FormatError(f"cannot open as {shard.format}: {exc}", path=where) from None
    raise FormatError(f"no Arrow reader for format {shard.format}", path=where)


def _stream_part(shard: Shard, part: ShardPart) -> tuple[pa.Schema, Callable[[list[str]], Iterator[pa.RecordBatch]]]:
    """An Arrow IPC stream's schema and the record batches of ``part`` (``parts.stream_batches``: its bytes
    start at a batch message), read from the memory-mapped file without reading the batches before it."""
    source = pa.memory_map(str(shard.path))
    schema = ipc.read_schema(ipc.MessageReader.open_stream(source).read_next_message())
    first, end = part.row_groups
    if part.byte_range is None:
        raise ValueError(f"{shard.path}: a part of an Arrow IPC stream needs the byte offset of its first batch")

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        source.seek(part.byte_range[0])  # type: ignore[index]
        messages = ipc.MessageReader.open_stream(source)
        for _ in range(end - first):
            yield ipc.read_record_batch(messages.read_next_message(), schema).select(columns)

    return schema, batches


def _top_level(dotted: str, schema: pa.Schema) -> str:
    """The top-level column a dotted path reads (a top-level name may itself hold dots)."""
    return dotted if dotted in schema.names else dotted.split(".")[0]


def _rebatch(batches: Iterator[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Split batches larger than ``batch_size`` (IPC files keep the writer's batch sizes)."""
    for b in batches:
        for start in range(0, b.num_rows, batch_size):
            yield b.slice(start, batch_size)


def read_arrow_shard(shard: Shard, spec: SourceSpec, batch_size: int, *, part: ShardPart | None = None
                     ) -> Iterator[pa.RecordBatch]:
    schema, open_batches = _arrow_batches(shard, batch_size, part)
    partition = dict(shard.partition)
    names = schema_paths(schema) + [k for k in partition if k not in schema.names]
    plan = plan_columns(names, spec, str(shard.path))
    used = {_top_level(c, schema) for c in (plan.text, *plan.metadata.values()) if c is not None}
    offset = part.first_row if part is not None else 0
    it = _rebatch(open_batches([n for n in schema.names if n in used]), batch_size)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise FormatError(f"corrupt or truncated {shard.format} data after row {offset}: {exc}",
                              path=str(shard.path), row=offset) from None
        yield to_work_batch(batch, plan, source=spec.name, shard=shard, row_offset=offset, partition=partition)
        offset += batch.num_rows


def _lookup(obj: dict[str, Any], dotted: str) -> Any:
    if dotted in obj:
        return obj[dotted]
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _json_paths(obj: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in obj.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out.extend(_json_paths(value, prefix + key + "."))
    return out


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _candidates(spec: SourceSpec) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    text = (spec.text_column,) if spec.text_column else DEFAULT_TEXT_COLUMNS
    meta = {f: (spec.columns[f],) if f in spec.columns else DEFAULT_METADATA_COLUMNS[f] for f in METADATA_FIELDS}
    return text, meta


def _first_present(obj: dict[str, Any], names: tuple[str, ...]) -> tuple[bool, Any]:
    for name in names:
        value = _lookup(obj, name)
        if value is not None:
            return True, value
        if name in obj:
            return True, None
    return False, None


def open_jsonl(shard: Shard) -> BinaryIO:
    """The bytes of a JSON Lines shard, decompressed (gzip, zstd) as they are read."""
    if shard.format == JSONL_GZ:
        return gzip.open(shard.path, "rb")  # type: ignore[return-value]
    if shard.format == JSONL_ZST:
        return open_zstd(shard.path)
    return shard.path.open("rb")


def _skip(stream: BinaryIO, count: int) -> None:
    """Read and drop the first ``count`` bytes of ``stream`` (which cannot seek)."""
    while count > 0:
        chunk = stream.read(min(count, 1 << 22))
        if not chunk:
            raise EOFError(f"the stream ended {count} bytes before the part's first line")
        count -= len(chunk)


def read_jsonl_shard(shard: Shard, spec: SourceSpec, batch_size: int, *, part: ShardPart | None = None
                     ) -> Iterator[pa.RecordBatch]:
    """Read JSON Lines with Python's json, so that value types and keys may drift between rows.

    Columns are looked up per line: a line without the text field is a record with null text; a file in
    which no line has a text field is a column error. With ``part`` (``parts.jsonl_parts``), only its lines,
    numbered as in the whole file; the column error is then raised by the first part alone (a file
    whose first part has no text field anywhere is refused even if a later part has one).
    """
    where = str(shard.path)
    text_names, meta_names = _candidates(spec)
    buffer: dict[str, list[Any]] = {"text": [], **{f: [] for f in METADATA_FIELDS}}
    offset = part.first_row if part is not None else 0
    first_line = part.first_line if part is not None else 0
    position, end = (part.byte_range if part is not None and part.byte_range else (0, None))
    read_rows = 0
    text_seen = False
    keys_seen: set[str] = set()
    try:
        with open_jsonl(shard) as stream:
            if position and shard.format == JSONL:
                stream.seek(position)
            elif position:
                _skip(stream, position)  # a compressed stream: decompressed up to the part, not parsed
            for line_no, line in enumerate(stream, start=first_line + 1):
                if end is not None:
                    if position >= end:
                        break
                    position += len(line)
                if not line.strip():
                    continue
                read_rows += 1
                row = offset + len(buffer["text"])
                try:
                    obj = json.loads(line)
                except UnicodeDecodeError as exc:
                    raise InputError(f"line {line_no} is not valid UTF-8 ({exc.reason})", path=where,
                                     row=row) from None
                except json.JSONDecodeError as exc:
                    raise InputError(f"line {line_no} is not valid JSON: {exc.msg} at column {exc.colno}",
                                     path=where, row=row) from None
                if not isinstance(obj, dict):
                    raise InputError(f"line {line_no} is a JSON {type(obj).__name__}; expected an object",
                                     path=where, row=row)
                found, text = _first_present(obj, text_names)
                if not found and not text_seen and len(keys_seen) < 1000:
                    keys_seen.update(_json_paths(obj))
                text_seen = text_seen or found
                if isinstance(text, (dict, list)):
                    raise InputError(f"line {line_no}: the text field holds a JSON {type(text).__name__}; "
                                     "expected a string", path=where, row=row)
                buffer["text"].append(_scalar_text(text))
                for f in METADATA_FIELDS:
                    buffer[f].append(_scalar_text(_first_present(obj, meta_names[f])[1]))
                if len(buffer["text"]) >= batch_size:
                    yield _jsonl_batch(buffer, spec, shard, offset)
                    offset += len(buffer["text"])
                    buffer = {k: [] for k in buffer}
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"cannot read {shard.format} after row {offset + len(buffer['text'])}: {exc}",
                          path=where) from None
    if not text_seen and read_rows and (part is None or part.number == 0):
        raise ColumnError(
            f"no line has a text field: expected one of {list(text_names)}; "
            f"fields seen: {', '.join(sorted(keys_seen)) or '(none)'}",
            path=where,
        )
    if buffer["text"]:
        yield _jsonl_batch(buffer, spec, shard, offset)


def _jsonl_batch(buffer: dict[str, list[Any]], spec: SourceSpec, shard: Shard, offset: int) -> pa.RecordBatch:
    arrays = {"text": pa.array(buffer["text"], pa.large_string())}
    for f in METADATA_FIELDS:
        arrays[f] = pa.array(buffer[f], pa.string())
    batch = pa.RecordBatch.from_pydict(arrays)
    plan = ColumnPlan(text="text", metadata={f: f for f in METADATA_FIELDS})
    return to_work_batch(batch, plan, source=spec.name, shard=shard, row_offset=offset)


def read_shard(shard: Shard, spec: SourceSpec, batch_size: int, *, part: ShardPart | None = None
               ) -> Iterator[pa.RecordBatch]:
    """Work batches of at most ``batch_size`` rows from one shard, rows in input order; with ``part``,
    only its row groups of a Parquet file, record batches of an Arrow IPC file or stream, or lines of a
    JSON Lines file (rows numbered as in the whole file)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shard.format in (JSONL, JSONL_GZ, JSONL_ZST):
        return read_jsonl_shard(shard, spec, batch_size, part=part)
    return read_arrow_shard(shard, spec, batch_size, part=part)
