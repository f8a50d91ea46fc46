"""The public API is what auditor/__init__.py exports in __all__, and every name resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import auditor


@pytest.mark.parametrize("name", auditor.__all__)
def test_every_public_name_resolves(name):
    assert getattr(auditor, name) is not None


def test_unknown_name_lists_the_public_ones():
    with pytest.raises(AttributeError, match="public names: __version__, AuditConfig"):
        auditor.no_such_thing  # noqa: B018


def test_core_does_not_import_the_cli_or_ray():
    code = ("import sys, auditor; from auditor import scan, redecide, filter_corpus, explain_in_manifest; "
            "bad = [m for m in ('click', 'rich', 'ray') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_manifest_schema_matches_the_stage_columns():
    """records.parquet declares the types the stages produce (a drift would fail the cast)."""
    from auditor.manifest.schema import RECORDS_SCHEMA
    from auditor.stages.licence import LICENCE_COLUMNS
    from auditor.stages.rights import COPYRIGHT_STATUS_TYPE, RIGHTS_SPANS_TYPE, RIGHTS_TYPE

    assert RECORDS_SCHEMA.field("rights").type == RIGHTS_TYPE
    assert RECORDS_SCHEMA.field("rights_spans").type == RIGHTS_SPANS_TYPE
    assert RECORDS_SCHEMA.field("copyright_status").type == COPYRIGHT_STATUS_TYPE
    for field in LICENCE_COLUMNS:
        assert RECORDS_SCHEMA.field(field.name).type == field.type, field.name
