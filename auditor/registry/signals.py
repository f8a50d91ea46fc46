"""Opt-out signals for one URL at one date: robots.txt, ai.txt and TDMRep.

- robots.txt (RFC 9309) and ai.txt are parsed by Protego (longest match wins, allow wins ties,
  product tokens matched case-insensitively, ``*`` as fallback group). A snapshot disallows a URL
  when it disallows it for any AI agent with ``training = true`` in ``rules/ai_agents.toml``; for
  ai.txt the ``*`` group counts as well (the whole file is about AI use).
- TDMRep: ``tdm-reservation`` 1 reserves, 0 does not, anything else is unset. Carriers in precedence
  order file < HTTP header < HTML meta: the highest-precedence carrier that sets a value decides.
  In tdmrep.json the first rule whose ``location`` pattern (robots syntax: ``*`` any characters,
  trailing ``$`` end) matches the path applies; none means unset.
- Snapshots: the one in force at a date is the latest captured on or before it. With none in force
  there is no signal; it is recorded as "no snapshot" (effective false). A later capture that
  reserves is recorded too, effective false, so that a policy about re-crawls can see it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from auditor.registry.models import AiAgent, Snapshot, TdmRule


@dataclass(frozen=True)
class Signal:
    signal: str
    detail: str
    effective: bool


class SnapshotSeries:
    """The snapshots of one kind for one host, by capture date."""

    def __init__(self, snapshots: list[Snapshot]) -> None:
        self.items = sorted(snapshots, key=lambda s: s.captured)
        self._dates = [s.captured for s in self.items]

    def in_force(self, date: dt.date) -> Snapshot | None:
        i = bisect.bisect_right(self._dates, date)
        return self.items[i - 1] if i else None

    @property
    def latest(self) -> Snapshot:
        return self.items[-1]


def _shorten(path: str, limit: int = 80) -> str:
    return path if len(path) <= limit else path[: limit - 3] + "..."


class RobotsChecker:
    """Protego parsers per snapshot, and the disallow verdicts for the AI training agents."""

    def __init__(self, agents: tuple[AiAgent, ...]) -> None:
        self.tokens = tuple(a.token for a in agents if a.training)
        self._parsers: dict[tuple[str, str, dt.date], object] = {}
        self._cache: dict[tuple[str, str, dt.date, str], tuple[str, ...]] = {}

    def _parser(self, snap: Snapshot):  # type: ignore[no-untyped-def]
        key = (snap.kind, snap.host, snap.captured)
        if key not in self._parsers:
            from protego import Protego

            self._parsers[key] = Protego.parse(snap.text)
        return self._parsers[key]

    def disallowed(self, snap: Snapshot, path: str) -> tuple[str, ...]:
        """Training agents (and ``*`` for ai.txt) that may not fetch ``path`` under ``snap``."""
        key = (snap.kind, snap.host, snap.captured, path)
        if key not in self._cache:
            if len(self._cache) > 200_000:  # bounded: URLs are mostly unique
                self._cache.clear()
            parser = self._parser(snap)
            url = f"https://{snap.host}{path}"
            tokens = (*self.tokens, "*") if snap.kind == "aitxt" else self.tokens
            self._cache[key] = tuple(t for t in tokens if not parser.can_fetch(url, t))
        return self._cache[key]

    def describe(self, agents: tuple[str, ...]) -> str:
        if set(self.tokens) <= set(agents):
            return "all AI training agents"
        return ", ".join(agents)

    def evaluate(self, series: SnapshotSeries, path: str, date: dt.date, note: str) -> list[Signal]:
        kind = series.items[0].kind
        name = "robots" if kind == "robots" else "ai.txt"
        current = series.in_force(date)
        out: list[Signal] = []
        if current is not None:
            agents = self.disallowed(current, path)
            if agents:
                return [Signal(name, f"{self.describe(agents)} disallowed {_shorten(path)} "
                                     f"({current.label}){note}", True)]
        latest = series.latest
        if latest is not current:
            agents = self.disallowed(latest, path)
            if agents:
                when = "no snapshot in force" if current is None else "not in force"
                out.append(Signal(name, f"{self.describe(agents)} disallowed {_shorten(path)} "
                                        f"({latest.label}, captured after {date.isoformat()}: {when}){note}",
                                  False))
            elif current is None:
                out.append(Signal(name, f"no snapshot of {latest.host} on or before {date.isoformat()} "
                                        f"(first capture {series.items[0].captured.isoformat()}){note}", False))
        return out


# -- TDMRep -----------------------------------------------------------------------------------------

def location_matches(pattern: str, path: str) -> bool:
    """robots.txt-style pattern: prefix match, ``*`` any characters, trailing ``$`` anchors."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.match(regex + ("$" if anchored else ""), path) is not None


def tdm_file_rule(snap: Snapshot, path: str) -> TdmRule | None:
    for rule in snap.tdm_rules:
        if location_matches(rule.location, path):
            return rule
    return None


def _tdm_value(text: str | None) -> int | None:
    if text is None:
        return None
    value = text.strip()
    return int(value) if value in ("0", "1") else None


def parse_tdm_headers(block: str) -> tuple[int | None, str | None]:
    """(tdm-reservation, tdm-policy) from a raw HTTP header block (the last occurrence wins)."""
    reservation: int | None = None
    policy: str | None = None
    for line in block.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        if key == "tdm-reservation":
            reservation = _tdm_value(value)
        elif key == "tdm-policy":
            policy = value.strip() or None
    return reservation, policy


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        name = values.get("name", "").strip().lower()
        if name in ("tdm-reservation", "tdm-policy"):
            self.found[name] = values.get("content", "")


def parse_tdm_meta(text: str) -> tuple[int | None, str | None]:
    """(tdm-reservation, tdm-policy) from HTML ``<meta name=... content=...>`` tags, or from a JSON
    object mapping those names to values."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            found = {str(k).lower(): v for k, v in data.items()}
            res = found.get("tdm-reservation")
            pol = found.get("tdm-policy")
            return _tdm_value(None if res is None else str(res)), (str(pol) if pol else None)
    parser = _MetaParser()
    parser.feed(text)
    parser.close()
    return _tdm_value(parser.found.get("tdm-reservation")), parser.found.get("tdm-policy") or None


def evaluate_tdm(series: SnapshotSeries | None, path: str, date: dt.date,
                 header: tuple[int | None, str | None], meta: tuple[int | None, str | None],
                 note: str) -> list[Signal]:
    """The TDMRep signal for one URL: at most one in-force entry plus informative ones."""
    carriers: list[tuple[str, int | None, str | None]] = []
    current = series.in_force(date) if series is not None else None
    if current is not None:
        rule = tdm_file_rule(current, path)
        if rule is not None:
            carriers.append((f"file {current.label}", rule.reservation, rule.policy))
    carriers.append(("header", *header))
    carriers.append(("meta", *meta))
    set_values = [c for c in carriers if c[1] is not None]
    out: list[Signal] = []
    if set_values:
        where, value, policy = set_values[-1]  # highest precedence last
        policy_text = f"; policy {policy}" if policy else ""
        if value == 1:
            return [Signal("tdmrep", f"tdm-reservation=1 from {where}{policy_text}{note}", True)]
        overridden = [c for c in set_values[:-1] if c[1] == 1]
        if overridden:
            out.append(Signal("tdmrep", f"tdm-reservation=0 from {where} overrides 1 from "
                                        f"{overridden[-1][0]}{note}", False))
    if series is not None and series.latest is not current:
        rule = tdm_file_rule(series.latest, path)
        if rule is not None and rule.reservation == 1:
            out.append(Signal("tdmrep", f"tdm-reservation=1 from file {series.latest.label}, captured "
                                        f"after {date.isoformat()}: not in force{note}", False))
    return out
