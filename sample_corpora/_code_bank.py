"""Source-code snippets for the code corpus, written for this project (released with the repo).

Placeholders are written ``«name»`` (braces are code here). ``make_samples.py`` fills them per file
with identifiers drawn from ``IDENTS`` so that files built from the same snippet still differ.
Licence notices reproduce the standard header texts that the licences ask people to copy.
"""

from __future__ import annotations

PY_SNIPPETS: list[str] = [
    '''def «fn»(«arg»: list[str], limit: int = «n») -> list[str]:
    """Return at most ``limit`` unique «noun»s, keeping the first occurrence."""
    seen: set[str] = set()
    out: list[str] = []
    for item in «arg»:
        key = item.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(item)
        if len(out) >= limit:
            break
    return out
''',
    '''class «Cls»:
    """A small in-memory cache of «noun»s with a maximum age in seconds."""

    def __init__(self, max_age: float = «n».0) -> None:
        self._items: dict[str, tuple[float, object]] = {}
        self.max_age = max_age

    def get(self, key: str, now: float) -> object | None:
        entry = self._items.get(key)
        if entry is None or now - entry[0] > self.max_age:
            return None
        return entry[1]

    def put(self, key: str, value: object, now: float) -> None:
        self._items[key] = (now, value)
''',
    '''def «fn»(path: str) -> dict[str, str]:
    """Parse a KEY=VALUE «noun» file, ignoring blank lines and comments."""
    result: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"{path}:{number}: expected KEY=VALUE")
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result
''',
    '''def «fn»(«arg»: float, low: float = «n».0, high: float = «m».0) -> float:
    """Clamp a «noun» reading into [low, high] and round it for display."""
    if low > high:
        raise ValueError("low must not exceed high")
    return round(min(max(«arg», low), high), 2)
''',
    '''def «fn»(rows: list[dict[str, int]], field: str = "«noun»") -> dict[int, int]:
    """Count how often each value of ``field`` occurs."""
    counts: dict[int, int] = {}
    for row in rows:
        value = row.get(field, 0)
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))
''',
    '''async def «fn»(client, «arg»: str, retries: int = «n») -> bytes:
    """Fetch one «noun» with a simple linear back-off."""
    delay = 0.5
    for attempt in range(retries):
        response = await client.get(«arg»)
        if response.status_code == 200:
            return response.content
        await asyncio.sleep(delay * (attempt + 1))
    raise RuntimeError(f"giving up on {«arg»} after {retries} attempts")
''',
    '''@dataclass(frozen=True)
class «Cls»:
    «field»: str
    «field2»: int = «n»

    def label(self) -> str:
        return f"{self.«field»} ({self.«field2»} «noun»s)"
''',
    '''def «fn»(text: str, width: int = «m») -> list[str]:
    """Wrap a «noun» description to ``width`` columns without splitting words."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        lines.append(current)
    return lines
''',
]

JS_SNIPPETS: list[str] = [
    '''export function «fn»(«arg», delayMs = «n»00) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => «arg»(...args), delayMs);
  };
}
''',
    '''export async function «fn»(url, { retries = «n» } = {}) {
  for (let i = 0; i < retries; i += 1) {
    const res = await fetch(url);
    if (res.ok) return res.json();
    await new Promise((r) => setTimeout(r, 250 * (i + 1)));
  }
  throw new Error(`«noun» request failed: ${url}`);
}
''',
    '''export class «Cls» {
  constructor(capacity = «m») {
    this.capacity = capacity;
    this.«field» = new Map();
  }

  touch(key, value) {
    this.«field».delete(key);
    this.«field».set(key, value);
    if (this.«field».size > this.capacity) {
      this.«field».delete(this.«field».keys().next().value);
    }
  }
}
''',
    '''export const «fn» = (items, key = "«field»") =>
  items.reduce((groups, item) => {
    const k = item[key] ?? "unknown";
    (groups[k] ||= []).push(item);
    return groups;
  }, {});
''',
    '''function «fn»(«arg») {
  // Format a «noun» count for the status bar: 1234 -> "1.2k".
  if («arg» < 1000) return String(«arg»);
  if («arg» < 1e6) return `${(«arg» / 1e3).toFixed(1)}k`;
  return `${(«arg» / 1e6).toFixed(1)}M`;
}
''',
]

GO_SNIPPETS: list[str] = [
    '''// «Fn» returns the «noun»s whose score is at least min, sorted by score.
func «Fn»(items []«Cls», min int) []«Cls» {
	out := make([]«Cls», 0, len(items))
	for _, it := range items {
		if it.Score >= min {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}
''',
    '''type «Cls» struct {
	Name  string
	Score int
	«Field» time.Time
}

func (c «Cls») String() string {
	return fmt.Sprintf("%s (%d)", c.Name, c.Score)
}
''',
    '''func «fn»(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, «n»*time.Second)
	defer cancel()
	done := make(chan struct{})
	var data []byte
	var err error
	go func() { data, err = os.ReadFile(path); close(done) }()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("reading «noun» %s: %w", path, ctx.Err())
	case <-done:
		return data, err
	}
}
''',
]

GO_SNIPPETS += [
    '''// «Fn» parses "key=value" pairs separated by commas into a map of «noun» settings.
func «Fn»(spec string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("«fn»: bad pair %q", part)
		}
		out[k] = v
	}
	return out, nil
}
''',
    '''// «Cls»Stats keeps a running mean of «noun» values without storing them.
type «Cls»Stats struct {
	n    int
	mean float64
}

func (s *«Cls»Stats) Add(x float64) {
	s.n++
	s.mean += (x - s.mean) / float64(s.n)
}

func (s *«Cls»Stats) Mean() float64 { return s.mean }
''',
]

C_SNIPPETS: list[str] = [
    '''/* Return the number of «noun»s in buf that are not whitespace. */
size_t «fn»(const char *buf, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\\t' && buf[i] != '\\n')
            count++;
    }
    return count;
}
''',
    '''static int «fn»(struct «cls» *s, int value)
{
    if (s->len >= «m»)
        return -1;
    s->items[s->len++] = value;
    return 0;
}
''',
]

C_SNIPPETS += [
    '''/* Fletcher-16 checksum over a «noun» record. */
uint16_t «fn»(const uint8_t *data, size_t len)
{
    uint16_t sum1 = 0, sum2 = 0;
    while (len--) {
        sum1 = (uint16_t)((sum1 + *data++) % 255);
        sum2 = (uint16_t)((sum2 + sum1) % 255);
    }
    return (uint16_t)((sum2 << 8) | sum1);
}
''',
    '''int «fn»(const char *path, long *out_«field»)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        perror(path);
        return -1;
    }
    int ok = fscanf(fp, "%ld", out_«field») == 1;
    fclose(fp);
    return ok ? 0 : -2;
}
''',
]

SH_SNIPPETS: list[str] = [
    '''#!/bin/sh
set -eu
# Back up the «noun» directory, keeping the last «n» archives.
src="${1:-./«field»}"
dest="${2:-./backups}"
mkdir -p "$dest"
tar -czf "$dest/«field»-$(date +%Y%m%d).tar.gz" "$src"
ls -1t "$dest"/«field»-*.tar.gz | tail -n +«m» | xargs -r rm --
''',
]

IDENTS: dict[str, list[str]] = {
    "fn": ["dedupe_names", "load_settings", "clamp_reading", "count_values", "fetch_blob", "wrap_text",
           "debounce", "fetchJson", "groupBy", "formatCount", "filter_rows", "read_config", "parse_env",
           "unique_tags", "normalise_titles", "tally_scores", "split_lines", "pick_top", "trim_labels"],
    "Fn": ["FilterByScore", "TopItems", "Ranked", "SelectActive", "KeepBest"],
    "Cls": ["TtlCache", "Sensor", "Station", "LruCache", "Ticket", "Reading", "Track", "Job", "Sample"],
    "cls": ["stack", "queue", "ring", "pool", "buffer"],
    "arg": ["names", "value", "fn", "handler", "url", "total", "readings", "items"],
    "field": ["entries", "store", "name", "label", "title", "data", "logs", "cache"],
    "field2": ["count", "size", "priority", "weight", "port"],
    "Field": ["Updated", "Created", "Seen", "Expires"],
    "noun": ["tag", "reading", "station", "ticket", "track", "sample", "user", "order", "event", "invoice"],
}

MIT_TEXT = """MIT License

Copyright (c) «year» «holder»

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

BSD3_TEXT = """Copyright (c) «year», «holder»
All rights reserved.

Redistribution and use in source and binary forms, with or without modification,
are permitted provided that the following conditions are met:

* Redistributions of source code must retain the above copyright notice, this
  list of conditions and the following disclaimer.

* Redistributions in binary form must reproduce the above copyright notice, this
  list of conditions and the following disclaimer in the documentation and/or
  other materials provided with the distribution.

* Neither the name of the copyright holder nor the names of its
  contributors may be used to endorse or promote products derived from
  this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND
ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED
WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR
ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
(INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES;
LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON
ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""

GPL3_NOTICE = """«program» - «purpose»
Copyright (C) «year»  «holder»

This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.

This program is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
GNU General Public License for more details.

You should have received a copy of the GNU General Public License
along with this program.  If not, see <https://www.gnu.org/licenses/>.
"""

APACHE2_NOTICE = """Copyright «year» «holder»

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""

# A small helper module "vendored" (copied) into several repositories; written for this project.
VENDORED_TINYINI = '''"""tinyini: read flat INI files into dictionaries (vendored copy, do not edit)."""

# SPDX-License-Identifier: MIT

def parse(text):
    section = "default"
    data = {section: {}}
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            data.setdefault(section, {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError("tinyini: expected key = value, got %r" % raw)
        data[section][key.strip()] = value.strip()
    return data


def dump(data):
    parts = []
    for section, values in data.items():
        parts.append("[%s]" % section)
        for key, value in values.items():
            parts.append("%s = %s" % (key, value))
        parts.append("")
    return "\\n".join(parts)
'''
