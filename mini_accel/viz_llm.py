"""Figures and an explorer for serving LLMs (same lazy style as :mod:`mini_accel.viz`).

matplotlib and ipywidgets are imported inside the functions, so importing this
module keeps ``import mini_accel`` light.

* :func:`plot_decode_roofline` - decode steps (context, batch) on one chip's roofline
* :func:`plot_latency_throughput` - throughput against latency curves of the simulator
* :func:`decode_roofline_widget` - model, device, precision, batch and context controls

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from mini_accel.llm_serving import Deployment
>>> from mini_accel.viz_llm import plot_decode_roofline
>>> ax = plot_decode_roofline(Deployment("Llama-2-7B", "H100 SXM5"), [(1024, 1), (1024, 64)])
>>> len(ax.collections) >= 2
True
"""
from __future__ import annotations

from ._checks import check_instance
from .viz import _POW2, _Explorer, _new_axes, _widgets, plot_roofline

__all__ = ["plot_decode_roofline", "plot_latency_throughput", "DecodeRooflineExplorer",
           "decode_roofline_widget"]

_BATCHES = _POW2 + (4096,)
_CONTEXTS = (0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def plot_decode_roofline(deployment, points, *, ax=None, title=None):
    """One chip's roofline at the deployment's compute precision, with decode steps on it.

    ``points``: ``(context, batch)`` pairs. Returns the Axes (example: the module docstring).
    """
    from .llm_serving import Deployment
    from .roofline import Roofline
    check_instance("deployment", deployment, Deployment)
    roof = Roofline(deployment.device.name, deployment.peak_flops, deployment.bandwidth,
                    deployment.compute_precision)
    pts = []
    for i, point in enumerate(points):
        if not isinstance(point, (tuple, list)) or len(point) != 2:
            raise TypeError(f"points[{i}] must be a pair (context, batch), got {point!r}")
        context, batch = point
        step = deployment.decode(context, batch)
        pts.append((f"b={batch}, t={context}", step.intensity))
    ax = plot_roofline(roof, pts, ax=_new_axes(ax))
    ax.set_xlabel("FLOPs per DRAM byte of a decode step")
    ax.set_title(title or f"{deployment.model.name}, {deployment.weights} weights, {deployment.kv} KV")
    return ax


def plot_latency_throughput(curves, *, latency="tpot_p50_s", ax=None):
    """Throughput (x) against a latency (y) for each ``{label: sweep(...) points}`` curve.

    ``latency`` is a key of the points (``"tpot_p50_s"``, ``"ttft_p99_s"``, ...).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> pts = [{"max_batch": 1, "throughput_tokens_s": 100.0, "tpot_p50_s": 0.01},
    ...        {"max_batch": 8, "throughput_tokens_s": 700.0, "tpot_p50_s": 0.012}]
    >>> len(plot_latency_throughput({"H100": pts}).lines)
    1
    """
    if not hasattr(curves, "items"):
        raise TypeError(f"curves must be a dict {{label: sweep(...) points}}, got {type(curves).__name__}")
    for pts in curves.values():
        for p in pts:
            if latency not in p:
                raise ValueError(f"latency must be a key of the points, one of "
                                 f"{sorted(k for k in p if k.endswith('_s'))}, got {latency!r}")
    ax = _new_axes(ax)
    for label, pts in curves.items():
        xs = [p["throughput_tokens_s"] for p in pts]
        ys = [p[latency] * 1e3 for p in pts]
        ax.plot(xs, ys, marker="o", label=label)
        for p, x, y in zip(pts, xs, ys):
            ax.annotate(str(p["max_batch"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("throughput (generated tokens/s)")
    ax.set_ylabel(f"{latency.replace('_s', '').replace('_', ' ')} (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


class DecodeRooflineExplorer(_Explorer):
    """Move batch, context and precision; watch a decode step move on the roofline.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):      # the widget's clear codes, outside Jupyter
    ...     ex = DecodeRooflineExplorer(batch=64)
    >>> ex.deployment().weights, "TPOT" in ex.text.value
    ('fp16', True)
    """

    figsize = (6.6, 4.6)

    def __init__(self, model="Llama-2-7B", device="NVIDIA H100 SXM5 80GB", batch: int = 1, context: int = 1024):
        super().__init__()
        from .devices import load_devices
        from .llm import KV_PRECISIONS, WEIGHT_PRECISIONS, model_names
        w = _widgets()
        names = [d.name for d in load_devices()
                 if d.bandwidth and d.mem_gb and ({"fp16", "bf16"} & set(d.peaks))]
        self.model = w.Dropdown(options=model_names(), value=model, description="model")
        self.device = w.Dropdown(options=names, value=device, description="device")
        self.weights = w.Dropdown(options=list(WEIGHT_PRECISIONS), value="fp16", description="weights")
        self.kv = w.Dropdown(options=list(KV_PRECISIONS), value="fp16", description="KV cache")
        self.count = w.Dropdown(options=[1, 2, 4, 8], value=1, description="chips")
        self.batch = w.SelectionSlider(options=_BATCHES, value=int(batch), description="batch")
        self.context = w.SelectionSlider(options=_CONTEXTS, value=int(context), description="context")
        self.text = w.HTML()
        for ctl in (self.model, self.device, self.weights, self.kv, self.count, self.batch, self.context):
            ctl.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.model, self.device]), w.HBox([self.weights, self.kv, self.count]),
                              w.HBox([self.batch, self.context]), self.text, self.out])
        self.update()

    def deployment(self):
        from .llm_serving import Deployment
        return Deployment(self.model.value, self.device.value, weights=self.weights.value, kv=self.kv.value,
                          count=self.count.value)

    def update(self):
        """Redraw for the current controls; returns the Axes."""
        try:
            dep = self.deployment()
        except ValueError as exc:
            self.text.value = f"<b>{exc}</b>"
            return self.ax
        b, t = self.batch.value, self.context.value
        step = dep.decode(t, b)
        limit = dep.memory_bound_batch_limit(t)
        fits = dep.max_batch(t)
        self.text.value = (
            f"TPOT {step.time_s * 1e3:.2f} ms, {b / step.time_s:,.0f} tokens/s, {step.bound} bound; "
            f"compute bound from batch {limit if limit else 'never (KV reads grow with the batch)'}; "
            f"{'fits' if b <= fits else '<b>does not fit</b>'} (max batch {fits:,} at this context)")
        return self._show(lambda ax: plot_decode_roofline(dep, [(t, b)], ax=ax))


def decode_roofline_widget(**kwargs) -> DecodeRooflineExplorer:
    """The explorer above; keyword arguments set its starting point.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     ex = decode_roofline_widget(context=2048)
    >>> ex.context.value
    2048
    """
    return DecodeRooflineExplorer(**kwargs)
