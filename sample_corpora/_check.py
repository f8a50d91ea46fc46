"""Self-check of generated sample corpora: ``python sample_corpora/make_samples.py --check``.

Reads every shard back with the ordinary readers and checks the promises README.md makes: row counts
and ids match ``expected.json``, planted clusters have the recorded Jaccard, no two records that are
not planted together come close to a near-duplicate, and planted works excerpts are really there.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path
from typing import Any

import datasets
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from _plant import char_shingles, jaccard, word_shingles

UNPLANNED_MAX = 0.6  # README: unrelated records stay well below usual near-duplicate thresholds


def read_texts(root: Path) -> dict[str, str]:
    """record id -> text, read the way an auditor reader would."""
    texts: dict[str, str] = {}
    for shard in sorted((root / "webcrawl").glob("*.parquet")):
        for i, t in enumerate(pq.read_table(shard, columns=["text"]).column("text").to_pylist()):
            texts[f"webcrawl/{shard.name}#{i}"] = t or ""
    dd = datasets.load_from_disk(str(root / "open_dataset"))
    for split in dd:
        for i, t in enumerate(dd[split]["text"]):
            texts[f"open_dataset/{split}#{i}"] = t or ""
    for name, opener in (("code.arrow", ipc.open_file), ("gists-stream.arrow", ipc.open_stream)):
        with opener(root / "code" / name) as reader:
            for i, t in enumerate(reader.read_all().column("content").to_pylist()):
                texts[f"code/{name}#{i}"] = t or ""
    for name in ("forum.jsonl", "news.jsonl.gz"):
        path = root / "chinese" / name
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else path.open(encoding="utf-8")) as f:
            for i, line in enumerate(f):
                texts[f"chinese/{name}#{i}"] = json.loads(line)["text"] or ""
    return texts


def _shingles(text: str) -> set[str]:
    return char_shingles(text) if re.search(r"[\u4e00-\u9fff]", text) else word_shingles(text)


def check(root: Path) -> list[str]:
    """Problems found (empty list: all promises hold)."""
    expected: dict[str, Any] = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    texts = read_texts(root)
    problems = []
    if sorted(texts) != sorted(expected["records"]):
        problems.append(f"record ids differ from expected.json: {len(texts)} read, {len(expected['records'])} expected")
    shingles = {rid: _shingles(t) for rid, t in texts.items() if t}
    cluster_of = {m: name for name, c in expected["clusters"].items() for m in c["members"]}
    for name, c in expected["clusters"].items():
        first = c["members"][0]
        for member, want in zip(c["members"], c["jaccard_to_first"], strict=True):
            got = round(jaccard(shingles[first], shingles[member]), 3)
            if abs(got - want) > 1e-3:
                problems.append(f"cluster {name}: {member} has Jaccard {got}, expected.json says {want}")
    for a, b in itertools.combinations(sorted(shingles), 2):
        if cluster_of.get(a) and cluster_of.get(a) == cluster_of.get(b):
            continue
        j = jaccard(shingles[a], shingles[b])
        if j >= UNPLANNED_MAX:
            problems.append(f"{a} and {b} are not planted together but have Jaccard {j:.2f}")
    works = {p.name[:4]: p.read_text(encoding="utf-8") for p in (root / "registries" / "works").glob("W*.txt")}
    for rid, e in expected["records"].items():
        for w in e.get("works", []):
            if not _contains_run(texts[rid], works[w["work"]], w.get("chars", 0)):
                problems.append(f"{rid}: the planted excerpt of {w['work']} is not there")
    return problems


def _contains_run(text: str, work: str, chars: int) -> bool:
    if chars:
        flat, src = re.sub(r"\s+", "", text), re.sub(r"\s+", "", work)
        return any(src[i : i + 300] in flat for i in range(0, len(src) - 300, 50))
    words, src = " ".join(re.findall(r"\w+", text.lower())), re.findall(r"\w+", work.lower())
    if len(src) < 300:
        return " ".join(src) in words
    return any(" ".join(src[i : i + 150]) in words for i in range(0, len(src) - 150, 25))
