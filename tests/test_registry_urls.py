"""URL rules: public-suffix-aware host matching and path prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.registry.urls import HostIndex, parse_url_rule, registrable_domain, split_url

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
