"""`auditor decide`, `explain`, `rules`, `licences explain` and `--fail-on` through the CLI."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def corpus(tmp_path):
    texts = [
        "An original essay about rivers, licensed for reuse. " * 20,
        "An original essay about rivers, licensed for reuse. " * 20,  # exact duplicate
        "A note on research methods that carries a non-commercial licence. " * 15,
        None,
    ]
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": texts, "license": ["CC-BY-4.0", "CC-BY-4.0", "CC-BY-NC-4.0", None]}), path)
    return path


def test_policies_decide_differently_and_redecide_equals_fresh_scan(corpus, tmp_path):
    for policy in ("commercial-pretraining", "research-only"):
        assert run("scan", str(corpus), "--out", str(tmp_path / policy), "--policy", policy)[0] == 0
    commercial = pq.read_table(tmp_path / "commercial-pretraining" / "records.parquet").to_pylist()
    research = pq.read_table(tmp_path / "research-only" / "records.parquet").to_pylist()
    assert [r["decision"] for r in commercial] == ["include", "exclude", "exclude", "exclude"]
    assert "licence.non_commercial" in commercial[2]["reasons"]
    assert research[2]["decision"] == "include"  # research use may train on CC-BY-NC

    code, _, _ = run("decide", str(tmp_path / "commercial-pretraining"), "--policy", "research-only",
                     "--out", str(tmp_path / "redecided"))
    assert code == 0
    assert (tmp_path / "redecided" / "records.parquet").read_bytes() == \
        (tmp_path / "research-only" / "records.parquet").read_bytes()
    assert run("verify", str(tmp_path / "redecided"))[0] == 0
    summary = json.loads((tmp_path / "redecided" / "summary.json").read_text())
    assert summary["policy"]["name"] == "research-only"
    assert summary["redecided_from"]["policy"] == "commercial-pretraining"


def test_fail_on_exit_codes(corpus, tmp_path):
    assert run("scan", str(corpus), "--out", str(tmp_path / "a"), "--fail-on", "exclude")[0] == 1
    clean = tmp_path / "clean.parquet"
    pq.write_table(pa.table({"text": ["A plain public-domain sentence, nothing more."], "license": ["CC0-1.0"]}), clean)
    assert run("scan", str(clean), "--out", str(tmp_path / "b"), "--fail-on", "review")[0] == 0


def test_explain_names_the_deciding_rule_and_evidence(corpus, tmp_path):
    out = tmp_path / "m"
    run("scan", str(corpus), "--out", str(out))
    code, stdout, _ = run("explain", str(out), "c/c.parquet#1")
    assert code == 0
    assert "decision EXCLUDE under policy commercial-pretraining" in stdout
    assert "* dedup.drop" in stdout
    assert "dup_of                          c/c.parquet#0" in stdout or "c/c.parquet#0" in stdout
    code, stdout, _ = run("explain", str(out), "c/c.parquet#2", "--json")
    data = json.loads(stdout)
    decided = [r for r in data["rules"] if r["decided"]]
    assert [r["id"] for r in decided] == ["licence.non_commercial"]
    assert data["attributes"]["licence"] == "CC-BY-NC-4.0"
    assert any(e["kind"] == "metadata" for e in data["evidence"]["licence_evidence"])
    code, _, stderr = run("explain", str(out), "nope#0")
    assert code == 2 and "no record 'nope#0'" in stderr


def test_rules_check_and_list(tmp_path):
    code, stdout, _ = run("rules", "list")
    assert code == 0 and "commercial-pretraining  (default)" in stdout
    for name in ("commercial-pretraining", "research-only", "cn-genai", "eu-gpai"):
        assert run("rules", "check", name)[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\nname = "bad"\n[default]\noutcome = "include"\nreason = "x"\n'
                   '[[rule]]\nid = "r"\noutcome = "exclude"\nreason = "x"\nwhen = { attr = "pii_types", has = "emial" }\n')
    code, _, stderr = run("rules", "check", str(bad))
    assert code == 2 and "emial" in stderr and "email" in stderr
    code, _, stderr = run("rules", "check", "no-such-policy")
    assert code == 2 and "commercial-pretraining" in stderr


def test_licences_explain():
    code, stdout, _ = run("licences", "explain", "CC BY-NC-SA 4.0")
    assert code == 0
    assert "CC-BY-NC-SA-4.0" in stdout and "non-commercial" in stdout


def test_filter_writes_kept_records_redacted(tmp_path):
    texts = ["Write to jane.doe@example.org about the river survey results. " * 5,
             "A note on research methods that carries a non-commercial licence. " * 15]
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"text": texts, "license": ["CC-BY-4.0", "CC-BY-NC-4.0"]}), path)
    run("scan", str(path), "--out", str(tmp_path / "m"))
    code, stdout, _ = run("filter", str(tmp_path / "m"), "--out", str(tmp_path / "corpus"), "--redact-pii")
    assert code == 0 and "kept 1 records, dropped 1" in stdout
    (written,) = (tmp_path / "corpus" / "f").glob("*.parquet")
    rows = pq.read_table(written).to_pylist()
    assert [r["record_id"] for r in rows] == ["f/f.parquet#0"]
    assert "jane.doe@example.org" not in rows[0]["text"] and "<EMAIL>" in rows[0]["text"]
    assert rows[0]["licence"] == "CC-BY-4.0"
    # the corpus changed after the audit: filtering refuses
    pq.write_table(pa.table({"text": ["something else"]}), path)
    code, _, stderr = run("filter", str(tmp_path / "m"), "--out", str(tmp_path / "again"))
    assert code == 3 and "file changed since the audit" in stderr


def test_pii_salt_links_findings_without_writing_salt_or_values(tmp_path, monkeypatch):
    secret = "s3cret-salt-value-0042"
    monkeypatch.setenv("AUDIT_TEST_SALT", secret)
    texts = ["Mail jane.doe@example.org today.", "Again: jane.doe@example.org, or bob@example.net."]
    pq.write_table(pa.table({"text": texts}), tmp_path / "p.parquet")
    (tmp_path / "audit.toml").write_text(
        '[audit]\npii_salt_env = "AUDIT_TEST_SALT"\n[[source]]\nname = "p"\npaths = ["p.parquet"]\n')
    out = tmp_path / "m"
    assert run("scan", "--config", str(tmp_path / "audit.toml"), "--out", str(out), "--pii-findings")[0] == 0
    findings = pq.read_table(out / "pii_findings.parquet").to_pylist()
    hashes = [f["value_hash"] for f in findings if f["detector"] == "email"]
    assert len(hashes) == 3 and all(hashes) and hashes[0] == hashes[1] != hashes[2]  # same value, same hash
    from test_scan_cli import manifest_strings

    everything = manifest_strings(out)
    for value in (secret, "jane.doe@example.org", "bob@example.net"):
        assert value not in everything
    monkeypatch.delenv("AUDIT_TEST_SALT")
    code, _, stderr = run("scan", "--config", str(tmp_path / "audit.toml"), "--out", str(tmp_path / "n"))
    assert code == 2 and "AUDIT_TEST_SALT" in stderr
