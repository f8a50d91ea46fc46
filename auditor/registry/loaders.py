"""Loading and validating registry folders; every problem names the file, the line or key, and what
is allowed. No pickle, no eval: CSV through ``csv``, JSON through ``json``, TOML through ``tomllib``.

A registry folder holds any subset of::

    works.csv     id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,
                  status,file[,contract]
    holders.csv   holder,domains,terms,since[,contract]
    optout.csv    kind,value,effective_date,holder
    robots/<host>/<YYYY-MM-DD>.txt    aitxt/<host>/<YYYY-MM-DD>.txt    tdmrep/<host>/<YYYY-MM-DD>.json

Lines starting with ``#`` in the CSV files are comments. docs/registries.md describes every field.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from auditor.errors import ConfigError
from auditor.registry import fingerprints as fpmod
from auditor.registry.models import (
    OPTOUT_KINDS,
    WORK_STATUSES,
    Holder,
    OptOutEntry,
    Registries,
    RegistryFolder,
    Snapshot,
    Work,
    WorkFingerprint,
)
from auditor.registry.terms import CopyrightTerms, load_terms
from auditor.registry.urls import parse_url_rule, split_url
from auditor.stages.normalise import normalise_text

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
DEFAULT_REGISTRY_DIR = RULES_DIR / "registries"
DEFAULT_AGENTS_PATH = RULES_DIR / "ai_agents.toml"

WORKS_COLUMNS = ("id", "title", "rights_holder", "authors", "author_death_year", "publication_year",
                 "jurisdiction", "status", "file")
HOLDERS_COLUMNS = ("holder", "domains", "terms", "since")
OPTOUT_COLUMNS = ("kind", "value", "effective_date", "holder")
REGISTRY_FILES = {"works.csv": (WORKS_COLUMNS, ("contract",)),
                  "holders.csv": (HOLDERS_COLUMNS, ("contract",)),
                  "optout.csv": (OPTOUT_COLUMNS, ())}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
# Holder terms are free text classified by these phrasings (any language listed; case-insensitive).
_LICENSED_RE = re.compile(r"licen[cs]ed(?:\s+to\s+us)?\s+under\s+contract[\s:]+(?P<ref>[^;,()]+)|"
                          r"^licen[cs]ed:\s*(?P<ref2>[^;,()]+)", re.I)
_OPTOUT_RE = re.compile(r"\bopt(?:ed)?[\s_-]*out\b|\btdm\b[^;]*\breserv|\btdm-reservation\b|"
                        r"text\s+and\s+data\s+mining[^;]*reserv|§\s*44b|\bart(?:icle|\.)?\s*4\s*\(3\)|"
                        r"nutzungsvorbehalt|(?:文本与)?数据挖掘[^;；]*保留|保留[^;；]*数据挖掘", re.I)
_RESERVED_RE = re.compile(r"all[\s_-]+rights[\s_-]+reserved|版权所有|保留所有权利|alle\s+rechte\s+vorbehalten|"
                          r"tous\s+droits\s+r[ée]serv[ée]s|todos\s+los\s+derechos\s+reservados|"
                          r"tutti\s+i\s+diritti\s+riservati", re.I)
_SINCE_RE = re.compile(r"\bsince\s+(?P<date>\d{4}-\d{2}-\d{2})\b", re.I)
_TERMS_FORMS = ("all rights reserved (also 版权所有, alle Rechte vorbehalten, ...)",
                "licensed under contract <ref>", "opted out / TDM reserved / § 44b UrhG / DSM art. 4(3) [since YYYY-MM-DD]")


class Problems(list[str]):
    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")


def parse_date(value: str, what: str) -> dt.date:
    text = value.strip()
    if not _DATE_RE.match(text):
        raise ValueError(f"{what} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a calendar date") from None


def _year(value: str, what: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 9999:
        raise ValueError(f"{what} must be a year such as 1923 (or empty if unknown), got {value!r}")
    return int(text)


def parse_terms(text: str) -> tuple[str, str | None, dt.date | None]:
    """(terms, contract, since) classified from a holders.csv ``terms`` value: ``licensed`` (with
    its contract), else ``opt-out`` (a TDM reservation), else ``all-rights-reserved``; ValueError
    lists the phrasings understood."""
    value = " ".join(text.split())
    since = parse_date(m.group("date"), "the date in terms") if (m := _SINCE_RE.search(value)) else None
    if m := _LICENSED_RE.search(value):
        return "licensed", (m.group("ref") or m.group("ref2")).strip(), since
    if _OPTOUT_RE.search(value):
        return "opt-out", None, since
    if _RESERVED_RE.search(value) or value.lower() == "all-rights-reserved":
        return "all-rights-reserved", None, since
    raise ValueError(f"terms {text!r} not understood; write one of: {'; '.join(_TERMS_FORMS)}")


def read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...],
             problems: Problems) -> list[tuple[int, dict[str, str]]]:
    """Rows with their line numbers; comment (#) and blank lines skipped; header checked."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        problems.add(f"{path}:{line}", "not valid UTF-8")
        return []
    except OSError as exc:
        problems.add(str(path), f"cannot read: {exc.strerror}")
        return []
    lines = text.splitlines(keepends=True)
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    consumed: list[int] = []

    def feed():  # type: ignore[no-untyped-def]
        for n, ln in numbered:
            consumed.append(n)
            yield ln

    reader = csv.reader(feed(), strict=True)
    rows: list[tuple[int, list[str]]] = []
    while True:
        mark = len(consumed)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(f"{path}:{consumed[-1] if consumed else 1}", f"not valid CSV: {exc}")
            return []
        rows.append((consumed[mark] if mark < len(consumed) else consumed[-1], row))
    if not rows:
        problems.add(str(path), f"no header line; expected: {','.join(required)}")
        return []
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    allowed = (*required, *optional)
    unknown = [h for h in header if h not in allowed]
    missing = [h for h in required if h not in header]
    if unknown or missing:
        problems.add(f"{path}:{header_line}", (f"unknown column(s) {unknown}; " if unknown else "")
                     + (f"missing column(s) {missing}; " if missing else "")
                     + f"allowed columns: {','.join(required)} (optional: {','.join(optional) or 'none'})")
        return []
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.add(f"{path}:{header_line}", f"repeated column(s) {dupes}")
        return []
    out: list[tuple[int, dict[str, str]]] = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            problems.add(f"{path}:{line}", f"has {len(row)} fields, the header has {len(header)}")
            continue
        out.append((line, {h: v.strip() for h, v in zip(header, row, strict=True)}))
    return out


def load_works(path: Path, registry: str, terms: CopyrightTerms, problems: Problems) -> list[Work]:
    works: list[Work] = []
    seen: dict[str, int] = {}
    for line, row in read_csv(path, WORKS_COLUMNS, ("contract",), problems):
        where = f"{path}:{line}"
        try:
            works.append(_work(row, path, registry, f"{registry}/{path.name}:{line}", terms, seen, line))
        except ValueError as exc:
            problems.add(where, str(exc))
    return works


def _work(row: dict[str, str], path: Path, registry: str, where: str, terms: CopyrightTerms,
          seen: dict[str, int], line: int) -> Work:
    wid = row["id"]
    if not _ID_RE.match(wid):
        raise ValueError(f"id {wid!r} must be non-empty and use only letters, digits and _ . : / -")
    if wid in seen:
        raise ValueError(f"id {wid!r} is already used on line {seen[wid]}")
    seen[wid] = line
    if not row["title"]:
        raise ValueError("title is required")
    authors = tuple(a.strip() for a in row["authors"].split(";")) if row["authors"] else ()
    if any(not a for a in authors):
        raise ValueError(f"authors {row['authors']!r} has an empty name; separate names with ';'")
    raw_years = row["author_death_year"]
    years: tuple[int | None, ...] = tuple(_year(y, "author_death_year") for y in raw_years.split(";"))
    if not authors and any(y is not None for y in years):
        raise ValueError("author_death_year is given but authors is empty")
    if authors and raw_years and len(years) != len(authors):
        raise ValueError(f"author_death_year has {len(years)} value(s) for {len(authors)} author(s); "
                         "give one per author, separated by ';' (empty = unknown)")
    if authors and not raw_years:
        years = (None,) * len(authors)
    if not authors:
        years = ()
    jurisdiction = terms.find(row["jurisdiction"]) if row["jurisdiction"] else None
    if jurisdiction is None:
        raise ValueError(f"jurisdiction {row['jurisdiction']!r} is not known; allowed: "
                         f"{', '.join(terms.codes)} or an alias listed in copyright_terms.toml")
    status = row["status"].lower()
    if status not in WORK_STATUSES:
        raise ValueError(f"status {row['status']!r} is not allowed; allowed: {', '.join(WORK_STATUSES)}")
    contract = row.get("contract") or None
    if status == "licensed" and not contract:
        raise ValueError("status licensed needs a contract reference in the contract column")
    if not row["file"]:
        raise ValueError("file is required: a text file or a fingerprint .parquet, relative to the CSV")
    file = (path.parent / row["file"]).resolve()
    if not file.is_file():
        raise ValueError(f"file {row['file']!r} not found (looked for {file})")
    return Work(id=wid, title=row["title"], rights_holder=row["rights_holder"], authors=authors,
                death_years=years, publication_year=_year(row["publication_year"], "publication_year"),
                jurisdiction=jurisdiction.code, status=status, contract=contract, file=file,
                registry=registry, where=where)


def fingerprint_works(works: list[Work], works_csv: Path, problems: Problems,
                      ) -> list[WorkFingerprint | None]:
    """A fingerprint per work: from a fingerprint file, from the cache beside works.csv when its
    recorded text hash still matches, or computed from the text file."""
    def at(work: Work) -> str:
        return f"{works_csv}:{work.where.rpartition(':')[2]}"

    cache_path = works_csv.with_name(works_csv.stem + ".fingerprints.parquet")
    files: dict[Path, dict[str, tuple[str, WorkFingerprint]]] = {}
    out: list[WorkFingerprint | None] = [None] * len(works)
    todo: list[tuple[int, str]] = []
    for i, work in enumerate(works):
        if work.file is None:
            continue
        if work.file.suffix == ".parquet":
            table = _fingerprint_file(work.file, files, problems, at(work))
            if table is None:
                continue
            if work.id not in table:
                problems.add(at(work), f"work {work.id!r} is not in fingerprint file {work.file}")
                continue
            out[i] = table[work.id][1]
            continue
        try:
            raw = work.file.read_bytes()
            text = raw.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(at(work), f"cannot read {work.file} as UTF-8 text: {exc}")
            continue
        cached = (_fingerprint_file(cache_path, files, problems, str(cache_path))
                  if cache_path.is_file() else None)
        entry = cached.get(work.id) if cached else None
        if entry is not None and entry[0] == fpmod.sha256_hex(raw):
            out[i] = entry[1]
        else:
            todo.append((i, text))
    if todo:
        prints = fpmod.fingerprint_norms([normalise_text(t) for _, t in todo])
        for (i, _), fp in zip(todo, prints, strict=True):
            out[i] = fp
    for i, fp in enumerate(out):
        if fp is not None and len(fp.windows) == 0:
            problems.add(at(works[i]), f"work {works[i].id!r} is shorter than one "
                         f"{fpmod.WINDOW_BYTES}-byte window and cannot be matched")
    return out


def _fingerprint_file(path: Path, cache: dict[Path, dict[str, tuple[str, WorkFingerprint]]],
                      problems: Problems, where: str) -> dict[str, tuple[str, WorkFingerprint]] | None:
    if path not in cache:
        try:
            cache[path] = fpmod.read_fingerprints(path)
        except ValueError as exc:
            problems.add(where, f"{path}: {exc}")
            cache[path] = {}
            return None
    return cache[path]


def load_holders(path: Path, registry: str, problems: Problems) -> list[Holder]:
    holders: list[Holder] = []
    seen: dict[str, int] = {}
    for line, row in read_csv(path, HOLDERS_COLUMNS, ("contract",), problems):
        where = f"{path}:{line}"
        try:
            name = row["holder"]
            if not name:
                raise ValueError("holder is required")
            if name in seen:
                raise ValueError(f"holder {name!r} is already listed on line {seen[name]}")
            seen[name] = line
            domains = [d for d in row["domains"].split(";") if d.strip()]
            if not domains:
                raise ValueError("domains is required: one or more domains or URL prefixes separated by ';'")
            rules = tuple(parse_url_rule(d) for d in domains)
            terms, contract, since = parse_terms(row["terms"])
            if row["since"]:
                column = parse_date(row["since"], "since")
                if since is not None and since != column:
                    raise ValueError(f"terms say since {since} but the since column says {column}")
                since = column
            contract = row.get("contract") or contract
            if terms == "licensed" and not contract:
                raise ValueError("licensed terms need a contract reference")
            holders.append(Holder(name=name, rules=rules, terms=terms, terms_text=" ".join(row["terms"].split()),
                                  contract=contract, since=since,
                                  registry=registry, where=f"{registry}/{path.name}:{line}"))
        except ValueError as exc:
            problems.add(where, str(exc))
    return holders


def load_optouts(path: Path, registry: str, problems: Problems) -> list[OptOutEntry]:
    entries: list[OptOutEntry] = []
    for line, row in read_csv(path, OPTOUT_COLUMNS, (), problems):
        where = f"{path}:{line}"
        try:
            kind = row["kind"].lower()
            if kind not in OPTOUT_KINDS:
                raise ValueError(f"kind {row['kind']!r} is not allowed; allowed: {', '.join(OPTOUT_KINDS)}")
            value = row["value"]
            rule = None
            if kind == "work":
                if not _ID_RE.match(value):
                    raise ValueError(f"value {value!r} must be a work id of this folder's works.csv")
            elif kind == "content_sha256":
                value = value.lower()
                if not _SHA_RE.match(value):
                    raise ValueError(f"value {row['value']!r} must be a SHA-256 digest: 64 hex digits")
            elif kind == "url":
                parts = split_url(value) if "://" in value else None
                if parts is None:
                    raise ValueError(f"value {value!r} must be an absolute URL such as https://example.com/a")
                rule = parse_url_rule(value)
                value = f"{rule.host}{rule.path_prefix}"
            else:
                rule = parse_url_rule(value, allow_path=kind == "url_prefix")
                value = str(rule)
            date = parse_date(row["effective_date"], "effective_date")
            entries.append(OptOutEntry(kind=kind, value=value, effective_date=date,
                                       holder=row["holder"] or None, registry=registry,
                                       where=f"{registry}/{path.name}:{line}",
                                       rule=rule))
        except ValueError as exc:
            problems.add(where, str(exc))
    return entries


def _folder_name(path: Path, taken: set[str]) -> str:
    if path.resolve() == DEFAULT_REGISTRY_DIR.resolve():
        name = "default"
    else:
        name = path.name
        if name in taken:
            name = f"{path.parent.name}/{path.name}"
    if name in taken:
        raise ConfigError(f"{path}: two registry folders are both named {name!r}; rename one")
    taken.add(name)
    return name


def _check_folder_files(folder: Path, problems: Problems) -> None:
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix.lower() == ".csv" and file.name not in REGISTRY_FILES:
            problems.add(str(file), f"unknown registry file; registry CSV files are: {', '.join(REGISTRY_FILES)}")


def load_registries(paths: list[Path], *, as_of: dt.date, include_defaults: bool = True,
                    agents_path: Path | None = None, terms_path: Path | None = None,
                    max_works_per_window: int = 16, prefilter_hits: int = 2) -> Registries:
    """Load and validate registry folders (the shipped defaults first unless ``include_defaults`` is
    false). Raises ConfigError listing every problem, each naming the file and line."""
    from auditor.registry.snapshots import load_ai_agents, load_snapshots

    terms = load_terms(terms_path)
    agents = load_ai_agents(agents_path or DEFAULT_AGENTS_PATH)
    folders_in = [DEFAULT_REGISTRY_DIR] if include_defaults else []
    folders_in += [Path(p) for p in paths if Path(p).resolve() != DEFAULT_REGISTRY_DIR.resolve()]
    problems = Problems()
    taken: set[str] = set()
    folders: list[RegistryFolder] = []
    works: list[Work] = []
    prints: list[WorkFingerprint] = []
    holders: list[Holder] = []
    optouts: list[OptOutEntry] = []
    snapshots: list[Snapshot] = []
    for path in folders_in:
        if not path.is_dir():
            problems.add(str(path), "registry folder not found")
            continue
        folder = RegistryFolder(_folder_name(path, taken), path.resolve())
        folders.append(folder)
        _check_folder_files(path, problems)
        works_csv = path / "works.csv"
        if works_csv.is_file():
            found = load_works(works_csv, folder.name, terms, problems)
            for work, fp in zip(found, fingerprint_works(found, works_csv, problems), strict=True):
                if fp is not None:
                    works.append(work)
                    prints.append(fp)
        if (path / "holders.csv").is_file():
            holders += load_holders(path / "holders.csv", folder.name, problems)
        if (path / "optout.csv").is_file():
            found_optouts = load_optouts(path / "optout.csv", folder.name, problems)
            known = {w.id for w in works if w.registry == folder.name}
            for entry in found_optouts:
                if entry.kind == "work" and entry.value not in known:
                    problems.add(f"{path / 'optout.csv'}:{entry.where.rpartition(':')[2]}",
                                 f"work {entry.value!r} is not in {works_csv} (ids: {', '.join(sorted(known)) or 'none'})")
            optouts += found_optouts
        snapshots += load_snapshots(path, folder.name, problems)
    if problems:
        shown = problems[:25]
        more = f"\n... and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise ConfigError(f"{len(problems)} problem(s) in registries:\n" + "\n".join(shown) + more)
    return Registries(as_of=as_of, folders=tuple(folders), works=tuple(works), fingerprints=tuple(prints),
                      holders=tuple(holders), optouts=tuple(optouts), snapshots=tuple(snapshots),
                      agents=agents, terms=terms,
                      index_params={"max_works_per_window": max_works_per_window,
                                    "prefilter_hits": prefilter_hits})
