"""Each shipped policy on sample_corpora decides the planted cases as sample_corpora/README.md and
docs/policies.md document: the deciding rule (first reason) per planted case and policy.

Cases are chosen from what the generator planted (expected.json), not from the scan's output, and
only records with no second property that could decide first (a duplicate, PII, a licence conflict).
The scan runs once; the other three policies re-decide its manifest (`auditor decide`), which also
exercises re-deciding without a re-scan.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "sample_corpora"
PLANTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))["records"]
POLICIES = ("commercial-pretraining", "research-only", "cn-genai", "eu-gpai")

# case -> policy -> (decision, deciding rule); decision None: anything but exclude, with the rule
# present among the reasons as a flag.
MATRIX: dict[str, dict[str, tuple[str | None, str]]] = {
    "robots": {"commercial-pretraining": ("exclude", "optout.robots"), "research-only": (None, "optout.noted"),
               "cn-genai": ("exclude", "cn.tc260.trace.selfcollect.robots"),
               "eu-gpai": ("exclude", "eu.dsm.art4.optout")},
    "tdmrep": {"commercial-pretraining": ("exclude", "optout.tdmrep"), "research-only": (None, "optout.noted"),
               "cn-genai": ("exclude", "cn.tc260.trace.selfcollect.robots"),
               "eu-gpai": ("exclude", "eu.dsm.art4.optout")},
    "ai.txt": {"commercial-pretraining": ("exclude", "optout.reservation"),
               "research-only": (None, "optout.noted"),
               "cn-genai": ("exclude", "cn.tc260.trace.selfcollect.robots"),  # a crawl-time signal
               "eu-gpai": ("exclude", "eu.dsm.art4.optout")},
    "optout_list": {"commercial-pretraining": ("exclude", "optout.reservation"),
                    "research-only": (None, "optout.noted"),
                    "cn-genai": ("review", "cn.tc260.ip.controls"),
                    "eu-gpai": ("exclude", "eu.dsm.art4.optout")},
    "protected_work": {"commercial-pretraining": ("exclude", "rights.work_match"),
                       "research-only": ("review", "rights.work_match"),
                       "cn-genai": ("exclude", "cn.im.art7.ip"),
                       "eu-gpai": ("exclude", "eu.aiact.53c.policy")},
    "duplicate": dict.fromkeys(POLICIES, ("exclude", "dedup.drop")),
    "licence_conflict": dict.fromkeys(POLICIES, ("review", "licence.conflict")),
}


@pytest.fixture(scope="module")
def decided(tmp_path_factory) -> dict[str, dict[str, dict]]:
    root = tmp_path_factory.mktemp("decisions")
    runner = CliRunner()
    first = root / POLICIES[0]
    result = runner.invoke(main, ["scan", str(SAMPLES), "--out", str(first), "--policy", POLICIES[0], "-q"])
    assert result.exit_code == 0, result.output
    for policy in POLICIES[1:]:
        result = runner.invoke(main, ["decide", str(first), "--policy", policy, "--out", str(root / policy)])
        assert result.exit_code == 0, result.output
    return {p: {r["record_id"]: r for r in pq.read_table(root / p / "records.parquet").to_pylist()}
            for p in POLICIES}


def _signals(planted: dict) -> set[str]:
    return {s["signal"] for s in planted.get("opt_out", [])}


def cases(records: dict[str, dict]) -> dict[str, list[str]]:
    """Record ids of each planted case, from the planted properties (records only for the structural
    facts the generator cannot know: which copy of a cluster survives)."""
    out: dict[str, list[str]] = {name: [] for name in MATRIX}
    for record_id, planted in PLANTED.items():
        r = records[record_id]
        if planted.get("pii") or r["pii_count"]:
            continue
        signals = _signals(planted)
        protected = [w for w in planted.get("works", []) if w["work"] != "W004"]  # W004: public domain
        if r["dup_of"] is not None:
            # a copy inherits its cluster's opt-outs and matches, which then decide first
            if not any(s["effective"] for s in r["opt_out"]) and not r["rights"]:
                out["duplicate"].append(record_id)
            continue
        if protected and not signals:
            out["protected_work"].append(record_id)
        elif not protected and signals == {"robots"}:
            out["robots"].append(record_id)
        elif not protected and signals == {"tdmrep"}:
            out["tdmrep"].append(record_id)
        elif not protected and signals == {"ai.txt"}:
            out["ai.txt"].append(record_id)
        elif not protected and signals == {"registry"}:
            out["optout_list"].append(record_id)
        elif (not signals and not protected and r["licence_conflict"] and "licence_expected" in planted
              and "non-commercial" not in r["licence_traits"]):  # the NC rule would decide first
            out["licence_conflict"].append(record_id)
    return out


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", list(MATRIX))
def test_planted_case_decisions(decided, policy, case):
    records = decided[policy]
    chosen = cases(decided[POLICIES[0]])[case]
    assert chosen, f"no planted record for case {case!r}"
    decision, rule = MATRIX[case][policy]
    for record_id in chosen:
        r = records[record_id]
        if decision is None:
            assert r["decision"] != "exclude" and rule in r["reasons"], (record_id, r["decision"], r["reasons"])
        else:
            assert (r["decision"], r["reasons"][0]) == (decision, rule), (record_id, r["decision"], r["reasons"])


def test_public_domain_work_is_not_a_rights_exclusion(decided):
    ids = [k for k, v in PLANTED.items() if any(w["work"] == "W004" for w in v.get("works", []))]
    assert ids
    for policy in POLICIES:
        for record_id in ids:
            r = decided[policy][record_id]
            assert any(m["kind"] == "public-domain" for m in r["rights"])
            assert not {"rights.work_match", "cn.im.art7.ip", "eu.aiact.53c.policy"} & set(r["reasons"])


def test_source_without_licence_evidence_goes_to_review_under_cn(decided):
    # `code` is an open-dataset source with no declared licence and no licence file (audit.toml)
    code = [r for r in decided["cn-genai"].values() if r["source"] == "code"]
    assert code and all("cn.tc260.trace.oss_license" in r["reasons"] for r in code)
    assert not any(r["decision"] == "include" for r in code)
    assert not any("cn.tc260.trace.oss_license" in r["reasons"] for r in decided["commercial-pretraining"].values())
