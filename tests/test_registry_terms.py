"""Copyright terms: public-domain computation at the boundaries, and the rules file's validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.registry import load_terms, public_domain_in
from auditor.registry.models import Work
from auditor.registry.terms import copyright_status, term_status


def work(*, authors: tuple[str, ...] = ("A",), deaths: tuple[int | None, ...] = (1950,),
         published: int | None = 1940, status: str = "in-copyright", contract: str | None = None) -> Work:
    return Work(id="W1", title="T", rights_holder="H", authors=authors, death_years=deaths,
                publication_year=published, jurisdiction="EU", status=status, contract=contract,
                file=None, registry="r", where="r/works.csv:2")


D = dt.date

# (jurisdiction, work, as_of, expected): the day a term ends and the day after.
BOUNDARIES = [
    # CN: life + 50, to 31 Dec of the 50th year after death.
    ("CN", work(deaths=(1975,)), D(2025, 12, 31), False),
    ("CN", work(deaths=(1975,)), D(2026, 1, 1), True),
    # EU: life + 70, counted from 1 Jan of the next year.
    ("EU", work(deaths=(1955,)), D(2025, 12, 31), False),
    ("EU", work(deaths=(1955,)), D(2026, 1, 1), True),
    ("FR", work(deaths=(1955,)), D(2026, 1, 1), True),  # a member state is an alias of EU
    # Joint work: the last surviving author counts.
    ("EU", work(authors=("A", "B"), deaths=(1900, 1960)), D(2026, 6, 1), False),
    ("EU", work(authors=("A", "B"), deaths=(1900, 1955)), D(2026, 6, 1), True),
    # Unknown death year of any author: unknown.
    ("EU", work(authors=("A", "B"), deaths=(1900, None)), D(2026, 6, 1), None),
    ("CN", work(deaths=(None,)), D(2100, 1, 1), None),
    # US: published before 1978 -> 95 years from publication (published <= as_of.year - 96).
    ("US", work(deaths=(1900,), published=1930), D(2025, 12, 31), False),
    ("US", work(deaths=(1900,), published=1930), D(2026, 1, 1), True),
    ("US", work(deaths=(1900,), published=1931), D(2026, 1, 1), False),
    # US: a pre-1978 publication keeps its 95 years even if the author died long before.
    ("US", work(deaths=(1920,), published=1950), D(2026, 1, 1), False),
    # US: published from 1978 on -> life + 70.
    ("US", work(deaths=(1955,), published=1980), D(2025, 12, 31), False),
    ("US", work(deaths=(1955,), published=1980), D(2026, 1, 1), True),
    # US without a publication year cannot be placed.
    ("US", work(deaths=(1800,), published=None), D(2026, 1, 1), None),
    # No named author: from publication (CN 50, EU 70).
    ("CN", work(authors=(), deaths=(), published=1975), D(2026, 1, 1), True),
    ("EU", work(authors=(), deaths=(), published=1975), D(2026, 1, 1), False),
    ("EU", work(authors=(), deaths=(), published=None), D(2026, 1, 1), None),
    # Declared public domain (e.g. dedicated): everywhere.
    ("CN", work(deaths=(None,), status="public-domain"), D(2026, 1, 1), True),
]


@pytest.mark.parametrize(("jurisdiction", "the_work", "as_of", "expected"), BOUNDARIES)
def test_public_domain_boundaries(jurisdiction: str, the_work: Work, as_of: dt.date, expected: bool | None) -> None:
    assert public_domain_in(the_work, jurisdiction, as_of) is expected


def test_status_names_licence_and_reason() -> None:
    terms = load_terms()
    licensed = work(deaths=(1990,), status="licensed", contract="ACME-1")
    state, basis = copyright_status(licensed, terms.rule("EU"), D(2026, 1, 1))
    assert state == "licensed" and "ACME-1" in basis and "2060" in basis
    state, basis = copyright_status(work(deaths=(1900,)), terms.rule("EU"), D(2026, 1, 1))
    assert state == "public-domain" and "1970" in basis
    assert term_status(work(deaths=(None,)), terms.rule("CN"), D(2026, 1, 1))[0] is None


def test_unknown_jurisdiction_lists_available() -> None:
    with pytest.raises(ConfigError, match=r"unknown jurisdiction 'XX'; available: CN, EU, US, GB"):
        public_domain_in(work(), "XX", D(2026, 1, 1))


BROKEN_TERMS = [
    ("schema_version = 2\n", "schema_version must be 1"),
    ("schema_version = 1\n", r"at least one \[\[jurisdiction\]\]"),
    ("schema_version = 1\n[[jurisdiction]]\ncode='X'\nname='x'\nlaw='l'\n", "life_plus_years is required"),
    ("schema_version = 1\n[[jurisdiction]]\ncode='X'\nname='x'\nlaw='l'\nlife_plus_years=-1\n",
     "life_plus_years must be a non-negative integer"),
    ("schema_version = 1\n[[jurisdiction]]\ncode='X'\nname='x'\nlaw='l'\nlife_plus_years=5\nterm=3\n",
     r"unknown key\(s\) \['term'\]"),
    ("schema_version = 1\n[[jurisdiction]]\ncode='X'\nname='x'\nlaw='l'\nlife_plus_years=5\npublished_before=1978\n",
     "published_before and published_term_years go together"),
    ("schema_version = 1\n[[jurisdiction]]\ncode='X'\nname='x'\nlaw='l'\nlife_plus_years=5\n"
     "[[jurisdiction]]\ncode='Y'\naliases=['x']\nname='y'\nlaw='l'\nlife_plus_years=5\n", r"code\(s\) \['X'\] already used"),
    ("schema_version = \n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "error"), BROKEN_TERMS)
def test_broken_terms_files(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "terms.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=error) as info:
        load_terms(path)
    assert str(path) in str(info.value)
