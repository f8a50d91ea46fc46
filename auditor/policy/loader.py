"""Load, validate and resolve policy files (TOML).

Validation is strict and happens once, at load time: unknown keys, unknown attributes or operators,
operands of the wrong type, unknown detector / licence / trait names, duplicate rule ids and source
rules that count rules which do not exist all raise ``ConfigError``. Each message names the file, the
rule id (with its line) or key, and what is allowed. Evaluation then trusts the resolved ``Policy``.

Vocabularies that depend on the installation (the PII detectors, the licence table, ...) are
injected; ``None`` skips that check. Fixed vocabularies (licence traits, duplicate kinds, acquisition
types) are always checked.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from license_expression import ExpressionError, Licensing

from auditor.errors import ConfigError
from auditor.policy.model import (
    DEFAULT_RULE_ID,
    FIXED_VOCABULARIES,
    METRIC_KINDS,
    METRICS,
    OPS_BY_KIND,
    OUTCOMES,
    RECORD_ATTRIBUTES,
    RULE_OUTCOMES,
    SCHEMA_VERSION,
    SOURCE_OUTCOMES,
    All,
    AnyOf,
    AttrSpec,
    AttrTest,
    Condition,
    ElementMatch,
    FieldTest,
    MetricTest,
    Not,
    Op,
    Policy,
    Rule,
    SourceRule,
    glob_regex,
    metric_tests,
)

DEFAULT_POLICY = "commercial-pretraining"
_POLICIES_DIR = Path(__file__).resolve().parent.parent / "rules" / "policies"

_TOP_KEYS = {"schema_version", "name", "description", "default", "rule", "source_rule", "dedup"}
_DEFAULT_KEYS = {"outcome", "reason", "basis"}
_RULE_KEYS = {"id", "outcome", "reason", "basis", "when"}
_COMBINATORS = ("all", "any", "not")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
_NOUNS = {
    "detectors": "detector",
    "licence_ids": "licence id",
    "pii_categories": "PII category",
    "opt_out_signals": "opt-out signal",
    "rights_kinds": "rights kind",
    "licence_traits": "licence trait",
    "dup_kind": "duplicate kind",
    "acquisition": "acquisition type",
}
_LIST_LIMIT = 40


# Keys a policy may order duplicate survivors by (columns of the records table).
SURVIVOR_KEYS = ("licence_rank", "evidence_rank", "crawl_date", "record_id")


def list_policies() -> list[str]:
    """Names of the shipped policies."""
    return sorted(p.stem for p in _POLICIES_DIR.glob("*.toml"))


def resolve_policy_path(name_or_path: str | Path) -> Path:
    """A shipped policy name, or a path to a policy file, as a path to an existing file."""
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.is_file():
        return candidate
    if isinstance(name_or_path, str) and "/" not in text and not text.endswith(".toml"):
        shipped = _POLICIES_DIR / f"{text}.toml"
        if shipped.is_file():
            return shipped
        raise ConfigError(
            f"unknown policy {text!r}; shipped policies: {', '.join(list_policies())} (or give a path)"
        )
    raise ConfigError(f"{text}: policy file not found")


def policy_hash(policy: Policy) -> str:
    """sha256 (hex) of the policy file bytes, line endings normalised to LF."""
    return policy.sha256


def load_policy(
    path_or_name: str | Path,
    *,
    detectors: Iterable[str] | None = None,
    licence_ids: Iterable[str] | None = None,
    pii_categories: Iterable[str] | None = None,
    opt_out_signals: Iterable[str] | None = None,
    rights_kinds: Iterable[str] | None = None,
) -> Policy:
    """Load and validate a policy by shipped name or path."""
    path = resolve_policy_path(path_or_name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read policy file: {exc.strerror}") from None
    return parse_policy(
        raw,
        origin=str(path),
        path=path,
        detectors=detectors,
        licence_ids=licence_ids,
        pii_categories=pii_categories,
        opt_out_signals=opt_out_signals,
        rights_kinds=rights_kinds,
    )


def parse_policy(
    data: bytes | str,
    *,
    origin: str = "<policy>",
    path: Path | None = None,
    detectors: Iterable[str] | None = None,
    licence_ids: Iterable[str] | None = None,
    pii_categories: Iterable[str] | None = None,
    opt_out_signals: Iterable[str] | None = None,
    rights_kinds: Iterable[str] | None = None,
) -> Policy:
    """Validate policy TOML given as bytes or text; ``origin`` names it in error messages."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    raw = raw.replace(b"\r\n", b"\n")
    try:
        text = raw.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: a policy file must be UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    vocab: dict[str, frozenset[str] | None] = {
        "detectors": _frozen(detectors),
        "licence_ids": _frozen(licence_ids),
        "pii_categories": _frozen(pii_categories),
        "opt_out_signals": _frozen(opt_out_signals),
        "rights_kinds": _frozen(rights_kinds),
        **{k: frozenset(v) for k, v in FIXED_VOCABULARIES.items()},
    }
    return _Parser(origin, text, vocab).policy(doc, hashlib.sha256(raw).hexdigest(), path)


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _available(values: Iterable[str]) -> str:
    ordered = sorted(values)
    if len(ordered) <= _LIST_LIMIT:
        return ", ".join(ordered)
    return ", ".join(ordered[:_LIST_LIMIT]) + f", ... ({len(ordered)} in total)"


def _unknown(noun: str, value: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(value, allowed, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown {noun} {value!r}{hint}; available: {_available(allowed)}"


class _Parser:
    def __init__(self, origin: str, text: str, vocab: dict[str, frozenset[str] | None]) -> None:
        self.origin = origin
        self.lines = text.splitlines()
        self.vocab = vocab
        self.where = ""

    def fail(self, message: str, key: str = "") -> ConfigError:
        where = ", ".join(part for part in (self.where, key) if part)
        return ConfigError(f"{self.origin}: {where}: {message}" if where else f"{self.origin}: {message}")

    def lines_of(self, rule_id: str) -> list[int]:
        """Line numbers of ``id = "<rule_id>"`` (tomllib keeps no positions)."""
        pattern = re.compile(r"""^\s*id\s*=\s*["']""" + re.escape(rule_id) + r"""["']""")
        return [number for number, line in enumerate(self.lines, start=1) if pattern.match(line)]

    def keys(self, table: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.fail(f"unknown key(s) {extra}; allowed: {sorted(allowed)}", key)

    def text(self, table: dict[str, Any], key: str, *, required: bool = True) -> str:
        value = table.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string, got {value!r}", key)
        return value.strip()

    # ---- the document --------------------------------------------------------------------------

    def policy(self, doc: dict[str, Any], sha256: str, path: Path | None) -> Policy:
        self.keys(doc, _TOP_KEYS, "the top level")
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise self.fail(f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
        name = self.text(doc, "name")
        if not _NAME_RE.match(name):
            raise self.fail(f"name {name!r} may use only lower-case letters, digits, '.', '_', '-'", "name")
        description = self.text(doc, "description", required=False)
        default = self.default(doc.get("default"))
        raw_rules = self.table_list(doc, "rule", required=True)
        raw_source_rules = self.table_list(doc, "source_rule", required=False)
        rules = tuple(self.rule(i, raw) for i, raw in enumerate(raw_rules))
        source_rules = tuple(self.source_rule(i, raw, rules) for i, raw in enumerate(raw_source_rules))
        seen: set[str] = {DEFAULT_RULE_ID}
        for rule in (*rules, *source_rules):
            lines = ", ".join(map(str, self.lines_of(rule.id)))
            self.where = ""
            if rule.id == DEFAULT_RULE_ID:
                raise self.fail(f"rule id {rule.id!r} (line {lines}) is reserved for the policy default")
            if rule.id in seen:
                raise self.fail(f"rule id {rule.id!r} is used more than once (lines {lines})")
            seen.add(rule.id)
        return Policy(
            name=name,
            description=description,
            default=default,
            rules=rules,
            source_rules=source_rules,
            sha256=sha256,
            path=path,
            survivor_order=self.survivor_order(doc.get("dedup")),
        )

    def survivor_order(self, raw: Any) -> tuple[str, ...] | None:
        """``[dedup] survivor_order = [...]``: keys from SURVIVOR_KEYS, most important first."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.fail("must be a table ([dedup])", "dedup")
        self.keys(raw, {"survivor_order"}, "dedup")
        order = raw.get("survivor_order")
        if not isinstance(order, list) or not order or not all(isinstance(k, str) for k in order):
            raise self.fail("must be a non-empty list of strings", "dedup.survivor_order")
        for key in order:
            if key not in SURVIVOR_KEYS:
                raise self.fail(_unknown("survivor key", key, SURVIVOR_KEYS), "dedup.survivor_order")
        if len(set(order)) != len(order):
            raise self.fail("lists a key more than once", "dedup.survivor_order")
        return tuple(order)

    def table_list(self, doc: dict[str, Any], key: str, *, required: bool) -> list[dict[str, Any]]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(f"must be an array of tables ([[{key}]])", key)
        if required and not value:
            raise self.fail(f"at least one [[{key}]] is required", key)
        return value

    def default(self, raw: Any) -> Rule:
        self.where = "[default]"
        if not isinstance(raw, dict):
            raise self.fail("a [default] table with outcome and reason is required")
        self.keys(raw, _DEFAULT_KEYS, "")
        outcome = raw.get("outcome")
        if outcome not in OUTCOMES:
            raise self.fail(f"outcome must be one of {list(OUTCOMES)}, got {outcome!r}", "outcome")
        reason = self.text(raw, "reason")
        basis = self.text(raw, "basis", required=False)
        self.where = ""
        return Rule(id=DEFAULT_RULE_ID, outcome=outcome, reason=reason, when=None, basis=basis)

    def rule_header(
        self, kind: str, index: int, raw: dict[str, Any], outcomes: tuple[str, ...]
    ) -> tuple[str, int | None, str, str, str]:
        self.where = f"{kind}[{index}]"
        rule_id = self.text(raw, "id")
        if not _ID_RE.match(rule_id):
            raise self.fail(
                f"id {rule_id!r} must be dot-separated lower-case words (letters, digits, '_', '-'), "
                "e.g. eu.dsm.art4.optout",
                "id",
            )
        line = next(iter(self.lines_of(rule_id)), None)
        self.where = f"{kind} {rule_id!r}" + (f" (line {line})" if line else "")
        self.keys(raw, _RULE_KEYS, "")
        outcome = raw.get("outcome")
        if outcome not in outcomes:
            raise self.fail(f"outcome must be one of {list(outcomes)}, got {outcome!r}", "outcome")
        reason = self.text(raw, "reason")
        basis = self.text(raw, "basis", required=False)
        if "when" not in raw:
            raise self.fail("a condition 'when' is required", "when")
        return rule_id, line, outcome, reason, basis

    def rule(self, index: int, raw: dict[str, Any]) -> Rule:
        rule_id, line, outcome, reason, basis = self.rule_header("rule", index, raw, RULE_OUTCOMES)
        when = self.condition(raw["when"], "when", source=False)
        self.where = ""
        return Rule(id=rule_id, outcome=outcome, reason=reason, when=when, basis=basis, line=line)

    def source_rule(self, index: int, raw: dict[str, Any], rules: tuple[Rule, ...]) -> SourceRule:
        rule_id, line, outcome, reason, basis = self.rule_header("source_rule", index, raw, SOURCE_OUTCOMES)
        when = self.condition(raw["when"], "when", source=True)
        by_id = {r.id: r for r in rules}
        for test in metric_tests(when):
            for ref in test.rules:
                if ref not in by_id:
                    raise self.fail(_unknown("record rule", ref, by_id), f"{test.metric}.rules")
                if test.metric.endswith("_excluded_by") and by_id[ref].outcome != "exclude":
                    raise self.fail(
                        f"rule {ref!r} has outcome {by_id[ref].outcome!r}; {test.metric} counts records a "
                        'rule excluded, so list rules with outcome = "exclude" (or use share_matched)',
                        f"{test.metric}.rules",
                    )
        self.where = ""
        return SourceRule(id=rule_id, outcome=outcome, reason=reason, when=when, basis=basis, line=line)

    # ---- conditions ----------------------------------------------------------------------------

    def condition(self, raw: Any, key: str, *, source: bool) -> Condition:
        if not isinstance(raw, dict):
            raise self.fail(f"a condition must be a table, got {raw!r}", key)
        # A leaf names its subject first: within it, 'any'/'none' are struct-list operators.
        if "attr" in raw:
            return self.attr_test(raw, key, source=source)
        if "metric" in raw:
            if not source:
                raise self.fail("'metric' conditions are allowed only in [[source_rule]]", key)
            return self.metric_test(raw, key)
        combinators = [k for k in _COMBINATORS if k in raw]
        if combinators:
            if len(raw) != 1:
                raise self.fail(
                    f"{combinators[0]!r} must stand alone in its table; found keys {sorted(raw)}", key
                )
            name = combinators[0]
            if name == "not":
                return Not(self.condition(raw["not"], f"{key}.not", source=source))
            items = raw[name]
            if not isinstance(items, list) or not items:
                raise self.fail(f"{name!r} takes a non-empty list of conditions", f"{key}.{name}")
            parsed = tuple(
                self.condition(item, f"{key}.{name}[{i}]", source=source) for i, item in enumerate(items)
            )
            return All(parsed) if name == "all" else AnyOf(parsed)
        heads = "attr, metric, all, any, not" if source else "attr, all, any, not"
        raise self.fail(f"a condition needs one of: {heads}; found keys {sorted(raw)}", key)

    def attr_test(self, raw: dict[str, Any], key: str, *, source: bool) -> AttrTest:
        attr = raw["attr"]
        allowed = (
            {a: s for a, s in RECORD_ATTRIBUTES.items() if a == "source" or a.startswith("source.")}
            if source
            else RECORD_ATTRIBUTES
        )
        if not isinstance(attr, str) or attr not in allowed:
            scope = "source-rule attribute" if source else "attribute"
            raise self.fail(_unknown(scope, str(attr), allowed), f"{key}.attr")
        spec = allowed[attr]
        ops = self.ops(spec, {k: v for k, v in raw.items() if k != "attr"}, f"{key}[{attr}]")
        return AttrTest(attr=attr, kind=spec.kind, ops=ops)

    def metric_test(self, raw: dict[str, Any], key: str) -> MetricTest:
        metric = raw["metric"]
        if metric not in METRICS:
            raise self.fail(_unknown("metric", str(metric), METRICS), f"{key}.metric")
        rules: tuple[str, ...] = ()
        if METRICS[metric]:
            refs = raw.get("rules")
            if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
                raise self.fail(f'metric {metric!r} needs rules = ["rule id", ...]', f"{key}.rules")
            rules = tuple(refs)
        elif "rules" in raw:
            raise self.fail(f"metric {metric!r} takes no rules", f"{key}.rules")
        kind = METRIC_KINDS.get(metric, "float")
        spec = AttrSpec(name=metric, kind=kind, description="")
        op_table = {k: v for k, v in raw.items() if k not in ("metric", "rules")}
        allowed = {"eq", "ne", "gt", "ge", "lt", "le"}
        bad = sorted(set(op_table) - allowed)
        if bad:
            raise self.fail(
                f"unknown operator(s) {bad} for metric {metric!r}; allowed: {sorted(allowed)}", key
            )
        ops = self.ops(spec, op_table, f"{key}[{metric}]")
        if metric.startswith("share_"):
            for op in ops:
                if not 0 <= op.value <= 1:
                    raise self.fail(
                        f"{metric} is a share between 0 and 1, got {op.value!r}", f"{key}.{op.name}"
                    )
        return MetricTest(metric=metric, rules=rules, ops=ops)

    def ops(self, spec: AttrSpec, table: dict[str, Any], key: str) -> tuple[Op, ...]:
        allowed = OPS_BY_KIND[spec.kind]
        if not table:
            raise self.fail(
                f"no operator given; allowed for {spec.kind} {spec.name!r}: {', '.join(allowed)}", key
            )
        ops = []
        for name, value in table.items():
            if name not in allowed:
                raise self.fail(
                    f"unknown operator {name!r} for {spec.kind} attribute {spec.name!r}; allowed: {', '.join(allowed)}",
                    key,
                )
            ops.append(Op(name, self.operand(spec, name, value, f"{key}.{name}")))
        return tuple(ops)

    def operand(self, spec: AttrSpec, op: str, value: Any, key: str) -> Any:
        kind = spec.kind
        if op in ("is_null", "is_empty"):
            if not isinstance(value, bool):
                raise self.fail(f"{op} takes true or false, got {value!r}", key)
            return value
        if op in ("any", "none"):
            return self.element_match(spec, value, key)
        elem = "string" if kind == "string_list" else kind
        if op in ("in", "not_in", "has_any", "has_all"):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{op} takes a non-empty list of {elem} values, got {value!r}", key)
            return tuple(self.scalar(spec, elem, v, key) for v in value)
        if op in ("glob", "has_glob"):
            if not isinstance(value, str) or not value:
                raise self.fail(
                    f"{op} takes a non-empty pattern string (* and ? wildcards), got {value!r}", key
                )
            self.check_glob(spec, value, key)
            return value
        if op in ("gt", "ge", "lt", "le") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise self.fail(f"{op} takes a number, got {value!r}", key)
        return self.scalar(spec, elem, value, key)

    def scalar(self, spec: AttrSpec, kind: str, value: Any, key: str) -> Any:
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int | float) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
        }[kind]
        if not ok:
            raise self.fail(f"{spec.name!r} holds {kind} values, got {value!r}", key)
        if kind == "string":
            return self.check_value(spec.vocab, value, key)
        return value

    def check_value(self, vocab_name: str | None, value: str, key: str) -> str:
        if vocab_name == "lang":
            if not _LANG_RE.match(value):
                raise self.fail(
                    f"lang values are ISO 639-1 codes (two lower-case letters, zh for Chinese), got {value!r}",
                    key,
                )
            return value
        if vocab_name == "licence_ids":
            return self.check_licence(value, key)
        allowed = self.vocab.get(vocab_name) if vocab_name else None
        if allowed is not None and value not in allowed:
            raise self.fail(_unknown(_NOUNS[vocab_name], value, allowed), key)
        return value

    def check_licence(self, value: str, key: str) -> str:
        try:
            parsed = Licensing().parse(value)
        except (ExpressionError, AttributeError) as exc:
            raise self.fail(f"licence expression {value!r} is not valid SPDX syntax: {exc}", key) from None
        canonical = str(parsed)
        allowed = self.vocab["licence_ids"]
        if allowed is not None:
            tokens = [t for t in re.split(r"[\s()]+", canonical) if t]
            for i, token in enumerate(tokens):
                after_with = i > 0 and tokens[i - 1].upper() == "WITH"
                if token.upper() in ("AND", "OR", "WITH") or after_with:
                    continue
                if token not in allowed:
                    raise self.fail(_unknown("licence id", token, allowed), key)
        return canonical

    def check_glob(self, spec: AttrSpec, pattern: str, key: str) -> None:
        allowed = self.vocab.get(spec.vocab) if spec.vocab else None
        if allowed is not None and not any(re.fullmatch(glob_regex(pattern), v) for v in allowed):
            raise self.fail(
                f"pattern {pattern!r} matches no {_NOUNS[spec.vocab]}; available: {_available(allowed)}", key
            )

    def element_match(self, spec: AttrSpec, value: Any, key: str) -> ElementMatch:
        if not isinstance(value, dict):
            raise self.fail(
                f"takes a table of field tests over {sorted(spec.fields)}, e.g. {{ {next(iter(spec.fields))} = ... }}",
                key,
            )
        tests = []
        for field_name, test in value.items():
            if field_name not in spec.fields:
                raise self.fail(_unknown(f"field of {spec.name!r}", field_name, spec.fields), key)
            fkind = spec.fields[field_name]
            fspec = AttrSpec(
                name=f"{spec.name}.{field_name}",
                kind=fkind,
                description="",
                vocab=spec.field_vocab.get(field_name),
            )
            table = test if isinstance(test, dict) else {"eq": test}
            tests.append(FieldTest(field_name, fkind, self.ops(fspec, table, f"{key}.{field_name}")))
        return ElementMatch(tuple(tests))
