"""The manifest's Merkle root: RFC 6962 Merkle Tree Hash over the record leaves."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from auditor.manifest import merkle


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written from the definition (split at the largest power of two < n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _records(n: int) -> pa.Table:
    def strings(values: list[str]) -> pa.Array:
        return pa.array(values, pa.string())

    return pa.table({
        "record_id": strings([f"src/shard/{i}" for i in range(n)]),
        "content_sha256": strings([f"{i:064x}" for i in range(n)]),
        "norm_sha256": strings([f"{i * 7:064x}" for i in range(n)]),
        "decision": strings(["include" if i % 3 else "exclude" for i in range(n)]),
        "reasons": pa.array([[] if i % 2 else ["R1", "R2"] for i in range(n)], pa.list_(pa.string())),
    })


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 17])
def test_root_is_rfc6962_and_chunking_changes_nothing(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _records(n)
    expected = _mth(merkle.record_leaf_bytes(table)).hex()
    assert merkle.merkle_root(merkle.record_leaf_bytes(table)) == expected
    for chunk in (1, 2, 3, 1 << 16):
        monkeypatch.setattr(merkle, "_LEAF_CHUNK", chunk)
        assert merkle.records_root(table) == expected


def test_leaf_commits_to_id_hashes_decision_and_reasons() -> None:
    table = _records(2)
    leaves = merkle.record_leaf_bytes(table)
    assert leaves[0] == "\x1f".join(["src/shard/0", f"{0:064x}", f"{0:064x}", "exclude", "R1,R2"]).encode()
    changed = table.set_column(3, "decision", pa.array(["review", "include"]))
    assert merkle.records_root(changed) != merkle.records_root(table)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, 11, 16, 33, 100])
def test_builder_over_slices_gives_the_rfc6962_root(n: int) -> None:
    """Records added in slices of any size: the same root as the definition over all of them."""
    table = _records(n)
    expected = _mth(merkle.record_leaf_bytes(table)).hex()
    for step in (1, 2, 3, 7, max(1, n)):
        builder = merkle.MerkleBuilder()
        for start in range(0, n, step):
            builder.add_records(table.slice(start, step))
        assert builder.leaves == n
        assert builder.root() == expected
