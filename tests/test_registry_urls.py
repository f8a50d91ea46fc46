"""URL rules: public-suffix-aware host matching and path prefixes."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.registry.urls import (
    HostIndex,
    normalise_host,
    parse_url_rule,
    quick_host,
    registrable_domain,
    split_url,
    url_hosts,
)

SPLITS = [
    ("https://News.Example.co.uk/a/b?x=1#frag", ("news.example.co.uk", "/a/b?x=1")),
    ("http://user:pw@example.com:8080", ("example.com", "/")),
    ("https://example.com?q=1", ("example.com", "/?q=1")),
    ("example.com/news/", ("example.com", "/news/")),
    ("//cdn.example.com/x", ("cdn.example.com", "/x")),
    ("https://example.com./x", ("example.com", "/x")),
    ("", None),
    ("https:///nohost", None),
]


@pytest.mark.parametrize(("url", "expected"), SPLITS)
def test_split_url(url: str, expected: tuple[str, str] | None) -> None:
    assert split_url(url) == expected


DOMAINS = [
    ("news.example.co.uk", "example.co.uk"),
    ("example.co.uk", "example.co.uk"),
    ("a.b.example.com", "example.com"),
    ("alice.github.io", "alice.github.io"),  # private suffix: each user site is its own domain
    ("co.uk", ""),
    ("localhost", "localhost"),
]


@pytest.mark.parametrize(("host", "expected"), DOMAINS)
def test_registrable_domain(host: str, expected: str) -> None:
    assert registrable_domain(host) == expected


# (rule, url, matches)
MATCHES = [
    ("example.co.uk", "https://news.example.co.uk/story", True),
    ("example.co.uk", "https://example.co.uk/", True),
    ("example.co.uk", "https://badexample.co.uk/", False),
    ("example.co.uk", "https://example.co.uk.evil.com/", False),
    ("news.example.co.uk", "https://example.co.uk/", False),
    ("example.com/news/", "https://example.com/news/2026/a", True),
    ("example.com/news/", "https://example.com/newsletter", False),
    ("https://example.com/news/", "http://www.example.com/news/x", True),
    ("*.example.org", "https://blog.example.org/x", True),
    ("alice.github.io", "https://bob.github.io/x", False),
]


@pytest.mark.parametrize(("rule", "url", "expected"), MATCHES)
def test_rule_matching(rule: str, url: str, expected: bool) -> None:
    parsed = parse_url_rule(rule)
    host, path = split_url(url) or ("", "/")
    assert parsed.matches(host, path) is expected
    index = HostIndex([(parsed, "payload")])
    assert (index.match(host, path) != []) is expected


@pytest.mark.parametrize(("text", "error"), [
    ("co.uk", "is a public suffix"),
    ("github.io", "is a public suffix"),
    ("", "empty domain"),
    ("example.com/path", "must be a domain without a path"),
])
def test_bad_rules(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_url_rule(text, allow_path=False)


labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@settings(deadline=None)
@given(sub=st.lists(labels, max_size=3), name=labels, path=st.text(alphabet="abc/", max_size=10))
def test_subdomains_always_belong_to_their_domain(sub: list[str], name: str, path: str) -> None:
    domain = f"{name}.example.co.uk"
    host = ".".join([*sub, domain])
    rule = parse_url_rule(domain)
    assert rule.matches(host, "/" + path)
    assert not rule.matches("x" + host, "/" + path) or sub  # a longer label is another domain


def host_reference(url: str | None) -> str | None:
    """What ``url_hosts`` gives one URL: the bytes after the first "://" up to the next "/" when
    the URL's first "/" opens it, else ``quick_host``; an empty host is none."""
    if url is None:
        return None
    sep = url.find("://")
    if sep > 0 and url.find("/") == sep + 1:
        raw = url[sep + 3:].split("/", 1)[0]
        host = normalise_host(raw.split("?", 1)[0].split("#", 1)[0])
    else:
        host = quick_host(url)
    return host or None


url_text = st.tuples(
    st.sampled_from(["https://", "HTTP://", "a+b://", "://", "x:/", ":///", " http://", "", "//"]),
    st.sampled_from(["", "user@", "u:p@"]),
    st.sampled_from(["example.com", "Example.COM", "ex.com:8080", "ex.com.", "[::1]:80", "ex.com?q=1", "ex.com#f",
                     "ünï.com", "", "a b.com", "ex.com\t", "x\x0bq.com", "sub.site1.example", "EX.com:"]),
    st.sampled_from(["", "/", "/a/b", "?x=/y", "#/z", "/h3/p", "//double", "://again/x"])).map("".join)


@given(urls=st.lists(st.one_of(st.none(), url_text), max_size=25), large=st.booleans(), cut=st.integers(0, 3),
       chunked=st.booleans())
@settings(max_examples=150, deadline=None)
def test_url_hosts_equal_the_per_row_reference(urls: list[str | None], large: bool, cut: int, chunked: bool) -> None:
    array: pa.Array | pa.ChunkedArray = pa.array(urls, pa.large_string() if large else pa.string())
    array = array.slice(min(cut, len(urls)))
    expected = [host_reference(u) for u in urls[min(cut, len(urls)):]]
    if chunked:
        array = pa.chunked_array([array, array], type=array.type)
        expected = expected * 2
    index, hosts = url_hosts(array)
    assert len(set(hosts)) == len(hosts)
    assert [hosts[i] if i >= 0 else None for i in index.tolist()] == expected


def test_url_hosts_of_the_same_array_again_is_an_independent_copy() -> None:
    urls = pa.array(["https://a.example/x", "https://b.example/y", None, "c.example/z"])
    index, hosts = url_hosts(urls)
    index[:] = 0
    hosts.append("mutated")
    again, again_hosts = url_hosts(pa.RecordBatch.from_arrays([urls], names=["url"]).column(0))  # same buffers
    assert [again_hosts[i] if i >= 0 else None for i in again.tolist()] == ["a.example", "b.example", None,
                                                                           "c.example"]
    other, other_hosts = url_hosts(pa.array(["https://d.example/"]))  # new data: computed afresh
    assert [other_hosts[i] for i in other.tolist()] == ["d.example"]
