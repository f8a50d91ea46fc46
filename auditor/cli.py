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
    policy = summary.get("policy") or {}
    if policy:
        click.echo(f"policy:    {policy['name']} (sha256 {policy['sha256'][:12]}...)")
        outcomes = policy.get("sources", {})
        for source, counts in sorted(policy.get("counts_by_source", {}).items()):
            outcome = outcomes.get(source, {})
            flagged = f"  [{outcome['outcome']}: {', '.join(outcome['rules'])}]" if outcome.get("rules") else ""
            click.echo(f"  {source:<20} " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) + flagged)
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
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes for the map stages (default: every core this process may use).")
@click.option("--on-error", type=click.Choice(["abort", "skip-file"]),
              help="What to do with an unreadable file (default: abort with exit code 3).")
@click.option("--policy", help="Policy name (see `auditor rules list`) or path to a policy TOML file.")
@click.option("--against", multiple=True, type=click.Path(path_type=Path),
              help="An earlier manifest to dedup against without re-reading it. Repeatable.")
@click.option("--pii-findings", is_flag=True,
              help="Also write pii_findings.parquet: detector, category and offsets of each finding, never the value.")
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
         batch_size: int | None, workers: int | None, on_error: str | None, policy: str | None,
         against: tuple[Path, ...], pii_findings: bool, engine: str, ray_address: str | None,
         previous_runs: tuple[Path, ...],
         fail_on: str | None, as_json: bool, quiet: bool) -> None:
    """Scan PATHS (files or folders; or a folder with audit.toml) and write a manifest to --out."""
    from auditor.pipeline import ScanOptions
    from auditor.pipeline import scan as run_scan

    try:
        config = _load(paths, config_path, text_column)
        from auditor.engines.local import default_workers

        options = ScanOptions(out=out, workers=workers or default_workers(), batch_size=batch_size, on_error=on_error,
                              previous_runs=previous_runs, engine=engine, ray_address=ray_address,
                              policy=policy, against=against, pii_findings=pii_findings)
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


def _manifest_policy(manifest: Path, policy: str | None) -> Any:
    """The policy to use on a manifest: the one given, else the one the manifest was decided under."""
    from auditor.manifest.verify import load_summary
    from auditor.reduce import load_audit_policy

    if policy is None:
        recorded = load_summary(manifest).get("policy") or {}
        policy = recorded.get("path") if recorded.get("path") and Path(recorded["path"]).is_file() \
            else recorded.get("name")
        if policy is None:
            raise UsageError(f"{manifest}: summary.json names no policy; give --policy")
    return load_audit_policy(policy)


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--policy", required=True, help="Policy name or path to decide under.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory for the new manifest.")
@click.option("--fail-on", type=click.Choice(["exclude", "review"]), help="Exit 1 on excluded (or reviewed) records.")
@click.option("--json", "as_json", is_flag=True, help="Print the new summary.json.")
def decide(manifest: Path, policy: str, out: Path, fail_on: str | None, as_json: bool) -> None:
    """Re-decide MANIFEST under another policy, without re-scanning; write the result to --out."""
    from auditor.redecide import redecide
    from auditor.reduce import load_audit_policy

    try:
        result = redecide(manifest, load_audit_policy(policy), out)
    except AuditorError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, sort_keys=True))
    else:
        _print_summary(result.summary, out)
    sys.exit(_exit_for(result.summary, fail_on))


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.argument("record_id")
@click.option("--policy", help="Explain under this policy (default: the manifest's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def explain(manifest: Path, record_id: str, policy: str | None, as_json: bool) -> None:
    """Every attribute and evidence item of RECORD_ID, and which rule decided and why."""
    from auditor.explain import explain_in_manifest, render_explanation

    try:
        explanation = explain_in_manifest(manifest, record_id, _manifest_policy(manifest, policy))
    except AuditorError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(explanation, indent=2, sort_keys=True, default=str, ensure_ascii=False))
    else:
        click.echo(render_explanation(explanation))


@main.command("filter")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory for the filtered corpus.")
@click.option("--keep", default="include", show_default=True,
              help="Comma-separated decisions to keep (include, review, exclude).")
@click.option("--redact-pii", is_flag=True, help="Replace personal values with typed placeholders (<EMAIL>, ...).")
def filter_command(manifest: Path, out: Path, keep: str, redact_pii: bool) -> None:
    """Write the records MANIFEST keeps (default: included ones) as Parquet, optionally PII-redacted."""
    from auditor.filtering import filter_corpus

    try:
        result = filter_corpus(manifest, out, keep=[k.strip() for k in keep.split(",") if k.strip()],
                               redact_pii=redact_pii)
    except AuditorError as exc:
        _fail(exc)
        return
    click.echo(f"kept {result.kept:,} records, dropped {result.dropped:,}"
               + (f", redacted PII in {result.redacted_records:,}" if redact_pii else "") + f" -> {out}")


@main.group()
def rules() -> None:
    """Policies: list the shipped ones, validate a policy file."""


@rules.command("list")
def rules_list() -> None:
    """List the shipped policies."""
    from auditor.policy import DEFAULT_POLICY, list_policies

    for name in list_policies():
        click.echo(name + ("  (default)" if name == DEFAULT_POLICY else ""))


@rules.command("check")
@click.argument("policy")
def rules_check(policy: str) -> None:
    """Validate POLICY (a name or a TOML file): exit 0 if valid, 2 with the problem if not."""
    from auditor.reduce import load_audit_policy

    try:
        loaded = load_audit_policy(policy)
    except AuditorError as exc:
        _fail(exc)
        return
    click.echo(f"ok: policy {loaded.name!r}: {len(loaded.rules)} record rules, "
               f"{len(loaded.source_rules)} source rules (sha256 {loaded.sha256[:16]}...)")


@main.group()
def licences() -> None:
    """Licence knowledge: traits and obligations of SPDX expressions."""


@licences.command("explain")
@click.argument("expression")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def licences_explain(expression: str, as_json: bool) -> None:
    """Traits and obligations of EXPRESSION (an SPDX expression or a licence name as found in the wild)."""
    from auditor.licences import explain as explain_licence
    from auditor.licences import render_explanation

    try:
        result = explain_licence(expression)
    except AuditorError as exc:
        _fail(exc)
        return
    click.echo(json.dumps(result, indent=2, sort_keys=True, default=str) if as_json else render_explanation(result))


@main.group()
def registry() -> None:
    """Rights registries: validate them, fingerprint works."""


@registry.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def registry_check(paths: tuple[Path, ...]) -> None:
    """Validate registry folders or files: exit 0 if valid, 2 listing every problem if not."""
    from auditor.registry import check_registry

    problems = [p for path in paths for p in check_registry(path)]
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(2)
    click.echo(f"ok: {', '.join(map(str, paths))}")


@registry.command("build")
@click.argument("works_csv", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Fingerprint file to write (default: beside the CSV).")
def registry_build(works_csv: Path, out: Path | None) -> None:
    """Fingerprint the works listed in WORKS_CSV, so matching does not need the texts."""
    from auditor.registry import build_fingerprints

    try:
        written = build_fingerprints(works_csv, out)
    except AuditorError as exc:
        _fail(exc)
        return
    click.echo(f"wrote {written}")


if __name__ == "__main__":  # pragma: no cover
    main()
