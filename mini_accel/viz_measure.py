"""Figures for measured machines and cloud costs (matplotlib imported lazily).

* :func:`plot_measured_roofline`: this machine's measured roofline beside
  catalog devices, with measured workload points (filled) and the roof's
  prediction for them (hollow), joined by a line.
* :func:`plot_gemm_sweep`: GEMM rate against matrix size per dtype and
  thread count, the spread of the repeats as error bars.
* :func:`plot_cloud_costs`: USD per million inferences per instance for one
  or more services (log scale), instances without a cost listed under the
  axes.
"""
from __future__ import annotations

import numpy as np

from .viz import _new_axes

__all__ = ["plot_measured_roofline", "plot_gemm_sweep", "plot_cloud_costs"]


def plot_measured_roofline(measured, catalog=(), rows=(), *, ax=None, title=None):
    """The measured roofline (thick) beside catalog rooflines (thin), workload points on it.

    ``measured`` is a :class:`~mini_accel.roofline.Roofline` (e.g.
    ``report.roofline("float32")``); ``catalog`` more rooflines; ``rows``
    the output of :func:`mini_accel.measure.measure_workloads`.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from mini_accel.roofline import Roofline
    >>> ax = plot_measured_roofline(Roofline("laptop", 1e11, 2e10),
    ...                             rows=[{"name": "fc", "intensity": 0.5, "measured_ops": 6e9}])
    >>> len(ax.get_lines()) >= 2
    True
    """
    from .roofline import Roofline
    if not isinstance(measured, Roofline):
        raise TypeError(f"measured must be a Roofline, got {type(measured).__name__}")
    catalog = list(catalog)
    ax = _new_axes(ax, figsize=(8.0, 5.0))
    xs = [r.ridge for r in [measured, *catalog]] + [r["intensity"] for r in rows]
    grid = np.geomspace(min(xs) / 20, max(xs) * 20, 256)
    for r in catalog:
        ax.plot(grid, r.attainable(grid) / 1e12, linewidth=1.0, alpha=0.7,
                label=f"{r.name.split(' (')[0]} {r.precision} (ridge {r.ridge:,.0f})")
    ax.plot(grid, measured.attainable(grid) / 1e12, color="black", linewidth=2.5,
            label=f"{measured.name} (ridge {measured.ridge:,.1f})")
    for k, r in enumerate(rows):
        pred = measured.attainable(r["intensity"]) / 1e12
        got = r["measured_ops"] / 1e12
        (pt,) = ax.plot([r["intensity"]], [got], "o", markersize=6, zorder=4)
        ax.plot([r["intensity"]], [pred], "o", markersize=8, markerfacecolor="none",
                color=pt.get_color(), zorder=4)
        ax.plot([r["intensity"]] * 2, [got, pred], color=pt.get_color(), linewidth=0.8)
        ax.annotate(r["name"], (r["intensity"], got), textcoords="offset points",
                    xytext=(5, -10 - 9 * (k % 3)), fontsize=7, color=pt.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (ops per byte)")
    ax.set_ylabel("TOPS (1 MAC = 2 ops)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "This machine, measured, beside the catalog (filled: measured; hollow: roof)",
                 fontsize=10)
    return ax


def plot_gemm_sweep(samples, *, ax=None):
    """GFLOP/s against n for every (dtype, threads) of :func:`mini_accel.measure.gemm_sweep`.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_gemm_sweep([{"dtype": "float64", "threads": 1, "n": 64, "seconds": [1e-4, 2e-4]}])
    >>> ax.get_xscale()
    'log'
    """
    from .measure import gemm_ops
    ax = _new_axes(ax, figsize=(6.4, 4.0))
    groups: dict = {}
    for s in samples:
        groups.setdefault((s["dtype"], s["threads"]), []).append(s)
    for (dtype, threads), rows in sorted(groups.items()):
        n = np.array([r["n"] for r in rows])
        t = [np.asarray(r["seconds"]) for r in rows]
        ops = np.array([gemm_ops(int(k), dtype) for k in n])
        med = np.array([np.median(x) for x in t])
        lo = ops / np.array([np.percentile(x, 75) for x in t])
        hi = ops / np.array([np.percentile(x, 25) for x in t])
        y = ops / med / 1e9
        ax.errorbar(n, y, yerr=[y - lo / 1e9, hi / 1e9 - y], marker="o", capsize=3,
                    label=f"{dtype}, {threads} thread{'s' if threads > 1 else ''}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("matrix size n (n x n times n x n)")
    ax.set_ylabel("GFLOP/s (median; bars: quartiles)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("GEMM throughput of this machine", fontsize=10)
    return ax


def plot_cloud_costs(services: dict, *, ax=None):
    """Grouped horizontal bars: USD per million per instance, one colour per service.

    ``services`` maps a service name to rows of
    :func:`mini_accel.cloud.compare_instances`. Instances whose rows carry an
    ``error`` for every service are listed in a note under the axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_cloud_costs({"s": [{"instance": "a", "usd_per_million": 0.1},
    ...                              {"instance": "b", "error": "no price"}]})
    >>> ax.skipped_instances
    ['b']
    """
    ax = _new_axes(ax, figsize=(8.0, 4.0))
    names = []
    for rows in services.values():
        for r in rows:
            if "error" not in r and r["instance"] not in names:
                names.append(r["instance"])
    skipped = sorted({r["instance"] for rows in services.values() for r in rows} - set(names))
    height = 0.8 / max(1, len(services))
    for k, (service, rows) in enumerate(services.items()):
        cost = {r["instance"]: r["usd_per_million"] for r in rows if "error" not in r}
        ys = [i + k * height for i, n in enumerate(names) if n in cost]
        ax.barh(ys, [cost[n] for n in names if n in cost], height=height, label=service)
    ax.set_yticks([i + height * (len(services) - 1) / 2 for i in range(len(names))], names, fontsize=8)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("USD per million inferences (tokens for decoding); log scale")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if skipped:
        import textwrap
        note = textwrap.fill("no cost (no sourced price or no catalog device): " + ", ".join(skipped), 120)
        ax.text(0.0, -0.2, note, transform=ax.transAxes, fontsize=7, va="top")
    ax.skipped_instances = skipped
    return ax
