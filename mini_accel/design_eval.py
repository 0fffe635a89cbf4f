"""Run a workload on a :class:`~mini_accel.design_model.Design`: tiling, cycles, energy (see :mod:`mini_accel.design`).

The workload becomes a chain of GEMMs; each is tiled for the buffers (the
tiling that moves the fewest DRAM bytes, :func:`best_tiling`), timed on the
systolic array and charged at the 45 nm costs of the design's energy
models; :func:`evaluate` gathers them into an :class:`Evaluation`. The
rules are in the docstring of :mod:`mini_accel.design`.

>>> from mini_accel.design_model import Design
>>> d = Design("toy", 16, 16, "ws", "int8", 500e6, 10e9, 64 * 1024, 64 * 1024, 64 * 1024)
>>> ev = evaluate(d, [(64, 64, 64)], batch=64)
>>> ev.layers[0].tiles, ev.layers[0].bound
((64, 64, 64), 'compute')
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

from ._checks import check_bool, check_instance, check_int, check_option
from .design_model import Design, PriceModel
from .energy import EnergyModel, EnergyReport, EnergyRow
from .scratchpad import LOOP_ORDERS, Scratchpad, _reload_factors
from .systolic import systolic_cycles, systolic_traffic
from .tables import Table, TableResult

__all__ = [
    "ACTIVATIONS",
    "MAX_GEMM_SIDE",
    "best_tiling",
    "LayerResult",
    "Evaluation",
    "evaluate",
]

#: Where activations live between layers (see :func:`evaluate`).
ACTIVATIONS = ("auto", "dram")
#: The largest GEMM dimension an evaluation accepts (2**31: far beyond any network;
#: larger is refused before the tiling search starts).
MAX_GEMM_SIDE = 2**31
_TCO_OPTIONS = ("years", "pue", "usd_per_kwh", "utilization", "idle_power_fraction")


# --------------------------------------------------------------------------- #
# Workloads -> GEMMs
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Gemm:
    name: str
    gemm: object          # nn.GemmShape
    input_elems: int      # real activation tensors read (not the im2col copy)
    output_elems: int
    b_is_activation: bool = False   # e.g. attention: Q @ K^T multiplies two activations


def _gemms(workload, batch):
    """(name, list of _Gemm, batch) for a workload argument."""
    from .nn import GemmShape
    from .workloads import Workload, get_workload

    if isinstance(workload, str):
        b = 1 if batch is None else check_int("batch", batch, low=1)
        workload = get_workload(workload, batch=b)
    if isinstance(workload, Workload):
        if batch is not None and check_int("batch", batch, low=1) != workload.batch:
            raise ValueError(f"the workload was built for batch {workload.batch} but batch={batch}; "
                             "build it at the batch you want (e.g. resnet50(batch=8))")
        layers = [_Gemm(layer.name, layer.gemm, layer.input_elems, layer.output_elems,
                        layer.weight_elems == 0) for layer in workload.gemm_layers()]
        return workload.name, layers, workload.batch
    if isinstance(workload, (list, tuple)):
        if not workload:
            raise ValueError("workload is an empty list of GEMMs")
        layers = []
        for i, g in enumerate(workload):
            if isinstance(g, (tuple, list)) and len(g) in (3, 4):
                g = GemmShape(*g)
            if not isinstance(g, GemmShape):
                raise TypeError(f"workload[{i}] must be a GemmShape or an (M, K, N) tuple, "
                                f"got {type(g).__name__} ({g!r})")
            if max(g.M, g.K, g.N) > MAX_GEMM_SIDE:
                raise ValueError(f"workload[{i}] has a dimension above {MAX_GEMM_SIDE:,} "
                                 f"({g.M}, {g.K}, {g.N}); use sizes a chip could hold")
            layers.append(_Gemm(f"gemm{i}", g, g.count * g.M * g.K, g.count * g.M * g.N))
        b = 1 if batch is None else check_int("batch", batch, low=1)
        return f"{len(layers)} GEMMs", layers, b
    raise TypeError("workload must be a workload name (see mini_accel.workloads.WORKLOADS), a "
                    "Workload, or a list of GemmShape / (M, K, N) tuples (e.g. "
                    f"model.gemm_shapes((batch, 64))), got {type(workload).__name__}")


@functools.lru_cache(maxsize=4096)
def _candidates(extent: int) -> tuple:
    sizes = {extent}
    p = 1
    while p < extent:
        sizes.add(p)
        p *= 2
    return tuple(sorted(sizes, reverse=True))


@functools.lru_cache(maxsize=65536)
def _reloads(m_trips: int, k_trips: int, n_trips: int) -> tuple:
    """(A, B, C) reload factors of each loop order in :data:`LOOP_ORDERS`, for these trips."""
    trips = {"m": m_trips, "k": k_trips, "n": n_trips}
    return tuple((r["A"], r["B"], r["C"]) for r in (_reload_factors(trips, o) for o in LOOP_ORDERS))


def best_tiling(M: int, K: int, N: int, words: tuple, *, double_buffer: bool = False,
                elem_bytes: int = 1, acc_bytes: int = 4) -> tuple:
    """``(tile_m, tile_k, tile_n, order)`` moving the fewest DRAM bytes for buffers of ``words``.

    ``words`` is the capacity ``(A, B, C)`` of the three buffers in elements;
    with ``double_buffer`` each holds two tiles. Tile sizes are powers of two
    or the whole dimension; ties go to fewer steps, then to the first loop
    order of :data:`~mini_accel.scratchpad.LOOP_ORDERS`.

    >>> best_tiling(256, 256, 256, (4096, 4096, 4096))
    (64, 64, 64, 'mnk')
    """
    M, K, N = (check_int(n, v, low=1, high=MAX_GEMM_SIDE) for n, v in (("M", M), ("K", K), ("N", N)))
    if not isinstance(words, (tuple, list)) or len(words) != 3:
        raise TypeError(f"words must be a tuple (A, B, C) of buffer sizes in elements, got {words!r}")
    copies = 2 if check_bool("double_buffer", double_buffer) else 1
    words = tuple(check_int(f"words[{i}]", w, low=copies) for i, w in enumerate(words))
    return _best_tiling(M, K, N, words, copies, check_int("elem_bytes", elem_bytes, low=1),
                        check_int("acc_bytes", acc_bytes, low=1), False, False)


@functools.lru_cache(maxsize=4096)
def _best_tiling(M, K, N, words, copies, elem_bytes, acc_bytes, a_on_chip, b_on_chip):
    """(tile_m, tile_k, tile_n, order) moving the fewest DRAM bytes, largest tiles first.

    With ``a_on_chip`` the whole of A sits in the input buffer: its tiles cost
    no DRAM traffic and need no room of their own (the same for B with
    ``b_on_chip``, an activation operand such as the keys of attention).

    For given ``tm`` and ``tk`` only the largest ``tn`` that fits is tried:
    fewer trips never raise a reload factor, so a smaller ``tn`` can only tie
    or lose, and ties go to the larger tiles (``tests/test_design.py``
    checks this against trying every ``tn``).
    """
    wa, wb, wc = words
    best = None
    for tm in _candidates(M):
        for tk in _candidates(K):
            if not a_on_chip and copies * tm * tk > wa:
                continue
            for tn in _candidates(N):
                if (not b_on_chip and copies * tk * tn > wb) or copies * tm * tn > wc:
                    continue
                mt, kt, nt = -(-M // tm), -(-K // tk), -(-N // tn)
                steps = mt * kt * nt
                for rank, (ra, rb, rc) in enumerate(_reloads(mt, kt, nt)):
                    # DRAM bytes as Scratchpad counts them (the finished outputs,
                    # the same for every tiling, are left out).
                    nbytes = (elem_bytes * ((0 if b_on_chip else rb * K * N)
                                            + (0 if a_on_chip else ra * M * K))
                              + acc_bytes * 2 * (rc - 1) * M * N)
                    key = (nbytes, steps, rank)
                    if best is None or key < best[0]:
                        best = (key, (tm, tk, tn, LOOP_ORDERS[rank]))
                break       # the largest tn that fits dominates the smaller ones
    return best[1]


# --------------------------------------------------------------------------- #
# Evaluation
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LayerResult:
    """One GEMM layer of an evaluation (``count`` identical GEMMs, e.g. groups or heads).

    ``on_chip`` says whether the layer's activations stayed in the input
    buffer; ``tiles`` and ``order`` are the tiling chosen for the buffers.

    >>> from mini_accel.design import reference_design
    >>> layer = evaluate(reference_design("edge"), [(8, 8, 8)]).layers[0]
    >>> layer.macs, layer.bound, layer.to_dict()["tile_m"]
    (512, 'compute', 8)
    """

    name: str
    M: int
    K: int
    N: int
    count: int
    on_chip: bool
    tiles: tuple
    order: str
    compute_cycles: float
    transfer_cycles: float
    cycles: float
    dram_bytes: float
    energy_pj: float

    @property
    def macs(self) -> int:
        return self.count * self.M * self.K * self.N

    @property
    def bound(self) -> str:
        """``"memory"`` when moving the bytes takes longer than computing."""
        return "memory" if self.transfer_cycles > self.compute_cycles else "compute"

    def to_dict(self) -> dict:
        return {"name": self.name, "M": self.M, "K": self.K, "N": self.N, "count": self.count,
                "on_chip": self.on_chip, "tile_m": self.tiles[0], "tile_k": self.tiles[1],
                "tile_n": self.tiles[2], "order": self.order, "macs": self.macs,
                "compute_cycles": self.compute_cycles, "transfer_cycles": self.transfer_cycles,
                "cycles": self.cycles, "bound": self.bound, "dram_bytes": self.dram_bytes,
                "energy_pj": self.energy_pj}


@dataclass(frozen=True)
class Evaluation(TableResult):
    """What a design does on a workload at a batch size (see :func:`evaluate`).

    Shown as a table of its layers in JupyterLab (``_repr_html_``) and by
    :meth:`table` as text.

    >>> from mini_accel.design import reference_design
    >>> ev = evaluate(reference_design("edge"), [(64, 64, 64)], batch=64)
    >>> ev.batch, ev.macs, ev.layers[0].on_chip
    (64, 262144, True)
    """

    design: Design
    workload: str
    batch: int
    layers: tuple
    energy: EnergyReport
    price_model: PriceModel
    tco_options: dict = field(default_factory=dict)

    @property
    def cycles(self) -> float:
        return float(sum(layer.cycles for layer in self.layers))

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def latency_s(self) -> float:
        """Seconds for one batch."""
        return self.cycles / self.design.clock_hz

    @property
    def throughput_ips(self) -> float:
        """Inferences per second."""
        return self.batch / self.latency_s

    @property
    def utilization(self) -> float:
        """Useful MACs over PE-cycles."""
        return self.macs / (self.design.macs * self.cycles)

    @property
    def dram_bytes(self) -> float:
        return float(sum(layer.dram_bytes for layer in self.layers))

    @property
    def energy_j(self) -> float:
        """Energy of one batch in joules."""
        return self.energy.total * 1e-12

    @property
    def energy_per_inference_j(self) -> float:
        return self.energy_j / self.batch

    @property
    def power_w(self) -> float:
        """Average power while running: energy / time (no leakage)."""
        return self.energy_j / self.latency_s

    @property
    def throughput_per_watt(self) -> float:
        """Inferences per second per watt (= inferences per joule)."""
        return self.throughput_ips / self.power_w

    @property
    def area_mm2(self) -> float:
        return self.design.area_mm2

    @property
    def price_usd(self) -> float:
        return self.price_model.price(self.area_mm2)

    @property
    def throughput_per_usd(self) -> float:
        """Inferences per second per USD of chip price (inf for a free chip)."""
        price = self.price_usd
        return math.inf if price == 0 else self.throughput_ips / price

    @property
    def tco(self):
        """:func:`mini_accel.edge_server.total_cost_of_ownership` of the price and the power."""
        from .edge_server import total_cost_of_ownership
        return total_cost_of_ownership(self.price_usd, self.power_w, **self.tco_options)

    @property
    def usd_per_million_inferences(self) -> float:
        """Cost of ownership per million inferences (busy a ``utilization`` share of the time)."""
        return self.tco.cost_per_inference(self.throughput_ips) * 1e6

    @property
    def memory_bound_share(self) -> float:
        """Fraction of the cycles spent in memory-bound layers."""
        mem = sum(layer.cycles for layer in self.layers if layer.bound == "memory")
        return mem / self.cycles

    def summary(self) -> dict:
        """The headline numbers as a flat dict (SI units).

        Every limit of a :class:`Budget` names one of its keys: ``max_power_w``
        limits ``power_w``, ``min_throughput_ips`` limits ``throughput_ips``.

        >>> from mini_accel.design import reference_design
        >>> s = evaluate(reference_design("edge"), [(64, 64, 64)]).summary()
        >>> s["macs"], s["batch"], s["power_w"] > 0
        (262144, 1, True)
        """
        return {"design": self.design.name, "workload": self.workload, "batch": self.batch,
                "macs": self.macs, "cycles": self.cycles, "latency_s": self.latency_s,
                "throughput_ips": self.throughput_ips, "utilization": self.utilization,
                "memory_bound_share": self.memory_bound_share, "dram_bytes": self.dram_bytes,
                "energy_per_inference_j": self.energy_per_inference_j, "power_w": self.power_w,
                "area_mm2": self.area_mm2, "price_usd": self.price_usd,
                "throughput_per_watt": self.throughput_per_watt,
                "throughput_per_usd": self.throughput_per_usd,
                "usd_per_million_inferences": self.usd_per_million_inferences,
                "tco_usd": self.tco.total_usd}

    def to_table(self) -> Table:
        """One row per layer as a :class:`~mini_accel.tables.Table`; :meth:`table` adds the totals.

        >>> from mini_accel.design import reference_design
        >>> t = evaluate(reference_design("edge"), [(8, 8, 8)]).to_table()
        >>> t.columns[:4], t.rows[0]["tiles m,k,n"]
        (('layer', 'M', 'K', 'N'), '8,8,8')
        """
        rows = [{"layer": r.name[:26], "M": r.M, "K": r.K, "N": r.N, "x": r.count,
                 "chip": "yes" if r.on_chip else "no",
                 "tiles m,k,n": ",".join(str(t) for t in r.tiles), "order": r.order,
                 "cycles": round(r.cycles), "bound": r.bound,
                 "DRAM": round(r.dram_bytes / 1e3, 1), "energy": round(r.energy_pj / 1e6, 2)}
                for r in self.layers]
        return Table(["layer", "M", "K", "N", "x", "chip", "tiles m,k,n", "order", "cycles",
                      "bound", "DRAM", "energy"], rows, units={"DRAM": "kB", "energy": "uJ"},
                     title=f"{self.design.name} on {self.workload}, batch {self.batch}", digits=12)

    def footer(self) -> str:
        """The totals line below the layer table."""
        s = self.summary()
        return (f"latency {s['latency_s'] * 1e3:.3f} ms, {s['throughput_ips']:,.0f} inferences/s, "
                f"utilization {s['utilization']:.1%}, {s['energy_per_inference_j'] * 1e3:.3f} mJ "
                f"per inference, {s['power_w']:.2f} W, {s['area_mm2']:.2f} mm^2, "
                f"${s['price_usd']:.2f}")

    def table(self) -> str:
        """The title, one line per layer (:meth:`to_table`), then the totals, as text.

        >>> from mini_accel.design import reference_design
        >>> text = evaluate(reference_design("edge"), [(8, 8, 8)]).table()
        >>> text.splitlines()[0], "mJ per inference" in text.splitlines()[-1]
        ('edge reference on 1 GEMMs, batch 1', True)
        """
        return super().table()

    def __repr__(self) -> str:
        return (f"Evaluation({self.design.name!r} on {self.workload!r}, batch {self.batch}: "
                f"{self.latency_s * 1e3:.3f} ms, {self.energy_per_inference_j * 1e3:.3f} mJ/inference, "
                f"{self.power_w:.2f} W, {self.area_mm2:.2f} mm^2)")


def _merge(rows) -> EnergyReport:
    """One report whose lines add up equal rows (same level, operation, operand, cost)."""
    merged: dict = {}
    for r in rows:
        key = (r.level, r.operation, r.operand, r.each, r.source)
        if key in merged:
            old = merged[key]
            merged[key] = EnergyRow(r.level, r.operation, r.operand, old.count + r.count, r.each,
                                    old.energy + r.energy, r.source)
        else:
            merged[key] = r
    return EnergyReport(list(merged.values()), unit="pJ", model="45nm design")


def _row(level, operation, operand, count, model: EnergyModel, key: str):
    each = model.cost(key)
    return EnergyRow(level, operation, operand, float(count), each, float(count) * each,
                     model.sources.get(key, ""))


def _layer(design: Design, models: dict, g: _Gemm, *, on_chip: bool, input_from_dram: bool,
           output_to_dram: bool) -> tuple:
    """Time, DRAM bytes and energy rows of one GEMM layer."""
    shape, c = g.gemm, g.gemm.count
    M, K, N = shape.M, shape.K, shape.N
    copies = 2 if design.double_buffer else 1
    words = design.buffer_words
    elem, acc = design.bytes_per_element, design.accumulator_bytes
    b_on_chip = on_chip and g.b_is_activation
    tm, tk, tn, order = _best_tiling(M, K, N, (words["A"], words["B"], words["C"]), copies,
                                     elem, acc, on_chip, b_on_chip)
    # On chip, all of A (and of an activation B) is in the input buffer already.
    a_words = copies * M * K if on_chip else words["A"]
    b_words = copies * K * N if b_on_chip else words["B"]
    sp = Scratchpad(a_words, b_words, words["C"], design.double_buffer).gemm(
        M, K, N, tm, tk, tn, order, require_fit=True)
    tr = systolic_traffic(M, K, N, design.rows, design.cols, design.dataflow)
    compute = systolic_cycles(M, K, N, design.rows, design.cols, design.dataflow, design.double_buffer)

    # Words between DRAM and the buffers, per GEMM of the layer.
    final = M * N
    partial_out = sp.dram_writes["C"] - final          # partial sums spilled (accumulator width)
    partial_in = sp.dram_reads["C"]
    if on_chip:
        a_in = g.input_elems / c if input_from_dram else 0.0     # the real tensors, read once
        c_out = final if output_to_dram else 0
    else:
        a_in, c_out = sp.dram_reads["A"], final
    b_in = 0 if b_on_chip else sp.dram_reads["B"]
    dram_bytes = elem * (a_in + b_in + c_out) + acc * (partial_in + partial_out)

    bytes_per_cycle = design.dram_bandwidth / design.clock_hz
    transfer = dram_bytes / bytes_per_cycle
    if design.double_buffer:
        # The ideal overlap of ScratchpadResult.estimate_cycles: transfers hide under
        # compute except the first tiles' load and the last output tile's write-back,
        # counting only the operands that really cross the DRAM interface.
        first = (min(tm * tk, a_in) if a_in else 0) + (0 if b_on_chip else tk * tn)
        last = tm * tn if c_out else 0
        cycles = max(transfer, compute) + elem * (first + last) / bytes_per_cycle
    else:
        cycles = transfer + compute          # transfers and compute take turns

    core, acc_m, a_m, b_m, data = (models[k] for k in ("core", "acc", "A", "B", "data"))
    macs = c * M * K * N
    rows = [
        _row("PE", "mac", "", macs, core, "mac"),
        _row("RF", "access", "", macs * core.rf_per_mac, core, "rf"),
        _row("array", "hop", "A", c * tr["a_hops"], core, "array"),
        _row("array", "hop", "B", c * tr["b_hops"], core, "array"),
        _row("array", "hop", "C", c * tr["out_hops"], acc_m, "array"),
        _row("buffer", "read", "A", c * tr["a_reads"], a_m, "buffer"),
        _row("buffer", "read", "B", c * tr["b_reads"], a_m if b_on_chip else b_m, "buffer"),
        _row("buffer", "write", "C", c * tr["out_writes"], acc_m, "buffer"),
        _row("DRAM", "read", "A", c * a_in, data, "dram"),
        _row("buffer", "fill", "A", c * a_in, a_m, "buffer"),
        _row("DRAM", "read", "B", c * b_in, data, "dram"),
        _row("buffer", "fill", "B", c * b_in, b_m, "buffer"),
        _row("DRAM", "read", "C partial sums", c * partial_in, acc_m, "dram"),
        _row("buffer", "fill", "C partial sums", c * partial_in, acc_m, "buffer"),
        _row("buffer", "drain", "C partial sums", c * partial_out, acc_m, "buffer"),
        _row("DRAM", "write", "C partial sums", c * partial_out, acc_m, "dram"),
        _row("buffer", "drain", "C", c * final, acc_m, "buffer"),
    ]
    if output_to_dram or not on_chip:
        rows.append(_row("DRAM", "write", "C", c * final, data, "dram"))
    else:   # the finished outputs go into the input buffer for the next layer
        rows.append(_row("buffer", "write", "C to input buffer", c * final, a_m, "buffer"))
    rows = [r for r in rows if r.count > 0]
    result = LayerResult(g.name, M, K, N, c, on_chip, (tm, tk, tn), order, float(c * compute),
                         float(c * transfer), float(c * cycles), float(c * dram_bytes),
                         float(sum(r.energy for r in rows)))
    return result, rows


def evaluate(design: Design, workload, batch: int | None = None, *,
             activations: Literal["auto", "dram"] = "auto",
             price_model: PriceModel | None = None, **tco_options) -> Evaluation:
    """Run ``workload`` on ``design``: cycles, latency, energy, power, area, cost.

    Parameters
    ----------
    design : Design
    workload : str, Workload or list of GemmShape / (M, K, N)
        A name from :data:`mini_accel.workloads.WORKLOADS` (built at
        ``batch``), a :class:`~mini_accel.workloads.Workload` (its batch is
        used), or the GEMMs of ``batch`` inferences, e.g.
        ``model.gemm_shapes((batch, 64))`` for an :mod:`mini_accel.nn` MLP.
    batch : int, optional
        Inferences per run (default 1, or the Workload's batch).
    activations : {"auto", "dram"}
        ``"auto"``: a layer whose input and output activations fit together
        in the input buffer keeps them on chip, like the TPU's Unified Buffer
        (its input comes from DRAM only after a layer that did not fit, or
        for the first layer; its output goes to DRAM only before such a layer,
        or for the last). ``"dram"``: every GEMM reads its operands from DRAM
        and writes its result back (the per-GEMM scratchpad view).
        Off chip, a convolution's input is its im2col matrix (an upper bound
        on its traffic); layers are treated as a chain (a residual branch
        does not hold buffer space).
    price_model : PriceModel, optional
    **tco_options
        Passed to :func:`mini_accel.edge_server.total_cost_of_ownership`
        (``years``, ``pue``, ``usd_per_kwh``, ``utilization``,
        ``idle_power_fraction``).

    >>> from mini_accel.design import reference_design
    >>> from mini_accel.nn import Sequential, Dense, ReLU
    >>> mlp = Sequential([Dense(64, 64, rng=0), ReLU(), Dense(64, 10, rng=1)])
    >>> ev = evaluate(reference_design("edge"), mlp.gemm_shapes((32, 64)), batch=32)
    >>> [(layer.on_chip, layer.bound) for layer in ev.layers]
    [(True, 'compute'), (True, 'compute')]
    >>> ev.macs == 32 * (64 * 64 + 64 * 10)
    True
    """
    check_instance("design", design, Design, what="a mini_accel.design.Design")
    activations = check_option("activations", activations, ACTIVATIONS)
    if price_model is None:
        price_model = PriceModel()
    check_instance("price_model", price_model, PriceModel)
    allowed = set(_TCO_OPTIONS)
    unknown = set(tco_options) - allowed
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; evaluate() takes {sorted(allowed)} "
                        "for the cost of ownership")
    name, gemms, batch = _gemms(workload, batch)
    if not gemms:
        raise ValueError(f"workload {name!r} has no GEMM layer to run on the array")
    models = design._energy_models()
    fits = [activations == "auto"
            and (g.input_elems + g.output_elems) * design.bytes_per_element <= design.input_buffer_bytes
            for g in gemms]
    layers, rows = [], []
    for i, g in enumerate(gemms):
        result, layer_rows = _layer(
            design, models, g, on_chip=fits[i],
            input_from_dram=(i == 0 or not fits[i - 1]),
            output_to_dram=(i == len(gemms) - 1 or not fits[i + 1]))
        layers.append(result)
        rows.extend(layer_rows)
    ev = Evaluation(design, name, batch, tuple(layers), _merge(rows), price_model, dict(tco_options))
    _ = ev.tco  # check the cost-of-ownership options now, not at first use
    return ev
