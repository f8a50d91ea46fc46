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

from auditor.stages.base import StageContext, append_columns

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def normalise_text(text: str) -> str:
    """The normal form used for exact-duplicate detection and shingling."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


class NormaliseStage:
    name = "normalise"

    def setup(self, context: StageContext) -> None:
        """Nothing to load: normalisation has no parameters."""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        n = len(texts)
        content = [_EMPTY_SHA256] * n
        norm_hash = [_EMPTY_SHA256] * n
        norm: list[str | None] = [None] * n
        n_chars = [0] * n
        sha256 = hashlib.sha256
        for i, text in enumerate(texts):
            if text is None:
                continue
            content[i] = sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            normal = normalise_text(text)
            norm[i] = normal
            norm_hash[i] = sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()
            n_chars[i] = len(text)
        return append_columns(
            batch,
            {
                "content_sha256": pa.array(content, pa.string()),
                "norm_sha256": pa.array(norm_hash, pa.string()),
                "n_chars": pa.array(n_chars, pa.int64()),
                "text_null": batch.column("text").is_null(),
                "norm_text": pa.array(norm, pa.large_string()),
            },
        )
