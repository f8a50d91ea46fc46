"""URL matching for holders, opt-out lists and snapshots: hosts, registrable domains, path prefixes.

A rule is a host plus a path prefix (``example.co.uk``, ``example.com/news/``,
``https://example.com/news/``; the scheme is ignored). It matches a URL whose host is the rule's host
or one of its subdomains (``news.example.co.uk`` belongs to ``example.co.uk``, ``badexample.co.uk``
does not) and whose path (with query) starts with the rule's path prefix. A rule whose host is a
public suffix (``co.uk``, ``github.io``) is refused: nobody controls every site under it. The public
suffix list is the one bundled with tldextract (private suffixes included); nothing is fetched.

Rules are indexed by registrable domain, so a lookup costs one dict access per distinct host.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.registry.windows import text_bytes

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    # Bundled snapshot only: no network, no cache directory.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True,
                                 include_psl_private_domains=True)


@functools.lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """The registrable domain of ``host`` (``news.example.co.uk`` -> ``example.co.uk``); the host
    itself for IP addresses and single-label hosts; ``""`` when the host is a public suffix. A top
    label the list does not know counts as a suffix (the list's default rule ``*``)."""
    parts = _extractor()(host)
    if parts.suffix:
        return f"{parts.domain}.{parts.suffix}" if parts.domain else ""
    if parts.ipv4 or parts.ipv6 or "." not in host:
        return host
    return ".".join(host.split(".")[-2:])


def normalise_host(host: str) -> str:
    """Lower-case, without user info, port or trailing dot."""
    host = host.strip().lower().rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        host = name
    return host.rstrip(".")


def quick_host(url: str) -> str:
    """The host of a URL, cheaply (a prefilter: exact parsing is ``split_url``)."""
    rest = url.partition("://")[2] or url
    return rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2].split(":", 1)[0].rstrip(".").lower()


@functools.lru_cache(maxsize=65536)
def _clean_host(raw: str) -> str:
    return normalise_host(raw.split("?", 1)[0].split("#", 1)[0])


def url_hosts(urls: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Per row, the index of its host in the returned list of distinct normalised hosts (-1: no
    host). Vectorised over the bytes of the array for ``scheme://host/...`` URLs (the first ``/``
    of the URL opens its first ``://``; the host: the bytes after it up to the next ``/``); other
    rows go through ``quick_host``. The result for the last array seen is kept (the ``rights`` and
    ``optout`` stages read the same column of a batch one after the other): a call on the same
    Arrow data gets a copy of it."""
    if isinstance(urls, pa.ChunkedArray):
        urls = urls.combine_chunks() if urls.num_chunks != 1 else urls.chunk(0)
    key = _array_key(urls)
    last = _last_hosts[0]
    if last is not None and last[1] == key:
        return last[2].copy(), list(last[3])
    index, hosts = _url_hosts(urls)
    # The array is kept with its result, so its buffers (hence their addresses) stay its own.
    _last_hosts[0] = (urls, key, index.copy(), list(hosts))
    return index, hosts


_last_hosts: list[tuple[pa.Array, tuple[object, ...], np.ndarray, list[str]] | None] = [None]


def _array_key(array: pa.Array) -> tuple[object, ...]:
    """What identifies an array's data while the array is alive: type, slice and buffers."""
    return (array.type, array.offset, len(array), array.null_count,
            tuple(None if b is None else (b.address, b.size) for b in array.buffers()))


def _url_hosts(urls: pa.Array) -> tuple[np.ndarray, list[str]]:
    n = len(urls)
    index = np.full(n, -1, dtype=np.int64)
    if n == 0 or urls.null_count == n:
        return index, []
    data, begin, end = text_bytes(urls)
    slashes = np.flatnonzero(data == 0x2F)
    # Each row's first "/" and first "://" (positions past the row's end: none).
    slash_or_end = np.append(slashes, len(data))
    first_slash = slash_or_end[np.searchsorted(slashes, begin)]
    marks = slashes[:-1][(np.diff(slashes) == 1) & (slashes[:-1] > 0)]  # "//" ...
    marks = marks[data[marks - 1] == 0x3A] - 1  # ... after ":"
    sep = np.append(marks, len(data))[np.searchsorted(marks, begin)]
    standard = (sep > begin) & (sep + 3 <= end) & (first_slash == sep + 1)
    rows = np.flatnonzero(standard)
    host_start = sep[rows] + 3
    host_end = np.minimum(slash_or_end[np.searchsorted(slashes, host_start)], end[rows])
    sizes = host_end - host_start
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    picked = np.repeat(host_start - offsets[:-1], sizes)
    picked += np.arange(len(picked), dtype=np.int64)
    raw = pa.LargeStringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data[picked]))
    encoded = pc.dictionary_encode(raw)
    hosts, remap = _clean_hosts(encoded.dictionary)
    index[rows] = remap[encoded.indices.to_numpy(zero_copy_only=False)]
    others = np.flatnonzero(np.asarray(urls.is_valid()) & ~standard)
    if len(others):
        position = {host: i for i, host in enumerate(hosts)}
        for row in others.tolist():
            host = quick_host(urls[row].as_py())
            if host:
                index[row] = position.setdefault(host, len(hosts))
                if index[row] == len(hosts):
                    hosts.append(host)
    if "" in hosts:
        index[index == hosts.index("")] = -1
    return index, hosts


def _clean_hosts(raw: pa.Array) -> tuple[list[str], np.ndarray]:
    """The distinct normalised hosts of distinct raw hosts, and each raw host's index among them."""
    names = raw.to_pylist()
    data, begin, end = text_bytes(raw)
    # A host is its own normal form (``normalise_host``) when it is printable ASCII without upper
    # case, user info, port, query, fragment, IPv6 bracket or trailing dot.
    bad = (data - np.uint8(0x21)) > 0x7E - 0x21
    bad |= (data - np.uint8(0x41)) <= 0x5A - 0x41
    for char in b":@?#[":
        bad |= data == char
    marked = np.flatnonzero(bad)
    unclean = np.searchsorted(marked, begin) < np.searchsorted(marked, end)
    filled = end > begin
    unclean[filled] |= data[end[filled] - 1] == 0x2E
    if not unclean.any():  # all distinct and already normalised
        return names, np.arange(len(names), dtype=np.int64)
    hosts: list[str] = []
    position: dict[str, int] = {}
    slots: list[int] = []
    for name, dirty in zip(names, unclean.tolist(), strict=True):
        host = _clean_host(name) if dirty else name
        slot = position.get(host)
        if slot is None:
            slot = position[host] = len(hosts)
            hosts.append(host)
        slots.append(slot)
    return hosts, np.array(slots, dtype=np.int64)


def split_url(url: str) -> tuple[str, str] | None:
    """(host, path-with-query) of an absolute URL or of ``host/path``; None if there is no host."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        rest = text[2:] if text.startswith("//") else text
    elif not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return None
    rest = rest.partition("#")[0]
    cut = len(rest)
    for ch in "/?":
        i = rest.find(ch)
        if i != -1 and i < cut:
            cut = i
    host = normalise_host(rest[:cut])
    path = rest[cut:] or "/"
    if path.startswith("?"):
        path = "/" + path
    if not host:
        return None
    return host, path


@dataclass(frozen=True)
class UrlRule:
    host: str
    path_prefix: str = "/"

    def matches(self, host: str, path: str) -> bool:
        return host_within(host, self.host) and path.startswith(self.path_prefix)

    def __str__(self) -> str:
        return self.host + ("" if self.path_prefix == "/" else self.path_prefix)


def host_within(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or a subdomain of it."""
    return host == domain or host.endswith("." + domain)


def parse_url_rule(text: str, *, allow_path: bool = True) -> UrlRule:
    """A rule from ``host``, ``host/path`` or ``scheme://host/path``; ValueError says what is wrong."""
    value = text.strip()
    if not value:
        raise ValueError("empty domain or URL prefix")
    if value.startswith("*."):
        value = value[2:]  # "*.example.com" means what "example.com" means
    parts = split_url(value)
    if parts is None:
        raise ValueError(f"{text!r} is not a host, host/path or URL")
    host, path = parts
    if not host or any(c.isspace() for c in host) or ".." in host or host.startswith("."):
        raise ValueError(f"{text!r} has no valid host")
    if not allow_path and path != "/":
        raise ValueError(f"{text!r} must be a domain without a path")
    if registrable_domain(host) == "":
        raise ValueError(f"{host!r} is a public suffix; list a registrable domain such as example.{host}")
    return UrlRule(host=host, path_prefix=path)


class HostIndex(Generic[T]):
    """Rules with payloads, looked up by (host, path)."""

    def __init__(self, items: Iterable[tuple[UrlRule, T]] = ()) -> None:
        self._by_domain: dict[str, list[tuple[UrlRule, T]]] = {}
        for rule, payload in items:
            self.add(rule, payload)

    def add(self, rule: UrlRule, payload: T) -> None:
        self._by_domain.setdefault(registrable_domain(rule.host), []).append((rule, payload))

    def domains(self) -> set[str]:
        """Registrable domains that some rule covers."""
        return set(self._by_domain)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_domain.values())

    def candidates(self, host: str) -> list[tuple[UrlRule, T]]:
        """Rules whose host covers ``host`` (path not yet checked)."""
        found = self._by_domain.get(registrable_domain(host))
        if not found:
            return []
        return [(r, p) for r, p in found if host_within(host, r.host)]

    def match(self, host: str, path: str) -> list[tuple[UrlRule, T]]:
        return [(r, p) for r, p in self.candidates(host) if path.startswith(r.path_prefix)]
