"""Accelerator designs: cycles, DRAM traffic, energy, area, cost, budgets, reference designs."""
import csv
import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mini_accel
from mini_accel import design as dz
from mini_accel.design import (
    Budget,
    Design,
    PriceModel,
    check_constraints,
    evaluate,
    mac_cost,
    reference_budget,
    reference_design,
    reference_workload,
    score,
    sram_um2_per_bit,
)
from mini_accel.nn import Dense, GemmShape, ReLU, Sequential
from mini_accel.scratchpad import LOOP_ORDERS, Scratchpad
from mini_accel.systolic import systolic_cycles

KIB = 1024
DATA = Path(mini_accel.__file__).parent / "data"


def _toy(**changes):
    fields = dict(name="toy", rows=16, cols=16, dataflow="ws", precision="int8", clock_hz=500e6,
                  dram_bandwidth=10e9, input_buffer_bytes=64 * KIB, weight_buffer_bytes=64 * KIB,
                  output_buffer_bytes=64 * KIB)
    fields.update(changes)
    return Design(**fields)


# --------------------------------------------------------------------------- #
# One GEMM, by hand
# --------------------------------------------------------------------------- #
def test_one_gemm_cycles_bytes_and_energy_by_hand():
    ev = evaluate(_toy(), [GemmShape(64, 64, 64)], batch=64)
    layer = ev.layers[0]
    # ws on 16x16: 4 x 4 folds of (2*16 + 16 + 64 - 2) = 110 cycles
    assert layer.compute_cycles == 16 * 110
    # the activations fit (4 KiB in + 4 KiB out <= 64 KiB): A read once, W once, C written once
    assert layer.on_chip and layer.tiles == (64, 64, 64)
    assert layer.dram_bytes == 3 * 64 * 64
    # 10 GB/s at 500 MHz = 20 bytes per cycle; no double buffering: transfer then compute
    assert layer.transfer_cycles == pytest.approx(12288 / 20)
    assert layer.cycles == pytest.approx(1760 + 614.4)
    assert ev.latency_s == pytest.approx(2374.4 / 500e6)
    assert ev.throughput_ips == pytest.approx(64 / ev.latency_s)
    assert ev.utilization == pytest.approx(64 ** 3 / (256 * 2374.4))
    # Energy, 45 nm int8 (Horowitz / Han et al.):
    #   MAC 0.2 + 0.1 pJ; RF 1 pJ * 8/32 = 0.25 pJ, 3 per MAC; a hop is one PE pitch of wire,
    #   sqrt(419 um^2) = 20.47 um, at 0.121 pJ per bit and mm (Keckler et al. 2011): 8 or 32 bits
    #   64 KiB buffers -> the 1 MB SRAM row (100 pJ / 64 bits): 12.5 pJ per int8, 50 pJ per int32
    #   DRAM 1300 pJ / 64 bits: 162.5 pJ per int8 word
    # ws traffic: A streamed over 4 column tiles: 64*64*4 = 16384 reads, 15 hops each;
    # B loaded: 4096 reads, 16 tiles x 16 cols x (0+1+...+15) = 30720 hops;
    # partial sums: 16384 writes (one per output per K-fold), 15 hops each
    hop8 = 0.121 * 8 * math.sqrt(419) / 1000
    expected = {
        "PE": 64 ** 3 * 0.3,
        "RF": 3 * 64 ** 3 * 0.25,
        "array": (16384 * 15 + 30720) * hop8 + 16384 * 15 * 4 * hop8,
        "buffer": (16384 + 4096) * 12.5 + 16384 * 50 + 2 * 4096 * 12.5 + 4096 * 50,
        "DRAM": 3 * 4096 * 162.5,
    }
    got = ev.energy.by_level()
    assert set(got) == set(expected)
    for level, e in expected.items():
        assert got[level] == pytest.approx(e), level
    total = sum(expected.values())
    assert ev.energy.total == pytest.approx(total)
    assert layer.energy_pj == pytest.approx(ev.energy.total)
    assert ev.energy_per_inference_j == pytest.approx(total * 1e-12 / 64)
    assert ev.power_w == pytest.approx(ev.energy_j / ev.latency_s)
    assert ev.throughput_per_watt == pytest.approx(64 / ev.energy_j)


def test_double_buffering_overlaps_transfers_as_the_scratchpad_estimate_does():
    # Small A and B buffers force tiling; a big C buffer keeps partial sums on chip, so
    # every DRAM word is one int8 byte and ScratchpadResult.estimate_cycles applies as is.
    d = _toy(input_buffer_bytes=8 * KIB, weight_buffer_bytes=8 * KIB,
             output_buffer_bytes=256 * KIB, double_buffer=True, dram_bandwidth=2e9)
    M, K, N = 128, 256, 128
    ev = evaluate(d, [GemmShape(M, K, N)], activations="dram")
    layer = ev.layers[0]
    tm, tk, tn = layer.tiles
    sp = Scratchpad(8 * KIB, 8 * KIB, 64 * KIB, double_buffer=True).gemm(M, K, N, tm, tk, tn,
                                                                       layer.order)
    assert sp.fits and sp.dram_reads["C"] == 0 and sp.dram_writes["C"] == M * N
    assert layer.dram_bytes == sp.dram_words
    compute = systolic_cycles(M, K, N, 16, 16, "ws", double_buffer=True)
    assert layer.compute_cycles == compute
    assert layer.cycles == pytest.approx(sp.estimate_cycles(2e9 / 500e6, M * K * N / compute))
    assert layer.bound == "memory"       # 4 bytes per cycle cannot feed 256 MACs


def _dram_bytes_of(sp, elem, acc=4):
    """DRAM bytes of a Scratchpad count: operands and finished outputs in the data type,
    partial sums (C read back, C written before its last k-step) at accumulator width."""
    final = sp.M * sp.N
    return (elem * (sp.dram_reads["A"] + sp.dram_reads["B"] + final)
            + acc * (sp.dram_reads["C"] + sp.dram_writes["C"] - final))


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 40), K=st.integers(1, 40), N=st.integers(1, 40),
       wa=st.integers(2, 300), wb=st.integers(2, 300), wc=st.integers(2, 300),
       db=st.booleans(), fp16=st.booleans())
def test_the_chosen_tiling_moves_the_fewest_bytes_of_all_candidates(M, K, N, wa, wb, wc, db, fp16):
    elem = 2 if fp16 else 1
    d = _toy(input_buffer_bytes=wa * elem, weight_buffer_bytes=wb * elem,
             output_buffer_bytes=wc * 4, double_buffer=db, precision="fp16" if fp16 else "int8")
    layer = evaluate(d, [(M, K, N)], activations="dram").layers[0]
    # Slow reference: count every candidate tiling (powers of two or the whole dimension)
    # and loop order with the Scratchpad itself.
    def sizes(n):
        return sorted({n} | {2 ** i for i in range(n.bit_length()) if 2 ** i < n})
    pad = Scratchpad(wa, wb, wc, double_buffer=db)
    best = min(_dram_bytes_of(sp, elem)
               for tm, tk, tn in itertools.product(sizes(M), sizes(K), sizes(N))
               for order in LOOP_ORDERS
               for sp in [pad.gemm(M, K, N, tm, tk, tn, order)] if sp.fits)
    assert layer.dram_bytes == best
    chosen = pad.gemm(M, K, N, *layer.tiles, layer.order)
    assert chosen.fits and _dram_bytes_of(chosen, elem) == best


def test_activations_stay_on_chip_between_layers_that_fit():
    mlp = Sequential([Dense(64, 32, rng=0), ReLU(), Dense(32, 10, rng=1)])
    shapes = mlp.gemm_shapes((16, 64))
    auto = evaluate(_toy(), shapes, batch=16)
    dram = evaluate(_toy(), shapes, batch=16, activations="dram")
    # on chip: input 16x64 and W1 64x32 come in; h stays; W2 32x10 comes in; 16x10 goes out
    assert [layer.dram_bytes for layer in auto.layers] == [1024 + 2048, 320 + 160]
    # through DRAM: every layer reads its input and weights and writes its output
    assert [layer.dram_bytes for layer in dram.layers] == [1024 + 2048 + 512, 512 + 320 + 160]
    assert all(layer.on_chip for layer in auto.layers)
    assert not any(layer.on_chip for layer in dram.layers)
    kinds = {(r.level, r.operation, r.operand) for r in auto.energy.rows}
    assert ("buffer", "write", "C to input buffer") in kinds
    assert auto.energy.total < dram.energy.total


def test_a_layer_that_does_not_fit_sends_its_neighbours_through_dram():
    # input buffer 3 KiB: layer 1 (1 KiB in + 2 KiB out) fits, layer 2 (2 KiB in + 2 KiB out)
    # does not, layer 3 (2 KiB + 0.5 KiB) fits again
    d = _toy(input_buffer_bytes=3 * KIB)
    ev = evaluate(d, [(16, 64, 128), (16, 128, 128), (16, 128, 32)])
    assert [layer.on_chip for layer in ev.layers] == [True, False, True]
    # layer 1 writes h1 to DRAM for layer 2; layer 3 reads h2 back (2 KiB), writes 512 B
    assert ev.layers[0].dram_bytes == 16 * 64 + 64 * 128 + 16 * 128
    assert ev.layers[2].dram_bytes == 16 * 128 + 128 * 32 + 16 * 32


def test_an_on_chip_convolution_reads_its_real_input_not_the_im2col_copy():
    ev = evaluate(reference_design("server"), "resnet50", 1)
    conv1 = ev.layers[0]
    assert (conv1.name, conv1.M, conv1.K, conv1.N) == ("conv1", 112 * 112, 7 * 7 * 3, 64)
    # the 3x224x224 image and the 64x147 weights come in; the output stays in the 24 MiB buffer
    assert conv1.on_chip and conv1.dram_bytes == 3 * 224 * 224 + 147 * 64
    off = evaluate(reference_design("server"), "resnet50", 1, activations="dram").layers[0]
    assert off.dram_bytes == 112 * 112 * 147 + 147 * 64 + 112 * 112 * 64     # im2col in, out


def test_attention_keeps_both_activation_operands_on_chip():
    from mini_accel.workloads import bert_base_layer
    ev = evaluate(reference_design("server"), bert_base_layer(seq_len=128, batch=2))
    scores = [layer for layer in ev.layers if layer.count > 1]
    assert scores and all(layer.on_chip and layer.dram_bytes == 0 for layer in scores)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@settings(max_examples=20, deadline=None)
@given(M=st.integers(1, 300), K=st.integers(1, 300), N=st.integers(1, 300),
       db=st.booleans(), df=st.sampled_from(["ws", "os", "is"]))
def test_more_bandwidth_never_slows_and_bigger_buffers_never_add_traffic(M, K, N, db, df):
    base = _toy(input_buffer_bytes=4 * KIB, weight_buffer_bytes=4 * KIB,
                output_buffer_bytes=4 * KIB, double_buffer=db, dataflow=df)
    ev = evaluate(base, [(M, K, N)], activations="dram")
    faster = evaluate(base.replace(dram_bandwidth=4e10), [(M, K, N)], activations="dram")
    bigger = evaluate(base.replace(weight_buffer_bytes=64 * KIB, output_buffer_bytes=64 * KIB),
                      [(M, K, N)], activations="dram")
    assert faster.cycles <= ev.cycles
    assert bigger.dram_bytes <= ev.dram_bytes
    assert ev.dram_bytes >= M * K + K * N + M * N          # never below the compulsory traffic
    assert ev.layers[0].compute_cycles == systolic_cycles(M, K, N, 16, 16, df, db)


def test_latency_is_at_least_compute_and_memory_bound_at_low_bandwidth():
    slow = evaluate(_toy(dram_bandwidth=1e8, double_buffer=True), "mobilenet_v2")
    assert slow.memory_bound_share > 0.9
    assert all(layer.cycles >= max(layer.compute_cycles, layer.transfer_cycles)
               for layer in slow.layers)


# --------------------------------------------------------------------------- #
# MACs, area, price
# --------------------------------------------------------------------------- #
def test_mac_costs_from_the_45nm_table():
    # Horowitz 2014 Fig. 1.1.9 (energy) and Sze et al. 2017 (area): mult + accumulator add
    assert (mac_cost("int8").energy_pj, mac_cost("int8").area_um2) == (pytest.approx(0.3), 282 + 137)
    assert (mac_cost("fp16").energy_pj, mac_cost("fp16").area_um2) == (pytest.approx(2.0), 1640 + 4184)
    assert (mac_cost("fp32").energy_pj, mac_cost("fp32").area_um2) == (pytest.approx(4.6), 7700 + 4184)
    i16 = mac_cost("int16")
    assert i16.mult_pj == pytest.approx(math.sqrt(0.2 * 3.1)) and i16.add_pj == 0.1
    assert i16.mult_um2 == pytest.approx(math.sqrt(282 * 3495)) and i16.flagged
    bf = mac_cost("bf16")
    assert (bf.mult_pj, bf.mult_um2, bf.add_pj) == (pytest.approx(0.55), pytest.approx(820), 0.9)
    assert bf.flagged and "FLAG" in bf.source and not mac_cost("int8").flagged
    with pytest.raises(ValueError, match="precision"):
        mac_cost("int4")


def test_precisions_and_accumulators_come_from_the_format_registry():
    from mini_accel.formats import FORMATS, formats_supported_by
    assert set(dz.PRECISIONS) == set(formats_supported_by("design"))
    assert dz.PRECISIONS == ("int8", "int16", "bf16", "fp16", "fp32")       # narrowest first, as before
    assert dict(dz.ACCUMULATORS) == {p: FORMATS[p].accumulator for p in dz.PRECISIONS}
    assert dict(dz.ACCUMULATORS) == {"int8": "int32", "int16": "int32", "bf16": "fp32",
                                     "fp16": "fp32", "fp32": "fp32"}
    with pytest.raises(TypeError):
        dz.ACCUMULATORS["int8"] = "int16"            # read-only
    assert mac_cost("float16") == mac_cost("fp16") and _toy(precision="HALF").precision == "fp16"


def test_area_by_hand():
    d = reference_design("edge")            # 32 x 32 int8, 256 + 64 + 64 KiB
    cell = 146 * 0.045 ** 2                 # CACTI: 146 F^2 at F = 45 nm
    assert sram_um2_per_bit() == pytest.approx(cell)
    parts = d.area_breakdown()
    assert parts["mac_array"] == pytest.approx(1024 * 419 / 1e6)
    assert parts["buffers"] == pytest.approx(384 * KIB * 8 * cell / 1e6)
    half = d.replace(sram_array_efficiency=0.5)
    assert half.area_breakdown()["buffers"] == pytest.approx(2 * parts["buffers"])
    assert d.replace(precision="fp32").area_breakdown()["mac_array"] == pytest.approx(1024 * 11884 / 1e6)


def test_price_model():
    pm = PriceModel()
    # IBS 2014, 40 nm: 1898.83 USD per wafer of 97,842 M gates at 1,538 K gates per mm^2
    per_mm2 = 1898.83 / (97842e6 / 1538e3)
    assert pm.usd_per_mm2 == pytest.approx(per_mm2) and pm.fixed_usd == 0
    assert pm.price(50.0) == pytest.approx(50 * per_mm2)
    assert PriceModel(usd_per_mm2=1.0, fixed_usd=20.0).price(50.0) == 70.0
    ev = evaluate(_toy(), [(64, 64, 64)], price_model=PriceModel(usd_per_mm2=2.0, fixed_usd=1.0))
    assert ev.price_usd == pytest.approx(2.0 * _toy().area_mm2 + 1.0)
    assert ev.throughput_per_usd == pytest.approx(ev.throughput_ips / ev.price_usd)
    free = evaluate(_toy(), [(8, 8, 8)], price_model=PriceModel(usd_per_mm2=0.0))
    assert free.throughput_per_usd == math.inf
    with pytest.raises(ValueError, match="usd_per_mm2"):
        PriceModel(usd_per_mm2=-1.0)


def test_cost_of_ownership_uses_the_edge_server_model():
    from mini_accel.edge_server import total_cost_of_ownership
    ev = evaluate(_toy(), [(64, 64, 64)], years=3, utilization=1.0)
    tco = total_cost_of_ownership(ev.price_usd, ev.power_w, years=3, utilization=1.0)
    assert ev.tco.total_usd == pytest.approx(tco.total_usd)
    assert ev.usd_per_million_inferences == pytest.approx(tco.cost_per_inference(ev.throughput_ips) * 1e6)
    with pytest.raises(TypeError, match="unknown option"):
        evaluate(_toy(), [(8, 8, 8)], lifetime=3)
    with pytest.raises(ValueError, match="pue"):
        evaluate(_toy(), [(8, 8, 8)], pue=0.5)


def test_wider_formats_cost_more_energy_and_large_buffers_are_1mb_banks():
    e = {p: evaluate(_toy(precision=p), [(64, 64, 64)]).energy_per_inference_j
         for p in ("int8", "int16", "bf16", "fp16", "fp32")}
    assert e["int8"] < e["int16"] < e["fp32"] and e["bf16"] < e["fp16"] < e["fp32"]
    ev = evaluate(reference_design("server"), [(256, 256, 256)])
    reads = {r.operand: r.each for r in ev.energy.rows if (r.level, r.operation) == ("buffer", "read")}
    assert reads["A"] == pytest.approx(100 * 8 / 64)     # 24 MiB buffer: a 1 MB bank read
    assert reads["B"] == pytest.approx(100 * 8 / 64)     # 256 KiB: the 1 MB row too


# --------------------------------------------------------------------------- #
# Budgets and scores
# --------------------------------------------------------------------------- #
def test_constraint_checks_on_hand_made_designs():
    d = _toy()
    area = d.area_mm2
    rep = check_constraints(d, Budget("roomy", max_area_mm2=area * 1.01))
    assert rep.ok and rep.checks[0].value == pytest.approx(area) and rep.failed == []
    rep = check_constraints(d, Budget("tight", max_area_mm2=area * 0.99))
    assert not rep.ok and rep.failed == ["max_area_mm2"] and "FAIL" in str(rep)
    ev = evaluate(d, [(64, 64, 64)], batch=64)
    budget = Budget("mixed", max_power_w=ev.power_w * 2, max_latency_s=ev.latency_s / 2,
                    min_throughput_ips=ev.throughput_ips / 2,
                    max_energy_per_inference_j=ev.energy_per_inference_j,
                    max_price_usd=ev.price_usd + 1, max_tco_usd=ev.tco.total_usd - 1)
    rep = check_constraints(ev, budget)
    assert rep.failed == ["max_tco_usd", "max_latency_s"]
    values = rep.to_dict()
    assert values["max_power_w"]["value"] == pytest.approx(ev.power_w)
    assert values["max_latency_s"]["limit"] == pytest.approx(ev.latency_s / 2)
    assert values["max_energy_per_inference_j"]["ok"]                   # equal is within budget
    # a Design plus a workload is evaluated on the spot
    again = check_constraints(d, budget, [(64, 64, 64)], batch=64)
    assert again.to_dict() == rep.to_dict()


def test_budget_errors():
    with pytest.raises(ValueError, match="workload"):
        check_constraints(_toy(), Budget("p", max_power_w=1.0))
    with pytest.raises(ValueError, match="at least one limit"):
        Budget("empty")
    with pytest.raises(ValueError, match="max_power_w"):
        Budget("neg", max_power_w=-1)
    with pytest.raises(TypeError, match="Budget"):
        check_constraints(_toy(), {"max_power_w": 1})
    with pytest.raises(TypeError, match="Design or an Evaluation"):
        check_constraints("toy", Budget("a", max_area_mm2=1))
    ev = evaluate(_toy(), [(8, 8, 8)])
    with pytest.raises(TypeError, match="already an Evaluation"):
        check_constraints(ev, Budget("a", max_area_mm2=1), [(8, 8, 8)])


@pytest.mark.parametrize("name", ["edge", "server"])
def test_reference_designs_satisfy_their_own_budgets(name):
    ev = evaluate(reference_design(name), *reference_workload(name))
    rep = check_constraints(ev, reference_budget(name))
    assert rep.ok, str(rep)
    assert score(ev, ev) == pytest.approx({"energy_gain": 1.0, "throughput_per_watt_gain": 1.0,
                                           "throughput_per_usd_gain": 1.0, "tco_gain": 1.0,
                                           "speedup": 1.0})


def test_reference_designs_and_budgets_come_from_their_sources():
    from mini_accel.devices import get_device, get_preset
    tpu, p = reference_design("server"), get_preset("tpu_v1")
    assert (tpu.rows, tpu.cols, tpu.dataflow, tpu.clock_hz, tpu.dram_bandwidth, tpu.double_buffer) == \
        (256, 256, "ws", 700e6, 34e9, True)
    assert tpu.input_buffer_bytes == 24 * 2 ** 20 == p.activation_buffer_bytes
    assert tpu.output_buffer_bytes == 4 * 2 ** 20 and tpu.weight_buffer_bytes == 4 * 64 * KIB
    edge = reference_budget("edge")
    assert edge.max_power_w == get_device("Edge TPU").tdp_w == 2.0
    assert edge.max_latency_s == pytest.approx(1 / 30)
    server = reference_budget("server")
    assert server.max_area_mm2 == 331 and server.max_latency_s == 7e-3
    from mini_accel.edge_server import total_cost_of_ownership
    assert server.max_tco_usd == pytest.approx(
        total_cost_of_ownership(PriceModel().price(331), 861 / 4).total_usd)
    assert set(server.basis) == set(server.limits()) and set(edge.basis) == set(edge.limits())


def test_score_compares_like_with_like():
    base = evaluate(reference_design("edge"), "mobilenet_v2")
    wide = evaluate(reference_design("edge").replace(dram_bandwidth=1e12), "mobilenet_v2")
    s = score(wide, base)
    assert s["speedup"] >= 1.0
    assert s["energy_gain"] == pytest.approx(1.0)       # bandwidth changes time, not energy
    with pytest.raises(ValueError, match="same workload"):
        score(evaluate(reference_design("edge"), "mobilenet_v2", 2), base)
    with pytest.raises(TypeError, match="Evaluation"):
        score(base, reference_design("edge"))


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("changes, exc, words", [
    (dict(rows=0), ValueError, "rows"),
    (dict(cols=5000), ValueError, "cols"),
    (dict(rows=16.0), TypeError, "rows"),
    (dict(dataflow="rs"), ValueError, "dataflow"),
    (dict(precision="int4"), ValueError, "precision"),
    (dict(clock_hz=float("nan")), ValueError, "clock_hz"),
    (dict(clock_hz=1e12), ValueError, "clock_hz"),
    (dict(dram_bandwidth=-1.0), ValueError, "dram_bandwidth"),
    (dict(dram_bandwidth="fast"), TypeError, "dram_bandwidth"),
    (dict(input_buffer_bytes=0), ValueError, "input_buffer_bytes"),
    (dict(output_buffer_bytes=4, double_buffer=True), ValueError, "output_buffer_bytes"),
    (dict(weight_buffer_bytes=1, precision="fp16"), ValueError, "weight_buffer_bytes"),
    (dict(double_buffer="yes"), TypeError, "double_buffer"),
    (dict(name=""), TypeError, "name"),
    (dict(sram_array_efficiency=1.5), ValueError, "sram_array_efficiency"),
])
def test_bad_designs_raise_clear_errors(changes, exc, words):
    with pytest.raises(exc, match=words):
        _toy(**changes)


def test_bad_workloads_raise_clear_errors():
    from mini_accel.workloads import resnet50
    with pytest.raises(ValueError, match="batch 8"):
        evaluate(_toy(), resnet50(batch=8), batch=4)
    with pytest.raises(ValueError, match="empty"):
        evaluate(_toy(), [])
    with pytest.raises(TypeError, match="GemmShape"):
        evaluate(_toy(), [(1, 2)])
    with pytest.raises(TypeError, match="workload must be"):
        evaluate(_toy(), 42)
    with pytest.raises(KeyError, match="unknown workload"):
        evaluate(_toy(), "alexnet")
    with pytest.raises(ValueError, match="activations"):
        evaluate(_toy(), [(8, 8, 8)], activations="sram")
    with pytest.raises(TypeError, match="Design"):
        evaluate("toy", [(8, 8, 8)])
    with pytest.raises(ValueError, match="batch"):
        evaluate(_toy(), "mobilenet_v2", 0)
    with pytest.raises(KeyError, match="unknown reference"):
        reference_design("cloud")


def test_workload_forms_agree():
    from mini_accel.workloads import mobilenet_v2
    by_name = evaluate(_toy(), "mobilenet_v2", 2)
    by_object = evaluate(_toy(), mobilenet_v2(batch=2))
    assert by_name.cycles == by_object.cycles and by_name.batch == 2
    assert by_name.macs == mobilenet_v2(batch=2).macs
    shapes = [(8, 16, 4), GemmShape(8, 4, 2, count=3)]
    ev = evaluate(_toy(), shapes, batch=8)
    assert ev.macs == 8 * 16 * 4 + 3 * 8 * 4 * 2 and ev.layers[1].count == 3
    assert ev.layers[1].compute_cycles == 3 * systolic_cycles(8, 4, 2, 16, 16)


# --------------------------------------------------------------------------- #
# Sources
# --------------------------------------------------------------------------- #
def test_every_constant_has_a_source_and_flags_say_why():
    with open(DATA / "design_45nm.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        assert row["source"].strip(), row["name"]
        assert row["status"] in {"P", "S", "D", "FLAG"}, row["name"]
        float(row["value"])
        if row["status"] == "FLAG":
            assert "FLAG" in row["note"], row["name"]
    text = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    assert "## design_45nm.csv" in text and "## analog_noise.csv" in text


def test_outputs_are_readable():
    ev = evaluate(reference_design("edge"), "mobilenet_v2")
    text = ev.table()
    assert "MobileNetV2" in text and "mJ per inference" in text
    assert len(text.splitlines()) == 3 + len(ev.layers) + 1    # title, header, rule, layers, total
    assert "<table>" in ev._repr_html_() and "mJ per inference" in ev._repr_html_()
    assert set(ev.summary()) >= {"latency_s", "energy_per_inference_j", "power_w", "area_mm2",
                                 "throughput_per_watt", "throughput_per_usd", "tco_usd"}
    # every limit of a budget names a key of the summary (max_x / min_x -> x)
    for attr, *_ in dz._LIMITS:
        assert attr.split("_", 1)[1] in ev.summary(), attr
    assert ev.layers[0].to_dict()["macs"] == ev.layers[0].macs
    assert "area_mm2" in reference_design("edge").describe()


# --------------------------------------------------------------------------- #
# The PE-to-PE hop and the calibration against the TPU v1's measured power
# --------------------------------------------------------------------------- #
def test_a_hop_is_one_mac_pitch_of_wire_at_keckler_s_energy_per_bit_and_mm():
    table = dz.load_design_table()
    assert table["wire_pj_per_bit_mm"]["value"] == pytest.approx(310 / 256 / 10, rel=2e-3)
    assert "Keckler" in table["wire_pj_per_bit_mm"]["source"]
    for precision in dz.PRECISIONS:
        pitch_mm = math.sqrt(mac_cost(precision).area_um2) / 1000
        bits = dz._BITS[precision]
        assert dz.hop_energy_pj(precision) == pytest.approx(0.121 * bits * pitch_mm)
        assert dz.hop_energy_pj(precision, bits=32) == pytest.approx(0.121 * 32 * pitch_mm)
    # the design's energy models charge exactly that, the accumulators at 32 bits
    models = _toy()._energy_models()
    assert models["core"].cost("array") == pytest.approx(dz.hop_energy_pj("int8"))
    assert models["acc"].cost("array") == pytest.approx(dz.hop_energy_pj("int8", bits=32))
    assert "Keckler" in models["core"].sources["array"]
    with pytest.raises(ValueError, match="precision"):
        dz.hop_energy_pj("int4")


def test_tpu_v1_like_power_against_the_measured_busy_power():
    """The model's TPU-v1-like design on ResNet-50 at batch 8 against the 40 W a busy TPU v1 die
    drew (Jouppi et al. ISCA 2017 Table 2; not the 75 W TDP). Stated error: the model gives
    28.1 W, 30 % low (no leakage or idle power; 45 nm instead of 28 nm)."""
    measured_w = dz.load_design_table()["tpu_v1_busy_power_w"]["value"]
    assert measured_w == 40
    ev = evaluate(reference_design("server"), *reference_workload("server"))
    error = ev.power_w / measured_w - 1
    assert error == pytest.approx(-0.30, abs=0.01)
    # the hop no longer dominates: the old 2 x RF hop made array hops 2/3 of the energy (78 W)
    levels = ev.energy.by_level()
    assert levels["array"] < 0.1 * ev.energy.total


def test_pruned_tiling_search_picks_what_trying_every_tile_picks():
    # Slow reference: the search before pruning (every tn, not only the largest that fits).
    from mini_accel.scratchpad import reload_factors

    def full(M, K, N, words, copies, eb, ab):
        wa, wb, wc = words
        best = None
        for tm in dz._candidates(M):
            for tk in dz._candidates(K):
                if copies * tm * tk > wa:
                    continue
                for tn in dz._candidates(N):
                    if copies * tk * tn > wb or copies * tm * tn > wc:
                        continue
                    trips = {"m": -(-M // tm), "k": -(-K // tk), "n": -(-N // tn)}
                    for rank, order in enumerate(LOOP_ORDERS):
                        r = reload_factors(trips, order)
                        key = (eb * (r["B"] * K * N + r["A"] * M * K) + ab * 2 * (r["C"] - 1) * M * N,
                               trips["m"] * trips["k"] * trips["n"], rank)
                        if best is None or key < best[0]:
                            best = (key, (tm, tk, tn, order))
        return best[1]

    @settings(max_examples=120, deadline=None)
    @given(st.tuples(*[st.integers(1, 300)] * 3), st.tuples(*[st.integers(8, 5000)] * 3),
           st.sampled_from([1, 2]), st.sampled_from([1, 2, 4]))
    def check(mkn, words, copies, eb):
        M, K, N = mkn
        assert dz._best_tiling(M, K, N, words, copies, eb, 4, False, False) == \
            full(M, K, N, words, copies, eb, 4), (M, K, N, words, copies, eb)
        if copies == 1 and eb == 1:     # the public wrapper searches the same space
            assert dz.best_tiling(M, K, N, words) == full(M, K, N, words, 1, 1, 4)
    check()


# --------------------------------------------------------------------------- #
# The capstone's design space
# --------------------------------------------------------------------------- #
def test_single_changes_differ_in_exactly_one_grid_parameter():
    ref = reference_design("server")
    moves = list(dz.single_changes(ref))
    expected = sum(len([v for v in values if v != getattr(ref, p)]) for p, values in dz.DESIGN_GRID.items())
    assert len(moves) == expected
    for param, value, d in moves:
        diff = [f for f in Design.__dataclass_fields__ if getattr(d, f) != getattr(ref, f)]
        assert diff == [param] and getattr(d, param) == value
    # a value the Design refuses is skipped, not raised
    tiny = _toy(output_buffer_bytes=4, input_buffer_bytes=4 * KIB, weight_buffer_bytes=4 * KIB)
    assert list(dz.single_changes(tiny, {"double_buffer": (True,)})) == []
    with pytest.raises(ValueError, match="unknown parameter"):
        list(dz.single_changes(ref, {"clock": (1e9,)}))
    with pytest.raises(TypeError, match="Design"):
        list(dz.single_changes({"rows": 4}))



def test_the_design_explorer_draws_a_complete_first_frame_on_fixed_axes():
    pytest.importorskip("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    from mini_accel import viz
    ex = viz.design_explorer_widget({"edge": ("energy_gain", 2.0), "server": ("tco_gain", 1.25)})
    first = ex.ax                       # drawn by the constructor, before any control moves
    levels = [t.get_text() for t in first.get_legend().get_texts()]
    assert levels == ["PE", "RF", "array", "buffer", "DRAM"]
    assert [t.get_text() for t in first.get_yticklabels()] == ["reference", "yours"]
    assert first.get_xlabel() == "energy per inference (mJ)"
    ref_mj = evaluate(reference_design("edge"), *reference_workload("edge")).energy_per_inference_j * 1e3
    assert first.get_xlim() == pytest.approx((0, 2 * ref_mj))
    assert "misses the target 2" in ex.text.value
    # a change redraws on the same axes range; a design far off the scale is cut at the edge
    ax = ex.update(precision="fp32")
    assert ax is not first and ax.get_xlim() == first.get_xlim()
    assert any("\u2192" in t.get_text() for t in ax.texts)
    ex.update(precision="int8", input_buffer_bytes=1024 * KIB, output_buffer_bytes=16 * KIB)
    assert "meets the target 2" in ex.text.value
    # the server track starts at its reference (the TPU's 24 MiB buffer included) on its own scale
    ex.track.value = "server"
    assert ex.design().replace(name="x") == reference_design("server").replace(name="x")
    assert ex.ax.get_xlim()[1] == pytest.approx(
        2e3 * evaluate(reference_design("server"), *reference_workload("server")).energy_per_inference_j)
