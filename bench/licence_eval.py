"""Accuracy of the licence engine.

    python bench/licence_eval.py [--quick] [--show-errors]

1. Normalisation: top-1 accuracy on bench/data/licence_normalise.tsv, licence strings as they appear in
   package and dataset metadata ('-' = must be reported unknown, not guessed).
2. Full-text identification: top-1 accuracy on the reference licence texts (the ScanCode texts shipped
   by licensedcode-data, ``pip install licensedcode-data``) with light edits, generated with a fixed
   seed: reflowed lines + changed copyright holder; wrapped in source-code comments; ~2% of words
   replaced; embedded in a longer source file. A negative control of generated prose and code (no
   licence) measures false positives.

Baseline in the same run: the same normalisation table through license-expression alone
(``get_spdx_licensing().validate``), which is what a tool without alias data would do.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from license_expression import get_spdx_licensing  # noqa: E402

from auditor.licences import normalise_licence  # noqa: E402
from auditor.licences.build_reference import licensedcode_dir, reference_ids, scancode_texts  # noqa: E402
from auditor.licences.fulltext import identify_full_text  # noqa: E402
from auditor.licences.tables import default_rules_dir, load_fulltext  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "licence_normalise.tsv"
SEED = 20261124
_HOLDER_PLACEHOLDERS = (
    "<copyright holders>", "<year>", "[yyyy]", "[name of copyright owner]", "<owner>", "<organization>",
    "<YEAR>", "<OWNER>", "<ORGANIZATION>", "[year]", "[fullname]", "<name of author>",
)  # fmt: skip
_FILLER = (
    "def main(argv):\n    return run(argv)\n",
    "int add(int a, int b) { return a + b; }\n",
    "for item in items:\n    total += item.size\n",
    "const config = { retries: 3, timeout: 30 };\n",
)


def read_table(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        rows.append((cells[0], cells[1]))
    return rows[1:]  # header


def eval_normalisation(show_errors: bool) -> tuple[float, float, int]:
    rows = read_table(DATA)
    licensing = get_spdx_licensing()
    ours = base = 0
    for text, expected in rows:
        got = normalise_licence(text).spdx or "-"
        ours += got == expected
        if got != expected and show_errors:
            print(f"  normalise: {text!r}: expected {expected}, got {got}")
        try:
            info = licensing.validate(text)
            baseline = info.normalized_expression if not info.errors else "-"
        except AttributeError:
            baseline = "-"
        base += (baseline or "-") == expected
    return ours / len(rows), base / len(rows), len(rows)


def _reflow_with_holder(text: str, rng: random.Random) -> str:
    for placeholder in _HOLDER_PLACEHOLDERS:
        text = text.replace(placeholder, rng.choice(["2023 Example Corp", "Jane Doe", "ACME Ltd."]))
    width = rng.randint(50, 100)
    paragraphs = [textwrap.fill(" ".join(p.split()), width) for p in text.split("\n\n") if p.strip()]
    return "Copyright (c) 2023 Example Holder Ltd.\n\n" + "\n\n".join(paragraphs)


def _commented(text: str, rng: random.Random) -> str:
    marker = rng.choice(["# ", " * ", "// ", "-- "])
    body = "\n".join(marker + line for line in textwrap.fill(" ".join(text.split()), 76).splitlines())
    return "/*\n" + body + "\n */\n" if marker == " * " else body + "\n"


def _word_noise(text: str, rng: random.Random, rate: float = 0.02) -> str:
    words = text.split()
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = rng.choice(["foo", "the", "software", "widget", "xyzzy", ""])
    return " ".join(words)


def _embedded(text: str, rng: random.Random) -> str:
    code = "".join(rng.choice(_FILLER) for _ in range(max(10, len(text) // 80)))
    return _commented(text, rng) + "\n" + code


def _truncated(text: str, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[: int(len(words) * 0.7)])


EDITS = {
    "reflow+holder": _reflow_with_holder,
    "comment-wrapped": _commented,
    "2%-word-noise": _word_noise,
    "embedded-in-code": _embedded,
}
# Heavier than "light edits": reported separately, not part of the target.
STRESS = {
    "10%-word-noise": lambda text, rng: _word_noise(text, rng, 0.10),
    "first-70%-only": _truncated,
}


def _negative_controls(rng: random.Random, n: int) -> list[str]:
    vocab = [
        "the",
        "a",
        "data",
        "model",
        "training",
        "corpus",
        "source",
        "code",
        "function",
        "return",
        "value",
        "licence",
        "terms",
        "use",
        "free",
        "software",
        "copy",
        "modify",
        "permission",
        "notice",
        "warranty",
        "any",
        "person",
        "rights",
        "party",
        "open",
        "dataset",
        "research",
    ]
    texts = []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(150, 1500))]
        texts.append(" ".join(words))
    return texts


def eval_full_text(
    quick: bool, show_errors: bool, edits: dict[str, object]
) -> tuple[dict[str, float], float, int, float]:
    folder = licensedcode_dir()
    if folder is None:
        raise SystemExit("licensedcode-data is not installed: pip install licensedcode-data")
    texts = scancode_texts(folder)
    ids = reference_ids(default_rules_dir())
    if quick:
        ids = ids[::4]
    index = load_fulltext()
    rng = random.Random(SEED)
    per_edit: dict[str, float] = {}
    elapsed = 0.0
    calls = 0
    for name, edit in edits.items():
        correct = 0
        for licence in ids:
            edited = edit(texts[licence][1], rng)  # type: ignore[operator]
            started = time.perf_counter()
            match = identify_full_text(edited, index)
            elapsed += time.perf_counter() - started
            calls += 1
            if match is not None and match.licence == licence:
                correct += 1
            elif show_errors:
                print(f"  full-text [{name}] {licence}: got {match}")
        per_edit[name] = correct / len(ids)
    controls = _negative_controls(rng, 50 if quick else 200)
    false_positives = sum(identify_full_text(t, index) is not None for t in controls)
    return per_edit, false_positives / len(controls), len(ids), elapsed / calls


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a quarter of the reference licences")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    ours, base, n = eval_normalisation(args.show_errors)
    print(f"normalisation: {n} strings; top-1 accuracy {ours:.1%} (license-expression alone: {base:.1%})")
    per_edit, fp_rate, n_refs, per_call = eval_full_text(args.quick, args.show_errors, EDITS)
    overall = sum(per_edit.values()) / len(per_edit)
    print(
        f"full-text identification: {n_refs} reference licences x {len(per_edit)} light edits; top-1 {overall:.1%}"
    )
    for name, accuracy in per_edit.items():
        print(f"  {name:18s} {accuracy:.1%}")
    print(
        f"  false positives on non-licence texts: {fp_rate:.1%}; {per_call * 1000:.2f} ms per identification"
    )
    stress, _, _, _ = eval_full_text(args.quick, args.show_errors, STRESS)
    print("  heavier edits (not part of the target): " + ", ".join(f"{k} {v:.1%}" for k, v in stress.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
