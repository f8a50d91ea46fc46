"""Typed configuration: ``audit.toml`` and source specifications.

This is the one module that reads configuration files. Every validation error names the file, the key
and what is allowed.

``audit.toml``::

    [audit]
    name = "sample-audit"              # optional, default: the folder name
    policy = "commercial-pretraining"  # policy name or path (relative to this file)
    batch_size = 2048                  # records per Arrow batch
    as_of = "2026-11-24"               # date for copyright-term and opt-out evaluation
    language_backend = "profiles"      # profiles (default: langdetect's profiles, scored exactly) | langdetect
    pii_salt_env = "AUDITOR_PII_SALT"  # optional: env var holding a secret salt; PII findings then carry
                                       # a salted HMAC of the value for linking (the salt is never written)

    [[source]]
    name = "webcrawl"                  # [A-Za-z0-9_.-]+, unique
    paths = ["webcrawl/"]              # files or folders, relative to this file
    acquisition = "web-crawl"          # open-dataset | web-crawl | commercial | user-data | synthetic
    declared_licence = "CC-BY-4.0"     # optional, as found (normalised later)
    text_column = "text"               # optional, default: first of text, content
    [source.columns]                   # optional metadata mapping; dotted names reach nested fields
    id = "doc_id"
    url = "meta.url"
    licence = "meta.license"
    crawl_date = "meta.fetched"
    [source.evidence]                  # optional references to evidence documents
    licence_file = "LICENSES/cc-by-4.0.txt"
    collection_log = "logs/crawl-2026-10.jsonl"
    contract_id = "ACME-2026-017"
    consent_record = "consent/2026-q3.csv"

    [registries]                       # rights registries and opt-out evidence (docs/registries.md)
    paths = ["registries"]             # folders, relative to this file; shipped defaults always load

    [minhash]                          # near-duplicate parameters (auditor.stages.minhash.MinHashParams)
    num_perm = 128
    threshold = 0.8
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError

ACQUISITION_TYPES = ("open-dataset", "web-crawl", "commercial", "user-data", "synthetic")
METADATA_FIELDS = ("id", "url", "licence", "crawl_date", "http_headers")
EVIDENCE_KINDS = ("licence_file", "collection_log", "contract_id", "consent_record")
DEFAULT_TEXT_COLUMNS = ("text", "content")
# Column names picked up when no mapping is given, in order of preference.
DEFAULT_METADATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "doc_id", "document_id"),
    "url": ("url", "source_url", "meta.url"),
    "licence": ("license", "licence", "meta.license", "meta.licence"),
    "crawl_date": ("crawl_date", "timestamp", "date", "meta.crawl_date", "meta.timestamp"),
    "http_headers": ("http_headers", "headers", "meta.http_headers"),
}
ON_ERROR_CHOICES = ("abort", "skip-file")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

_AUDIT_KEYS = {"name", "policy", "batch_size", "as_of", "on_error", "language_backend", "pii_salt_env"}
LANGUAGE_BACKENDS = ("profiles", "langdetect")
_SOURCE_KEYS = {"name", "paths", "acquisition", "declared_licence", "text_column", "columns", "evidence"}
_TOP_KEYS = {"audit", "source", "registries", "minhash"}


@dataclass(frozen=True)
class SourceSpec:
    """One source of a corpus: where it is, how it was acquired, what evidence backs it."""

    name: str
    paths: tuple[Path, ...]
    acquisition: str | None = None
    declared_licence: str | None = None
    text_column: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The folder shard paths are made relative to."""
        first = self.paths[0]
        return first if first.is_dir() or len(self.paths) > 1 else first.parent


@dataclass(frozen=True)
class AuditConfig:
    sources: tuple[SourceSpec, ...]
    name: str = "audit"
    policy: str | None = None
    batch_size: int = 2048
    as_of: dt.date | None = None
    on_error: str = "abort"
    language_backend: str = "profiles"
    pii_salt: bytes | None = field(default=None, repr=False)
    registries: dict[str, Any] = field(default_factory=dict)
    minhash: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)


def _unknown_keys(where: str, found: dict[str, Any], allowed: set[str], path: Path) -> None:
    extra = sorted(set(found) - allowed)
    if extra:
        raise ConfigError(f"{path}: unknown key(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _str(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be a non-empty string, got {value!r}")
    return value


def parse_date(value: Any, key: str, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a date YYYY-MM-DD, got {value!r}") from None


def load_config(path: Path) -> AuditConfig:
    """Read and validate ``audit.toml``."""
    path = Path(path)
    if path.is_dir():
        path = path / "audit.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _unknown_keys("the top level", data, _TOP_KEYS, path)
    base = path.parent.resolve()
    audit = data.get("audit", {})
    if not isinstance(audit, dict):
        raise ConfigError(f"{path}: [audit] must be a table")
    _unknown_keys("[audit]", audit, _AUDIT_KEYS, path)
    raw_sources = data.get("source")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(f"{path}: at least one [[source]] table is required")
    sources = tuple(_parse_source(i, raw, path, base) for i, raw in enumerate(raw_sources))
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: source names must be unique; repeated: {dupes}")
    batch_size = audit.get("batch_size", 2048)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"{path}: audit.batch_size must be a positive integer, got {batch_size!r}")
    on_error = audit.get("on_error", "abort")
    if on_error not in ON_ERROR_CHOICES:
        raise ConfigError(f"{path}: audit.on_error must be one of {list(ON_ERROR_CHOICES)}, got {on_error!r}")
    as_of = parse_date(audit["as_of"], "audit.as_of", str(path)) if "as_of" in audit else None
    language_backend = audit.get("language_backend", "profiles")
    if language_backend not in LANGUAGE_BACKENDS:
        raise ConfigError(f"{path}: audit.language_backend must be one of {list(LANGUAGE_BACKENDS)}, "
                          f"got {language_backend!r}")
    registries = data.get("registries", {})
    if not isinstance(registries, dict):
        raise ConfigError(f"{path}: [registries] must be a table")
    minhash = data.get("minhash", {})
    if not isinstance(minhash, dict):
        raise ConfigError(f"{path}: [minhash] must be a table")
    pii_salt = None
    if "pii_salt_env" in audit:
        var = _str(audit["pii_salt_env"], "audit.pii_salt_env", path)
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"{path}: audit.pii_salt_env names {var!r}, which is not set or empty")
        pii_salt = value.encode("utf-8")
    policy = audit.get("policy")
    if policy is not None:
        policy = _str(policy, "audit.policy", path)
    return AuditConfig(
        sources=sources,
        name=audit.get("name", base.name),
        policy=policy,
        batch_size=batch_size,
        as_of=as_of,
        on_error=on_error,
        language_backend=language_backend,
        pii_salt=pii_salt,
        registries=registries,
        minhash=minhash,
        config_path=path,
        base_dir=base,
    )


def _parse_source(index: int, raw: Any, path: Path, base: Path) -> SourceSpec:
    where = f"source[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    _unknown_keys(where, raw, _SOURCE_KEYS, path)
    if "name" not in raw:
        raise ConfigError(f"{path}: {where}.name is required")
    name = _str(raw["name"], f"{where}.name", path)
    if not _NAME_RE.match(name):
        raise ConfigError(f"{path}: {where}.name {name!r} may use only letters, digits, '_', '.', '-'")
    where = f"source {name!r}"
    paths = raw.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{path}: {where}: paths must be a non-empty list of strings")
    resolved = tuple((base / p).resolve() for p in paths)
    acquisition = raw.get("acquisition")
    if acquisition is not None and acquisition not in ACQUISITION_TYPES:
        raise ConfigError(
            f"{path}: {where}: acquisition {acquisition!r} is not allowed; allowed: {list(ACQUISITION_TYPES)}"
        )
    columns = raw.get("columns", {})
    if not isinstance(columns, dict):
        raise ConfigError(f"{path}: {where}: columns must be a table")
    _unknown_keys(f"{where}.columns", columns, set(METADATA_FIELDS), path)
    evidence = raw.get("evidence", {})
    if not isinstance(evidence, dict):
        raise ConfigError(f"{path}: {where}: evidence must be a table")
    _unknown_keys(f"{where}.evidence", evidence, set(EVIDENCE_KINDS), path)
    return SourceSpec(
        name=name,
        paths=resolved,
        acquisition=acquisition,
        declared_licence=raw.get("declared_licence"),
        text_column=raw.get("text_column"),
        columns={k: _str(v, f"{where}.columns.{k}", path) for k, v in columns.items()},
        evidence={k: _str(v, f"{where}.evidence.{k}", path) for k, v in evidence.items()},
    )


def source_name_for(path: Path) -> str:
    """A source name derived from a path given on the command line."""
    stem = path.name or path.resolve().name
    for suffix in (".gz", ".jsonl", ".json", ".parquet", ".arrow", ".feather", ".ipc"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-")
    return cleaned or "source"


def config_from_paths(paths: list[Path], *, batch_size: int = 2048, text_column: str | None = None) -> AuditConfig:
    """A quick config from paths given on the command line: one source per path."""
    sources: list[SourceSpec] = []
    seen: set[str] = set()
    for p in paths:
        name = source_name_for(p)
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name}-{n}", n + 1
        seen.add(candidate)
        sources.append(SourceSpec(name=candidate, paths=(p.resolve(),), text_column=text_column))
    return AuditConfig(sources=tuple(sources), batch_size=batch_size)
