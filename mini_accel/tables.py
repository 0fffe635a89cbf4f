"""The course's data tables and result tables: one loader, one renderer.

Every published number the library uses lives in a CSV file under
``mini_accel/data/`` with a ``source`` column (paper and table, datasheet,
price page and date) and, where a row may be unverified, a ``status`` column
(``P`` primary, ``S`` secondary, ``D`` derived, ``FLAG`` unverified;
``mini_accel/data/SOURCES.md`` says what each means). :func:`read_table` is the one way the modules
read them: it types the columns it is told about, turns empty cells into
``None`` and skips ``#`` comment lines.

:class:`Table` is the one way results are shown: a list of rows with named
columns and units, printed as aligned text and rendered as an HTML table in
JupyterLab (``_repr_html_``).

>>> rows = read_table("energy_45nm.csv", numbers=("energy_pj",))
>>> sorted(rows[0])[:3], type(rows[0]["energy_pj"]).__name__
(['area_um2', 'bits', 'capacity_bytes'], 'float')
>>> t = Table(["op", "energy_pj"], [("int8 add", 0.03), ("fp32 mult", 3.7)], title="45 nm")
>>> print(t)
45 nm
op         energy_pj
---------  ---------
int8 add        0.03
fp32 mult        3.7
"""
from __future__ import annotations

import csv
import functools
import html
import math
import re
from importlib import resources

__all__ = ["read_table", "data_files", "Table", "TableResult", "format_number"]

#: What a ``status`` cell may hold: P primary, S secondary, D derived, FLAG
#: unverified, or a combination such as ``P/S`` (parts of the row from each)
#: or ``P-FLAG`` (a primary source recalled, not re-read); "not published".
STATUSES = ("P", "S", "D", "FLAG")


def _valid_status(text: str) -> bool:
    return text == "not published" or all(part in STATUSES for part in re.split(r"[/-]", text))


def data_files() -> tuple:
    """Names of the CSV tables shipped in ``mini_accel/data/``.

    >>> "devices.csv" in data_files()
    True
    """
    folder = resources.files("mini_accel").joinpath("data")
    return tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".csv")))


@functools.cache
def _raw(filename: str) -> tuple:
    if not isinstance(filename, str) or filename not in data_files():
        raise ValueError(f"filename must be one of {data_files()}, got {filename!r}")
    ref = resources.files("mini_accel").joinpath("data", filename)
    with ref.open("r", encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.lstrip().startswith("#")]
    return tuple(csv.DictReader(lines))


def _convert(filename: str, column: str, text: str, kind):
    text = text.strip()
    if text == "":
        return None
    try:
        if kind is bool:
            low = text.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return low in ("true", "1", "yes")
        return kind(text)
    except ValueError:
        raise ValueError(f"{filename}: column {column!r} holds {text!r}, not a {kind.__name__}") from None


def read_table(filename: str, *, numbers=(), ints=(), bools=()) -> list:
    """Rows of ``mini_accel/data/<filename>`` as dicts, in file order (a fresh copy each call).

    ``numbers``, ``ints`` and ``bools`` name the columns converted to float,
    int and bool; empty cells become ``None``; other columns stay strings.
    A ``status`` cell must be made of P, S, D and FLAG.

    >>> r = read_table("devices.csv", numbers=("int8_tops",))[0]
    >>> r["name"], r["int8_tops"]
    ('Google TPU v1', 92.0)
    """
    raw = _raw(filename)
    header = tuple(raw[0]) if raw else ()
    for group in (numbers, ints, bools):
        missing = [c for c in group if c not in header]
        if missing:
            raise ValueError(f"{filename} has no columns {missing}; its columns are {header}")
    kinds = {**{c: float for c in numbers}, **{c: int for c in ints}, **{c: bool for c in bools}}
    rows = []
    for r in raw:
        row = {}
        for col, text in r.items():
            text = "" if text is None else text
            row[col] = _convert(filename, col, text, kinds[col]) if col in kinds else text
        if row.get("status") and not _valid_status(row["status"]):
            raise ValueError(f"{filename}: status must be made of {STATUSES} (e.g. 'P/S'), "
                             f"got {row['status']!r}")
        rows.append(row)
    return rows


def format_number(value, digits: int = 4) -> str:
    """A number as people read it in a table: ``digits`` significant digits, no float noise.

    >>> format_number(0.1 + 0.2), format_number(1234567.0), format_number(3), format_number(None)
    ('0.3', '1.235e+06', '3', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


class Table:
    """Rows of results with named columns: aligned text for ``print``, HTML in JupyterLab.

    ``rows`` are sequences in ``columns`` order or dicts keyed by column;
    ``units`` maps a column to its unit (shown in the header).

    >>> t = Table(["chip", "tops"], [{"chip": "TPU v1", "tops": 92}], units={"tops": "TOPS"})
    >>> t.rows[0]["tops"], len(t)
    (92, 1)
    >>> "<th>tops (TOPS)</th>" in t._repr_html_()
    True
    """

    def __init__(self, columns, rows, *, units: dict | None = None, title: str | None = None,
                 digits: int = 4):
        self.columns = tuple(str(c) for c in columns)
        if not self.columns:
            raise ValueError("columns must name at least one column")
        self.units = dict(units or {})
        self.title = title
        self.digits = digits
        self.rows = []
        for i, row in enumerate(rows):
            if isinstance(row, dict):
                extra = set(row) - set(self.columns)
                if extra:
                    raise ValueError(f"rows[{i}] has columns {sorted(extra)} not in columns {self.columns}")
                self.rows.append({c: row.get(c) for c in self.columns})
            else:
                row = tuple(row)
                if len(row) != len(self.columns):
                    raise ValueError(f"rows[{i}] has {len(row)} values for {len(self.columns)} columns")
                self.rows.append(dict(zip(self.columns, row)))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def header(self) -> list:
        return [f"{c} ({self.units[c]})" if c in self.units else c for c in self.columns]

    def cells(self) -> list:
        return [[format_number(r[c], self.digits) for c in self.columns] for r in self.rows]

    def to_text(self) -> str:
        head, body = self.header(), self.cells()
        widths = [max([len(h)] + [len(row[j]) for row in body]) for j, h in enumerate(head)]
        numeric = [all(_looks_numeric(r[c]) for r in self.rows) for c in self.columns]

        def line(values):
            out = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
            return "  ".join(out).rstrip()
        lines = [self.title] if self.title else []
        lines += [line(head), "  ".join("-" * w for w in widths)] + [line(row) for row in body]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """The table as GitHub Markdown (for readings and closing notes)."""
        lines = ["| " + " | ".join(self.header()) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.cells()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = ["<table>"]
        if self.title:
            parts.append(f"<caption>{esc(self.title)}</caption>")
        parts.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in self.header()) + "</tr></thead>")
        parts.append("<tbody>")
        for row in self.cells():
            parts.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)


class TableResult:
    """What every result that shows a table shares: define :meth:`to_table`, get the rest.

    ``to_table()`` returns the :class:`Table`; ``table()`` is its text (what
    ``print(result.table())`` shows), ``_repr_html_`` renders it in JupyterLab
    and ``str(result)`` is the text too. A subclass may add lines below the
    table by overriding :meth:`footer`.

    >>> class Counts(TableResult):
    ...     def to_table(self):
    ...         return Table(["level", "hits"], [("L1", 90), ("L2", 9)])
    ...     def footer(self):
    ...         return "99 hits of 100"
    >>> print(Counts().table())
    level  hits
    -----  ----
    L1       90
    L2        9
    99 hits of 100
    """

    def to_table(self) -> Table:
        raise NotImplementedError(f"{type(self).__name__} must define to_table()")

    def footer(self) -> str:
        """Text below the table (totals, notes); empty by default."""
        return ""

    def table(self) -> str:
        """The table as aligned text, with the footer below it."""
        foot = self.footer()
        return self.to_table().to_text() + (f"\n{foot}" if foot else "")

    def _repr_html_(self) -> str:
        foot = self.footer()
        return self.to_table()._repr_html_() + (f"<pre>{html.escape(foot)}</pre>" if foot else "")

    def __str__(self) -> str:
        return self.table()


def _looks_numeric(value) -> bool:
    return value is None or (not isinstance(value, (str, bool)) and hasattr(value, "__float__"))
