"""Shared plumbing of the viz modules (private): lazy matplotlib/ipywidgets and the explorer base.

matplotlib and ipywidgets are imported inside these functions only, so that
importing :mod:`mini_accel` (and any viz module) stays light.

>>> _POW2[:4]
(1, 2, 4, 8)
"""
from __future__ import annotations

import importlib

__all__: list = []

#: Powers of two offered by the batch and size sliders.
_POW2 = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _optional(module: str, needed_by: str):
    """Import ``module`` now (matplotlib and ipywidgets load only when a figure is drawn)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{needed_by} {module.split('.')[0]}; install the course extras: "
                          "pip install -e '.[labs]'") from exc


def _pyplot():
    return _optional("matplotlib.pyplot", "mini_accel.viz needs")


def _widgets():
    return _optional("ipywidgets", "the explorers need")


def _new_axes(ax, figsize=(6.4, 4.4)):
    if ax is not None:
        return ax
    fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax



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
        if _in_ipython():              # outside a kernel (tests, scripts) there is nowhere to show it
            from IPython.display import display
            with self.out:
                self.out.clear_output(wait=True)
                display(fig)
        plt.close(fig)
        return ax

    def _ipython_display_(self):  # shows the widget when the explorer is the cell's last value
        from IPython.display import display
        display(self.widget)
