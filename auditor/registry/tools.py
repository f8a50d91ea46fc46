"""Registry tools: ``check_registry`` (``auditor registry check``), ``build_fingerprints``
(``auditor registry build``) and ``registry_paths`` (the ``[registries]`` table of audit.toml)."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.registry import fingerprints as fpmod
from auditor.registry.loaders import (
    Problems,
    fingerprint_works,
    load_holders,
    load_optouts,
    load_registries,
    load_works,
)
from auditor.registry.terms import load_terms
from auditor.stages.normalise import normalise_text


def check_registry(path: Path) -> list[str]:
    """Every problem in a registry folder or file (works.csv, holders.csv, optout.csv, a snapshot,
    a fingerprint .parquet, ai_agents.toml or copyright_terms.toml); empty when all is well."""
    from auditor.registry.snapshots import load_ai_agents, load_snapshots, parse_tdmrep

    path = Path(path)
    problems = Problems()
    if not path.exists():
        return [f"{path}: not found"]
    if path.is_dir():
        try:
            load_registries([path], as_of=dt.date.today(), include_defaults=False)
        except ConfigError as exc:
            return str(exc).splitlines()[1:] or [str(exc)]
        return []
    name = path.name
    try:
        if name == "works.csv":
            found = load_works(path, "check", load_terms(), problems)
            fingerprint_works(found, path, problems)
        elif name == "holders.csv":
            load_holders(path, "check", problems)
        elif name == "optout.csv":
            load_optouts(path, "check", problems)
        elif path.suffix == ".parquet":
            fpmod.read_fingerprints(path)
        elif path.suffix == ".toml":
            data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
            if "agent" in data:
                load_ai_agents(path)
            else:
                from auditor.registry.terms import parse_terms as parse_term_rules

                parse_term_rules(data, str(path))
        elif path.suffix == ".json":
            parse_tdmrep(path.read_bytes().decode("utf-8-sig"))
        elif path.suffix == ".txt" and path.parent.parent.name in ("robots", "aitxt"):
            load_snapshots(path.parent.parent.parent, "check", problems)
            problems[:] = [p for p in problems if p.startswith(str(path))]
        else:
            problems.add(str(path), "not a registry file; expected a registry folder, works.csv, "
                         "holders.csv, optout.csv, a snapshot, a fingerprint .parquet or a rules .toml")
    except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.add(str(path), str(exc))
    except ConfigError as exc:
        problems.append(str(exc))
    return list(problems)


def build_fingerprints(works_csv: Path, out: Path | None = None) -> Path:
    """Fingerprint every work of ``works_csv`` that has a text file into one Parquet file (default:
    ``<works>.fingerprints.parquet`` beside it, which the loader then uses while the texts are
    unchanged). Deterministic; holds hashes and sizes, never text."""
    works_csv = Path(works_csv)
    problems = Problems()
    works = [(w, w.file) for w in load_works(works_csv, "build", load_terms(), problems)
             if w.file is not None and w.file.suffix != ".parquet"]
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {works_csv}:\n" + "\n".join(problems[:25]))
    out = Path(out) if out is not None else works_csv.with_name(works_csv.stem + ".fingerprints.parquet")
    raws: list[bytes] = []
    for work, file in works:
        try:
            raws.append(file.read_bytes())
            raws[-1].decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{works_csv}: work {work.id!r}: cannot read {file} as UTF-8 text: {exc}") from None
    prints = fpmod.fingerprint_norms([normalise_text(r.decode("utf-8-sig")) for r in raws])
    table = fpmod.fingerprint_table([w.id for w, _ in works], [fpmod.sha256_hex(r) for r in raws], prints)
    return fpmod.write_fingerprints(table, out)


def registry_paths(section: dict[str, Any], base_dir: Path, origin: str = "audit.toml") -> list[Path]:
    """Folders from audit.toml's ``[registries] paths = [...]`` (relative to the file)."""
    extra = sorted(set(section) - {"paths"})
    if extra:
        raise ConfigError(f"{origin}: unknown key(s) {extra} in [registries]; allowed: ['paths']")
    paths = section.get("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(f"{origin}: registries.paths must be a list of folder paths (strings)")
    return [(Path(base_dir) / p).resolve() for p in paths]
