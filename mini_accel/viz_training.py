"""Figures and an explorer for training (Lab 8, reading 11), in the style of :mod:`mini_accel.viz`.

matplotlib and ipywidgets are imported inside the functions (through
:mod:`mini_accel.viz`'s helpers), so importing this module stays light.
Every plotting function takes ``ax=None`` and returns the Axes it drew on.

* :func:`plot_training_curves` - loss or accuracy per epoch of several
  :class:`~mini_accel.training.TrainingRun` (one per number format)
* :func:`plot_memory_per_chip` - bytes per chip by ZeRO stage, stacked by kind
* :func:`zero_widget` - sliders for model size, chips and optimizer

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> ax = plot_memory_per_chip(7.5e9, 64, "adam")
>>> [t.get_text() for t in ax.get_xticklabels()]
['stage 0', 'stage 1', 'stage 2', 'stage 3']
"""
from __future__ import annotations

from ._checks import positive_int, positive_number
from .training_memory import MAX_CHIPS, Optimizer, bytes_per_param
from .viz import _Explorer, _new_axes, _widgets

__all__ = ["plot_training_curves", "memory_per_chip", "plot_memory_per_chip", "zero_widget", "ZeroExplorer"]


def plot_training_curves(runs, metric: str = "loss", *, ax=None, title: str | None = None):
    """One line per run: ``metric`` (a key of ``run.history``) against the epoch.

    ``runs`` maps a label to a :class:`~mini_accel.training.TrainingRun` (or to
    a list of values).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> len(plot_training_curves({"a": [1.0, 0.5], "b": [1.0, 0.8]}).lines)
    2
    """
    if not hasattr(runs, "items") or not runs:
        raise TypeError("runs must be a non-empty dict {label: TrainingRun or list of values}")
    ax = _new_axes(ax)
    for label, run in runs.items():
        if hasattr(run, "history") and metric not in run.history:
            raise ValueError(f"metric must be one of {sorted(run.history)} (the run's history), got {metric!r}")
        values = run.history[metric] if hasattr(run, "history") else list(run)
        ax.plot(range(1, len(values) + 1), values, marker="o", label=str(label))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    if metric == "loss":
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or metric.replace("_", " "))
    return ax


def memory_per_chip(n_params, n_chips, optimizer: Optimizer = "adam", activation_bytes: float = 0.0) -> dict:
    """Bytes per chip of each kind of state at each ZeRO stage (mixed precision).

    >>> m = memory_per_chip(7.5e9, 64)
    >>> round(sum(m[3].values()) / 1e9, 3)
    1.875
    """
    b = bytes_per_param(optimizer)
    P, n = positive_number("n_params", n_params), positive_int("n_chips", n_chips, high=MAX_CHIPS)
    activation_bytes = positive_number("activation_bytes", activation_bytes, allow_zero=True)
    opt = b["master_weights"] + b["optimizer_state"]
    out = {}
    for stage in range(4):
        out[stage] = {"weights": b["weights"] * P / (n if stage >= 3 else 1),
                      "gradients": b["gradients"] * P / (n if stage >= 2 else 1),
                      "optimizer state": opt * P / (n if stage >= 1 else 1),
                      "activations": float(activation_bytes)}
    return out


def plot_memory_per_chip(n_params, n_chips, optimizer: Optimizer = "adam", activation_bytes: float = 0.0, *,
                         chip_memory_bytes: float | None = None, ax=None):
    """Stacked bars of bytes per chip (GB) for ZeRO stages 0-3, and the chip's memory as a line.

    Example: the module docstring.
    """
    data = memory_per_chip(n_params, n_chips, optimizer, activation_bytes)
    ax = _new_axes(ax)
    bottoms = [0.0] * 4
    for kind in ("weights", "gradients", "optimizer state", "activations"):
        heights = [data[s][kind] / 1e9 for s in range(4)]
        ax.bar(range(4), heights, bottom=bottoms, label=kind)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    if chip_memory_bytes:
        ax.axhline(chip_memory_bytes / 1e9, color="k", linestyle=":", label="chip memory")
    ax.set_xticks(range(4), [f"stage {s}" for s in range(4)])
    ax.set_ylabel("GB per chip")
    ax.set_title(f"{n_params / 1e9:.3g}B parameters, {optimizer}, {n_chips} chips")
    ax.legend(fontsize=8)
    return ax


class ZeroExplorer(_Explorer):
    """Sliders: model size (log10 parameters), chips (log2) and optimizer.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):      # the widget's clear codes, outside Jupyter
    ...     ex = ZeroExplorer()
    >>> ex.optimizer.value
    'adam'
    """

    figsize = (6.4, 4.2)

    def __init__(self, chip_memory_bytes: float = 80e9):
        super().__init__()
        w = _widgets()
        self.chip_memory_bytes = float(chip_memory_bytes)
        self.log_params = w.FloatSlider(value=9.875, min=8.0, max=12.0, step=0.125, description="log10 params")
        self.log_chips = w.IntSlider(value=6, min=0, max=12, description="log2 chips")
        self.optimizer = w.Dropdown(options=["sgd", "momentum", "adam"], value="adam", description="optimizer")
        for ctl in (self.log_params, self.log_chips, self.optimizer):
            ctl.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.log_params, self.log_chips, self.optimizer]), self.out])
        self.update()

    def update(self):
        """Redraw for the current slider values; returns the Axes."""
        P, n = 10 ** self.log_params.value, 2 ** self.log_chips.value
        return self._show(lambda ax: plot_memory_per_chip(P, n, self.optimizer.value,
                                                          chip_memory_bytes=self.chip_memory_bytes, ax=ax))


def zero_widget(chip_memory_bytes: float = 80e9) -> ZeroExplorer:
    """Explore ZeRO's bytes per chip against model size, chips and optimizer.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     ex = zero_widget(40e9)
    >>> ex.chip_memory_bytes
    40000000000.0
    """
    return ZeroExplorer(chip_memory_bytes)
