"""The ``rights`` map stage: matches records against registered works and rights holders' domains.

Inputs: ``text``, ``norm_text`` (normalised by the ``normalise`` stage; computed here if absent) and
``url``. Works are found in two steps (``auditor.registry.index`` and ``.matching``): a vectorised
prefilter that looks up a few probe windows of every record of the batch in the index of all works'
windows (read straight from the Arrow buffer of ``norm_text``; any verbatim passage long enough to
qualify is guaranteed hits, see ``auditor.registry.windows``), then an exact window comparison of
the few records that hit a work, all pairs at once. Holders are matched by URL (public-suffix aware
host + path prefix); the rules covering a host are resolved once per distinct host, and a URL is
parsed only when a rule of its host has a path.

Columns added (every row gets a list, empty when nothing matched; no text, only ids and offsets):

- ``rights``: list<struct{registry: string, entry: string, kind: string, score: double}>, one entry
  per matched work or holder. A matched work's kind is ``work-excerpt`` or ``work-near-duplicate``
  (entry = work id, score as in ``matching``) when the work is protected, and ``public-domain`` (in
  the public domain in every jurisdiction considered) or ``licensed`` (licensed to us under a
  contract) otherwise, with the match score: so "matched a protected work" is one test on one entry,
  even for a record that matches several works. Which kind of match it was stays in
  ``copyright_status`` and ``rights_spans``. A holder gives ``holder-domain`` (score 1.0) and, for a
  holder that licensed us its content, also ``licensed``. Registry is ``<folder>/works`` or
  ``<folder>/holders``.
- ``rights_spans``: list<struct{entry: string, start: int64, end: int64}>: character offsets of the
  matched passages in ``text`` (end exclusive).
- ``copyright_status``: list<struct{registry, entry, jurisdiction, status, basis: string}>: for each
  matched work and each jurisdiction considered, ``public-domain``, ``licensed`` or ``in-copyright``
  (unknown data counts as in copyright) with the reason.

Jurisdictions considered: all of ``copyright_terms.toml`` unless narrowed by the ``jurisdictions``
argument or ``context.params["rights.jurisdictions"]``. Terms are computed as of ``context.as_of``
(else the registries' ``as_of``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from auditor.registry.matching import MatchParams, match_batch
from auditor.registry.models import Holder, Registries, Work
from auditor.registry.terms import copyright_status
from auditor.registry.urls import HostIndex, registrable_domain, split_url, url_hosts
from auditor.stages.base import StageContext, append_columns
from auditor.stages.normalise import normalise_array

RIGHTS_TYPE = pa.list_(pa.struct([("registry", pa.string()), ("entry", pa.string()),
                                  ("kind", pa.string()), ("score", pa.float64())]))
RIGHTS_SPANS_TYPE = pa.list_(pa.struct([("entry", pa.string()), ("start", pa.int64()), ("end", pa.int64())]))
COPYRIGHT_STATUS_TYPE = pa.list_(pa.struct([("registry", pa.string()), ("entry", pa.string()),
                                            ("jurisdiction", pa.string()), ("status", pa.string()),
                                            ("basis", pa.string())]))

Entry = dict[str, Any]


class RightsStage:
    name = "rights"

    def __init__(self, registries: Registries, *, params: MatchParams | None = None,
                 jurisdictions: Sequence[str] | None = None) -> None:
        self.registries = registries
        self.params = params or MatchParams()
        self._jurisdictions = tuple(jurisdictions) if jurisdictions else None
        self._ready = False

    def setup(self, context: StageContext) -> None:
        reg = self.registries
        self.as_of: dt.date = context.as_of or reg.as_of
        codes = self._jurisdictions or context.params.get("rights.jurisdictions") or reg.terms.codes
        self.rules = tuple(reg.terms.rule(c) for c in codes)
        self.index = reg.work_index
        self._plan = self.index.plan(self.params.min_excerpt_bytes, self.params.short_work_share)
        self.holders: HostIndex[Holder] = HostIndex((r, h) for h in reg.holders for r in h.rules)
        self._work_extra = [self._work_entries(w) for w in reg.works]
        self._holder_domains = self.holders.domains()
        self._holder_entries = {id(h): self._holder_rights(h) for h in reg.holders}
        self._host_cache: dict[str, tuple[list[tuple[str, str, list[Entry]]], list[Entry] | None]] = {}
        self._ready = True

    def parameters(self) -> dict[str, Any]:
        """Everything that changes this stage's output, for summary.json."""
        from auditor.registry.fingerprints import PARAMETERS

        return {"fingerprints": PARAMETERS, "match": vars(self.params).copy(),
                "index": self.registries.work_index.parameters(),
                "jurisdictions": [r.code for r in self.rules] if self._ready else None}

    def _work_entries(self, work: Work) -> tuple[str | None, list[Entry]]:
        """The kind a match of ``work`` takes when the work is not protected (else None), and its
        copyright status in every jurisdiction considered."""
        registry = f"{work.registry}/works"
        status: list[Entry] = []
        for rule in self.rules:
            state, basis = copyright_status(work, rule, self.as_of)
            status.append({"registry": registry, "entry": work.id, "jurisdiction": rule.code,
                           "status": state, "basis": basis})
        if all(s["status"] == "public-domain" for s in status):
            return "public-domain", status
        if work.status == "licensed":
            return "licensed", status
        return None, status

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self._ready:
            self.setup(StageContext())
        n = batch.num_rows
        rights: dict[int, list[Entry]] = defaultdict(list)
        spans: dict[int, list[Entry]] = defaultdict(list)
        status: dict[int, list[Entry]] = defaultdict(list)
        names = batch.schema.names
        if "text" in names and self.registries.works:
            texts = batch.column("text")
            norm = batch.column("norm_text") if "norm_text" in names else normalise_array(texts)
            self._match_works(texts, norm, rights, spans, status)
        if "url" in names and self.registries.holders:
            self._match_holders(batch.column("url"), rights)
        return append_columns(batch, {
            "rights": sparse_list_array(rights, n, RIGHTS_TYPE),
            "rights_spans": sparse_list_array(spans, n, RIGHTS_SPANS_TYPE),
            "copyright_status": sparse_list_array(status, n, COPYRIGHT_STATUS_TYPE),
        })

    def _match_works(self, texts: pa.Array, norm: pa.Array, rights: dict[int, list[Entry]],
                     spans: dict[int, list[Entry]], status: dict[int, list[Entry]]) -> None:
        cands = self.index.candidates(norm, self._plan)
        works = self.registries.works
        for doc, matches in match_batch(texts, norm, cands, self.index, self.params).items():
            for m in matches:
                work = works[m.work]
                unprotected, work_status = self._work_extra[m.work]
                rights[doc].append({"registry": f"{work.registry}/works", "entry": work.id,
                                    "kind": unprotected or m.kind, "score": m.score})
                status[doc].extend(work_status)
                spans[doc].extend({"entry": work.id, "start": s, "end": e} for s, e in m.spans)

    @staticmethod
    def _holder_rights(holder: Holder) -> list[Entry]:
        """The entries a URL of ``holder``'s domains gets (shared by all such rows: read-only)."""
        registry = f"{holder.registry}/holders"
        out = [{"registry": registry, "entry": holder.name, "kind": "holder-domain", "score": 1.0}]
        if holder.terms == "licensed":
            out.append({"registry": registry, "entry": holder.name, "kind": "licensed", "score": 1.0})
        return out

    def _host_rules(self, host: str) -> tuple[list[tuple[str, str, list[Entry]]], list[Entry] | None]:
        """(path prefix, holder name, entries) of the holder rules covering ``host``, and when none
        of them has a path, the entries of every URL of the host (holders in rule order); cached."""
        found = self._host_cache.get(host)
        if found is None:
            if len(self._host_cache) > 100_000:
                self._host_cache.clear()
            rules = [(rule.path_prefix, holder.name, self._holder_entries[id(holder)])
                     for rule, holder in self.holders.candidates(host)]
            whole: list[Entry] | None = None
            if all(prefix == "/" for prefix, _, _ in rules):
                whole, seen = [], set()
                for _, name, entries in rules:
                    if name not in seen:
                        seen.add(name)
                        whole.extend(entries)
            found = self._host_cache[host] = (rules, whole)
        return found

    def _match_holders(self, urls: pa.Array, rights: dict[int, list[Entry]]) -> None:
        index, hosts = url_hosts(urls)
        domains = self._holder_domains
        wanted = np.array([registrable_domain(h) in domains for h in hosts] + [False], dtype=bool)
        rows = np.flatnonzero(wanted[index])
        if len(rows) == 0:
            return
        for row, url in zip(rows.tolist(), urls.take(pa.array(rows)).to_pylist(), strict=True):
            _, whole = self._host_rules(hosts[index[row]])
            sep = url.find("://")
            if whole is not None and sep > 0 and url.find("/") == sep + 1 and _scheme_ok(url[:sep].lstrip()):
                # ``scheme://host...``: the host is the one url_hosts found (as split_url would), and
                # no rule of the host looks at the path.
                rights[row].extend(whole)
                continue
            parts = split_url(url)
            if parts is None:
                continue
            host, path = parts
            rules, _ = self._host_rules(host)
            seen: set[str] = set()
            for prefix, name, entries in rules:
                if name not in seen and path.startswith(prefix):
                    seen.add(name)
                    rights[row].extend(entries)


@functools.lru_cache(maxsize=256)
def _scheme_ok(scheme: str) -> bool:
    """The scheme test of ``split_url``."""
    return bool(scheme) and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def sparse_list_array(rows: dict[int, list[Entry]], n: int, list_type: pa.ListType) -> pa.Array:
    """A list array of ``n`` rows from the few rows that have entries (all others empty)."""
    counts = np.zeros(n + 1, dtype=np.int32)
    order = sorted(r for r in rows if rows[r])
    for r in order:
        counts[r + 1] = len(rows[r])
    values = pa.array([e for r in order for e in rows[r]], list_type.value_type)
    return pa.ListArray.from_arrays(pa.array(np.cumsum(counts, dtype=np.int32)), values, type=list_type)
