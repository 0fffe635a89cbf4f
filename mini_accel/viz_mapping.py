"""Figures and an explorer for mappings and sparsity (Lab 7, reading 10).

matplotlib and ipywidgets are imported inside the functions (through
``mini_accel.viz``'s helpers), so importing this module stays light.

* :func:`plot_mapping_energy` - energy of one mapping by level, split by tensor
* :func:`plot_dataflow_comparison` - energy per MAC of dataflows on several layers
* :func:`plot_storage_vs_density` - bits of the compressed formats against density
* :func:`mapping_explorer_widget` - sliders for the tile sizes of each level and
  menus for the loop orders; redraws the per-level energy and says when the
  mapping is invalid

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from mini_accel.mapping import ConvLayer, Architecture, Mapping, evaluate
>>> from mini_accel import viz_mapping
>>> layer = ConvLayer(K=4, C=4, P=4, R=3)
>>> arch = Architecture.eyeriss_like(num_pes=4, rf_words=64, buffer_words=1024)
>>> res = evaluate(layer, arch, Mapping.from_factors(arch, layer, [{}, {"R": 3, "C": 4}], spatial={"K": 4}))
>>> ax = viz_mapping.plot_mapping_energy(res)
>>> [t.get_text() for t in ax.get_yticklabels()]
['DRAM', 'buffer', 'array', 'RF', 'MAC']
"""
from __future__ import annotations

import numpy as np

from ._checks import check_bool, check_instance, check_number
from .viz import _Explorer, _new_axes, _widgets

__all__ = ["plot_mapping_energy", "plot_dataflow_comparison", "plot_storage_vs_density",
           "mapping_explorer_widget", "MappingExplorer"]

_COLORS = {"W": "tab:blue", "I": "tab:green", "O": "tab:orange", "MAC": "tab:gray"}


def plot_mapping_energy(result, ax=None, *, per_mac: bool = True, xmax: float | None = None,
                        title: str | None = None):
    """Horizontal stacked bars: energy of each level (and the array, the MACs) by tensor.

    ``result`` is a :class:`mini_accel.mapping.MappingResult`.

    >>> from mini_accel.mapping import Architecture, ConvLayer, Mapping, evaluate
    >>> layer, arch = ConvLayer(K=2, C=2), Architecture.eyeriss_like(num_pes=2)
    >>> res = evaluate(layer, arch, Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2}))
    >>> plot_mapping_energy(res, per_mac=False).get_xlabel()
    "energy (units of the architecture's table)"
    """
    from .mapping_model import MappingResult
    check_instance("result", result, MappingResult, what="a MappingResult of mapping.evaluate")
    per_mac = check_bool("per_mac", per_mac)
    if xmax is not None:
        xmax = check_number("xmax", xmax, low=0, closed="neither")
    ax = _new_axes(ax)
    # keep the storage order, with the array network just above the PE levels
    names = list(result.counts)
    order = names[:-1] + ["array", names[-1], "MAC"] if len(names) > 1 else names + ["array", "MAC"]
    scale = 1.0 / result.macs if per_mac else 1.0
    y = np.arange(len(order))
    left = np.zeros(len(order))
    for t in ("W", "I", "O"):
        vals = []
        for name in order:
            if name == "MAC":
                vals.append(0.0)
            elif name == "array":
                vals.append(result.array[t] * (result.energy_by_level["array"] /
                                               max(1, sum(result.array.values()))))
            else:
                c = result.counts[name][t]
                total = sum(result.counts[name][x]["reads"] + result.counts[name][x]["writes"]
                            for x in ("W", "I", "O"))
                share = (c["reads"] + c["writes"]) / total if total else 0.0
                vals.append(result.energy_by_level[name] * share)
        vals = np.array(vals) * scale
        ax.barh(y, vals, left=left, color=_COLORS[t], label={"W": "weights", "I": "inputs",
                                                              "O": "partial sums"}[t])
        left += vals
    mac = np.array([result.energy_by_level["MAC"] if n == "MAC" else 0.0 for n in order]) * scale
    ax.barh(y, mac, left=left, color=_COLORS["MAC"], label="MAC")
    ax.set_yticks(y, order)
    ax.invert_yaxis()
    unit = "energy per MAC" if per_mac else "energy"
    ax.set_xlabel(f"{unit} (units of the architecture's table)")
    if xmax is not None:
        ax.set_xlim(0, xmax)
    ax.set_title(title or f"total {result.energy * scale:.3g} per MAC, {result.cycles} cycles, "
                          f"utilization {result.utilization:.0%}")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_dataflow_comparison(energy_per_mac: dict, ax=None, *, normalize_to: str | None = "rs"):
    """Grouped bars: ``{layer: {dataflow: energy per MAC}}``, optionally divided by one dataflow.

    >>> ax = plot_dataflow_comparison({"conv1": {"ws": 2.0, "rs": 1.0}})
    >>> [float(p.get_height()) for p in ax.patches]
    [2.0, 1.0]
    """
    check_instance("energy_per_mac", energy_per_mac, dict,
                   what="a dict {layer: {dataflow: energy per MAC}}")
    if not energy_per_mac:
        raise ValueError("energy_per_mac must hold at least one layer")
    layers = list(energy_per_mac)
    flows = list(next(iter(energy_per_mac.values())))
    for name, row in energy_per_mac.items():
        check_instance(f"energy_per_mac[{name!r}]", row, dict, what="a dict {dataflow: energy per MAC}")
        if list(row) != flows:
            raise ValueError(f"energy_per_mac[{name!r}] has dataflows {list(row)}, the first layer {flows}")
        for df, v in row.items():
            check_number(f"energy_per_mac[{name!r}][{df!r}]", v, low=0)
    if normalize_to is not None and normalize_to not in flows:
        raise ValueError(f"normalize_to must be one of {flows} or None, got {normalize_to!r}")
    ax = _new_axes(ax, figsize=(7.5, 4.2))
    width = 0.8 / len(flows)
    x = np.arange(len(layers))
    for k, df in enumerate(flows):
        vals = [energy_per_mac[L][df] / (energy_per_mac[L][normalize_to] if normalize_to else 1.0)
                for L in layers]
        ax.bar(x + k * width - 0.4 + width / 2, vals, width, label=df.upper())
    ax.set_xticks(x, layers)
    ax.set_ylabel(f"energy / {normalize_to.upper()}" if normalize_to else "energy per MAC")
    ax.legend(ncols=len(flows), fontsize=8)
    return ax


def plot_storage_vs_density(shape=(64, 64), fmts=("bitmask", "csr", "rle"), ax=None, **kwargs):
    """Expected bits per entry of each format against density, with dense and break-evens.

    >>> ax = plot_storage_vs_density((16, 16), fmts=("bitmask",))
    >>> ax.get_ylabel()
    'bits per entry'
    """
    from .sparsity import _shape2, break_even_density, expected_bits
    shape = _shape2(shape)
    if isinstance(fmts, str):
        raise TypeError(f"fmts must be a list of format names such as ('csr',), got the string {fmts!r}")
    ax = _new_axes(ax)
    d = np.linspace(0.01, 1.0, 100)
    n = shape[0] * shape[1]
    dense = expected_bits(shape, 1.0, "dense", **{k: v for k, v in kwargs.items() if k == "value_bits"})
    ax.axhline(dense / n, color="black", lw=1, label="dense")
    for fmt in fmts:
        ax.plot(d, [expected_bits(shape, x, fmt, **kwargs) / n for x in d], label=fmt)
        be = break_even_density(shape, fmt, **kwargs)
        ax.axvline(be, ls=":", lw=0.8)
    ax.set_xlabel("density (fraction of nonzeros)")
    ax.set_ylabel("bits per entry")
    ax.legend()
    return ax


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


class MappingExplorer(_Explorer):
    """Tile-size sliders per inner level and loop-order menus; redraws the energy bars.

    Built by :func:`mapping_explorer_widget`, which has an example.
    """

    figsize = (7.0, 3.8)

    def __init__(self, layer, arch, mapping, orders=None):
        from .mapping_model import DIMS, Mapping, _check_arch_layer
        _check_arch_layer(arch, layer)
        check_instance("mapping", mapping, Mapping)
        super().__init__()
        w = _widgets()
        self.layer, self.arch, self.base = layer, arch, mapping
        self.orders = list(orders or ["NKCPQRS", "KCNPQRS", "CKNPQRS", "PQNKCRS", "NPQKCRS"])
        self.sliders = {}
        rows = []
        for i in range(1, len(arch.levels)):
            for d in DIMS:
                bound = getattr(layer, d)
                if bound == 1:
                    continue
                s = w.SelectionSlider(options=_divisors(bound), value=mapping.temporal[i].get(d, 1),
                                      description=f"{arch.levels[i].name} {d}",
                                      continuous_update=False)
                s.observe(lambda change: self.update(), names="value")
                self.sliders[(i, d)] = s
                rows.append(s)
        self.menus = []
        for i in range(len(arch.levels) - 1):
            opts = list(dict.fromkeys([mapping.order[i]] + self.orders))
            m = w.Dropdown(options=opts, value=mapping.order[i],
                           description=f"{arch.levels[i].name} order")
            m.observe(lambda change: self.update(), names="value")
            self.menus.append(m)
        self.widget = w.VBox([w.HBox([w.VBox(rows[::2]), w.VBox(rows[1::2])]),
                              w.HBox(self.menus), self.out])
        self.xmax = None
        self.update()

    def mapping(self):
        """The mapping the widgets describe now (DRAM gets what the inner levels leave)."""
        from .mapping_model import Mapping
        nlev = len(self.arch.levels)
        temporal = [{} for _ in range(nlev)]
        for (i, d), s in self.sliders.items():
            if s.value > 1:
                temporal[i][d] = s.value
        order = [m.value for m in self.menus] + [self.base.order[-1]]
        return Mapping.from_factors(self.arch, self.layer, temporal[1:], spatial=self.base.spatial,
                                    order=order, keep=self.base.keep)

    def update(self, **values):
        """Set sliders (``update(**{"RF C": 4})``) and redraw; returns the result or the problems."""
        from .mapping_model import evaluate, violations
        for key, v in values.items():
            for (i, d), s in self.sliders.items():
                if f"{self.arch.levels[i].name} {d}" == key:
                    s.value = v
        try:
            m = self.mapping()
            problems = violations(self.layer, self.arch, m)
        except ValueError as exc:
            m, problems = None, [str(exc)]
        if problems:
            self.result, self.problems = None, problems

            def draw(ax):
                ax.text(0.02, 0.5, "invalid mapping:\n" + "\n".join(problems), color="red",
                        va="center", wrap=True, fontsize=9)
                ax.set_axis_off()
            self._show(draw)
            return problems
        self.result, self.problems = evaluate(self.layer, self.arch, m), []
        if self.xmax is None:
            self.xmax = 1.3 * self.result.energy_per_mac
        self._show(lambda ax: plot_mapping_energy(self.result, ax=ax, xmax=max(
            self.xmax, 1.05 * self.result.energy_per_mac)))
        return self.result


def mapping_explorer_widget(layer, arch, mapping, orders=None) -> MappingExplorer:
    """An explorer over ``mapping``'s tile sizes and loop orders (display it in a cell).

    >>> from mini_accel.mapping import Architecture, ConvLayer, Mapping
    >>> layer, arch = ConvLayer(K=2, C=4), Architecture.eyeriss_like(num_pes=2)
    >>> ex = mapping_explorer_widget(layer, arch, Mapping.from_factors(arch, layer, [{}, {"C": 4}],
    ...                                                                spatial={"K": 2}))
    >>> ex.update(**{"RF C": 2}).cycles          # C split 2 x 2 between buffer and RF
    4
    """
    return MappingExplorer(layer, arch, mapping, orders)
