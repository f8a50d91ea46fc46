"""Building blocks for the sample corpora: template filling, synthetic PII and secrets, edits, Jaccard.

Everything here draws from a ``random.Random`` or a Faker instance that the caller seeds, and never
from today's date, so the generator's output is byte-identical from run to run.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from faker import Faker
from faker.providers.ssn.zh_CN import Provider as ZhSsnProvider
from stdnum import iban as iban_check
from stdnum import luhn
from stdnum.cn import ric

_SLOT = re.compile(r"\{(\w+)\}")
_SLOT_KEY = re.compile(r"([a-z_]+?)(\d*)")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
RIVERS = ["the River Wend", "the Marrow Brook", "the River Tallow", "the Askel", "the River Dunmere", "the Lune Water"]


@dataclass
class Rec:
    """One record: its column values, what a correct audit should report, and its planted cluster."""

    fields: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    cluster: str | None = None
    is_original: bool = False
    text_key: str = "text"
    record_id: str = ""

    @property
    def text(self) -> str:
        return self.fields[self.text_key] or ""


def excerpt(text: str, start_word: int, n_words: int) -> str:
    """``n_words`` consecutive words of ``text`` from word ``start_word``, as an exact substring."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if start_word + n_words > len(spans):
        raise ValueError(f"excerpt of {n_words} words from word {start_word} runs past the end ({len(spans)} words)")
    return text[spans[start_word][0] : spans[start_word + n_words - 1][1]]


def excerpt_chars(text: str, start: int, n_chars: int) -> str:
    """``n_chars`` characters of ``text`` from ``start``, with line breaks kept."""
    return text[start : start + n_chars]


def finish_clusters(recs: list[Rec]) -> dict[str, Any]:
    """Planted duplicate clusters: members (original first), how each relates to it, Jaccard to it."""
    groups: dict[str, list[Rec]] = {}
    for rec in recs:
        if rec.cluster:
            groups.setdefault(rec.cluster, []).append(rec)
    out: dict[str, Any] = {}
    for name, members in sorted(groups.items()):
        originals = [m for m in members if m.is_original]
        if len(originals) != 1:
            raise ValueError(f"cluster {name} needs exactly one original, has {len(originals)}")
        base = originals[0]
        others = [m for m in members if m is not base]
        cjk = bool(re.search(r"[\u4e00-\u9fff]", base.text))
        shingle = char_shingles if cjk else word_shingles
        relations = []
        for m in others:
            if m.text == base.text:
                relations.append("identical")
            elif m.text.split() == base.text.split():  # str.split() also splits on no-break spaces
                relations.append("whitespace-only")
            else:
                relations.append("edited")
        out[name] = {
            "kind": "exact" if all(r != "edited" for r in relations) else "near",
            "shingles": "char5 (whitespace removed)" if cjk else "word5 (lower-cased \\w+ tokens)",
            "members": [m.record_id for m in [base, *others]],
            "relation_to_first": ["original", *relations],
            "jaccard_to_first": [1.0, *(round(jaccard(shingle(base.text), shingle(m.text)), 3) for m in others)],
        }
    return out


class Filler:
    """Fills ``{slot}`` templates from a per-document context, drawing missing slots from word lists.

    ``{town2}`` means "a second town, different from ``{town}``"; a slot keeps its value within one
    document so that an article stays about one place and one person.
    """

    def __init__(self, rng: random.Random, fillers: Mapping[str, list[str]]) -> None:
        self.rng = rng
        self.fillers = fillers

    def fill(self, template: str, ctx: dict[str, str]) -> str:
        text = _SLOT.sub(lambda m: self._value(m.group(1), ctx), template)
        return text[:1].upper() + text[1:]

    def _value(self, key: str, ctx: dict[str, str]) -> str:
        if key in ctx:
            return ctx[key]
        base = key if key in self.fillers else _SLOT_KEY.fullmatch(key).group(1)
        if base not in self.fillers:
            raise KeyError(f"template slot {{{key}}} has no value and no word list")
        used = set(ctx.values())
        choices = [w for w in self.fillers[base] if w not in used] or self.fillers[base]
        ctx[key] = self.rng.choice(choices)
        return ctx[key]


def english_context(rng: random.Random, fake: Faker) -> dict[str, str]:
    """Names, places and numbers for one English document."""
    month = rng.randrange(12)
    return {
        "town": fake.city(), "town2": fake.city(), "town3": fake.city(),
        "village": fake.city(), "village2": fake.city(),
        "person": fake.name(), "person2": fake.name(),
        "org": fake.company(), "org2": fake.company(),
        "street": fake.street_name(), "river": rng.choice(RIVERS),
        "hours": str(rng.randrange(2, 9)), "route": str(rng.randrange(1, 99)),
        "month": MONTHS[month], "month2": MONTHS[(month + rng.randrange(1, 11)) % 12],
        "weekday": WEEKDAYS[rng.randrange(7)], "weekday2": WEEKDAYS[rng.randrange(7)],
        "num": str(rng.randrange(3, 48)), "num2": str(rng.randrange(2, 9)), "num3": f"{rng.randrange(120, 9800):,}",
        "pct": str(rng.randrange(3, 64)), "small": str(rng.randrange(1, 6)),
        "money": f"£{rng.randrange(1, 40)}.{rng.randrange(10)} million",
        "money_small": f"£{rng.randrange(12, 180)}", "money_small2": f"£{rng.randrange(180, 400)}",
        "pages": str(rng.randrange(180, 620)), "old_year": str(rng.randrange(1860, 1975)), "year": "2024", "year2": "2025",
        "year3": str(rng.randrange(2027, 2032)),
        "date": f"{rng.randrange(1, 29)} {MONTHS[rng.randrange(12)]}",
        "clock": f"{rng.randrange(6, 10)}.{rng.choice(['00', '15', '30', '45'])}",
    }


def chinese_context(rng: random.Random, fake_zh: Faker) -> dict[str, str]:
    """Names and numbers for one Chinese document."""
    return {
        "person": fake_zh.name(), "person2": fake_zh.name(),
        "num": str(rng.randrange(3, 60)), "num2": str(rng.randrange(2, 9)), "num3": str(rng.randrange(120, 9800)),
        "pct": str(rng.randrange(3, 45)), "month": f"{rng.randrange(1, 13)}月", "date_d": str(rng.randrange(1, 29)),
        "year": str(rng.randrange(2026, 2029)), "clock": str(rng.randrange(6, 10)),
    }


def compose(filler: Filler, topic: Mapping[str, list[str]], ctx: dict[str, str], n_body: int,
            rng: random.Random, quotes: int = 1) -> tuple[str, list[str]]:
    """A title and paragraphs: opening, ``n_body`` body sentences in 2-4 sentence paragraphs, quote, closing."""
    title = filler.fill(rng.choice(topic["titles"]), ctx)
    body = rng.sample(topic["body"], min(n_body, len(topic["body"])))
    sentences = [filler.fill(s, ctx) for s in body]
    for q in rng.sample(topic["quotes"], min(quotes, len(topic["quotes"]))):
        sentences.insert(rng.randrange(len(sentences) + 1), filler.fill(q, ctx))
    paragraphs = [filler.fill(rng.choice(topic["openings"]), ctx)]
    while sentences:
        take = rng.randrange(2, 5)
        sep = "" if _is_cjk(sentences[0]) else " "
        paragraphs.append(sep.join(sentences[:take]))
        sentences = sentences[take:]
    paragraphs.append(filler.fill(rng.choice(topic["closings"]), ctx))
    return title, paragraphs


def _is_cjk(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text[:8]))


class Pii:
    """Synthetic personal data and secrets. Phone numbers use ranges reserved for drama/fiction where
    they exist (UK Ofcom 020 7946 0xxx and 0113 496 0xxx, US 555-01xx); IPs use documentation ranges."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.gb, self.us, self.de, self.zh = (Faker(loc) for loc in ("en_GB", "en_US", "de_DE", "zh_CN"))
        for i, fake in enumerate((self.gb, self.us, self.de, self.zh)):
            fake.seed_instance(seed + i)
        # Area codes that both Faker and python-stdnum know, so every valid id passes stdnum.cn.ric.
        self.cn_areas = [a for a in ZhSsnProvider.area_codes if _known_cn_area(a)]

    def email(self, domain: str | None = None) -> str:
        first = re.sub(r"[^a-z]", "", self.gb.first_name().lower()) or "sam"
        last = re.sub(r"[^a-z]", "", self.gb.last_name().lower()) or "lee"
        domain = domain or self.rng.choice(["example.com", "example.net", "mail.example.org"])
        return f"{first}.{last}{self.rng.randrange(10, 99)}@{domain}"

    def uk_phone(self) -> str:
        number = self.rng.choice([f"020 7946 0{self.rng.randrange(1000):03d}", f"0113 496 0{self.rng.randrange(1000):03d}"])
        return _checked_phone(number, "GB")

    def us_phone(self) -> str:
        return _checked_phone(f"(202) 555-01{self.rng.randrange(100):02d}", "US")

    def cn_mobile(self) -> str:
        while True:
            number = self.zh.phone_number()
            parsed = phonenumbers.parse(number, "CN")
            if phonenumbers.is_valid_number(parsed) and number.startswith("1"):
                return number

    def iban(self, country: str = "GB") -> str:
        value = (self.de if country == "DE" else self.gb).iban()
        if not iban_check.is_valid(value):
            raise ValueError(f"Faker gave an invalid IBAN {value!r}")
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))

    def card(self) -> str:
        number = self.us.credit_card_number(card_type=self.rng.choice(["visa16", "mastercard"]))
        if not luhn.is_valid(number):
            raise ValueError("Faker gave a card number that fails Luhn")
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))

    def card_decoy(self) -> str:
        """16 digits grouped like a card that fail the Luhn check (an order number)."""
        digits = self.us.credit_card_number(card_type="visa16")
        bad = digits[:-1] + str((int(digits[-1]) + 1 + self.rng.randrange(8)) % 10)
        while luhn.is_valid(bad):
            bad = bad[:-1] + str((int(bad[-1]) + 1) % 10)
        return " ".join(bad[i : i + 4] for i in range(0, 16, 4))

    def us_ssn(self) -> str:
        return self.us.ssn()

    def ipv4(self) -> str:
        return f"{self.rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{self.rng.randrange(1, 255)}"

    def ipv6(self) -> str:
        return f"2001:db8:{self.rng.randrange(1, 0xFFFF):x}::{self.rng.randrange(1, 0xFFFF):x}"

    def cn_resident_id(self, valid: bool = True) -> str:
        """18-digit id built like Faker's zh_CN ``ssn()`` but with a fixed birth-date range (Faker's
        ``ssn()`` counts ages back from today, which would change the output every day)."""
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randrange(365 * 55))
        body = f"{self.rng.choice(self.cn_areas)}{birth:%Y%m%d}{self.rng.randrange(1000):03d}"
        check = ric.calc_check_digit(body + "0")
        if not valid:
            check = self.rng.choice([c for c in "0123456789X" if c != check])
        number = body + check
        if ric.is_valid(number) != valid:
            raise ValueError("resident id construction disagrees with stdnum.cn.ric")
        return number

    def aws_key_pair(self) -> tuple[str, str]:
        key_id = "AKIA" + "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return key_id, "".join(self.rng.choice(alphabet) for _ in range(40))

    def github_token(self) -> str:
        """``ghp_`` + 30 random base62 chars + base62 CRC32 of those 30 (GitHub's 2021 token format)."""
        body = "".join(self.rng.choice(BASE62) for _ in range(30))
        return f"ghp_{body}{_base62(zlib.crc32(body.encode('ascii'))).rjust(6, '0')}"

    def private_key_block(self) -> str:
        """A PEM-shaped block around random bytes: it looks like a key to a scanner but is not one."""
        data = base64.b64encode(self.rng.randbytes(600)).decode("ascii")
        lines = [data[i : i + 64] for i in range(0, len(data), 64)]
        return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"])


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(value: int) -> str:
    digits = ""
    while value:
        value, rem = divmod(value, 62)
        digits = BASE62[rem] + digits
    return digits or "0"


def _known_cn_area(code: str) -> bool:
    try:
        ric.get_birth_place(code + "19800101000" + "0")
    except Exception:  # stdnum raises its own ValidationError subclasses for unknown codes
        return False
    return True


def _checked_phone(number: str, region: str) -> str:
    if not phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
        raise ValueError(f"{number!r} is not a valid {region} number for phonenumbers")
    return number


# Substitutes for word edits: ordinary words, so an edited sentence still reads as English.
EDIT_WORDS = ["local", "recent", "several", "new", "small", "main", "later", "early", "other", "final", "public",
              "nearby", "latest", "whole", "usual", "former", "current", "annual", "second", "major"]
EDIT_CHARS = "的一是在了有和人这中大为上个我以要他时来用们生到作地出就分对成会可主发年动同工也能下过说产种面而方后多定"


def _positions(candidates: list[int], n_edit: int, spans: int, rng: random.Random) -> list[int]:
    """``n_edit`` of ``candidates``: ``spans`` contiguous runs (one per equal slice), or spread out if 0."""
    if not spans:
        return rng.sample(candidates, n_edit)
    run = -(-n_edit // spans)
    step = len(candidates) // spans
    chosen = []
    for s in range(spans):
        offset = s * step + rng.randrange(max(1, step - run))
        chosen.extend(candidates[offset : offset + run])
    return chosen


def edit_words(text: str, rate: float, rng: random.Random, spans: int = 0) -> str:
    """Replace about ``rate`` of the words: in ``spans`` contiguous runs, or spread out if ``spans`` is 0."""
    parts = re.split(r"(\s+)", text)
    word_idx = [i for i in range(0, len(parts), 2) if re.search(r"\w", parts[i])]
    n_edit = max(1, round(rate * len(word_idx)))
    chosen = _positions(word_idx, n_edit, spans, rng)
    for i in chosen:
        core = re.match(r"^(\W*)(\w[\w'’-]*)(\W*)$", parts[i])
        if not core:
            continue
        new = rng.choice([w for w in EDIT_WORDS if w != core.group(2).lower()])
        if core.group(2)[0].isupper():
            new = new.capitalize()
        parts[i] = core.group(1) + new + core.group(3)
    return "".join(parts)


def edit_chars(text: str, rate: float, rng: random.Random, spans: int = 0) -> str:
    """Replace about ``rate`` of the CJK characters, in ``spans`` runs or spread out."""
    chars = list(text)
    cjk = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
    n_edit = max(1, round(rate * len(cjk)))
    chosen = _positions(cjk, n_edit, spans, rng)
    for i in chosen:
        chars[i] = rng.choice([c for c in EDIT_CHARS if c != chars[i]])
    return "".join(chars)


def word_shingles(text: str, n: int = 5) -> set[str]:
    """Word n-grams after lower-casing and keeping only word characters (the README's reference)."""
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def char_shingles(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the text with all whitespace removed (for Chinese)."""
    chars = re.sub(r"\s+", "", text)
    return {chars[i : i + n] for i in range(max(1, len(chars) - n + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
