"""Figures and ipywidgets explorers for the labs.

matplotlib and ipywidgets are imported inside the functions, so importing
this module (and ``mini_accel``) stays light. Every plotting function takes
``ax=None`` (a new figure is made when none is given) and returns the
matplotlib Axes it drew on. Each explorer is a thin object around a pure
drawing function: its widgets call :meth:`update`, which tests can call too.

Plots
-----
* :func:`plot_roofline`, :func:`plot_tpu_paper_rooflines`
* :func:`plot_energy_breakdown` - any ``{label: pJ}`` mapping (or a mapping of them)
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

__all__ = [
    "plot_roofline",
    "plot_tpu_paper_rooflines",
    "plot_energy_breakdown",
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


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "mini_accel.viz needs matplotlib; install the course extras: pip install -e '.[labs]'"
        ) from exc
    return plt


def _widgets():
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the explorers need ipywidgets; install the course extras: pip install -e '.[labs]'"
        ) from exc
    return ipywidgets


def _new_axes(ax, figsize=(6.4, 4.4)):
    if ax is not None:
        return ax
    fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


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
        if not (isinstance(inten, (int, float, np.floating, np.integer)) and inten > 0 and math.isfinite(inten)):
            raise ValueError(f"point {label!r}: intensity must be a positive number, got {inten!r}")
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
    for label, inten, perf in pts:
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
    """
    from .roofline import tpu_paper_points, tpu_paper_rooflines
    roofs = tpu_paper_rooflines()
    pts = [{"label": p["app"], "intensity": 2.0 * p["macs_per_weight_byte"],
            "perf": p["measured_tops"] * 1e12} for p in tpu_paper_points("TPU")]
    return plot_roofline(list(roofs.values()), pts, ax=ax, intensity_range=(2.0, 2e4 * 2),
                         macs_on_x=True,
                         title="TPU v1 paper rooflines (Jouppi et al. 2017, Figs. 5-8)")


# --------------------------------------------------------------------------- #
# Energy breakdown
# --------------------------------------------------------------------------- #
def _check_energy_values(mapping, where):
    out = {}
    for k, v in mapping.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"energy of {where}{k!r} must be a number, got {v!r}")
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"energy of {where}{k!r} must be finite and >= 0, got {v!r}")
        out[str(k)] = float(v)
    return out


def plot_energy_breakdown(energy, *, ax=None, unit: str = "pJ", title: str | None = None,
                          log: bool = False, xmax: float | None = None):
    """Horizontal bars of an energy breakdown.

    ``energy`` is a ``{label: energy}`` mapping (one bar per label, in the
    mapping's order, the value written at the end of each bar), or a
    ``{report: {label: energy}}`` mapping (one stacked bar per report, a
    segment per label) to compare designs. Values are in ``unit``. ``xmax``
    (in ``unit``) fixes the energy axis, so that figures drawn for several
    settings (a widget) compare bar for bar.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_energy_breakdown({"ws": {"DRAM": 10.0, "MAC": 2.0}, "os": {"DRAM": 6.0, "MAC": 2.0}})
    >>> len(ax.patches), ax.get_legend() is not None
    (4, True)
    """
    if not isinstance(energy, Mapping) or not energy:
        raise TypeError(f"energy must be a non-empty mapping {{label: {unit}}}, got {type(energy).__name__}")
    ax = _new_axes(ax)
    nested = all(isinstance(v, Mapping) for v in energy.values())
    if nested:
        reports = {str(r): _check_energy_values(m, f"{r!r}: ") for r, m in energy.items()}
        labels = list(dict.fromkeys(k for m in reports.values() for k in m))
        names = list(reports)
        left = np.zeros(len(names))
        for label in labels:
            vals = np.array([reports[n].get(label, 0.0) for n in names])
            ax.barh(names, vals, left=left, label=label)
            left += vals
        for i, total in enumerate(left):
            ax.text(total, i, f" {total:,.4g}", va="center", fontsize=8)
        ax.legend(fontsize=8)
    elif any(isinstance(v, Mapping) for v in energy.values()):
        raise TypeError("energy mixes numbers and mappings; give {label: value} or {report: {label: value}}")
    else:
        vals = _check_energy_values(energy, "")
        names = list(vals)
        bars = ax.barh(names, list(vals.values()))
        for bar, v in zip(bars, vals.values()):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,.4g}",
                    va="center", fontsize=8)
    ax.invert_yaxis()      # first label on top, like a table
    if log:
        ax.set_xscale("log")
    if xmax is not None:
        if not (isinstance(xmax, (int, float)) and np.isfinite(xmax) and xmax > 0):
            raise ValueError(f"xmax must be a positive number of {unit}, got {xmax!r}")
        ax.set_xlim(right=float(xmax)) if log else ax.set_xlim(0.0, float(xmax))
    ax.set_xlabel(f"energy ({unit})")
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- #
# Systolic utilization
# --------------------------------------------------------------------------- #
def utilization_grid(K: int, N: int, sizes, batches, *, dataflow: str = "ws",
                     double_buffer: bool = False) -> dict:
    """Closed-form utilization of a ``(batch, K) @ (K, N)`` GEMM on square arrays.

    Returns ``{"sizes", "batches", "utilization", "cycles"}`` with 2-D
    arrays indexed ``[size, batch]``; utilization = MACs / (size^2 x cycles).

    >>> g = utilization_grid(256, 256, sizes=[16, 256], batches=[1, 256])
    >>> g["utilization"].round(3).tolist()     # 256x256 at batch 256: 256^3 / (256^2 * 1022 cycles)
    [[0.021, 0.848], [0.001, 0.25]]
    """
    from .systolic import systolic_cycles
    sizes = [int(s) for s in sizes]
    batches = [int(b) for b in batches]
    if not sizes or not batches:
        raise ValueError("sizes and batches must be non-empty")
    util = np.zeros((len(sizes), len(batches)))
    cycles = np.zeros((len(sizes), len(batches)), dtype=np.int64)
    for i, s in enumerate(sizes):
        for j, b in enumerate(batches):
            c = systolic_cycles(b, K, N, s, s, dataflow, double_buffer)
            cycles[i, j] = c
            util[i, j] = b * K * N / (s * s * c)
    return {"sizes": sizes, "batches": batches, "utilization": util, "cycles": cycles}


def pe_activity(trace) -> np.ndarray:
    """Fraction of the trace's cycles in which each PE did a MAC, shape (rows, cols).

    A PE does a MAC in a cycle of the ``stream`` phase when it holds a real
    A value and a real B value; summed over PEs and cycles this is the
    GEMM's MAC count.
    """
    busy = ~np.isnan(trace.a) & ~np.isnan(trace.b) & (np.asarray(trace.phase) == "stream")[:, None, None]
    return busy.sum(axis=0) / trace.cycles


def plot_utilization_heatmap(data, *, x_labels=None, y_labels=None, ax=None, xlabel: str = "",
                             ylabel: str = "", title: str | None = None, annotate: bool = True,
                             vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis"):
    """A heatmap of utilization values in [0, 1] with a colour bar.

    ``data`` is a 2-D array, or the dict of :func:`utilization_grid` (then
    the labels are the array sizes and batches), or a
    :class:`~mini_accel.SystolicTrace` (then each cell is a PE and the value
    is :func:`pe_activity`).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_utilization_heatmap(utilization_grid(64, 64, [8, 32], [1, 8, 64]))
    >>> ax.images[0].get_array().shape, len(ax.texts)
    ((2, 3), 6)
    """
    if isinstance(data, Mapping) and "utilization" in data:
        grid = np.asarray(data["utilization"], dtype=float)
        x_labels = x_labels if x_labels is not None else data["batches"]
        y_labels = y_labels if y_labels is not None else [f"{s}x{s}" for s in data["sizes"]]
        xlabel = xlabel or "batch (M)"
        ylabel = ylabel or "array size"
    elif hasattr(data, "phase") and hasattr(data, "psum"):
        grid = pe_activity(data)
        xlabel = xlabel or "PE column"
        ylabel = ylabel or "PE row"
        title = title or "fraction of cycles each PE does a MAC"
    else:
        grid = np.asarray(data, dtype=float)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"data must be a non-empty 2-D array, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError("data contains NaN or inf")
    ax = _new_axes(ax)
    im = ax.imshow(grid, vmin=vmin, vmax=vmax, cmap=cmap, aspect="auto", origin="upper")
    ax.figure.colorbar(im, ax=ax, label="utilization")
    if x_labels is not None:
        ax.set_xticks(range(grid.shape[1]), [str(x) for x in x_labels])
    if y_labels is not None:
        ax.set_yticks(range(grid.shape[0]), [str(y) for y in y_labels])
    if annotate and grid.size <= 400:
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v < (vmin + vmax) / 2 else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


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
            lo, hi = (float(v) for v in t)
        else:
            hi = float(t)
            if hi <= 0:
                raise ValueError(f"threshold {name!r} must be > 0 for a symmetric range, got {hi}")
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
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty")
    if not np.all(np.isfinite(v)):
        raise ValueError("values contains NaN or inf")
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
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


# --------------------------------------------------------------------------- #
# Systolic wavefront
# --------------------------------------------------------------------------- #
def _fmt(v):
    if np.isnan(v):
        return "·"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2g}"


def draw_systolic_frame(trace, t: int, *, ax=None, show_values: bool = True):
    """Draw the PE registers at cycle ``t`` of a :class:`~mini_accel.SystolicTrace`.

    Each cell is a PE. Its colour shows whether it does a MAC this cycle
    (real A and B in the stream phase), and its text the three registers:
    ``a`` (streamed or held input), ``b`` (weight or passing operand) and
    ``Σ`` (partial sum); a dot means the register is empty. The title gives
    the cycle, the phase (load, stream, drain) and the fold.

    >>> import numpy as np, matplotlib; matplotlib.use("Agg")
    >>> from mini_accel import SystolicArray
    >>> tr = SystolicArray(2, 2).trace(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    >>> ax = draw_systolic_frame(tr, 3)
    >>> ax.get_title()
    'cycle 3 of 5 | phase: stream | fold 0'
    """
    frame = trace.frame(t)          # validates t
    a, b, s = frame["a"], frame["b"], frame["psum"]
    rows, cols = a.shape
    active = (~np.isnan(a) & ~np.isnan(b) & (frame["phase"] == "stream")).astype(float)
    holds = (~np.isnan(a) | ~np.isnan(b) | ~np.isnan(s)).astype(float)
    ax = _new_axes(ax, figsize=(max(3.0, 1.1 * cols + 1), max(2.6, 0.9 * rows + 1)))
    shade = 0.3 * holds + 0.55 * active
    ax.imshow(shade, cmap="Blues", vmin=0, vmax=1, aspect="equal")
    if show_values:
        fs = max(5.0, 9.0 - 0.3 * max(rows, cols))
        for i in range(rows):
            for j in range(cols):
                # white text on the dark cells of busy PEs, black elsewhere
                ax.text(j, i, f"a {_fmt(a[i, j])}\nb {_fmt(b[i, j])}\nΣ {_fmt(s[i, j])}",
                        ha="center", va="center", fontsize=fs, family="monospace",
                        color="white" if shade[i, j] > 0.5 else "black")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="0.4", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("PE column")
    ax.set_ylabel("PE row")
    ax.set_title(f"cycle {t} of {trace.cycles - 1} | phase: {frame['phase']} | fold {frame['fold']}")
    return ax


# --------------------------------------------------------------------------- #
# Array-size / batch sweep
# --------------------------------------------------------------------------- #
def array_sweep(M: int, K: int, N: int, sizes=(4, 8, 16, 32, 64, 128, 256), *,
                dataflow: str = "ws", double_buffer: bool = False) -> dict:
    """Cycles, folds and utilization of one GEMM on square arrays of several sizes.

    >>> s = array_sweep(256, 256, 256, sizes=(16, 256))
    >>> s["folds"], [round(u, 3) for u in s["utilization"]]   # 256 folds x 302 cycles; 1 x 1022
    ([256, 1], [0.848, 0.25])
    """
    from .systolic import systolic_cycles, systolic_folds
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise ValueError("sizes must be non-empty")
    cycles = [systolic_cycles(M, K, N, s, s, dataflow, double_buffer) for s in sizes]
    return {
        "M": M, "K": K, "N": N, "dataflow": dataflow, "sizes": sizes, "cycles": cycles,
        "folds": [systolic_folds(M, K, N, s, s, dataflow) for s in sizes],
        "utilization": [M * K * N / (s * s * c) for s, c in zip(sizes, cycles)],
    }


def plot_array_sweep(sweep, *, ax=None, highlight: int | None = None):
    """Utilization (left axis) and cycles (right axis, log) against array size.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_array_sweep(array_sweep(64, 64, 64))
    >>> ax.get_xscale(), len(ax.get_lines())
    ('log', 1)
    """
    ax = _new_axes(ax)
    sizes = sweep["sizes"]
    ax.plot(sizes, sweep["utilization"], marker="o", label="utilization")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [f"{s}" for s in sizes])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("array size (rows = cols)")
    ax.set_ylabel("utilization")
    twin = ax.twinx()
    twin.plot(sizes, sweep["cycles"], marker="s", color="tab:orange", linestyle="--", label="cycles (right axis)")
    twin.set_yscale("log")
    twin.set_ylabel("cycles", color="tab:orange")
    # Draw the utilization axes above the twin, so the cycle curve never hides the utilization curve
    # (or the highlight) where the two cross, and name both curves in one legend.
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.get_lines()[0].set_label("utilization (left axis)")
    if highlight is not None and highlight in sizes:
        k = sizes.index(highlight)
        ax.plot([highlight], [sweep["utilization"][k]], marker="o", markersize=12,
                fillstyle="none", color="red", linestyle="none")
    handles = [ax.get_lines()[0], twin.get_lines()[0]]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, ncol=2, frameon=False,
              loc="lower center", bbox_to_anchor=(0.5, 1.0))      # above the plot: covers no curve
    ax.set_title(f"({sweep['M']} x {sweep['K']}) @ ({sweep['K']} x {sweep['N']}), {sweep['dataflow']}", pad=20)
    ax.twin = twin
    return ax


# --------------------------------------------------------------------------- #
# Explorers
# --------------------------------------------------------------------------- #
def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    return get_ipython() is not None


class _Explorer:
    """Common plumbing: an Output widget that shows the last figure drawn."""

    def __init__(self):
        w = _widgets()
        self.out = w.Output()
        self.ax = None

    def _show(self, draw):
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=self.figsize, layout="constrained")
        draw(ax)
        self.ax = ax
        with self.out:
            self.out.clear_output(wait=True)
            if _in_ipython():          # outside a kernel (tests, scripts) there is nowhere to show it
                from IPython.display import display
                display(fig)
        plt.close(fig)
        return ax

    def _ipython_display_(self):  # shows the widget when the explorer is the cell's last value
        from IPython.display import display
        display(self.widget)


class WavefrontExplorer(_Explorer):
    """Play button and cycle slider over a :class:`~mini_accel.SystolicTrace`."""

    figsize = (6.0, 4.5)

    def __init__(self, trace, interval_ms: int = 600):
        super().__init__()
        w = _widgets()
        self.trace = trace
        self.play = w.Play(value=0, min=0, max=trace.cycles - 1, step=1, interval=int(interval_ms),
                           description="play")
        self.slider = w.IntSlider(value=0, min=0, max=trace.cycles - 1, description="cycle",
                                  continuous_update=True)
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        self.widget = w.VBox([w.HBox([self.play, self.slider]), self.out])
        self.update(0)

    def update(self, t: int):
        """Draw cycle ``t`` (the slider's callback); returns the Axes."""
        self.cycle = int(t)
        return self._show(lambda ax: draw_systolic_frame(self.trace, self.cycle, ax=ax))


def systolic_wavefront_widget(trace=None, *, A=None, B=None, rows: int = 4, cols: int = 4,
                              dataflow: str = "ws", interval_ms: int = 600) -> WavefrontExplorer:
    """The wavefront animation: a Play button linked to a cycle slider.

    Give a :class:`~mini_accel.SystolicTrace`, or matrices ``A`` and ``B``
    and an array shape (the trace is recorded here). Display the returned
    explorer (or its ``.widget``) in a notebook.
    """
    if trace is None:
        if A is None or B is None:
            raise TypeError("give a trace, or both A and B")
        from .systolic import SystolicArray
        trace = SystolicArray(rows, cols, dataflow=dataflow).trace(A, B)
    elif not hasattr(trace, "frame"):
        raise TypeError(f"trace must be a SystolicTrace, got {type(trace).__name__}")
    return WavefrontExplorer(trace, interval_ms)


_POW2 = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class ArraySweepExplorer(_Explorer):
    """Sliders for array size and batch over a layer of shape (batch, K) @ (K, N)."""

    figsize = (6.4, 4.4)

    def __init__(self, K: int, N: int, sizes=(4, 8, 16, 32, 64, 128, 256), batches=_POW2):
        super().__init__()
        w = _widgets()
        self.K, self.N = int(K), int(N)
        self.sizes, self.batches = list(sizes), list(batches)
        self.size = w.SelectionSlider(options=self.sizes, value=self.sizes[len(self.sizes) // 2],
                                      description="array")
        self.batch = w.SelectionSlider(options=self.batches, value=self.batches[len(self.batches) // 2],
                                       description="batch")
        self.dataflow = w.Dropdown(options=["ws", "os", "is"], value="ws", description="dataflow")
        for ctl in (self.size, self.batch, self.dataflow):
            ctl.observe(lambda change: self.update(), names="value")
        self.text = w.HTML()
        self.widget = w.VBox([w.HBox([self.size, self.batch, self.dataflow]), self.text, self.out])
        self.update()

    def update(self, size: int | None = None, batch: int | None = None, dataflow: str | None = None):
        """Redraw for the current (or the given) array size, batch and dataflow."""
        size = self.size.value if size is None else int(size)
        batch = self.batch.value if batch is None else int(batch)
        dataflow = self.dataflow.value if dataflow is None else dataflow
        sweep = array_sweep(batch, self.K, self.N, self.sizes, dataflow=dataflow)
        k = self.sizes.index(size) if size in self.sizes else None
        if k is not None:
            self.text.value = (f"<b>{size}x{size}</b>, batch {batch}: {sweep['cycles'][k]:,} cycles, "
                               f"{sweep['folds'][k]} folds, utilization {sweep['utilization'][k]:.3f}")
        self.sweep = sweep
        return self._show(lambda ax: plot_array_sweep(sweep, ax=ax, highlight=size))


def array_sweep_widget(K: int = 1024, N: int = 1024, **kwargs) -> ArraySweepExplorer:
    """Explore utilization against array size and batch for a (batch, K) @ (K, N) layer."""
    return ArraySweepExplorer(K, N, **kwargs)


class RooflineExplorer(_Explorer):
    """Pick a device and precision; see the workloads on its roofline."""

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
    """A roofline with a device picker over the catalog and the course's workloads."""
    return RooflineExplorer(**kwargs)


# --------------------------------------------------------------------------- #
# Lab 9: the design explorer
# --------------------------------------------------------------------------- #
def plot_design_comparison(evaluations, *, ax=None, xmax_mj: float | None = None,
                           title: str | None = None):
    """Stacked bars of energy per inference (mJ) by level, one bar per design.

    ``evaluations`` maps a label to a :class:`~mini_accel.design.Evaluation`.
    Every bar has the same levels in the same order and colours (a level a
    design lacks is a zero segment), and ``xmax_mj`` fixes the x range so
    that figures of different designs compare; a bar beyond it is cut at the
    edge and its total is written there with an arrow.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from mini_accel.design import evaluate, reference_design
    >>> ev = evaluate(reference_design("edge"), [(64, 64, 64)])
    >>> ax = plot_design_comparison({"reference": ev, "mine": ev}, xmax_mj=0.01)
    >>> float(ax.get_xlim()[1]), [t.get_text() for t in ax.get_yticklabels()]
    (0.01, ['reference', 'mine'])
    """
    from .energy import LEVEL_ORDER
    if not isinstance(evaluations, Mapping) or not evaluations:
        raise TypeError("evaluations must be a non-empty mapping {label: Evaluation}")
    parts = {}
    for label, ev in evaluations.items():
        if not hasattr(ev, "energy") or not hasattr(ev, "batch"):
            raise TypeError(f"evaluations[{label!r}] must be an Evaluation from "
                            f"mini_accel.design.evaluate, got {type(ev).__name__}")
        parts[str(label)] = {k: v * 1e-9 / ev.batch for k, v in ev.energy.by_level().items()}
    levels = [lv for lv in LEVEL_ORDER if any(lv in p for p in parts.values())]
    if xmax_mj is not None and (isinstance(xmax_mj, bool) or not isinstance(xmax_mj, (int, float))
                                or not math.isfinite(xmax_mj) or xmax_mj <= 0):
        raise ValueError(f"xmax_mj must be a positive number of mJ, got {xmax_mj!r}")
    ax = _new_axes(ax, figsize=(7.5, 2.8))
    names = list(parts)
    y = np.arange(len(names))
    left = np.zeros(len(names))
    colors = _pyplot().get_cmap("tab10")
    for i, level in enumerate(levels):
        vals = np.array([parts[n].get(level, 0.0) for n in names])
        ax.barh(y, vals, left=left, color=colors(i % 10), label=level, height=0.6)
        left += vals
    xmax = float(xmax_mj) if xmax_mj is not None else 1.15 * float(left.max())
    for i, total in enumerate(left):
        if total > xmax:
            ax.annotate(f"{total:,.3g} mJ \u2192", (xmax, i), ha="right", va="center", fontsize=8,
                        color="white", fontweight="bold")
        else:
            ax.text(total, i, f" {total:,.3g} mJ", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_ylim(len(names) - 0.5, -0.5)           # first label on top, like a table
    ax.set_xlim(0, xmax)
    ax.set_xlabel("energy per inference (mJ)")
    ax.legend(fontsize=8, ncols=len(levels), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False, title=title, title_fontsize=9)
    return ax


class DesignExplorer(_Explorer):
    """Controls for every free parameter of a design; energy bars against the reference.

    The controls start at the reference of the selected track and span
    :data:`mini_accel.design.DESIGN_GRID`. Each change evaluates the design
    on the track's workload (:func:`~mini_accel.design.reference_workload`),
    prints the budget check and the figure of merit against ``targets``
    (``{track: (score key, ratio)}``), and redraws the bars on a fixed x range
    per track (``xmax_factor`` x the reference's energy per inference).
    """

    figsize = (7.5, 2.8)
    _FIELDS = ("rows", "cols", "dataflow", "precision", "input_buffer_bytes", "weight_buffer_bytes",
               "output_buffer_bytes", "double_buffer")

    def __init__(self, targets=None, xmax_factor: float = 2.0):
        super().__init__()
        from . import design as ds
        w = _widgets()
        self.ds, self.targets, self.xmax_factor = ds, dict(targets or {}), float(xmax_factor)
        self.references = {t: ds.evaluate(ds.reference_design(t), *ds.reference_workload(t))
                           for t in ("edge", "server")}
        grid = ds.DESIGN_GRID
        kib = lambda values: [(f"{v // 1024:,}", v) for v in values]   # noqa: E731
        self.track = w.ToggleButtons(options=["edge", "server"], description="track")
        self.controls = {
            "rows": w.SelectionSlider(options=list(grid["rows"]), description="rows"),
            "cols": w.SelectionSlider(options=list(grid["cols"]), description="cols"),
            "dataflow": w.Dropdown(options=list(grid["dataflow"]), description="dataflow"),
            "precision": w.Dropdown(options=list(grid["precision"]), description="precision"),
            "input_buffer_bytes": w.SelectionSlider(options=kib(grid["input_buffer_bytes"]),
                                                    description="A KiB"),
            "weight_buffer_bytes": w.SelectionSlider(options=kib(grid["weight_buffer_bytes"]),
                                                     description="B KiB"),
            "output_buffer_bytes": w.SelectionSlider(options=kib(grid["output_buffer_bytes"]),
                                                     description="C KiB"),
            "double_buffer": w.Checkbox(description="double buffer"),
        }
        for ctl in self.controls.values():
            if hasattr(ctl, "continuous_update"):
                ctl.continuous_update = False
        self._switching = False
        self.text = w.HTML()
        self._reset("edge")
        self.track.observe(lambda change: self._reset(change["new"]), names="value")
        for ctl in self.controls.values():
            ctl.observe(lambda change: None if self._switching else self.update(), names="value")
        c = self.controls
        self.widget = w.VBox([self.track, w.HBox([c["rows"], c["cols"], c["dataflow"], c["precision"]]),
                              w.HBox([c["input_buffer_bytes"], c["weight_buffer_bytes"],
                                      c["output_buffer_bytes"], c["double_buffer"]]),
                              self.text, self.out])

    def _reset(self, track):
        """Set the controls to the track's reference (the nearest grid value) and redraw."""
        ref = self.ds.reference_design(track)
        self._switching = True          # one redraw for the new track, not one per control
        try:
            for name, ctl in self.controls.items():
                value = getattr(ref, name)
                options = list(getattr(ctl, "options", ()))
                if options and isinstance(options[0], tuple) and value not in [o[1] for o in options]:
                    # a reference value off the grid (the TPU's 24 MiB) becomes an option of its own
                    ctl.options = sorted(options + [(f"{value // 1024:,}", value)], key=lambda o: o[1])
                ctl.value = value
        finally:
            self._switching = False
        self.update()

    def design(self):
        """The design the controls describe (the track's reference with them applied)."""
        fields = {name: ctl.value for name, ctl in self.controls.items()}
        return self.ds.reference_design(self.track.value).replace(name="explorer", **fields)

    def update(self, **changes):
        """Evaluate and redraw; ``changes`` set controls first (e.g. ``rows=64``)."""
        if changes:
            unknown = set(changes) - set(self.controls)
            if unknown:
                raise TypeError(f"unknown control(s) {sorted(unknown)}; use {list(self.controls)}")
            self._switching = True
            try:
                for name, value in changes.items():
                    self.controls[name].value = value
            finally:
                self._switching = False
        track = self.track.value
        ref = self.references[track]
        try:
            ev = self.ds.evaluate(self.design(), *self.ds.reference_workload(track))
        except ValueError as exc:          # e.g. an output buffer too small for double buffering
            self.text.value = f"<b>not a valid design:</b> {exc}"
            self.evaluation = None
            return self.ax
        self.evaluation = ev
        report = self.ds.check_constraints(ev, self.ds.reference_budget(track))
        lines = [f"{'ok' if c.ok else '<b>FAIL</b>'} {c.constraint}: {c.value:.4g} {c.unit} "
                 f"(limit {c.limit:.4g})" for c in report.checks]
        if track in self.targets:
            key, target = self.targets[track]
            gain = self.ds.score(ev, ref)[key]
            mark = "meets" if gain >= target and report.ok else "misses"
            lines.append(f"{key} = {gain:.2f} ({mark} the target {target:g})")
        self.text.value = "<br>".join(lines)
        xmax = self.xmax_factor * ref.energy_per_inference_j * 1e3
        return self._show(lambda ax: plot_design_comparison({"reference": ref, "yours": ev}, ax=ax,
                                                            xmax_mj=xmax,
                                                            title=f"{track} track: {ev.workload}"))


def design_explorer_widget(targets=None, **kwargs) -> DesignExplorer:
    """The Lab 9 design explorer: track, array, dataflow, precision, buffers."""
    return DesignExplorer(targets, **kwargs)
