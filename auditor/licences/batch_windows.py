"""Windows of a batch's rows for the column-wise content scan (``batch.py``): the rows' UTF-8 bytes
from shortly before their first cue to their end, joined, with numpy checks on them (safe characters,
character offsets, triggers at match starts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


def string_buffers(texts: pa.Array) -> tuple[np.ndarray, pa.Buffer | None]:
    """(offsets as int64 numpy, data buffer) of a string or large_string array."""
    width = 8 if pa.types.is_large_string(texts.type) else 4
    dtype = np.int64 if width == 8 else np.int32
    _validity, offsets_buffer, data = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=dtype, count=len(texts) + 1, offset=texts.offset * width)
    return offsets.astype(np.int64), data


@dataclass(frozen=True)
class Multibyte:
    """Where the multi-byte characters of a UTF-8 buffer start, and how many bytes they add."""

    lead: np.ndarray  # positions of their first bytes, ascending
    added: np.ndarray  # added[k]: extra bytes of the characters before lead[k] (len(lead) + 1 entries)

    def chars(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Characters in bytes [start, stop) (both at character boundaries)."""
        extra = self.added[np.searchsorted(self.lead, stop)] - self.added[np.searchsorted(self.lead, start)]
        return stop - start - extra


def unsafe_rows(
    win_bytes: np.ndarray, win_offsets: np.ndarray, safe: np.ndarray
) -> tuple[np.ndarray, Multibyte]:
    """Per window: does it hold a non-ASCII character outside ``safe`` (code points, sorted)? And the
    buffer's multi-byte characters."""
    unsafe = np.zeros(len(win_offsets) - 1, bool)
    lead = np.flatnonzero(win_bytes >= 0xC0)
    if not len(lead):
        return unsafe, Multibyte(lead, np.zeros(1, np.int64))
    last = len(win_bytes) - 1
    b0, b1, b2, b3 = (win_bytes[np.minimum(lead + k, last)].astype(np.int64) for k in range(4))
    code = np.where(
        b0 < 0xE0,
        ((b0 & 0x1F) << 6) | (b1 & 0x3F),
        np.where(
            b0 < 0xF0,
            ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
            ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
        ),
    )
    bad = lead[~np.isin(code, safe)]
    unsafe[np.searchsorted(win_offsets, bad, side="right") - 1] = True
    extra = np.where(b0 < 0xE0, 1, np.where(b0 < 0xF0, 2, 3))
    return unsafe, Multibyte(lead, np.r_[0, np.cumsum(extra)].astype(np.int64))


def starts_with_trigger(
    win_bytes: np.ndarray, at: np.ndarray, stop: np.ndarray, triggers: tuple[bytes, ...]
) -> np.ndarray:
    """Whether the ASCII-lower-cased bytes at ``at`` (before ``stop``) begin with one of ``triggers``."""
    width = max(len(t) for t in triggers)
    index = np.minimum(at[:, None] + np.arange(width), len(win_bytes) - 1)
    window = win_bytes[index]
    lowered = np.where((window >= 65) & (window <= 90), window + 32, window)
    result = np.zeros(len(at), bool)
    for trigger in triggers:
        code = np.frombuffer(trigger, dtype=np.uint8)
        fits = at + len(code) <= stop
        result |= fits & np.all(lowered[:, : len(code)] == code, axis=1)
    return result


def windows_of(
    data: pa.Buffer,
    row_start: np.ndarray,
    first_abs: np.ndarray,
    row_end: np.ndarray,
    back: int | np.ndarray = 1,
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(windows as a large_string array, their bytes, their offsets): from ``back`` bytes before each
    row's first cue (at least one character: context for a leading \\b), moved back to the first byte
    of a character, to the end of the row."""
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    start = np.maximum(first_abs - back, row_start)
    for _ in range(3):  # back to the first byte of that character
        start = start - ((start > row_start) & ((bytes_[start] & 0xC0) == 0x80))
    view = memoryview(data)
    joined = b"".join([view[s:e] for s, e in zip(start.tolist(), row_end.tolist(), strict=True)])
    win_offsets = np.r_[0, np.cumsum(row_end - start)].astype(np.int64)
    windows = pa.Array.from_buffers(
        pa.large_string(), len(start), [None, pa.py_buffer(win_offsets), pa.py_buffer(joined)]
    )
    return windows, np.frombuffer(joined, dtype=np.uint8), win_offsets
