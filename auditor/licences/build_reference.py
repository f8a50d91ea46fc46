"""Build the generated licence data in ``rules/licences/`` from installed packages (nothing is fetched).

    python -m auditor.licences.build_reference            # traits.tsv + full-text fingerprints
    python -m auditor.licences.build_reference --traits   # traits.tsv only

- ``traits.tsv``: every licence of the ScanCode index bundled with license-expression, traits derived
  from its ScanCode category, then ``overrides.toml`` ([[glob]] tables in order, then [licence.*]).
  Names come from ``licensedcode-data`` when it is installed.
- ``fulltext.json`` / ``fulltext.npz``: hashed word shingles (no text) of the reference licence texts
  listed in ``reference_ids.txt``, taken from the ScanCode licence texts of ``licensedcode-data``
  (``pip install licensedcode-data``; only this build step needs it).
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from license_expression import get_license_index

from auditor.errors import ConfigError
from auditor.licences.fulltext import SHINGLE_PARAMS, shingle_hashes
from auditor.licences.tables import (
    COPYLEFT_SCOPES,
    TRAIT_FLAGS,
    TRAITS_COLUMNS,
    default_rules_dir,
    read_overrides,
)

_OVERRIDE_KEYS = {*TRAIT_FLAGS, "copyleft_scope", "name", "category", "note"}
_DEFAULT_TRAITS: dict[str, Any] = {**dict.fromkeys(TRAIT_FLAGS, False), "copyleft_scope": "none"}


def _check_traits(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")
    for flag in TRAIT_FLAGS:
        if flag in table and not isinstance(table[flag], bool):
            raise ConfigError(f"{where}: {flag} must be true or false, got {table[flag]!r}")
    if "copyleft_scope" in table and table["copyleft_scope"] not in COPYLEFT_SCOPES:
        raise ConfigError(
            f"{where}: copyleft_scope {table['copyleft_scope']!r} is not allowed; allowed: {list(COPYLEFT_SCOPES)}"
        )


def licensedcode_dir() -> Path | None:
    """The folder of ScanCode ``*.LICENSE`` files shipped by licensedcode-data, if installed."""
    try:
        import licensedcode  # type: ignore[import-not-found]
    except ImportError:
        return None
    for base in licensedcode.__path__:
        folder = Path(base) / "data" / "licenses"
        if folder.is_dir():
            return folder
    return None


def read_scancode_licence(path: Path) -> tuple[dict[str, str], str]:
    """(front-matter fields, licence text) of a ScanCode ``.LICENSE`` file."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    meta: dict[str, str] = {}
    text = raw
    if raw.startswith("---"):
        head, _, text = raw[3:].partition("\n---")
        for line in head.splitlines():
            if ":" in line and not line.startswith((" ", "-")):
                key, _, value = line.partition(":")
                meta[key.strip()] = value.strip().strip("'\"")
    return meta, text.lstrip("-\n")


def build_traits(
    index: Iterable[Mapping[str, Any]], overrides: Mapping[str, Any], names: Mapping[str, str], source: str
) -> list[dict[str, str]]:
    """Rows of ``traits.tsv`` (sorted by id)."""
    categories = overrides.get("category", {})
    for category, table in categories.items():
        _check_traits(f"{source}: [category.{category!r}]", table, {*TRAIT_FLAGS, "copyleft_scope"})
    entries: dict[str, dict[str, Any]] = {}
    for entry in sorted(index, key=lambda e: (bool(e.get("is_deprecated")), e.get("license_key", ""))):
        ident = entry.get("spdx_license_key")
        if not ident or entry.get("is_exception") or ident in entries:
            continue
        category = entry.get("category") or "Unstated License"
        if category not in categories:
            raise ConfigError(
                f"{source}: ScanCode category {category!r} of {ident!r} has no [category] table"
            )
        entries[ident] = {
            **_DEFAULT_TRAITS,
            **categories[category],
            "name": names.get(entry.get("license_key", ""), ""),
            "category": category,
            "origin": "scancode-category",
            "note": "",
        }
    for i, glob in enumerate(overrides.get("glob", [])):
        where = f"{source}: glob[{i}]"
        if not isinstance(glob.get("pattern"), str):
            raise ConfigError(f"{where}: pattern must be a string")
        _check_traits(where, glob, {*TRAIT_FLAGS, "copyleft_scope", "pattern"})
        matched = [ident for ident in entries if fnmatch.fnmatchcase(ident, glob["pattern"])]
        if not matched:
            raise ConfigError(f"{where}: pattern {glob['pattern']!r} matches no licence id")
        for ident in matched:
            entries[ident].update({k: v for k, v in glob.items() if k != "pattern"}, origin="reviewed")
    for ident, table in overrides.get("licence", {}).items():
        where = f"{source}: [licence.{ident!r}]"
        _check_traits(where, table, _OVERRIDE_KEYS)
        if ident not in entries:
            if "category" not in table or "name" not in table:
                raise ConfigError(f"{where}: {ident!r} is not in the ScanCode index: give category and name")
            if table["category"] not in categories:
                raise ConfigError(
                    f"{where}: category {table['category']!r} is not allowed; allowed: {sorted(categories)}"
                )
            entries[ident] = {**_DEFAULT_TRAITS, **categories[table["category"]], "name": "", "note": ""}
        entries[ident].update(table, origin="reviewed")
    rows = []
    for ident in sorted(entries):
        record = entries[ident]
        row = {
            "id": ident,
            "name": record["name"],
            "category": record["category"],
            "origin": record["origin"],
        }
        row.update({flag: "1" if record[flag] else "0" for flag in TRAIT_FLAGS})
        row["copyleft_scope"] = record["copyleft_scope"]
        row["note"] = record["note"]
        if any("\t" in v or "\n" in v for v in row.values()):
            raise ConfigError(f"{source}: a value of {ident!r} holds a tab or newline")
        rows.append(row)
    return rows


def write_traits(rows: list[dict[str, str]], path: Path) -> None:
    lines = [
        "# Generated by 'python -m auditor.licences.build_reference' from license-expression's ScanCode index",
        "# and overrides.toml. Do not edit: edit overrides.toml and rebuild.",
        "\t".join(TRAITS_COLUMNS),
    ]
    lines += ["\t".join(row[c] for c in TRAITS_COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def reference_ids(rules: Path) -> list[str]:
    path = rules / "reference_ids.txt"
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: ids are listed more than once")
    return ids


def scancode_texts(folder: Path) -> dict[str, tuple[str, str]]:
    """SPDX (or LicenseRef) id -> (ScanCode key, licence text) for every ScanCode licence file."""
    texts: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.glob("*.LICENSE")):
        meta, text = read_scancode_licence(path)
        ident = meta.get("spdx_license_key") or f"LicenseRef-scancode-{meta.get('key', path.stem)}"
        if ident not in texts and text.strip():
            texts[ident] = (meta.get("key", path.stem), text)
    return texts


def build_fulltext(
    ids: list[str], texts: Mapping[str, tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, arrays) of the fingerprint table for ``ids``."""
    missing = [i for i in ids if i not in texts]
    if missing:
        raise ConfigError(f"reference_ids.txt: no licence text shipped for {missing}")
    per_ref = [shingle_hashes(texts[i][1]) for i in ids]
    all_keys = np.concatenate(per_ref)
    all_owners = np.concatenate([np.full(len(h), r, dtype=np.int32) for r, h in enumerate(per_ref)])
    order = np.lexsort((all_owners, all_keys))
    all_keys, all_owners = all_keys[order], all_owners[order]
    keys, first = np.unique(all_keys, return_index=True)
    offsets = np.append(first, len(all_keys)).astype(np.int64)
    sizes = np.array([len(h) for h in per_ref], dtype=np.int32)
    meta = {
        "params": SHINGLE_PARAMS,
        "source": f"licensedcode-data {importlib.metadata.version('licensedcode-data')} (ScanCode licence texts)",
        "ids": ids,
        "scancode_keys": [texts[i][0] for i in ids],
    }
    return meta, {"keys": keys, "offsets": offsets, "owners": all_owners, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rules", type=Path, default=default_rules_dir(), help="rules/licences folder to write"
    )
    parser.add_argument("--traits", action="store_true", help="only rebuild traits.tsv")
    args = parser.parse_args(argv)
    rules: Path = args.rules
    folder = licensedcode_dir()
    texts = scancode_texts(folder) if folder else {}
    names: dict[str, str] = {}
    if folder:
        for path in folder.glob("*.LICENSE"):
            meta, _ = read_scancode_licence(path)
            names[meta.get("key", path.stem)] = meta.get("name") or meta.get("short_name", "")
    overrides_path = rules / "overrides.toml"
    rows = build_traits(get_license_index(), read_overrides(overrides_path), names, str(overrides_path))
    write_traits(rows, rules / "traits.tsv")
    print(f"wrote {rules / 'traits.tsv'}: {len(rows)} licences")
    if args.traits:
        return 0
    if folder is None:
        raise SystemExit("licensedcode-data is not installed: pip install licensedcode-data")
    meta, arrays = build_fulltext(reference_ids(rules), texts)
    np.savez_compressed(rules / "fulltext.npz", **arrays)
    (rules / "fulltext.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {rules / 'fulltext.npz'}: {len(meta['ids'])} references, {len(arrays['keys'])} shingles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
