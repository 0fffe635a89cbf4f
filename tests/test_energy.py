"""Tests of the energy tables, EnergyModel and EnergyReport."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mini_accel import SystolicArray, systolic_traffic
from mini_accel.energy import EnergyModel, EnergyReport, load_table
from mini_accel.memory import Cache, MemoryHierarchy
from mini_accel.scratchpad import Scratchpad
from mini_accel.traces import stream_trace

H45 = {r["name"]: r for r in load_table("45nm")}
EYE = {r["level"]: r for r in load_table("eyeriss")}


# --------------------------------------------------------------------------- #
# Tables
# --------------------------------------------------------------------------- #
def test_every_row_has_a_source_and_status():
    for table in ("45nm", "eyeriss"):
        for row in load_table(table):
            assert row["source"].strip(), row
            assert row["status"].strip(), row


def test_45nm_values_as_published():
    # Horowitz ISSCC 2014 Fig. 1.1.9 (REFERENCE_DATA.md section 1a): pJ and um^2
    published = {
        "int8_add": (0.03, 36), "int32_add": (0.1, 137), "int8_mult": (0.2, 282),
        "int32_mult": (3.1, 3495), "fp16_add": (0.4, 1360), "fp32_add": (0.9, 4184),
        "fp16_mult": (1.1, 1640), "fp32_mult": (3.7, 7700),
    }
    for name, (pj, area) in published.items():
        assert (H45[name]["energy_pj"], H45[name]["area_um2"]) == (pj, area), name
    assert H45["sram_8KB_read_64b"]["energy_pj"] == 10
    assert H45["sram_32KB_read_64b"]["energy_pj"] == 20
    assert H45["sram_1MB_read_64b"]["energy_pj"] == 100
    dram = H45["dram_access_64b"]
    assert (dram["energy_pj"], dram["energy_pj_high"]) == (1300, 2600)
    # Han et al. NIPS 2015 Fig. 1 (section 1b)
    assert H45["rf_access_32b"]["energy_pj"] == 1
    assert H45["sram_8KB_read_32b"]["energy_pj"] == 5
    assert H45["dram_read_32b"]["energy_pj"] == 640


def test_uncertain_rows_are_marked():
    assert H45["int16_add"]["status"] == "FLAG" and "FLAG" in H45["int16_add"]["note"]
    row = H45["int16_mult"]
    assert row["energy_pj"] is None and row["area_um2"] is None
    assert "do not use" in row["note"].lower()


def test_table_agrees_with_independently_published_ratios():
    e = {k: r["energy_pj"] for k, r in H45.items()}
    a = {k: r["area_um2"] for k, r in H45.items()}
    # Jouppi et al. ISCA 2017 (citing Dally): 8-bit int multiply takes "6X less
    # energy and 6X less area" than FP16 multiply; int add "13X in energy and
    # 38X in area".
    assert round(e["fp16_mult"] / e["int8_mult"]) == 6
    assert round(a["fp16_mult"] / a["int8_mult"]) == 6
    assert round(e["fp16_add"] / e["int8_add"]) == 13 and round(a["fp16_add"] / a["int8_add"]) == 38
    # Han et al. 2015 relative costs: DRAM 32-bit read = 6400 x int32 add, FP32 mult 37 x.
    assert e["dram_read_32b"] / e["int32_add"] == pytest.approx(6400)
    assert e["fp32_mult"] / e["int32_add"] == pytest.approx(37)


def test_eyeriss_table():
    assert {k: r["normalized_energy"] for k, r in EYE.items()} == {
        "ALU": 1, "RF": 1, "array": 2, "buffer": 6, "DRAM": 200}
    assert all("ISCA 2016" in r["source"] for r in EYE.values())


def test_load_table_rejects_unknown_names():
    with pytest.raises(ValueError, match="45nm"):
        load_table("7nm")


# --------------------------------------------------------------------------- #
# Models
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("precision, mac, bits", [
    ("int8", 0.2 + 0.1, 8),       # int8 mult + int32 add
    ("int32", 3.1 + 0.1, 32),
    ("fp16", 1.1 + 0.9, 16),      # fp16 mult + fp32 add
    ("fp32", 3.7 + 0.9, 32),
])
def test_45nm_model_costs_by_hand(precision, mac, bits):
    m = EnergyModel.horowitz_45nm(precision, buffer_bytes=8 * 1024)
    assert m.cost("mac") == pytest.approx(mac)
    assert m.word_bits == bits
    assert m.cost("rf") == pytest.approx(1.0 * bits / 32)
    assert m.cost("array") == pytest.approx(2 * bits / 32)
    assert m.cost("buffer") == pytest.approx(10 * bits / 64)
    assert m.cost("dram") == pytest.approx(1300 * bits / 64)
    assert m.cost("fp32_mult") == 3.7                       # every table row is there


def test_45nm_buffer_size_picks_the_sram_row():
    assert EnergyModel.horowitz_45nm("fp32", buffer_bytes=8192).cost("buffer") == 5
    assert EnergyModel.horowitz_45nm("fp32", buffer_bytes=8193).cost("buffer") == 10
    assert EnergyModel.horowitz_45nm("fp32", buffer_bytes=1 << 20).cost("buffer") == 50
    with pytest.raises(ValueError, match="no SRAM larger"):
        EnergyModel.horowitz_45nm("fp32", buffer_bytes=(1 << 20) + 1)
    assert EnergyModel.horowitz_45nm("fp32", dram="high").cost("dram") == 1300


def test_no_16_bit_integer_multiply():
    with pytest.raises(ValueError, match="16-bit integer multiply"):
        EnergyModel.horowitz_45nm("int16")
    with pytest.raises(KeyError, match="no published"):
        EnergyModel.horowitz_45nm("int8").cost("int16_mult")


def test_overrides_and_sources():
    m = EnergyModel.horowitz_45nm("int8").with_costs(dram=100.0, L2=7.0)
    assert m.cost("dram") == 100.0 and m.sources["dram"] == "user override"
    assert m.cost("L2") == 7.0 and m.cost("mac") == pytest.approx(0.3)
    assert "Horowitz" in m.sources["mac"] and m.sources["array"].startswith("D:")
    assert "EnergyModel('45nm int8'" in repr(m)


def test_eyeriss_model():
    m = EnergyModel.eyeriss()
    assert [m.cost(k) for k in ("mac", "rf", "array", "buffer", "dram")] == [1, 1, 2, 6, 200]
    assert m.unit == "x MAC"
    s = EnergyModel.eyeriss(mac_pj=0.5)
    assert s.cost("dram") == 100 and s.unit == "pJ"


@pytest.mark.parametrize("costs, exc, match", [
    ({"mac": -1.0}, ValueError, "mac"),
    ({"mac": float("nan")}, ValueError, "mac"),
    ({"mac": "1"}, TypeError, "mac"),
    ({}, TypeError, "costs"),
    ({1: 1.0}, TypeError, "strings"),
])
def test_bad_costs(costs, exc, match):
    with pytest.raises(exc, match=match):
        EnergyModel(costs)


# --------------------------------------------------------------------------- #
# Reports
# --------------------------------------------------------------------------- #
def small_gemm():
    A = np.arange(12, dtype=np.int8).reshape(3, 4)
    B = np.ones((4, 5), dtype=np.int8)
    return SystolicArray(2, 2).matmul(A, B)


def test_report_from_systolic_by_hand():
    res = small_gemm()
    m = EnergyModel.horowitz_45nm("int8", buffer_bytes=8192)
    rep = m.report(systolic=res)
    hops = res.hops["a"] + res.hops["b"] + res.hops["out"]
    expect = {
        "PE": res.macs * 0.3,                                 # int8 mult + int32 add
        "RF": 3 * res.macs * 0.25,                            # 1 pJ x 8/32 per access
        "array": hops * 0.5,                                  # 2 x RF
        "buffer": (res.a_reads + res.b_reads + res.out_writes) * 1.25,   # 10 pJ x 8/64
    }
    got = rep.by_level()
    assert list(got) == ["PE", "RF", "array", "buffer"]
    for level, e in expect.items():
        assert got[level] == pytest.approx(e), level
    assert rep.total == pytest.approx(sum(expect.values()))
    # a dict from to_dict() gives the same report
    assert m.report(systolic=res.to_dict()).total == pytest.approx(rep.total)
    # rf_per_mac is adjustable per report
    assert m.report(systolic=res, rf_per_mac=1).by_level()["RF"] == pytest.approx(res.macs * 0.25)


def test_report_sums_and_shares():
    res = small_gemm()
    sp = Scratchpad(64, 64, 64).gemm(3, 4, 5, 2, 2, 2)
    rep = EnergyModel.horowitz_45nm("int8").report(systolic=res, scratchpad=sp)
    assert sum(rep.by_level().values()) == pytest.approx(rep.total)
    assert sum(rep.by_operation().values()) == pytest.approx(rep.total)
    assert sum(rep.share(lv) for lv in rep.by_level()) == pytest.approx(1.0)
    assert rep.share("L3") == 0.0
    assert set(rep.by_operation()) == {"mac", "access", "hop", "read", "write", "fill", "drain"}


def test_report_from_scratchpad_alone_by_hand():
    sp = Scratchpad(1 << 20, 1 << 20, 1 << 20).gemm(8, 8, 8, 8, 8, 8)   # one tile
    m = EnergyModel({"mac": 1.0, "buffer": 2.0, "dram": 100.0})
    rep = m.report(scratchpad=sp)
    # MACs 512; array reads A 64 + B 64, writes C 64; DRAM reads 128 + write 64;
    # buffer fills 128 + drain 64.
    assert rep.by_level() == {"PE": 512.0, "buffer": 2.0 * (64 + 64 + 64 + 128 + 64),
                              "DRAM": 100.0 * (128 + 64)}


def test_report_from_memory_hierarchy_by_hand():
    h = MemoryHierarchy([Cache("L1", 8192, 4, 64), Cache("L2", 32768, 8, 64)])
    st = h.run(stream_trace(4096, elem_bytes=4))          # 16 KB read once: 256 line misses
    m = EnergyModel.horowitz_45nm("fp32")
    rep = m.report(memory=st)
    lv = rep.by_level()
    assert lv["L1"] == pytest.approx(4096 * 10)           # 8 KB SRAM: 10 pJ per access
    assert lv["L2"] == pytest.approx(256 * 20)            # 32 KB SRAM: 20 pJ per access
    assert lv["DRAM"] == pytest.approx(16384 * 8 / 32 * 650)   # bytes -> 32-bit words
    assert m.report(memory=st.to_dict()).total == pytest.approx(rep.total)
    # explicit per-level costs win over the table
    assert m.with_costs(L1=1.0).report(memory=st).by_level()["L1"] == 4096
    # caches above 1 MB have no 45 nm value
    big = MemoryHierarchy(Cache("L3", 2 << 20, 16, 64)).run([0])
    with pytest.raises(ValueError, match="L3 size_bytes"):
        m.report(memory=big)
    # a model without SRAM rows charges caches as its buffer
    assert EnergyModel.eyeriss().report(memory=st).by_level()["L1"] == 6 * 4096


def test_fit_on_chip_total_by_closed_form():
    # The module example's last case, recomputed from closed forms: fp32,
    # 256^3 on a 32x32 ws array, whole operands on chip (3 x 256 KB -> 1 MB SRAM:
    # 100 pJ per 64 bits = 50 per word), DRAM 1300 per 64 bits = 650 per word.
    n = 256
    t = systolic_traffic(n, n, n, 32, 32, "ws")
    macs = n**3
    expect = (macs * (3.7 + 0.9) + 3 * macs * 1.0
              + 2.0 * (t["a_hops"] + t["b_hops"] + t["out_hops"])
              + 50 * (t["a_reads"] + t["b_reads"] + t["out_writes"])
              + 3 * n * n * (650 + 50))
    res = SystolicArray(32, 32).matmul(np.ones((n, n), np.float32), np.ones((n, n), np.float32))
    sp = Scratchpad(n * n, n * n, n * n).gemm(n, n, n, n, n, n)
    rep = EnergyModel.horowitz_45nm("fp32", buffer_bytes=3 * n * n * 4).report(
        systolic=res, scratchpad=sp)
    assert rep.total == pytest.approx(expect)


def test_dram_share_falls_as_tiles_grow():
    res = SystolicArray(32, 32).matmul(np.ones((128, 128), np.float32),
                                       np.ones((128, 128), np.float32))
    shares = []
    for tile in (16, 32, 64, 128):
        sp = Scratchpad(tile * tile, tile * tile, tile * tile).gemm(128, 128, 128, tile, tile, tile)
        m = EnergyModel.horowitz_45nm("fp32", buffer_bytes=3 * tile * tile * 4)
        shares.append(m.report(systolic=res, scratchpad=sp).share("DRAM"))
    assert shares == sorted(shares, reverse=True) and shares[0] > 0.5


def test_events_and_bad_report_input():
    m = EnergyModel.horowitz_45nm("fp32")
    rep = m.report(events={"fp32_add": 10, "fp32_mult": 10})
    assert rep.by_operation() == pytest.approx({"fp32_add": 9.0, "fp32_mult": 37.0})
    with pytest.raises(KeyError, match="warp_drive"):
        m.report(events={"warp_drive": 1})
    with pytest.raises(ValueError, match="fp32_add"):
        m.report(events={"fp32_add": -1})
    with pytest.raises(TypeError, match="systolic"):
        m.report(systolic=[1, 2, 3])
    with pytest.raises(ValueError, match="missing"):
        m.report(systolic={"macs": 3})
    with pytest.raises(ValueError, match="levels"):
        m.report(memory={"L1": 3})


def test_adding_reports():
    m = EnergyModel({"mac": 1.0})
    r = m.report(events={"mac": 2}) + m.report(events={"mac": 3})
    assert r.total == 5.0 and len(r.rows) == 2
    with pytest.raises(ValueError, match="cannot add"):
        r + EnergyModel({"mac": 1.0}, unit="x MAC").report(events={"mac": 1})


# --------------------------------------------------------------------------- #
# Views
# --------------------------------------------------------------------------- #
def test_table_text():
    rep = EnergyModel.horowitz_45nm("int8").report(systolic=small_gemm())
    assert isinstance(rep, EnergyReport)
    text = rep.table()
    assert "energy (pJ)" in text and "(total)" in text and "100.0%" in text
    assert text == str(rep)
    assert repr(rep).startswith("EnergyReport(")


def test_to_frame_with_and_without_pandas(monkeypatch):
    rep = EnergyModel.horowitz_45nm("int8").report(systolic=small_gemm())
    monkeypatch.setitem(sys.modules, "pandas", None)       # "import pandas" now fails
    rows = rep.to_frame()
    assert isinstance(rows, list) and rows[0]["level"] == "PE"
    monkeypatch.undo()
    pd = pytest.importorskip("pandas")
    frame = rep.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert frame["energy"].sum() == pytest.approx(rep.total)
    assert list(frame.columns) == ["level", "operation", "operand", "count", "each", "energy",
                                   "source"]


def test_plot_returns_axes():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    rep = EnergyModel.horowitz_45nm("int8").report(systolic=small_gemm())
    ax = rep.plot()              # one horizontal bar per level, as viz.plot_energy_breakdown draws
    assert [t.get_text() for t in ax.get_yticklabels()] == list(rep.by_level())
    assert [p.get_width() for p in ax.patches] == pytest.approx(list(rep.by_level().values()))
    fig, ax2 = plt.subplots()
    assert rep.plot(ax=ax2, by="operation") is ax2
    assert [t.get_text() for t in ax2.get_yticklabels()] == list(rep.by_operation())
    with pytest.raises(ValueError, match="by must be"):
        rep.plot(by="colour")
    plt.close("all")


def test_plot_is_the_viz_figure():
    """EnergyReport.plot is a thin wrapper: the figure lives in mini_accel.viz."""
    from mini_accel import viz
    from mini_accel.viz_energy import plot_energy_report
    assert viz.plot_energy_report is plot_energy_report


def test_importing_the_modules_stays_light():
    code = ("import sys, mini_accel, mini_accel.energy, mini_accel.memory, mini_accel.traces, "
            "mini_accel.scratchpad; bad = [m for m in ('matplotlib', 'pandas', 'ipywidgets') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------- #
# Issue 13: precision= (dtype= deprecated), the registry, one table renderer
# --------------------------------------------------------------------------- #
def test_precision_argument_and_deprecated_dtype():
    by_name = EnergyModel.horowitz_45nm(precision="fp16")
    assert by_name.costs == EnergyModel.horowitz_45nm("fp16").costs
    assert EnergyModel.horowitz_45nm("float32").costs == EnergyModel.horowitz_45nm("fp32").costs
    with pytest.warns(DeprecationWarning, match="precision"):
        old = EnergyModel.horowitz_45nm(dtype="fp16")
    assert old.costs == by_name.costs and old.name == "45nm fp16"
    with pytest.raises(ValueError, match="precision must be one of"):
        EnergyModel.horowitz_45nm("bf16")
    with pytest.raises(TypeError, match="precision"):
        EnergyModel.horowitz_45nm(8)


def test_accumulators_come_from_the_format_registry():
    from mini_accel.energy import ACCUMULATORS
    from mini_accel.formats import FORMATS
    assert dict(ACCUMULATORS) == {"fp32": "fp32", "fp16": "fp32", "int32": "int32", "int8": "int32"}
    assert all(FORMATS[k].accumulator == v for k, v in ACCUMULATORS.items())
    with pytest.raises(TypeError):
        ACCUMULATORS["bf16"] = "fp32"


def test_report_renders_through_the_one_table():
    rep = EnergyModel.horowitz_45nm("int8").report(systolic=small_gemm())
    html = rep._repr_html_()
    assert html.startswith("<table>") and "<th>energy (pJ)</th>" in html
    assert html.count("<tr>") == len(rep.rows) + len(rep.by_level()) + 3   # head, blank, all
