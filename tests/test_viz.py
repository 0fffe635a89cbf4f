"""Figures (headless, Agg) and the widget callbacks, without a browser."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mini_accel import SystolicArray, systolic_cycles, viz  # noqa: E402
from mini_accel.devices import find_devices, get_device  # noqa: E402
from mini_accel.roofline import Roofline, network_intensity  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_importing_mini_accel_stays_light():
    code = (
        "import sys\n"
        "import mini_accel, mini_accel.nn, mini_accel.datasets, mini_accel.workloads\n"
        "import mini_accel.devices, mini_accel.roofline, mini_accel.edge_server, mini_accel.viz\n"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'IPython', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none"


# --------------------------------------------------------------------------- #
# Roofline
# --------------------------------------------------------------------------- #
def test_roofline_plot_draws_the_model():
    roof = Roofline("toy", 100e12, 1e12)
    fig, given = plt.subplots()
    ax = viz.plot_roofline(roof, [("decode", 2.0), {"label": "measured", "intensity": 500.0, "perf": 50e12}],
                           ax=given)
    assert ax is given
    line = ax.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert np.allclose(y, roof.attainable(x) / 1e12)          # y = min(peak, I * bw) in TOPS
    ridge = ax.get_lines()[1]
    assert ridge.get_xdata()[0] == 100.0 and ridge.get_ydata()[0] == 100.0
    assert len(ax.collections) == 2                              # the two points
    assert ax.collections[0].get_offsets()[0].tolist() == [2.0, 2.0]   # on the roof: 2 * 1 TB/s
    assert ax.collections[1].get_offsets()[0].tolist() == [500.0, 50.0]
    assert [t.get_text() for t in ax.texts] == ["decode", "measured"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    with pytest.raises(TypeError):
        viz.plot_roofline([])
    with pytest.raises(ValueError):
        viz.plot_roofline(roof, [("bad", -1.0)])


def test_tpu_paper_roofline_figure():
    ax = viz.plot_tpu_paper_rooflines()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3
    assert "ridge 1.35e+03" in labels[0] and "ridge 12.7" in labels[1] and "ridge 8.75" in labels[2]
    stars = np.vstack([c.get_offsets() for c in ax.collections])
    assert stars.shape == (6, 2)
    assert stars[0].tolist() == [200.0, 12.3]                    # MLP0: Table 1 x, Table 3 y
    assert "MACs per byte" in ax.get_xlabel()


# --------------------------------------------------------------------------- #
# Energy, utilization, quantization
# --------------------------------------------------------------------------- #
def test_energy_breakdown_single_and_stacked():
    energy = {"DRAM": 640.0, "SRAM": 5.0, "MAC": 3.7}
    ax = viz.plot_energy_breakdown(energy, title="32-bit load + multiply")
    assert [p.get_width() for p in ax.patches] == list(energy.values())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(energy)
    assert ax.get_title() == "32-bit load + multiply" and "pJ" in ax.get_xlabel()
    ax = viz.plot_energy_breakdown({"ws": {"DRAM": 10.0, "MAC": 2.0}, "os": {"MAC": 2.0, "RF": 1.0}})
    assert len(ax.patches) == 3 * 2                          # 3 labels x 2 reports (missing = 0)
    totals = [t.get_text().strip() for t in ax.texts]
    assert totals == ["12", "3"]
    for bad, exc in (({"x": -1.0}, ValueError), ({"x": float("nan")}, ValueError), ({}, TypeError),
                     ({"a": 1.0, "b": {"c": 1.0}}, TypeError), ([1, 2], TypeError)):
        with pytest.raises(exc):
            viz.plot_energy_breakdown(bad)


def test_utilization_heatmap_from_grid_and_from_trace():
    grid = viz.utilization_grid(64, 64, [8, 64], [1, 64])
    for i, s in enumerate([8, 64]):
        for j, b in enumerate([1, 64]):
            c = systolic_cycles(b, 64, 64, s, s)
            assert grid["cycles"][i, j] == c and grid["utilization"][i, j] == b * 64 * 64 / (s * s * c)
    ax = viz.plot_utilization_heatmap(grid)
    assert np.array_equal(ax.images[0].get_array(), grid["utilization"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["8x8", "64x64"]
    assert len(ax.texts) == 4
    tr = SystolicArray(3, 2, dataflow="os").trace(np.ones((4, 3), np.int8), np.ones((3, 5), np.int8))
    act = viz.pe_activity(tr)
    assert act.shape == (3, 2) and (act * tr.cycles).sum() == tr.result.macs
    ax = viz.plot_utilization_heatmap(tr)
    assert np.allclose(ax.images[0].get_array(), act)
    with pytest.raises(ValueError):
        viz.plot_utilization_heatmap(np.array([1.0, 2.0]))


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_pe_activity_counts_every_mac(dataflow):
    A = np.arange(15, dtype=np.int8).reshape(5, 3)
    B = np.arange(12, dtype=np.int8).reshape(3, 4)
    tr = SystolicArray(2, 3, dataflow=dataflow).trace(A, B)
    assert round((viz.pe_activity(tr) * tr.cycles).sum()) == 5 * 3 * 4


def test_quantization_histogram_shows_thresholds_and_clipped_fraction():
    x = np.concatenate([np.zeros(98), [5.0, -5.0]])          # 2% of the values beyond +-4
    ax = viz.plot_quantization_histogram(x, {"minmax": 5.0, "tight": (-4.0, 4.0)}, bins=20)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("minmax (-5, 5; clips 0.00%")
    assert labels[1].startswith("tight (-4, 4; clips 2.00%")
    vlines = [line.get_xdata()[0] for line in ax.get_lines()]
    assert vlines == [-5.0, 5.0, -4.0, 4.0]
    assert sum(p.get_height() for p in ax.patches) == 100    # every value is in a bar
    ax = viz.plot_quantization_histogram(x, 3.0)
    assert len(ax.get_lines()) == 2
    for bad in ((np.array([np.nan]), None), (x, {"bad": (2.0, 1.0)}), (x, -1.0), (np.array([]), None)):
        with pytest.raises(ValueError):
            viz.plot_quantization_histogram(*bad)


# --------------------------------------------------------------------------- #
# Devices
# --------------------------------------------------------------------------- #
def test_device_landscape_plots_every_device_with_numbers():
    ax = viz.plot_device_landscape(precision="int8")
    expected = [d.name for d in find_devices(precision="int8", has_power=True)]
    assert ax.plotted_devices == expected
    points = np.vstack([c.get_offsets() for c in ax.collections])
    assert points.shape == (len(expected), 2)
    tpu = get_device("Google TPU v1")
    k = expected.index(tpu.name)
    assert points[k].tolist() == [75.0, 92_000.0]            # 75 W, 92 TOPS = 92,000 GOP/s
    assert "Apple M4 Neural Engine" in ax.skipped_devices     # precision not stated
    assert ax.get_xscale() == ax.get_yscale() == "log"
    ax = viz.plot_device_landscape()                          # each at its own best precision
    assert {"cpu", "gpu", "asic", "fpga"} == {get_device(n).arch for n in ax.plotted_devices}
    with pytest.raises(ValueError, match="no device"):
        viz.plot_device_landscape([get_device("A11")])


# --------------------------------------------------------------------------- #
# Systolic frames and sweeps
# --------------------------------------------------------------------------- #
def test_draw_systolic_frame():
    A = np.arange(6, dtype=np.int8).reshape(2, 3)
    B = np.arange(9, dtype=np.int8).reshape(3, 3)
    tr = SystolicArray(3, 3).trace(A, B)
    for t in range(tr.cycles):
        ax = viz.draw_systolic_frame(tr, t)
        frame = tr.frame(t)
        assert ax.get_title().startswith(f"cycle {t} of {tr.cycles - 1} | phase: {frame['phase']}")
        assert len(ax.texts) == 9
        plt.close(ax.figure)
    # a PE's text shows its three registers
    t = next(t for t in range(tr.cycles) if not np.isnan(tr.frame(t)["psum"][0, 0]))
    ax = viz.draw_systolic_frame(tr, t)
    f = tr.frame(t)
    assert ax.texts[0].get_text() == f"a {f['a'][0, 0]:.0f}\nb {f['b'][0, 0]:.0f}\nΣ {f['psum'][0, 0]:.0f}"
    with pytest.raises(ValueError):
        viz.draw_systolic_frame(tr, tr.cycles)


def test_array_sweep_matches_closed_form():
    s = viz.array_sweep(100, 300, 200, sizes=(8, 32, 128), dataflow="os")
    for size, c, u in zip(s["sizes"], s["cycles"], s["utilization"]):
        assert c == systolic_cycles(100, 300, 200, size, size, "os")
        assert u == pytest.approx(100 * 300 * 200 / (size * size * c))
    ax = viz.plot_array_sweep(s, highlight=32)
    assert list(ax.get_lines()[0].get_ydata()) == s["utilization"]
    assert list(ax.twin.get_lines()[0].get_ydata()) == s["cycles"]


# --------------------------------------------------------------------------- #
# Widgets: the callbacks, called directly and through the controls
# --------------------------------------------------------------------------- #
def test_wavefront_widget():
    tr = SystolicArray(4, 4).trace(np.ones((3, 4), np.int8), np.ones((4, 4), np.int8))
    ex = viz.systolic_wavefront_widget(tr)
    assert ex.slider.max == ex.play.max == tr.cycles - 1
    assert ex.ax.get_title().startswith("cycle 0 ")
    ex.slider.value = 6                                   # what the Play button does each tick
    assert ex.cycle == 6 and ex.ax.get_title().startswith("cycle 6 ")
    ax = ex.update(2)
    assert ax is ex.ax and ex.cycle == 2
    built = viz.systolic_wavefront_widget(A=np.ones((2, 2), np.int8), B=np.ones((2, 2), np.int8),
                                          rows=2, cols=2, dataflow="os")
    assert built.trace.result.dataflow == "os"
    with pytest.raises(TypeError):
        viz.systolic_wavefront_widget()


def test_array_sweep_widget():
    ex = viz.array_sweep_widget(K=512, N=512)
    ex.size.value = 128
    ex.batch.value = 64
    c = systolic_cycles(64, 512, 512, 128, 128, "ws")
    assert f"{c:,} cycles" in ex.text.value
    ex.dataflow.value = "os"
    assert f"{systolic_cycles(64, 512, 512, 128, 128, 'os'):,} cycles" in ex.text.value
    ax = ex.update(size=32, batch=1, dataflow="is")
    assert ex.sweep["dataflow"] == "is" and ax is ex.ax


def test_roofline_widget():
    ex = viz.roofline_widget(workloads=("resnet50", "gpt2_small_decode"))
    ex.device.value = "NVIDIA A100 SXM4 80GB"
    assert list(ex.precision.options) == list(get_device("A100").precisions)
    assert ex.roofline.peak == get_device("A100").peak(ex.precision.value)
    ex.precision.value = "bf16"
    assert ex.roofline.precision == "bf16"
    ex.batch.value = 16
    pts = dict(ex.points())
    assert pts["gpt2_small_decode"] == pytest.approx(
        network_intensity("gpt2_small_decode", batch=16, weights_only=True))
    assert ex.ax.get_title() == "batch 16"
    ex.weights_only.value = False
    assert dict(ex.points())["resnet50"] == pytest.approx(network_intensity("resnet50", batch=16))
