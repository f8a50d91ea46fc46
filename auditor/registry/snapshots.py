"""Loading captured opt-out files (robots.txt, ai.txt, tdmrep.json) and the AI agent table.

Snapshots live in ``<registry>/<kind>/<host>/<YYYY-MM-DD>.<ext>`` where kind is ``robots`` or
``aitxt`` (``.txt``) or ``tdmrep`` (``.json``), host is the host the file was fetched from and the
file name is its capture date. The snapshot in force for a record is the latest one captured on or
before the record's crawl date (``signals``).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.registry.models import SNAPSHOT_KINDS, AiAgent, Snapshot, TdmRule
from auditor.registry.urls import parse_url_rule

SNAPSHOT_SUFFIX = {"robots": ".txt", "aitxt": ".txt", "tdmrep": ".json"}
TDM_KEYS = ("location", "tdm-reservation", "tdm-policy")
AGENT_KEYS = ("token", "operator", "role", "training", "source")
_SNAPSHOT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z]+)$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def load_snapshots(folder: Path, registry: str, problems: list[str]) -> list[Snapshot]:
    import datetime as dt

    out: list[Snapshot] = []
    for kind in SNAPSHOT_KINDS:
        top = folder / kind
        if not top.exists():
            continue
        suffix = SNAPSHOT_SUFFIX[kind]
        layout = f"{kind}/<host>/<YYYY-MM-DD>{suffix}"
        if not top.is_dir():
            problems.append(f"{top}: must be a folder laid out as {layout}")
            continue
        for host_dir in sorted(top.iterdir()):
            if not host_dir.is_dir():
                problems.append(f"{host_dir}: expected a folder per host ({layout})")
                continue
            try:
                host = parse_url_rule(host_dir.name, allow_path=False).host
            except ValueError as exc:
                problems.append(f"{host_dir}: folder name must be a host name: {exc}")
                continue
            for file in sorted(host_dir.iterdir()):
                m = _SNAPSHOT_NAME.match(file.name)
                if not file.is_file() or m is None or m.group(2) != suffix:
                    problems.append(f"{file}: expected files named <YYYY-MM-DD>{suffix} (the capture date)")
                    continue
                try:
                    captured = dt.date.fromisoformat(m.group(1))
                except ValueError:
                    problems.append(f"{file}: {m.group(1)!r} is not a calendar date")
                    continue
                try:
                    text = file.read_bytes().decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    problems.append(f"{file}: not valid UTF-8 (byte {exc.start})")
                    continue
                rules: tuple[TdmRule, ...] = ()
                if kind == "tdmrep":
                    try:
                        rules = parse_tdmrep(text)
                    except ValueError as exc:
                        problems.append(f"{file}: {exc}")
                        continue
                out.append(Snapshot(kind=kind, host=host, captured=captured, path=file, text=text,
                                    registry=registry, tdm_rules=rules))
    return out


def parse_tdmrep(text: str) -> tuple[TdmRule, ...]:
    """Rules of a TDMRep ``/.well-known/tdmrep.json``; ValueError names the rule and key."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise ValueError("must be a JSON array of rules {location, tdm-reservation, tdm-policy}")
    rules: list[TdmRule] = []
    for i, raw in enumerate(data):
        where = f"rule [{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(raw) - set(TDM_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(TDM_KEYS)}")
        location = raw.get("location")
        if not isinstance(location, str) or not location.startswith(("/", "*")):
            raise ValueError(f"{where}: location must be a path pattern starting with '/', got {location!r}")
        reservation = raw.get("tdm-reservation")
        if reservation not in (0, 1) or isinstance(reservation, bool):
            raise ValueError(f"{where}: tdm-reservation must be 0 or 1, got {reservation!r}")
        policy = raw.get("tdm-policy")
        if policy is not None and (not isinstance(policy, str) or not policy.strip()):
            raise ValueError(f"{where}: tdm-policy must be a URL string, got {policy!r}")
        rules.append(TdmRule(location=location, reservation=reservation, policy=policy))
    return tuple(rules)


def load_ai_agents(path: Path) -> tuple[AiAgent, ...]:
    """The AI user-agent table (``[[agent]]`` with token, operator, role, training, source)."""
    try:
        data: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: AI agents file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"agent"})
    if extra:
        raise ConfigError(f"{path}: unknown key(s) {extra}; allowed: agent")
    raw_agents = data.get("agent")
    if not isinstance(raw_agents, list) or not raw_agents:
        raise ConfigError(f"{path}: at least one [[agent]] table is required")
    agents: list[AiAgent] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_agents):
        where = f"{path}: agent[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table")
        extra = sorted(set(raw) - set(AGENT_KEYS))
        missing = [k for k in AGENT_KEYS if k not in raw]
        if extra or missing:
            raise ConfigError(f"{where}: " + (f"unknown key(s) {extra}; " if extra else "")
                              + (f"missing key(s) {missing}; " if missing else "")
                              + f"keys: {', '.join(AGENT_KEYS)}")
        for key in ("token", "operator", "role", "source"):
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise ConfigError(f"{where}: {key} must be a non-empty string")
        if not isinstance(raw["training"], bool):
            raise ConfigError(f"{where}: training must be true or false")
        token = raw["token"]
        if not _TOKEN_RE.match(token):
            raise ConfigError(f"{where}: token {token!r} must be a robots.txt product token ([A-Za-z0-9_.-])")
        if token.lower() in seen:
            raise ConfigError(f"{where}: token {token!r} is listed twice")
        seen.add(token.lower())
        agents.append(AiAgent(token=token, operator=raw["operator"], role=raw["role"],
                              training=raw["training"], source=raw["source"]))
    return tuple(agents)
