"""The Ray engine (extra ``auditor[ray]``): the same stage code, run by Ray Data on a cluster.

This is the only module that imports ray. The map step is a Ray Data pipeline over the shard tasks:
``map_batches`` with a callable class, so each Ray worker builds and sets up the stages once and maps
whole shards with the same ``run_task`` the local engine uses (auditor's own readers keep each record's
row position, which Ray's file readers do not expose). Attribute files go to the run directory, which
on a multi-node cluster must be shared storage visible to every node (NFS, a mounted bucket).

The reduce step shuffles MinHash band keys with a Ray Data ``groupby`` so that candidate pairs are found
where the data is; the pairs are then clustered by the same code as the local engine, so both engines
write byte-identical manifests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auditor import errors
from auditor.engines.local import (
    FinishedIndex,
    ProgressFn,
    ShardResult,
    ShardTask,
    StageFactory,
    hash_split_files,
    load_finished,
    run_task,
)
from auditor.errors import AuditorError, UsageError

INSTALL_HINT = "the Ray engine needs the ray extra: pip install 'auditor[ray]'"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def ensure_ray(address: str | None, num_cpus: int | None) -> Any:
    """Connect to a cluster at ``address`` (or start a local instance) unless already connected."""
    ray = _ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address:
            kwargs["address"] = address
        elif num_cpus:
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


class _ShardMapper:
    """Ray Data callable class: stages are built once per Ray worker, then whole shards are mapped."""

    def __init__(self, tasks: Sequence[ShardTask], factory: StageFactory, run_dir: str, fingerprint: str,
                 batch_size: int, skip_bad_files: bool, finished: FinishedIndex) -> None:
        self.tasks = {t.index: t for t in tasks}
        self.factory = factory
        self.stages: Any = None
        self.run_dir = Path(run_dir)
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        self.skip = skip_bad_files
        self.finished = finished

    def _stages(self) -> Any:
        if self.stages is None:
            self.stages = self.factory()
        return self.stages

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {k: [] for k in ("index", "file_sha256", "n_bytes", "n_records",
                                                      "attributes", "error", "reused", "fatal")}
        for index in batch["index"]:
            try:
                r = run_task(self.tasks[int(index)], self._stages, run_dir=self.run_dir,
                             fingerprint=self.fingerprint, batch_size=self.batch_size,
                             skip_bad_files=self.skip, finished=self.finished)
            except AuditorError as exc:
                # Returned, not raised: Ray would wrap it, and the CLI maps our classes to exit codes.
                task = self.tasks[int(index)]
                r = ShardResult(index=task.index, source=task.source.name, shard=task.shard.name,
                                format=task.shard.format, file_sha256="", n_bytes=0, n_records=0,
                                attributes=None, error=str(exc), part=task.part.key if task.part else "")
                out["fatal"].append(type(exc).__name__)
            else:
                out["fatal"].append("")
            out["index"].append(r.index)
            out["file_sha256"].append(r.file_sha256)
            out["n_bytes"].append(r.n_bytes)
            out["n_records"].append(r.n_records)
            out["attributes"].append(str(r.attributes) if r.attributes else "")
            out["error"].append(r.error or "")
            out["reused"].append(r.reused)
        return out


def run_map_ray(tasks: Sequence[ShardTask], factory: StageFactory, *, run_dir: Path, fingerprint: str,
                batch_size: int, skip_bad_files: bool, previous_runs: Sequence[Path] = (),
                address: str | None = None, num_cpus: int | None = None,
                progress: ProgressFn | None = None) -> list[ShardResult]:
    """Map every task on Ray; results in task order, as ``auditor.engines.local.run_map`` gives them."""
    ray = ensure_ray(address, num_cpus)
    (run_dir / "attributes").mkdir(parents=True, exist_ok=True)
    if not tasks:
        return []
    finished = load_finished([run_dir, *previous_runs], fingerprint)
    tasks = hash_split_files(tasks, finished)
    ds = ray.data.from_items([{"index": t.index} for t in tasks], override_num_blocks=len(tasks))
    workers = max(1, int(ray.available_resources().get("CPU", 1)))
    mapped = ds.map_batches(
        _ShardMapper,
        fn_constructor_args=(list(tasks), factory, str(run_dir), fingerprint, batch_size, skip_bad_files,
                             finished),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=min(workers, len(tasks))),
        num_cpus=1,
    )
    rows = sorted(mapped.take_all(), key=lambda r: r["index"])
    for row in rows:
        if row["fatal"]:
            raise getattr(errors, row["fatal"], AuditorError)(row["error"])
    by_index = {t.index: t for t in tasks}
    results = []
    for row in rows:
        task = by_index[int(row["index"])]
        result = ShardResult(index=task.index, source=task.source.name, shard=task.shard.name,
                             format=task.shard.format, file_sha256=row["file_sha256"],
                             n_bytes=int(row["n_bytes"]), n_records=int(row["n_records"]),
                             attributes=Path(row["attributes"]) if row["attributes"] else None,
                             error=row["error"] or None, reused=bool(row["reused"]),
                             part=task.part.key if task.part else "")
        if progress is not None:
            progress(result.n_records, result.n_bytes)
        results.append(result)
    return results
