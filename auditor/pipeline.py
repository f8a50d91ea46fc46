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
import pyarrow.parquet as pq

from auditor import __version__
from auditor.config import AuditConfig, SourceSpec
from auditor.engines.local import ProgressFn, ShardResult, ShardTask, run_map
from auditor.errors import InputError, UsageError
from auditor.io.detect import Shard, discover_shards
from auditor.manifest.schema import CONTRACT_COLUMNS
from auditor.manifest.writer import Manifest, build_sources_table, shards_table, source_facts, write_manifest
from auditor.stages.base import Stage, StageContext
from auditor.stages.normalise import NormaliseStage


@dataclass(frozen=True)
class ScanOptions:
    out: Path
    workers: int = 1
    batch_size: int | None = None  # None: the config's
    on_error: str | None = None  # None: the config's
    run_dir: Path | None = None  # None: <out>/.run
    keep_run_dir: bool = True
    previous_runs: tuple[Path, ...] = ()  # --incremental: manifests (or run directories) to reuse
    engine: str = "local"  # local | ray
    ray_address: str | None = None


@dataclass(frozen=True)
class StageBuilder:
    """Builds the stage list in each worker (picklable: it holds only plain data)."""

    context: StageContext

    def __call__(self) -> Sequence[Stage]:
        stages: list[Stage] = [NormaliseStage()]
        for stage in stages:
            stage.setup(self.context)
        return stages

    def fingerprint(self) -> str:
        """Changes whenever a stage or a parameter that changes attributes changes."""
        payload = {"version": __version__, "stages": [s.name for s in self()],
                   "params": self.context.params, "as_of": str(self.context.as_of)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class ScanResult:
    manifest: Manifest
    shards: list[ShardResult] = field(default_factory=list)
    source_errors: dict[str, list[str]] = field(default_factory=dict)


def plan_tasks(config: AuditConfig, skip_bad_files: bool) -> tuple[list[ShardTask], dict[str, list[str]]]:
    """Shard tasks of every source, sources by name, shards by path; errors per source when skipping."""
    tasks: list[ShardTask] = []
    errors: dict[str, list[str]] = {}
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
        for shard in sorted(shards, key=lambda s: s.name):
            tasks.append(ShardTask(index=len(tasks), source=spec, shard=shard))
    return tasks, errors


def read_attributes(results: Sequence[ShardResult]) -> pa.Table:
    """Concatenate the per-shard attribute files in task order (= source, shard, row order)."""
    tables = [pq.read_table(r.attributes) for r in results if r.attributes is not None]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({name: pa.array([], pa.string()) for name in ("record_id", "source", "shard")})
    return pa.concat_tables(tables, promote_options="default")


def scan(config: AuditConfig, options: ScanOptions, progress: ProgressFn | None = None) -> ScanResult:
    """Audit every source of ``config`` and write the manifest to ``options.out``."""
    batch_size = options.batch_size or config.batch_size
    on_error = options.on_error or config.on_error
    if options.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {options.workers}")
    skip = on_error == "skip-file"
    tasks, source_errors = plan_tasks(config, skip)
    context = StageContext(
        sources={s.name: s for s in config.sources},
        params={},
        as_of=config.as_of or dt.date.today(),
    )
    builder = StageBuilder(context)
    run_dir = options.run_dir or options.out / ".run"
    previous = [_run_dir_of(p) for p in options.previous_runs]
    if options.engine == "ray":
        from auditor.engines.ray import run_map_ray

        results = run_map_ray(tasks, builder, run_dir=run_dir, fingerprint=builder.fingerprint(),
                              batch_size=batch_size, skip_bad_files=skip, previous_runs=previous,
                              address=options.ray_address, num_cpus=options.workers, progress=progress)
    elif options.engine == "local":
        results = list(run_map(tasks, builder, run_dir=run_dir, fingerprint=builder.fingerprint(),
                               batch_size=batch_size, workers=options.workers, skip_bad_files=skip,
                               previous_runs=previous, progress=progress))
    else:
        raise UsageError(f"unknown engine {options.engine!r}; available: local, ray")
    for r in results:
        if r.error:
            source_errors.setdefault(r.source, []).append(r.error)
    records = read_attributes(results)
    records = decide(records)
    facts = source_facts(config, results, source_errors)
    sources = build_sources_table(facts, records)
    parameters: dict[str, Any] = {"batch_size": batch_size, "on_error": on_error,
                                  "as_of": context.as_of.isoformat() if context.as_of else None,
                                  "stages": [s.name for s in builder()]}
    manifest = write_manifest(options.out, records, sources, shards_table(results), audit_name=config.name,
                              parameters=parameters, policy=None)
    if not options.keep_run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return ScanResult(manifest=manifest, shards=results, source_errors=source_errors)


def _run_dir_of(path: Path) -> Path:
    """The run directory of a previous manifest (``<manifest>/.run``) or a run directory itself."""
    for candidate in (path / ".run", path):
        if (candidate / "attributes").is_dir():
            return candidate
    raise UsageError(f"{path}: not a previous manifest or run directory (no .run/attributes/ inside)")


def decide(records: pa.Table) -> pa.Table:
    """Decisions without a policy engine: every record goes to review, with the reason ``no-policy``."""
    n = records.num_rows
    records = records.append_column("decision", pa.array(["review"] * n, pa.string()))
    return records.append_column("reasons", pa.array([["no-policy"]] * n, pa.list_(pa.string())))


__all__ = ["CONTRACT_COLUMNS", "ScanOptions", "ScanResult", "StageBuilder", "plan_tasks", "scan", "SourceSpec"]
