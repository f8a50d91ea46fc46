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


def _cumsum0(values: np.ndarray) -> np.ndarray:
    """``[0, values[0], values[0] + values[1], ...]`` as int64."""
    out = np.zeros(len(values) + 1, np.int64)
    np.cumsum(values, out=out[1:])
    return out


@dataclass(frozen=True)
class Multibyte:
    """Where the multi-byte characters of a UTF-8 buffer start, and how many bytes they add."""

    lead: np.ndarray  # positions of their first bytes, ascending
    added: np.ndarray  # added[k]: extra bytes of the characters before lead[k] (len(lead) + 1 entries)

    def chars(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Characters in bytes [start, stop) (both at character boundaries)."""
        extra = self.added[np.searchsorted(self.lead, stop)] - self.added[np.searchsorted(self.lead, start)]
        return stop - start - extra


@dataclass(frozen=True)
class Unsafe:
    """Per window of a buffer: characters that make it unsafe for the exact RE2 forms (``unsafe``: a
    non-ASCII character that is neither safe nor word-ish; ``wordish``: one in the word-ish ranges,
    unsafe only for forms that read word classes), and the buffer's multi-byte characters."""

    unsafe: np.ndarray
    wordish: np.ndarray
    multibyte: Multibyte


SAFE, WORDISH, UNSAFE = 0, 1, 2


def char_classes(safe: str, wordish: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """The class (``SAFE``, ``WORDISH`` or ``UNSAFE``) of every code point of the Basic Multilingual
    Plane, as a lookup table: ASCII and ``safe`` are safe, ``wordish`` ranges word-ish; characters
    beyond the BMP are unsafe."""
    classes = np.full(0x10000, UNSAFE, np.uint8)
    for low, high in wordish:
        classes[low : high + 1] = WORDISH
    classes[:0x80] = SAFE
    classes[[ord(c) for c in safe]] = SAFE
    return classes


def unsafe_rows(win_bytes: np.ndarray, win_offsets: np.ndarray, classes: np.ndarray) -> Unsafe:
    """Per window: does it hold an unsafe character (``classes``, from ``char_classes``, or NUL) or a
    word-ish one? And the buffer's multi-byte characters."""
    n = len(win_offsets) - 1
    unsafe = np.zeros(n, bool)
    # A NUL byte separates windows in the Hyperscan scan (``gates._without_nul``): one in a text is unsafe.
    nul = np.flatnonzero(win_bytes == 0)
    if len(nul):
        unsafe[np.searchsorted(win_offsets, nul, side="right") - 1] = True
    lead = np.flatnonzero(win_bytes >= 0xC0)
    if not len(lead):
        return Unsafe(unsafe, np.zeros(n, bool), Multibyte(lead, np.zeros(1, np.int64)))
    last = len(win_bytes) - 1
    b0 = win_bytes[lead].astype(np.int32)
    b1 = win_bytes[np.minimum(lead + 1, last)] & 0x3F
    b2 = win_bytes[np.minimum(lead + 2, last)] & 0x3F
    code = np.where(b0 < 0xE0, ((b0 & 0x1F) << 6) | b1, ((b0 & 0x0F) << 12) | (b1.astype(np.int32) << 6) | b2)
    kind = np.where(b0 >= 0xF0, UNSAFE, classes[code & 0xFFFF])
    window = np.searchsorted(win_offsets, lead, side="right") - 1
    unsafe[window[kind == UNSAFE]] = True
    wordish = np.zeros(n, bool)
    wordish[window[kind == WORDISH]] = True
    extra = 1 + (b0 >= 0xE0).astype(np.int64) + (b0 >= 0xF0)
    return Unsafe(unsafe, wordish, Multibyte(lead, _cumsum0(extra)))


def prefix_chars(data: pa.Buffer, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Characters in each byte range [start, stop) of ``data`` (UTF-8, ranges at character boundaries):
    its length when ASCII, else one decode; cheaper than an Arrow kernel over a copy of those rows."""
    view = memoryview(data)
    return np.fromiter(
        (
            b - a if view[a:b].tobytes().isascii() else len(str(view[a:b], "utf-8"))
            for a, b in zip(start.tolist(), stop.tolist(), strict=True)
        ),
        np.int64,
        count=len(start),
    )


def row_texts(data: pa.Buffer, offsets: np.ndarray, rows: np.ndarray) -> list[str]:
    """The texts of ``rows`` (of a string column with ``offsets`` into ``data``), decoded from the
    buffer."""
    view = memoryview(data)
    return [str(view[a:b], "utf-8") for a, b in zip(offsets[rows].tolist(), offsets[rows + 1].tolist(), strict=True)]


def starts_with_trigger(
    win_bytes: np.ndarray, at: np.ndarray, stop: np.ndarray, triggers: tuple[bytes, ...]
) -> np.ndarray:
    """Whether the ASCII-lower-cased bytes at ``at`` (before ``stop``) begin with one of ``triggers``."""
    width = max(len(t) for t in triggers)
    result = np.zeros(len(at), bool)
    if not len(at) or not len(win_bytes):
        return result
    # The ``width`` bytes from each start (past the end of the buffer: its last byte, which ``stop``
    # rules out anyway), lower-cased.
    head = win_bytes[np.minimum(at[:, None] + np.arange(width), len(win_bytes) - 1)]
    head[(head >= 65) & (head <= 90)] += 32
    for trigger in triggers:
        code = np.frombuffer(trigger, dtype=np.uint8)
        result |= (at + len(code) <= stop) & (head[:, : len(code)] == code).all(axis=1)
    return result


def windows_of(
    data: pa.Buffer,
    row_start: np.ndarray,
    first_abs: np.ndarray,
    row_end: np.ndarray,
    back: int | np.ndarray = 1,
    *,
    separated: bool = False,
) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    """(the windows' bytes, joined; their offsets; with ``separated``, the windows joined by NUL bytes,
    as ``gates.GateFinder.window_matches`` scans them): from ``back`` bytes before each row's first cue
    (at least one character: context for a leading \\b), moved back to the first byte of a character,
    to the end of the row. ``window_array`` makes them an Arrow array."""
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    start = np.maximum(first_abs - back, row_start)
    for _ in range(3):  # back to the first byte of that character
        inside = (start > row_start) & ((bytes_[start] & 0xC0) == 0x80)
        if not inside.any():
            break
        start = start - inside
    view = memoryview(data)
    parts = [view[s:e] for s, e in zip(start.tolist(), row_end.tolist(), strict=True)]
    joined = b"".join(parts)
    return np.frombuffer(joined, dtype=np.uint8), _cumsum0(row_end - start), b"\x00".join(parts) if separated else None


def window_array(win_bytes: np.ndarray, win_offsets: np.ndarray) -> pa.Array:
    """The windows of ``windows_of`` as a large_string array (for pyarrow's RE2 kernels)."""
    return pa.Array.from_buffers(
        pa.large_string(), len(win_offsets) - 1, [None, pa.py_buffer(win_offsets), pa.py_buffer(win_bytes)]
    )
