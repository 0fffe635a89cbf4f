"""The device catalog and the simulator presets."""
import csv
from importlib import resources
from pathlib import Path

import pytest

from mini_accel import SystolicArray, systolic_cycles
from mini_accel.devices import (
    ARCHS,
    ERRATA,
    KINDS,
    PRECISIONS,
    PRESETS,
    find_devices,
    get_device,
    get_preset,
    load_devices,
)

CSV_ROWS = list(csv.DictReader(
    resources.files("mini_accel").joinpath("data", "devices.csv").open(encoding="utf-8")))
SHARED_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "devices.csv"


def test_every_row_has_a_source_a_status_and_known_categories():
    columns = set(CSV_ROWS[0])
    for r in CSV_ROWS:
        assert len(r["source"]) > 40, r["name"]
        assert r["status"], r["name"]
        assert r["kind"] in KINDS and r["arch"] in ARCHS, r["name"]
        assert r["mem_bw_unit"] in ("GB/s", "GiB/s")
        for f in filter(None, r["flagged"].split(";")):
            assert f in columns, (r["name"], f)
        # blanks stay blank: no number is written as 0
        for col in ("int8_tops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "tdp_w", "price_usd"):
            assert r[col] == "" or float(r[col]) > 0, (r["name"], col)


@pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="shared/reference/devices.csv not beside the repo")
def test_reference_values_are_kept_verbatim():
    ours = {r["name"]: r for r in CSV_ROWS}
    for ref in csv.DictReader(SHARED_REFERENCE.open(encoding="utf-8")):
        row = ours[ref["name"]]
        for col, value in ref.items():
            if (ref["name"], col) in ERRATA:   # a documented correction: the new value is what it says
                assert ERRATA[ref["name"], col][0] in row[col], (ref["name"], col)
            elif col != "kind":          # the reference mixes chip type and segment; split into kind + arch
                assert row[col] == value, (ref["name"], col)


def test_units_and_lookups():
    tpu = get_device("Google TPU v1")
    assert tpu.peak("int8") == 92e12 and tpu.bandwidth == 34e9 and tpu.tdp_w == 75
    assert get_device("tpu v1") is tpu                           # unique fragment, any case
    assert get_device("Inferentia (Inf1)").bandwidth == 50 * 2**30  # the docs give GiB/s
    assert get_device("K80 per die").peak("fp32") == 2.8e12
    with pytest.raises(KeyError, match="several devices"):
        get_device("Jetson")
    with pytest.raises(KeyError, match="no device matches"):
        get_device("Cerebras")
    with pytest.raises(TypeError):
        get_device(None)


def test_missing_numbers_are_never_guessed():
    a11 = get_device("A11")
    assert a11.peaks == {} and a11.unspecified_ops == 0.6e12 and a11.is_flagged("unspecified_tops")
    with pytest.raises(KeyError, match="no published int8 peak"):
        a11.peak("int8")
    edge_tpu = get_device("Edge TPU")
    assert edge_tpu.bandwidth is None
    with pytest.raises(KeyError, match="bandwidth"):
        edge_tpu.ridge_point("int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        edge_tpu.peak("int4")


def test_ridge_points_match_reference_data_derivations():
    # REFERENCE_DATA.md section 3, "Derived roofline ridge points (peak / DRAM bandwidth)"
    expected = {
        ("Google TPU v1", "int8"): 2706, ("A100", "int8"): 306, ("A100", "bf16"): 153,
        ("H100", "bf16"): 295, ("TPU v4", "bf16"): 229, ("TPU v5e", "bf16"): 241,
        ("Inferentia2", "bf16"): 216, ("Orin Nano 8GB", "int8"): 294,
    }
    for (name, prec), ridge in expected.items():
        assert round(get_device(name).ridge_point(prec)) == ridge, name


def test_queries():
    edge = find_devices(kind="edge")
    assert edge and all(d.kind == "edge" for d in edge)
    assert {d.arch for d in find_devices(kind="server")} == {"asic", "gpu", "cpu"}
    bf16 = find_devices(precision="bf16")
    assert all("bf16" in d.precisions for d in bf16) and get_device("A100") in bf16
    assert [d.name for d in find_devices(arch="fpga")] == ["AMD Kria K26 SOM with DPU B3136 (FPGA)"]
    assert all(d.vendor == "AWS" for d in find_devices(vendor="aws"))
    assert all(d.tdp_w is not None for d in find_devices(has_power=True))
    assert len(find_devices()) == len(load_devices()) == len(CSV_ROWS)
    for bad in (dict(kind="cloud"), dict(arch="tpu"), dict(precision="fp4")):
        with pytest.raises(ValueError):
            find_devices(**bad)


def test_precisions_come_from_the_format_registry_fastest_first():
    from mini_accel.formats import formats_supported_by
    assert set(PRECISIONS) == set(formats_supported_by("devices"))
    assert PRECISIONS == ("int8", "fp8", "fp16", "bf16", "tf32", "fp32")


def test_device_helpers():
    a100 = get_device("A100")
    assert a100.precisions == ("int8", "fp16", "bf16", "tf32", "fp32")
    assert a100.best_precision() == "int8"
    assert a100.ops_per_watt("int8") == 624e12 / 400
    assert set(a100.precisions) <= set(PRECISIONS)
    assert a100.roofline("bf16").ridge == a100.ridge_point("bf16")


def test_tpu_v1_preset_numbers_come_from_the_paper():
    p = get_preset("tpu_v1")
    assert (p.rows, p.cols, p.dataflow, p.clock_hz) == (256, 256, "ws", 700e6)
    assert p.accumulator_bytes == 4096 * 256 * 4          # 4096 accumulators x 256 x 32 bit
    assert p.activation_buffer_bytes == 24 * 2**20
    assert abs(p.peak_ops - 92e12) / 92e12 < 0.005        # Table 2 rounds 91.75 to 92
    # ridge in MACs per weight byte is the paper's 1350 (to its 3 significant figures)
    assert abs(p.ridge_point / 2 - 1350) < 5
    assert p.device().bandwidth == p.dram_bandwidth
    arr = p.systolic_array()
    assert isinstance(arr, SystolicArray) and (arr.rows, arr.cols, arr.double_buffer) == (256, 256, True)
    assert p.gemm_cycles(200, 2048, 2048) == systolic_cycles(200, 2048, 2048, 256, 256, "ws", True)
    assert {"rows/cols", "clock_hz", "dram_bandwidth", "accumulator_bytes"} <= set(p.sources)


def test_neuroncore_preset_is_consistent_with_its_sources():
    p = get_preset("neuroncore_v2")
    # NKI architecture guide: 128x128 PEs at 2.8 GHz, "92 TFLOPS" BF16
    assert abs(p.peak_ops - 92e12) / 92e12 < 0.005
    # two cores share the device's 820 GB/s
    assert 2 * p.dram_bandwidth == 820e9
    assert p.unpublished and all(isinstance(u, str) for u in p.unpublished)
    assert p.device().name == "AWS Inferentia2 (Inf2)"


def test_gemm_estimate_by_hand():
    p = get_preset("tpu_v1")
    est = p.gemm_estimate(200, 2048, 2048)
    # weights: 2048*2048 bytes / 34 GB/s = 123.4 us; compute: cycles / 700 MHz = 65.3 us
    assert est["weight_fetch_s"] == pytest.approx(2048 * 2048 / 34e9)
    assert est["compute_s"] == pytest.approx(systolic_cycles(200, 2048, 2048, 256, 256, "ws", True) / 700e6)
    assert est["bound"] == "memory" and est["fits_on_chip"]
    big = p.gemm_estimate(4096, 2048, 2048)
    assert big["bound"] == "compute"
    with pytest.raises(KeyError, match="unknown preset"):
        get_preset("tpu_v9")
    assert set(PRESETS) == {"tpu_v1", "neuroncore_v2"}


def test_errata_and_power_columns():
    # Every erratum names a real row and column, and its value is in the catalog.
    rows = {r["name"]: r for r in CSV_ROWS}
    for (name, col), (value, reason) in ERRATA.items():
        assert value in rows[name][col] and reason
    tpu = get_device("TPU v1")
    assert (tpu.tdp_w, tpu.busy_w, tpu.energy_power_w) == (75.0, 40.0, 40.0)   # Table 2: TDP vs measured busy
    a100 = get_device("A100 SXM4 80GB")
    assert a100.busy_w is None and a100.energy_power_w == a100.tdp_w
    assert get_device("AWS Inferentia2").onchip_mb == 52      # 2 x (24 MiB SBUF + 2 MiB PSUM)
