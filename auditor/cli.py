"""The command line: click and rich only here. Parses options, calls the core, prints, maps errors.

Exit codes: 0 ok; 1 findings (only with ``--fail-on``); 2 usage or configuration error; 3 input error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from auditor import __version__
from auditor.config import AuditConfig, config_from_paths, load_config
from auditor.errors import EXIT_FINDINGS, EXIT_OK, AuditorError, UsageError


def _fail(exc: AuditorError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


class _Progress:
    """A progress line on stderr (records/s and MB/s), only when stderr is a terminal."""

    def __init__(self, enabled: bool, total_bytes: int) -> None:
        self.enabled = enabled
        self.total = total_bytes
        self.records = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("scanning"), BarColumn(), TextColumn("{task.description}"),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=max(self.total, 1))
        return self

    def __call__(self, records: int, n_bytes: int) -> None:
        self.records += records
        self.bytes += n_bytes
        if self._progress is not None:
            elapsed = max(time.monotonic() - self.start, 1e-9)
            desc = f"{self.records:,} records  {self.records / elapsed:,.0f} rec/s  {self.bytes / elapsed / 1e6:,.1f} MB/s"
            self._progress.update(self._task, completed=self.bytes, description=desc)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


def _load(paths: tuple[Path, ...], config_path: Path | None, text_column: str | None) -> AuditConfig:
    if config_path is not None:
        if paths:
            raise UsageError("give either --config or PATHs, not both")
        return load_config(config_path)
    if not paths:
        raise UsageError("nothing to scan: give PATH... or --config audit.toml")
    if len(paths) == 1 and paths[0].is_dir() and (paths[0] / "audit.toml").is_file():
        return load_config(paths[0] / "audit.toml")
    return config_from_paths(list(paths), text_column=text_column)


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    totals = summary["totals"]
    click.echo(f"audited {totals['records']:,} records from {totals['sources']} sources "
               f"({totals['shards']} shards, {totals['bytes'] / 1e6:,.1f} MB) -> {out}")
    by_decision = totals["by_decision"]
    click.echo("decisions: " + ", ".join(f"{k} {v:,}" for k, v in by_decision.items()))
    if totals["by_reason"]:
        top = sorted(totals["by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        click.echo("reasons:   " + ", ".join(f"{k} {v:,}" for k, v in top))
    if totals["text_null"]:
        click.echo(f"null text: {totals['text_null']:,} records (kept and flagged)")
    if totals["shards_unreadable"]:
        click.echo(f"unreadable shards: {totals['shards_unreadable']} (see sources.parquet)")
    click.echo(f"merkle root: {summary['merkle']['root']}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def main() -> None:
    """Audit training corpora: may we lawfully train on this, record by record and source by source?"""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="audit.toml describing the sources.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("audit-out"), show_default=True,
              help="Manifest directory to write.")
@click.option("--text-column", help="Text column (default: first of text, content). Paths mode only.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Records per Arrow batch (default 2048).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for the map stages.")
@click.option("--on-error", type=click.Choice(["abort", "skip-file"]),
              help="What to do with an unreadable file (default: abort with exit code 3).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: Ray Data (pip install 'auditor[ray]').")
@click.option("--ray-address", help="Address of an existing Ray cluster (default: start a local instance).")
@click.option("--incremental", "previous_runs", multiple=True, type=click.Path(path_type=Path),
              help="A previous manifest (or run directory): unchanged shards are not read again. Repeatable.")
@click.option("--fail-on", type=click.Choice(["exclude", "review"]),
              help="Exit 1 if any record is excluded (or excluded or sent to review).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the human summary.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def scan(paths: tuple[Path, ...], config_path: Path | None, out: Path, text_column: str | None,
         batch_size: int | None, workers: int, on_error: str | None, engine: str, ray_address: str | None,
         previous_runs: tuple[Path, ...],
         fail_on: str | None, as_json: bool, quiet: bool) -> None:
    """Scan PATHS (files or folders; or a folder with audit.toml) and write a manifest to --out."""
    from auditor.pipeline import ScanOptions
    from auditor.pipeline import scan as run_scan

    try:
        config = _load(paths, config_path, text_column)
        options = ScanOptions(out=out, workers=workers, batch_size=batch_size, on_error=on_error,
                              previous_runs=previous_runs, engine=engine, ray_address=ray_address)
        total = sum(p.stat().st_size for s in config.sources for p in s.paths if p.is_file())
        show = not quiet and sys.stderr.isatty()
        with _Progress(show, total) as progress:
            result = run_scan(config, options, progress=progress)
    except AuditorError as exc:
        _fail(exc)
        return
    summary = result.manifest.summary
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    elif not quiet:
        _print_summary(summary, out)
    sys.exit(_exit_for(summary, fail_on))


def _exit_for(summary: dict[str, Any], fail_on: str | None) -> int:
    by_decision = summary["totals"]["by_decision"]
    if fail_on == "exclude" and by_decision.get("exclude", 0):
        return EXIT_FINDINGS
    if fail_on == "review" and (by_decision.get("exclude", 0) or by_decision.get("review", 0)):
        return EXIT_FINDINGS
    return EXIT_OK


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
def verify(manifest: Path) -> None:
    """Check a manifest: every file's hash and the Merkle root. Exit 0 if intact, 3 if not."""
    from auditor.manifest.verify import verify_manifest

    try:
        problems = verify_manifest(manifest)
    except AuditorError as exc:
        _fail(exc)
        return
    if problems:
        for p in problems:
            click.echo(f"FAIL {p}", err=True)
        sys.exit(3)
    click.echo(f"ok: {manifest} is intact")


if __name__ == "__main__":  # pragma: no cover
    main()
