"""Energy figures (Labs 3, 4 and 9, reading 1) and the Lab 9 design explorer, in the style of :mod:`mini_accel.viz`.

* :func:`plot_energy_breakdown` - any ``{label: pJ}`` mapping (or a mapping of them)
* :func:`plot_energy_report` - an :class:`~mini_accel.energy.EnergyReport` by level or operation
  (what ``EnergyReport.plot`` draws)
* :func:`plot_design_comparison` - energy per inference by level of designs, fixed axes
* :func:`design_explorer_widget` - every free parameter of a design, bars against the reference

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> ax = plot_energy_breakdown({"DRAM": 640.0, "SRAM": 5.0, "MAC": 3.7})
>>> [t.get_text() for t in ax.get_yticklabels()]
['DRAM', 'SRAM', 'MAC']
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from ._checks import check_bool, check_number, check_option
from ._viz_common import _Explorer, _new_axes, _pyplot, _widgets

__all__ = [
    "plot_energy_breakdown",
    "plot_energy_report",
    "plot_design_comparison",
    "design_explorer_widget",
    "DesignExplorer",
]



# --------------------------------------------------------------------------- #
# Energy breakdown
# --------------------------------------------------------------------------- #
def _check_energy_values(mapping, where):
    out = {}
    for k, v in mapping.items():
        out[str(k)] = check_number(f"energy of {where}{k!r}", v, low=0)
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
    log = check_bool("log", log)
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
        xmax = check_number(f"xmax (in {unit})", xmax, low=0, closed="neither")
        ax.set_xlim(right=float(xmax)) if log else ax.set_xlim(0.0, float(xmax))
    ax.set_xlabel(f"energy ({unit})")
    if title:
        ax.set_title(title)
    return ax


def plot_energy_report(report, *, by: Literal["level", "operation"] = "level", ax=None, log: bool = False):
    """An :class:`~mini_accel.energy.EnergyReport` as :func:`plot_energy_breakdown` bars.

    ``by`` is ``"level"`` (DRAM, buffer, RF, MAC...) or ``"operation"``; the
    title gives the model and every level's share. ``EnergyReport.plot`` is
    this function.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from mini_accel.energy import EnergyModel
    >>> rep = EnergyModel({"mac": 0.5, "dram": 100.0}).report(events={"mac": 1000, "dram": 20})
    >>> ax = plot_energy_report(rep, by="operation")
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_xlabel()
    (['mac', 'dram'], 'energy (pJ)')
    """
    by = check_option("by", by, ("level", "operation"))
    if not (hasattr(report, "by_level") and hasattr(report, "by_operation") and hasattr(report, "unit")):
        raise TypeError(f"report must be a mini_accel.energy.EnergyReport, got {type(report).__name__}")
    data = report.by_level() if by == "level" else report.by_operation()
    if not data:
        raise ValueError("report has no energy to plot (it has no rows)")
    total = report.total or 1.0
    shares = ", ".join(f"{k} {v / total:.0%}" for k, v in list(data.items())[:4])
    model = f" ({report.model})" if getattr(report, "model", "") else ""
    return plot_energy_breakdown(data, ax=ax, unit=report.unit, log=log,
                                 title=f"Energy by {by}{model}: {shares}")


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
    if xmax_mj is not None:
        xmax_mj = check_number("xmax_mj", xmax_mj, low=0, closed="neither")
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
    """The Lab 9 design explorer: track, array, dataflow, precision, buffers.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ex = design_explorer_widget()
    >>> ax = ex.update(rows=64)
    >>> ex.design().rows, [t.get_text() for t in ax.get_yticklabels()]
    (64, ['reference', 'yours'])
    """
    return DesignExplorer(targets, **kwargs)
