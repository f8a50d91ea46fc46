"""Loading and validating policy files: shipped policies, name resolution, hashing, broken policies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.errors import ConfigError
from auditor.policy import (
    DEFAULT_POLICY,
    list_policies,
    load_policy,
    parse_policy,
    policy_hash,
    resolve_policy_path,
)
from auditor.policy.model import Rule

SHIPPED = ["cn-genai", "commercial-pretraining", "eu-gpai", "research-only"]
VOCAB = {
    "detectors": ["email", "phone", "cn_resident_id", "iban"],
    "licence_ids": ["MIT", "Apache-2.0", "CC-BY-4.0", "CC-BY-NC-4.0", "GPL-2.0-only"],
    "pii_categories": ["pipl28.identity_number", "pipl28.financial_account", "gdpr9.health"],
    "opt_out_signals": ["robots", "ai.txt", "tdmrep", "optout-list", "holder-terms"],
    "rights_kinds": ["work-excerpt", "work-near-duplicate", "holder-domain", "public-domain", "licensed"],
}

GOOD_HEAD = """schema_version = 1
name = "broken"

[default]
outcome = "include"
reason = "nothing matched"
"""


def rule(when: str, rule_id: str = "r.one", outcome: str = "exclude") -> str:
    return f'\n[[rule]]\nid = "{rule_id}"\noutcome = "{outcome}"\nreason = "because"\nwhen = {when}\n'


def source_rule(when: str, rule_id: str = "s.one", outcome: str = "block") -> str:
    return f'\n[[source_rule]]\nid = "{rule_id}"\noutcome = "{outcome}"\nreason = "because"\nwhen = {when}\n'


OK_RULE = rule('{ attr = "dup_of", is_null = false }')

# (policy text, fragments the error message must contain)
BROKEN = [
    ("schema_version = 1\nname = [", ["not valid TOML"]),
    (GOOD_HEAD.replace("schema_version = 1\n", "") + OK_RULE, ["schema_version must be 1, got None"]),
    (
        GOOD_HEAD.replace("schema_version = 1", "schema_version = 2") + OK_RULE,
        ["schema_version must be 1, got 2"],
    ),
    (GOOD_HEAD + OK_RULE + "\n[[rules]]\nid = 'x'\n", ["unknown key(s) ['rules']", "allowed:"]),
    (GOOD_HEAD.replace('name = "broken"\n', "") + OK_RULE, ["name: must be a non-empty string"]),
    (GOOD_HEAD.replace('name = "broken"', 'name = "Broken Policy"') + OK_RULE, ["name 'Broken Policy'"]),
    (GOOD_HEAD.split("[default]")[0] + OK_RULE, ["[default] table with outcome and reason is required"]),
    (
        GOOD_HEAD.replace('outcome = "include"', 'outcome = "block"') + OK_RULE,
        ["[default]", "outcome must be one of ['include', 'exclude', 'review'], got 'block'"],
    ),
    (GOOD_HEAD, ["at least one [[rule]] is required"]),
    (
        GOOD_HEAD + OK_RULE.replace("reason =", "reson ="),
        ["rule 'r.one' (line 9)", "unknown key(s) ['reson']"],
    ),
    (GOOD_HEAD + OK_RULE.replace('id = "r.one"\n', ""), ["rule[0]", "id: must be a non-empty string"]),
    (
        GOOD_HEAD + rule("{ attr = 'lang', eq = 'zh' }", rule_id="Bad Id"),
        ["id 'Bad Id' must be dot-separated"],
    ),
    (GOOD_HEAD + OK_RULE + OK_RULE, ["rule id 'r.one' is used more than once (lines 9, 15)"]),
    (
        GOOD_HEAD + rule("{ attr = 'lang', eq = 'zh' }", rule_id="default"),
        ["reserved for the policy default"],
    ),
    (
        GOOD_HEAD + rule("{ attr = 'lang', eq = 'zh' }", outcome="drop"),
        ["outcome must be one of ['include', 'exclude', 'review', 'flag'], got 'drop'"],
    ),
    (GOOD_HEAD + OK_RULE.replace("when = ", "#"), ["a condition 'when' is required"]),
    (GOOD_HEAD + rule('"lang == zh"'), ["a condition must be a table, got 'lang == zh'"]),
    (
        GOOD_HEAD + rule('{ attr = "dup_off", is_null = false }'),
        ["unknown attribute 'dup_off' (did you mean dup_of", "available:", "licence_traits"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "licence_traits", hass = "non-commercial" }'),
        [
            "unknown operator 'hass' for string_list attribute 'licence_traits'",
            "allowed: has, has_any, has_all, has_glob, is_empty",
        ],
    ),
    (GOOD_HEAD + rule('{ attr = "lang" }'), ["no operator given", "allowed for string 'lang'"]),
    (GOOD_HEAD + rule('{ attr = "n_chars", gt = "5" }'), ["gt takes a number, got '5'"]),
    (GOOD_HEAD + rule('{ attr = "lang", eq = 5 }'), ["'lang' holds string values, got 5"]),
    (
        GOOD_HEAD + rule('{ attr = "pii_sensitive", eq = "yes" }'),
        ["'pii_sensitive' holds bool values, got 'yes'"],
    ),
    (GOOD_HEAD + rule('{ attr = "lang", in = [] }'), ["in takes a non-empty list of string values"]),
    (GOOD_HEAD + rule('{ attr = "lang", is_null = "yes" }'), ["is_null takes true or false"]),
    (GOOD_HEAD + rule('{ attr = "lang", eq = "chi" }'), ["ISO 639-1", "got 'chi'"]),
    (
        GOOD_HEAD + rule('{ attr = "licence_traits", has = "noncommercial" }'),
        [
            "unknown licence trait 'noncommercial' (did you mean non-commercial",
            "available: all-rights-reserved",
        ],
    ),
    (
        GOOD_HEAD + rule('{ attr = "pii_types", has_any = ["email", "emial"] }'),
        ["unknown detector 'emial' (did you mean email?); available: cn_resident_id, email, iban, phone"],
    ),
    (GOOD_HEAD + rule('{ attr = "pii_types", has_glob = "ssn*" }'), ["pattern 'ssn*' matches no detector"]),
    (
        GOOD_HEAD + rule('{ attr = "pii_categories", has = "pipl28.health" }'),
        ["unknown PII category 'pipl28.health'"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "licence", eq = "MIT2" }'),
        ["unknown licence id 'MIT2' (did you mean MIT?)"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "licence", in = ["MIT OR Apache-2.0", "MIT AND BSD-3-Clause"] }'),
        ["unknown licence id 'BSD-3-Clause'"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "licence", eq = "MIT AND" }'),
        ["licence expression 'MIT AND' is not valid SPDX syntax"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "dup_kind", eq = "fuzzy" }'),
        ["unknown duplicate kind 'fuzzy'; available: exact, near"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "source.acquisition", eq = "scraped" }'),
        ["unknown acquisition type 'scraped'"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "opt_out", any = { signl = "robots" } }'),
        ["unknown field of 'opt_out' 'signl' (did you mean signal?); available: detail, effective, signal"],
    ),
    (
        GOOD_HEAD + rule('{ attr = "opt_out", any = { signal = "robot" } }'),
        ["unknown opt-out signal 'robot'"],
    ),
    (GOOD_HEAD + rule('{ attr = "rights", any = { kind = "excerpt" } }'), ["unknown rights kind 'excerpt'"]),
    (
        GOOD_HEAD + rule('{ attr = "rights", any = { score = { ge = "high" } } }'),
        ["ge takes a number, got 'high'"],
    ),
    (GOOD_HEAD + rule('{ attr = "opt_out", any = "robots" }'), ["takes a table of field tests"]),
    (GOOD_HEAD + rule("{ all = [] }"), ["'all' takes a non-empty list of conditions"]),
    (
        GOOD_HEAD
        + rule('{ all = [ { attr = "lang", eq = "zh" } ], any = [ { attr = "lang", eq = "en" } ] }'),
        ["'all' must stand alone in its table"],
    ),
    (
        GOOD_HEAD + rule('{ lang = "zh" }'),
        ["a condition needs one of: attr, all, any, not; found keys ['lang']"],
    ),
    (GOOD_HEAD + rule('{ all = [ { attr = "lang", eq = "zh" }, { atr = "lang" } ] }'), ["when.all[1]"]),
    (
        GOOD_HEAD + rule('{ metric = "n_records", gt = 5 }'),
        ["'metric' conditions are allowed only in [[source_rule]]"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ attr = "lang", eq = "zh" }'),
        ["source_rule 's.one'", "unknown source-rule attribute 'lang'", "source.acquisition"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "share_excluded", rules = ["r.one"], gt = 0.05 }'),
        ["unknown metric 'share_excluded' (did you mean share_excluded_by"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "share_excluded_by", gt = 0.05 }'),
        ["metric 'share_excluded_by' needs rules"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "n_records", rules = ["r.one"], gt = 5 }'),
        ["takes no rules"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "share_excluded_by", rules = ["r.two"], gt = 0.05 }'),
        ["unknown record rule 'r.two'", "available: r.one"],
    ),
    (
        GOOD_HEAD
        + rule('{ attr = "lang", eq = "zh" }', outcome="review")
        + source_rule('{ metric = "share_excluded_by", rules = ["r.one"], gt = 0.05 }'),
        ["rule 'r.one' has outcome 'review'", "share_matched"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "share_excluded_by", rules = ["r.one"], gt = 5 }'),
        ["share_excluded_by is a share between 0 and 1, got 5"],
    ),
    (
        GOOD_HEAD + OK_RULE + source_rule('{ metric = "share_matched", rules = ["r.one"], in = [0.1] }'),
        ["unknown operator(s) ['in'] for metric 'share_matched'"],
    ),
    (
        GOOD_HEAD
        + OK_RULE
        + source_rule('{ attr = "source.acquisition", is_null = true }', outcome="exclude"),
        ["outcome must be one of ['block', 'review'], got 'exclude'"],
    ),
    ("source_rule = 5\n" + GOOD_HEAD + OK_RULE, ["source_rule: must be an array of tables"]),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN, ids=[f"broken-{i}" for i in range(len(BROKEN))])
def test_broken_policies(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_policy(path, **VOCAB)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD_HEAD.encode() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="must be UTF-8"):
        load_policy(path)


def test_vocabularies_are_skipped_when_not_given() -> None:
    text = (
        GOOD_HEAD
        + rule('{ attr = "pii_types", has = "anything_goes" }')
        + rule('{ attr = "licence", eq = "LicenseRef-Custom" }', rule_id="r.two")
    )
    policy = parse_policy(text)
    assert [r.id for r in policy.rules] == ["r.one", "r.two"]
    with pytest.raises(ConfigError, match="unknown detector 'anything_goes'"):
        parse_policy(text, detectors=VOCAB["detectors"])


def test_licence_operands_are_canonicalised() -> None:
    policy = parse_policy(GOOD_HEAD + rule('{ attr = "licence", eq = "MIT   OR  Apache-2.0" }'), **VOCAB)
    assert policy.rules[0].when.ops[0].value == "MIT OR Apache-2.0"


# ---- shipped policies ----------------------------------------------------------------------------


def test_shipped_policies_are_listed() -> None:
    assert list_policies() == SHIPPED
    assert DEFAULT_POLICY in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_loads_with_full_vocabularies(name: str) -> None:
    policy = load_policy(name, **VOCAB)
    assert policy.name == name == resolve_policy_path(name).stem
    assert policy.description
    every_rule: list[Rule] = [*policy.rules, *policy.source_rules]  # type: ignore[list-item]
    # Each rule documents its legal (or quality) basis and reason in the file itself.
    assert all(r.basis and r.reason and r.line for r in every_rule)
    assert len({r.id for r in every_rule}) == len(every_rule)
    # Excludes come before reviews: an exclude never hides behind a review.
    deciding = [r.outcome for r in policy.rules if not r.is_flag]
    assert deciding == sorted(deciding, key=["include", "exclude", "review"].index)


@pytest.mark.parametrize(
    ("name", "rule_ids"),
    [
        (
            "cn-genai",
            {
                "cn.tc260.source.5pct",
                "cn.pipl.art29.consent",
                "cn.im.art7.ip",
                "cn.im.art7.lawful_source",
                "cn.tc260.trace.oss_license",
                "cn.tc260.trace.selfcollect",
                "cn.tc260.trace.contract",
                "cn.tc260.trace.user_auth",
                "cn.pipl.art13.basis",
            },
        ),
        ("eu-gpai", {"eu.dsm.art4.optout", "eu.aiact.53c.policy", "eu.gdpr.art9", "eu.aiact.53d.summary"}),
        (
            "commercial-pretraining",
            {"optout.robots", "optout.tdmrep", "dedup.drop", "licence.non_commercial"},
        ),
        ("research-only", {"dedup.drop", "optout.noted"}),
    ],
)
def test_shipped_rule_ids_follow_the_rule_map(name: str, rule_ids: set[str]) -> None:
    assert rule_ids <= set(load_policy(name).rule_ids)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_validates_against_the_project_vocabularies(name: str) -> None:
    """The vocabularies of the stages that produce the attributes (where those modules exist)."""
    pii = pytest.importorskip("auditor.pii")
    registry = pytest.importorskip("auditor.registry.models")
    tables = pytest.importorskip("auditor.licences.tables")
    policy = load_policy(
        name,
        detectors=pii.detector_names(),
        pii_categories=pii.categories(),
        licence_ids=tables.load_traits(),
        opt_out_signals=registry.OPT_OUT_SIGNALS,
        rights_kinds=registry.RIGHTS_KINDS,
    )
    assert policy.name == name


def test_cn_five_percent_rule_is_strictly_greater_than() -> None:
    rule_5pct = load_policy("cn-genai").rule("cn.tc260.source.5pct")
    assert rule_5pct.outcome == "block"
    ops = rule_5pct.when.ops  # type: ignore[union-attr]
    assert [(op.name, op.value) for op in ops] == [("gt", 0.05)]


# ---- resolution and hashing ----------------------------------------------------------------------


def test_resolve_policy_path(tmp_path: Path) -> None:
    assert resolve_policy_path("eu-gpai").name == "eu-gpai.toml"
    own = tmp_path / "mine.toml"
    own.write_text(GOOD_HEAD + OK_RULE)
    assert resolve_policy_path(str(own)) == own
    assert load_policy(own).path == own
    with pytest.raises(
        ConfigError, match=re.escape("unknown policy 'eu-gpia'; shipped policies: cn-genai, commercial")
    ):
        resolve_policy_path("eu-gpia")
    with pytest.raises(ConfigError, match="policy file not found"):
        resolve_policy_path(tmp_path / "missing.toml")


def test_policy_hash_is_sha256_of_the_file_with_lf_line_endings(tmp_path: Path) -> None:
    shipped = resolve_policy_path("cn-genai")
    assert policy_hash(load_policy("cn-genai")) == hashlib.sha256(shipped.read_bytes()).hexdigest()
    lf, crlf = tmp_path / "lf.toml", tmp_path / "crlf.toml"
    lf.write_bytes((GOOD_HEAD + OK_RULE).encode())
    crlf.write_bytes((GOOD_HEAD + OK_RULE).replace("\n", "\r\n").encode())
    assert policy_hash(load_policy(lf)) == policy_hash(load_policy(crlf))


@given(comment=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20))
def test_policy_hash_changes_with_any_edit(comment: str) -> None:
    base = parse_policy(GOOD_HEAD + OK_RULE)
    edited = parse_policy(GOOD_HEAD + OK_RULE + f"# {comment}\n")
    assert policy_hash(base) != policy_hash(edited)
    assert edited.rules == base.rules


def test_public_names_are_exported() -> None:
    import auditor.policy as package

    assert sorted(package.__all__) == sorted(set(package.__all__))
    assert all(getattr(package, name) is not None for name in package.__all__)
    assert {"load_policy", "decide", "explain_record", "policy_hash", "list_policies"} <= set(package.__all__)


SURVIVOR_BASE = 'schema_version = 1\nname = "p"\n[default]\noutcome = "include"\nreason = "d"\n[[rule]]\nid = "r"\noutcome = "include"\nreason = "x"\nwhen = { attr = "pii_count", gt = 0 }\n'


@pytest.mark.parametrize(("dedup", "expected"), [
    ("", None),
    ('[dedup]\nsurvivor_order = ["crawl_date", "record_id"]\n', ("crawl_date", "record_id")),
])
def test_survivor_order(dedup, expected):
    from auditor.policy import parse_policy

    assert parse_policy(SURVIVOR_BASE + dedup).survivor_order == expected


@pytest.mark.parametrize(("dedup", "message"), [
    ('[dedup]\nsurvivor_order = ["licence"]\n', "survivor key 'licence'"),
    ('[dedup]\nsurvivor_order = []\n', "non-empty list"),
    ('[dedup]\norder = ["record_id"]\n', "order"),
    ('[dedup]\nsurvivor_order = ["record_id", "record_id"]\n', "more than once"),
])
def test_broken_survivor_order(dedup, message):
    from auditor.errors import ConfigError
    from auditor.policy import parse_policy

    with pytest.raises(ConfigError, match=message):
        parse_policy(SURVIVOR_BASE + dedup)
