"""Atomic writers: a temporary file in the target folder, flushed and fsynced, then renamed.

A crash leaves either the old file or the new one, never half of one. Temporary files are named
``.<name>.<random>.tmp`` so a reader that lists a folder skips them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path(target: Path) -> Path:
    """A new empty temporary file next to ``target`` (``.<name>.<random>.tmp``), for ``publish``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp_name)


def publish(tmp: Path, target: Path) -> None:
    """Flush ``tmp`` to disk, give it the usual mode and rename it to ``target`` atomically."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual mode
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target`` atomically."""
    tmp = temp_path(target)
    try:
        yield tmp
        publish(tmp, Path(target))
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(target: Path, obj: Any) -> None:
    data = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    write_bytes_atomic(target, data.encode("utf-8"))


def parquet_options(schema: pa.Schema, raw_columns: Sequence[str] = ()) -> dict[str, Any]:
    """The writer options of every Parquet file we write: zstd, and no column statistics.

    Statistics are off because Parquet stores min/max values in plain text: a column that ever held a
    personal value (a URL with an e-mail address in it, say) would leak it into the footer.
    ``raw_columns`` (top-level names) hold random-looking values, such as MinHash signatures, that
    compression and dictionary encoding only slow down: they are stored plain.
    """
    raw = set(raw_columns)
    names = schema.names
    return {
        "compression": {name: "none" if name in raw else "zstd" for name in names} if raw else "zstd",
        "use_dictionary": [name for name in names if name not in raw] if raw else True,
        "write_statistics": False,
        "store_schema": True,
    }


def write_parquet_atomic(
    target: Path, table: pa.Table, *, row_group_size: int = 65536, raw_columns: Sequence[str] = ()
) -> None:
    """Write ``table`` deterministically with ``parquet_options``; atomic (temp file, rename)."""
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, **parquet_options(table.schema, raw_columns))
