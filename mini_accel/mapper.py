"""Dataflows as mapping constraints, and a mapper that searches the mapspace.

A dataflow (Chen, Emer, Sze, ISCA 2016, Section IV) is a rule about which
loops may run inside a PE and across the array, and which tensor the PE keeps:

====  ==========================  ==================  ==============  ==========
name  what stays in the PE        PE-level loops      spatial loops   PE keeps
====  ==========================  ==================  ==============  ==========
ws    one weight                  N P Q               K C R S         W
os    one partial sum             C R S               N K P Q         O
is    one input                   K                   N C P Q         I
nlr   nothing (no local reuse)    (none)              K C             (none)
rs    a filter row, an input      S Q C K N           R P C K N       W I O
      row, a psum row
====  ==========================  ==================  ==============  ==========

(RS also puts a whole filter row in the PE: the PE factor of S is S.)
The levels above the array are free in every dataflow.

:func:`search` finds the mapping with the lowest energy, delay or
energy-delay product: every mapping when the mapspace is small, a random
sample otherwise, evaluated by a Cython kernel (``_core/mapping.pyx``) in
batches; the winner is re-evaluated and checked by the readable model.

>>> from mini_accel.mapping_model import ConvLayer, Architecture
>>> layer = ConvLayer(N=1, K=4, C=4, P=6, R=3)
>>> arch = Architecture.eyeriss_like(num_pes=8, rf_words=32, buffer_words=512)
>>> best = search(layer, arch, dataflow="rs", samples=2000, seed=0)
>>> dataflow_violations(best.mapping, arch, "rs"), best.result.macs
([], 288)
"""
from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_bool, check_instance, check_int, check_option, check_rng
from .mapping_model import (
    DIMS,
    TENSORS,
    Architecture,
    ConvLayer,
    Mapping,
    MappingResult,
    _check_arch_layer,
    evaluate,
)


@dataclass(frozen=True)
class Dataflow:
    """Constraints on the PE levels and the spatial loops (see the module table).

    >>> sorted(DATAFLOWS["ws"].spatial), sorted(DATAFLOWS["ws"].pe_keep)
    (['C', 'K', 'R', 'S'], ['W'])
    """
    name: str
    spatial: frozenset
    pe_loops: frozenset
    pe_keep: frozenset
    full_at_pe: frozenset = frozenset()
    description: str = ""


DATAFLOWS = {
    "ws": Dataflow("ws", frozenset("KCRS"), frozenset("NPQ"), frozenset("W"),
                   description="weight stationary: each PE holds a weight and streams inputs "
                               "and partial sums through the array"),
    "os": Dataflow("os", frozenset("NKPQ"), frozenset("CRS"), frozenset("O"),
                   description="output stationary: each PE accumulates one output"),
    "is": Dataflow("is", frozenset("NCPQ"), frozenset("K"), frozenset("I"),
                   description="input stationary: each PE holds an input and visits the filters"),
    "nlr": Dataflow("nlr", frozenset("KC"), frozenset(), frozenset(),
                    description="no local reuse: PEs have no storage, everything comes from "
                                "the global buffer"),
    "rs": Dataflow("rs", frozenset("RPCKN"), frozenset("SQCKN"), frozenset("WIO"),
                   frozenset("S"),
                   description="row stationary (Eyeriss): each PE convolves one filter row "
                               "with one input row and keeps all three in its RF"),
}
OBJECTIVES = ("energy", "delay", "edp")
Objective = Literal["energy", "delay", "edp"]
DataflowName = Literal["ws", "os", "is", "nlr", "rs"]
#: Most mappings one :func:`search` evaluates (``samples``, ``exhaustive_limit``).
MAX_MAPPINGS = 10 ** 7
#: Most factor splits of one loop the mapper enumerates.
MAX_SPLITS = 10 ** 6


def _dataflow_arg(dataflow):
    if dataflow is None or isinstance(dataflow, Dataflow):
        return dataflow
    if not isinstance(dataflow, str):
        raise TypeError(f"dataflow must be one of {tuple(DATAFLOWS)}, a Dataflow or None, "
                        f"got {type(dataflow).__name__}")
    return DATAFLOWS[check_option("dataflow", dataflow, tuple(DATAFLOWS))]


def dataflow_violations(mapping: Mapping, arch: Architecture, dataflow, layer: ConvLayer | None = None
                        ) -> list:
    """Why ``mapping`` does not follow ``dataflow`` (empty list: it does).

    >>> from mini_accel.mapping_model import Architecture, ConvLayer, Mapping
    >>> arch = Architecture.eyeriss_like(num_pes=4)
    >>> m = Mapping.from_factors(arch, ConvLayer(K=4, C=2), [{}, {"C": 2}], spatial={"K": 4})
    >>> dataflow_violations(m, arch, "ws")
    ['ws: loop C may not iterate inside the PE (level RF); allowed there: N P Q',
     "ws: RF may keep only W, not ['I', 'O']"]
    """
    check_instance("mapping", mapping, Mapping)
    check_instance("arch", arch, Architecture, what="an Architecture")
    if layer is not None:
        check_instance("layer", layer, ConvLayer)
    df = _dataflow_arg(dataflow)
    if df is None:
        return []
    if len(mapping.temporal) != len(arch.levels):
        raise ValueError(f"mapping has {len(mapping.temporal)} levels, arch {len(arch.levels)}")
    out = []
    for d, f in mapping.spatial.items():
        if f > 1 and d not in df.spatial:
            out.append(f"{df.name}: loop {d} may not be unrolled across the PEs; allowed: "
                       f"{' '.join(x for x in DIMS if x in df.spatial)}")
    for i in range(arch.array_below + 1, len(arch.levels)):
        name = arch.levels[i].name
        for d, f in mapping.temporal[i].items():
            if f > 1 and d not in df.pe_loops:
                allowed = ' '.join(x for x in DIMS if x in df.pe_loops) or "none"
                out.append(f"{df.name}: loop {d} may not iterate inside the PE (level {name}); "
                           f"allowed there: {allowed}")
        extra = set(mapping.keep[i]) - df.pe_keep
        if extra:
            out.append(f"{df.name}: {name} may keep only {''.join(sorted(df.pe_keep)) or 'nothing'}, "
                       f"not {sorted(extra)}")
    if layer is not None and arch.array_below + 1 < len(arch.levels):
        for d in df.full_at_pe:
            f = mapping.temporal[-1].get(d, 1)
            if f != getattr(layer, d):
                out.append(f"{df.name}: the innermost PE level must run all of {d}={getattr(layer, d)}, "
                           f"not {f}")
    return out


# --------------------------------------------------------------------------- #
# The mapspace
# --------------------------------------------------------------------------- #
def _prime_powers(n: int) -> dict:
    """``{p: a}`` with ``n = prod(p**a)`` (trial division: n <= 2**31)."""
    out, p = {}, 2
    while p * p <= n:
        while n % p == 0:
            out[p] = out.get(p, 0) + 1
            n //= p
        p += 1
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def _count_factorizations(n: int, slots: int) -> int:
    """Number of ordered ``slots``-tuples of factors of ``n`` (stars and bars per prime)."""
    return math.prod(math.comb(a + slots - 1, slots - 1) for a in _prime_powers(n).values())


def _divisors(n: int) -> list:
    divs = [1]
    for p, a in _prime_powers(n).items():
        divs = [d * p ** e for d in divs for e in range(a + 1)]
    return sorted(divs)


def _ordered_factorizations(n: int, slots: int) -> list:
    if slots == 1:
        return [(n,)]
    out = []
    for f in _divisors(n):
        out += [(f,) + rest for rest in _ordered_factorizations(n // f, slots - 1)]
    return out


def _splits(layer, arch, df):
    """Per dimension, the allowed (factor per level..., spatial factor) tuples."""
    nlev = len(arch.levels)
    b = arch.array_below
    per_dim = []
    for d in DIMS:
        bound = getattr(layer, d)
        count = _count_factorizations(bound, nlev + 1)
        if count > MAX_SPLITS:
            raise ValueError(f"loop {d}={bound} splits {count:,} ways over {nlev} levels and the "
                             f"array, more than the {MAX_SPLITS:,} the mapper enumerates; use a "
                             "bound with fewer divisors or fewer levels")
        ok = []
        for split in _ordered_factorizations(bound, nlev + 1):
            if split[nlev] > 1 and (split[nlev] > arch.num_pes or (df and d not in df.spatial)):
                continue
            if df and any(split[i] > 1 and d not in df.pe_loops for i in range(b + 1, nlev)):
                continue
            if df and d in df.full_at_pe and nlev > b + 1 and split[nlev - 1] != bound:
                continue
            ok.append(split)
        per_dim.append(np.array(ok, dtype=np.int64))
    return per_dim


def _keep_for(arch, df):
    keep = np.ones((len(arch.levels), 3), dtype=np.uint8)
    if df is not None:
        for i in range(arch.array_below + 1, len(arch.levels)):
            keep[i] = [t in df.pe_keep for t in TENSORS]
    return keep


def _kernel_args(layer, arch):
    cap = np.array([-1 if lv.capacity_words is None else lv.capacity_words for lv in arch.levels],
                   dtype=np.int64)
    pj = np.array([lv.access_pj for lv in arch.levels], dtype=np.float64)
    return cap, pj


def evaluate_many(layer: ConvLayer, arch: Architecture, factors, orders, keep):
    """Energy, cycles and validity of a batch of encoded mappings (the fast path).

    ``factors`` is int64 ``(m, levels + 1, 7)`` (last row spatial), ``orders``
    int64 ``(m, levels, 7)`` (dimension indices outer to inner), ``keep``
    uint8 ``(levels, 3)`` for W, I, O. Factor products are *not* checked here:
    build the batch from :func:`_splits` or check it with ``evaluate``.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer, Mapping
    >>> arch, layer = Architecture.eyeriss_like(num_pes=2), ConvLayer(K=2, C=2)
    >>> m = Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2})
    >>> energy, cycles, valid = evaluate_many(layer, arch, *encode(m, arch))
    >>> bool(np.isclose(energy[0], evaluate(layer, arch, m).energy)), cycles.tolist(), valid.tolist()
    (True, [2.0], [True])
    """
    from ._core import load as _load_kernels
    _k = _load_kernels("mapping")   # compiled, else the pure-numpy twin
    _check_arch_layer(arch, layer)
    nlev = len(arch.levels)
    factors = check_array("factors", factors, ndim=3, dtype=np.int64)
    orders = check_array("orders", orders, ndim=3, dtype=np.int64)
    keep = check_array("keep", keep, ndim=2, dtype=np.uint8)
    factors, orders, keep = (np.ascontiguousarray(x) for x in (factors, orders, keep))
    if factors.ndim != 3 or factors.shape[1:] != (nlev + 1, 7):
        raise ValueError(f"factors must have shape (m, {nlev + 1}, 7), got {factors.shape}")
    if orders.shape != (factors.shape[0], nlev, 7):
        raise ValueError(f"orders must have shape ({factors.shape[0]}, {nlev}, 7), got {orders.shape}")
    if keep.shape != (nlev, 3):
        raise ValueError(f"keep must have shape ({nlev}, 3), got {keep.shape}")
    if factors.size and factors.min() < 1:
        raise ValueError("factors must be >= 1")
    if np.any(np.sort(orders, axis=2) != np.arange(7)):
        raise ValueError("each orders[m, i] must be a permutation of 0..6")
    m = factors.shape[0]
    energy, cycles, valid = np.empty(m), np.empty(m), np.empty(m, dtype=np.uint8)
    cap, pj = _kernel_args(layer, arch)
    _k.evaluate_batch(factors, orders, keep, cap, pj, arch.array_below, arch.num_pes,
                      float(arch.array_pj), float(arch.mac_pj), layer.stride, layer.dilation,
                      energy, cycles, valid)
    return energy, cycles, valid.astype(bool)


def encode(mapping: Mapping, arch: Architecture):
    """``(factors, orders, keep)`` arrays of one mapping, as :func:`evaluate_many` takes them.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer, Mapping
    >>> arch = Architecture.eyeriss_like(num_pes=2)
    >>> m = Mapping.from_factors(arch, ConvLayer(K=2, C=2), [{}, {"C": 2}], spatial={"K": 2})
    >>> factors, orders, keep = encode(m, arch)
    >>> factors.shape, factors[0, 2].tolist(), decode(factors[0], orders[0], keep) == m
    ((1, 4, 7), [1, 1, 2, 1, 1, 1, 1], True)
    """
    check_instance("mapping", mapping, Mapping)
    check_instance("arch", arch, Architecture, what="an Architecture")
    nlev = len(arch.levels)
    if len(mapping.temporal) != nlev:
        raise ValueError(f"mapping has {len(mapping.temporal)} levels, arch {nlev}")
    factors = np.ones((1, nlev + 1, 7), dtype=np.int64)
    orders = np.zeros((1, nlev, 7), dtype=np.int64)
    for i in range(nlev):
        for d, f in mapping.temporal[i].items():
            factors[0, i, DIMS.index(d)] = f
        orders[0, i] = [DIMS.index(d) for d in mapping.order[i]]
    for d, f in mapping.spatial.items():
        factors[0, nlev, DIMS.index(d)] = f
    keep = np.array([[t in mapping.keep[i] for t in TENSORS] for i in range(nlev)], dtype=np.uint8)
    return factors, orders, keep


def decode(factors, orders, keep) -> Mapping:
    """The :class:`Mapping` of one row of an encoded batch (the inverse of :func:`encode`).

    >>> decode(np.array([[1] * 7, [2] + [1] * 6]), np.array([range(7)]), np.array([[1, 1, 1]])).spatial
    {'N': 2}
    """
    orders = check_array("orders", orders, ndim=2, dtype=np.int64)
    nlev = orders.shape[0]
    factors = check_array("factors", factors, shape=(nlev + 1, 7), dtype=np.int64, low=1)
    keep = check_array("keep", keep, shape=(nlev, 3), dtype=None)
    if orders.shape[1] != 7 or np.any(np.sort(orders, axis=1) != np.arange(7)):
        raise ValueError("each row of orders must be a permutation of 0..6")
    temporal = tuple({d: int(factors[i, k]) for k, d in enumerate(DIMS) if factors[i, k] > 1}
                     for i in range(nlev))
    spatial = {d: int(factors[nlev, k]) for k, d in enumerate(DIMS) if factors[nlev, k] > 1}
    order = tuple("".join(DIMS[int(k)] for k in orders[i]) for i in range(nlev))
    keep = tuple({t for j, t in enumerate(TENSORS) if keep[i, j]} for i in range(nlev))
    return Mapping(temporal, order, spatial, keep)


@dataclass
class SearchResult:
    """The best mapping found, its evaluation, and how the search went.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer
    >>> best = search(ConvLayer(K=2), Architecture.eyeriss_like(num_pes=2), objective="delay")
    >>> best.objective, best.result.cycles, best.valid <= best.evaluated, best.score >= 1
    ('delay', 1, True, True)
    """
    mapping: Mapping
    result: MappingResult
    objective: str
    evaluated: int
    valid: int
    exhaustive: bool

    @property
    def score(self) -> float:
        return _score(self.objective, self.result.energy, self.result.cycles)


def _score(objective, energy, cycles):
    """Lower is better; delay ties go to the lower energy."""
    if objective == "energy":
        return energy
    if objective == "delay":
        return cycles + energy * 1e-18
    return energy * cycles


class _Progress:
    def __init__(self, total, enabled, label):
        self.total, self.enabled, self.label, self.done = total, enabled, label, 0

    def update(self, n):
        self.done += n
        if self.enabled:
            frac = min(1.0, self.done / max(1, self.total))
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def mapspace_size(layer: ConvLayer, arch: Architecture, dataflow=None) -> int:
    """Number of tilings (factor splits) times loop orders the mapper would enumerate.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer
    >>> mapspace_size(ConvLayer(K=2), Architecture.eyeriss_like(num_pes=2)) // 5040 ** 2
    4
    """
    _check_arch_layer(arch, layer)
    df = _dataflow_arg(dataflow)
    splits = _splits(layer, arch, df)
    tilings = math.prod(len(s) for s in splits)
    return tilings * math.factorial(7) ** (len(arch.levels) - 1)


def search(layer: ConvLayer, arch: Architecture, dataflow: DataflowName | Dataflow | None = None, *,
           objective: Objective = "energy",
           samples: int = 20000, exhaustive_limit: int = 200000, seed=0, batch: int = 4096,
           progress: bool = False) -> SearchResult:
    """The best mapping of ``layer`` on ``arch`` under ``dataflow`` for ``objective``.

    Enumerates every tiling with every order of the loops that matter at each
    level when that is at most ``exhaustive_limit`` mappings, else evaluates
    ``samples`` random mappings (``seed`` fixes them). Only valid mappings
    (capacities, PE count, dataflow) can win; raises ``ValueError`` if none
    of those tried is valid.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer
    >>> arch = Architecture.eyeriss_like(num_pes=4)
    >>> best = search(ConvLayer(K=4, C=2), arch, "ws")
    >>> best.exhaustive, best.result.pes_used, dataflow_violations(best.mapping, arch, "ws")
    (True, 4, [])
    """
    _check_arch_layer(arch, layer)
    objective = check_option("objective", objective, OBJECTIVES)
    samples = check_int("samples", samples, low=1, high=MAX_MAPPINGS)
    exhaustive_limit = check_int("exhaustive_limit", exhaustive_limit, low=0, high=MAX_MAPPINGS)
    batch = check_int("batch", batch, low=1, high=2 ** 20)
    progress = check_bool("progress", progress)
    rng = check_rng("seed", seed)
    df = _dataflow_arg(dataflow)
    nlev = len(arch.levels)
    splits = _splits(layer, arch, df)
    keep = _keep_for(arch, df)
    best = [np.inf, None]
    stats = [0, 0]

    def run(factors, orders):
        energy, cycles, valid = evaluate_many(layer, arch, factors, orders, keep)
        stats[0] += len(energy)
        stats[1] += int(valid.sum())
        if valid.any():
            score = np.where(valid, _score(objective, energy, cycles), np.inf)
            j = int(np.argmin(score))
            if score[j] < best[0]:
                best[0], best[1] = float(score[j]), (factors[j].copy(), orders[j].copy())

    tilings = math.prod(len(s) for s in splits)
    exhaustive = tilings <= exhaustive_limit and _exhaustive_count(splits, nlev,
                                                                   exhaustive_limit) <= exhaustive_limit
    if exhaustive:
        bar = _Progress(_exhaustive_count(splits, nlev, exhaustive_limit), progress,
                        f"mapper ({layer.name or 'layer'})")
        for factors, orders in _exhaustive_batches(splits, nlev, batch):
            run(factors, orders)
            bar.update(len(factors))
    else:
        bar = _Progress(samples, progress, f"mapper ({layer.name or 'layer'})")
        left = samples
        while left > 0:
            m = min(batch, left)
            factors = np.empty((m, nlev + 1, 7), dtype=np.int64)
            for k, s in enumerate(splits):
                factors[:, :, k] = s[rng.integers(0, len(s), m)]
            orders = np.argsort(rng.random((m, nlev, 7)), axis=2).astype(np.int64)
            run(factors, orders)
            bar.update(m)
            left -= m
    if best[1] is None:
        raise ValueError(f"no valid mapping of {layer.name or 'the layer'} found among "
                         f"{stats[0]} tried: the levels are too small for the "
                         f"{df.name if df else 'unconstrained'} dataflow; give the levels more "
                         "capacity or the search more samples")
    mapping = decode(best[1][0], best[1][1], keep)
    result = evaluate(layer, arch, mapping)          # re-checked by the readable model
    problems = dataflow_violations(mapping, arch, df, layer)
    assert not problems, problems
    return SearchResult(mapping, result, objective, stats[0], stats[1], exhaustive)


def _relevant_orders(active, nlev):
    """Per level, the orders of its loops with factor > 1 (others follow in a fixed order)."""
    out = []
    for i in range(nlev):
        dims = [k for k in range(7) if active[i, k] > 1]
        rest = [k for k in range(7) if active[i, k] <= 1]
        if i == nlev - 1:                  # the innermost order never changes a count
            out.append([dims + rest])
        else:
            out.append([list(p) + rest for p in itertools.permutations(dims)])
    return out


def _exhaustive_count(splits, nlev, limit):
    total = 0
    for combo in itertools.product(*splits):
        factors = np.array(combo).T
        n = 1
        for i in range(nlev - 1):
            n *= math.factorial(int((factors[i] > 1).sum()))
        total += n
        if total > limit:
            break
    return total


def _exhaustive_batches(splits, nlev, batch):
    buf_f, buf_o = [], []
    for combo in itertools.product(*splits):
        factors = np.array(combo, dtype=np.int64).T            # (nlev + 1, 7)
        for orders in itertools.product(*_relevant_orders(factors, nlev)):
            buf_f.append(factors)
            buf_o.append(orders)
            if len(buf_f) == batch:
                yield np.array(buf_f), np.array(buf_o, dtype=np.int64)
                buf_f, buf_o = [], []
    if buf_f:
        yield np.array(buf_f), np.array(buf_o, dtype=np.int64)


def compare_dataflows(layer: ConvLayer, arch: Architecture, dataflows=("ws", "os", "is", "nlr", "rs"),
                      *, archs: dict | None = None, **search_kwargs) -> dict:
    """Best energy per MAC of each dataflow on ``layer`` (``archs`` may give one per dataflow).

    Returns ``{name: SearchResult}``.

    >>> from mini_accel.mapping_model import Architecture, ConvLayer
    >>> best = compare_dataflows(ConvLayer(K=4, C=2), Architecture.eyeriss_like(num_pes=4), ("ws", "os"))
    >>> sorted(best), best["ws"].result.macs
    (['os', 'ws'], 8)
    """
    if isinstance(dataflows, str):
        raise TypeError(f"dataflows must be a list of dataflow names such as ('ws', 'rs'), "
                        f"got the string {dataflows!r}")
    if archs is not None:
        check_instance("archs", archs, dict, what="a dict {dataflow: Architecture} or None")
    out = {}
    for name in dataflows:
        a = (archs or {}).get(name, arch)
        out[name] = search(layer, a, name, **search_kwargs)
    return out
