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


class MerkleBuilder:
    """RFC 6962's Merkle Tree Hash over records added slice by slice, in O(log n) memory.

    The tree of n leaves is the perfect subtrees of the binary digits of n, largest first, each
    joined to the tree of everything after it (RFC 6962 splits at the largest power of two below n).
    The builder keeps one perfect subtree per set bit of the leaves seen so far, merging equal sizes
    as leaves arrive, and folds them from the right at the end.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (leaves, hash), sizes strictly decreasing
        self.leaves = 0

    def add_leaf_hash(self, digest: bytes) -> None:
        size, node = 1, digest
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.leaves += 1

    def add_records(self, table: pa.Table) -> None:
        """Add a leaf per record of ``table`` (``record_leaf_bytes``), ``_LEAF_CHUNK`` at a time."""
        for start in range(0, table.num_rows, _LEAF_CHUNK):
            for data in record_leaf_bytes(table.slice(start, _LEAF_CHUNK)):
                self.add_leaf_hash(leaf_hash(data))

    def root(self) -> str:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node.hex()


def records_root(table: pa.Table) -> str:
    """``merkle_root(record_leaf_bytes(table))``, building the preimages ``_LEAF_CHUNK`` records at a
    time: memory holds O(log n) hashes, not every preimage as a Python object."""
    builder = MerkleBuilder()
    builder.add_records(table)
    return builder.root()


def merkle_root(leaves: list[bytes]) -> str:
    """Hex root of RFC 6962's Merkle Tree Hash over the leaf preimages (empty tree: SHA-256 of '')."""
    builder = MerkleBuilder()
    for data in leaves:
        builder.add_leaf_hash(leaf_hash(data))
    return builder.root()
