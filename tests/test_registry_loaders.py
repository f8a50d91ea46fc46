"""Registry folders: each kind loads; broken files give errors naming file, line and what is allowed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from auditor.errors import ConfigError
from auditor.registry import build_fingerprints, check_registry, load_registries, registry_paths
from auditor.registry.fingerprints import SCHEME

AS_OF = dt.date(2026, 11, 24)
WORKS_HEADER = "id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,status,file"
TEXT = " ".join(f"word{i % 97} sentence{i % 13} item{i}" for i in range(400))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def good_folder(root: Path) -> Path:
    return write(root, {
        "works/w1.txt": TEXT,
        "works/w2.txt": "第二部作品的文字，" * 40,
        "works.csv": f"# a comment line\n{WORKS_HEADER},contract\n"
                     "W1,First,Holder A,Ann;Bob,1950;1960,1940,FR,in-copyright,works/w1.txt,\n"
                     "W2,Second,Holder B,,,2001,CN,licensed,works/w2.txt,C-42\n",
        "holders.csv": "holder,domains,terms,since\n"
                       "News Ltd,news.example.co.uk;example.com/news/,all rights reserved,2020-01-01\n"
                       "Partner,partner.example,licensed under contract P-1,\n"
                       "Shop GmbH,shop.example.de,opted out since 2024-05-01,\n",
        "optout.csv": "kind,value,effective_date,holder\n"
                      "url,https://www.example.com/a,2025-05-01,Dana\n"
                      "domain,recipes.example.org,2025-09-15,\n"
                      "url_prefix,https://magazine.example.net/contributors/,2025-02-01,Guild\n"
                      f"content_sha256,{'ab' * 32},2025-01-01,\n"
                      "work,W1,2024-03-01,Holder A\n",
        "robots/news.example.co.uk/2024-06-01.txt": "User-agent: *\nDisallow: /admin/\n",
        "aitxt/blog.example.net/2025-03-01.txt": "User-Agent: *\nDisallow: /\n",
        "tdmrep/shop.example.de/2025-01-20.json": json.dumps([{"location": "/katalog/*", "tdm-reservation": 1}]),
    })


def test_every_kind_loads(tmp_path: Path) -> None:
    reg = load_registries([good_folder(tmp_path / "reg")], as_of=AS_OF)
    assert [f.name for f in reg.folders] == ["default", "reg"]
    w1, w2 = reg.works
    assert (w1.id, w1.authors, w1.death_years, w1.jurisdiction, w1.where) == \
        ("W1", ("Ann", "Bob"), (1950, 1960), "EU", "reg/works.csv:3")
    assert (w2.status, w2.contract, w2.authors, w2.jurisdiction) == ("licensed", "C-42", (), "CN")
    assert all(len(f.windows) > len(f.anchors) > 0 for f in reg.fingerprints)
    terms = {h.name: (h.terms, h.contract, h.since) for h in reg.holders}
    assert terms == {"News Ltd": ("all-rights-reserved", None, dt.date(2020, 1, 1)),
                     "Partner": ("licensed", "P-1", None),
                     "Shop GmbH": ("opt-out", None, dt.date(2024, 5, 1))}
    assert [str(r) for r in reg.holders[0].rules] == ["news.example.co.uk", "example.com/news/"]
    assert [(e.kind, e.value) for e in reg.optouts] == [
        ("url", "www.example.com/a"), ("domain", "recipes.example.org"),
        ("url_prefix", "magazine.example.net/contributors/"), ("content_sha256", "ab" * 32), ("work", "W1")]
    assert sorted((s.kind, s.host, s.captured.isoformat()) for s in reg.snapshots) == [
        ("aitxt", "blog.example.net", "2025-03-01"), ("robots", "news.example.co.uk", "2024-06-01"),
        ("tdmrep", "shop.example.de", "2025-01-20")]
    assert reg.snapshots[-1].tdm_rules[0].reservation == 1
    assert "GPTBot" in [a.token for a in reg.training_agents]
    assert "OAI-SearchBot" not in [a.token for a in reg.training_agents]
    assert check_registry(tmp_path / "reg") == []


def test_shipped_defaults_are_empty_but_valid() -> None:
    reg = load_registries([], as_of=AS_OF)
    assert (reg.works, reg.holders, reg.optouts, reg.snapshots) == ((), (), (), ())
    from auditor.registry import DEFAULT_REGISTRY_DIR
    assert check_registry(DEFAULT_REGISTRY_DIR) == []


BAD_WORK = f"{WORKS_HEADER}\n"
# (file name, content, expected line, expected message)
BROKEN = [
    ("works.csv", "id,title\nW1,T\n", 1, r"missing column\(s\) \['rights_holder'.*allowed columns: id,title,rights_holder"),
    ("works.csv", f"{WORKS_HEADER},isbn\n", 1, r"unknown column\(s\) \['isbn'\]"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,stolen,works/w1.txt\n", 2,
     "status 'stolen' is not allowed; allowed: in-copyright, licensed, public-domain"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,licensed,works/w1.txt\n", 2,
     "status licensed needs a contract reference"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,Mars,in-copyright,works/w1.txt\n", 2,
     "jurisdiction 'Mars' is not known; allowed: CN, EU, US, GB"),
    ("works.csv", BAD_WORK + "W1,T,H,A;B,1950,1940,EU,in-copyright,works/w1.txt\n", 2,
     r"author_death_year has 1 value\(s\) for 2 author\(s\)"),
    ("works.csv", BAD_WORK + "W1,T,H,A,19x0,1940,EU,in-copyright,works/w1.txt\n", 2,
     "author_death_year must be a year"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,in-copyright,works/missing.txt\n", 2,
     "file 'works/missing.txt' not found"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,in-copyright,works/w1.txt\n"
                             "W1,T,H,A,1950,1940,EU,in-copyright,works/w1.txt\n", 3, "id 'W1' is already used on line 2"),
    ("works.csv", BAD_WORK + "W 1,T,H,A,1950,1940,EU,in-copyright,works/w1.txt\n", 2, "id 'W 1' must be non-empty"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,in-copyright\n", 2, "has 8 fields, the header has 9"),
    ("works.csv", BAD_WORK + 'W1,"T,H,A,1950\n', 2, "not valid CSV"),
    ("works.csv", BAD_WORK + "W1,T,H,A,1950,1940,EU,in-copyright,works/tiny.txt\n", 2,
     "shorter than one 32-byte window"),
    ("holders.csv", "holder,domains,terms,since\nX,co.uk,all rights reserved,\n", 2, "'co.uk' is a public suffix"),
    ("holders.csv", "holder,domains,terms,since\nX,x.example,be nice,\n", 2,
     "terms 'be nice' not understood; write one of: all rights reserved"),
    ("holders.csv", "holder,domains,terms,since\nX,x.example,all rights reserved,1.1.2020\n", 2,
     "since must be a date YYYY-MM-DD"),
    ("holders.csv", "holder,domains,terms,since\nX,,all rights reserved,\n", 2, "domains is required"),
    ("holders.csv", "holder,domains,terms,since\nX,x.example,licensed,\n", 2,
     "terms 'licensed' not understood"),
    ("holders.csv", "holder,domains,terms,since\nX,x.example,opted out since 2024-01-01,2024-02-01\n", 2,
     "terms say since 2024-01-01 but the since column says 2024-02-01"),
    ("optout.csv", "kind,value,effective_date,holder\nsite,x.example,2025-01-01,\n", 2,
     "kind 'site' is not allowed; allowed: url, domain, url_prefix, content_sha256, work"),
    ("optout.csv", "kind,value,effective_date,holder\ndomain,x.example,2025-13-01,\n", 2, "is not a calendar date"),
    ("optout.csv", "kind,value,effective_date,holder\ndomain,x.example,,\n", 2, "effective_date must be a date"),
    ("optout.csv", "kind,value,effective_date,holder\ncontent_sha256,abc,2025-01-01,\n", 2, "64 hex digits"),
    ("optout.csv", "kind,value,effective_date,holder\nurl,x.example/a,2025-01-01,\n", 2, "must be an absolute URL"),
    ("optout.csv", "kind,value,effective_date,holder\nwork,W9,2025-01-01,\n", 2, "work 'W9' is not in"),
    ("optout.csv", "kind,value,effective_date,holder\ndomain,example.com/path,2025-01-01,\n", 2,
     "must be a domain without a path"),
    ("work.csv", "x\n", None, "unknown registry file; registry CSV files are: works.csv, holders.csv, optout.csv"),
    ("robots/example.com/yesterday.txt", "User-agent: *\n", None, r"expected files named <YYYY-MM-DD>\.txt"),
    ("robots/example.com/2025-02-30.txt", "User-agent: *\n", None, "is not a calendar date"),
    ("robots/co.uk/2025-01-01.txt", "User-agent: *\n", None, "folder name must be a host name"),
    ("tdmrep/example.com/2025-01-01.json", "{", None, "not valid JSON"),
    ("tdmrep/example.com/2025-01-01.json", '[{"location": "/", "tdm-reservation": 2}]', None,
     r"rule \[0\]: tdm-reservation must be 0 or 1"),
    ("tdmrep/example.com/2025-01-01.json", '[{"location": "/", "tdm-reservation": 1, "tdm-polcy": "x"}]', None,
     r"unknown key\(s\) \['tdm-polcy'\]; allowed: location, tdm-reservation, tdm-policy"),
    ("tdmrep/example.com/2025-01-01.txt", "[]", None, r"expected files named <YYYY-MM-DD>\.json"),
]


@pytest.mark.parametrize(("name", "content", "line", "message"), BROKEN)
def test_broken_registry_files(tmp_path: Path, name: str, content: str, line: int | None, message: str) -> None:
    root = write(tmp_path / "reg", {"works/w1.txt": TEXT, "works/tiny.txt": "too short", name: content})
    with pytest.raises(ConfigError, match=message) as info:
        load_registries([root], as_of=AS_OF, include_defaults=False)
    text = str(info.value)
    where = f"{root / name}:{line}:" if line is not None else str(root / name.split("/")[0])
    assert where in text
    problems = check_registry(root)
    assert any(where in p for p in problems), problems


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    root.mkdir()
    (root / "holders.csv").write_bytes(b"holder,domains,terms,since\nX,x.example,all rights reserved,\n\xff\n")
    assert check_registry(root) == [f"{root / 'holders.csv'}:3: not valid UTF-8"]


def test_all_problems_are_listed(tmp_path: Path) -> None:
    root = write(tmp_path / "reg", {"optout.csv": "kind,value,effective_date,holder\nx,a,b,\ny,c,d,\n"})
    problems = check_registry(root)
    assert [p.split(": ")[0] for p in problems] == [f"{root / 'optout.csv'}:2", f"{root / 'optout.csv'}:3"]


def test_check_single_files(tmp_path: Path) -> None:
    root = good_folder(tmp_path / "reg")
    for name in ("works.csv", "holders.csv", "optout.csv", "tdmrep/shop.example.de/2025-01-20.json",
                 "robots/news.example.co.uk/2024-06-01.txt"):
        assert check_registry(root / name) == [], name
    from auditor.registry import DEFAULT_AGENTS_PATH
    from auditor.registry.terms import DEFAULT_TERMS_PATH
    assert check_registry(DEFAULT_AGENTS_PATH) == []
    assert check_registry(DEFAULT_TERMS_PATH) == []
    assert "not found" in check_registry(root / "nope.csv")[0]
    assert "not a registry file" in check_registry(root / "works" / "w1.txt")[0]


def test_fingerprints_build_deterministic_and_used(tmp_path: Path) -> None:
    root = good_folder(tmp_path / "reg")
    first = build_fingerprints(root / "works.csv", tmp_path / "a.parquet")
    second = build_fingerprints(root / "works.csv", tmp_path / "b.parquet")
    assert first.read_bytes() == second.read_bytes()
    table = pq.read_table(first)
    assert table.column("work_id").to_pylist() == ["W1", "W2"]
    assert SCHEME.encode() in table.schema.metadata[b"auditor.fingerprints"]
    assert check_registry(first) == []
    from_text = load_registries([root], as_of=AS_OF).fingerprints
    # A works.csv whose file column points at the fingerprint file (no text needed).
    fp_root = write(tmp_path / "fp", {"works.csv": f"{WORKS_HEADER},contract\n"
                                      f"W1,First,H,Ann,1950,1940,EU,in-copyright,{first},\n"})
    from_file = load_registries([fp_root], as_of=AS_OF).fingerprints
    assert (from_file[0].windows == from_text[0].windows).all()
    # The default output beside works.csv is picked up while the text is unchanged.
    cache = build_fingerprints(root / "works.csv")
    assert cache == root / "works.fingerprints.parquet"
    assert (load_registries([root], as_of=AS_OF).fingerprints[0].anchors == from_text[0].anchors).all()
    (root / "works" / "w1.txt").write_text(TEXT + " more words at the end of the text", encoding="utf-8")
    changed = load_registries([root], as_of=AS_OF).fingerprints[0]
    assert len(changed.windows) > len(from_text[0].windows)


def test_fingerprint_file_errors(tmp_path: Path) -> None:
    bogus = tmp_path / "x.parquet"
    pq.write_table(__import__("pyarrow").table({"a": [1]}), bogus)
    assert "not an auditor fingerprint file" in check_registry(bogus)[0]
    root = write(tmp_path / "fp", {"works.csv": f"{WORKS_HEADER}\nW1,T,H,A,1950,1940,EU,in-copyright,{bogus}\n"})
    with pytest.raises(ConfigError, match="not an auditor fingerprint file"):
        load_registries([root], as_of=AS_OF)


def test_registry_paths_from_audit_toml(tmp_path: Path) -> None:
    assert registry_paths({"paths": ["registries"]}, tmp_path) == [(tmp_path / "registries").resolve()]
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['path'\] in \[registries\]"):
        registry_paths({"path": ["x"]}, tmp_path)
    with pytest.raises(ConfigError, match="registries.paths must be a list"):
        registry_paths({"paths": [1]}, tmp_path)


def test_missing_folder_and_name_clash(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="registry folder not found"):
        load_registries([tmp_path / "nope"], as_of=AS_OF)
    a = write(tmp_path / "a" / "reg", {"optout.csv": "kind,value,effective_date,holder\n"})
    b = write(tmp_path / "b" / "reg", {"optout.csv": "kind,value,effective_date,holder\n"})
    reg = load_registries([a, b], as_of=AS_OF, include_defaults=False)
    assert [f.name for f in reg.folders] == ["reg", "b/reg"]
