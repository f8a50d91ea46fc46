"""Normalisation of licence strings found in the wild to SPDX expressions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.licences import normalise_licence
from auditor.licences.normalise import STATUSES, alias_key

# (input as found in metadata, expected SPDX expression)
REAL_WORLD = [
    ("MIT License", "MIT"),
    ("The MIT License (MIT)", "MIT"),
    ("mit", "MIT"),
    ("License :: OSI Approved :: MIT License", "MIT"),
    ("Expat", "MIT"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Apache License 2.0", "Apache-2.0"),
    ("Apache Software License", "Apache-2.0"),
    ("apache-2.0", "Apache-2.0"),
    ("ASL 2.0", "Apache-2.0"),
    ("BSD", "LicenseRef-BSD-Unspecified"),
    ("BSD License", "LicenseRef-BSD-Unspecified"),
    ("BSD 3-Clause", "BSD-3-Clause"),
    ("New BSD License", "BSD-3-Clause"),
    ("Simplified BSD", "BSD-2-Clause"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("ISC License (ISCL)", "ISC"),
    ("GPLv3+", "GPL-3.0-or-later"),
    ("GPLv3", "GPL-3.0-only"),
    ("GPL3", "GPL-3.0-only"),
    ("GPLv2 or later", "GPL-2.0-or-later"),
    ("GPLv3 or any later version", "GPL-3.0-or-later"),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
    ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
    ("GNU GPL", "GPL-1.0-or-later"),
    ("gpl-3.0", "GPL-3.0-only"),
    ("LGPLv2.1+", "LGPL-2.1-or-later"),
    ("GNU Lesser General Public License v3 (LGPLv3)", "LGPL-3.0-only"),
    ("AGPLv3", "AGPL-3.0-only"),
    ("GNU Affero General Public License v3 or later (AGPLv3+)", "AGPL-3.0-or-later"),
    ("MPL 2.0", "MPL-2.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("Eclipse Public License 2.0", "EPL-2.0"),
    ("Boost Software License 1.0", "BSL-1.0"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("The Unlicense", "Unlicense"),
    ("WTFPL", "WTFPL"),
    ("zlib License", "Zlib"),
    ("SIL Open Font License 1.1", "OFL-1.1"),
    ("Mulan PSL v2", "MulanPSL-2.0"),
    ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0"),
    ("CC BY-SA 3.0", "CC-BY-SA-3.0"),
    ("CC BY 4.0", "CC-BY-4.0"),
    ("CC-BY-NC-ND 4.0", "CC-BY-NC-ND-4.0"),
    ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
    ("Creative Commons Attribution-ShareAlike 3.0 Unported", "CC-BY-SA-3.0"),
    ("Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International", "CC-BY-NC-SA-4.0"),
    ("Attribution 4.0 International (CC BY 4.0)", "CC-BY-4.0"),
    ("知识共享署名-相同方式共享 4.0 国际许可协议", "CC-BY-SA-4.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("CC BY-SA", "LicenseRef-CC-BY-SA"),
    ("odc-by", "ODC-By-1.0"),
    ("Open Database License (ODbL)", "ODbL-1.0"),
    ("pddl", "PDDL-1.0"),
    ("cdla-permissive-2.0", "CDLA-Permissive-2.0"),
    ("public domain", "LicenseRef-scancode-public-domain"),
    ("All rights reserved", "LicenseRef-All-Rights-Reserved"),
    ("版权所有", "LicenseRef-All-Rights-Reserved"),
    ("Proprietary", "LicenseRef-scancode-proprietary-license"),
    ("Terms of Service", "LicenseRef-Terms-Of-Service"),
    ("openrail", "LicenseRef-OpenRAIL"),
    ("creativeml-openrail-m", "LicenseRef-CreativeML-OpenRAIL-M"),
    ("bigscience-openrail-m", "LicenseRef-scancode-bigscience-open-rail-m"),
    ("llama2", "LicenseRef-scancode-llama-2-license-2023"),
    ("llama3.1", "LicenseRef-scancode-llama-3.1-license-2024"),
    ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
    ("MIT OR Apache 2.0", "MIT OR Apache-2.0"),
    ("mit, apache 2.0", "MIT AND Apache-2.0"),
    ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
    ("(MIT OR Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause"),
    ("LicenseRef-Acme-Data-1", "LicenseRef-Acme-Data-1"),
]


@pytest.mark.parametrize(("text", "expected"), REAL_WORLD)
def test_real_world_spellings(text: str, expected: str) -> None:
    result = normalise_licence(text)
    assert result.spdx == expected, result
    assert result.original == text
    assert result.status in ("ok", "alias", "licenseref", "deprecated-upgraded")


def test_table_is_large_enough() -> None:
    assert len(REAL_WORLD) >= 60


@pytest.mark.parametrize(
    ("text", "expected", "status"),
    [
        ("GPL-2.0", "GPL-2.0-only", "deprecated-upgraded"),
        ("GPL-2.0+", "GPL-2.0-or-later", "deprecated-upgraded"),
        ("LGPL-2.1", "LGPL-2.1-only", "deprecated-upgraded"),
        ("AGPL-3.0", "AGPL-3.0-only", "deprecated-upgraded"),
        ("MIT", "MIT", "ok"),
        ("Apache-2.0 OR MIT", "Apache-2.0 OR MIT", "ok"),
    ],
)
def test_spdx_ids_and_deprecated_ids(text: str, expected: str, status: str) -> None:
    result = normalise_licence(text)
    assert (result.spdx, result.status) == (expected, status)
    if status == "deprecated-upgraded":
        assert text in result.message and expected in result.message


@pytest.mark.parametrize("text", ["MIT AND", ";", "(MIT", "MIT OR (Apache-2.0", "AND OR", "MIT WITH"])
def test_malformed_expressions_are_reported_not_raised(text: str) -> None:
    result = normalise_licence(text)
    assert result.spdx is None
    assert result.status == "malformed"
    assert result.message


@pytest.mark.parametrize(
    "text",
    ["other", "unknown", "Creative Commons", "see LICENSE", "Acme Corp data terms", "MIT AND FooBar", "cc"],
)
def test_unknown_strings_are_kept_not_guessed(text: str) -> None:
    result = normalise_licence(text)
    assert result.spdx is None
    assert result.status == "unknown"
    assert result.original == text


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty(text: str | None) -> None:
    assert normalise_licence(text).status == "empty"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Apache License, Version 2.0", "apache-2"),
        ("GPLv3 or later", "gpl 3+"),
        ("The MIT License (MIT)", "MIT license"),
        ("License :: OSI Approved :: ISC License", "ISC"),
    ],
)
def test_alias_key_is_loose(a: str, b: str) -> None:
    assert alias_key(a) == alias_key(b)


_licence_like = st.one_of(
    st.sampled_from([t for t, _ in REAL_WORLD] + ["GPL-2.0", "MIT AND", ";", "other"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(_licence_like)
def test_normalisation_is_total_and_stable(text: str) -> None:
    """Never raises, always a known status, and normalising the result again changes nothing."""
    result = normalise_licence(text)
    assert result.status in STATUSES
    if result.spdx is not None:
        again = normalise_licence(result.spdx)
        assert again.spdx == result.spdx
        assert again.status in ("ok", "licenseref")
