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


# Records whose leaf preimages exist as Python objects at once in ``records_root``.
_LEAF_CHUNK = 1 << 16


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


def records_root(table: pa.Table) -> str:
    """``merkle_root(record_leaf_bytes(table))``, building the preimages ``_LEAF_CHUNK`` records at a
    time: memory holds the 32-byte leaf hashes, not every preimage as a Python object."""
    hashes: list[bytes] = []
    for start in range(0, table.num_rows, _LEAF_CHUNK):
        hashes.extend(leaf_hash(x) for x in record_leaf_bytes(table.slice(start, _LEAF_CHUNK)))
    return _root_of_leaf_hashes(hashes)


def merkle_root(leaves: list[bytes]) -> str:
    """Hex root of RFC 6962's Merkle Tree Hash over the leaf preimages (empty tree: SHA-256 of '')."""
    return _root_of_leaf_hashes([leaf_hash(x) for x in leaves])


def _root_of_leaf_hashes(level: list[bytes]) -> str:
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        # RFC 6962 splits at the largest power of two below n; pairing left to right and carrying an odd
        # last node up unchanged gives the same tree.
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()
