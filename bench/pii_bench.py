"""PII detection benchmark: precision/recall per type on a generated labelled corpus, and throughput.

    python bench/pii_bench.py [--quick] [--docs N] [--seed S]

Corpus: ~2 KB documents of Faker filler text (en_US, en_GB, de_DE, fr_FR, zh_CN; seeded) with numbers,
dates, prices and version strings mixed in, into which labelled PII values (Faker e-mails, phones, cards,
IBANs, zh_CN resident IDs, en_US SSNs, public IPs, generated credentials) and unlabelled decoys
(Luhn-failing cards, IDs with a wrong check digit, IBANs with wrong check digits, private IPs, version
strings, serial/order numbers, dates) are inserted at known offsets. A finding is a true positive when
it overlaps a label of the same type; every other finding is a false positive.

Phone labels: Faker's phone numbers are kept only when phonenumbers deems them valid for the locale's
region (many en_US/de_DE ones are not), so phone recall is measured against valid numbers only; half of
them get a context word ("Tel: ", "电话：") in front. zh_CN filler ends sentences with "。" and inserted
values are followed by a Chinese word, so values touch CJK characters, as in real Chinese text.

Throughput: the PII stage (RE2 triggers + Python patterns) on (a) the PII-dense labelled corpus and
(b) a corpus where 10% of documents hold PII, against two baselines measured in the same run: every
detector on every row without triggers, and one plain e-mail regex over every row.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
import time
from collections import defaultdict
from pathlib import Path

import phonenumbers
import pyarrow as pa
from faker import Faker
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.cn import ric

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.pii import PiiScanner, default_detectors  # noqa: E402

LOCALES = {
    "en_US": ("en", "US"),
    "en_GB": ("en", "GB"),
    "de_DE": ("de", "DE"),
    "fr_FR": ("fr", "FR"),
    "zh_CN": ("zh", "CN"),
}
DOC_CHARS = 2000
PHONE_CONTEXT = {
    "en_US": "Tel: ",
    "en_GB": "Phone ",
    "de_DE": "Telefon: ",
    "fr_FR": "Tél. ",
    "zh_CN": "电话：",
}
Label = tuple[str, int, int]  # (type, start, end)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class CorpusMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed + i)
            self.fakers[locale] = fake

    # -- labelled values -------------------------------------------------------------------------
    def pii(self, locale: str) -> tuple[str, str] | None:
        fake, rng = self.fakers[locale], self.rng
        kinds = ["email", "phone", "payment_card", "iban", "ipv4", "ipv6", "secret"]
        kinds += ["cn_resident_id"] * 2 if locale == "zh_CN" else []
        kinds += ["us_ssn"] * 2 if locale == "en_US" else []
        kind = rng.choice(kinds)
        if kind == "email":
            return kind, fake.email()
        if kind == "phone":
            number = fake.phone_number()
            region = LOCALES[locale][1]
            try:
                valid = phonenumbers.is_valid_number(phonenumbers.parse(number.split("x")[0], region))
            except phonenumbers.NumberParseException:
                valid = False
            return (kind, number.split("x")[0].strip()) if valid else None
        if kind == "payment_card":
            digits = fake.credit_card_number()
            if len(digits) == 16 and rng.random() < 0.5:
                sep = rng.choice(" -")
                digits = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
            return kind, digits
        if kind == "iban":
            value = fake.iban()
            if not stdnum_iban.is_valid(value):
                return None  # Faker's zh_CN iban() gives 21-character GB IBANs, which are invalid
            if rng.random() < 0.3:
                value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
            return kind, value
        if kind == "ipv4":
            return "ip_address", fake.ipv4_public()
        if kind == "ipv6":
            import ipaddress

            value = fake.ipv6()
            address = ipaddress.ip_address(value)
            return ("ip_address", value) if address.is_global and not address.is_multicast else None
        if kind == "cn_resident_id":
            return kind, fake.ssn()
        if kind == "us_ssn":
            return kind, fake.ssn()
        return self.secret()

    def secret(self) -> tuple[str, str]:
        rng = self.rng
        choice = rng.randrange(5)
        if choice == 4:
            alphabet = string.ascii_letters + string.digits + "/+"
            return "aws_secret_key", "".join(rng.choice(alphabet) for _ in range(40))
        if choice == 0:
            return "aws_access_key", "AKIA" + "".join(
                rng.choice(string.ascii_uppercase + "234567") for _ in range(16)
            )
        if choice == 1:
            alphabet = string.ascii_letters + string.digits
            return "github_token", "ghp_" + "".join(rng.choice(alphabet) for _ in range(36))
        if choice == 2:
            header = _b64({"alg": "HS256", "typ": "JWT"})
            payload = _b64({"sub": str(rng.randrange(10**9)), "iat": 1700000000 + rng.randrange(10**6)})
            signature = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(43))
            return "jwt", f"{header}.{payload}.{signature}"
        return "secret_assignment", "".join(
            rng.choice(string.ascii_letters + string.digits + "!#%&") for _ in range(14)
        )

    # -- decoys and filler -----------------------------------------------------------------------
    def decoy(self, locale: str) -> str:
        fake, rng = self.fakers[locale], self.rng
        choice = rng.randrange(9)
        if choice == 0:  # card failing Luhn
            digits = fake.credit_card_number()
            return digits[:-1] + str((int(digits[-1]) + rng.randrange(1, 10)) % 10)
        if choice == 1:  # resident ID with a wrong check digit
            value = self.fakers["zh_CN"].ssn()
            body = value[:17]
            wrong = [c for c in "0123456789X" if c != ric.calc_check_digit(body + "0")]
            return body + rng.choice(wrong)
        if choice == 2:  # IBAN with wrong check digits
            value = fake.iban()
            return value[:2] + f"{(int(value[2:4]) + rng.randrange(1, 90)) % 97 + 2:02d}" + value[4:]
        if choice == 3:
            return f"{rng.choice(['192.168', '10.0', '172.16'])}.{rng.randrange(256)}.{rng.randrange(256)}"
        if choice == 4:
            return (
                f"version {rng.randrange(1, 20)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(100)}"
            )
        if choice == 5:
            return f"Serial No. {rng.randrange(10**9, 10**10)}"
        if choice == 6:
            return f"订单编号 1{rng.randrange(3, 10)}{rng.randrange(10**8, 10**9)}"
        if choice == 7:
            return fake.date()
        body = str(rng.randrange(10**14, 10**15))
        return "ref " + body + str((int(luhn.calc_check_digit(body)) + 1) % 10)

    def numbers(self) -> str:
        rng = self.rng
        return rng.choice(
            [
                f"{rng.randrange(1, 999)}.{rng.randrange(10, 99)} EUR",
                f"in {rng.randrange(1900, 2030)}",
                f"{rng.randrange(1, 100000):,}",
                f"{rng.randrange(1, 31)}/{rng.randrange(1, 13)}/{rng.randrange(1990, 2030)}",
                f"page {rng.randrange(1, 500)}",
            ]
        )

    def document(self, locale: str, pii_rate: float) -> tuple[str, list[Label]]:
        fake, rng = self.fakers[locale], self.rng
        parts: list[str] = []
        labels: list[Label] = []
        length = 0
        sep = "" if locale == "zh_CN" else " "
        while length < DOC_CHARS:
            roll = rng.random()
            if roll < pii_rate:
                item = self.pii(locale)
                if item is None:
                    continue
                kind, value = item
                prefix = {
                    "secret_assignment": "password = ",
                    "aws_secret_key": "aws_secret_access_key = ",
                }.get(kind, "")
                if kind == "phone" and rng.random() < 0.5:
                    prefix = PHONE_CONTEXT[locale]
                chunk = f"{prefix}{value}"
                start = length + len(sep) + len(prefix)
                labels.append((kind, start, start + len(value)))
            elif roll < pii_rate * 1.6:
                chunk = self.decoy(locale)
            elif roll < pii_rate * 1.6 + 0.1:
                chunk = self.numbers()
            else:
                chunk = fake.sentence(nb_words=rng.randrange(6, 14))
                if locale == "zh_CN":
                    chunk = chunk.replace(".", "。")
            if locale == "zh_CN" and not "\u4e00" <= chunk[-1] <= "\u9fff" and chunk[-1] != "。":
                chunk += fake.word()  # Chinese text: values touch CJK characters, not each other
            parts.append(sep + chunk)
            length += len(sep) + len(chunk)
        return "".join(parts), labels


def make_corpus(
    maker: CorpusMaker, n_docs: int, pii_rate: float
) -> tuple[list[str], list[str], list[list[Label]]]:
    texts, langs, labels = [], [], []
    locales = list(LOCALES)
    for i in range(n_docs):
        locale = locales[i % len(locales)]
        text, doc_labels = maker.document(locale, pii_rate)
        texts.append(text)
        langs.append(LOCALES[locale][0])
        labels.append(doc_labels)
    return texts, langs, labels


def score(findings: list[list], labels: list[list[Label]]) -> dict[str, list[int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for doc_findings, doc_labels in zip(findings, labels, strict=True):
        matched = set()
        for f in doc_findings:
            hit = next(
                (
                    i
                    for i, (kind, s, e) in enumerate(doc_labels)
                    if kind == f.detector and f.start < e and s < f.end
                ),
                None,
            )
            if hit is None:
                counts[f.detector][1] += 1
            else:
                counts[f.detector][0] += 1
                matched.add(hit)
        for i, (kind, _, _) in enumerate(doc_labels):
            if i not in matched:
                counts[kind][2] += 1
    return counts


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small corpus for development")
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    n_docs = args.docs or (500 if args.quick else 5000)
    maker = CorpusMaker(args.seed)
    texts, langs, labels = make_corpus(maker, n_docs, pii_rate=0.08)
    scanner = PiiScanner(default_detectors())
    text_array, lang_array = pa.array(texts, pa.large_string()), pa.array(langs, pa.string())
    findings = scanner.scan_texts(text_array, lang_array)

    counts = score(findings, labels)
    n_labels = sum(len(x) for x in labels)
    print(
        f"labelled corpus: {n_docs} docs, {sum(map(len, texts)) / 1e6:.1f} M chars, {n_labels} labelled values"
    )
    print(f"{'type':<20}{'labels':>8}{'TP':>7}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}")
    for kind in sorted(counts):
        tp, fp, fn = counts[kind]
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        print(f"{kind:<20}{tp + fn:>8}{tp:>7}{fp:>6}{fn:>6}{precision:>11.4f}{recall:>8.4f}")

    # Throughput: PII-dense corpus, and a corpus where ~10% of documents hold PII.
    sparse_texts, sparse_langs, _ = make_corpus(CorpusMaker(args.seed + 1), n_docs, pii_rate=0.0)
    rng = random.Random(args.seed)
    for i in rng.sample(range(n_docs), n_docs // 10):
        sparse_texts[i] = texts[i]
    email_re = re.compile(default_detectors().get("email").patterns[0].regex.pattern)
    print("\nthroughput (best of 3, one process; MB = 10^6 UTF-8 bytes):")
    for name, corpus, corpus_langs in (
        ("pii-dense", texts, langs),
        ("10% with pii", sparse_texts, sparse_langs),
    ):
        array, lang_arr = pa.array(corpus, pa.large_string()), pa.array(corpus_langs, pa.string())
        megabytes = sum(len(t.encode()) for t in corpus) / 1e6
        stage = timed(lambda array=array, lang_arr=lang_arr: scanner.scan_texts(array, lang_arr))
        naive = timed(
            lambda corpus=corpus, corpus_langs=corpus_langs: [
                scanner.scan(t, lang=lg) for t, lg in zip(corpus, corpus_langs, strict=True)
            ],
            repeat=1,
        )
        one_regex = timed(lambda corpus=corpus: [list(email_re.finditer(t)) for t in corpus])
        print(
            f"  {name:<14} stage {megabytes / stage:7.1f} MB/s | baseline all detectors, no triggers "
            f"{megabytes / naive:6.1f} MB/s (stage x{naive / stage:.1f}) | baseline one e-mail regex "
            f"{megabytes / one_regex:7.1f} MB/s (stage / it = {one_regex / stage:.2f})"
        )

    print("\nadversarial inputs (1 MB each), time relative to 1 MB of the PII-dense corpus:")
    normal = "".join(texts)[:1_000_000]
    base = timed(lambda: scanner.scan_texts(pa.array([normal], pa.large_string())), repeat=1)
    for name, text in (
        ("digits", "7" * 1_000_000),
        ("no spaces", "ab1cD" * 200_000),
        ("@ run", "@" * 1_000_000),
        ("spaced digit pairs", "".join(f"{rng.randrange(10, 100)} " for _ in range(333_333))),
        ("digits x2 (2 MB)", "7" * 2_000_000),
    ):
        elapsed = timed(lambda text=text: scanner.scan_texts(pa.array([text], pa.large_string())), repeat=1)
        print(f"  {name:<20} {elapsed:7.3f} s  ratio {elapsed / base:6.2f}")


if __name__ == "__main__":
    main()
