"""Per-record conclusions, the licence stage, and source licences from Hugging Face folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from work_batches import licence_batch

from auditor.config import SourceSpec
from auditor.errors import ConfigError
from auditor.licences import Evidence, conclude, source_licence_from_hf_dir
from auditor.stages.base import StageContext
from auditor.stages.licence import LICENCE_COLUMNS, LicenceStage

SRC_CC_BY = Evidence("source", "CC-BY-4.0", "source:audit.toml")


@pytest.mark.parametrize(
    ("evidence", "licence", "conflict"),
    [
        ((), None, False),
        ((SRC_CC_BY,), "CC-BY-4.0", False),
        ((SRC_CC_BY, Evidence("licence-notice", "CC-BY-4.0", "content:offset 3")), "CC-BY-4.0", False),
        # Source says CC-BY-4.0, the content reserves all rights: conflict, strictest wins.
        (
            (SRC_CC_BY, Evidence("copyright-notice", "all-rights-reserved", "content:offset 9")),
            "LicenseRef-All-Rights-Reserved",
            True,
        ),
        # Source says CC-BY-4.0, the content carries a GPL header.
        ((SRC_CC_BY, Evidence("spdx-id", "GPL-3.0-only", "content:offset 0")), "GPL-3.0-only", True),
        # "All rights reserved" beside a licence grant in the content is an ordinary header.
        (
            (
                Evidence("copyright-notice", "all-rights-reserved", "content:offset 30"),
                Evidence("full-text", "BSD-3-Clause", "content:full-text containment 0.98"),
            ),
            "BSD-3-Clause",
            False,
        ),
        # A bare copyright notice is not a licence.
        ((Evidence("copyright-notice", "copyright", "content:offset 0"),), None, False),
        # Picking one option of the source's OR is no conflict.
        (
            (
                Evidence("source", "MIT OR Apache-2.0", "source:audit.toml"),
                Evidence("spdx-id", "MIT", "content:offset 0"),
            ),
            "MIT",
            False,
        ),
        # Full text cannot tell -only from -or-later; the notice can.
        (
            (
                Evidence("full-text", "GPL-2.0-only", "content:full-text containment 0.99"),
                Evidence("licence-notice", "GPL-2.0-or-later", "content:offset 10"),
            ),
            "GPL-2.0-or-later",
            False,
        ),
        # An unknown record-level declaration beside a known source: conflict, nothing concluded.
        ((SRC_CC_BY, Evidence("metadata", "unknown", "metadata:license")), None, True),
        # Multiple sources take the strictest.
        (
            (SRC_CC_BY, Evidence("source", "CC-BY-NC-4.0", "source:README.md")),
            "CC-BY-NC-4.0",
            True,
        ),
    ],
)
def test_conclusions(evidence: tuple[Evidence, ...], licence: str | None, conflict: bool) -> None:
    conclusion = conclude(evidence)
    assert (conclusion.licence, conclusion.conflict) == (licence, conflict)
    assert conclusion.evidence == evidence  # every piece of evidence is kept
    if licence is None:
        assert conclusion.traits == ("unknown",)




@pytest.fixture
def stage(tmp_path: Path) -> LicenceStage:
    stage = LicenceStage()
    stage.setup(
        StageContext(
            sources={
                "web": SourceSpec(name="web", paths=(tmp_path,), declared_licence="CC BY 4.0"),
                "code": SourceSpec(name="code", paths=(tmp_path / "missing",)),
            }
        )
    )
    return stage


def test_stage_adds_typed_columns(stage: LicenceStage) -> None:
    batch = licence_batch(
        [
            "plain text",
            "Copyright (c) 2021 X. All rights reserved.",
            "SPDX-License-Identifier: MIT",
            None,
            "本作品采用知识共享署名 4.0 国际许可协议进行许可。",
        ],
        ["web", "web", "code", "code", "web"],
        [None, None, "mit", "other", None],
    )
    out = stage(batch)
    assert out.num_rows == batch.num_rows
    assert out.schema.names == batch.schema.names + LICENCE_COLUMNS.names
    for field in LICENCE_COLUMNS:
        assert out.schema.field(field.name).type == field.type
    assert all(out.column(name).equals(batch.column(name)) for name in batch.schema.names)
    rows = out.select(LICENCE_COLUMNS.names).to_pylist()
    assert [r["licence"] for r in rows] == [
        "CC-BY-4.0",
        "LicenseRef-All-Rights-Reserved",
        "MIT",
        None,
        "CC-BY-4.0",
    ]
    assert [r["licence_conflict"] for r in rows] == [False, True, False, False, False]
    assert rows[0]["licence_evidence"] == [
        {"kind": "source", "value": "CC-BY-4.0", "where": "source:audit.toml"}
    ]
    assert rows[3]["licence_traits"] == ["unknown"]
    assert {"kind": "spdx-id", "value": "MIT", "where": "content:offset 0"} in rows[2]["licence_evidence"]


def test_stage_output_holds_no_raw_text(stage: LicenceStage) -> None:
    secret = "Jane Q. Secretholder"
    out = stage(licence_batch([f"Copyright (c) 2021 {secret}. Licensed under the MIT License."], ["web"], [None]))
    dumped = json.dumps(out.select(LICENCE_COLUMNS.names).to_pylist())
    assert secret not in dumped and "Licensed under" not in dumped


def test_stage_without_meta_column(stage: LicenceStage) -> None:
    batch = licence_batch(["hello"], ["web"], [None]).drop_columns(["meta_licence"])
    assert stage(batch).column("licence").to_pylist() == ["CC-BY-4.0"]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web", "code", "unlisted"]),
            st.one_of(st.none(), st.sampled_from(["mit", "other", "", "cc-by-nc-4.0", "MIT AND"])),
            st.one_of(
                st.none(), st.text(max_size=30), st.sampled_from(["© 2020 X", "SPDX-License-Identifier: ISC"])
            ),
        ),
        max_size=30,
    )
)
def test_stage_preserves_rows_and_is_deterministic(rows: list[tuple[str, str | None, str | None]]) -> None:
    stage = LicenceStage()
    stage.setup(
        StageContext(
            sources={"web": SourceSpec(name="web", paths=(Path("/nonexistent"),), declared_licence="MIT")}
        )
    )
    batch = licence_batch([r[2] for r in rows], [r[0] for r in rows], [r[1] for r in rows])
    first, second = stage(batch), stage(batch)
    assert first.num_rows == len(rows)
    assert first.equals(second)
    assert all(first.column(name).equals(batch.column(name)) for name in batch.schema.names)


def test_malformed_declared_licence_is_a_config_error() -> None:
    stage = LicenceStage()
    context = StageContext(
        sources={"s": SourceSpec(name="s", paths=(Path("/x"),), declared_licence="MIT AND")}
    )
    with pytest.raises(ConfigError, match=r"source 's': declared_licence 'MIT AND' is malformed"):
        stage.setup(context)


def test_stage_needs_setup() -> None:
    with pytest.raises(RuntimeError, match="setup"):
        LicenceStage()(licence_batch(["x"], ["web"], [None]))


@pytest.mark.parametrize(
    ("files", "expected", "file"),
    [
        ({"dataset_info.json": json.dumps({"license": "cc-by-sa-4.0"})}, "cc-by-sa-4.0", "dataset_info.json"),
        ({"README.md": "---\nlicense: mit\npretty_name: x\n---\n# Card\n"}, "mit", "README.md"),
        ({"README.md": "---\nlicense:\n- cc-by-4.0\n- odc-by\n---\n"}, "cc-by-4.0 AND odc-by", "README.md"),
        ({"README.md": "---\nlicense: other\nlicense_name: llama3\n---\n"}, "llama3", "README.md"),
        (
            {"train/dataset_info.json": json.dumps({"license": "apache-2.0"})},
            "apache-2.0",
            "dataset_info.json",
        ),
        ({"README.md": "# no header\nlicense: mit\n"}, None, None),
        ({"dataset_info.json": "{not json"}, None, None),
        ({}, None, None),
    ],
)
def test_source_licence_from_hf_dir(
    tmp_path: Path, files: dict[str, str], expected: str | None, file: str | None
) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    found = source_licence_from_hf_dir(tmp_path)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.licence == expected and found.file.name == file


def test_stage_reads_hf_metadata_as_source_evidence(tmp_path: Path) -> None:
    (tmp_path / "dataset_info.json").write_text(json.dumps({"license": "cc-by-nc-4.0"}), encoding="utf-8")
    stage = LicenceStage()
    stage.setup(
        StageContext(sources={"hf": SourceSpec(name="hf", paths=(tmp_path,), declared_licence="CC-BY-4.0")})
    )
    (row,) = stage(licence_batch(["text"], ["hf"], [None])).select(LICENCE_COLUMNS.names).to_pylist()
    assert row["licence"] == "CC-BY-NC-4.0" and row["licence_conflict"] is True
    assert {"kind": "source", "value": "CC-BY-NC-4.0", "where": "source:dataset_info.json"} in row[
        "licence_evidence"
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["web", "code", "wéb", ""])), min_size=1, max_size=30),
    st.integers(0, 3),
    st.booleans(),
)
def test_encode_equals_dictionary_encode(values: list[str | None], cut: int, repeated: bool) -> None:
    """Codes of a string column (its fast path for one repeated value included, on slices too) decode
    to the column's values."""
    import pyarrow as pa

    from auditor.stages.licence import _encode

    if repeated:
        values = [values[0]] * len(values)
    column = pa.array(["x", *values], pa.string()).slice(1 + min(cut, len(values) - 1))
    codes, dictionary = _encode(column)
    assert [None if c < 0 else dictionary[c] for c in codes.tolist()] == column.to_pylist()


@pytest.mark.parametrize(
    "values",
    [["aa", "a", "aaa"], ["ab", "ab", "ab"], ["abab", "ab", "ab"], ["web"] * 5 + ["wéb"], ["x"]],
)
def test_encode_of_repeated_bytes(values: list[str]) -> None:
    """Values whose bytes concatenate to one value repeated are not taken for one repeated value."""
    import pyarrow as pa

    from auditor.stages.licence import _encode

    codes, dictionary = _encode(pa.array(values, pa.string()))
    assert [dictionary[c] for c in codes.tolist()] == values


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**7), max_size=40))
def test_dense_equals_unique(keys: list[int]) -> None:
    import numpy as np

    from auditor.stages.licence import _dense

    array = np.array(keys, np.int64)
    distinct, inverse = _dense(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert distinct.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()
