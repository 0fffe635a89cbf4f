"""mini_accel.viz_llm: the decode roofline, the throughput/latency curves and the explorer draw what they say."""
from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from mini_accel import viz_llm  # noqa: E402
from mini_accel.llm_serving import Deployment  # noqa: E402
from mini_accel.llm_sim import make_requests, sweep  # noqa: E402


def test_decode_points_sit_at_their_intensity():
    dep = Deployment("Llama-2-7B", "A100 SXM4")
    ax = viz_llm.plot_decode_roofline(dep, [(0, 1), (0, 64)])
    xs = sorted(float(x) for coll in ax.collections for x, _ in coll.get_offsets())
    assert xs[0] == pytest.approx(dep.decode(0, 1).intensity) and xs[-1] == pytest.approx(dep.decode(0, 64).intensity)


def test_latency_throughput_curves():
    pts = sweep(Deployment("Llama-2-7B", "H100 SXM5"), make_requests(60, 20.0, seed=0), (1, 16))
    ax = viz_llm.plot_latency_throughput({"continuous": pts})
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [p["throughput_tokens_s"] for p in pts]
    assert list(line.get_ydata()) == [p["tpot_p50_s"] * 1e3 for p in pts]


def test_explorer_reports_fit_and_bound():
    ex = viz_llm.decode_roofline_widget(model="Llama-2-70B", context=1024)
    assert "does not fit" in ex.text.value                      # 138 GB of weights on one H100
    ex.count.value = 2
    assert "does not fit" not in ex.text.value and "memory bound" in ex.text.value
    ex.weights.value = "int4"
    assert ex.ax is not None
