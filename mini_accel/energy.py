"""Energy per operation and per memory access, and where a workload's energy goes.

Two tables ship in ``mini_accel/data`` with a source on every row:

* ``energy_45nm.csv``: Horowitz's 45 nm, 0.9 V costs (ISSCC 2014, Fig.
  1.1.9) of integer and floating-point adds and multiplies, SRAM reads of
  three sizes and DRAM, plus Han et al.'s (NIPS 2015) 32-bit register-file,
  SRAM and DRAM rows. The 16-bit integer multiply is blank: no value was
  published. The 16-bit integer add is flagged (``status`` FLAG).
* ``energy_eyeriss.csv``: Eyeriss' normalized costs per access (Chen, Emer,
  Sze, ISCA 2016): ALU (MAC) 1x, RF 1x, array 2x, global buffer 6x, DRAM 200x.

:class:`EnergyModel` holds picojoules per event (a MAC, a register access, a
PE-to-PE hop, a buffer access, a DRAM word, a cache access) and
:meth:`EnergyModel.report` turns counts into an :class:`EnergyReport`: the
counts of a :class:`~mini_accel.SystolicResult` (or its ``to_dict()``), of a
:class:`~mini_accel.scratchpad.ScratchpadResult` and of a cache hierarchy's
:class:`~mini_accel.memory.HierarchyStats`, broken down by level and by
operation.

How many 32-bit integer adds cost as much as one 32-bit DRAM read?

>>> from mini_accel.energy import EnergyModel
>>> m = EnergyModel.horowitz_45nm("int32")
>>> round(m.cost("dram_read_32b") / m.cost("int32_add"))
6400

Example: a 256 x 256 x 256 float32 GEMM on a 32 x 32 weight-stationary
array, with square tiles as large as on-chip buffers of growing size allow
(one tile per operand buffer, loop order mnk). With small tiles every tile
of A and B comes from DRAM again and again, and DRAM takes most of the
energy. As the tiles grow the DRAM traffic falls toward its minimum (each
word once), although a larger SRAM costs more per access; once the operands
fit on chip, computing and moving data on chip take two thirds:

>>> import numpy as np
>>> from mini_accel import SystolicArray
>>> from mini_accel.scratchpad import Scratchpad
>>> rng = np.random.default_rng(0)
>>> A, B = rng.random((256, 256), np.float32), rng.random((256, 256), np.float32)
>>> res = SystolicArray(32, 32, dataflow="ws").matmul(A, B)
>>> for tile in (32, 64, 128, 256):
...     words = tile * tile
...     sp = Scratchpad(words, words, words).gemm(256, 256, 256, tile, tile, tile, "mnk")
...     model = EnergyModel.horowitz_45nm("fp32", buffer_bytes=3 * words * 4)
...     rep = model.report(systolic=res, scratchpad=sp)
...     print(f"tile {tile:3d}: {rep.total / 1e6:5.1f} uJ, DRAM {rep.share('DRAM'):.0%}")
tile  32: 941.0 uJ, DRAM 77%
tile  64: 663.1 uJ, DRAM 58%
tile 128: 479.6 uJ, DRAM 44%
tile 256: 387.9 uJ, DRAM 33%
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ._checks import UnknownName, check_instance, check_int, check_number, check_option, renamed_keyword
from .formats import FORMATS, canonical_format, formats_supported_by
from .tables import Table, TableResult, read_table

#: Table name -> CSV file in mini_accel/data.
TABLES = {"45nm": "energy_45nm.csv", "eyeriss": "energy_eyeriss.csv"}
#: Columns converted on reading, per table (the others stay strings).
_COLUMNS = {
    "45nm": {"ints": ("bits", "capacity_bytes"),
             "numbers": ("energy_pj", "energy_pj_high", "area_um2")},
    "eyeriss": {"ints": (), "numbers": ("normalized_energy",)},
}
#: Display order of levels in a report (others follow in order of appearance).
LEVEL_ORDER = ("PE", "RF", "array", "buffer", "L1", "L2", "L3", "DRAM", "other")
#: Number formats :meth:`EnergyModel.horowitz_45nm` knows, with the accumulator each
#: uses (read-only; derived from :data:`mini_accel.formats.FORMATS`).
ACCUMULATORS = MappingProxyType({name: FORMATS[name].accumulator
                                 for name in formats_supported_by("energy")})


def load_table(name: Literal["45nm", "eyeriss"] = "45nm") -> list[dict]:
    """Rows of an energy table as dicts; numbers parsed, blank cells ``None``.

    >>> rows = load_table("45nm")
    >>> [r["energy_pj"] for r in rows if r["name"] == "int16_mult"]
    [None]
    >>> {r["level"]: r["normalized_energy"] for r in load_table("eyeriss")}["DRAM"]
    200.0
    """
    name = check_option("name", name, tuple(TABLES))
    return read_table(TABLES[name], **_COLUMNS[name])


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #
class EnergyModel:
    """Energy per event, with a source for every entry.

    Parameters
    ----------
    costs : dict
        Energy per event. The keys :meth:`report` uses are ``"mac"`` (one
        multiply-accumulate), ``"rf"`` (one register-file access of a word),
        ``"array"`` (one PE-to-PE hop of a word), ``"buffer"`` (one on-chip
        buffer access of a word), ``"dram"`` (one word to or from DRAM), and
        cache-level names such as ``"L1"`` (one cache access). Any other key
        (e.g. ``"fp32_add"``) can be looked up with :meth:`cost` or charged
        with ``report(events=...)``.
    word_bits : int
        Size of the "word" the per-word costs refer to (operands are words).
    unit : str
        ``"pJ"``, or e.g. ``"x MAC"`` for the normalized Eyeriss model.
    sources : dict, optional
        Where each cost comes from (shown in reports).
    rf_per_mac : float
        Register-file accesses charged per MAC by :meth:`report` (default 3:
        the stationary operand, the moving operand and the partial sum).
    sram_table : {"45nm"} or None
        Where a cache level without its own entry gets its energy per access
        (by capacity, see :meth:`cache_access`); None: use ``"buffer"``.

    Build one from a table with :meth:`horowitz_45nm` or :meth:`eyeriss`, and
    change entries with :meth:`with_costs`.

    >>> m = EnergyModel({"mac": 1.0, "dram": 200.0}, unit="x MAC")
    >>> m.with_costs(dram=100).cost("dram")
    100.0
    """

    def __init__(self, costs: dict, *, word_bits: int = 32, unit: str = "pJ",
                 sources: dict | None = None, name: str = "custom", rf_per_mac: float = 3,
                 sram_table: Literal["45nm"] | None = None):
        if not isinstance(costs, dict) or not costs:
            raise TypeError("costs must be a non-empty dict of event name -> energy")
        self._costs = {}
        for key, value in costs.items():
            if not isinstance(key, str):
                raise TypeError(f"cost names must be strings, got {key!r}")
            self._costs[key] = check_number(f"costs[{key!r}]", value, low=0)
        self.word_bits = check_int("word_bits", word_bits, low=1)
        self.unit = str(unit)
        self.name = str(name)
        self.sources = {k: "user" for k in self._costs}
        if sources is not None:
            check_instance("sources", sources, dict, what="a dict {cost name: source}")
            self.sources.update(sources)
        self.rf_per_mac = check_number("rf_per_mac", rf_per_mac, low=0)
        if sram_table is not None:
            sram_table = check_option("sram_table", sram_table, ("45nm",))
        self.sram_table = sram_table

    # -- constructors ---------------------------------------------------------
    @classmethod
    @renamed_keyword("dtype", "precision")
    def horowitz_45nm(cls, precision: str = "int8", buffer_bytes: int = 32 * 1024,
                      dram: Literal["low", "high"] = "low", rf_per_mac: float = 3) -> EnergyModel:
        """The 45 nm model (Horowitz ISSCC 2014 and Han et al. NIPS 2015).

        ``precision`` is one of :data:`ACCUMULATORS` (``formats_supported_by("energy")``,
        aliases such as ``"float32"`` allowed). ``dtype=`` is its old name, still
        accepted with a DeprecationWarning for one release.

        * ``mac`` = multiply in ``precision`` + add in its accumulator type: int8
          and int32 accumulate in int32 (like the TPU), fp16 in fp32 (mixed
          precision), fp32 in fp32. int16 is refused: no published 16-bit
          integer multiply energy exists.
        * A word has the bits of ``precision``. Per-word memory costs are the
          published ones scaled by bits (derived, as Han et al. halve the
          64-bit SRAM read for a 32-bit word): ``rf`` = 1 pJ x bits/32;
          ``buffer`` = the 64-bit read of the smallest listed SRAM (8 KB,
          32 KB, 1 MB) holding ``buffer_bytes``, x bits/64; ``dram`` =
          1300 pJ (``dram="high"``: 2600 pJ) x bits/64.
        * ``array`` (a PE-to-PE hop) has no 45 nm value: it is set to 2 x
          ``rf``, Eyeriss' array-to-RF ratio (derived, mixing sources).
        * Cache levels get the 64-bit read of the smallest listed SRAM that
          holds them, per access (see :meth:`cache_access`).
        * Every op and memory row of the table is also available by its name,
          e.g. ``cost("fp32_mult")``.

        >>> m = EnergyModel.horowitz_45nm("int8")
        >>> m.cost("mac"), m.cost("dram"), m.word_bits      # 0.2 + 0.1; 1300 * 8/64
        (0.30000000000000004, 162.5, 8)
        """
        if isinstance(precision, str) and precision.strip().lower() == "int16":
            raise ValueError("no 16-bit integer multiply energy is published at 45 nm "
                             "(Horowitz 2014, Sze 2017); use int8, int32, fp16 or fp32, or "
                             "build an EnergyModel with your own 'mac' cost")
        precision = canonical_format(precision, supported_by="energy")
        dram = check_option("dram", dram, ("low", "high"))
        buffer_bytes = check_int("buffer_bytes", buffer_bytes, low=1)
        rows = {r["name"]: r for r in load_table("45nm")}
        costs, sources = {}, {}
        for name, r in rows.items():
            if r["energy_pj"] is not None:
                costs[name] = r["energy_pj"]
                sources[name] = f"{r['status']}: {r['source']}"
        bits = FORMATS[precision].bits
        acc = ACCUMULATORS[precision]
        mult, add = f"{precision}_mult", f"{acc}_add"
        costs["mac"] = rows[mult]["energy_pj"] + rows[add]["energy_pj"]
        sources["mac"] = f"D: {mult} + {add} (Horowitz 2014 Fig. 1.1.9)"
        costs["rf"] = rows["rf_access_32b"]["energy_pj"] * bits / 32
        sources["rf"] = f"D: rf_access_32b (Han et al. 2015) x {bits}/32"
        costs["array"] = 2 * costs["rf"]
        sources["array"] = "D: 2 x rf (Eyeriss ISCA 2016 array:RF = 2:1; no 45 nm value)"
        row = _sram_row(buffer_bytes, "buffer_bytes")
        costs["buffer"] = row["energy_pj"] * bits / 64
        sources["buffer"] = f"D: {row['name']} (Horowitz 2014) x {bits}/64"
        col = "energy_pj" if dram == "low" else "energy_pj_high"
        costs["dram"] = rows["dram_access_64b"][col] * bits / 64
        sources["dram"] = f"D: dram_access_64b {dram} end (Horowitz 2014) x {bits}/64"
        return cls(costs, word_bits=bits, unit="pJ", sources=sources, name=f"45nm {precision}",
                   rf_per_mac=rf_per_mac, sram_table="45nm")

    @classmethod
    def eyeriss(cls, mac_pj: float = 1.0, word_bits: int = 16,
                rf_per_mac: float = 3) -> EnergyModel:
        """Eyeriss' normalized costs (ISCA 2016): MAC 1, RF 1, array 2, buffer 6, DRAM 200.

        With ``mac_pj=1`` the unit is "x MAC" (energies relative to one MAC);
        give a MAC energy in pJ to scale the table. Cache levels are charged
        as the global buffer. (65 nm, 16-bit data in the Eyeriss chip.)

        >>> m = EnergyModel.eyeriss()
        >>> m.cost("dram") / m.cost("buffer")
        33.333333333333336
        """
        scale = check_number("mac_pj", mac_pj, low=0)
        rows = {r["level"]: r for r in load_table("eyeriss")}
        names = {"mac": "ALU", "rf": "RF", "array": "array", "buffer": "buffer", "dram": "DRAM"}
        costs = {k: rows[v]["normalized_energy"] * scale for k, v in names.items()}
        sources = {k: f"{rows[v]['status']}: {rows[v]['source']}" for k, v in names.items()}
        unit = "x MAC" if mac_pj == 1.0 else "pJ"
        return cls(costs, word_bits=word_bits, unit=unit, sources=sources, name="Eyeriss",
                   rf_per_mac=rf_per_mac)

    def with_costs(self, **costs) -> EnergyModel:
        """A copy with some entries replaced or added (marked "user override").

        >>> EnergyModel.horowitz_45nm("fp32").with_costs(L1=12.5).cost("L1")
        12.5
        """
        return EnergyModel({**self._costs, **costs}, word_bits=self.word_bits, unit=self.unit,
                           sources={**self.sources, **{k: "user override" for k in costs}},
                           name=self.name, rf_per_mac=self.rf_per_mac,
                           sram_table=self.sram_table)

    # -- lookups --------------------------------------------------------------
    @property
    def costs(self) -> dict:
        """A copy of the cost table."""
        return dict(self._costs)

    def cost(self, key: str) -> float:
        """Energy of one event ``key`` (in :attr:`unit`)."""
        if isinstance(key, str) and key in self._costs:
            return self._costs[key]
        if key == "int16_mult":
            raise UnknownName("key int16_mult: no published 45 nm value (Horowitz 2014 and Sze 2017 "
                              "have none); give your own with with_costs(int16_mult=...)")
        raise UnknownName(f"key: no cost named {key!r}; known: {sorted(self._costs)}")

    def cache_access(self, name: str, size_bytes: int | None = None) -> tuple[float, str]:
        """(energy, source) of one access to cache level ``name``.

        An explicit entry ``name`` wins; otherwise a 45 nm model uses the
        64-bit read of the smallest listed SRAM of at least ``size_bytes``,
        and other models the ``"buffer"`` cost.
        """
        if name in self._costs:
            return self._costs[name], self.sources.get(name, "user")
        if self.sram_table == "45nm" and size_bytes is not None:
            row = _sram_row(size_bytes, f"{name} size_bytes")
            return row["energy_pj"], f"D: {row['name']} (Horowitz 2014), one 64-bit access"
        if "buffer" in self._costs:
            return self._costs["buffer"], f"buffer cost (no entry for {name!r})"
        raise UnknownName(f"name: no energy for cache level {name!r}: add it with with_costs({name}=...)")

    def __repr__(self) -> str:
        main = ", ".join(f"{k}={self._costs[k]:g}" for k in ("mac", "rf", "array", "buffer", "dram")
                         if k in self._costs)
        return f"EnergyModel({self.name!r}: {main} {self.unit}; word_bits={self.word_bits})"

    # -- reports --------------------------------------------------------------
    def report(self, systolic=None, scratchpad=None, memory=None, events: dict | None = None,
               rf_per_mac: int | None = None) -> EnergyReport:
        """Turn counts into energy, by level and by operation.

        Parameters
        ----------
        systolic : SystolicResult or dict, optional
            MACs (``PE``), ``rf_per_mac`` register accesses per MAC (``RF``;
            default: the model's), PE-to-PE hops (``array``), and the array's
            reads of A and B and writes of C (``buffer``).
        scratchpad : ScratchpadResult or dict, optional
            Words between DRAM and the buffers (``DRAM``), and their writes
            into / reads out of the buffers (``buffer``). Without ``systolic``
            it also supplies the MACs and the buffer <-> array words.
        memory : HierarchyStats or dict, optional
            Cache accesses per level (one access each, see :meth:`cache_access`)
            and DRAM bytes, charged as ``bytes * 8 / word_bits`` words.
        events : dict, optional
            Extra events by cost name, e.g. ``{"fp32_add": 1000}`` (level ``other``).
        """
        rows: list[EnergyRow] = []

        def add(level, operation, operand, count, key, source=None):
            count = check_number(f"{level} {operation} {operand}".strip(), count, low=0)
            if count == 0:
                return
            each = self.cost(key)
            rows.append(EnergyRow(level, operation, operand, count, each, count * each,
                                  source or self.sources.get(key, "")))

        per_mac = self.rf_per_mac if rf_per_mac is None else check_number("rf_per_mac", rf_per_mac, low=0)
        sysd = _as_dict("systolic", systolic)
        spd = _as_dict("scratchpad", scratchpad)
        if sysd is not None:
            need = ("macs", "a_reads", "b_reads", "out_writes", "a_hops", "b_hops", "out_hops")
            _require("systolic", sysd, need)
            add("PE", "mac", "", sysd["macs"], "mac")
            add("RF", "access", "", sysd["macs"] * per_mac, "rf")
            for op, key in (("A", "a_hops"), ("B", "b_hops"), ("C", "out_hops")):
                add("array", "hop", op, sysd[key], "array")
            add("buffer", "read", "A", sysd["a_reads"], "buffer")
            add("buffer", "read", "B", sysd["b_reads"], "buffer")
            add("buffer", "write", "C", sysd["out_writes"], "buffer")
        if spd is not None:
            _require("scratchpad", spd, ("macs", "dram_reads_A", "dram_reads_B", "dram_reads_C",
                                         "dram_writes_C"))
            if sysd is None:
                add("PE", "mac", "", spd["macs"], "mac")
                for op in "ABC":
                    add("buffer", "read", op, spd.get(f"array_reads_{op}", 0), "buffer")
                add("buffer", "write", "C", spd.get("array_writes_C", 0), "buffer")
            for op in "ABC":
                add("DRAM", "read", op, spd[f"dram_reads_{op}"], "dram")
                add("buffer", "fill", op, spd[f"dram_reads_{op}"], "buffer")
            add("DRAM", "write", "C", spd["dram_writes_C"], "dram")
            add("buffer", "drain", "C", spd["dram_writes_C"], "buffer")
        memd = _as_dict("memory", memory)
        if memd is not None:
            if "levels" not in memd or "dram" not in memd:
                raise ValueError("memory must be HierarchyStats or its to_dict() "
                                 "(with 'levels' and 'dram')")
            for name, lv in memd["levels"].items():
                each, source = self.cache_access(name, lv.get("size_bytes"))
                reads = lv["read_hits"] + lv["read_misses"]
                writes = lv["write_hits"] + lv["write_misses"]
                for op, count in (("read", reads), ("write", writes)):
                    count = check_number(f"{name} {op}s", count, low=0)
                    if count:
                        rows.append(EnergyRow(name, op, "", count, each, count * each, source))
            d = memd["dram"]
            words_per_byte = 8 / self.word_bits
            add("DRAM", "read", "", d["bytes_read"] * words_per_byte, "dram")
            add("DRAM", "write", "", d["bytes_written"] * words_per_byte, "dram")
        if events is not None:
            check_instance("events", events, dict, what="a dict {cost name: count}")
        for key, count in (events or {}).items():
            add("other", key, "", count, key)
        return EnergyReport(rows, unit=self.unit, model=self.name)


def _sram_row(size_bytes: int, what: str) -> dict:
    """The 64-bit read row of the smallest 45 nm SRAM holding ``size_bytes``."""
    sram = sorted((r for r in load_table("45nm") if r["name"].startswith("sram_")
                   and r["bits"] == 64), key=lambda r: r["capacity_bytes"])
    for row in sram:
        if row["capacity_bytes"] >= size_bytes:
            return row
    raise ValueError(f"{what}={size_bytes:,}: the 45 nm table has no SRAM larger than "
                     f"{sram[-1]['capacity_bytes']:,} bytes; pass the energy yourself with "
                     "with_costs(...)")


def _as_dict(name, obj):
    if obj is None or isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"{name} must be a result object with to_dict() or a dict, "
                    f"got {type(obj).__name__}")


def _require(name, d, keys):
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{name} is missing {missing}; pass the result object or its to_dict()")


# --------------------------------------------------------------------------- #
# The report
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class EnergyRow:
    """One line of a report: ``count`` events at ``each`` = ``energy``.

    >>> EnergyModel({"mac": 0.5}).report(events={"mac": 4}).rows[0].energy
    2.0
    """

    level: str
    operation: str
    operand: str
    count: float
    each: float
    energy: float
    source: str

    def to_dict(self) -> dict:
        return {"level": self.level, "operation": self.operation, "operand": self.operand,
                "count": self.count, "each": self.each, "energy": self.energy,
                "source": self.source}


class EnergyReport(TableResult):
    """Where the energy went. Energies are in :attr:`unit` (pJ for 45 nm models).

    >>> rep = EnergyModel({"mac": 0.5, "dram": 100.0}).report(
    ...     events={"mac": 1000, "dram": 20})
    >>> rep.total, rep.share("other")
    (2500.0, 1.0)
    >>> rep.by_operation()
    {'mac': 500.0, 'dram': 2000.0}
    """

    def __init__(self, rows, unit: str = "pJ", model: str = ""):
        self.rows = tuple(rows)
        self.unit = unit
        self.model = model

    @property
    def total(self) -> float:
        """All the energy, in :attr:`unit`."""
        return float(sum(r.energy for r in self.rows))

    def _group(self, key) -> dict:
        out: dict = {}
        for r in self.rows:
            out[key(r)] = out.get(key(r), 0.0) + r.energy
        return out

    def by_level(self) -> dict:
        """Energy per level (PE, RF, array, buffer, caches, DRAM, other), in display order."""
        groups = self._group(lambda r: r.level)
        order = [lv for lv in LEVEL_ORDER if lv in groups]
        order += [lv for lv in groups if lv not in order]
        return {lv: groups[lv] for lv in order}

    def by_operation(self) -> dict:
        """Energy per operation (mac, access, hop, read, write, fill, drain, ...)."""
        return self._group(lambda r: r.operation)

    def share(self, level: str) -> float:
        """Fraction of the total spent at ``level`` (0 when the level is absent)."""
        total = self.total
        return self.by_level().get(level, 0.0) / total if total else 0.0

    def __add__(self, other: EnergyReport) -> EnergyReport:
        if not isinstance(other, EnergyReport):
            return NotImplemented
        if other.unit != self.unit:
            raise ValueError(f"cannot add reports in {self.unit} and {other.unit}")
        return EnergyReport(self.rows + other.rows, unit=self.unit, model=self.model)

    def to_rows(self) -> list[dict]:
        """One dict per line of the report."""
        return [r.to_dict() for r in self.rows]

    def to_frame(self):
        """A pandas DataFrame if pandas is installed, otherwise :meth:`to_rows`."""
        try:
            import pandas as pd
        except ImportError:
            return self.to_rows()
        return pd.DataFrame(self.to_rows(), columns=list(EnergyRow.__dataclass_fields__))

    def to_table(self) -> Table:
        """Every line, then the total per level, as one :class:`~mini_accel.tables.Table`."""
        total = self.total or 1.0
        rank = {lv: i for i, lv in enumerate(self.by_level())}
        rows = sorted(self.rows, key=lambda r: rank[r.level])      # stable within a level
        body = [(r.level, r.operation, r.operand, _whole(r.count), r.each, r.energy,
                 f"{r.energy / total:.1%}") for r in rows]
        body.append(("", "", "", None, None, None, ""))
        for lv, e in self.by_level().items():
            body.append((lv, "(total)", "", None, None, e, f"{e / total:.1%}"))
        body.append(("all", "(total)", "", None, None, self.total, "100.0%"))
        return Table(("level", "operation", "operand", "count", "each", "energy", "share"), body,
                     units={"each": self.unit, "energy": self.unit})

    def table(self) -> str:
        """A plain-text table: every line, then the total per level.

        >>> rep = EnergyModel({"mac": 0.5, "dram": 100.0}).report(events={"mac": 1000})
        >>> print(rep.table())
        level  operation  operand  count  each (pJ)  energy (pJ)  share
        -----  ---------  -------  -----  ---------  -----------  ------
        other  mac                  1000        0.5          500  100.0%
        <BLANKLINE>
        other  (total)                                       500  100.0%
        all    (total)                                       500  100.0%
        """
        return super().table()

    def __repr__(self) -> str:
        parts = ", ".join(f"{lv} {e / (self.total or 1):.0%}" for lv, e in self.by_level().items())
        return f"EnergyReport({self.total:,.1f} {self.unit}: {parts})"

    def plot(self, ax=None, by: Literal["level", "operation"] = "level"):
        """Bars of the energy by level (or ``by="operation"``); returns the Axes.

        The figure is :func:`mini_accel.viz.plot_energy_report` (matplotlib is
        imported only when it draws).
        """
        from .viz_energy import plot_energy_report
        return plot_energy_report(self, by=by, ax=ax)


def _whole(count: float):
    """A count as an int when it is whole (so tables print 1000, not 1000.0)."""
    return int(count) if float(count).is_integer() else count
