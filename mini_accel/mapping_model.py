"""Loop-nest mappings of a layer onto a spatial accelerator, with exact access counts.

A convolution is seven nested loops over ``N K C P Q R S`` (batch, output
channels, input channels, output rows/columns, filter rows/columns)::

    for n, k, c, p, q, r, s:
        O[n, k, p, q] += W[k, c, r, s] * I[n, c, p*stride + r*dilation, q*stride + s*dilation]

An :class:`Architecture` is a chain of storage levels (DRAM, a global buffer,
per-PE register files), outermost first, with an array of PEs below one of
them. A :class:`Mapping` splits every loop into one factor per level plus a
spatial factor (unrolled across the PEs), orders the loops of each level and
says which level keeps which tensor (the others are bypassed).

The counting model (the same one ``tests/reference_mapping.py`` executes
element by element):

* The tile of a tensor at level ``l`` is the data touched by the loops of
  level ``l`` and the levels below it (and by the spatial loops when ``l`` is
  above the array). Each time the loops *above* ``l`` change that tile, the
  level loads the whole new tile from the nearest level above that keeps the
  tensor (no partial halo reuse). The first tile counts as a load.
* A load of weights or inputs reads the union of the PEs' tiles from the
  parent once (multicast) and writes every PE's copy; each word that crosses
  the array is one array (network) access.
* Partial sums: when an output tile leaves a level it is written back to the
  parent (PEs that hold the same outputs are reduced in the network, so the
  parent receives the union); when it comes back it is read again, except the
  first time, when it starts at zero.
* Each MAC reads a weight, an input and a partial sum and writes the partial
  sum at the innermost level that keeps each tensor (a level above the array
  multicasts one read to every PE that needs the same word in that cycle).
* Cycles: one MAC per active PE per cycle, the product of all temporal factors.

>>> layer = ConvLayer(K=4, C=2, P=3, R=3)
>>> arch = Architecture.eyeriss_like(num_pes=4, rf_words=64, buffer_words=1024)
>>> m = Mapping.from_factors(arch, layer, temporal=[{"K": 2}, {}, {"C": 2, "R": 3, "P": 3}],
...                          spatial={"K": 2})
>>> res = evaluate(layer, arch, m)
>>> res.macs, res.cycles, res.counts["RF"]["W"]["reads"]
(72, 36, 72)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ._checks import UnknownName, check_bool, check_instance, check_int, check_number

DIMS = ("N", "K", "C", "P", "Q", "R", "S")
TENSORS = ("W", "I", "O")
#: The dimensions each tensor's coordinates depend on.
RELEVANT = {"W": frozenset("KCRS"), "I": frozenset("NCPQRS"), "O": frozenset("NKPQ")}
_TENSOR_NAMES = {"W": "weights", "I": "inputs", "O": "outputs (partial sums)"}
#: Largest loop bound, stride or dilation of a layer (2**31 - 1).
MAX_DIM = 2 ** 31 - 1


# --------------------------------------------------------------------------- #
# The layer
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ConvLayer:
    """A convolution (or a GEMM) as seven loop bounds plus stride and dilation.

    ``H = (P-1)*stride + (R-1)*dilation + 1`` input rows (no padding: pad the
    input beforehand), likewise ``W`` columns.

    >>> ConvLayer(K=96, C=3, P=55, Q=55, R=11, S=11, stride=4).H
    227
    >>> ConvLayer.gemm(M=8, K=16, N=4).macs     # (8 x 16) @ (16 x 4)
    512
    """
    N: int = 1
    K: int = 1
    C: int = 1
    P: int = 1
    Q: int = 1
    R: int = 1
    S: int = 1
    stride: int = 1
    dilation: int = 1
    name: str = ""

    def __post_init__(self):
        for d in DIMS + ("stride", "dilation"):
            object.__setattr__(self, d, check_int(f"ConvLayer {d}", getattr(self, d), low=1,
                                                  high=MAX_DIM))
        if not isinstance(self.name, str):
            raise TypeError(f"ConvLayer name must be a str, got {type(self.name).__name__}")

    @classmethod
    def gemm(cls, M: int, K: int, N: int, name: str = "") -> ConvLayer:
        """``(M x K) @ (K x N)`` as a layer: M is the batch N, K the channels C, N the filters K.

        >>> ConvLayer.gemm(2, 3, 4).bounds["C"]
        3
        """
        M, K, N = (check_int(n, v, low=1, high=MAX_DIM) for n, v in (("M", M), ("K", K), ("N", N)))
        return cls(N=M, K=N, C=K, name=name)

    @property
    def H(self) -> int:
        return (self.P - 1) * self.stride + (self.R - 1) * self.dilation + 1

    @property
    def W(self) -> int:
        return (self.Q - 1) * self.stride + (self.S - 1) * self.dilation + 1

    @property
    def bounds(self) -> dict:
        return {d: getattr(self, d) for d in DIMS}

    @property
    def macs(self) -> int:
        return math.prod(getattr(self, d) for d in DIMS)

    def tensor_words(self) -> dict:
        """Words of each tensor: ``{"W": K*C*R*S, "I": N*C*H*W, "O": N*K*P*Q}``.

        >>> ConvLayer(K=2, C=3, P=4, R=3).tensor_words()
        {'W': 18, 'I': 18, 'O': 8}
        """
        return {"W": self.K * self.C * self.R * self.S, "I": self.N * self.C * self.H * self.W,
                "O": self.N * self.K * self.P * self.Q}


# --------------------------------------------------------------------------- #
# The architecture
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Level:
    """A storage level: capacity in words (None = unbounded) and energy per word access.

    >>> Level("RF", 256, 1.0).capacity_words
    256
    """
    name: str
    capacity_words: int | None
    access_pj: float

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Level name must be a non-empty str, got {self.name!r}")
        if self.capacity_words is not None:
            object.__setattr__(self, "capacity_words",
                               check_int(f"Level {self.name!r} capacity_words",
                                         self.capacity_words, low=0))
        object.__setattr__(self, "access_pj",
                           check_number(f"Level {self.name!r} access_pj", self.access_pj, low=0))


@dataclass(frozen=True)
class Architecture:
    """Storage levels (outermost first), a PE array below level ``array_below``.

    Levels after ``array_below`` are private to each PE (one copy per PE);
    ``array_pj`` is the energy of moving one word across the array network
    and ``mac_pj`` the energy of one MAC.

    >>> a = Architecture.eyeriss_like()
    >>> [lv.name for lv in a.levels], a.num_pes, a.array_below
    (['DRAM', 'buffer', 'RF'], 168, 1)
    """
    levels: tuple
    num_pes: int
    array_below: int
    array_pj: float = 0.0
    mac_pj: float = 0.0
    name: str = ""
    sources: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        check_instance("levels", self.levels, (tuple, list), what="a non-empty sequence of Level")
        levels = tuple(self.levels)
        if not levels or not all(isinstance(lv, Level) for lv in levels):
            raise TypeError("Architecture levels must be a non-empty sequence of Level")
        names = [lv.name for lv in levels]
        if len(set(names)) != len(names):
            raise ValueError(f"Architecture level names must differ, got {names}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "num_pes", check_int("num_pes", self.num_pes, low=1))
        object.__setattr__(self, "array_below",
                           check_int("array_below", self.array_below, low=0, high=len(levels) - 1))
        object.__setattr__(self, "array_pj", check_number("array_pj", self.array_pj, low=0))
        object.__setattr__(self, "mac_pj", check_number("mac_pj", self.mac_pj, low=0))

    @property
    def level_names(self) -> tuple:
        return tuple(lv.name for lv in self.levels)

    @classmethod
    def eyeriss_like(cls, num_pes: int = 168, rf_words: int = 256, buffer_words: int = 54 * 1024,
                     energy=None) -> Architecture:
        """DRAM -> global buffer -> array of ``num_pes`` PEs, each with a register file.

        Defaults: the Eyeriss chip (168 PEs, 0.5 kB RF per PE = 256 16-bit
        words, 108 kB buffer = 54 Ki words; Chen et al. ISCA 2016 and JSSC
        2017) and its normalized energies per access (``EnergyModel.eyeriss``:
        MAC 1, RF 1, array 2, buffer 6, DRAM 200; ISCA 2016 Table IV).
        ``rf_words=0`` gives PEs without a register file.

        >>> Architecture.eyeriss_like(num_pes=4, rf_words=0).levels[-1].capacity_words
        0
        """
        from .energy import EnergyModel
        e = check_instance("energy", energy if energy is not None else EnergyModel.eyeriss(),
                           EnergyModel, what="an EnergyModel or None")
        levels = (Level("DRAM", None, e.cost("dram")),
                  Level("buffer", buffer_words, e.cost("buffer")),
                  Level("RF", rf_words, e.cost("rf")))
        return cls(levels, num_pes, 1, array_pj=e.cost("array"), mac_pj=e.cost("mac"),
                   name=f"Eyeriss-like ({e.name})", sources=dict(getattr(e, "sources", {})))


# --------------------------------------------------------------------------- #
# The mapping
# --------------------------------------------------------------------------- #
def _factors_arg(name, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict like {{'K': 4, 'C': 2}}, got {type(value).__name__}")
    out = {}
    for d, f in value.items():
        if d not in DIMS:
            raise ValueError(f"{name} has an unknown loop {d!r}; the loops are {''.join(DIMS)}")
        out[d] = check_int(f"{name}[{d!r}]", f, low=1, high=MAX_DIM)
    return out


def _sequence(name, value) -> list:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a list or tuple with one entry per level, "
                        f"got {type(value).__name__}")
    return list(value)


def _keep_arg(name, value) -> frozenset:
    if isinstance(value, (str, set, frozenset, list, tuple)):
        k = frozenset(value)
        if k <= set(TENSORS):
            return k
        raise ValueError(f"{name}={sorted(map(str, k))} may hold only 'W', 'I' and 'O'")
    raise TypeError(f"{name} must be a set of tensors such as {{'W', 'I'}}, got {type(value).__name__}")


def _order_arg(name, order) -> str:
    if order is None:
        return "".join(DIMS)
    if not isinstance(order, str):
        raise TypeError(f"{name} must be a string of loop letters such as 'KCPQRSN' (outer to inner)")
    bad = [ch for ch in order if ch not in DIMS]
    if bad or len(set(order)) != len(order):
        raise ValueError(f"{name}={order!r} must list distinct loops from {''.join(DIMS)} "
                         "(outer to inner); unlisted loops go innermost")
    return order + "".join(d for d in DIMS if d not in order)


@dataclass(frozen=True)
class Mapping:
    """Tiling factors and loop order per level, spatial factors, and what each level keeps.

    ``temporal[i]`` and ``order[i]`` belong to ``arch.levels[i]`` (order is
    outer to inner); ``spatial`` is unrolled across the PEs just below level
    ``arch.array_below``; ``keep[i]`` is the set of tensors (``"W"``, ``"I"``,
    ``"O"``) level ``i`` stores (level 0 must keep all three).
    Build one with :meth:`from_factors`, which fills DRAM with what is left.

    >>> m = Mapping(({"K": 2}, {}), ("KCNPQRS", None), {}, ("WIO", "W"))
    >>> m.order[1], sorted(m.keep[1])
    ('NKCPQRS', ['W'])
    """
    temporal: tuple
    order: tuple
    spatial: dict
    keep: tuple

    def __post_init__(self):
        for field_name in ("temporal", "order", "keep"):
            _sequence(field_name, getattr(self, field_name))
        n = len(self.temporal)
        if not (len(self.order) == len(self.keep) == n):
            raise ValueError("Mapping temporal, order and keep must have one entry per level")
        object.__setattr__(self, "temporal",
                           tuple(_factors_arg(f"temporal[{i}]", t) for i, t in enumerate(self.temporal)))
        object.__setattr__(self, "order",
                           tuple(_order_arg(f"order[{i}]", o) for i, o in enumerate(self.order)))
        object.__setattr__(self, "spatial", _factors_arg("spatial", self.spatial))
        object.__setattr__(self, "keep",
                           tuple(_keep_arg(f"keep[{i}]", k) for i, k in enumerate(self.keep)))

    @classmethod
    def from_factors(cls, arch: Architecture, layer: ConvLayer, temporal, spatial=None,
                     order=None, keep=None) -> Mapping:
        """A mapping whose outermost (DRAM) factors are whatever the others leave.

        ``temporal`` gives the factors of levels 1.. (inner levels), or of all
        levels; a dimension that does not divide raises ``ValueError``.

        >>> arch = Architecture.eyeriss_like(num_pes=2)
        >>> Mapping.from_factors(arch, ConvLayer(K=4, C=3), [{}, {"C": 3}], spatial={"K": 2}).temporal[0]
        {'K': 2}
        """
        _check_arch_layer(arch, layer)
        nlev = len(arch.levels)
        temporal = _sequence("temporal", temporal)
        if len(temporal) == nlev - 1:
            temporal = [{}] + temporal
        if len(temporal) != nlev:
            raise ValueError(f"temporal needs {nlev - 1} (inner levels) or {nlev} dicts, got {len(temporal)}")
        temporal = [_factors_arg(f"temporal[{i}]", t) for i, t in enumerate(temporal)]
        spatial = _factors_arg("spatial", spatial)
        outer = dict(temporal[0])
        for d in DIMS:
            inner = math.prod(t.get(d, 1) for t in temporal[1:]) * spatial.get(d, 1) * outer.get(d, 1)
            bound = getattr(layer, d)
            if bound % inner:
                raise ValueError(f"the factors of loop {d} multiply to {inner}, which does not divide "
                                 f"{d}={bound}; use divisors of {bound}")
            if bound // inner > 1:
                outer[d] = outer.get(d, 1) * (bound // inner)
        temporal[0] = outer
        order = [None] * nlev if order is None else _sequence("order", order)
        if len(order) == nlev - 1:
            order = [None] + order
        keep = [set(TENSORS)] * nlev if keep is None else _sequence("keep", keep)
        return cls(tuple(temporal), tuple(order), spatial, tuple(keep))

    def describe(self, arch: Architecture) -> str:
        """The loop nest as text, outer to inner.

        >>> arch = Architecture.eyeriss_like(num_pes=2)
        >>> print(Mapping.from_factors(arch, ConvLayer(K=2, C=3), [{}, {"C": 3}], spatial={"K": 2}).describe(arch))
        # DRAM keeps WIO
        # buffer keeps WIO
        parallel_for k_pe in range(2):
          # RF keeps WIO
          for c2 in range(3):
            MAC
        """
        check_instance("arch", arch, Architecture, what="an Architecture")
        if len(arch.levels) != len(self.temporal):
            raise ValueError(f"arch has {len(arch.levels)} levels, the mapping {len(self.temporal)}")
        lines, indent = [], ""
        for i, lv in enumerate(arch.levels):
            lines.append(f"{indent}# {lv.name} keeps {''.join(t for t in TENSORS if t in self.keep[i]) or '-'}")
            for d in self.order[i]:
                f = self.temporal[i].get(d, 1)
                if f > 1:
                    lines.append(f"{indent}for {d.lower()}{i} in range({f}):")
                    indent += "  "
            if i == arch.array_below:
                for d in DIMS:
                    if self.spatial.get(d, 1) > 1:
                        lines.append(f"{indent}parallel_for {d.lower()}_pe in range({self.spatial[d]}):")
                        indent += "  "
        lines.append(f"{indent}MAC")
        return "\n".join(lines)


def _check_arch_layer(arch, layer):
    check_instance("arch", arch, Architecture, what="an Architecture")
    check_instance("layer", layer, ConvLayer)


# --------------------------------------------------------------------------- #
# Validity
# --------------------------------------------------------------------------- #
def violations(layer: ConvLayer, arch: Architecture, mapping: Mapping) -> list:
    """Every reason ``mapping`` cannot run ``layer`` on ``arch`` (empty list: valid).

    >>> layer = ConvLayer(K=4, C=2)
    >>> arch = Architecture.eyeriss_like(num_pes=2, rf_words=1)
    >>> m = Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2})
    >>> violations(layer, arch, m)
    ['RF holds 5 words per PE (W 2, I 2, O 1) but its capacity is 1 words']
    """
    _check_arch_layer(arch, layer)
    check_instance("mapping", mapping, Mapping)
    nlev = len(arch.levels)
    if len(mapping.temporal) != nlev:
        return [f"the mapping has {len(mapping.temporal)} levels, the architecture {nlev}"]
    out = []
    for d in DIMS:
        prod = math.prod(t.get(d, 1) for t in mapping.temporal) * mapping.spatial.get(d, 1)
        if prod != getattr(layer, d):
            out.append(f"the factors of loop {d} multiply to {prod}, not {d}={getattr(layer, d)}")
    if mapping.keep[0] != frozenset(TENSORS):
        out.append(f"the outermost level {arch.levels[0].name} must keep W, I and O")
    pes = math.prod(mapping.spatial.values())
    if pes > arch.num_pes:
        out.append(f"the spatial factors use {pes} PEs but the array has {arch.num_pes}")
    if out:
        return out
    for i, lv in enumerate(arch.levels):
        if lv.capacity_words is None:
            continue
        sizes = _tile_words(layer, arch, mapping, i)
        used = sum(sizes[t] for t in TENSORS if t in mapping.keep[i])
        if used > lv.capacity_words:
            parts = ", ".join(f"{t} {sizes[t]}" for t in TENSORS if t in mapping.keep[i])
            where = " per PE" if i > arch.array_below else ""
            out.append(f"{lv.name} holds {used} words{where} ({parts}) but its capacity is "
                       f"{lv.capacity_words} words")
    return out


def check_mapping(layer, arch, mapping) -> None:
    """Raise ``ValueError`` listing every violated constraint (see :func:`violations`).

    >>> arch, layer = Architecture.eyeriss_like(num_pes=1), ConvLayer(K=2)
    >>> check_mapping(layer, arch, Mapping.from_factors(arch, layer, [{}, {}], spatial={"K": 2}))
    Traceback (most recent call last):
    ...
    ValueError: invalid mapping: the spatial factors use 2 PEs but the array has 1
    """
    problems = violations(layer, arch, mapping)
    if problems:
        raise ValueError("invalid mapping: " + "; ".join(problems))


@lru_cache(maxsize=65536)
def _window(extent_out: int, extent_filter: int, stride: int, dilation: int) -> int:
    """Distinct input rows touched by output rows 0..extent_out-1 and filter rows 0..extent_filter-1.

    In general the count of distinct ``p*stride + r*dilation``: for each r the
    rows form an arithmetic progression of step ``stride``; progressions in the
    same residue class mod ``stride`` are intervals whose union is summed
    (exact; the tests compare it with the set of rows).
    """
    P, R, s, d = extent_out, extent_filter, stride, dilation
    if P == 1 or R == 1:
        return P * R
    if s == 1 and d <= P:        # contiguous rows
        return P + (R - 1) * d
    if d == 1 and s <= R:        # contiguous rows
        return (P - 1) * s + R
    if R > P:                    # walk the shorter of the two loops
        P, R, s, d = R, P, d, s
    if R > 2 ** 24:
        raise ValueError(f"a {extent_out} x {extent_filter} window with stride {stride} and "
                         f"dilation {dilation} is too large to count; use smaller loop bounds")
    rows = np.arange(R, dtype=np.int64) * d
    residue, start = rows % s, rows // s
    by = np.lexsort((start, residue))
    residue, start = residue[by], start[by]
    same = residue[1:] == residue[:-1]
    gaps = np.minimum(np.diff(start), P)
    return int(P * (1 + np.count_nonzero(~same)) + gaps[same].sum())


def _words(ext: dict, layer: ConvLayer) -> dict:
    return {"W": ext["K"] * ext["C"] * ext["R"] * ext["S"],
            "O": ext["N"] * ext["K"] * ext["P"] * ext["Q"],
            "I": ext["N"] * ext["C"] * _window(ext["P"], ext["R"], layer.stride, layer.dilation)
            * _window(ext["Q"], ext["S"], layer.stride, layer.dilation)}


@lru_cache(maxsize=65536)
def _strided_window(n_pe: int, inner: int, step: int, f_pe: int, f_inner: int, f_step: int,
                    stride: int, dilation: int) -> int:
    """Distinct ``(a*step + b)*stride + (c*f_step + e)*dilation``, a < n_pe, b < inner, c < f_pe, e < f_inner.

    The input rows of a tile (``inner`` outputs, ``f_inner`` filter rows) united
    over the PEs, whose index is strided by the dimension's factors at all PE
    levels (``step``): more than ``inner`` when a PE level outside the tile
    loops over it too, and the union then has holes.

    >>> _strided_window(2, 1, 2, 2, 1, 1, 1, 1), _window(2, 2, 1, 1)   # p in {0, 2} or {0, 1}
    (4, 3)
    """
    step, f_step = (inner if n_pe == 1 else step), (f_inner if f_pe == 1 else f_step)
    if inner == step and f_inner == f_step:                     # contiguous indices
        return _window(n_pe * inner, f_pe * f_inner, stride, dilation)
    if inner == 1 and f_inner == 1:                             # one element per PE
        return _window(n_pe, f_pe, stride * step, dilation * f_step)
    if n_pe * inner * f_pe * f_inner > 2 ** 24:
        raise ValueError(f"a {n_pe * inner} x {f_pe * f_inner} strided window is too large to "
                         f"count; use smaller loop bounds")
    rows = (np.arange(n_pe)[:, None] * step + np.arange(inner)).ravel() * stride
    cols = (np.arange(f_pe)[:, None] * f_step + np.arange(f_inner)).ravel() * dilation
    return int(np.unique(rows[:, None] + cols[None, :]).size)


def _union_words(inner: dict, spatial: dict, step: dict, layer: ConvLayer) -> dict:
    """Words of the tiles ``inner`` (below the array) united over the PEs, strided by ``step``."""
    ext = {d: inner[d] * spatial.get(d, 1) for d in DIMS}
    sp, st, dl = (lambda d: spatial.get(d, 1)), layer.stride, layer.dilation
    return dict(_words(ext, layer), I=ext["N"] * ext["C"]
                * _strided_window(sp("P"), inner["P"], step["P"], sp("R"), inner["R"], step["R"], st, dl)
                * _strided_window(sp("Q"), inner["Q"], step["Q"], sp("S"), inner["S"], step["S"], st, dl))


def _extents(mapping, level: int, with_spatial: bool) -> dict:
    ext = {d: 1 for d in DIMS}
    for t in mapping.temporal[level:]:
        for d, f in t.items():
            ext[d] *= f
    if with_spatial:
        for d, f in mapping.spatial.items():
            ext[d] *= f
    return ext


def _tile_words(layer, arch, mapping, level: int) -> dict:
    return _words(_extents(mapping, level, level <= arch.array_below), layer)


# --------------------------------------------------------------------------- #
# Evaluation
# --------------------------------------------------------------------------- #
@dataclass
class MappingResult:
    """Counts and energy of one mapping.

    ``counts[level][tensor]`` has ``reads`` (words read out of the level, by
    its children or by the MACs), ``fills`` (words written into it from its
    parent), ``updates`` (partial sums written back into it by its children
    or by the MACs) and ``writes = fills + updates``. ``array`` counts words
    that cross the PE-array network, per tensor. Energies are in the units of
    the architecture (pJ, or "x MAC" for the Eyeriss table). :func:`evaluate`
    makes one; see :meth:`accesses` for an example.
    """
    macs: int
    cycles: int
    pes_used: int
    utilization: float
    counts: dict
    array: dict
    energy_by_level: dict
    energy_by_tensor: dict
    energy: float

    @property
    def energy_per_mac(self) -> float:
        return self.energy / self.macs

    @property
    def edp(self) -> float:
        """Energy-delay product (energy x cycles)."""
        return self.energy * self.cycles

    def accesses(self, level: str, tensor: str | None = None) -> int:
        """Reads plus writes of ``level`` (one tensor, or all).

        >>> arch, layer = Architecture.eyeriss_like(num_pes=2), ConvLayer(K=2, C=2)
        >>> r = evaluate(layer, arch, Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2}))
        >>> r.accesses("RF", "W"), r.accesses("DRAM")
        (8, 8)
        """
        if level not in self.counts:
            raise UnknownName(f"level must be one of {list(self.counts)}, got {level!r}")
        if tensor is not None and tensor not in TENSORS:
            raise UnknownName(f"tensor must be one of {TENSORS} or None, got {tensor!r}")
        ts = TENSORS if tensor is None else (tensor,)
        return sum(self.counts[level][t]["reads"] + self.counts[level][t]["writes"] for t in ts)


def _flatten(arch, mapping):
    """Temporal loops outer to inner as (level, dim, factor), and the spatial factors."""
    loops = []
    for i, (t, order) in enumerate(zip(mapping.temporal, mapping.order)):
        for d in order:
            f = t.get(d, 1)
            if f > 1:
                loops.append((i, d, f))
    return loops


def _key_vectors(layer, loops, mapping, arch):
    """Per tensor, the change of the tile key when each loop index grows by one."""
    # inner extent of every loop: the product of the same dimension's factors inside it
    below = {d: 1 for d in DIMS}
    inner_ext = [0] * len(loops)
    b = arch.array_below
    for j in range(len(loops) - 1, -1, -1):
        lev, d, f = loops[j]
        if lev > b:
            inner_ext[j] = below[d]
            below[d] *= f
    # the spatial loops sit between the levels <= b and the levels > b
    for d, f in mapping.spatial.items():
        below[d] *= f
    for j in range(len(loops) - 1, -1, -1):
        lev, d, f = loops[j]
        if lev <= b:
            inner_ext[j] = below[d]
            below[d] *= f
    st, dl = layer.stride, layer.dilation
    vec = {"W": [], "I": [], "O": []}
    for (_, d, _), e in zip(loops, inner_ext):
        vec["W"].append(tuple(e if d == x else 0 for x in "KCRS"))
        vec["O"].append(tuple(e if d == x else 0 for x in "NKPQ"))
        vec["I"].append((e if d == "N" else 0, e if d == "C" else 0,
                         e * st if d == "P" else (e * dl if d == "R" else 0),
                         e * st if d == "Q" else (e * dl if d == "S" else 0)))
    return vec


def _loads(loops, vecs, n_outer):
    """Tile loads (key changes + 1) and distinct keys over the first ``n_outer`` loops."""
    reset = (0, 0, 0, 0)
    changes = 0
    outer_prod = [1] * (n_outer + 1)
    for j in range(n_outer):
        outer_prod[j + 1] = outer_prod[j] * loops[j][2]
    distinct = 1
    for j in range(n_outer - 1, -1, -1):
        f = loops[j][2]
        v = vecs[j]
        if v != (0, 0, 0, 0):
            distinct *= f
        if (v[0] - reset[0], v[1] - reset[1], v[2] - reset[2], v[3] - reset[3]) != (0, 0, 0, 0):
            changes += outer_prod[j] * (f - 1)
        m = f - 1
        reset = (reset[0] + m * v[0], reset[1] + m * v[1], reset[2] + m * v[2], reset[3] + m * v[3])
    return changes + 1, distinct


def evaluate(layer: ConvLayer, arch: Architecture, mapping: Mapping, *, check: bool = True
             ) -> MappingResult:
    """Access counts per level and tensor, array traffic, cycles and energy of ``mapping``.

    Raises ``ValueError`` naming every violated constraint when the mapping
    is invalid (``check=False`` skips the capacity checks, for what-if
    questions such as "how much would a bigger buffer save").

    >>> layer = ConvLayer(K=2, C=2)
    >>> arch = Architecture.eyeriss_like(num_pes=2)
    >>> m = Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2})
    >>> r = evaluate(layer, arch, m)
    >>> r.counts["DRAM"]["I"]["reads"], r.counts["RF"]["I"]["fills"], r.array["I"]
    (2, 4, 4)
    """
    _check_arch_layer(arch, layer)
    check = check_bool("check", check)
    problems = violations(layer, arch, mapping)
    if not check:
        problems = [p for p in problems if "capacity" not in p]
    if problems:
        raise ValueError("invalid mapping: " + "; ".join(problems))
    return _evaluate(layer, arch, mapping)


def _evaluate(layer, arch, mapping) -> MappingResult:
    loops = _flatten(arch, mapping)
    vecs = _key_vectors(layer, loops, mapping, arch)
    b = arch.array_below
    nlev = len(arch.levels)
    pes = math.prod(mapping.spatial.values())
    steps = math.prod(f for _, _, f in loops)
    macs = steps * pes
    # number of temporal loops above each level (a prefix of ``loops``)
    n_above = [sum(1 for lev, _, _ in loops if lev < i) for i in range(nlev)]
    counts = {lv.name: {t: {"reads": 0, "fills": 0, "updates": 0} for t in TENSORS}
              for lv in arch.levels}
    array = {t: 0 for t in TENSORS}
    names = arch.level_names
    # the spatial index of a dimension is strided by its factors at all the PE levels
    pe_step = _extents(mapping, b + 1, False)
    spatial_words = _union_words(dict.fromkeys(DIMS, 1), mapping.spatial, pe_step, layer)
    for t in TENSORS:
        parent = 0
        for i in range(1, nlev):
            if t not in mapping.keep[i]:
                continue
            inst = pes if i > b else 1
            tile = _tile_words(layer, arch, mapping, i)[t]
            loads, distinct = _loads(loops, vecs[t], n_above[i])
            crossing = i > b >= parent
            side = (_union_words(_extents(mapping, i, False), mapping.spatial, pe_step, layer)[t]
                    if crossing else tile * inst)
            c, p = counts[names[i]][t], counts[names[parent]][t]
            if t == "O":
                refills = loads - distinct
                c["reads"] += loads * tile * inst
                c["fills"] += refills * tile * inst
                p["updates"] += loads * side
                p["reads"] += refills * side
                if crossing:
                    array[t] += (loads + refills) * tile * inst
            else:
                c["fills"] += loads * tile * inst
                p["reads"] += loads * side
                if crossing:
                    array[t] += loads * tile * inst
            parent = i
        # the MACs read (and for outputs, update) the innermost level that keeps t
        c = counts[names[parent]][t]
        per_step = spatial_words[t] if parent <= b else pes
        c["reads"] += steps * per_step
        if t == "O":
            c["updates"] += steps * per_step
        if parent <= b:
            array[t] += macs * (2 if t == "O" else 1)
    energy_by_level, energy_by_tensor = {}, {t: 0.0 for t in TENSORS}
    for lv in arch.levels:
        tot = 0.0
        for t in TENSORS:
            c = counts[lv.name][t]
            c["writes"] = c["fills"] + c["updates"]
            e = (c["reads"] + c["writes"]) * lv.access_pj
            tot += e
            energy_by_tensor[t] += e
        energy_by_level[lv.name] = tot
    energy_by_level["array"] = sum(array.values()) * arch.array_pj
    for t in TENSORS:
        energy_by_tensor[t] += array[t] * arch.array_pj
    energy_by_level["MAC"] = macs * arch.mac_pj
    energy = sum(energy_by_level.values())
    return MappingResult(macs=macs, cycles=steps, pes_used=pes, utilization=pes / arch.num_pes,
                         counts=counts, array=array, energy_by_level=energy_by_level,
                         energy_by_tensor=energy_by_tensor, energy=energy)
