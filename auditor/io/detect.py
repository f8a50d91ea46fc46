"""Format detection by content, never by file name, and shard discovery.

A *shard* is one unit of input a source is made of: a Parquet file, an Arrow IPC file or stream, a
JSON Lines file (plain, gzip or zstd), or one split file of a Hugging Face ``datasets`` folder. Shards are the
unit of work, of resumption and of the ``shard`` column of the manifest.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from auditor.errors import FormatError, InputError

PARQUET = "parquet"
ARROW_FILE = "arrow-file"
ARROW_STREAM = "arrow-stream"
JSONL = "jsonl"
JSONL_GZ = "jsonl.gz"
JSONL_ZST = "jsonl.zst"
FORMATS = (PARQUET, ARROW_FILE, ARROW_STREAM, JSONL, JSONL_GZ, JSONL_ZST)

_PARQUET_MAGIC = b"PAR1"
_ARROW_FILE_MAGIC = b"ARROW1"
_STREAM_CONTINUATION = b"\xff\xff\xff\xff"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Files a folder may hold that are never data (dataset cards, checksums, markers).
_IGNORED_NAMES = {"README.md", "dataset_info.json", "state.json", "dataset_dict.json", "_SUCCESS",
                  "_common_metadata", "_metadata", ".DS_Store"}
_IGNORED_SUFFIXES = (".md", ".txt", ".crc", ".toml", ".yaml", ".yml", ".lock", ".py")


@dataclass(frozen=True)
class Shard:
    """One input file of a source."""

    path: Path
    name: str  # relative to the source root; the manifest's `shard` column
    format: str
    partition: tuple[tuple[str, str], ...] = ()  # hive `key=value` folders above the file


@dataclass(frozen=True)
class ShardPart:
    """Part ``number`` of ``count`` of a large file, whose first row is the file's row ``first_row``:
    row groups ``[row_groups[0], row_groups[1])`` of a Parquet file (record batches of an Arrow IPC
    file, which ``key`` also calls row groups; of an Arrow IPC stream, whose batch messages then lie in
    bytes ``[byte_range[0], byte_range[1])``), or, for a JSON Lines file, the whole lines in bytes
    ``[byte_range[0], byte_range[1])``, the first of them the file's line ``first_line + 1``."""

    number: int
    count: int
    row_groups: tuple[int, int]
    first_row: int
    byte_range: tuple[int, int] | None = None
    first_line: int = 0

    @property
    def key(self) -> str:
        """Names the part in markers: its place and its row groups or bytes (a file split otherwise is
        another set of parts)."""
        if self.byte_range is not None:
            return f"{self.number + 1}/{self.count} bytes {self.byte_range[0]}-{self.byte_range[1] - 1}"
        return f"{self.number + 1}/{self.count} row groups {self.row_groups[0]}-{self.row_groups[1] - 1}"


def sniff(path: Path) -> str:
    """The format of ``path``, decided from its first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise FormatError("is a folder where a file was expected", path=str(path)) from None
    if not head:
        raise FormatError("file is empty (0 bytes); expected Parquet, Arrow IPC or JSON Lines",
                          path=str(path))
    if head.startswith(_PARQUET_MAGIC):
        return PARQUET
    if head.startswith(_ARROW_FILE_MAGIC):
        return ARROW_FILE
    if head.startswith(_STREAM_CONTINUATION):
        return ARROW_STREAM
    if head.startswith(_GZIP_MAGIC):
        return _compressed_jsonl(path, "gzip", lambda: gzip.open(path, "rb"), JSONL_GZ)
    if head.startswith(_ZSTD_MAGIC):
        return _compressed_jsonl(path, "zstd", lambda: open_zstd(path), JSONL_ZST)
    if head.lstrip().startswith(b"{") or head.startswith(b"\xef\xbb\xbf{"):
        return JSONL
    raise FormatError(
        f"unknown format (first bytes {head[:8]!r}); expected Parquet (PAR1), Arrow IPC file (ARROW1), "
        "Arrow IPC stream (0xFFFFFFFF), JSON Lines ('{') or gzip- or zstd-compressed JSON Lines",
        path=str(path),
    )


def _compressed_jsonl(path: Path, codec: str, opener: Callable[[], BinaryIO], fmt: str) -> str:
    """``fmt`` when the decompressed file starts like JSON Lines (or is empty), else a FormatError."""
    try:
        with opener() as fh:
            inner = fh.read(64).lstrip()
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"corrupt {codec} file: {exc}", path=str(path)) from None
    if inner.startswith(b"{") or not inner:
        return fmt
    raise FormatError(f"{codec} file does not hold JSON Lines (first byte is not '{{')", path=str(path))


def open_zstd(path: Path) -> io.BufferedReader:
    """A zstd-compressed file (one or more frames), decompressed as it is read, with pyarrow's codec."""
    return io.BufferedReader(pa.input_stream(str(path), compression="zstd"), 1 << 20)


def _hf_dataset_files(folder: Path) -> list[Path]:
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    files = [folder / f["filename"] for f in state.get("_data_files", [])]
    if not files:
        files = sorted(folder.glob("*.arrow"))
    return files


def is_hf_dataset(folder: Path) -> bool:
    return (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()


def is_hf_dataset_dict(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file()


def discover_shards(path: Path) -> tuple[Path, list[Shard]]:
    """All shards under ``path`` with their formats, in a deterministic order, and the source root.

    ``path`` may be a file, a folder of files (searched recursively; hive ``key=value`` folders are
    recorded as partitions), a ``datasets`` ``save_to_disk`` folder of a Dataset, or of a DatasetDict
    (one shard per split file, named after the split).
    """
    if not path.exists():
        raise InputError("path does not exist", path=str(path))
    if path.is_file():
        return path.parent, [Shard(path=path, name=path.name, format=sniff(path))]
    if is_hf_dataset_dict(path):
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        shards: list[Shard] = []
        for split in splits:
            files = _hf_dataset_files(path / split)
            for f in files:
                name = split if len(files) == 1 else f"{split}/{f.name}"
                shards.append(Shard(path=f, name=name, format=sniff(f)))
        return path, shards
    if is_hf_dataset(path):
        files = _hf_dataset_files(path)
        return path, [Shard(path=f, name=f.name, format=sniff(f)) for f in files]
    shards = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or f.name in _IGNORED_NAMES:
            continue
        if f.name.endswith(_IGNORED_SUFFIXES):
            continue
        partition = tuple(
            tuple(part.split("=", 1)) for part in rel.parts[:-1] if "=" in part
        )
        shards.append(Shard(path=f, name=rel.as_posix(), format=sniff(f), partition=partition))  # type: ignore[arg-type]
    if not shards:
        raise InputError("folder holds no data files (Parquet, Arrow, JSON Lines)", path=str(path))
    return path, shards
