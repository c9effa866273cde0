"""Check a published page as a reader sees it: no small counts, no hidden count recoverable.

``check_html(html)`` reads every data table, every chart's data and every headline of a
report or app page and returns the problems it finds (empty when the page is safe):

- a count from 1 to 7 (a table cell in a count column; a value of a chart series whose
  ``meta.measure`` is ``"count"`` or unset; "3 people"-style phrases in the text);
- a hidden count (``*``) that is the only hidden value in a row or column that has a total,
  so subtracting the others from the total would give it back;
- a count in a sentence ("2,596 contacts") that is not rounded to 5, so it did not pass
  the publishing rule (every preset rounds to 5);
- the same when the total is written in a sentence rather than in the table or chart: a
  count in the page's text ("18,650 people") that is the sum of a column's or a chart
  series' published counts plus what its one hidden value could be (see ``sentence_totals``).

``check_rows(columns, rows)`` does the same for an exported table.

>>> check_rows(["Agency", "People"], [["a", 3], ["b", 40]])
['table: People: a count of 3 (row 1)']
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from typing import Any

SMALL = range(1, 8)
# Columns whose whole numbers are not counts of people or events.
NOT_COUNTS = re.compile(
    r"(?i)second|file|version|year|start|weight|%|£|spend|cost|amount|rank|age|month|date|"
    r"level|id\b|percent|rate|mean|median|average|per |\bdays?\b|\bweeks?\b|\bhours?\b"
)
INT = re.compile(r"^-?\d{1,3}(,\d{3})*$|^-?\d+$")
PHRASE = re.compile(
    r"\b([1-7])\s+(people|persons|residents|contacts|households|records|pairs|children|"
    r"adults|families|cases|individuals|patients|clients|users)\b",
    re.I,
)
TOTAL_LABEL = re.compile(r"(?i)^(all\b|total\b|all agencies|everyone)")
# A count in a sentence: a whole number (not money, a share, a date or a decimal) followed,
# within two words, by what it counts.
NOUNS = (
    r"people|persons?|residents|contacts|households|records|pairs|children|adults|families|"
    r"cases|individuals|patients|clients|users|transitions|events|referrals|members|visits"
)
SENTENCE_COUNT = re.compile(
    r"(?<![£$\d.,/-])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,]\d|\s*%|/\d)"
    rf"(?=(?:\s+[\w'()-]+){{0,2}}?\s+(?:{NOUNS})\b)",
    re.I,
)
# The largest count any publishing rule hides on its own (the 'under10' preset hides 1-9),
# and how far a published count may be from the truth (rounded to the nearest 5).
MAX_PRIMARY = 9
ROUNDING = 2


def _num(text: Any) -> int | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    s = str(text).strip()
    if INT.match(s):
        return int(s.replace(",", ""))
    return None


def _hidden(v: Any) -> bool:
    return v is None or str(v).strip() == "*"


def check_rows(columns: list[str], rows: list[list[Any]], where: str = "table") -> list[str]:
    """Problems in one table: small counts, and lone hidden values beside a total."""
    problems = []
    count_cols = [j for j, c in enumerate(columns) if j > 0 and not NOT_COUNTS.search(str(c))]
    for j in count_cols:
        for i, r in enumerate(rows):
            if j < len(r):
                n = _num(r[j])
                if n is not None and n in SMALL:
                    problems.append(f"{where}: {columns[j]}: a count of {n} (row {i + 1})")
    has_total_row = any(r and TOTAL_LABEL.match(str(r[0])) for r in rows)
    if has_total_row:
        for j in count_cols:
            col = [r[j] for r in rows if j < len(r)]
            if sum(_hidden(v) for v in col) == 1:
                problems.append(f"{where}: {columns[j]}: one hidden count beside its total")
    total_cols = [j for j, c in enumerate(columns) if j > 0 and TOTAL_LABEL.match(str(c))]
    if total_cols:
        for i, r in enumerate(rows):
            vals = [r[j] for j in count_cols if j < len(r)]
            if sum(_hidden(v) for v in vals) == 1:
                problems.append(f"{where}: row {i + 1}: one hidden count beside its total")
    return problems


def sentence_totals(text: str, lines: list[tuple[str, list[Any]]]) -> list[str]:
    """Hidden counts recoverable from a total written in a sentence.

    ``lines`` are (where, values) of each table column and chart series that has no total
    of its own and exactly one hidden value. A count N in ``text`` gives that value back
    (give or take the rounding) when N is the line's published sum S plus something the
    hidden value could be: at most 9 if it was hidden for being small, at most the line's
    smallest published count if it was hidden to protect another (secondary suppression);
    so N is flagged when S < N <= S + max(9, smallest) + 2 for each value rounded.
    """
    said = sorted({int(m.group(1).replace(",", "")) for m in SENTENCE_COUNT.finditer(text)})
    problems = []
    for where, values in lines:
        shown = [n for v in values if not _hidden(v) and (n := _num(v)) is not None]
        if sum(_hidden(v) for v in values) != 1 or not shown:
            continue
        total = sum(shown)
        smallest = min((n for n in shown if n > 0), default=0)
        top = total + max(MAX_PRIMARY, smallest) + ROUNDING * (len(shown) + 1)
        for n in said:
            if total < n <= top:
                problems.append(
                    f"{where}: its one hidden count can be worked out from the total {n:,} "
                    "written in the text"
                )
                break
    return problems


def _lines_without_totals(columns: list[str], rows: list[list[Any]], where: str):
    """(where, values) of each count column of a table that has no total row."""
    if any(r and TOTAL_LABEL.match(str(r[0])) for r in rows):
        return []
    count_cols = [j for j, c in enumerate(columns) if j > 0 and not NOT_COUNTS.search(str(c))]
    return [(f"{where}: {columns[j]}", [r[j] for r in rows if j < len(r)]) for j in count_cols]


def _series_lines(spec: dict[str, Any], where: str):
    """(where, values) of each count series of a chart (a hidden count is drawn as null)."""
    out = []
    for t in spec.get("data", []):
        meta = t.get("meta")
        measure = meta.get("measure") if isinstance(meta, dict) else None
        if measure not in (None, "count") or t.get("type") in ("waterfall", "table", "indicator"):
            continue
        key = "x" if t.get("orientation") == "h" else "y"
        values = _values(t.get(key))
        if values and all(v is None or isinstance(v, int | float) for v in values):
            vals = [None if v is None else int(v) if v == int(v) else v for v in values]
            out.append((f"{where}: series {t.get('name') or ''!r}", vals))
    return out


def _values(v: Any) -> list[Any]:
    """A trace's data array, decoding plotly's typed-array form ({'dtype', 'bdata'})."""
    if isinstance(v, dict) and "bdata" in v:
        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v) if isinstance(v, list | tuple) else []


def check_figure(spec: dict[str, Any], where: str = "chart") -> list[str]:
    """Small counts in the data of a chart's count series."""
    problems = []
    for t in spec.get("data", []):
        meta = t.get("meta")
        measure = meta.get("measure") if isinstance(meta, dict) else None
        if measure not in (None, "count"):
            continue
        if t.get("type") in ("waterfall", "table", "indicator"):
            continue
        key = "x" if t.get("orientation") == "h" else "y"
        for v in _values(t.get(key)):
            if isinstance(v, int | float) and not isinstance(v, bool) and v == int(v):
                if int(v) in SMALL:
                    title = (spec.get("layout", {}).get("title") or {}).get("text", "")
                    name = t.get("name") or title
                    problems.append(f"{where}: a count of {int(v)} in series {name!r}")
    return problems


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.scripts: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._in_table = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._head = False
        self._script: str | None = None
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._in_table += 1
            self.tables.append({"columns": [], "rows": [], "caption": ""})
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self._in_table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "script":
            self._script = a.get("id") or ""
            self._buf = []
        elif tag == "style":
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table -= 1
        elif tag == "thead":
            self._head = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            t = self.tables[-1]
            if self._head and not t["columns"]:
                t["columns"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._buf)))
            self._script = None
        elif tag == "style":
            self._skip -= 1

    def handle_data(self, data):
        if self._script is not None:
            self._buf.append(data)
        elif self._cell is not None:
            self._cell.append(data)
        elif not self._skip:
            self.text.append(data)


def check_html(html: str) -> list[str]:
    """Every problem on a published page (see the module docstring)."""
    page = _Page()
    page.feed(html)
    problems: list[str] = []
    lines: list[tuple[str, list[Any]]] = []
    for k, t in enumerate(page.tables, 1):
        problems += check_rows(t["columns"], t["rows"], f"table {k}")
        lines += _lines_without_totals(t["columns"], t["rows"], f"table {k}")
    for sid, body in page.scripts:
        if sid.endswith("-data"):
            spec = json.loads(body)
            problems += check_figure(spec, f"chart {sid[:-5]}")
            lines += _series_lines(spec, f"chart {sid[:-5]}")
    text = " ".join(" ".join(page.text).split())
    for m in PHRASE.finditer(text):
        problems.append(f"text: '{m.group(0)}'")
    for m in SENTENCE_COUNT.finditer(text):
        n = int(m.group(1).replace(",", ""))
        if n % 5 and n not in SMALL:
            said = text[m.start() : m.end() + 30].split(".")[0]
            problems.append(f"text: a count of {n:,} not rounded to 5 ('{said}')")
    problems += sentence_totals(text, lines)
    return problems
