"""Merkle tree over the manifest's records (RFC 6962 hashing: 0x00 leaf prefix, 0x01 node prefix).

Leaf ``i`` commits to record ``i`` of records.parquet (in manifest order) through
``record_leaf_bytes``: the record id, its content and normalised hashes, its decision and the ids of
the rules behind it, joined by the unit separator (0x1F). The root is recorded in summary.json; a proof
for one record (for "is my work in this corpus?") is the audit path of RFC 6962 section 2.1.1.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

_SEP = "\x1f"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def record_leaf_bytes(table: pa.Table) -> list[bytes]:
    """The leaf preimages of every record, columnar until the final encode."""
    reasons = pc.binary_join(table.column("reasons").combine_chunks().fill_null([]), ",")
    joined = pc.binary_join_element_wise(
        table.column("record_id"), table.column("content_sha256"), table.column("norm_sha256"),
        table.column("decision"), reasons.fill_null(""), _SEP,
    )
    return [s.encode("utf-8") for s in joined.to_pylist()]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> str:
    """Hex root of RFC 6962's Merkle Tree Hash over the leaf preimages (empty tree: SHA-256 of '')."""
    if not leaves:
        return EMPTY_ROOT
    level = [leaf_hash(x) for x in leaves]
    while len(level) > 1:
        # RFC 6962 splits at the largest power of two below n; pairing left to right and carrying an odd
        # last node up unchanged gives the same tree.
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()
