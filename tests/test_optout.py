"""The opt-out stage: robots.txt, ai.txt, TDMRep, opt-out lists and holder terms, by crawl date."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.registry import Registries, load_registries
from auditor.registry.signals import location_matches, parse_tdm_headers, parse_tdm_meta
from auditor.stages.base import StageContext
from auditor.stages.optout import OPT_OUT_TYPE, OptOutStage
from auditor.stages.rights import RightsStage

AS_OF = dt.date(2026, 11, 24)
D = dt.date
OPTED_TEXT = "this exact text was opted out by its author"
_VOCAB = ("anchor basket candle desert ember fabric gravel harbour island jacket kettle ladder meadow "
          "needle oyster pepper quarry ribbon saddle timber umbrella velvet wagon yellow zebra")
WORK = " ".join(random.Random(7).choice(_VOCAB.split()) + str(i % 10) for i in range(600))
FILES = {
    "robots/news.example.co.uk/2024-06-01.txt": "User-agent: *\nDisallow: /admin/\n",
    "robots/news.example.co.uk/2025-06-01.txt":
        "User-agent: GPTBot\nDisallow: /\n\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: *\nDisallow: /admin/\n",
    "robots/www.example.com/2024-01-15.txt": "User-agent: *\nDisallow: /private/\n",
    "robots/tie.example.org/2024-01-01.txt":
        "User-agent: GPTBot\nDisallow: /news/\nAllow: /news/public/\nDisallow: /same\nAllow: /same\n",
    "robots/searchonly.example.org/2024-01-01.txt": "User-agent: OAI-SearchBot\nDisallow: /\n",
    "aitxt/blog.example.net/2025-03-01.txt": "# Spawning ai.txt\nUser-Agent: *\nDisallow: /\n",
    "aitxt/files.example.net/2025-03-01.txt": "User-Agent: *\nDisallow: *.pdf\n",
    "tdmrep/shop.example.de/2025-01-20.json": json.dumps([
        {"location": "/katalog/*", "tdm-reservation": 1, "tdm-policy": "https://shop.example.de/policy.json"},
        {"location": "/blog/*", "tdm-reservation": 0}]),
    "tdmrep/shop.example.de/2026-01-01.json": json.dumps([{"location": "/*", "tdm-reservation": 1}]),
    "works.csv": "id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,status,file\n"
                 "W1,Work,Press,Ann,,2020,EU,in-copyright,w1.txt\n",
    "w1.txt": WORK,
    "optout.csv": "kind,value,effective_date,holder\n"
                  "url,https://www.example.com/guides/a,2025-05-01,Dana\n"
                  "domain,recipes.example.org,2025-09-15,Recipes Co\n"
                  "url_prefix,https://magazine.example.net/contributors/,2025-02-01,\n"
                  f"content_sha256,{hashlib.sha256(OPTED_TEXT.encode()).hexdigest()},2025-01-01,\n"
                  "work,W1,2024-03-01,Press\n",
    "holders.csv": "holder,domains,terms,since\n"
                   "News Ltd,news.example.co.uk,all rights reserved,2020-01-01\n"
                   "Shop GmbH,shop.example.de,Nutzungsvorbehalt nach § 44b UrhG,2025-05-01\n"
                   "Partner,partner.example.org,licensed under contract P-1,\n",
}


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Registries:
    root = tmp_path_factory.mktemp("optreg")
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load_registries([root], as_of=AS_OF)


def run(registries: Registries, rows: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    columns: dict[str, pa.Array] = {
        "record_id": pa.array([f"r{i}" for i in range(len(rows))]),
        "url": pa.array([r.get("url") for r in rows], pa.string()),
        "text": pa.array([r.get("text", "some text") for r in rows], pa.large_string()),
        "crawl_date": pa.array([r.get("crawl") for r in rows], pa.date32()),
    }
    for extra in ("http_headers", "html_meta"):
        if any(extra in r for r in rows):
            columns[extra] = pa.array([r.get(extra) for r in rows], pa.string())
    batch = pa.RecordBatch.from_pydict(columns)
    stage = OptOutStage(registries)
    stage.setup(StageContext(as_of=AS_OF))
    out = stage(batch)
    assert out.schema.field("opt_out").type == OPT_OUT_TYPE
    return out.column("opt_out").to_pylist()


def signals(registries: Registries, **row: object) -> list[tuple[str, bool, str]]:
    return [(s["signal"], s["effective"], s["detail"]) for s in run(registries, [row])[0]]


def kinds(found: list[tuple[str, bool, str]]) -> list[tuple[str, bool]]:
    return [(s, e) for s, e, _ in found]


# (url, crawl date, expected (signal, effective) for robots/ai.txt, a detail fragment)
ROBOTS = [
    # In force 2024-06-01 (allows AI agents), later capture disallows GPTBot and CCBot.
    ("https://news.example.co.uk/a", D(2025, 1, 1), [("robots", False)], "captured after 2025-01-01"),
    ("https://news.example.co.uk/a", D(2025, 6, 1), [("robots", True)], "GPTBot, CCBot disallowed /a"),
    ("https://news.example.co.uk/a", D(2026, 3, 1), [("robots", True)], "(robots news.example.co.uk 2025-06-01)"),
    # Before the first capture: no snapshot in force.
    ("https://news.example.co.uk/a", D(2024, 1, 1), [("robots", False)], "no snapshot in force"),
    # The * group covers every training agent; www. and the bare host share snapshots.
    ("https://www.example.com/private/x", D(2025, 1, 1), [("robots", True)], "all AI training agents"),
    ("https://example.com/private/x", D(2025, 1, 1), [("robots", True)], "all AI training agents"),
    ("https://www.example.com/public/x", D(2025, 1, 1), [], ""),
    ("https://www.example.com/private/x", D(2023, 1, 1), [("robots", False)], "captured after 2023-01-01: no snapshot in force"),
    ("https://www.example.com/public/x", D(2023, 1, 1), [("robots", False)], "no snapshot of www.example.com on or before 2023-01-01 (first capture 2024-01-15)"),
    # Longest match wins; allow wins a tie (RFC 9309).
    ("https://tie.example.org/news/public/x", D(2025, 1, 1), [], ""),
    ("https://tie.example.org/news/x", D(2025, 1, 1), [("robots", True)], "GPTBot disallowed /news/x"),
    ("https://tie.example.org/same", D(2025, 1, 1), [], ""),
    # Only a non-training agent is disallowed: no opt-out from AI training.
    ("https://searchonly.example.org/x", D(2025, 1, 1), [], ""),
    # Another subdomain has no snapshot of its own.
    ("https://other.example.com/private/x", D(2025, 1, 1), [], ""),
    # ai.txt: * counts; file-type patterns.
    ("https://blog.example.net/post", D(2025, 4, 1), [("ai.txt", True)], "(ai.txt blog.example.net 2025-03-01)"),
    ("https://blog.example.net/post", D(2025, 2, 1), [("ai.txt", False)], "no snapshot in force"),
    ("https://files.example.net/doc.pdf", D(2025, 4, 1), [("ai.txt", True)], "disallowed /doc.pdf"),
    ("https://files.example.net/page.html", D(2025, 4, 1), [], ""),
]


@pytest.mark.parametrize(("url", "crawl", "expected", "fragment"), ROBOTS)
def test_robots_and_aitxt(registries: Registries, url: str, crawl: dt.date,
                          expected: list[tuple[str, bool]], fragment: str) -> None:
    found = [s for s in signals(registries, url=url, crawl=crawl) if s[0] in ("robots", "ai.txt")]
    assert kinds(found) == expected
    assert all(fragment in d for _, _, d in found)


TDM = [
    # File rule, first match; reservation 1 with policy; in force from its capture date.
    ({"url": "https://shop.example.de/katalog/1", "crawl": D(2025, 3, 1)}, [("tdmrep", True)],
     "tdm-reservation=1 from file tdmrep shop.example.de 2025-01-20; policy https://shop.example.de/policy.json"),
    ({"url": "https://shop.example.de/katalog/1", "crawl": D(2024, 12, 5)}, [("tdmrep", False)],
     "captured after 2024-12-05: not in force"),
    # /blog/* says 0: not reserved; a later capture reserves everything (not in force).
    ({"url": "https://shop.example.de/blog/x", "crawl": D(2025, 3, 1)}, [("tdmrep", False)],
     "tdmrep shop.example.de 2026-01-01, captured after 2025-03-01"),
    ({"url": "https://shop.example.de/blog/x", "crawl": D(2026, 2, 1)}, [("tdmrep", True)], "file tdmrep"),
    # Header overrides file; meta overrides header.
    ({"url": "https://shop.example.de/blog/x", "crawl": D(2025, 3, 1), "http_headers": "Tdm-Reservation: 1\r\n"},
     [("tdmrep", True)], "tdm-reservation=1 from header"),
    ({"url": "https://shop.example.de/katalog/1", "crawl": D(2025, 3, 1), "http_headers": "tdm-reservation: 0"},
     [("tdmrep", False), ("tdmrep", False)], "tdm-reservation=0 from header overrides 1 from file"),
    ({"url": "https://shop.example.de/katalog/1", "crawl": D(2025, 3, 1), "http_headers": "tdm-reservation: 0",
      "html_meta": '<meta name="tdm-reservation" content="1"><meta name="tdm-policy" content="https://p">'},
     [("tdmrep", True)], "tdm-reservation=1 from meta; policy https://p"),
    # Header/meta alone, on a site without a file; JSON meta form; unset values.
    ({"url": "https://any.example.org/x", "crawl": D(2025, 3, 1), "html_meta": '{"tdm-reservation": 1}'},
     [("tdmrep", True)], "from meta"),
    ({"url": "https://any.example.org/x", "crawl": D(2025, 3, 1), "http_headers": "tdm-reservation: maybe"}, [], ""),
    ({"url": "https://any.example.org/x", "crawl": D(2025, 3, 1), "http_headers": "tdm-reservation: 0"}, [], ""),
]


@pytest.mark.parametrize(("row", "expected", "fragment"), TDM)
def test_tdmrep(registries: Registries, row: dict[str, object], expected: list[tuple[str, bool]],
                fragment: str) -> None:
    found = [s for s in signals(registries, **row) if s[0] == "tdmrep"]
    assert kinds(found) == expected
    assert any(fragment in d for _, _, d in found) or not found


LISTS = [
    ({"url": "https://www.example.com/guides/a", "crawl": D(2025, 5, 1)}, [("optout-list", True)],
     "url www.example.com/guides/a opted out by Dana since 2025-05-01"),
    ({"url": "https://www.example.com/guides/a", "crawl": D(2025, 4, 30)}, [("optout-list", False)],
     "since 2025-05-01, after 2025-04-30"),
    ({"url": "https://www.example.com/guides/a/b", "crawl": D(2025, 6, 1)}, [], ""),
    ({"url": "https://cdn.recipes.example.org/x", "crawl": D(2025, 10, 1)}, [("optout-list", True)],
     "domain recipes.example.org opted out by Recipes Co"),
    ({"url": "https://badrecipes.example.org/x", "crawl": D(2025, 10, 1)}, [], ""),
    ({"url": "https://magazine.example.net/contributors/ann", "crawl": D(2025, 3, 1)}, [("optout-list", True)],
     "url_prefix magazine.example.net/contributors/"),
    ({"url": "https://magazine.example.net/news/", "crawl": D(2025, 3, 1)}, [], ""),
    ({"url": None, "text": OPTED_TEXT, "crawl": D(2025, 3, 1)}, [("optout-list", True)], "content hash opted out"),
    ({"url": None, "text": OPTED_TEXT + ".", "crawl": D(2025, 3, 1)}, [], ""),
    # Holder terms: reserved since a date; licensed terms are no opt-out.
    ({"url": "https://shop.example.de/impressum", "crawl": D(2025, 4, 1)}, [("holder-terms", False)],
     "Shop GmbH: opt-out (Nutzungsvorbehalt nach § 44b UrhG) since 2025-05-01, after 2025-04-01"),
    ({"url": "https://partner.example.org/x", "crawl": D(2025, 4, 1)}, [], ""),
]


@pytest.mark.parametrize(("row", "expected", "fragment"), LISTS)
def test_lists_and_holder_terms(registries: Registries, row: dict[str, object],
                                expected: list[tuple[str, bool]], fragment: str) -> None:
    found = [s for s in signals(registries, **row) if s[0] in ("optout-list", "holder-terms")]
    assert kinds(found) == expected
    assert all(fragment in d for _, _, d in found)


def test_unknown_crawl_date_is_evaluated_as_of_and_said(registries: Registries) -> None:
    found = signals(registries, url="https://news.example.co.uk/a", crawl=None)
    assert kinds(found) == [("holder-terms", True), ("robots", True)]
    assert all(d.endswith("crawl date unknown, evaluated as of 2026-11-24") for _, _, d in found)


def test_work_optout_needs_the_rights_column(registries: Registries) -> None:
    text = "Quoted at length: " + WORK[1000:2500]
    batch = pa.RecordBatch.from_pydict({
        "url": pa.array([None, None], pa.string()), "text": pa.array([text, "nothing"], pa.large_string()),
        "crawl_date": pa.array([D(2024, 2, 1), D(2024, 2, 1)], pa.date32())})
    rights, optout = RightsStage(registries), OptOutStage(registries)
    for stage in (rights, optout):
        stage.setup(StageContext(as_of=AS_OF))
    plain = optout(batch).column("opt_out").to_pylist()
    assert plain == [[], []]  # without the rights stage there is no work match to go by
    out = optout(rights(batch)).column("opt_out").to_pylist()
    assert [(s["signal"], s["effective"]) for s in out[0]] == [("optout-list", False)]
    assert "work W1 opted out by Press since 2024-03-01, after 2024-02-01" in out[0][0]["detail"]
    assert out[1] == []


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("/katalog/*", "/katalog/x", True), ("/katalog/*", "/blog/x", False), ("/*.pdf$", "/a/b.pdf", True),
    ("/*.pdf$", "/a/b.pdf?x", False), ("/", "/anything", True), ("/a$", "/a", True), ("/a$", "/ab", False),
])
def test_tdm_location_patterns(pattern: str, path: str, expected: bool) -> None:
    assert location_matches(pattern, path) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("HTTP/1.1 200 OK\r\ntdm-reservation: 1\r\ntdm-policy: https://x/p.json\r\n", (1, "https://x/p.json")),
    ("TDM-Reservation: 0\n", (0, None)),
    ("tdm-reservation: 1\ntdm-reservation: 0\n", (0, None)),
    ("content-type: text/html\n", (None, None)),
])
def test_header_parsing(text: str, expected: tuple[int | None, str | None]) -> None:
    assert parse_tdm_headers(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('<head><META NAME="tdm-reservation" CONTENT="1"></head>', (1, None)),
    ("<meta content='0' name='tdm-reservation'><meta name=tdm-policy content=https://p>", (0, "https://p")),
    ('{"tdm-reservation": "1", "tdm-policy": "https://q"}', (1, "https://q")),
    ("<meta name='description' content='tdm-reservation'>", (None, None)),
])
def test_meta_parsing(text: str, expected: tuple[int | None, str | None]) -> None:
    assert parse_tdm_meta(text) == expected


urls_st = st.one_of(st.none(), st.sampled_from([
    "https://news.example.co.uk/a", "https://www.example.com/private/x", "https://shop.example.de/katalog/1",
    "https://recipes.example.org/", "not a url", "https://[::1]:8080/x", "ftp://x/y"]), st.text(max_size=30))
dates_st = st.one_of(st.none(), st.dates(min_value=D(2020, 1, 1), max_value=D(2027, 1, 1)))


@given(rows=st.lists(st.tuples(urls_st, dates_st), min_size=1, max_size=10))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_stage_only_adds_a_column_and_is_deterministic(registries: Registries,
                                                       rows: list[tuple[str | None, dt.date | None]]) -> None:
    batch = pa.RecordBatch.from_pydict({"url": pa.array([u for u, _ in rows], pa.string()),
                                        "crawl_date": pa.array([d for _, d in rows], pa.date32())})
    stage = OptOutStage(registries)
    stage.setup(StageContext(as_of=AS_OF))
    first, second = stage(batch), stage(batch)
    assert first.num_rows == batch.num_rows and first.schema.names == ["url", "crawl_date", "opt_out"]
    assert first.column("opt_out").equals(second.column("opt_out"))
    for signal in (s for row in first.column("opt_out").to_pylist() for s in row):
        assert signal["signal"] in ("robots", "ai.txt", "tdmrep", "optout-list", "holder-terms")


def test_stage_without_registries(tmp_path: Path) -> None:
    empty = load_registries([], as_of=AS_OF)
    assert run(empty, [{"url": "https://news.example.co.uk/a", "crawl": D(2026, 1, 1)}]) == [[]]
