"""Bad input to the design group's public functions is refused with TypeError/ValueError naming the argument.

Modules: design (design_model, design_eval, design_budget, design_presets),
scratchpad, roofline, edge_server, devices. The classes of bad input are
issue 13's: truthy strings or 0/1 where a bool belongs, NaN or fractions where
an int belongs, sizes too large to allocate or loop over, and catalog
look-ups that leaked KeyError/AttributeError. Each test fails if the input
is accepted or raises anything else (``check_refused``).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bad_bools, bad_ints, bad_numbers, bad_options, check_refused, huge_broadcast

from mini_accel import design as dz
from mini_accel.devices import find_devices, get_device, get_preset, read_data_table
from mini_accel.edge_server import BatchModel, compare_targets, total_cost_of_ownership
from mini_accel.roofline import Roofline, attainable, gemm_intensity, network_intensity, tpu_paper_points
from mini_accel.scratchpad import Scratchpad, reload_factors

FAST = settings(max_examples=25, deadline=None)
KIB = 1024
_TOY = dict(name="toy", rows=8, cols=8, dataflow="ws", precision="int8", clock_hz=5e8,
            dram_bandwidth=1e10, input_buffer_bytes=16 * KIB, weight_buffer_bytes=16 * KIB,
            output_buffer_bytes=16 * KIB)


def _toy(**changes):
    return dz.Design(**{**_TOY, **changes})


# --------------------------------------------------------------------------- #
# Bools: truthy strings and numbers are TypeErrors
# --------------------------------------------------------------------------- #
@FAST
@given(bad_bools)
def test_bools_refuse_truthy_things(value):
    check_refused(lambda: _toy(double_buffer=value), name="double_buffer")
    check_refused(lambda: Scratchpad(64, 64, 64, double_buffer=value), name="double_buffer")
    check_refused(lambda: Scratchpad(64, 64, 64).gemm(8, 8, 8, 4, 4, 4, require_fit=value),
                  name="require_fit")
    check_refused(lambda: dz.best_tiling(8, 8, 8, (64, 64, 64), double_buffer=value),
                  name="double_buffer")
    check_refused(lambda: gemm_intensity(8, 8, 8, weights_only=value), name="weights_only")
    check_refused(lambda: network_intensity("mobilenet_v2", weights_only=value), name="weights_only")
    if value is not None:      # None means "no filter" there
        check_refused(lambda: find_devices(has_power=value), name="has_power")


# --------------------------------------------------------------------------- #
# Ints: fractions, bools, NaN and strings are refused (never rounded)
# --------------------------------------------------------------------------- #
@FAST
@given(bad_ints, st.sampled_from(["rows", "cols", "input_buffer_bytes", "weight_buffer_bytes",
                                  "output_buffer_bytes"]))
def test_design_sizes_must_be_ints(value, field):
    check_refused(lambda: _toy(**{field: value}), name=field)


@FAST
@given(bad_ints, st.sampled_from([0, 1, 2]))
def test_gemm_sizes_must_be_ints(value, where):
    dims = [8, 8, 8]
    dims[where] = value
    name = "MKN"[where]
    # the class: gemm_intensity(2.5, ...) used to round to 2
    check_refused(lambda: gemm_intensity(*dims), name=name)
    check_refused(lambda: Scratchpad(64, 64, 64).gemm(*dims, 4, 4, 4), name=name)
    check_refused(lambda: dz.best_tiling(*dims, (64, 64, 64)), name=name)
    check_refused(lambda: dz.evaluate(_toy(), [tuple(dims)]))


@FAST
@given(bad_ints)
def test_batches_and_counts_must_be_ints(value):
    if value is not None:       # None means the default there
        check_refused(lambda: dz.evaluate(_toy(), "mobilenet_v2", value), name="batch")
        check_refused(lambda: dz.evaluate(_toy(), [(8, 8, 8)], value), name="batch")
        check_refused(lambda: dz.hop_energy_pj("int8", bits=value), name="bits")
    check_refused(lambda: reload_factors({"m": value, "n": 2, "k": 2}, "mnk"), name="trips")
    m = BatchModel("toy", 2e9, 1e8, 1e12, 1e10)
    # a whole float (1e300) and a list of ints are batches the model accepts (arrays work)
    if not isinstance(value, list) and not (isinstance(value, float) and value.is_integer()):
        check_refused(lambda: m.latency(value), name="batch")
    check_refused(lambda: m.max_batch(1.0, limit=value), name="limit")


# --------------------------------------------------------------------------- #
# Numbers: NaN, inf, strings and containers are refused
# --------------------------------------------------------------------------- #
@FAST
@given(bad_numbers, st.sampled_from(["clock_hz", "dram_bandwidth", "sram_array_efficiency"]))
def test_design_numbers(value, field):
    if value is None and field == "sram_array_efficiency":
        return                  # None means the table's default there
    check_refused(lambda: _toy(**{field: value}), name=field)


@FAST
@given(bad_numbers)
def test_numbers_everywhere(value):
    if value is not None:       # None means "no limit" / "the default" there
        check_refused(lambda: dz.Budget("b", max_power_w=value), name="max_power_w")
        check_refused(lambda: dz.PriceModel(fixed_usd=value), name="fixed_usd")
    check_refused(lambda: dz.PriceModel().price(value), name="area_mm2")
    check_refused(lambda: Roofline("r", value, 1e9), name="peak")
    check_refused(lambda: BatchModel("m", 1e9, value, 1e12, 1e10), name="weight_bytes")
    check_refused(lambda: total_cost_of_ownership(100, 10, pue=value), name="pue")
    r = Scratchpad(64, 64, 64).gemm(8, 8, 8, 4, 4, 4)
    check_refused(lambda: r.estimate_cycles(value, 1.0), name="dram_words_per_cycle")


# --------------------------------------------------------------------------- #
# Options: one of a fixed set of strings
# --------------------------------------------------------------------------- #
@FAST
@given(bad_options)
def test_option_strings(value):
    check_refused(lambda: _toy(dataflow=value), name="dataflow")
    check_refused(lambda: _toy(precision=value), name="precision")
    check_refused(lambda: dz.mac_cost(value), name="precision")
    check_refused(lambda: dz.evaluate(_toy(), [(8, 8, 8)], activations=value), name="activations")
    check_refused(lambda: Scratchpad(64, 64, 64).gemm(8, 8, 8, 4, 4, 4, order=value), name="order")
    if value is not None:       # None means "no filter" there
        check_refused(lambda: find_devices(kind=value), name="kind")
        check_refused(lambda: find_devices(arch=value), name="arch")
        check_refused(lambda: find_devices(precision=value), name="precision")
    check_refused(lambda: get_device("TPU v1").peak(value), name="precision")
    check_refused(lambda: BatchModel.from_workload("mobilenet_v2", "tpu_v1", activations=value),
                  name="activations")
    check_refused(lambda: tpu_paper_points(value), name="platform")


def test_formats_the_module_does_not_model_are_refused_by_name():
    # in the registry, but not supported by design / devices
    check_refused(lambda: dz.mac_cost("int4"), name="precision")
    check_refused(lambda: dz.mac_cost("tf32"), name="precision")
    check_refused(lambda: _toy(precision="fp8"), name="precision")
    check_refused(lambda: get_device("TPU v1").peak("int16"), name="precision")
    # aliases of supported formats are accepted
    assert _toy(precision="bfloat16").precision == "bf16"
    assert get_device("A100").peak("BFloat16") == get_device("A100").peak("bf16")


# --------------------------------------------------------------------------- #
# Catalog look-ups: a ValueError (UnknownName, still a KeyError), never a bare KeyError
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("call, name", [
    (lambda: dz.reference_design("cloud"), "cloud"),
    (lambda: dz.reference_budget("cloud"), "cloud"),
    (lambda: dz.reference_workload("cloud"), "cloud"),
    (lambda: get_device("no such chip"), "no such chip"),
    (lambda: get_preset("tpu_v9"), "tpu_v9"),
    (lambda: get_device("Edge TPU").ridge_point("int8"), "bandwidth"),
    (lambda: get_device("TPU v1").peak("fp32"), "fp32"),
    (lambda: tpu_paper_points("P40"), "platform"),
    (lambda: BatchModel.from_workload("mobilenet_v2", "no such chip"), "no such chip"),
])
def test_unknown_names_are_value_errors_and_key_errors(call, name):
    exc = check_refused(call, name=name, kinds=(ValueError,))
    assert isinstance(exc, KeyError)


@pytest.mark.parametrize("call, name", [
    (lambda: dz.reference_design(3), "name"),
    (lambda: get_device(None), "name"),
    (lambda: get_preset(["tpu_v1"]), "name"),
    (lambda: find_devices(vendor=3), "vendor"),
    (lambda: dz.evaluate(_toy(), [(8, 8, 8)], price_model="cheap"), "price_model"),
    (lambda: dz.Design.from_preset(3, weight_buffer_bytes=1024), "preset"),
    (lambda: _toy().replace(clock=1e9), "clock"),
    (lambda: Roofline.from_device("A100"), "device"),
    (lambda: Roofline.from_preset("tpu_v1"), "preset"),
    (lambda: compare_targets("mobilenet_v2", "Edge TPU"), "targets"),
    (lambda: reload_factors({"m": 2}, "mnk"), "trips"),
    (lambda: dz.best_tiling(8, 8, 8, 64), "words"),
    (lambda: list(dz.single_changes(dz.reference_design("edge"), {"rows": 16})), "grid['rows']"),
    (lambda: dz.evaluate(_toy(), [(8, 8, 8)], years="5"), "years"),
])
def test_wrong_kinds_are_type_errors_not_attribute_errors(call, name):
    check_refused(call, name=name, kinds=(TypeError,))


# --------------------------------------------------------------------------- #
# Impossible sizes: refused before any allocation or long loop
# --------------------------------------------------------------------------- #
def test_huge_inputs_are_refused_before_allocation():
    view = huge_broadcast()
    check_refused(lambda: BatchModel("toy", 2e9, 1e8, 1e12, 1e10).latency(view), name="batch",
                  kinds=(ValueError,))
    check_refused(lambda: attainable(view, 1e12, 1e10), name="intensity", kinds=(ValueError,))
    check_refused(lambda: Roofline("r", 1e12, 1e10).attainable(view), name="intensity",
                  kinds=(ValueError,))
    big = 2 ** 40
    check_refused(lambda: dz.evaluate(_toy(), [(big, big, big)]), name="workload[0]",
                  kinds=(ValueError,))
    check_refused(lambda: dz.best_tiling(big, 8, 8, (64, 64, 64)), name="M", kinds=(ValueError,))
    check_refused(lambda: _toy(rows=10 ** 9), name="rows", kinds=(ValueError,))
    check_refused(lambda: _toy(input_buffer_bytes=2 ** 60), name="input_buffer_bytes",
                  kinds=(ValueError,))


def test_large_but_possible_gemms_still_evaluate_quickly():
    # the closed forms do not loop over elements: a 2**20-sided GEMM is fine
    side = 2 ** 20
    ev = dz.evaluate(_toy(), [(side, side, side)])
    assert ev.macs == side ** 3 and ev.layers[0].bound in ("compute", "memory")
    assert np.isfinite(ev.energy_j)


def test_read_data_table_is_a_thin_wrapper_over_the_one_loader():
    names = read_data_table("devices.csv", lambda r: r["name"])
    assert names[0] == "Google TPU v1" and len(names) == len(find_devices())
    check_refused(lambda: read_data_table("nope.csv", dict), name="filename", kinds=(ValueError,))
