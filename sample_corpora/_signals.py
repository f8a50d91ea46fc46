"""Rights and opt-out raw material for ``sample_corpora/registries/``, and the reference reading of it.

The tables below are the single source of truth: ``write_registries`` renders them as files, and
``expected_opt_outs`` applies them to one record the way the README says a correct audit should
(latest snapshot captured on or before the crawl date; opt-out list entries apply from their
effective date). This is a reference for the planted expectations, not the auditor's implementation.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

D = dt.date
AI_AGENTS = ("GPTBot", "CCBot", "ClaudeBot", "Google-Extended")

# host -> [(capture date, {user agent: [disallowed path prefixes]})], oldest first.
ROBOTS: dict[str, list[tuple[dt.date, dict[str, list[str]]]]] = {
    "news.example.co.uk": [
        (D(2024, 6, 1), {"*": ["/admin/", "/search"]}),
        (D(2025, 6, 1), {"GPTBot": ["/"], "CCBot": ["/"], "*": ["/admin/", "/search"]}),
    ],
    "www.example.com": [(D(2024, 1, 15), {"*": ["/private/", "/tmp/"]})],
    "magazine.example.net": [(D(2024, 9, 1), {"Google-Extended": ["/"], "ClaudeBot": ["/archive/"], "*": []})],
    "blog.example.net": [(D(2024, 10, 1), {"*": ["/wp-admin/"]})],
    "shop.example.de": [(D(2024, 5, 1), {"*": ["/warenkorb/", "/konto/"]})],
    "recipes.example.org": [(D(2024, 2, 1), {"*": []})],
    "bbs.example.cn": [
        (D(2024, 12, 1), {"*": ["/member/"]}),
        (D(2025, 8, 1), {"GPTBot": ["/"], "CCBot": ["/"], "Bytespider": ["/"], "*": ["/member/"]}),
    ],
    "news.example.cn": [(D(2024, 11, 1), {"*": []})],
}

AITXT: dict[str, list[tuple[dt.date, str]]] = {
    "blog.example.net": [(D(2025, 3, 1), "\n".join([
        "# ai.txt for blog.example.net",
        "# Spawning AI: prevent datasets from using the following file types",
        "User-Agent: *",
        "Disallow: /",
        *(f"Disallow: *.{ext}" for ext in ("txt", "html", "htm", "pdf", "doc", "docx", "jpg", "jpeg", "png")),
        "",
    ]))],
}

TDMREP: dict[str, list[tuple[dt.date, list[dict[str, Any]]]]] = {
    "shop.example.de": [(D(2025, 1, 20), [
        {"location": "/katalog/*", "tdm-reservation": 1,
         "tdm-policy": "https://shop.example.de/.well-known/tdm-policy.json"},
        {"location": "/blog/*", "tdm-reservation": 0},
    ])],
}

# kind: domain (host and its subdomains) | url (exact) | url_prefix | work (a works.csv id).
OPTOUT: list[tuple[str, str, dt.date, str]] = [
    ("domain", "recipes.example.org", D(2025, 9, 15), "Example Recipes Co."),
    ("url", "https://www.example.com/guides/seal-a-draughty-window-before-winter", D(2025, 5, 1), "Dana Whitfield"),
    ("url", "https://www.example.com/guides/hang-a-heavy-mirror-safely", D(2025, 5, 1), "Dana Whitfield"),
    ("url_prefix", "https://magazine.example.net/contributors/", D(2025, 2, 1), "Example Magazine Contributors Guild"),
    ("domain", "news.example.cn", D(2026, 1, 1), "临江日报社"),
    ("work", "W001", D(2024, 3, 1), "Lanternfish Press Ltd."),
    ("work", "W005", D(2025, 1, 1), "青石文化出版有限公司"),
]

HOLDERS: list[tuple[str, list[str], str, dt.date]] = [
    ("Example News Ltd", ["news.example.co.uk"], "all rights reserved; TDM reserved under DSM art. 4(3)", D(2020, 1, 1)),
    ("Lanternfish Press Ltd.", ["books.example.com"], "all rights reserved; licences on request", D(2015, 6, 1)),
    ("Example Shop GmbH", ["shop.example.de"], "Nutzungsvorbehalt nach § 44b UrhG (TDM reserved)", D(2023, 5, 1)),
    ("临江日报社", ["news.example.cn"], "版权所有，未经授权不得转载", D(2018, 1, 1)),
    ("青石文化出版有限公司", ["qingshi.example.cn"], "版权所有", D(2016, 3, 1)),
]

WORKS_HEADER = ["id", "title", "rights_holder", "authors", "author_death_year", "publication_year",
                "jurisdiction", "status", "file"]
WORKS: list[list[str]] = [
    ["W001", "The Salt Archivist", "Lanternfish Press Ltd.", "Maren Okafor-Lind", "", "2021", "GB", "in-copyright",
     "works/W001-the-salt-archivist.txt"],
    ["W002", "Notes from a Tidal Garden", "Lanternfish Press Ltd.", "Tobias Hale", "", "2019", "GB", "in-copyright",
     "works/W002-notes-from-a-tidal-garden.txt"],
    ["W003", "The Quiet Arithmetic of Bridges", "Estate of Ines Valcourt", "Ines Valcourt", "1968", "1955", "FR",
     "in-copyright", "works/W003-the-quiet-arithmetic-of-bridges.txt"],
    ["W004", "Address delivered at the dedication of the cemetery at Gettysburg", "", "Abraham Lincoln", "1865",
     "1863", "US", "public-domain", "works/W004-gettysburg-address.txt"],
    ["W005", "灯塔下的邮局", "青石文化出版有限公司", "林晓舟", "", "2020", "CN", "in-copyright",
     "works/W005-dengta-xia-de-youju.txt"],
]


def robots_text(host: str, groups: dict[str, list[str]]) -> str:
    lines = [f"# robots.txt for {host}"]
    for agent, prefixes in groups.items():
        lines.append(f"User-agent: {agent}")
        lines.extend(f"Disallow: {p}" for p in prefixes) if prefixes else lines.append("Allow: /")
        lines.append("")
    lines.append(f"Sitemap: https://{host}/sitemap.xml")
    return "\n".join(lines) + "\n"


def write_registries(root: Path) -> None:
    """Write robots/, aitxt/, tdmrep/, works.csv, optout.csv and holders.csv under ``root``."""
    for host, snapshots in ROBOTS.items():
        for captured, groups in snapshots:
            _write(root / "robots" / host / f"{captured}.txt", robots_text(host, groups))
    for host, snaps in AITXT.items():
        for captured, text in snaps:
            _write(root / "aitxt" / host / f"{captured}.txt", text)
    for host, snaps in TDMREP.items():
        for captured, rules in snaps:
            _write(root / "tdmrep" / host / f"{captured}.json", json.dumps(rules, indent=2, ensure_ascii=False) + "\n")
    _write_csv(root / "works.csv", WORKS_HEADER, WORKS)
    _write_csv(root / "optout.csv", ["kind", "value", "effective_date", "holder"],
               [[k, v, d.isoformat(), h] for k, v, d, h in OPTOUT])
    _write_csv(root / "holders.csv", ["holder", "domains", "terms", "since"],
               [[h, ";".join(doms), terms, since.isoformat()] for h, doms, terms, since in HOLDERS])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _latest(snapshots: list[tuple[dt.date, Any]], day: dt.date) -> tuple[dt.date, Any] | None:
    found = [s for s in snapshots if s[0] <= day]
    return found[-1] if found else None


def _host_matches(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def expected_opt_outs(url: str | None, crawled: dt.date | None, headers: str = "",
                      works: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The opt-out signals a correct audit reports for one record (empty list: none apply)."""
    found: list[dict[str, str]] = []
    parts = urlsplit(url) if url else None
    host, path = (parts.hostname or "", parts.path or "/") if parts else ("", "/")
    if crawled and host in ROBOTS and (snap := _latest(ROBOTS[host], crawled)):
        captured, groups = snap
        agents = AI_AGENTS + tuple(a for a in groups if a not in AI_AGENTS and a != "*")
        blocked = [a for a in agents if any(path.startswith(p) for p in groups.get(a, groups.get("*", [])))]
        if blocked:
            found.append({"signal": "robots", "detail": "disallows " + ", ".join(blocked),
                          "effective": captured.isoformat()})
    if crawled and host in AITXT and (snap := _latest(AITXT[host], crawled)):
        found.append({"signal": "ai.txt", "detail": "User-Agent: * Disallow: /", "effective": snap[0].isoformat()})
    header_value = _header(headers, "tdm-reservation")
    if header_value == "1":
        found.append({"signal": "tdmrep", "detail": "tdm-reservation: 1 (HTTP header)",
                      "effective": crawled.isoformat() if crawled else ""})
    elif header_value is None and crawled and host in TDMREP and (snap := _latest(TDMREP[host], crawled)):
        for rule in snap[1]:
            prefix = rule["location"].rstrip("*")
            if path.startswith(prefix):
                if rule["tdm-reservation"] == 1:
                    found.append({"signal": "tdmrep", "detail": f"tdmrep.json {rule['location']} reserved",
                                  "effective": snap[0].isoformat()})
                break
    for kind, value, effective, holder in OPTOUT:
        applies = (
            (kind == "domain" and _host_matches(host, value))
            or (kind == "url" and url == value)
            or (kind == "url_prefix" and url is not None and url.startswith(value))
            or (kind == "work" and value in works)
        )
        if applies and (crawled is None or crawled >= effective):
            found.append({"signal": "registry", "detail": f"{kind} {value} ({holder})", "effective": effective.isoformat()})
    return found


def holder_for(url: str | None) -> str | None:
    host = (urlsplit(url).hostname or "") if url else ""
    for holder, domains, _terms, _since in HOLDERS:
        if any(_host_matches(host, d) for d in domains):
            return holder
    return None


def _header(headers: str, name: str) -> str | None:
    for line in headers.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None
