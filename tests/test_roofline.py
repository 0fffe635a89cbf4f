"""Roofline model, intensities, and the TPU v1 paper's rooflines."""
import numpy as np
import pytest

from mini_accel.nn import Dense, ReLU, Sequential
from mini_accel.roofline import (
    TPU_PAPER_RIDGE_POINTS,
    Roofline,
    attainable,
    gemm_intensity,
    layer_intensity,
    model_intensity,
    network_intensity,
    ridge_point,
    tpu_paper_points,
    tpu_paper_ridge_points,
    tpu_paper_rooflines,
)
from mini_accel.workloads import gpt2_small_decode, resnet50, tpu_v1_apps


def test_attainable_is_the_min_of_the_two_roofs():
    I = np.array([0.5, 10.0, 100.0, 1e4])
    assert attainable(I, peak=1000.0, bandwidth=10.0).tolist() == [5.0, 100.0, 1000.0, 1000.0]
    assert attainable(3.0, 1000.0, 10.0) == 30.0
    for bad in (dict(intensity=-1.0, peak=1.0, bandwidth=1.0), dict(intensity=1.0, peak=0.0, bandwidth=1.0),
                dict(intensity=np.nan, peak=1.0, bandwidth=1.0)):
        with pytest.raises(ValueError):
            attainable(**bad)
    with pytest.raises(TypeError):
        attainable(1.0, "fast", 1.0)


def test_roofline_object():
    r = Roofline("toy", peak=100e12, bandwidth=1e12)
    assert r.ridge == 100.0 == ridge_point(100e12, 1e12)
    assert r.bound(99.0) == "memory" and r.bound(100.0) == "compute"
    # 1e12 ops and 1e10 bytes: compute 10 ms, memory 10 ms; 2e10 bytes: memory bound 20 ms
    assert r.time(1e12, 1e10) == pytest.approx(0.01) and r.time(1e12, 2e10) == pytest.approx(0.02)
    assert r.with_bandwidth(2e12).ridge == 50.0
    with pytest.raises(ValueError):
        Roofline("bad", peak=-1, bandwidth=1)


def test_gemm_intensity_by_hand():
    # square 1024 GEMM in fp16: 2 * 1024^3 ops over 3 * 1024^2 * 2 bytes = 1024/3
    assert gemm_intensity(1024, 1024, 1024, 2) == pytest.approx(1024 / 3)
    # weights only: 2*M*K*N / (K*N) = 2M
    assert gemm_intensity(64, 512, 512, weights_only=True) == 128.0
    # int8 inputs, int32 outputs: 2*4*8*2 / (4*8 + 8*2 + 4*2*4) = 128 / 80
    assert gemm_intensity(4, 8, 2, 1, out_bytes_per_element=4) == pytest.approx(128 / 80)
    with pytest.raises(ValueError):
        gemm_intensity(0, 8, 8)


def test_layer_and_network_intensity():
    net = resnet50()
    conv = net.layer("layer1.0.conv2")     # 3x3, 64 -> 64 on 56x56
    macs = 56 * 56 * 9 * 64 * 64
    moved = 64 * 64 * 9 + 2 * 64 * 56 * 56
    assert layer_intensity(conv) == pytest.approx(2 * macs / moved)
    assert layer_intensity(conv, weights_only=True) == pytest.approx(2 * macs / (64 * 64 * 9))
    with pytest.raises(ValueError, match="no GEMM"):
        layer_intensity(net.layer("bn1"))
    # with only weights moving, intensity is proportional to the batch
    one = network_intensity("gpt2_small_decode", batch=1, weights_only=True)
    assert network_intensity("gpt2_small_decode", batch=4, weights_only=True) == pytest.approx(4 * one)
    assert network_intensity(gpt2_small_decode(), weights_only=True) == one
    with pytest.raises(TypeError):
        network_intensity(42)
    with pytest.raises(ValueError, match="built at batch 1"):
        network_intensity(gpt2_small_decode(), batch=8)


def test_model_intensity_by_hand():
    m = Sequential([Dense(64, 32, rng=0), ReLU(), Dense(32, 10, rng=0)])
    # weights 64*32 + 32*10 = 2368; MACs 100 * 2368; all tensors: in/out of each layer
    assert model_intensity(m, (100, 64), weights_only=True) == pytest.approx(200.0)
    moved = 2368 + (100 * 64 + 100 * 32) + (100 * 32 * 2) + (100 * 32 + 100 * 10)
    assert model_intensity(m, (100, 64), 2) == pytest.approx(2 * 100 * 2368 / (2 * moved))


def test_tpu_paper_ridge_points():
    ridges = tpu_paper_ridge_points()
    # Figs. 5-7 captions: 1350 (3 significant figures), 13 and 9 (integers)
    assert abs(ridges["TPU"] - TPU_PAPER_RIDGE_POINTS["TPU"]) < 5
    assert round(ridges["Haswell"]) == TPU_PAPER_RIDGE_POINTS["Haswell"] == 13
    assert round(ridges["K80"]) == TPU_PAPER_RIDGE_POINTS["K80"] == 9
    roofs = tpu_paper_rooflines()
    assert roofs["TPU"].peak == 92e12 and roofs["Haswell"].peak == 1.3e12 and roofs["K80"].peak == 2.8e12


def test_tpu_paper_apps_lie_under_the_roofline_and_are_bound_as_the_paper_says():
    pts = {p["app"]: p for p in tpu_paper_points("TPU")}
    for app in tpu_v1_apps():
        p = pts[app.name]
        # Table 3's measured TOPS never exceed the roofline (it is an upper bound)
        assert p["measured_tops"] <= p["attainable_tops"] + 1e-9, app.name
    # Sec. 4: the MLPs and LSTMs are memory bound, the CNNs compute bound
    assert [pts[a]["bound"] for a in ("MLP0", "MLP1", "LSTM0", "LSTM1")] == ["memory"] * 4
    assert [pts[a]["bound"] for a in ("CNN0", "CNN1")] == ["compute"] * 2
    # MLP0 at 200 MACs per weight byte: 200 * 2 ops * 34 GB/s = 13.6 TOPS attainable
    assert pts["MLP0"]["attainable_tops"] == pytest.approx(13.6)
    assert all(p["measured_tops"] is None for p in tpu_paper_points("K80"))
    with pytest.raises(KeyError):
        tpu_paper_points("P40")
