"""The ``optout`` map stage: opt-out signals for each record's URL as of its crawl date.

Inputs: ``url``, ``crawl_date`` (date32, nullable); optional ``content_sha256`` (from the normalise
stage; computed from ``text`` if absent and the opt-out lists hold content hashes), ``http_headers``
(raw header block) and ``html_meta`` (HTML meta tags, or a JSON object of them).

Signals (``auditor.registry.signals`` explains robots.txt, ai.txt and TDMRep):

- ``robots`` / ``ai.txt``: the snapshot of the record's host in force at the crawl date disallows
  the URL for an AI training agent. Snapshots are looked up by exact host, with ``www.`` treated as
  the same host (``www.example.com`` = ``example.com``); other subdomains need their own folder;
- ``tdmrep``: the resolved TDMRep reservation (file < header < meta);
- ``optout-list``: an opt-out list entry (url, domain, url_prefix or content_sha256) that matches,
  or a ``work`` entry for a work the ``rights`` stage found in the record (so run ``rights`` first:
  the work entries are read from the batch's ``rights`` column);
- ``holder-terms``: a holder whose domains cover the URL has terms that reserve the use (all rights
  reserved, opted out).

Column added: ``opt_out``: list<struct{signal: string, detail: string, effective: bool}>;
``effective`` is true when the signal was in force at the crawl date. A record with no crawl date is
evaluated as of ``context.as_of`` (else the registries' ``as_of``) and its details say so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.registry.models import Holder, OptOutEntry, Registries
from auditor.registry.signals import (
    RobotsChecker,
    Signal,
    SnapshotSeries,
    evaluate_tdm,
    parse_tdm_headers,
    parse_tdm_meta,
)
from auditor.registry.urls import HostIndex, registrable_domain, split_url, url_hosts
from auditor.stages.base import StageContext, append_columns
from auditor.stages.rights import sparse_list_array

OPT_OUT_TYPE = pa.list_(pa.struct([("signal", pa.string()), ("detail", pa.string()),
                                   ("effective", pa.bool_())]))
_NO_TDM: tuple[int | None, str | None] = (None, None)


def _host_key(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


class OptOutStage:
    name = "optout"

    def __init__(self, registries: Registries) -> None:
        self.registries = registries
        self._ready = False

    def setup(self, context: StageContext) -> None:
        reg = self.registries
        self.as_of: dt.date = context.as_of or reg.as_of
        self.exact: dict[tuple[str, str], list[OptOutEntry]] = defaultdict(list)
        self.by_sha: dict[str, list[OptOutEntry]] = defaultdict(list)
        self.rules: HostIndex[OptOutEntry | Holder] = HostIndex()
        self.by_work: dict[tuple[str, str], list[OptOutEntry]] = defaultdict(list)
        for entry in reg.optouts:
            if entry.kind == "work":
                self.by_work[(f"{entry.registry}/works", entry.value)].append(entry)
            elif entry.kind == "content_sha256":
                self.by_sha[entry.value].append(entry)
            elif entry.kind == "url" and entry.rule is not None:
                self.exact[(entry.rule.host, entry.rule.path_prefix)].append(entry)
            elif entry.rule is not None:
                self.rules.add(entry.rule, entry)
        for holder in reg.holders:
            if holder.reserves:
                for rule in holder.rules:
                    self.rules.add(rule, holder)
        grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for snap in reg.snapshots:
            grouped[(snap.kind, _host_key(snap.host))].append(snap)
        self.series = {key: SnapshotSeries(items) for key, items in grouped.items()}
        self.robots = RobotsChecker(reg.agents)
        # Registrable domains with any host rule, and hosts with snapshots or exact URLs: a row whose
        # host is in neither set is skipped without parsing.
        self._rule_domains = self.rules.domains()
        self._snap_hosts = {h for _, h in self.series} | {_host_key(h) for h, _ in self.exact}
        self._interesting: dict[str, bool] = {}
        self._ready = True

    def _is_interesting(self, host: str) -> bool:
        found = self._interesting.get(host)
        if found is None:
            found = host in self._snap_hosts or registrable_domain(host) in self._rule_domains
            if len(self._interesting) > 100_000:
                self._interesting.clear()
            self._interesting[host] = found
        return found

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self._ready:
            self.setup(StageContext())
        n = batch.num_rows
        names = batch.schema.names
        rows: set[int] = set()
        url_col = batch.column("url") if "url" in names else None
        if url_col is not None and (self._snap_hosts or self._rule_domains):
            index, hosts = url_hosts(url_col)
            wanted = np.array([self._is_interesting(_host_key(h)) for h in hosts] + [False], dtype=bool)
            rows.update(np.flatnonzero(wanted[index]).tolist())
        shas = self._content_hashes(batch) if self.by_sha else None
        if shas is not None:
            flagged = pc.is_in(shas, value_set=pa.array(sorted(self.by_sha), pa.string()))
            rows.update(pc.indices_nonzero(pc.fill_null(flagged, False)).to_pylist())
        matched_works = self._work_rows(batch) if self.by_work else {}
        rows.update(matched_works)
        headers = self._tdm_rows(batch, "http_headers", rows)
        metas = self._tdm_rows(batch, "html_meta", rows)
        out: dict[int, list[dict[str, Any]]] = {}
        if rows:
            dates = batch.column("crawl_date") if "crawl_date" in names else None
            for i in sorted(rows):
                crawl = dates[i].as_py() if dates is not None else None
                if isinstance(crawl, dt.datetime):
                    crawl = crawl.date()
                url = url_col[i].as_py() if url_col is not None else None
                signals = self.evaluate(url, crawl, sha=shas[i].as_py() if shas is not None else None,
                                        header=headers.get(i), meta=metas.get(i),
                                        works=matched_works.get(i, ()))
                out[i] = [{"signal": s.signal, "detail": s.detail, "effective": s.effective} for s in signals]
        return append_columns(batch, {"opt_out": sparse_list_array(out, n, OPT_OUT_TYPE)})

    def _content_hashes(self, batch: pa.RecordBatch) -> pa.Array | None:
        if "content_sha256" in batch.schema.names:
            return batch.column("content_sha256")
        if "text" not in batch.schema.names:
            return None
        texts = batch.column("text").to_pylist()
        return pa.array([None if t is None else hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts],
                        pa.string())

    def _work_rows(self, batch: pa.RecordBatch) -> dict[int, list[tuple[str, str]]]:
        """Rows whose ``rights`` name a work that has an opt-out entry: row -> [(registry, id)]."""
        if "rights" not in batch.schema.names:
            return {}
        rights = batch.column("rights")
        flat = pc.list_flatten(rights)
        if len(flat) == 0:
            return {}
        parents = pc.list_parent_indices(rights).to_pylist()
        found: dict[int, list[tuple[str, str]]] = defaultdict(list)
        triples = zip(pc.struct_field(flat, "registry").to_pylist(), pc.struct_field(flat, "entry").to_pylist(),
                      pc.struct_field(flat, "kind").to_pylist(), strict=True)
        for row, (registry, entry, kind) in zip(parents, triples, strict=True):
            key = (registry, entry)
            if kind in ("work-excerpt", "work-near-duplicate") and key in self.by_work and key not in found[row]:
                found[row].append(key)
        return {row: keys for row, keys in found.items() if keys}

    @staticmethod
    def _tdm_rows(batch: pa.RecordBatch, column: str, rows: set[int]) -> dict[int, str]:
        if column not in batch.schema.names:
            return {}
        col = batch.column(column)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return {}
        hit = pc.fill_null(pc.match_substring(col, "tdm-", ignore_case=True), False)
        idx = pc.indices_nonzero(hit).to_pylist()
        rows.update(idx)
        return {i: col[i].as_py() for i in idx}

    def evaluate(self, url: str | None, crawl: dt.date | None, *, sha: str | None = None,
                 header: str | None = None, meta: str | None = None,
                 works: Sequence[tuple[str, str]] = ()) -> list[Signal]:
        """All signals for one record (also usable on its own, e.g. by ``auditor explain``);
        ``works``: (registry, work id) pairs the rights stage matched in the record."""
        date = crawl or self.as_of
        note = "" if crawl else f"; crawl date unknown, evaluated as of {self.as_of.isoformat()}"
        out: list[Signal] = []
        for key in works:
            for entry in self.by_work.get(key, ()):
                out.append(self._list_signal(entry, f"work {entry.value}", date, note))
        for entry in self.by_sha.get(sha or "", ()):
            out.append(self._list_signal(entry, "content hash", date, note))
        parts = split_url(url) if url else None
        host, path = parts if parts else ("", "/")
        if parts:
            for entry in self.exact.get((host, path), ()):
                out.append(self._list_signal(entry, f"url {entry.value}", date, note))
            seen: set[str] = set()
            for rule, item in self.rules.match(host, path):
                if isinstance(item, OptOutEntry):
                    out.append(self._list_signal(item, f"{item.kind} {item.value}", date, note))
                elif item.name not in seen:
                    seen.add(item.name)
                    effective = item.since is None or item.since <= date
                    after = "" if effective else f", after {date.isoformat()}"
                    out.append(Signal("holder-terms", f"{item.name}: {item.describe()}{after} "
                                                      f"(domain {rule}; {item.where}){note}", effective))
            key = _host_key(host)
            for kind in ("robots", "aitxt"):
                series = self.series.get((kind, key))
                if series is not None:
                    out.extend(self.robots.evaluate(series, path, date, note))
        header_value = parse_tdm_headers(header) if header else _NO_TDM
        meta_value = parse_tdm_meta(meta) if meta else _NO_TDM
        tdm_series = self.series.get(("tdmrep", _host_key(host))) if parts else None
        if tdm_series is not None or header_value != _NO_TDM or meta_value != _NO_TDM:
            out.extend(evaluate_tdm(tdm_series, path, date, header_value, meta_value, note))
        return out

    @staticmethod
    def _list_signal(entry: OptOutEntry, what: str, date: dt.date, note: str) -> Signal:
        effective = entry.effective_date <= date
        holder = f" by {entry.holder}" if entry.holder else ""
        after = "" if effective else f", after {date.isoformat()}"
        return Signal("optout-list", f"{what} opted out{holder} since {entry.effective_date.isoformat()}"
                                     f"{after} ({entry.where}){note}", effective)
