from __future__ import annotations

import pytest

from auditor.config import config_from_paths, load_config
from auditor.errors import ConfigError

GOOD = """
[audit]
name = "t"
batch_size = 100
as_of = 2026-11-01

[[source]]
name = "crawl"
paths = ["data"]
acquisition = "web-crawl"
declared_licence = "CC-BY-4.0"
[source.columns]
url = "meta.url"
[source.evidence]
collection_log = "log.jsonl"
"""


def test_good_config(tmp_path):
    (tmp_path / "audit.toml").write_text(GOOD)
    cfg = load_config(tmp_path)
    assert cfg.batch_size == 100
    assert cfg.as_of.isoformat() == "2026-11-01"
    (src,) = cfg.sources
    assert src.acquisition == "web-crawl"
    assert src.paths == ((tmp_path / "data").resolve(),)
    assert src.columns == {"url": "meta.url"}
    assert src.evidence == {"collection_log": "log.jsonl"}


BROKEN = [
    ("[audit]\nname='x'\n", "at least one \\[\\[source\\]\\] table is required"),
    ("[[source]]\nname='a'\npaths=['x']\nacquisition='scraped'\n", "acquisition 'scraped' is not allowed; allowed: \\['open-dataset'"),
    ("[[source]]\nname='a'\npaths=['x']\nlicence='MIT'\n", "unknown key\\(s\\) \\['licence'\\] in source\\[0\\]; allowed:"),
    ("[[source]]\nname='a b'\npaths=['x']\n", "may use only letters"),
    ("[[source]]\nname='a'\npaths=[]\n", "paths must be a non-empty list"),
    ("[[source]]\nname='a'\npaths=['x']\n[[source]]\nname='a'\npaths=['y']\n", "source names must be unique; repeated: \\['a'\\]"),
    ("[[source]]\nname='a'\npaths=['x']\n[source.columns]\nlicense='l'\n", "unknown key\\(s\\) \\['license'\\] in source 'a'.columns"),
    ("[[source]]\nname='a'\npaths=['x']\n[source.evidence]\ncontract='c'\n", "allowed: \\['collection_log', 'consent_record', 'contract_id', 'licence_file'\\]"),
    ("[audit]\nbatch_size=0\n[[source]]\nname='a'\npaths=['x']\n", "batch_size must be a positive integer"),
    ("[audit]\nas_of='yesterday'\n[[source]]\nname='a'\npaths=['x']\n", "as_of must be a date"),
    ("[audit]\npolcy='x'\n[[source]]\nname='a'\npaths=['x']\n", "unknown key\\(s\\) \\['polcy'\\] in \\[audit\\]"),
    ("[[source]\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_configs(tmp_path, text, message):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_sources_from_paths_get_unique_names(tmp_path):
    cfg = config_from_paths([tmp_path / "a.jsonl", tmp_path / "a.parquet", tmp_path / "x" / "a"])
    assert [s.name for s in cfg.sources] == ["a", "a-2", "a-3"]
