"""Figures and ipywidgets explorers for the labs (the front door of every viz module).

The roofline, quantization and device figures live here; the others in
:mod:`mini_accel.viz_energy` (energy breakdowns, the Lab 9 design explorer)
and :mod:`mini_accel.viz_systolic` (utilization, wavefronts, array sweeps),
re-exported here. The shared helpers are in ``mini_accel._viz_common``.

matplotlib and ipywidgets are imported inside the functions, so importing
this module (and ``mini_accel``) stays light. Every plotting function takes
``ax=None`` (a new figure is made when none is given) and returns the
matplotlib Axes it drew on. Each explorer is a thin object around a pure
drawing function: its widgets call :meth:`update`, which tests can call too.

Plots
-----
* :func:`plot_roofline`, :func:`plot_tpu_paper_rooflines`
* :func:`plot_energy_breakdown` - any ``{label: pJ}`` mapping (or a mapping of them)
* :func:`plot_energy_report` - an :class:`~mini_accel.energy.EnergyReport` (``EnergyReport.plot``)
* :func:`plot_utilization_heatmap` with :func:`utilization_grid` and :func:`pe_activity`
* :func:`plot_quantization_histogram` - values with clipping thresholds
* :func:`plot_device_landscape` - peak GOP/s against watts, log-log
* :func:`draw_systolic_frame` - one cycle of a :class:`~mini_accel.SystolicTrace`
* :func:`plot_array_sweep` with :func:`array_sweep`
* :func:`plot_design_comparison` - energy per inference by level of designs, fixed axes

Explorers (ipywidgets)
----------------------
* :func:`systolic_wavefront_widget` - Play button linked to a cycle slider
* :func:`array_sweep_widget` - array size and batch size
* :func:`roofline_widget` - a device picker over the catalog
* :func:`design_explorer_widget` - Lab 9: every free parameter of a design, bars against the reference

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from mini_accel import viz
>>> ax = viz.plot_energy_breakdown({"DRAM": 640.0, "SRAM": 5.0, "MAC": 3.7})
>>> [t.get_text() for t in ax.get_yticklabels()]
['DRAM', 'SRAM', 'MAC']
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._checks import check_array, check_bool, check_int, check_number
from ._viz_common import _POW2, _Explorer, _in_ipython, _new_axes, _pyplot, _widgets
from .formats import canonical_format
from .viz_energy import (
    DesignExplorer,
    design_explorer_widget,
    plot_design_comparison,
    plot_energy_breakdown,
    plot_energy_report,
)
from .viz_systolic import (
    ArraySweepExplorer,
    WavefrontExplorer,
    array_sweep,
    array_sweep_widget,
    draw_systolic_frame,
    pe_activity,
    plot_array_sweep,
    plot_utilization_heatmap,
    systolic_wavefront_widget,
    utilization_grid,
)

# the shared helpers the other viz modules import from here
_SHARED = (_POW2, _Explorer, _in_ipython, _new_axes, _pyplot, _widgets)

__all__ = [
    "plot_roofline",
    "plot_tpu_paper_rooflines",
    "plot_energy_breakdown",
    "plot_energy_report",
    "utilization_grid",
    "pe_activity",
    "plot_utilization_heatmap",
    "plot_quantization_histogram",
    "plot_device_landscape",
    "draw_systolic_frame",
    "array_sweep",
    "plot_array_sweep",
    "systolic_wavefront_widget",
    "array_sweep_widget",
    "roofline_widget",
    "WavefrontExplorer",
    "ArraySweepExplorer",
    "RooflineExplorer",
    "plot_design_comparison",
    "design_explorer_widget",
    "DesignExplorer",
]


# --------------------------------------------------------------------------- #
# Roofline
# --------------------------------------------------------------------------- #
def _point_fields(p):
    if isinstance(p, Mapping):
        return p.get("label", ""), p["intensity"], p.get("perf")
    p = tuple(p)
    if len(p) == 2:
        return p[0], p[1], None
    if len(p) == 3:
        return p
    raise ValueError(f"a point is (label, intensity) or (label, intensity, perf) or a dict, got {p!r}")


def plot_roofline(rooflines, points=None, *, ax=None, intensity_range=None,
                  macs_on_x: bool = False, annotate: bool = True, title: str | None = None):
    """Rooflines (log-log, TOPS against ops per byte) with workloads as points.

    Parameters
    ----------
    rooflines : Roofline or iterable of Roofline
    points : iterable, optional
        Workloads: dicts with ``label``, ``intensity`` (ops/byte) and
        optionally ``perf`` (measured ops/s), or tuples ``(label,
        intensity[, perf])``. A point without ``perf`` is drawn on the roof
        of the first roofline (its attainable throughput).
    intensity_range : (float, float), optional
        x range in ops/byte (default: two decades around the ridges and points).
    macs_on_x : bool
        Label the x-axis in MACs per byte (x values halved), as the TPU
        paper's Figs. 5-8 do.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from mini_accel.roofline import Roofline
    >>> ax = plot_roofline(Roofline("toy", 100e12, 1e12), [("gemm", 10.0)])
    >>> len(ax.get_lines()), ax.get_xscale()     # the roof and its ridge marker
    (2, 'log')
    """
    from .roofline import Roofline
    if isinstance(rooflines, Roofline):
        rooflines = [rooflines]
    rooflines = list(rooflines)
    if not rooflines or not all(isinstance(r, Roofline) for r in rooflines):
        raise TypeError("rooflines must be a Roofline or a non-empty list of them")
    pts = [_point_fields(p) for p in (points or [])]
    for label, inten, _ in pts:
        check_number(f"point {label!r}: intensity", inten, low=0, closed="neither")
    annotate = check_bool("annotate", annotate)
    macs_on_x = check_bool("macs_on_x", macs_on_x)
    ax = _new_axes(ax)
    scale = 0.5 if macs_on_x else 1.0
    xs = [r.ridge for r in rooflines] + [p[1] for p in pts]
    lo, hi = intensity_range or (min(xs) / 30.0, max(xs) * 30.0)
    grid = np.geomspace(lo, hi, 256)
    for r in rooflines:
        label = f"{r.name}{' ' + r.precision if r.precision else ''} (ridge {r.ridge * scale:,.3g})"
        (line,) = ax.plot(grid * scale, r.attainable(grid) / 1e12, label=label)
        ax.plot([r.ridge * scale], [r.peak / 1e12], marker="o", color=line.get_color(),
                linestyle="none")
    # Labels go above their point, moved further up while they would sit within `step` (in log y)
    # of a label already placed less than a decade away in x; a thin leader line joins them.
    lows = [r.attainable(grid[0]) / 1e12 for r in rooflines]
    step = 0.06 * np.log10(max(r.peak for r in rooflines) / 1e12 / min(lows))
    placed = []
    marks = [(np.log10(i * scale), np.log10((p if p is not None else rooflines[0].attainable(i)) / 1e12))
             for _, i, p in pts]
    for _label, inten, perf in pts:
        y = (perf if perf is not None else rooflines[0].attainable(inten)) / 1e12
        ax.scatter([inten * scale], [y], marker="*" if perf is not None else "D", s=60, zorder=3)
    for k in sorted(range(len(pts)), key=lambda k: pts[k][1]):
        label, inten, perf = pts[k]
        y = (perf if perf is not None else rooflines[0].attainable(inten)) / 1e12
        if annotate and label:
            lx, ly = np.log10(inten * scale), np.log10(y) + step
            for _ in range(2 * len(pts) + 2):       # bounded: at most one step per other point
                if not (any(np.fabs(lx - px) < 1.0 and np.fabs(ly - py) < step for px, py in placed)
                        or any(0 < mx - lx < 0.4 and np.fabs(ly - my) < step for mx, my in marks)):
                    break
                ly += step
            if 10 ** ly > max(r.peak for r in rooflines) / 1e12:      # above the highest roof: go below
                ly = np.log10(y) - 1.5 * step
            placed.append((lx, ly))
            ax.annotate(label, (inten * scale, y), xytext=(inten * scale * 1.15, 10 ** ly), fontsize=8,
                        arrowprops={"arrowstyle": "-", "linewidth": 0.5, "color": "0.4"})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs per byte)" if macs_on_x else "operational intensity (ops per byte)")
    ax.set_ylabel("attainable TOPS (1 MAC = 2 ops)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


def plot_tpu_paper_rooflines(*, ax=None):
    """The TPU v1 paper's combined roofline (its Fig. 8): TPU, Haswell, K80 and the six apps.

    Stars are the apps' measured TOPS on the TPU (Table 3) at Table 1's MACs
    per weight byte.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_tpu_paper_rooflines()
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    from .roofline import tpu_paper_points, tpu_paper_rooflines
    roofs = tpu_paper_rooflines()
    pts = [{"label": p["app"], "intensity": 2.0 * p["macs_per_weight_byte"],
            "perf": p["measured_tops"] * 1e12} for p in tpu_paper_points("TPU")]
    return plot_roofline(list(roofs.values()), pts, ax=ax, intensity_range=(2.0, 2e4 * 2),
                         macs_on_x=True,
                         title="TPU v1 paper rooflines (Jouppi et al. 2017, Figs. 5-8)")

# --------------------------------------------------------------------------- #
# Quantization
# --------------------------------------------------------------------------- #
def _threshold_pairs(thresholds):
    if thresholds is None:
        return {}
    if isinstance(thresholds, Mapping):
        items = thresholds.items()
    elif isinstance(thresholds, (tuple, list)) and len(thresholds) == 2 and all(
            isinstance(t, (int, float, np.integer, np.floating)) for t in thresholds):
        items = [("clip", tuple(thresholds))]
    else:
        items = [("clip", thresholds)]
    out = {}
    for name, t in items:
        if isinstance(t, (tuple, list)):
            if len(t) != 2:
                raise ValueError(f"threshold {name!r} must be a number or a pair (lo, hi), got {t!r}")
            lo, hi = (check_number(f"threshold {name!r}", v) for v in t)
        else:
            hi = check_number(f"threshold {name!r}", t, low=0, closed="neither")
            lo = -hi
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValueError(f"threshold {name!r} must be a finite range lo < hi, got ({lo}, {hi})")
        out[str(name)] = (lo, hi)
    return out


def plot_quantization_histogram(values, thresholds=None, *, bins: int = 100, ax=None,
                                log: bool = True, title: str | None = None):
    """Histogram of values with the clipping range(s) of a quantizer.

    ``thresholds`` is a symmetric threshold ``T`` (range -T..T), a pair
    ``(lo, hi)``, or a mapping ``{name: T or (lo, hi)}`` to compare
    calibrators (min-max, percentile, KL, MSE). Each range is drawn as two
    vertical lines; its legend entry gives the fraction of values it clips.

    >>> import numpy as np, matplotlib; matplotlib.use("Agg")
    >>> x = np.random.default_rng(0).normal(size=10_000)
    >>> ax = plot_quantization_histogram(x, {"max": float(abs(x).max()), "99.9%": 3.3})
    >>> [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()]
    ['max', '99.9%']
    """
    v = check_array("values", values, allow_empty=False).ravel()
    bins = check_int("bins", bins, low=1, high=100_000)
    log = check_bool("log", log)
    ranges = _threshold_pairs(thresholds)
    ax = _new_axes(ax)
    ax.hist(v, bins=bins, color="0.6", log=log)
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    # Ranges often nearly coincide (min-max, percentile, MSE): each gets its own dash pattern and a
    # thinner line than the one before, so a line drawn later never hides an earlier one.
    dashes = ["--", ":", "-.", (0, (6, 2, 1, 2, 1, 2))]
    for k, (name, (lo, hi)) in enumerate(ranges.items()):
        clipped = float(np.mean((v < lo) | (v > hi)))
        style = dict(color=colors[k % len(colors)], linestyle=dashes[k % len(dashes)], lw=max(1.0, 3.0 - 0.6 * k))
        ax.axvline(lo, label=f"{name} ({lo:.3g}, {hi:.3g}; clips {100 * clipped:.2f}%)", **style)
        ax.axvline(hi, **style)
    if ranges:                         # above the plot: the legend covers no line and no bar
        ax.legend(fontsize=8, ncol=2, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    # One denominator for every share in the figure: the values drawn.
    ax.set_xlabel(f"value ({v.size:,} values drawn; the clip shares are of these)")
    ax.set_ylabel("count" + (" (log)" if log else ""))
    if title:
        ax.set_title(title, pad=14 + 11 * ((len(ranges) + 1) // 2) if ranges else 6)
    return ax


# --------------------------------------------------------------------------- #
# Device landscape
# --------------------------------------------------------------------------- #
_ARCH_MARKERS = {"cpu": "s", "gpu": "o", "asic": "^", "fpga": "D"}
_KIND_COLORS = {"edge": "tab:green", "server": "tab:blue"}


def plot_device_landscape(devices=None, *, precision: str | None = None, ax=None,
                          annotate: bool = True, efficiency_lines=(0.1, 1.0, 10.0)):
    """Peak GOP/s against watts (log-log) for the catalog's devices.

    Each device is drawn at its peak for ``precision`` (default: its own
    lowest-precision peak, named in the label) against its power figure;
    marker = architecture (CPU, GPU, ASIC, FPGA), colour = edge or server.
    Devices without a power figure or without that precision are skipped and
    listed in ``ax.skipped_devices``. Dashed diagonals mark constant TOPS/W.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_device_landscape(precision="int8")
    >>> len(ax.plotted_devices) >= 5, "Apple A11 Bionic Neural Engine" in ax.skipped_devices
    (True, True)
    """
    from .devices import load_devices
    devices = load_devices() if devices is None else list(devices)
    if precision is not None:
        precision = canonical_format(precision, supported_by="devices")
    annotate = check_bool("annotate", annotate)
    ax = _new_axes(ax, figsize=(7.0, 5.0))
    plotted, skipped = [], []
    for d in devices:
        p = precision or d.best_precision()
        if d.tdp_w is None or p is None or p not in d.peaks:
            skipped.append(d.name)
            continue
        x, y = d.tdp_w, d.peaks[p] / 1e9
        ax.scatter([x], [y], marker=_ARCH_MARKERS.get(d.arch, "o"),
                   color=_KIND_COLORS.get(d.kind, "0.3"), s=45, zorder=3,
                   edgecolors="black" if d.flagged else "none")
        if annotate:
            ax.annotate(f"{d.name.split(' (')[0]} [{p}]", (x, y), textcoords="offset points",
                        xytext=(4, 3), fontsize=6.5)
        plotted.append(d.name)
    if not plotted:
        raise ValueError("no device has both a power figure and the requested peak")
    ax.set_xscale("log")
    ax.set_yscale("log")
    xmin, xmax = ax.get_xlim()
    xs = np.geomspace(xmin, xmax, 50)
    for eff in efficiency_lines:      # TOPS/W -> GOP/s = eff * 1e3 * W
        ax.plot(xs, eff * 1e3 * xs, linestyle=":", color="0.5", linewidth=0.8)
        ax.annotate(f"{eff:g} TOPS/W", (xs[-1], eff * 1e3 * xs[-1]), fontsize=7, color="0.4",
                    ha="right", va="bottom")
    ax.set_xlim(xmin, xmax)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker=m, linestyle="none", color="0.3", label=a.upper())
               for a, m in _ARCH_MARKERS.items()]
    handles += [Line2D([], [], marker="o", linestyle="none", color=c, label=k)
                for k, c in _KIND_COLORS.items()]
    handles.append(Line2D([], [], marker="o", linestyle="none", color="white",
                          markeredgecolor="black", label="has a FLAG caveat"))
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    ax.set_xlabel("power (W; TDP or the catalog's power figure)")
    ax.set_ylabel(f"peak GOP/s ({precision or 'best precision'}, dense)")
    ax.set_title("Throughput vs power of real devices")
    ax.grid(True, which="both", alpha=0.3)
    ax.plotted_devices = plotted
    ax.skipped_devices = skipped
    return ax


class RooflineExplorer(_Explorer):
    """Pick a device and precision; see the workloads on its roofline (see :func:`roofline_widget`)."""

    figsize = (6.6, 4.6)

    def __init__(self, workloads=("resnet50", "mobilenet_v2", "bert_base_layer", "gpt2_small_decode"),
                 batch: int = 1, bytes_per_element: float = 1.0):
        super().__init__()
        from .devices import load_devices
        w = _widgets()
        self.devices = {d.name: d for d in load_devices() if d.bandwidth is not None and d.peaks}
        self.workload_names = list(workloads)
        self.bytes_per_element = float(bytes_per_element)
        first = next(iter(self.devices))
        self.device = w.Dropdown(options=list(self.devices), value=first, description="device")
        self.precision = w.Dropdown(options=list(self.devices[first].precisions),
                                    value=self.devices[first].precisions[0], description="precision")
        self.batch = w.SelectionSlider(options=_POW2, value=int(batch), description="batch")
        self.weights_only = w.Checkbox(value=True, description="activations on chip")
        self._switching = False
        self.device.observe(self._device_changed, names="value")
        for ctl in (self.precision, self.batch, self.weights_only):
            ctl.observe(lambda change: None if self._switching else self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.device, self.precision]),
                              w.HBox([self.batch, self.weights_only]), self.out])
        self.update()

    def _device_changed(self, change):
        precisions = list(self.devices[change["new"]].precisions)
        self._switching = True         # one redraw for the new device, not one per changed control
        try:
            self.precision.options = precisions
            self.precision.value = precisions[0]
        finally:
            self._switching = False
        self.update()

    def points(self, batch: int | None = None) -> list:
        """The workloads as (label, intensity) points at ``batch``."""
        from .roofline import network_intensity
        batch = self.batch.value if batch is None else int(batch)
        return [(name, network_intensity(name, batch=batch, bytes_per_element=self.bytes_per_element,
                                         weights_only=self.weights_only.value))
                for name in self.workload_names]

    def update(self, device: str | None = None, precision: str | None = None):
        """Redraw the roofline of the selected (or given) device and precision."""
        from .roofline import Roofline
        name = self.device.value if device is None else device
        prec = self.precision.value if precision is None else precision
        roof = Roofline.from_device(self.devices[name], prec)
        pts = self.points()
        self.roofline = roof
        return self._show(lambda ax: plot_roofline(roof, pts, ax=ax,
                                                   title=f"batch {self.batch.value}"))


def roofline_widget(**kwargs) -> RooflineExplorer:
    """A roofline with a device picker over the catalog and the course's workloads.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ex = roofline_widget(workloads=("bert_base_layer",))
    >>> ex.update().get_xscale(), len(ex.points())
    ('log', 1)
    """
    return RooflineExplorer(**kwargs)
