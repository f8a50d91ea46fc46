"""Builders for the open dataset (``datasets`` save_to_disk), the code corpus (Arrow IPC file + stream)
and the Chinese corpus (JSONL + JSONL.gz). Each returns ``{shard: [Rec, ...]}`` in row order."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from _code_bank import (
    APACHE2_NOTICE,
    BSD3_TEXT,
    C_SNIPPETS,
    GO_SNIPPETS,
    GPL3_NOTICE,
    IDENTS,
    JS_SNIPPETS,
    MIT_TEXT,
    PY_SNIPPETS,
    SH_SNIPPETS,
    VENDORED_TINYINI,
)
from _plant import (
    Filler,
    Pii,
    Rec,
    chinese_context,
    compose,
    edit_chars,
    edit_words,
    english_context,
    excerpt,
    excerpt_chars,
)
from _signals import expected_opt_outs, holder_for
from _text_bank import EXPLAINED, EXPLAINER, FILLERS, TOPICS
from _zh_bank import ZH_FILLERS, ZH_NOTICES, ZH_TOPICS
from faker import Faker

# (raw value in the `license` column, weight, what a licence normaliser should conclude)
OPEN_LICENCES: list[tuple[str | None, int, str]] = [
    ("cc-by-4.0", 40, "CC-BY-4.0"), ("CC-BY-4.0", 8, "CC-BY-4.0"), ("MIT License", 6, "MIT"),
    ("cc-by-sa-4.0", 8, "CC-BY-SA-4.0"), ("Apache 2.0", 5, "Apache-2.0"), ("CC BY-NC 4.0", 6, "CC-BY-NC-4.0"),
    ("public domain", 5, "LicenseRef-public-domain (no SPDX id)"), ("other", 4, "unknown (LicenseRef-other)"),
    ("", 5, "none in row: dataset licence cc-by-4.0 applies"), (None, 8, "none in row: dataset licence cc-by-4.0 applies"),
    ("CC BY 4.0", 0, "CC-BY-4.0"),  # used only by a planted row
]
OPEN_TOPICS = ["explainer", "explainer", "guide", "recipe", "report", "review", "hike"]


def _open_text(filler: Filler, rng: random.Random, fake: Faker, topic: str) -> str:
    ctx = english_context(rng, fake)
    if topic == "explainer":
        ctx["phenomenon"], ctx["cause_short"] = rng.choice(EXPLAINED)
        title = filler.fill(rng.choice(EXPLAINER["titles"]), ctx)
        body = [filler.fill(s, ctx) for s in rng.sample(EXPLAINER["body"], rng.randrange(4, 8))]
        return title + "\n\n" + " ".join(body)
    title, paragraphs = compose(filler, TOPICS[topic], ctx, rng.randrange(4, 8), rng)
    return "\n\n".join([title, *paragraphs])


def build_open_dataset(folder: Path, pii: Pii, works: dict[str, str], cross: Rec, seed: int) -> dict[str, list[Rec]]:
    rng = random.Random(seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    filler = Filler(rng, FILLERS)
    weights = [w for _, w, _ in OPEN_LICENCES]

    def rec(text: str, licence: str | None = "unset", **expect: Any) -> Rec:
        if licence == "unset":
            licence = rng.choices([v for v, _, _ in OPEN_LICENCES], weights)[0]
        concluded = next(c for v, _, c in OPEN_LICENCES if v == licence)
        return Rec({"id": "", "text": text, "license": licence}, expect={"licence_expected": concluded, **expect})

    train = [rec(_open_text(filler, rng, fake, rng.choice(OPEN_TOPICS))) for _ in range(228)]
    test = [rec(_open_text(filler, rng, fake, rng.choice(OPEN_TOPICS))) for _ in range(52)]
    twin = train[5]
    planted_train = [
        rec(twin.text, "CC BY 4.0", note="exact duplicate within train, licence spelled differently"),
        rec(cross.text, "cc-by-sa-4.0", note="exact copy of a webcrawl page (cross-source duplicate)"),
        rec(_open_text(filler, rng, fake, "review") + "\n\nFrom the novel:\n\n" + excerpt(works["W001"], 900, 300)
            + "\n\n" + _open_text(filler, rng, fake, "review"), "cc-by-4.0",
            works=[{"work": "W001", "words": 300, "kind": "verbatim excerpt"}],
            note="book excerpt in a row labelled cc-by-4.0 (W001 is on the opt-out list)"),
        rec(_open_text(filler, rng, fake, "guide") + f"\n\nQuestions? Write to {pii.email()} or call {pii.uk_phone()}.",
            pii={"email": 1, "phone": 1}),
        rec(_open_text(filler, rng, fake, "explainer") + f"\n\nSubmitted from {pii.ipv4()}.", pii={"ip_address": 1}),
        rec(_open_text(filler, rng, fake, "report") + f"\n\nApplicant SSN: {pii.us_ssn()}.", pii={"us_ssn": 1}),
    ]
    planted_test = [
        rec(train[11].text, note="test row identical to a train row (contamination)"),
        rec(edit_words(train[17].text, 0.05, rng, 2), note="test row: 5% of words of a train row edited in 2 runs"),
        rec(edit_words(train[23].text, 0.10, rng, 3), note="test row: 10% of words of a train row edited in 3 runs"),
        rec(_open_text(filler, rng, fake, "recipe") + f"\n\nRecipe sent in by {pii.email()}.", pii={"email": 1}),
        rec(_open_text(filler, rng, fake, "explainer")
            + f"\n\nCard used for the kit order: {pii.card()}. Citizen ID on file: {pii.cn_resident_id()}.",
            pii={"payment_card": 1, "cn_resident_id": 1}),
    ]
    clusters = [("open-exact-within-train", twin, planted_train[0]), ("open-exact-cross-source", cross, planted_train[1]),
                ("open-exact-train-test", train[11], planted_test[0]), ("open-near-train-test-05", train[17], planted_test[1]),
                ("open-near-train-test-10", train[23], planted_test[2])]
    for name, original, copy in clusters:
        copy.cluster = name
        if original.cluster is None:
            original.cluster, original.is_original = name, True
    for planted, rows in ((planted_train, train), (planted_test, test)):
        for p in planted:
            rows.insert(rng.randrange(30, len(rows)), p)
    for split, rows in (("train", train), ("test", test)):
        for i, r in enumerate(rows):
            r.fields["id"] = f"od-{split}-{i:04d}"
            if opt := expected_opt_outs(None, None, "", tuple(w["work"] for w in r.expect.get("works", []))):
                r.expect["opt_out"] = opt
    _save_dataset(folder, {"train": train, "test": test})
    return {"train": train, "test": test}


def _save_dataset(folder: Path, splits: dict[str, list[Rec]]) -> None:
    datasets.disable_progress_bars()
    info = datasets.DatasetInfo(
        description="Sample open dataset for auditor's quick start: short explanatory and web-style texts, "
                    "written for the project (synthetic).",
        homepage="https://example.org/datasets/sample-open", license="cc-by-4.0")
    features = datasets.Features({k: datasets.Value("string") for k in ("id", "text", "license")})
    parts = {}
    for split, rows in splits.items():
        table = pa.Table.from_pylist([r.fields for r in rows], schema=features.arrow_schema)
        fingerprint = hashlib.sha256(b"".join(r.text.encode() for r in rows)).hexdigest()[:16]
        parts[split] = datasets.Dataset(table, info=info.copy(), split=datasets.Split(split), fingerprint=fingerprint)
    datasets.DatasetDict(parts).save_to_disk(str(folder))
    (folder / "README.md").write_text("""---
license: cc-by-4.0
language:
- en
pretty_name: Sample open dataset (synthetic)
size_categories:
- n<1K
task_categories:
- text-generation
---

# Sample open dataset

Short explanatory and web-style English texts written for the auditor project's sample corpora.
The dataset as a whole is released under CC BY 4.0. Some rows state other terms in the `license`
column (they were contributed under those terms); rows with an empty or missing `license` fall under
the dataset licence. Splits: `train`, `test`.
""", encoding="utf-8")


REPOS: list[tuple[str, str | None, str | None, str, list[str], str, int, int]] = [
    # (org/repo, `license` column value, SPDX id in file headers, header style, languages, holder, year, files)
    ("acme/widgets", "MIT", "MIT", "spdx", ["py"], "Acme Widgets Ltd", 2023, 20),
    ("acme/ledger", "Apache-2.0", "Apache-2.0", "apache", ["py", "go"], "Acme Widgets Ltd", 2024, 20),
    ("northwind/pathfinder", "GPL-3.0-or-later", "GPL-3.0-or-later", "gpl", ["c", "py"], "Northwind Robotics", 2022, 20),
    ("northwind/gridtools", "BSD-3-Clause", "BSD-3-Clause", "spdx", ["py"], "Northwind Robotics", 2021, 18),
    ("tidepool/sensors", "MIT", "MIT", "spdx", ["py", "c"], "Tidepool Labs", 2025, 20),
    ("tidepool/deploy-scripts", None, None, "none", ["sh", "py"], "Tidepool Labs", 2025, 10),
    ("lumen/webui", "MIT", "MIT", "spdx", ["js"], "Lumen Collective", 2024, 22),
    ("quill/notes", "NOASSERTION", "Apache-2.0", "apache", ["js", "py"], "Quill Notes contributors", 2023, 16),
    ("harbor/agent", "Apache 2.0", "Apache-2.0", "spdx", ["go"], "Harbor Agent Authors", 2025, 14),
]
COMMENT = {"py": "# ", "sh": "# ", "js": "// ", "go": "// ", "c": " * "}
DOC_FORMAT = {"py": '"""{}"""', "js": "// {}", "go": "// {}", "c": "/* {} */", "sh": "# {}"}
SNIPPETS = {"py": PY_SNIPPETS, "js": JS_SNIPPETS, "go": GO_SNIPPETS, "c": C_SNIPPETS, "sh": SH_SNIPPETS}
PRELUDE = {"py": "from __future__ import annotations\n\nimport asyncio\nfrom dataclasses import dataclass\n",
           "go": "package «pkg»\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\t\"os\"\n\t\"sort\"\n\t\"strings\"\n\t\"time\"\n)\n",
           "c": "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n", "js": "", "sh": ""}


def _fill_code(template: str, rng: random.Random, idents: dict[str, str]) -> str:
    out = template
    for key, values in IDENTS.items():
        if f"«{key}»" in out:
            idents.setdefault(key, rng.choice(values))
            out = out.replace(f"«{key}»", idents[key])
    for key in ("n", "m"):
        idents.setdefault(key, str(rng.randrange(3, 9) if key == "n" else rng.randrange(12, 120)))
        out = out.replace(f"«{key}»", idents[key])
    return out


def _header(style: str, lang: str, spdx: str | None, holder: str, year: int, program: str,
            full_notice: bool = True) -> str:
    if style == "none" or spdx is None:
        return ""
    if style == "spdx" or not full_notice:
        lines = [f"SPDX-License-Identifier: {spdx}", f"Copyright (c) {year} {holder}"]
    else:
        notice = APACHE2_NOTICE if style == "apache" else GPL3_NOTICE
        lines = notice.replace("«year»", str(year)).replace("«holder»", holder).replace("«program»", program) \
            .replace("«purpose»", "route planning for small robots").splitlines()
    if lang == "c":
        return "/*\n" + "\n".join((" * " + ln).rstrip() for ln in lines) + "\n */\n"
    return "\n".join((COMMENT[lang] + ln).rstrip() for ln in lines) + "\n"


def _data_block(lang: str, rng: random.Random, fake: Faker) -> str:
    """A table of made-up values, different in every file (real modules carry such constants)."""
    name = rng.choice(["STATIONS", "DEFAULTS", "FIXTURES", "ROUTES", "SENSORS", "LIMITS", "REGIONS", "PRESETS"])
    rows = [(fake.city(), fake.lexify("???").upper(), rng.randrange(10, 5000), round(rng.uniform(-90, 90), 4))
            for _ in range(rng.randrange(5, 10))]
    if lang == "py":
        items = "\n".join(f'    {{"name": "{c}", "code": "{k}", "capacity": {n}, "lat": {x}}},' for c, k, n, x in rows)
        return f"{name} = [\n{items}\n]\n"
    if lang == "js":
        items = "\n".join(f'  {fake.word()}{fake.word().capitalize()}: "{fake.catch_phrase()}",' for _ in rows)
        return f"export const {name.lower()} = {{\n{items}\n}};\n"
    if lang == "go":
        items = "\n".join(f'\t"{c}": {n},' for c, _, n, _ in rows)
        return f"var {name.capitalize()} = map[string]int{{\n{items}\n}}\n"
    if lang == "c":
        values = ", ".join(str(rng.randrange(0, 65535)) for _ in range(rng.randrange(16, 32)))
        return f"static const unsigned short {name.lower()}[] = {{{values}}};\n"
    hosts = " ".join(f"{fake.domain_word()}.example.net" for _ in rows)
    return f'HOSTS="{hosts}"\nRETENTION_DAYS={rng.randrange(3, 60)}\n'


def _source_file(rng: random.Random, fake: Faker, lang: str, header: str) -> tuple[str, str]:
    """A source file: licence header, purpose comment, prelude, a table of constants, 1-2 snippets."""
    pkg = rng.choice(["agent", "ledger", "core", "util"])
    chosen = rng.sample(SNIPPETS[lang], min(len(SNIPPETS[lang]), rng.randrange(1, 3)))
    idents = [{} for _ in chosen]
    body = "\n\n".join(_fill_code(s, rng, d) for s, d in zip(chosen, idents, strict=True))
    doc = DOC_FORMAT[lang].format(f"{fake.catch_phrase()}: helpers to {fake.bs()}.") + "\n"
    parts = [header, doc, PRELUDE[lang].replace("«pkg»", pkg), _data_block(lang, rng, fake), body]
    if lang == "sh":  # the shebang must stay on the first line
        parts = ["#!/bin/sh\n", header, doc, parts[3], body.removeprefix("#!/bin/sh\n")]
    name = idents[0].get("fn") or idents[0].get("Fn") or idents[0].get("Cls") or "main"
    return name, "\n".join(p for p in parts if p)


def build_code(folder: Path, pii: Pii, seed: int) -> dict[str, list[Rec]]:
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    recs: list[Rec] = []

    def add(repo: str, licence: str | None, path: str, content: str, **expect: Any) -> Rec:
        r = Rec({"id": f"code-{len(recs):05d}", "path": path, "repo_url": f"https://git.example.com/{repo}",
                 "license": licence, "content": content}, expect={"path": f"{repo}/{path}", **expect},
                text_key="content")
        recs.append(r)
        return r

    ext = {"py": "py", "js": "js", "go": "go", "c": "c", "sh": "sh"}
    for repo, licence, spdx, style, langs, holder, year, n_files in REPOS:
        program = repo.split("/")[1]
        if licence in ("MIT", "BSD-3-Clause"):
            text = (MIT_TEXT if licence == "MIT" else BSD3_TEXT).replace("«year»", str(year)).replace("«holder»", holder)
            lic = add(repo, licence, "LICENSE", text, licence_in_content=spdx, note="full licence text")
            if licence == "MIT":
                lic.cluster = "code-near-mit-licence-files"
                lic.is_original = repo == "acme/widgets"
        licence_line = f"Licensed under {spdx}." if spdx else "No licence file yet."
        add(repo, licence, "README.md", f"# {program}\n\n{fake.catch_phrase()}. {program.capitalize()} helps teams "
            f"{fake.bs()}.\n\n## Install\n\n    git clone https://git.example.com/{repo}\n\n"
            f"Maintained by {holder}. {licence_line}\n")
        seen: set[str] = set()
        for _ in range(n_files):
            lang = rng.choice(langs)
            roll = rng.random()
            header = _header(style, lang, spdx, holder, year, program, full_notice=roll < 0.4) if roll < 0.75 else ""
            name, content = _source_file(rng, fake, lang, header)
            path = f"src/{name}.{ext[lang]}"
            k = 2
            while path in seen:
                path, k = f"src/{name}_{k}.{ext[lang]}", k + 1
            seen.add(path)
            add(repo, licence, path, content, **({"licence_in_content": spdx} if header else {}))
    gpl = _header("gpl", "py", "GPL-3.0-or-later", "Tidepool Labs", 2025, "sensors") + \
        "# SPDX-License-Identifier: GPL-3.0-or-later\n\n" + _source_file(rng, fake, "py", "")[1]
    add("tidepool/sensors", "MIT", "src/filters/kalman.py", gpl,
        licence_in_content="GPL-3.0-or-later", note="conflict: metadata says MIT, header says GPL-3.0-or-later")
    add("lumen/webui", "MIT", "docs/guide.md", "# User guide\n\nThis documentation is licensed under CC BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/). The code is MIT licensed.\n",
        licence_in_content="CC-BY-4.0", note="docs under CC-BY-4.0 inside an MIT repository")
    add("lumen/webui", "MIT", "AUTHORS", "\n".join(f"{pii.gb.name()} <{pii.email()}>" for _ in range(3)) + "\n",
        pii={"email": 3})
    key_id, secret = pii.aws_key_pair()
    add("tidepool/deploy-scripts", None, "config/settings.py",
        f'BUCKET = "tidepool-backups"\nAWS_ACCESS_KEY_ID = "{key_id}"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n',
        pii={"aws_access_key": 1, "aws_secret_key": 1})
    add("tidepool/deploy-scripts", None, ".env", f"GITHUB_TOKEN={pii.github_token()}\nDEPLOY_ENV=staging\n",
        pii={"github_token": 1})
    add("tidepool/deploy-scripts", None, "keys/deploy_key.pem", pii.private_key_block() + "\n",
        pii={"private_key": 1}, note="PEM-shaped block of random bytes, not a real key")
    add("tidepool/deploy-scripts", None, "tests/test_s3.py",
        'EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"  # the key id from the AWS documentation\n',
        note="AWS documentation example key id: report it or allow-list it, but say which")
    vendored = [add(repo, lic, path, VENDORED_TINYINI, licence_in_content="MIT") for repo, lic, path in [
        ("acme/widgets", "MIT", "vendor/tinyini.py"), ("northwind/gridtools", "BSD-3-Clause", "third_party/tinyini.py"),
        ("quill/notes", "NOASSERTION", "tools/tinyini.py")]]
    patched = VENDORED_TINYINI.replace('    return "\\n".join(parts)\n',
                                       '    # keep a trailing newline for POSIX tools\n    return "\\n".join(parts) + "\\n"\n')
    near = add("tidepool/sensors", "MIT", "vendor/tinyini.py", patched, licence_in_content="MIT",
               note="vendored copy with a local patch")
    for i, v in enumerate(vendored):
        v.cluster, v.is_original = "code-vendored-tinyini", i == 0
    near.cluster = "code-vendored-tinyini"
    order = list(range(len(recs)))
    rng.shuffle(order)
    main = [recs[i] for i in order]
    gists = []
    for i in range(18):
        lang = rng.choice(["py", "js", "sh"])
        _, content = _source_file(rng, fake, lang, "")
        gist_url = f"https://git.example.com/gists/{rng.getrandbits(40):010x}"
        gists.append(Rec({"id": f"gist-{i:03d}", "path": f"snippet.{ext[lang]}", "repo_url": gist_url,
                          "license": rng.choice(["CC0-1.0", None]), "content": content},
                         expect={"path": f"gists/{gist_url.rsplit('/', 1)[1]}/snippet.{ext[lang]}"}, text_key="content"))
    copy_of = main[7]
    dup = Rec(dict(copy_of.fields, id="gist-018", repo_url="https://git.example.com/gists/00c0ffee00", license=None),
              expect=copy_of.expect | {"path": f"gists/00c0ffee00/{copy_of.fields['path']}",
                                       "note": "gist that copies a repository file (exact duplicate across the two shards)"},
              text_key="content", cluster="code-exact-gist")
    copy_of.cluster, copy_of.is_original = "code-exact-gist", True
    gists.insert(9, dup)
    _write_ipc(folder / "code.arrow", main, stream=False)
    _write_ipc(folder / "gists-stream.arrow", gists, stream=True)
    return {"code.arrow": main, "gists-stream.arrow": gists}


def _write_ipc(path: Path, recs: list[Rec], *, stream: bool) -> None:
    schema = pa.schema([("id", pa.string()), ("path", pa.string()), ("repo_url", pa.string()),
                        ("license", pa.string()), ("content", pa.string())])
    table = pa.Table.from_pylist([r.fields for r in recs], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = pa.ipc.new_stream if stream else pa.ipc.new_file
    with pa.OSFile(str(path), "wb") as sink, opener(sink, schema) as writer:
        writer.write_table(table, max_chunksize=64)


TRADITIONAL_POST = (
    "請問有人知道臺北哪裡可以修理老式的底片相機嗎？我家裡有一台父親留下來的相機，快門好像卡住了，鏡頭上也有一點霉斑。"
    "之前問過幾家相機行，都說零件已經停產，沒辦法處理。如果有推薦的師傅，麻煩在下面留言，感激不盡。\n"
    "回覆：可以試試看中正區那邊的老店，師傅很有耐心，不過要排隊等一兩個星期。"
)


def build_chinese(folder: Path, pii: Pii, works: dict[str, str], seed: int) -> dict[str, list[Rec]]:
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    filler = Filler(rng, ZH_FILLERS)
    start = dt.date(2024, 12, 1)

    def article(topic: str, n_body: int | None = None) -> str:
        if topic == "forum":
            topic = rng.choice(["forum_tech", "forum_travel"])
        bank = ZH_TOPICS[topic]
        title, paragraphs = compose(filler, bank, chinese_context(rng, fake), n_body or rng.randrange(4, 9), rng)
        return "\n".join([title, *paragraphs])

    def rec(kind: str, host: str, text: str, day: dt.date | None = None, **expect: Any) -> Rec:
        day = day or start + dt.timedelta(days=rng.randrange(660))
        meta: dict[str, Any] = {"score": rng.randrange(40, 100)}
        if kind == "news":
            meta |= {"source": rng.choice(["临江日报", "望海新闻网", "青川晚报"]), "tags": rng.sample(["民生", "城建", "交通", "文旅"], 2)}
        else:
            meta |= {"board": rng.choice(["数码", "旅游", "美食", "本地生活"]), "replies": rng.randrange(0, 80)}
        fields: dict[str, Any] = {"id": "", "url": f"https://{host}/{'a' if kind == 'news' else 't'}/{rng.getrandbits(32):08x}.html",
                                  "crawl_date": day.isoformat(), "text": text, "meta": meta}
        return Rec(fields, expect=dict(expect))

    news = [rec("news", "news.example.cn", article("news")) for _ in range(140)]
    forum = [rec("forum", "bbs.example.cn", article("forum")) for _ in range(138)]
    for r in rng.sample(news, 45):
        r.fields["text"] += "\n" + rng.choice(ZH_NOTICES)
        r.expect["licence_hint"] = "版权所有 notice (all rights reserved)"
    reprint = rec("news", "www.example.cn", news[3].text)
    base = rec("news", "news.example.cn", article("news", n_body=16), dt.date(2025, 4, 9))
    near = [rec("forum", "bbs.example.cn", edit_chars(base.text, rate, rng, spans), note=note) for rate, spans, note in
            [(0.03, 2, "3% of characters edited in 2 runs"), (0.08, 3, "8% of characters edited in 3 runs"),
             (0.15, 0, "15% of characters edited, spread out")]]
    for name, original, copies in (("zh-exact-reprint", news[3], [reprint]), ("zh-near-news", base, near)):
        original.cluster, original.is_original = name, True
        for c in copies:
            c.cluster = name
    w005 = excerpt_chars(works["W005"], 560, 500)
    forum += [
        rec("forum", "bbs.example.cn", article("forum") + "\n转一段最近读到的小说，看哭了：\n" + w005 + "\n" + article("forum"),
            works=[{"work": "W005", "chars": 500, "kind": "verbatim excerpt"}]),
        rec("forum", "bbs.example.cn", f"帮朋友问一下，身份证号{pii.cn_resident_id()}的快递一直没收到，"
            f"电话{pii.cn_mobile()}也打不通，有人知道怎么回事吗？\n" + article("forum"),
            pii={"cn_resident_id": 1, "phone": 1}, note="id and mobile touch CJK characters"),
        rec("forum", "bbs.example.cn", article("forum") + f"\n有意者请联系{pii.cn_mobile()}，或发邮件到{pii.email('example.cn')}。",
            pii={"phone": 1, "email": 1}),
        rec("forum", "bbs.example.cn", f"这两个号码是订单号不是身份证：{pii.cn_resident_id(False)}、{pii.cn_resident_id(False)}，"
            "别再问了。\n" + article("forum"), pii_decoys={"cn_resident_id": 2},
            note="18-digit numbers with wrong GB 11643 check digits"),
        rec("forum", "bbs.example.cn", TRADITIONAL_POST, lang="zh", note="Traditional Chinese (langdetect tends to say ko)"),
        *near,
    ]
    news += [reprint, base, rec("news", "qingshi.example.cn", article("news") + "\n版权所有 © 2026 青石文化出版有限公司",
                                licence_hint="版权所有 notice (all rights reserved)")]
    rng.shuffle(news)
    rng.shuffle(forum)
    for name, rows in (("news", news), ("forum", forum)):
        for i, r in enumerate(rows):
            r.fields["id"] = f"cn-{name}-{i:04d}"
            _drift(r, rng, i)
            crawled = dt.date.fromisoformat(r.fields["crawl_date"]) if r.fields.get("crawl_date") else None
            works_ids = tuple(w["work"] for w in r.expect.get("works", []))
            opt = expected_opt_outs(r.fields["url"], crawled, "", works_ids)
            r.expect.update({k: v for k, v in (("url", r.fields["url"]), ("opt_out", opt),
                                               ("holder", holder_for(r.fields["url"]))) if v})
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "forum.jsonl", forum, compress=False)
    _write_jsonl(folder / "news.jsonl.gz", news, compress=True)
    return {"forum.jsonl": forum, "news.jsonl.gz": news}


def _drift(r: Rec, rng: random.Random, i: int) -> None:
    """Type drift as real scraped JSONL has it: score as a string in some rows, crawl_date absent or null."""
    if i % 7 == 3:
        r.fields["meta"]["score"] = str(r.fields["meta"]["score"])
        r.expect["drift"] = "meta.score is a string"
    if i % 11 == 5:
        del r.fields["crawl_date"]
        r.expect["drift"] = "crawl_date missing"
    elif i % 23 == 9:
        r.fields["crawl_date"] = None
        r.expect["drift"] = "crawl_date null"


def _write_jsonl(path: Path, recs: list[Rec], *, compress: bool) -> None:
    data = "".join(json.dumps(r.fields, ensure_ascii=False) + "\n" for r in recs).encode("utf-8")
    if compress:
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
