"""``auditor explain MANIFEST RECORD_ID``: every attribute, every evidence item, and the rules.

The explanation is built from the manifest alone (records.parquet and sources.parquet): it shows what
the stages measured and how the policy turned that into a decision. It never holds text or PII values,
because the manifest holds none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.errors import UsageError
from auditor.manifest.verify import load_summary
from auditor.manifest.writer import RECORDS, SOURCES, STATIC_SOURCE_COLUMNS
from auditor.policy import Policy, explain_record
from auditor.reduce import policy_sources

_EVIDENCE_COLUMNS = ("licence_evidence", "rights", "opt_out")
_HIDDEN = {"decision", "reasons"}


def explain_in_manifest(manifest: Path, record_id: str, policy: Policy) -> dict[str, Any]:
    """What the manifest says of one record, and how ``policy`` decides it (a JSON-ready dict)."""
    manifest = Path(manifest)
    summary = load_summary(manifest)
    records = pq.read_table(manifest / RECORDS)
    if not pc.any(pc.equal(records.column("record_id"), record_id)).as_py():
        ids = records.column("record_id").slice(0, 3).to_pylist()
        raise UsageError(f"{manifest}: no record {record_id!r} ({records.num_rows} records; ids look like {ids})")
    facts = pq.read_table(manifest / SOURCES).select(list(STATIC_SOURCE_COLUMNS))
    explanation = explain_record(records, policy, record_id, sources=policy_sources(facts))
    recorded = records.filter(pc.equal(records.column("record_id"), record_id)).to_pylist()[0]
    attributes = {k: v for k, v in explanation.attributes.items() if k not in _EVIDENCE_COLUMNS and k not in _HIDDEN}
    return {
        "record_id": record_id,
        "manifest": str(manifest),
        "manifest_policy": (summary.get("policy") or {}).get("name"),
        "policy": policy.name,
        "decision": explanation.decision,
        "reasons": list(explanation.reasons),
        "decision_in_manifest": {"decision": recorded["decision"], "reasons": recorded["reasons"]},
        "attributes": attributes,
        "evidence": {k: explanation.attributes.get(k) or [] for k in _EVIDENCE_COLUMNS},
        "rules": [
            {"id": t.rule_id, "scope": t.scope, "outcome": t.outcome, "matched": t.matched, "decided": t.decided,
             "reason": t.reason, "basis": t.basis, "condition": t.condition,
             "tests": [{"test": leaf.test, "held": leaf.held} for leaf in t.leaves]}
            for t in explanation.rules
        ],
        "source": {"name": explanation.source.source, "outcome": explanation.source.outcome,
                   "rules": list(explanation.source.rule_ids), "aggregates": dict(explanation.source.aggregates)},
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "[]"
    return str(value)


def render_explanation(e: dict[str, Any]) -> str:
    """Plain text for a terminal."""
    lines = [f"record   {e['record_id']}",
             f"decision {e['decision'].upper()} under policy {e['policy']}  (reasons: {_fmt(e['reasons'])})"]
    if e["policy"] != e["manifest_policy"]:
        saved = e["decision_in_manifest"]
        lines.append(f"         the manifest says {saved['decision']} under {e['manifest_policy']} "
                     f"(reasons: {_fmt(saved['reasons'])})")
    lines += ["", "attributes"]
    width = max((len(k) for k in e["attributes"]), default=10)
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in e["attributes"].items()]
    lines += ["", "evidence"]
    for kind, items in e["evidence"].items():
        if not items:
            lines.append(f"  {kind}: none")
            continue
        lines.append(f"  {kind}:")
        lines += ["    - " + ", ".join(f"{k}={_fmt(v)}" for k, v in item.items()) for item in items]
    lines += ["", "rules (in order; * decided, + matched, . did not match)"]
    for rule in e["rules"]:
        mark = "*" if rule["decided"] else "+" if rule["matched"] else "."
        lines.append(f"  {mark} {rule['id']} [{rule['scope']} -> {rule['outcome']}]")
        if rule["matched"] or rule["decided"]:
            lines.append(f"      why:   {rule['reason']}")
            if rule["basis"]:
                lines.append(f"      basis: {rule['basis']}")
            lines += [f"      {'yes' if t['held'] else 'no '}   {t['test']}" for t in rule["tests"]]
    source = e["source"]
    lines += ["", f"source {source['name']}: {source['outcome']}"
              + (f" by {_fmt(source['rules'])}" if source["rules"] else "")]
    lines += [f"  {k} = {v}" for k, v in source["aggregates"].items()]
    return "\n".join(lines)
