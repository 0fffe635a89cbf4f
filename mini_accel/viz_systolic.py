"""Figures and explorers of the systolic array (Lab 2, readings 2-3), in the style of :mod:`mini_accel.viz`.

* :func:`plot_utilization_heatmap` with :func:`utilization_grid` and :func:`pe_activity`
* :func:`draw_systolic_frame` - one cycle of a :class:`~mini_accel.SystolicTrace`
* :func:`plot_array_sweep` with :func:`array_sweep`
* :func:`systolic_wavefront_widget`, :func:`array_sweep_widget` (ipywidgets)

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> sweep = array_sweep(64, 64, 64, sizes=(8, 64))
>>> plot_array_sweep(sweep).get_xscale()
'log'
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from ._checks import check_array, check_int
from ._viz_common import _POW2, _Explorer, _new_axes, _widgets

Dataflow = Literal["ws", "os", "is"]

__all__ = [
    "utilization_grid",
    "pe_activity",
    "plot_utilization_heatmap",
    "draw_systolic_frame",
    "array_sweep",
    "plot_array_sweep",
    "systolic_wavefront_widget",
    "array_sweep_widget",
    "WavefrontExplorer",
    "ArraySweepExplorer",
]


# --------------------------------------------------------------------------- #
# Systolic utilization
# --------------------------------------------------------------------------- #
def _int_list(name: str, values, *, max_len: int = 4096) -> list:
    """A non-empty list of ints >= 1 (array sizes, batches), at most ``max_len`` of them."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a list of ints such as (8, 16, 32), got {type(values).__name__}")
    if not 1 <= len(values) <= max_len:
        raise ValueError(f"{name} must hold 1 to {max_len} values, got {len(values)}")
    return [check_int(f"{name}[{i}]", v, low=1) for i, v in enumerate(values)]


def utilization_grid(K: int, N: int, sizes, batches, *, dataflow: Dataflow = "ws",
                     double_buffer: bool = False) -> dict:
    """Closed-form utilization of a ``(batch, K) @ (K, N)`` GEMM on square arrays.

    Returns ``{"sizes", "batches", "utilization", "cycles"}`` with 2-D
    arrays indexed ``[size, batch]``; utilization = MACs / (size^2 x cycles).

    >>> g = utilization_grid(256, 256, sizes=[16, 256], batches=[1, 256])
    >>> g["utilization"].round(3).tolist()     # 256x256 at batch 256: 256^3 / (256^2 * 1022 cycles)
    [[0.021, 0.848], [0.001, 0.25]]
    """
    from .systolic import systolic_cycles
    K, N = check_int("K", K, low=1), check_int("N", N, low=1)
    sizes = _int_list("sizes", sizes)
    batches = _int_list("batches", batches)
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

    >>> import numpy as np
    >>> from mini_accel import SystolicArray
    >>> tr = SystolicArray(2, 2).trace(np.ones((3, 2), np.int8), np.ones((2, 2), np.int8))
    >>> float(pe_activity(tr).sum() * tr.cycles)       # = the GEMM's 3 * 2 * 2 MACs
    12.0
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
        grid = data
    grid = check_array("data", grid, ndim=2, allow_empty=False)
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
                dataflow: Dataflow = "ws", double_buffer: bool = False) -> dict:
    """Cycles, folds and utilization of one GEMM on square arrays of several sizes.

    >>> s = array_sweep(256, 256, 256, sizes=(16, 256))
    >>> s["folds"], [round(u, 3) for u in s["utilization"]]   # 256 folds x 302 cycles; 1 x 1022
    ([256, 1], [0.848, 0.25])
    """
    from .systolic import systolic_cycles, systolic_folds
    M, K, N = check_int("M", M, low=1), check_int("K", K, low=1), check_int("N", N, low=1)
    sizes = _int_list("sizes", sizes)
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



class WavefrontExplorer(_Explorer):
    """Play button and cycle slider over a :class:`~mini_accel.SystolicTrace` (see
    :func:`systolic_wavefront_widget`, which builds one: ``ex.update(t)`` draws cycle ``t``)."""

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
                              dataflow: Dataflow = "ws", interval_ms: int = 600) -> WavefrontExplorer:
    """The wavefront animation: a Play button linked to a cycle slider.

    Give a :class:`~mini_accel.SystolicTrace`, or matrices ``A`` and ``B``
    and an array shape (the trace is recorded here). Display the returned
    explorer (or its ``.widget``) in a notebook.

    >>> import numpy as np, matplotlib; matplotlib.use("Agg")
    >>> ex = systolic_wavefront_widget(A=np.ones((2, 2), np.int8), B=np.ones((2, 2), np.int8), rows=2, cols=2)
    >>> ex.update(3).get_title()
    'cycle 3 of 5 | phase: stream | fold 0'
    """
    if trace is None:
        if A is None or B is None:
            raise TypeError("give a trace, or both A and B")
        from .systolic import SystolicArray
        trace = SystolicArray(rows, cols, dataflow=dataflow).trace(A, B)
    elif not hasattr(trace, "frame"):
        raise TypeError(f"trace must be a SystolicTrace, got {type(trace).__name__}")
    return WavefrontExplorer(trace, interval_ms)




class ArraySweepExplorer(_Explorer):
    """Sliders for array size and batch over a layer of shape (batch, K) @ (K, N) (see
    :func:`array_sweep_widget`, which builds one)."""

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

    def update(self, size: int | None = None, batch: int | None = None, dataflow: Dataflow | None = None):
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
    """Explore utilization against array size and batch for a (batch, K) @ (K, N) layer.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ex = array_sweep_widget(64, 64, sizes=(8, 16), batches=(1, 4))
    >>> ex.update(size=8, batch=4).get_xscale()
    'log'
    """
    return ArraySweepExplorer(K, N, **kwargs)
