"""Copyright terms by jurisdiction: is a registered work in the public domain on a given date?

The rules are data (``rules/copyright_terms.toml``); this module only interprets them. A term runs
to the end of a calendar year, so a work is in the public domain on ``as_of`` when
``as_of.year > base_year + term``:

- life-based: ``base_year`` is the death year of the last surviving author (joint works); if any
  named author's death year is unknown, the answer is unknown;
- no natural-person author named: ``anonymous_plus_years`` from first publication;
- ``published_before``/``published_term_years`` (US): a work published before 1978 is protected 95
  years from publication whatever its author's death year; without a publication year a US work
  cannot be placed, so the answer is unknown.

Unknown is ``None``, and every consumer treats it as "in copyright". A work the registry declares
``public-domain`` (e.g. dedicated to it) is in the public domain everywhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.registry.models import Work

DEFAULT_TERMS_PATH = Path(__file__).resolve().parent.parent / "rules" / "copyright_terms.toml"

_TOP_KEYS = {"schema_version", "jurisdiction"}
_RULE_KEYS = {"code", "aliases", "name", "law", "life_plus_years", "anonymous_plus_years",
              "published_before", "published_term_years"}
_REQUIRED = ("code", "name", "law", "life_plus_years")


@dataclass(frozen=True)
class TermRule:
    code: str
    name: str
    law: str
    life_plus_years: int
    anonymous_plus_years: int | None = None
    published_before: int | None = None
    published_term_years: int | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CopyrightTerms:
    rules: tuple[TermRule, ...]

    @functools.cached_property
    def _by_code(self) -> dict[str, TermRule]:
        table: dict[str, TermRule] = {}
        for rule in self.rules:
            for code in (rule.code, *rule.aliases):
                table[code.upper()] = rule
        return table

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.rules)

    def find(self, code: str) -> TermRule | None:
        return self._by_code.get(code.strip().upper())

    def rule(self, code: str) -> TermRule:
        found = self.find(code)
        if found is None:
            raise ConfigError(
                f"unknown jurisdiction {code!r}; available: {', '.join(self.codes)} "
                f"(or an alias: {', '.join(sorted(set(self._by_code) - set(self.codes)))})"
            )
        return found


def _int(value: Any, key: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    return value


def parse_terms(data: dict[str, Any], origin: str) -> CopyrightTerms:
    extra = sorted(set(data) - _TOP_KEYS)
    if extra:
        raise ConfigError(f"{origin}: unknown key(s) {extra}; allowed: {sorted(_TOP_KEYS)}")
    if data.get("schema_version") != 1:
        raise ConfigError(f"{origin}: schema_version must be 1, got {data.get('schema_version')!r}")
    raw_rules = data.get("jurisdiction")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{origin}: at least one [[jurisdiction]] table is required")
    rules: list[TermRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"{origin}: jurisdiction[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table")
        extra = sorted(set(raw) - _RULE_KEYS)
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {extra}; allowed: {sorted(_RULE_KEYS)}")
        for key in _REQUIRED:
            if key not in raw:
                raise ConfigError(f"{where}: {key} is required")
        for key in ("code", "name", "law"):
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise ConfigError(f"{where}: {key} must be a non-empty string")
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise ConfigError(f"{where}: aliases must be a list of non-empty strings")
        opt = {k: _int(raw[k], k, where) if k in raw else None
               for k in ("anonymous_plus_years", "published_before", "published_term_years")}
        if (opt["published_before"] is None) != (opt["published_term_years"] is None):
            raise ConfigError(f"{where}: published_before and published_term_years go together")
        codes = {c.upper() for c in (raw["code"], *aliases)}
        clash = sorted(codes & seen)
        if clash:
            raise ConfigError(f"{where}: code(s) {clash} already used by another jurisdiction")
        seen |= codes
        rules.append(TermRule(code=raw["code"].upper(), name=raw["name"], law=raw["law"],
                              life_plus_years=_int(raw["life_plus_years"], "life_plus_years", where),
                              aliases=tuple(a.upper() for a in aliases), **opt))
    return CopyrightTerms(tuple(rules))


def load_terms(path: Path | None = None) -> CopyrightTerms:
    """Read and validate a copyright-terms file (default: the shipped one)."""
    if path is None:
        return _default_terms()
    return _load_terms_file(Path(path))


def _load_terms_file(path: Path) -> CopyrightTerms:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: copyright terms file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_terms(data, str(path))


@functools.lru_cache(maxsize=1)
def _default_terms() -> CopyrightTerms:
    return _load_terms_file(DEFAULT_TERMS_PATH)


def term_status(work: Work, rule: TermRule, as_of: dt.date) -> tuple[bool | None, str]:
    """(public domain?, why) for ``work`` under ``rule`` on ``as_of``; None means unknown."""
    if work.status == "public-domain":
        return True, "declared public domain in the registry"
    pub = work.publication_year
    if rule.published_before is not None and rule.published_term_years is not None:
        if pub is None:
            return None, f"{rule.code}: publication year unknown; treated as in copyright"
        if pub < rule.published_before:
            return _ends(pub, rule.published_term_years, as_of, f"published {pub}", rule)
    if not work.authors:
        if rule.anonymous_plus_years is None or pub is None:
            return None, f"{rule.code}: no author and no publication-based term; treated as in copyright"
        return _ends(pub, rule.anonymous_plus_years, as_of, f"no named author, published {pub}", rule)
    if not work.death_years or any(y is None for y in work.death_years):
        return None, f"{rule.code}: an author's death year is unknown; treated as in copyright"
    last = max(y for y in work.death_years if y is not None)
    return _ends(last, rule.life_plus_years, as_of, f"last author died {last}", rule)


def _ends(base: int, years: int, as_of: dt.date, what: str, rule: TermRule) -> tuple[bool, str]:
    end = base + years
    pd = as_of.year > end
    state = "ended" if pd else "runs to"
    return pd, f"{rule.code}: {what}; {years}-year term {state} 31 Dec {end} ({rule.law})"


def public_domain_in(work: Work, jurisdiction: str, as_of: dt.date,
                     terms: CopyrightTerms | None = None) -> bool | None:
    """Is ``work`` in the public domain in ``jurisdiction`` on ``as_of``? None: unknown (treat as
    in copyright). ``jurisdiction`` is a code or alias of ``terms`` (default: the shipped rules)."""
    rule = (terms or load_terms()).rule(jurisdiction)
    return term_status(work, rule, as_of)[0]


def copyright_status(work: Work, rule: TermRule, as_of: dt.date) -> tuple[str, str]:
    """(status, basis) as the rights stage reports it: public-domain, licensed or in-copyright."""
    pd, basis = term_status(work, rule, as_of)
    if pd:
        return "public-domain", basis
    if work.status == "licensed":
        return "licensed", f"licensed under contract {work.contract}; {basis}"
    return "in-copyright", basis
