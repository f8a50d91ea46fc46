"""Planned parts of JSON Lines files, kept in the run directory.

Planning a JSON Lines file's parts (``readers.jsonl_parts``) reads the whole file, decompressing it if
it is compressed. A re-run over an unchanged file (same size and modification time, trusted as the map
step trusts them for finished shards, as make and rsync do) reuses the parts planned before, from its
run directory or from an earlier run's (``--incremental``), so that a scheduled re-audit of an
unchanged corpus does not read it again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.io.atomic import write_json_atomic
from auditor.io.detect import Shard, ShardPart
from auditor.io.readers import COMPRESSED_MAX_PARTS, jsonl_parts

PLANS = "jsonl-parts.json"
_VERSION = 1


class JsonlPlans:
    """``jsonl_parts`` of each file, remembered by its resolved path, size, modification time, format
    and the part size asked."""

    def __init__(self, files: dict[str, dict[str, Any]] | None = None) -> None:
        self.files = dict(files or {})
        self.changed = False

    @classmethod
    def load(cls, run_dirs: Sequence[Path]) -> JsonlPlans:
        """The plans kept in ``run_dirs`` (the first directory's win); a missing or unreadable file
        counts as none: the plans are planned again."""
        files: dict[str, dict[str, Any]] = {}
        for run_dir in reversed(run_dirs):
            try:
                data = json.loads((run_dir / PLANS).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("version") == _VERSION and isinstance(data.get("files"), dict):
                files.update(data["files"])
        return cls(files)

    def parts(self, shard: Shard, min_bytes: int) -> list[ShardPart]:
        """``jsonl_parts(shard, min_bytes)``, from the plan kept for an unchanged file if there is one."""
        try:
            stat = shard.path.stat()
        except OSError:
            return jsonl_parts(shard, min_bytes)  # [] : the map step reports the file
        key = str(shard.path.resolve())
        facts = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": shard.format,
                 "min_bytes": min_bytes, "max_parts": COMPRESSED_MAX_PARTS}
        kept = self.files.get(key)
        if kept is not None and all(kept.get(k) == v for k, v in facts.items()):
            try:
                return [_part(p) for p in kept["parts"]]
            except (KeyError, TypeError, ValueError):
                pass  # a damaged entry: plan again
        parts = jsonl_parts(shard, min_bytes)
        self.files[key] = {**facts, "parts": [_entry(p) for p in parts]}
        self.changed = True
        return parts

    def save(self, run_dir: Path) -> None:
        """Keep the plans in ``run_dir`` (when any was planned in this run)."""
        if self.changed:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / PLANS, {"version": _VERSION, "files": self.files})
            self.changed = False


def _entry(part: ShardPart) -> dict[str, Any]:
    return {"number": part.number, "count": part.count, "row_groups": list(part.row_groups),
            "first_row": part.first_row, "byte_range": None if part.byte_range is None else list(part.byte_range),
            "first_line": part.first_line}


def _part(entry: dict[str, Any]) -> ShardPart:
    byte_range = entry["byte_range"]
    return ShardPart(int(entry["number"]), int(entry["count"]), (int(entry["row_groups"][0]), int(entry["row_groups"][1])),
                     int(entry["first_row"]), None if byte_range is None else (int(byte_range[0]), int(byte_range[1])),
                     int(entry["first_line"]))
