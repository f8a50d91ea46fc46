"""Normalisation and content hashes: the first map stage.

The normal form (``normalise_text``) is, in order: Unicode NFKC, full case folding (``str.casefold``),
NFKC again (case folding can produce sequences that are not NFKC, e.g. for some Greek and ligature
characters), then every run of Unicode whitespace collapsed to one ASCII space, with no leading or
trailing space. It is idempotent: ``normalise_text(normalise_text(s)) == normalise_text(s)`` (a
property test checks it), so the exact-duplicate key ``norm_sha256`` does not depend on whether a text
was normalised before.

Columns added:
- ``content_sha256`` hex SHA-256 of the raw text's UTF-8 bytes (of the empty string for null text),
- ``norm_sha256``    hex SHA-256 of the normal form,
- ``n_chars``        length of the raw text in code points (0 for null text),
- ``text_null``      the text was null or missing (the record is kept and counted, never dropped),
- ``norm_text``      the normal form itself: transient, used by later stages, never written.
"""

from __future__ import annotations

import hashlib
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from auditor.stages.base import StageContext, append_columns

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def normalise_text(text: str) -> str:
    """The normal form used for exact-duplicate detection and shingling."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def normalise_array(texts: pa.Array) -> pa.Array:
    """``normalise_text`` over an Arrow string array (nulls stay null)."""
    return _normalise_bytes(texts.cast(pa.large_binary()).to_pylist())[0]


# ASCII whitespace as str.split() defines it (it includes the separators 0x1C-0x1F), mapped to space.
_ASCII_SPACE = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)


def _normalise_ascii(raw: bytes) -> bytes:
    """``normalise_text`` for ASCII bytes: NFKC is the identity and case folding is lower(); whitespace
    runs become one space by translating, then halving runs of spaces (a run of k spaces needs
    log2(k) passes), then stripping. A property test checks it equals ``normalise_text``."""
    folded = raw.lower().translate(_ASCII_SPACE)
    while b"  " in folded:
        folded = folded.replace(b"  ", b" ")
    return folded.strip(b" ")


def _normalise_bytes(raw: list[bytes | None]) -> tuple[pa.Array, list[bytes | None]]:
    """The normal forms of UTF-8 texts, as an Arrow array and as UTF-8 bytes (for hashing)."""
    norm: list[bytes | None] = [
        None if b is None else _normalise_ascii(b) if b.isascii()
        else normalise_text(b.decode("utf-8")).encode("utf-8")
        for b in raw
    ]
    return pa.array(norm, pa.large_binary()).cast(pa.large_string()), norm


def _sha256_hex(texts: list[bytes | None]) -> list[str]:
    """Hex SHA-256 of every UTF-8 text; null texts hash as the empty string."""
    sha256 = hashlib.sha256
    return [_EMPTY_SHA256 if t is None else sha256(t).hexdigest() for t in texts]



class NormaliseStage:
    name = "normalise"

    def setup(self, context: StageContext) -> None:
        """Nothing to load: normalisation has no parameters."""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        # The UTF-8 bytes straight from the Arrow buffer: no str objects for ASCII texts.
        raw = texts.cast(pa.large_binary()).to_pylist()
        norm_text, norm = _normalise_bytes(raw)
        return append_columns(
            batch,
            {
                "content_sha256": pa.array(_sha256_hex(raw), pa.string()),
                "norm_sha256": pa.array(_sha256_hex(norm), pa.string()),
                "n_chars": pc.fill_null(pc.utf8_length(texts), 0).cast(pa.int64()),
                "text_null": texts.is_null(),
                "norm_text": norm_text,
            },
        )
