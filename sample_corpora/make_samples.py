"""Generate the sample corpora that the README's quick start audits (``auditor scan sample_corpora``).

Usage::

    python sample_corpora/make_samples.py            # (re)write every generated file in sample_corpora/
    python sample_corpora/make_samples.py --out DIR  # write elsewhere (registries/works/ is read from here)
    python sample_corpora/make_samples.py --tables   # also print the README's generated tables
    python sample_corpora/make_samples.py --check    # re-read the files and check README's promises

Deterministic: fixed seeds, Faker seeded per locale, no date relative to today, gzip without a
timestamp; two runs give byte-identical files. ``expected.json`` lists, for every record, what a
correct audit should report (see README.md). Hand-written inputs: ``registries/works/*.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from _check import check
from _corpora import build_chinese, build_code, build_open_dataset
from _plant import Filler, Pii, Rec, compose, edit_words, english_context, excerpt, finish_clusters
from _readme import render, update_readme
from _signals import ROBOTS, expected_opt_outs, holder_for, write_registries
from _text_bank import FILLERS, FURNITURE, TOPICS
from faker import Faker

SEED = 20261124
AS_OF = "2026-11-24"
HERE = Path(__file__).resolve().parent
WEB_START, WEB_DAYS = dt.date(2024, 11, 1), 718  # crawl window: 2024-11-01 .. 2026-10-19
GENERATED = ("webcrawl", "open_dataset", "code", "chinese", "evidence", "registries/robots", "registries/aitxt",
             "registries/tdmrep", "registries/works.csv", "registries/optout.csv", "registries/holders.csv",
             "expected.json")
# Licence evidence that every page of a site carries in its footer.
SITE_LICENCE = {
    "news.example.co.uk": "copyright notice: © 2024 Example News Ltd. All rights reserved.",
    "example.org": "CC URL: https://creativecommons.org/licenses/by-sa/4.0/ (CC-BY-SA-4.0)",
    "blog.example.net": "CC URL: https://creativecommons.org/licenses/by/4.0/ (CC-BY-4.0)",
    "recipes.example.org": "copyright notice: Recipes © Example Recipes Co.",
    "shop.example.de": "copyright notice: Copyright (c) 2025 Example Shop GmbH. Alle Rechte vorbehalten.",
    "books.example.com": "copyright notice: © 2026 Lanternfish Press Ltd. All rights reserved.",
}
BASE_HEADERS = "content-type: text/html; charset=utf-8\nserver: nginx"
TDM_HEADERS = "tdm-reservation: 1\ntdm-policy: https://example.org/tdm-policy.json"


class Web:
    """Builds the web-crawl records: regular pages per site plus the planted ones."""

    def __init__(self, pii: Pii) -> None:
        self.rng = random.Random(SEED + 1)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(SEED + 1)
        self.filler = Filler(self.rng, FILLERS)
        self.pii = pii
        self.recs: list[Rec] = []
        self.urls: set[str] = set()
        self.n = 0

    def day(self, lo: dt.date | None = None, hi: dt.date | None = None) -> dt.date:
        lo = lo or WEB_START
        hi = hi or WEB_START + dt.timedelta(days=WEB_DAYS)
        return lo + dt.timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def url(self, host: str, prefix: str, title: str) -> str:
        slug = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
        base = f"https://{host}{prefix}{re.sub(r'[^a-z0-9]+', '-', slug).strip('-')[:60]}"
        url, k = base, 2
        while url in self.urls:
            url, k = f"{base}-{k}", k + 1
        return url

    def article(self, topic: str, n_body: int | None = None, quotes: int = 1,
                ctx: dict[str, str] | None = None) -> tuple[str, list[str]]:
        ctx = ctx if ctx is not None else english_context(self.rng, self.fake)
        bank = TOPICS[topic]
        n = n_body if n_body is not None else self.rng.randrange(5, len(bank["body"]) + 1)
        return compose(self.filler, bank, ctx, n, self.rng, quotes=quotes)

    def add(self, host: str, url: str | None, title: str, paragraphs: list[str], day: dt.date, *,
            lang_hint: str | None = "en", headers: str = "", furniture: str | None = None, text: str | None = None,
            **expect: Any) -> Rec:
        nav, footer = FURNITURE[furniture or host]
        if text is None:
            text = "\n\n".join([nav, title, *paragraphs, footer])
        seconds = self.rng.randrange(86400)
        crawled = dt.datetime.combine(day, dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60), dt.UTC)
        self.n += 1
        headers = "\n".join(h for h in (BASE_HEADERS, headers) if h)
        rec = Rec({"id": f"wc-{self.n:05d}", "url": url, "crawl_date": crawled, "text": text,
                   "meta": {"lang_hint": lang_hint, "http_headers": headers}}, expect=dict(expect))
        if url:
            self.urls.add(url)
        self.recs.append(rec)
        return rec

    def regular(self, host: str, topic: str, prefix: str, day: dt.date | None = None, lang_hint: str | None = None,
                **kwargs: Any) -> Rec:
        title, paragraphs = self.article(topic)
        expect = {"lang": "de"} if topic == "produkt" else {}
        hint = lang_hint or ("de" if topic == "produkt" else "en")
        return self.add(host, self.url(host, prefix, title), title, paragraphs, day or self.day(), lang_hint=hint,
                        **expect, **kwargs)


SITES: list[tuple[str, str, str, int]] = [
    ("news.example.co.uk", "news", "/news/", 42), ("www.example.com", "guide", "/guides/", 36),
    ("example.org", "report", "/reports/", 20), ("blog.example.net", "hike", "/posts/", 26),
    ("recipes.example.org", "recipe", "/recipes/", 24), ("shop.example.de", "product", "/katalog/en/", 15),
    ("shop.example.de", "produkt", "/katalog/de/", 5), ("magazine.example.net", "review", "/reviews/", 12),
    ("magazine.example.net", "review", "/archive/2024/", 4), ("forum.example.com", "forum", "/t/", 12),
    ("books.example.com", "books", "/titles/", 4),
]


def build_webcrawl(pii: Pii, works: dict[str, str]) -> list[Rec]:
    web = Web(pii)
    for host, topic, prefix, count in SITES:
        for _ in range(count):
            web.regular(host, topic, prefix)
    D = dt.date
    # Specific dates around the signals' effective dates, so that both sides are present.
    web.regular("shop.example.de", "product", "/katalog/en/", D(2024, 12, 5), note="crawled before tdmrep.json capture")
    web.regular("shop.example.de", "produkt", "/katalog/de/", lang_hint="en", note="lang_hint says en, text is German")
    web.regular("shop.example.de", "product", "/blog/", note="tdmrep.json says /blog/* not reserved")
    web.regular("shop.example.de", "product", "/blog/", headers="tdm-reservation: 1",
                note="HTTP header tdm-reservation: 1 overrides tdmrep.json's 0 for /blog/*")
    for i, day in enumerate([D(2025, 1, 12), D(2025, 4, 3), D(2025, 11, 8), D(2026, 6, 30)]):
        title, paragraphs = web.article("review")
        web.add("magazine.example.net", web.url("magazine.example.net", f"/contributors/writer-{i + 1}/", title),
                title, paragraphs, day)
    for _ in range(3):
        web.regular("example.org", "report", "/press/", headers=TDM_HEADERS)
    for slug, task, day in [("seal-a-draughty-window-before-winter", "seal a draughty window", D(2025, 3, 2)),
                            ("hang-a-heavy-mirror-safely", "hang a heavy mirror", D(2025, 7, 19))]:
        ctx = english_context(web.rng, web.fake) | {"task": task}
        title, paragraphs = web.article("guide", ctx=ctx)
        web.add("www.example.com", f"https://www.example.com/guides/{slug}", title, paragraphs, day,
                note="URL on the opt-out list from 2025-05-01")
    for slug in ("members-handbook", "draft-winter-checklist"):
        title, paragraphs = web.article("guide")
        web.add("www.example.com", f"https://www.example.com/private/{slug}", title, paragraphs, web.day(),
                note="robots.txt * disallows /private/")
    web.add("www.example.com", "https://www.example.com/guides/print-view", "", [], web.day(), text="",
            note="empty text (extraction failed)")
    web.add("www.example.com", "https://www.example.com/old-page", "", [], web.day(), lang_hint=None,
            text="404 Not Found\n\nThe page you requested could not be found.", note="error page; lang_hint null")
    _plant_duplicates(web)
    _plant_works(web, works)
    _plant_pii(web)
    for rec in web.recs:
        f = rec.fields
        opt = expected_opt_outs(f["url"], f["crawl_date"].date(), f["meta"]["http_headers"],
                                tuple(w["work"] for w in rec.expect.get("works", [])))
        hint = next((SITE_LICENCE[h] for h, (_, footer) in FURNITURE.items()
                     if h in SITE_LICENCE and footer in f["text"]), None)
        rec.expect.update({k: v for k, v in (("url", f["url"]), ("opt_out", opt), ("holder", holder_for(f["url"])),
                                             ("licence_hint", hint)) if v})
    return sorted(web.recs, key=lambda r: (r.fields["crawl_date"], r.fields["url"] or ""))


def _body_of(rec: Rec) -> tuple[str, str, str]:
    """Split a page into (nav, body, footer) so edits touch only the article."""
    text = rec.fields["text"]
    nav, _, rest = text.partition("\n\n")
    body, _, footer = rest.rpartition("\n\n")
    return nav, body, footer


def _copy(web: Web, rec: Rec, url: str, day: dt.date, text: str, cluster: str, **expect: Any) -> Rec:
    new = web.add("", url, "", [], day, text=text, furniture="www.example.com", **expect)
    new.cluster = cluster
    if rec.cluster is None:
        rec.cluster, rec.is_original = cluster, True
    return new


def _plant_duplicates(web: Web) -> None:
    D = dt.date
    news = [r for r in web.recs if r.fields["url"].startswith("https://news.example.co.uk/news/")]
    mirrored, recrawled = news[0], news[1]
    _copy(web, mirrored, mirrored.fields["url"].replace("https://news.example.co.uk/news/",
                                                        "https://www.example.com/mirror/news/"),
          web.day(), mirrored.fields["text"], "web-exact-mirror", note="exact copy of a news page on a mirror")
    recrawled.fields["crawl_date"] = recrawled.fields["crawl_date"].replace(year=2025, month=3, day=10)
    _copy(web, recrawled, recrawled.fields["url"], D(2025, 8, 20), recrawled.fields["text"], "web-exact-recrawl",
          note="same URL crawled again after the robots.txt change")
    blog = next(r for r in web.recs if r.fields["url"].startswith("https://blog.example.net/posts/"))
    _copy(web, blog, blog.fields["url"] + "?utm_source=newsletter&utm_medium=email", web.day(), blog.fields["text"],
          "web-exact-utm", note="same post with tracking parameters")
    guide = next(r for r in web.recs if r.fields["url"].startswith("https://www.example.com/guides/"))
    spaced = guide.fields["text"].replace("\n\n", " \r\n\r\n").replace(". ", ".  ").replace(", ", ",\u00a0")
    _copy(web, guide, guide.fields["url"] + "/amp", web.day(), spaced + "\n", "web-whitespace-amp",
          note="same text, whitespace differs (double spaces, CRLF, no-break spaces)")
    # Near duplicates of one long news article, edited at several rates.
    ctx = english_context(web.rng, web.fake)
    title, paragraphs = web.article("news", n_body=16, quotes=4, ctx=ctx)
    base = web.add("news.example.co.uk", web.url("news.example.co.uk", "/news/", title), title, paragraphs,
                   D(2025, 2, 14))
    base.cluster, base.is_original = "web-near-news", True
    nav, body, footer = _body_of(base)
    variants = [("https://www.example.com/mirror/news/", 0.05, 2, "5% of words edited in 2 runs"),
                ("https://example.org/syndicated/", 0.10, 3, "10% of words edited in 3 runs"),
                ("https://forum.example.com/t/", 0.20, 4, "20% of words edited in 4 runs"),
                ("https://blog.example.net/links/", 0.05, 0, "5% of words edited, spread out")]
    for prefix, rate, spans, note in variants:
        text = "\n\n".join([nav, edit_words(body, rate, web.rng, spans), footer])
        url = base.fields["url"].replace("https://news.example.co.uk/news/", prefix)
        _copy(web, base, url, web.day(D(2025, 2, 15)), text, "web-near-news", note=note)
    title, paragraphs = web.article("recipe", n_body=12)
    recipe = web.add("recipes.example.org", web.url("recipes.example.org", "/recipes/", title), title, paragraphs,
                     web.day())
    _, body, _ = _body_of(recipe)
    nav, footer = FURNITURE["blog.example.net"]
    text = "\n\n".join([nav, "Jump to recipe | Print recipe", body, "Adapted from a recipe I love.", footer])
    _copy(web, recipe, recipe.fields["url"].replace("recipes.example.org/recipes/", "blog.example.net/recipes-i-love/"),
          web.day(), text, "web-near-boilerplate", note="same recipe inside another site's page furniture")


def _plant_works(web: Web, works: dict[str, str]) -> None:
    D = dt.date
    posts = []
    for _ in range(5):
        title, paragraphs = web.article("hike", n_body=13)
        posts.extend([title, *paragraphs])
    w001 = excerpt(works["W001"], 430, 300)
    posts += ["Books of the winter",
              "The best thing I read in the bothy this winter was a novel a friend had pressed on me in the pub. "
              "I copied out the passage that made me buy my own copy, because I keep thinking about it:",
              w001, "If you read one novel this year about paper, tides and patience, make it this one."]
    rec = web.add("blog.example.net", "https://blog.example.net/2025/01/", "January 2025 archive", posts,
                  D(2025, 1, 20), works=[{"work": "W001", "words": len(w001.split()), "kind": "verbatim excerpt"}],
                  note="monthly archive page (5 posts + a book post), 300-word excerpt of W001 in the middle")
    rec.expect["n_words"] = len(rec.fields["text"].split())
    w002 = excerpt(works["W002"], 120, 320).replace("negotiation", "negociation").replace("fishermen's", "fishermens")
    quoted = "\n".join("> " + line for line in _wrap(w002, 72))
    title, paragraphs = web.article("forum")
    web.add("forum.example.com", web.url("forum.example.com", "/t/", "seaside garden advice book quote"),
            "Seaside garden advice, this book changed everything", [
                paragraphs[0], "Someone asked what to plant on an exposed plot. This bit from a book I borrowed "
                "from the library says it better than I can:", quoted, *paragraphs[1:]], web.day(),
            works=[{"work": "W002", "words": len(w002.split()),
                    "kind": "excerpt, re-wrapped with '> ' quote marks and 2 typos"}])
    for prefix, start, n_words, kind in [("/archive/2024/", 260, 350, "verbatim excerpt"),
                                         ("/reviews/", 905, 40, "short quotation (negative control)")]:
        title, paragraphs = web.article("review", quotes=1)
        more_title, more = web.article("review", quotes=0)
        quote = excerpt(works["W003"], start, n_words)
        body = [*paragraphs[:2], f"From the chapter on bridges: \"{quote}\"", *paragraphs[2:], more_title, *more]
        expect: dict[str, Any] = {"works": [{"work": "W003", "words": n_words, "kind": kind}]} if n_words >= 300 else {
            "note": f"{n_words}-word quotation of W003 (negative control): no works match expected"}
        web.add("magazine.example.net", web.url("magazine.example.net", prefix, title), title, body,
                D(2025, 5, 2) if n_words >= 300 else web.day(), **expect)
    title, paragraphs = web.article("report")
    web.add("example.org", "https://example.org/events/remembrance-reading", "A reading at the town memorial", [
        paragraphs[0], "Pupils from the secondary school read Lincoln's address in full:", works["W004"].strip(),
        *paragraphs[1:]], web.day(),
            works=[{"work": "W004", "words": len(works["W004"].split()), "kind": "full text (public domain)"}])
    title, paragraphs = web.article("books")
    web.add("books.example.com", "https://books.example.com/titles/the-salt-archivist", "The Salt Archivist", [
        *paragraphs[:2], "Read an extract:", excerpt(works["W001"], 0, 150), *paragraphs[2:]], web.day(),
            works_optional=["W001"], note="publisher's own 150-word extract of W001: shorter than 300 words, "
            "so a works match (and the work W001 opt-out) is allowed but not required")


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _plant_pii(web: Web) -> None:
    p = web.pii

    def forum(title: str, *lines: str, pii: dict[str, int], **expect: Any) -> None:
        _, paragraphs = web.article("forum")
        paragraphs[1:1] = list(lines)
        web.add("forum.example.com", web.url("forum.example.com", "/t/", title), title, paragraphs, web.day(),
                pii=pii, **expect)

    forum("Lost cat near the allotments",
          f"If anyone local has seen her, email me at {p.email()} or ring {p.uk_phone()} after six.",
          pii={"email": 1, "phone": 1})
    forum("Router keeps dropping, logs attached",
          f"My WAN address shows as {p.ipv4()} and the router's IPv6 address is {p.ipv6()}.",
          f"Support told me to call them on {p.us_phone()}, which I did, twice.",
          pii={"ip_address": 2, "phone": 1})
    forum("Club subs for next season",
          f"Subs can be paid to the club account, IBAN {p.iban('GB')}, with your surname as the reference.",
          f"Someone posted their full card number in the last thread ({p.card()}), mods please remove it.",
          f"My order number for the kit was {p.card_decoy()}, if that helps the shop find it.",
          pii={"iban": 1, "payment_card": 1}, pii_decoys={"payment_card": 1})
    forum("Letter from the tax office looks fake?",
          f"It quoted my SSN, {p.us_ssn()}, and asked me to reply to {p.email()} within 48 hours.",
          pii={"us_ssn": 1, "email": 1})
    key_id, secret = p.aws_key_pair()
    forum("Backup script cannot reach the bucket",
          "Here is my config, what am I doing wrong?\n[default]\n"
          f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret}\nregion = eu-west-2",
          pii={"aws_access_key": 1, "aws_secret_key": 1}, note="secrets pasted in a forum post")
    title, paragraphs = web.article("report")
    web.add("example.org", "https://example.org/contact", "Contact us", [
        paragraphs[0], f"Press office: {p.email('example.org')}, telephone {p.uk_phone()}.",
        f"Volunteering enquiries: {p.email('example.org')}.", *paragraphs[1:3]], web.day(),
            pii={"email": 2, "phone": 1})
    title, paragraphs = web.article("produkt")
    web.add("shop.example.de", "https://shop.example.de/impressum", "Impressum", [
        "Example Shop GmbH, Musterstraße 1, 10115 Berlin", f"E-Mail: {p.email('shop.example.de')}",
        f"Bankverbindung: IBAN {p.iban('DE')}", *paragraphs[1:3]], web.day(), lang_hint="de",
            pii={"email": 1, "iban": 1}, lang="de")
    title, paragraphs = web.article("news")
    paragraphs.insert(2, "Got a story? Contact the newsdesk: newsdesk@news.example.co.uk.")
    web.add("news.example.co.uk", web.url("news.example.co.uk", "/news/", title), title, paragraphs, web.day(),
            pii={"email": 1}, note="role address of the newsroom")


def write_parquet(path: Path, recs: list[Rec]) -> None:
    schema = pa.schema([
        ("id", pa.string()), ("url", pa.string()), ("crawl_date", pa.timestamp("ms", tz="UTC")), ("text", pa.string()),
        ("meta", pa.struct([("lang_hint", pa.string()), ("http_headers", pa.string())])),
    ])
    table = pa.Table.from_pylist([r.fields for r in recs], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=50, compression="snappy")


def write_crawl_log(path: Path, recs: list[Rec], agent: str) -> None:
    """One JSON line per fetch: the collection record a web-crawl source should be able to show."""
    lines = []
    for rec in sorted(recs, key=lambda r: (str(r.fields.get("crawl_date") or ""), r.fields["url"] or "")):
        f = rec.fields
        when = f.get("crawl_date")
        if when is None:
            continue
        # Web-crawl rows carry timestamps, the Chinese JSONL only dates: log what the crawler kept.
        day = when.date() if isinstance(when, dt.datetime) else dt.date.fromisoformat(when)
        stamp = when.isoformat().replace("+00:00", "Z") if isinstance(when, dt.datetime) else when
        host = (f["url"] or "").split("/")[2] if f.get("url") else ""
        snaps = [d for d, _ in ROBOTS.get(host, []) if d <= day]
        status = 404 if f["text"].startswith("404 Not Found") else 200
        lines.append(json.dumps({
            "fetched_at": stamp, "url": f["url"], "status": status,
            "user_agent": agent, "robots_snapshot": f"registries/robots/{host}/{snaps[-1]}.txt" if snaps else None,
            "content_length": len(f["text"].encode("utf-8")),
        }, ensure_ascii=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(out: Path) -> dict[str, Any]:
    sources = sorted((HERE / "registries" / "works").glob("W*.txt"))
    works = {p.name[:4]: p.read_text(encoding="utf-8") for p in sources}
    if len(works) != 5:
        raise SystemExit(f"expected 5 works in {HERE / 'registries' / 'works'}, found {sorted(works)}")
    if out != HERE:
        (out / "registries" / "works").mkdir(parents=True, exist_ok=True)
        for p in sources:
            shutil.copyfile(p, out / "registries" / "works" / p.name)
    for name in GENERATED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    pii = Pii(SEED + 7)
    shards: dict[str, dict[str, list[Rec]]] = {}
    web = build_webcrawl(pii, works)
    half = len(web) // 2
    shards["webcrawl"] = {"part-00000.parquet": web[:half], "part-00001.parquet": web[half:]}
    for shard, recs in shards["webcrawl"].items():
        write_parquet(out / "webcrawl" / shard, recs)
    write_crawl_log(out / "evidence" / "crawl-log-2026-10.jsonl", web, "ExampleResearchBot/2.1 (+https://crawler.example.com/bot)")
    cross = next(r for r in web if r.fields["url"].startswith("https://example.org/reports/"))
    shards["open_dataset"] = build_open_dataset(out / "open_dataset", pii, works, cross, SEED + 2)
    shards["code"] = build_code(out / "code", pii, SEED + 3)
    shards["chinese"] = build_chinese(out / "chinese", pii, works, SEED + 4)
    write_crawl_log(out / "evidence" / "crawl-log-cn-2026-09.jsonl",
                    [r for recs in shards["chinese"].values() for r in recs if r.fields.get("crawl_date")],
                    "ExampleResearchBot/2.1 (+https://crawler.example.com/bot)")
    (out / "evidence" / "open_dataset-LICENSE.txt").write_text(
        "The sample open dataset (sample_corpora/open_dataset) is released under the Creative Commons\n"
        "Attribution 4.0 International licence (CC BY 4.0): https://creativecommons.org/licenses/by/4.0/legalcode\n"
        "Individual rows may state other terms in their `license` column; see sample_corpora/README.md.\n",
        encoding="utf-8")
    write_registries(out / "registries")
    expected = _expected(shards)
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    update_readme(out / "README.md", expected)
    return expected


def _expected(shards: dict[str, dict[str, list[Rec]]]) -> dict[str, Any]:
    records: dict[str, Any] = {}
    for source, by_shard in shards.items():
        for shard, recs in by_shard.items():
            for row, rec in enumerate(recs):
                rec.record_id = f"{source}/{shard}#{row}"
                entry = dict(rec.expect)
                if rec.cluster:
                    entry["dup_cluster"] = rec.cluster
                records[rec.record_id] = entry
    all_recs = [r for by_shard in shards.values() for recs in by_shard.values() for r in recs]
    return {
        "about": "What a correct audit of sample_corpora should report; written by make_samples.py.",
        "as_of": AS_OF, "seed": SEED,
        "counts": {s: {sh: len(r) for sh, r in by.items()} for s, by in shards.items()},
        "clusters": finish_clusters(all_recs),
        "records": records,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: this folder)")
    parser.add_argument("--tables", action="store_true", help="also print README.md's generated tables")
    parser.add_argument("--check", action="store_true", help="only check the files already in --out")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out.resolve())
        print("\n".join(problems) or "sample corpora: all checks passed")
        return 1 if problems else 0
    expected = generate(args.out.resolve())
    if args.tables:
        print(render(expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
