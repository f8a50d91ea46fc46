"""The scan: sources -> shards -> map stages -> attributes -> reduce -> decide -> manifest.

``scan(config, options)`` is the library entry point the CLI calls. It never prints; it reports
progress through a callback and returns a ``ScanResult``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from auditor import __version__
from auditor.attributes import AttributeFiles, AttributeSignatures
from auditor.config import AuditConfig, SourceSpec
from auditor.dedup import SIGNATURE_COLUMNS, BandedSignatures, write_signatures
from auditor.engines.local import ProgressFn, ShardResult, ShardTask, merge_parts, readable_parts, run_map
from auditor.errors import InputError, UsageError
from auditor.io.detect import Shard, discover_shards
from auditor.io.parts import JsonlPlans, arrow_parts, jsonl_parts, parquet_parts
from auditor.manifest.writer import SUMMARY, Manifest, ManifestWriter, shards_table, source_facts
from auditor.policy import DEFAULT_POLICY
from auditor.reduce import (
    PII_FINDINGS,
    SIGNATURES,
    PreferenceRecords,
    PriorManifests,
    cluster_propagation,
    decide_and_write,
    deduplicate,
    load_audit_policy,
    policy_sources,
    policy_summary,
    source_outcomes,
)
from auditor.registry import Registries, load_registries, registry_paths
from auditor.stages.base import Stage, StageContext
from auditor.stages.language import LanguageStage
from auditor.stages.licence import LicenceStage
from auditor.stages.minhash import MinHashParams, MinHashStage
from auditor.stages.normalise import NormaliseStage
from auditor.stages.optout import OptOutStage
from auditor.stages.pii import PiiStage
from auditor.stages.rights import RightsStage
from auditor.textfetch import ShardTextFetcher

RULES_DIR = Path(__file__).resolve().parent / "rules"
# A Parquet file (or Arrow IPC file) whose row groups (record batches) hold more rows than this is
# mapped as several tasks of at least this many rows each (runs of whole row groups or batches), so
# that one large file uses every worker.
PART_ROWS = 50_000
# A JSON Lines file of at least twice this many bytes (decompressed) is mapped as runs of whole lines of
# at least this many bytes each (one pass over the file at planning finds the line and record counts
# before each); a compressed one in at most ``parts.COMPRESSED_MAX_PARTS`` runs.
PART_BYTES = 64 << 20


@dataclass(frozen=True)
class ScanOptions:
    out: Path
    workers: int = 1
    batch_size: int | None = None  # None: the config's
    on_error: str | None = None  # None: the config's
    policy: str | None = None  # None: the config's, else the default policy
    against: tuple[Path, ...] = ()  # earlier manifests to dedup against
    run_dir: Path | None = None  # None: <out>/.run
    keep_run_dir: bool = True
    previous_runs: tuple[Path, ...] = ()  # --incremental: manifests (or run directories) to reuse
    pii_findings: bool = False  # also write pii_findings.parquet (detector, category, offsets; no values)
    engine: str = "local"  # local | ray
    ray_address: str | None = None


@dataclass(frozen=True)
class StageBuilder:
    """Builds and sets up the stage list in each worker (picklable: it holds only plain data)."""

    context: StageContext
    minhash: MinHashParams = field(default_factory=MinHashParams)
    registry_dirs: tuple[Path, ...] = ()

    def registries(self) -> Registries:
        return load_registries(list(self.registry_dirs), as_of=self.context.as_of or dt.date.today())

    def check(self) -> None:
        """Load what the stages load, once, here: a broken registry is a ConfigError before any work."""
        self.registries()

    def __call__(self) -> Sequence[Stage]:
        registries = self.registries()
        stages: list[Stage] = [
            NormaliseStage(),
            LanguageStage(),
            MinHashStage(self.minhash),
            LicenceStage(),
            PiiStage(),
            RightsStage(registries),
            OptOutStage(registries),
        ]
        for stage in stages:
            stage.setup(self.context)
        return stages

    def stage_names(self) -> list[str]:
        return ["normalise", "language", "minhash", "licence", "pii", "rights", "optout"]

    def fingerprint(self, rules: str) -> str:
        """Changes whenever a stage, a parameter or a rule file (``rules``: ``rules_digest``) changes."""
        payload = {"version": __version__, "stages": self.stage_names(),
                   "params": self.context.params, "as_of": str(self.context.as_of),
                   "minhash": self.minhash.to_summary(), "rules": rules}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def rules_digest(extra_dirs: Sequence[Path] = ()) -> str:
    """SHA-256 over every shipped rule file and every registry file: attributes depend on them."""
    digest = hashlib.sha256()
    for folder in (RULES_DIR, *extra_dirs):
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class ScanResult:
    manifest: Manifest
    shards: list[ShardResult] = field(default_factory=list)
    source_errors: dict[str, list[str]] = field(default_factory=dict)


def plan_tasks(config: AuditConfig, skip_bad_files: bool, workers: int | None = None,
               jsonl_plans: JsonlPlans | None = None) -> tuple[list[ShardTask], dict[str, list[str]]]:
    """Shard tasks of every source, sources by name, shards by path; errors per source when skipping.

    Large files are mapped in parts (``parquet_parts``, ``arrow_parts``, ``jsonl_parts``). Planning the
    parts of a JSON Lines file reads it once (decompressing it, if compressed), so with ``workers`` a
    JSON Lines file is split only when it is larger than the input's bytes shared among twice that many
    workers, where it would hold the others up, and never with one worker; Parquet and Arrow parts come
    from footers and message headers, and are always planned. ``jsonl_plans``: JSON Lines parts planned
    by earlier runs, reused for unchanged files (and the ones planned now are added to it)."""
    tasks: list[ShardTask] = []
    errors: dict[str, list[str]] = {}
    planned: list[tuple[SourceSpec, Shard]] = []
    for spec in sorted(config.sources, key=lambda s: s.name):
        shards: list[Shard] = []
        for path in spec.paths:
            try:
                root, found = discover_shards(path)
            except InputError as exc:
                if not skip_bad_files:
                    raise
                errors.setdefault(spec.name, []).append(str(exc))
                continue
            if len(spec.paths) > 1:
                found = [Shard(s.path, f"{path.name}/{s.name}", s.format, s.partition) for s in found]
            shards.extend(found)
        planned.extend((spec, shard) for shard in sorted(shards, key=lambda s: s.name))
    jsonl_floor = 0.0
    if workers is not None:
        jsonl_floor = float("inf") if workers <= 1 else sum(_size(s) for _, s in planned) / (2 * workers)
    for spec, shard in planned:
        parts = parquet_parts(shard, PART_ROWS) or arrow_parts(shard, PART_ROWS)
        if not parts and _size(shard) > jsonl_floor:
            parts = jsonl_plans.parts(shard, PART_BYTES) if jsonl_plans is not None else jsonl_parts(shard, PART_BYTES)
        for part in parts or [None]:
            tasks.append(ShardTask(index=len(tasks), source=spec, shard=shard, part=part))
    return tasks, errors


def _size(shard: Shard) -> int:
    try:
        return shard.path.stat().st_size
    except OSError:
        return 0  # the map step reports it


def scan(config: AuditConfig, options: ScanOptions, progress: ProgressFn | None = None) -> ScanResult:
    """Audit every source of ``config`` and write the manifest to ``options.out``."""
    batch_size = options.batch_size or config.batch_size
    on_error = options.on_error or config.on_error
    if options.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {options.workers}")
    skip = on_error == "skip-file"
    where = str(config.config_path or "audit.toml")
    minhash = MinHashParams.from_mapping(config.minhash, where=f"{where}: [minhash]")
    policy = load_audit_policy(options.policy or config.policy or DEFAULT_POLICY)
    prior = PriorManifests.load(options.against, minhash)
    registry_dirs = tuple(registry_paths(config.registries, config.base_dir, where))
    run_dir = options.run_dir or options.out / ".run"
    previous = [_run_dir_of(p) for p in options.previous_runs]
    plans = JsonlPlans.load([run_dir, *previous])
    tasks, source_errors = plan_tasks(config, skip, options.workers, plans)
    plans.save(run_dir)
    context = StageContext(sources={s.name: s for s in config.sources},
                           params={"lang_backend": config.language_backend,
                                   **({"pii_salt": config.pii_salt} if config.pii_salt else {})},
                           as_of=config.as_of or dt.date.today())
    builder = StageBuilder(context, minhash=minhash, registry_dirs=registry_dirs)
    builder.check()
    rules = rules_digest(registry_dirs)  # hashes every rule and registry file: once per scan
    common = {"run_dir": run_dir, "fingerprint": builder.fingerprint(rules), "batch_size": batch_size,
              "skip_bad_files": skip, "previous_runs": previous, "progress": progress}
    if options.engine == "ray":
        from auditor.engines.ray import run_map_ray

        results = run_map_ray(tasks, builder, address=options.ray_address, num_cpus=options.workers, **common)
    elif options.engine == "local":
        results = list(run_map(tasks, builder, workers=options.workers, **common))
    else:
        raise UsageError(f"unknown engine {options.engine!r}; available: local, ray")
    parts, results = readable_parts(results), merge_parts(results)  # per task; per file
    for r in results:
        if r.error:
            source_errors.setdefault(r.source, []).append(r.error)

    # The reduce step never holds every record's attributes: dedup reads a narrow view of them,
    # and the decisions are made and written slice by slice (auditor.reduce).
    # Each PII finding's detector, offsets and value hash are read only for pii_findings.parquet.
    files = AttributeFiles(parts, skip=() if options.pii_findings else ("pii_findings",))
    records = PreferenceRecords(files, policy.survivor_order)
    # signatures.parquet first (summary.json, written last, hashes it), in the pass over the
    # signatures that computes their band keys: they are never all in memory.
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).unlink(missing_ok=True)
    if records.num_rows:
        banded = AttributeSignatures(files, minhash).band_and_write(records.slices(SIGNATURE_COLUMNS),
                                                                    out / SIGNATURES)
    else:
        write_signatures_first(out, files.concat(SIGNATURE_COLUMNS), minhash)
        banded = BandedSignatures.of_column(pa.array([], pa.list_(pa.uint32(), minhash.num_perm)), minhash)
    fetcher = ShardTextFetcher(files, tasks, batch_size, workers=options.workers) if minhash.verify else None
    try:
        clustered, dedup_summary = deduplicate(records, banded, minhash, survivor_order=policy.survivor_order,
                                               prior=prior, fetch_texts=fetcher)
    finally:
        banded.close()
        if fetcher is not None:
            fetcher.close()
    del banded
    overrides = cluster_propagation(files, clustered)
    facts = source_facts(config, results, source_errors)
    findings = options.pii_findings and "pii_findings" in files.schema.names
    writer = ManifestWriter(out, extra=[PII_FINDINGS] if findings else [])
    try:
        decisions = decide_and_write(files, clustered, overrides, policy, policy_sources(facts), writer,
                                     pii_findings=findings)
    except BaseException:
        writer.abort()
        raise
    del clustered, overrides
    sources = writer.source_counts.table(facts, source_outcomes(decisions))
    parameters: dict[str, Any] = {
        "batch_size": batch_size, "on_error": on_error, "engine": options.engine,
        "as_of": context.as_of.isoformat() if context.as_of else None,
        "stages": builder.stage_names(), "minhash": minhash.to_summary(),
        "registries": [str(p) for p in registry_dirs], "rules_sha256": rules,
    }
    manifest = writer.finish(sources, shards_table(results), audit_name=config.name, parameters=parameters,
                             policy=policy_summary(policy, decisions), prewritten=[SIGNATURES],
                             extra_summary={"dedup": dedup_summary, "sources": source_summary(config)})
    if not options.keep_run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return ScanResult(manifest=manifest, shards=results, source_errors=source_errors)


def source_summary(config: AuditConfig) -> list[dict[str, Any]]:
    """Each source as scanned (paths, mapping, evidence): what `filter` needs to find the corpus again."""
    return [{"name": s.name, "paths": [str(p) for p in s.paths], "acquisition": s.acquisition,
             "declared_licence": s.declared_licence, "text_column": s.text_column, "columns": s.columns,
             "evidence": s.evidence} for s in sorted(config.sources, key=lambda s: s.name)]


def write_signatures_first(out: Path, records: pa.Table, params: MinHashParams) -> None:
    """signatures.parquet, written before the rest of the manifest (summary.json hashes it)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).unlink(missing_ok=True)
    if records.num_rows == 0:
        records = records.append_column("minhash", pa.array([], pa.list_(pa.uint32(), params.num_perm))) \
            if "minhash" not in records.column_names else records
        for name, typ in (("norm_sha256", pa.string()),):
            if name not in records.column_names:
                records = records.append_column(name, pa.array([], typ))
    write_signatures(records, out / SIGNATURES, params)


def _run_dir_of(path: Path) -> Path:
    """The run directory of a previous manifest (``<manifest>/.run``) or a run directory itself."""
    for candidate in (path / ".run", path):
        if (candidate / "attributes").is_dir():
            return candidate
    raise UsageError(f"{path}: not a previous manifest or run directory (no .run/attributes/ inside)")


__all__ = ["ScanOptions", "ScanResult", "StageBuilder", "plan_tasks", "scan"]
