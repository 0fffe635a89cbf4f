"""Latency/throughput vs batch, energy per inference, deadlines and cost of ownership."""
import numpy as np
import pytest

from mini_accel import edge_server as es
from mini_accel.edge_server import BatchModel, compare_targets, energy_per_inference, total_cost_of_ownership
from mini_accel.workloads import resnet50


def _mlp0_on_tpu():
    # Jouppi et al. 2017 Table 1: MLP0 has 20M 8-bit weights, each used once per example
    # (ops per weight byte = batch); Table 2: 92 TOPS, 34 GB/s.
    return BatchModel("MLP0 / TPU v1", ops_per_item=2 * 20e6, weight_bytes=20e6,
                      peak_ops=92e12, bandwidth=34e9, power_w=40.0)


def test_latency_is_the_slower_of_compute_and_memory():
    m = BatchModel("toy", ops_per_item=1e9, weight_bytes=1e9, peak_ops=1e12, bandwidth=1e11,
                   activation_bytes=1e6, overhead_s=1e-3, efficiency=0.5)
    # batch 4: compute 4e9 / (0.5 * 1e12) = 8 ms; memory (1e9 + 4e6) / 1e11 = 10.04 ms
    assert m.compute_time(4) == pytest.approx(8e-3)
    assert m.memory_time(4) == pytest.approx(10.04e-3)
    assert m.latency(4) == pytest.approx(1e-3 + 10.04e-3)
    assert m.bound(4) == "memory" and m.bound(64) == "compute"
    assert m.throughput(4) == pytest.approx(4 / m.latency(4))
    # balanced batch: 1e9/1e11 = b * (2e-3 - 1e-5)  ->  b = 0.01 / 1.99e-3
    assert m.balanced_batch == pytest.approx(0.01 / 1.99e-3)
    lat = m.latency(np.array([1, 2, 4]))
    assert isinstance(lat, np.ndarray) and lat.shape == (3,)


def test_the_bus_and_the_sports_car():
    m = _mlp0_on_tpu()
    b = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
    c = m.curve(b)
    # throughput never falls as the batch grows, and latency never shrinks
    assert np.all(np.diff(c["throughput_ips"]) >= 0) and np.all(np.diff(c["latency_s"]) >= 0)
    # below the ridge (~1353) latency is flat (the weight fetch); far above it, latency doubles with b
    assert c["latency_s"][0] == c["latency_s"][8]
    assert m.latency(8192) == pytest.approx(2 * m.latency(4096))
    assert np.allclose(c["energy_j"], 40.0 * c["latency_s"] / b)


def test_mlp0_model_upper_bounds_the_papers_measurements():
    m = _mlp0_on_tpu()
    # Table 4: 225,000 IPS at batch 200 and 280,000 at batch 250 (with host overhead)
    assert m.throughput(200) >= 225_000 and m.throughput(250) >= 280_000
    # Table 3: MLP0 ran at 12.3 TOPS; the model's ceiling at batch 200 is 13.6 TOPS
    assert m.throughput(200) * 2 * 20e6 / 1e12 == pytest.approx(13.6)


def test_max_batch_under_a_deadline():
    m = _mlp0_on_tpu()
    best = m.max_batch(7e-3)
    assert m.latency(best) <= 7e-3 < m.latency(best + 1)
    assert best == 16100                 # 7 ms / (40e6 ops / 92e12 ops/s) = 16,100 exactly
    slow = BatchModel("slow", ops_per_item=1e9, weight_bytes=1e9, peak_ops=1e12, bandwidth=1e9)
    assert slow.max_batch(0.5) == 0      # the weights alone take 1 s
    assert m.max_batch(100.0, limit=64) == 64
    with pytest.raises(ValueError):
        m.max_batch(-1.0)


def test_energy_per_inference():
    # TPU v1 busy power 40 W (Table 2) over MLP0's 225,000 IPS (Table 4)
    assert energy_per_inference(40.0, 225_000) == pytest.approx(40 / 225_000)
    with pytest.raises(ValueError):
        energy_per_inference(40.0, 0)
    m = BatchModel("no power", ops_per_item=1.0, weight_bytes=1.0, peak_ops=1.0, bandwidth=1.0)
    with pytest.raises(ValueError, match="power_w is unknown"):
        m.energy_per_inference(1)


def test_batch_model_from_workload():
    net = resnet50()
    m = BatchModel.from_workload(net, "tpu_v1")
    assert m.ops_per_item == 2 * net.macs and m.weight_bytes == net.weight_elems
    assert m.peak_ops == pytest.approx(2 * 256 * 256 * 700e6) and m.bandwidth == 34e9
    assert m.power_w == 40                   # TPU v1: measured busy power (Table 2), not the 75 W TDP
    b = m.balanced_batch
    assert m.bound(int(b)) == "memory" and m.bound(int(b) + 1) == "compute"
    fp16 = BatchModel.from_workload(net, "A100", precision="fp16", bytes_per_element=2)
    assert fp16.peak_ops == 312e12 and fp16.weight_bytes == 2 * net.weight_elems
    allact = BatchModel.from_workload(net, "A100", activations="all")
    assert allact.activation_bytes == net.activation_elems()
    with pytest.raises(ValueError, match="batch 1"):
        BatchModel.from_workload(resnet50(batch=2), "tpu_v1")
    with pytest.raises(TypeError):
        BatchModel.from_workload(net, 3.14)


def test_bad_batch_model_arguments():
    good = dict(name="x", ops_per_item=1.0, weight_bytes=1.0, peak_ops=1.0, bandwidth=1.0)
    for field, value, exc in (("efficiency", 1.5, ValueError), ("peak_ops", 0.0, ValueError),
                              ("bandwidth", float("inf"), ValueError), ("power_w", "hot", TypeError)):
        with pytest.raises(exc):
            BatchModel(**{**good, field: value})
    m = BatchModel(**good)
    with pytest.raises(ValueError):
        m.latency(0)
    with pytest.raises(TypeError):
        m.latency(1.5)


def test_total_cost_of_ownership_by_hand():
    tco = total_cost_of_ownership(5000, 300, years=5, pue=1.5, usd_per_kwh=0.10, utilization=1.0)
    kwh = 0.3 * 1.5 * 365.25 * 24                          # 3944.7 kWh a year
    assert tco.energy_kwh_per_year == pytest.approx(kwh)
    assert tco.usd_per_year == pytest.approx(1000 + 0.10 * kwh)
    assert tco.total_usd == pytest.approx(5 * (1000 + 0.10 * kwh))
    assert tco.energy_share == pytest.approx(0.10 * kwh / (1000 + 0.10 * kwh))
    # 1000 inferences/s all year round
    assert tco.cost_per_inference(1000) == pytest.approx(tco.usd_per_year / (1000 * 365.25 * 86400))
    # an idle device that draws half its power: average = 0.5*300 + 0.2*150 = 180 W
    half = total_cost_of_ownership(5000, 300, utilization=0.2, idle_power_fraction=0.5)
    assert half.average_power_w == pytest.approx(180.0)
    assert set(tco.to_dict()) >= {"total_usd", "energy_kwh_per_year", "capex_usd_per_year"}


def test_tco_defaults_are_cited_and_validated():
    tco = total_cost_of_ownership(1000, 100)
    assert (tco.years, tco.pue, tco.usd_per_kwh, tco.utilization) == (
        es.DEFAULT_YEARS, es.DEFAULT_PUE, es.DEFAULT_USD_PER_KWH, es.DEFAULT_UTILIZATION)
    for name in ("DEFAULT_PUE", "PUE_HYPERSCALE", "DEFAULT_USD_PER_KWH", "DEFAULT_YEARS",
                 "DEFAULT_UTILIZATION", "DEFAULT_DEADLINE_S"):
        assert len(es.DEFAULT_SOURCES[name]) > 30
    for kwargs in (dict(pue=0.9), dict(utilization=1.2), dict(usd_per_kwh=-0.1), dict(years=0)):
        with pytest.raises(ValueError):
            total_cost_of_ownership(1000, 100, **kwargs)
    with pytest.raises(ValueError, match="utilization is 0"):
        total_cost_of_ownership(1000, 100, utilization=0).cost_per_inference(10)


def test_compare_targets():
    rows = compare_targets("resnet50", ["tpu_v1", "A100", "Edge TPU"], deadline_s=7e-3)
    tpu, a100, edge = rows
    assert tpu["best_batch"] >= 1 and tpu["latency_best_s"] <= 7e-3
    assert a100["throughput_ips"] > tpu["throughput_ips"]
    assert a100["energy_j"] == pytest.approx(400 / a100["throughput_ips"])
    assert "bandwidth" in edge["error"]
