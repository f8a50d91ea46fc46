"""Verification of a manifest directory: file hashes and the Merkle root, recomputed from the files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from auditor.errors import ManifestError
from auditor.manifest.merkle import records_root
from auditor.manifest.schema import CONTRACT_COLUMNS, SCHEMA_VERSION
from auditor.manifest.writer import RECORDS, SUMMARY, sha256_file


def load_summary(manifest: Path) -> dict:
    path = Path(manifest) / SUMMARY
    if not path.is_file():
        raise ManifestError(f"{manifest}: not a manifest (no {SUMMARY}; an interrupted write leaves none)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from None
    if summary.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"{path}: schema_version {summary.get('schema_version')!r} is not supported; "
                            f"this auditor reads {SCHEMA_VERSION}")
    return summary


def verify_manifest(manifest: Path) -> list[str]:
    """Problems found (empty when the manifest is intact)."""
    manifest = Path(manifest)
    summary = load_summary(manifest)
    problems: list[str] = []
    for name, expected in sorted(summary.get("files", {}).items()):
        path = manifest / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: sha256 differs from summary.json")
    if (manifest / RECORDS).is_file():
        records = pq.read_table(manifest / RECORDS)
        missing = [c for c in CONTRACT_COLUMNS if c not in records.column_names]
        if missing:
            problems.append(f"{RECORDS}: contract columns missing: {missing}")
        else:
            root = records_root(records)
            if root != summary.get("merkle", {}).get("root"):
                problems.append(f"{RECORDS}: Merkle root {root} differs from summary.json")
    return problems
