"""Value objects of the rights registries: works, holders, opt-out entries, snapshots, AI agents.

Everything here is immutable data with the place it came from (``where``: ``file:line``) so that
every match and every signal can name the registry line behind it. Loading and validation live in
``loaders``; matching in ``fingerprints``/``matching``, ``urls`` and ``signals``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from auditor.registry.index import WorkIndex
    from auditor.registry.terms import CopyrightTerms
    from auditor.registry.urls import UrlRule

WORK_STATUSES = ("in-copyright", "licensed", "public-domain")
OPTOUT_KINDS = ("url", "domain", "url_prefix", "content_sha256", "work")
# Normal forms of the holder terms (see ``loaders.parse_terms`` for the spellings accepted).
HOLDER_TERMS = ("all-rights-reserved", "licensed", "opt-out")
SNAPSHOT_KINDS = ("robots", "aitxt", "tdmrep")

# Vocabularies of the columns the rights and opt-out stages add (for policy validation).
RIGHTS_KINDS = ("work-excerpt", "work-near-duplicate", "holder-domain", "public-domain", "licensed")
OPT_OUT_SIGNALS = ("robots", "ai.txt", "tdmrep", "optout-list", "holder-terms")
COPYRIGHT_STATUSES = ("in-copyright", "public-domain", "licensed")


@dataclass(frozen=True)
class Work:
    """A registered work. ``death_years`` aligns with ``authors``; None means unknown."""

    id: str
    title: str
    rights_holder: str
    authors: tuple[str, ...]
    death_years: tuple[int | None, ...]
    publication_year: int | None
    jurisdiction: str
    status: str
    contract: str | None
    file: Path | None
    registry: str
    where: str


@dataclass(frozen=True)
class WorkFingerprint:
    """The hashed windows of one work's normal form (see ``fingerprints``); never its text."""

    norm_bytes: int
    windows: np.ndarray  # sorted unique uint64: windows at every token start
    anchors: np.ndarray  # sorted unique uint64: windows at anchor starts (a subset)


@dataclass(frozen=True)
class Holder:
    name: str
    rules: tuple[UrlRule, ...]
    terms: str  # one of HOLDER_TERMS, classified from ``terms_text``
    terms_text: str  # as written in holders.csv
    contract: str | None
    since: dt.date | None
    registry: str
    where: str

    @property
    def reserves(self) -> bool:
        """The terms reserve the use (all rights reserved, or an opt-out)."""
        return self.terms in ("all-rights-reserved", "opt-out")

    def describe(self) -> str:
        text = f"{self.terms} ({self.terms_text})" if self.terms_text != self.terms else self.terms
        return f"{text} since {self.since.isoformat()}" if self.since else text


@dataclass(frozen=True)
class OptOutEntry:
    kind: str  # one of OPTOUT_KINDS
    value: str  # as normalised by the loader (lower-case host, hex digest, ...)
    effective_date: dt.date
    holder: str | None
    registry: str
    where: str
    rule: UrlRule | None = None  # for url, domain and url_prefix entries


@dataclass(frozen=True)
class TdmRule:
    """One rule of a ``/.well-known/tdmrep.json`` file."""

    location: str
    reservation: int | None  # 1 reserved, 0 not reserved, None unset
    policy: str | None


@dataclass(frozen=True)
class Snapshot:
    """A captured robots.txt, ai.txt or tdmrep.json of one host, by capture date."""

    kind: str  # one of SNAPSHOT_KINDS
    host: str
    captured: dt.date
    path: Path
    text: str
    registry: str
    tdm_rules: tuple[TdmRule, ...] = ()

    @property
    def label(self) -> str:
        name = {"robots": "robots", "aitxt": "ai.txt", "tdmrep": "tdmrep"}[self.kind]
        return f"{name} {self.host} {self.captured.isoformat()}"


@dataclass(frozen=True)
class AiAgent:
    token: str
    operator: str
    role: str
    training: bool
    source: str


@dataclass(frozen=True)
class RegistryFolder:
    name: str
    path: Path


@dataclass(frozen=True)
class Registries:
    """Everything loaded from the registry folders, validated, plus the rule data used to match."""

    as_of: dt.date
    folders: tuple[RegistryFolder, ...]
    works: tuple[Work, ...]
    fingerprints: tuple[WorkFingerprint, ...]  # aligned with ``works``
    holders: tuple[Holder, ...]
    optouts: tuple[OptOutEntry, ...]
    snapshots: tuple[Snapshot, ...]
    agents: tuple[AiAgent, ...]
    terms: CopyrightTerms
    index_params: dict[str, int] = field(default_factory=dict)

    @property
    def training_agents(self) -> tuple[AiAgent, ...]:
        return tuple(a for a in self.agents if a.training)

    @functools.cached_property
    def work_index(self) -> WorkIndex:
        """The window index over all works, built on first use (once per worker)."""
        from auditor.registry.index import WorkIndex

        return WorkIndex.build(self.fingerprints, **self.index_params)

    def summary(self) -> dict[str, object]:
        """Counts and parameters for summary.json (no text, no values)."""
        by_kind = {k: sum(1 for s in self.snapshots if s.kind == k) for k in SNAPSHOT_KINDS}
        return {
            "as_of": self.as_of.isoformat(),
            "folders": [f.name for f in self.folders],
            "works": len(self.works),
            "holders": len(self.holders),
            "optout_entries": len(self.optouts),
            "snapshots": by_kind,
            "ai_agents": [a.token for a in self.agents if a.training],
        }
