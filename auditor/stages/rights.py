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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.registry.matching import BatchMatches, MatchParams, concat_ranges, match_columns
from auditor.registry.models import Holder, Registries, Work
from auditor.registry.terms import copyright_status
from auditor.registry.urls import HostIndex, registrable_domain, split_url, url_hosts
from auditor.registry.windows import text_bytes
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
        work_extra = [self._work_entries(w) for w in reg.works]
        # Per work, the values its matches take, as Arrow arrays: one ``take`` per batch and column.
        self._work_registry = pa.array([f"{w.registry}/works" for w in reg.works], pa.string())
        self._work_id = pa.array([w.id for w in reg.works], pa.string())
        self._unprotected = [kind for kind, _ in work_extra]
        statuses = [entry for _, status in work_extra for entry in status]
        self._status_values = pa.array(statuses, COPYRIGHT_STATUS_TYPE.value_type)
        self._status_count = np.array([len(status) for _, status in work_extra], dtype=np.int64)
        self._status_first = np.cumsum(self._status_count) - self._status_count
        self._holder_domains = self.holders.domains()
        # Every holder's entries, in one array; a holder's are ``_holder_entries[id(holder)]`` in it.
        entries = [self._holder_rights(h) for h in reg.holders]
        self._holder_values = pa.array([e for per in entries for e in per], RIGHTS_TYPE.value_type)
        first = np.cumsum([0] + [len(per) for per in entries])
        self._holder_entries = {id(h): tuple(range(first[i], first[i + 1])) for i, h in enumerate(reg.holders)}
        self._host_cache: dict[str, tuple[list[tuple[str, str, tuple[int, ...]]], tuple[int, ...] | None]] = {}
        self._host_wanted: dict[str, bool] = {}
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
        names = batch.schema.names
        matches = BatchMatches.empty()
        if "text" in names and self.registries.works:
            texts = batch.column("text")
            norm = batch.column("norm_text") if "norm_text" in names else normalise_array(texts)
            cands = self.index.candidates(norm, self._plan, ascii_only=_ascii_texts(batch))
            matches = match_columns(texts, norm, cands, self.index, self.params)
        holders = (_EMPTY_INT, _EMPTY_INT)
        if "url" in names and self.registries.holders:
            holders = self._match_holders(batch.column("url"))
        return append_columns(batch, self._columns(matches, holders, n))

    def _columns(self, matches: BatchMatches, holders: tuple[np.ndarray, np.ndarray], n: int
                 ) -> dict[str, pa.Array]:
        """The three columns: each row's work matches (in order of work), then its holders."""
        works = matches.work
        kinds = [unprotected or kind for unprotected, kind in
                 zip((self._unprotected[w] for w in works.tolist()), matches.kinds(), strict=True)]
        taken = pa.array(works, pa.int64())
        work_rights = pa.StructArray.from_arrays(
            [self._work_registry.take(taken), self._work_id.take(taken), pa.array(kinds, pa.string()),
             pa.array(matches.score, pa.float64())], fields=list(RIGHTS_TYPE.value_type))
        holder_rows, holder_entries = holders
        holder_rights = self._holder_values.take(pa.array(holder_entries, pa.int64()))
        rows = np.concatenate([matches.doc, holder_rows])
        order = np.argsort(rows, kind="stable")  # works first within a row, as they come first
        rights = pa.concat_arrays([work_rights, holder_rights]).take(pa.array(order, pa.int64()))
        span_counts = np.diff(matches.span_ptr)
        spans = pa.StructArray.from_arrays(
            [self._work_id.take(pa.array(np.repeat(works, span_counts), pa.int64())),
             pa.array(matches.starts, pa.int64()), pa.array(matches.ends, pa.int64())],
            fields=list(RIGHTS_SPANS_TYPE.value_type))
        status_counts = self._status_count[works]
        status = self._status_values.take(pa.array(concat_ranges(self._status_first[works], status_counts),
                                                    pa.int64()))
        return {
            "rights": rows_list_array(rows[order], rights, n, RIGHTS_TYPE),
            "rights_spans": rows_list_array(np.repeat(matches.doc, span_counts), spans, n, RIGHTS_SPANS_TYPE),
            "copyright_status": rows_list_array(np.repeat(matches.doc, status_counts), status, n,
                                                COPYRIGHT_STATUS_TYPE),
        }

    @staticmethod
    def _holder_rights(holder: Holder) -> list[Entry]:
        """The entries a URL of ``holder``'s domains gets (shared by all such rows: read-only)."""
        registry = f"{holder.registry}/holders"
        out = [{"registry": registry, "entry": holder.name, "kind": "holder-domain", "score": 1.0}]
        if holder.terms == "licensed":
            out.append({"registry": registry, "entry": holder.name, "kind": "licensed", "score": 1.0})
        return out

    def _host_rules(self, host: str) -> tuple[list[tuple[str, str, tuple[int, ...]]], tuple[int, ...] | None]:
        """(path prefix, holder name, entries) of the holder rules covering ``host``, and when none
        of them has a path, the entries of every URL of the host (holders in rule order); entries
        are indices into ``_holder_values``; cached."""
        found = self._host_cache.get(host)
        if found is None:
            if len(self._host_cache) > 100_000:
                self._host_cache.clear()
            rules = [(rule.path_prefix, holder.name, self._holder_entries[id(holder)])
                     for rule, holder in self.holders.candidates(host)]
            whole: tuple[int, ...] | None = None
            if all(prefix == "/" for prefix, _, _ in rules):
                whole, seen = (), set()
                for _, name, entries in rules:
                    if name not in seen:
                        seen.add(name)
                        whole += entries
            found = self._host_cache[host] = (rules, whole)
        return found

    def _wanted(self, host: str) -> bool:
        """Some holder rule may cover ``host`` (its registrable domain has rules); cached."""
        found = self._host_wanted.get(host)
        if found is None:
            if len(self._host_wanted) > 100_000:
                self._host_wanted.clear()
            found = self._host_wanted[host] = registrable_domain(host) in self._holder_domains
        return found

    def _match_holders(self, urls: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(row, index into ``_holder_values``) of every holder entry of the batch, by row. A row
        ``scheme://host/...`` with a plain scheme whose host has no rule with a path gets its
        host's entries without parsing; other rows of a covered domain are parsed (``split_url``)."""
        index, hosts = url_hosts(urls)
        known = self._host_wanted.get
        flags = [known(h) for h in hosts]
        if None in flags:
            flags = [self._wanted(h) if f is None else f for h, f in zip(hosts, flags, strict=True)]
        wanted = np.array([*flags, False], dtype=bool)
        rows = np.flatnonzero(wanted[index])
        if len(rows) == 0:
            return _EMPTY_INT, _EMPTY_INT
        host_of = index[rows]
        distinct = np.unique(host_of)
        wholes = [self._host_rules(hosts[k])[1] for k in distinct.tolist()]
        has_whole = np.array([w is not None for w in wholes])
        sizes = np.array([0 if w is None else len(w) for w in wholes], dtype=np.int64)
        whole_values = np.array([e for w in wholes if w is not None for e in w], dtype=np.int64)
        slot = np.searchsorted(distinct, host_of)
        taken = urls.take(pa.array(rows, pa.int64()))
        plain = _plain_scheme(taken)
        fast = has_whole[slot] & plain
        counts = sizes[slot[fast]]
        slow = np.flatnonzero(~fast)
        slow_rows: list[int] = []
        slow_entries: list[int] = []
        for row, k, url in zip(rows[slow].tolist(), host_of[slow].tolist(),
                               taken.take(pa.array(slow, pa.int64())).to_pylist(), strict=True):
            picked = self._url_entries(url, hosts[k])
            slow_rows.extend([row] * len(picked))
            slow_entries.extend(picked)
        all_rows = np.concatenate([np.repeat(rows[fast], counts), np.array(slow_rows, dtype=np.int64)])
        all_entries = np.concatenate([whole_values[concat_ranges((np.cumsum(sizes) - sizes)[slot[fast]], counts)],
                                      np.array(slow_entries, dtype=np.int64)])
        order = np.argsort(all_rows, kind="stable")
        return all_rows[order], all_entries[order]

    def _url_entries(self, url: str, host: str) -> tuple[int, ...]:
        """The holder entries of one URL whose host (as ``url_hosts`` found it) is ``host``."""
        rules, whole = self._host_rules(host)
        sep = url.find("://")
        path = None
        if sep > 0 and url.find("/") == sep + 1 and _scheme_ok(url[:sep].lstrip()):
            # ``scheme://host...``: the host is the one url_hosts found (as split_url would).
            if whole is not None:  # no rule of the host looks at the path
                return whole
            slash = url.find("/", sep + 3)
            cut = len(url) if slash < 0 else slash
            if not (url[0].isspace() or url[-1].isspace() or "?" in url[sep + 3:cut] or "#" in url[sep + 3:cut]):
                # Nothing for split_url to strip, and the host ends at the first "/": its path.
                path = url[cut:].partition("#")[0] or "/"
        if path is None:
            parts = split_url(url)
            if parts is None:
                return ()
            host, path = parts
            rules, _ = self._host_rules(host)
        seen: set[str] = set()
        picked: tuple[int, ...] = ()
        for prefix, name, entries in rules:
            if name not in seen and path.startswith(prefix):
                seen.add(name)
                picked += entries
        return picked


def _ascii_texts(batch: pa.RecordBatch) -> bool:
    """Whether the batch's texts are all ASCII, from the normalise stage's ``n_chars`` (code
    points per text) and the texts' UTF-8 lengths: equal only for ASCII. The normal form of ASCII
    text is ASCII, so its ``norm_text`` then is too. False when it cannot tell."""
    if "n_chars" not in batch.schema.names or "norm_text" not in batch.schema.names:
        return False
    _, begin, end = text_bytes(batch.column("text"))
    chars = pc.sum(batch.column("n_chars")).as_py() or 0
    return chars == int((end - begin).sum())


def _byte_set(chars: bytes) -> np.ndarray:
    """A table of the 256 byte values: true for those in ``chars``."""
    table = np.zeros(256, dtype=bool)
    table[list(chars)] = True
    return table


_EMPTY_INT = np.zeros(0, dtype=np.int64)
_ALNUM = _byte_set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_SCHEME_CHAR = _ALNUM | _byte_set(b"+-.")


def _plain_scheme(urls: pa.Array) -> np.ndarray:
    """Per URL, whether it starts with ``scheme://`` where the scheme is ASCII letters, digits,
    "+", "-" and "." with at least one letter or digit: a scheme ``split_url`` accepts, with
    nothing before it, so that the host is the one ``url_hosts`` finds."""
    sep = pc.fill_null(pc.find_substring(urls, "://"), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    data, begin, _ = text_bytes(urls)
    # Counts of non-scheme bytes and of letters or digits before each position: O(1) per URL.
    stray = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(~_SCHEME_CHAR[data], out=stray[1:])
    alnum = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(_ALNUM[data], out=alnum[1:])
    stop = begin + np.maximum(sep, 0)
    return (sep > 0) & (stray[stop] == stray[begin]) & (alnum[stop] > alnum[begin])


@functools.lru_cache(maxsize=256)
def _scheme_ok(scheme: str) -> bool:
    """The scheme test of ``split_url``."""
    return bool(scheme) and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def rows_list_array(rows: np.ndarray, values: pa.Array, n: int, list_type: pa.ListType) -> pa.Array:
    """A list array of ``n`` rows from ``values`` and the (sorted) row of each value."""
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=list_type)


def sparse_list_array(rows: dict[int, list[Entry]], n: int, list_type: pa.ListType) -> pa.Array:
    """A list array of ``n`` rows from the few rows that have entries (all others empty)."""
    counts = np.zeros(n + 1, dtype=np.int32)
    order = sorted(r for r in rows if rows[r])
    for r in order:
        counts[r + 1] = len(rows[r])
    values = pa.array([e for r in order for e in rows[r]], list_type.value_type)
    return pa.ListArray.from_arrays(pa.array(np.cumsum(counts, dtype=np.int32)), values, type=list_type)
