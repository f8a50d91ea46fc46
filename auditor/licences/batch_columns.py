"""The findings of a batch scan, column-wise (``ContentColumns``), and how ``batch.BatchPlan`` puts them
together from its steps (``Collector``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from auditor.licences.content import Finding


@dataclass
class ContentColumns:
    """Findings of a batch, one entry per finding: ``rows`` ascending, each row's in ``scan`` order.

    ``kind``, ``value`` and ``detail`` are codes into ``labels``; ``offset`` is -1 for findings with no
    offset (full-text matches).
    """

    num_rows: int
    rows: np.ndarray
    kind: np.ndarray
    value: np.ndarray
    offset: np.ndarray
    detail: np.ndarray
    labels: list[str]
    python_rows: int = 0  # rows scanned by ``ContentScanner._scan`` (the others were settled column-wise)

    @classmethod
    def empty(cls, num_rows: int) -> ContentColumns:
        none = np.empty(0, np.int64)
        return cls(num_rows, none, none, none, none, none, [])

    def by_row(self) -> dict[int, list[Finding]]:
        from auditor.licences.content import Finding

        found: dict[int, list[Finding]] = {}
        labels = self.labels
        for row, kind, value, offset, detail in zip(
            self.rows.tolist(),
            self.kind.tolist(),
            self.value.tolist(),
            self.offset.tolist(),
            self.detail.tolist(),
            strict=True,
        ):
            finding = Finding(labels[kind], labels[value], None if offset < 0 else offset, labels[detail])
            found.setdefault(row, []).append(finding)
        return found


class Collector:
    """Accumulates findings (vectorised parts and Python ``Finding`` lists) into ``ContentColumns``;
    ``code`` gives a string's code in ``labels``."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self._codes: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, ...]] = []

    def code(self, label: str) -> int:
        code = self._codes.get(label)
        if code is None:
            code = self._codes[label] = len(self.labels)
            self.labels.append(label)
        return code

    def add_columns(
        self,
        rows: np.ndarray,
        kind: np.ndarray,
        value: np.ndarray,
        offset: np.ndarray,
        detail: np.ndarray,
    ) -> None:
        """Findings of some rows (``rows[k]`` for finding k), put in ``scan``'s order: by row, then a
        row's by offset (full texts last), then kind, then value."""
        if not len(rows):
            return
        labels = self.labels
        rank = np.empty(len(labels), np.int64)
        rank[sorted(range(len(labels)), key=labels.__getitem__)] = np.arange(len(labels))
        order = np.lexsort((rank[value], rank[kind], offset, offset < 0, rows))
        self.parts.append((rows[order], kind[order], value[order], offset[order], detail[order]))

    def add_findings(self, row_findings: list[tuple[int, list[Finding]]]) -> None:
        rows: list[int] = []
        columns: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
        kind, value, offset, detail = columns
        for row, findings in row_findings:
            for f in findings:
                rows.append(row)
                kind.append(self.code(f.kind))
                value.append(self.code(f.value))
                offset.append(-1 if f.offset is None else f.offset)
                detail.append(self.code(f.detail))
        if rows:
            self.parts.append(
                (np.array(rows, np.int64), *(np.array(c, np.int64) for c in columns))  # type: ignore[arg-type]
            )

    def finish(self, num_rows: int, python_rows: int = 0) -> ContentColumns:
        if not self.parts:
            empty = ContentColumns.empty(num_rows)
            empty.python_rows = python_rows
            return empty
        rows, kind, value, offset, detail = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        order = np.argsort(rows, kind="stable")  # row sets of the parts are disjoint
        return ContentColumns(
            num_rows,
            rows[order],
            kind[order],
            value[order],
            offset[order],
            detail[order],
            self.labels,
            python_rows,
        )
