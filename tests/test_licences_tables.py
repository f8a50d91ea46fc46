"""The shipped licence data loads and validates; broken data files give errors that say what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from license_expression import get_license_index

from auditor.errors import ConfigError
from auditor.licences import tables
from auditor.licences.build_reference import build_traits, reference_ids
from auditor.licences.normalise import normalise_licence

SHIPPED = tables.default_rules_dir()


def test_shipped_tables_load() -> None:
    assert len(tables.load_traits()) > 2000
    assert len(tables.load_aliases()) > 200
    assert len(tables.load_notices()) >= 10
    index = tables.load_fulltext()
    assert len(index.ids) >= 100 and len(index.ids) == len(index.sizes)


def test_reference_texts_cover_the_common_licences() -> None:
    ids = set(reference_ids(SHIPPED))
    for licence in ("MIT", "Apache-2.0", "GPL-2.0-only", "GPL-3.0-only", "LGPL-2.1-only", "AGPL-3.0-only",
                    "BSD-2-Clause", "BSD-3-Clause", "MPL-2.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC0-1.0"):  # fmt: skip
        assert licence in ids


def test_traits_tsv_is_in_sync_with_overrides() -> None:
    """traits.tsv is generated: editing overrides.toml without rebuilding fails here."""
    rows = build_traits(
        get_license_index(), tables.read_overrides(SHIPPED / "overrides.toml"), {}, "overrides.toml"
    )
    shipped = tables.load_traits()
    assert {r["id"] for r in rows} == set(shipped)
    for row in rows:
        expected = shipped[row["id"]]
        assert {f: row[f] == "1" for f in tables.TRAIT_FLAGS} == expected.flags, row["id"]
        assert row["copyleft_scope"] == expected.copyleft_scope, row["id"]


def test_every_licence_in_the_alias_table_has_traits() -> None:
    traits = tables.load_traits()
    for alias in tables.load_aliases().values():
        if alias.expression is not None:
            for symbol in alias.expression.replace("(", " ").replace(")", " ").split():
                if symbol not in ("AND", "OR", "WITH"):
                    assert symbol in traits or symbol.endswith("exception"), symbol


def _rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "licences"
    shutil.copytree(SHIPPED, target)
    return tmp_path


BROKEN = [
    (
        "aliases.tsv",
        "alias\texpression\tnote\nMIT License\tNOT-A-LICENCE\n",
        r"aliases.tsv: line 2: expression 'NOT-A-LICENCE'",
    ),
    (
        "aliases.tsv",
        "alias\texpression\tnote\nMIT License\tMIT\nthe MIT licence\tApache-2.0\n",
        r"line 3: alias 'the MIT licence' collides with line 2",
    ),
    ("aliases.tsv", "alias\texpression\tnote\nonly-one-cell\n", r"line 2: expected 'alias<TAB>expression"),
    ("aliases.tsv", "wrong\theader\n", r"line 1: header must be"),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "licence-notice"\npattern = "("\nlicence = "MIT"\ntriggers = ["a"]\n',
        r"notice\[0\] \(x\): pattern does not compile",
    ),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "nonsense"\npattern = "a"\n',
        r"kind 'nonsense' is not allowed; allowed: \['licence-notice', 'copyright-notice'\]",
    ),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "licence-notice"\npattern = "a"\ntriggers = ["a"]\n',
        r"give licence, or a pattern with a \(\?P<name>",
    ),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "licence-notice"\npattern = "a"\nlicence = "MIT"\ntriggers = ["A"]\n',
        r"triggers must be a non-empty list of lower-case strings",
    ),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "licence-notice"\npattern = "a"\nlicence = "MIT"\ncolour = 1\n',
        r"unknown key\(s\) \['colour'\]",
    ),
    (
        "notices.toml",
        '[[notice]]\nid = "x"\nkind = "copyright-notice"\npattern = "a"\nvalue = "maybe"\ntriggers = ["a"]\n',
        r"needs value in \['copyright', 'all-rights-reserved'\]",
    ),
    ("notices.toml", "not toml [", r"notices.toml: not valid TOML"),
    ("traits.tsv", "id\tname\n", r"traits.tsv: line 1: header must be"),
    (
        "overrides.toml",
        '[exception."X"]\ncopyleft_scope = "galactic"\n',
        r"copyleft_scope 'galactic' is not allowed",
    ),
    ("fulltext.json", "{}", r"fulltext.json: params None differ"),
]


@pytest.mark.parametrize(("name", "content", "error"), BROKEN)
def test_broken_rules_files(tmp_path: Path, name: str, content: str, error: str) -> None:
    rules = _rules_copy(tmp_path)
    (rules / "licences" / name).write_text(content, encoding="utf-8")
    loaders = {
        "aliases.tsv": tables.load_aliases,
        "notices.toml": tables.load_notices,
        "traits.tsv": tables.load_traits,
        "overrides.toml": tables.load_exceptions,
        "fulltext.json": tables.load_fulltext,
    }
    with pytest.raises(ConfigError, match=error):
        loaders[name](rules)


def test_rules_dir_override_is_used(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path)
    aliases = rules / "licences" / "aliases.tsv"
    aliases.write_text(
        aliases.read_text(encoding="utf-8") + "Acme Open Data Terms\tCC-BY-4.0\n", encoding="utf-8"
    )
    assert normalise_licence("Acme Open Data Terms", rules).spdx == "CC-BY-4.0"
    assert normalise_licence("Acme Open Data Terms").spdx is None
