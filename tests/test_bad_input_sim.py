"""Bad input to the simulators (systolic array, address traces, caches, mappings, sparsity).

Issue 13's fuzzing classes, closed in the "sim" modules: truthy strings or 0/1
where a bool belongs, fractional or NaN sizes, unknown option strings,
addresses past the 2**56 bound, sizes too large to simulate (refused before any
allocation or long loop), and KeyError/AttributeError/IndexError leaking from
bad arguments. Every case must raise TypeError or ValueError naming the argument.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bad_bools, bad_ints, bad_numbers, bad_options, check_refused, huge_broadcast

from mini_accel import mapping_model as mm
from mini_accel.mapper import decode, encode, mapspace_size, search
from mini_accel.memory import MAX_ADDRESS, Cache, MemoryHierarchy
from mini_accel.sparsity import (
    density,
    expected_bits,
    magnitude_prune,
    nonzero_input_macs,
    prune_n_m,
    sparse_mapping_cost,
)
from mini_accel.sparsity import (
    encode as sparse_encode,
)
from mini_accel.systolic import (
    SystolicArray,
    systolic_cycles,
    systolic_folds,
    systolic_traffic,
)
from mini_accel.traces import gemm_trace, im2col_conv_trace, stream_trace, strided_trace, tiled_gemm_trace

FEW = settings(max_examples=12, deadline=None)
ARCH = mm.Architecture.eyeriss_like(num_pes=2)
LAYER = mm.ConvLayer(K=2, C=2)
MAPPING = mm.Mapping.from_factors(ARCH, LAYER, [{}, {"C": 2}], spatial={"K": 2})
RESULT = mm.evaluate(LAYER, ARCH, MAPPING)


def _l1():
    return MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])


# --------------------------------------------------------------------------- #
# Truthy strings and numbers where a bool belongs -> TypeError
# --------------------------------------------------------------------------- #
BOOL_CALLS = {
    "SystolicArray double_buffer": (lambda v: SystolicArray(2, 2, double_buffer=v), "double_buffer"),
    "systolic_cycles double_buffer": (lambda v: systolic_cycles(2, 2, 2, 2, 2, "ws", v), "double_buffer"),
    "gemm_trace keep_in_register": (lambda v: gemm_trace(2, 2, 2, keep_in_register=v), "keep_in_register"),
    "tiled_gemm_trace keep_in_register": (lambda v: tiled_gemm_trace(2, 2, 2, 1, 1, 1, keep_in_register=v),
                                          "keep_in_register"),
    "im2col_conv_trace keep_in_register": (lambda v: im2col_conv_trace(1, 3, 3, 1, 2, keep_in_register=v),
                                           "keep_in_register"),
    "strided_trace write": (lambda v: strided_trace(3, 64, write=v), "write"),
    "evaluate check": (lambda v: mm.evaluate(LAYER, ARCH, MAPPING, check=v), "check"),
    "search progress": (lambda v: search(LAYER, ARCH, "ws", progress=v), "progress"),
}


@pytest.mark.parametrize("case", sorted(BOOL_CALLS))
@FEW
@given(value=bad_bools)
def test_bools_refuse_truthy_things(case, value):
    call, name = BOOL_CALLS[case]
    exc = check_refused(lambda: call(value), name=name)
    assert isinstance(exc, TypeError), exc


# --------------------------------------------------------------------------- #
# Fractional, NaN, bool and string sizes -> TypeError / ValueError
# --------------------------------------------------------------------------- #
INT_CALLS = {
    "systolic_cycles M": (lambda v: systolic_cycles(v, 4, 4, 2, 2), "M"),
    "systolic_folds rows": (lambda v: systolic_folds(4, 4, 4, v, 2), "rows"),
    "systolic_traffic N": (lambda v: systolic_traffic(4, 4, v, 2, 2, "os"), "N"),
    "SystolicArray cols": (lambda v: SystolicArray(2, v), "cols"),
    "gemm_trace K": (lambda v: gemm_trace(2, v, 2), "K"),
    "stream_trace n_elems": (lambda v: stream_trace(v), "n_elems"),
    "strided_trace stride_bytes": (lambda v: strided_trace(3, v), "stride_bytes"),
    "Cache size_bytes": (lambda v: Cache("L1", v), "size_bytes"),
    "Cache line_bytes": (lambda v: Cache("L1", 1024, line_bytes=v), "line_bytes"),
    "ConvLayer K": (lambda v: mm.ConvLayer(K=v), "K"),
    "ConvLayer.gemm N": (lambda v: mm.ConvLayer.gemm(4, 4, v), "N"),
    "search samples": (lambda v: search(LAYER, ARCH, samples=v), "samples"),
    "prune_n_m m": (lambda v: prune_n_m(np.ones((8, 2)), 2, v), "m"),
    "encode value_bits": (lambda v: sparse_encode(np.eye(2), "csr", value_bits=v), "value_bits"),
    "expected_bits value_bits": (lambda v: expected_bits((4, 4), 0.5, "csr", value_bits=v), "value_bits"),
    "expected_bits shape": (lambda v: expected_bits((4, v), 0.5, "csr"), "shape[1]"),
}


@pytest.mark.parametrize("case", sorted(INT_CALLS))
@FEW
@given(value=bad_ints)
def test_sizes_refuse_non_ints(case, value):
    call, name = INT_CALLS[case]
    check_refused(lambda: call(value), name=name)


@FEW
@given(value=bad_numbers)
def test_fractions_refuse_non_numbers(value):
    check_refused(lambda: magnitude_prune(np.ones(4), value), name="sparsity")
    check_refused(lambda: sparse_mapping_cost(RESULT, ARCH, value), name="effectual_fraction")
    check_refused(lambda: expected_bits((4, 4), value, "csr"), name="density")


@given(st.floats(2.01, 2.99))
@FEW
def test_fractional_gemm_sizes(m):
    check_refused(lambda: mm.ConvLayer.gemm(m, 4, 4), name="M")
    check_refused(lambda: systolic_cycles(m, 4, 4, 2, 2), name="M")


# --------------------------------------------------------------------------- #
# Option strings
# --------------------------------------------------------------------------- #
OPTION_CALLS = {
    "SystolicArray dataflow": (lambda v: SystolicArray(2, 2, dataflow=v), "dataflow"),
    "SystolicArray overflow": (lambda v: SystolicArray(2, 2, overflow=v), "overflow"),
    "systolic_cycles dataflow": (lambda v: systolic_cycles(2, 2, 2, 2, 2, v), "dataflow"),
    "Cache policy": (lambda v: Cache("L1", 64, policy=v), "policy"),
    "Cache write_policy": (lambda v: Cache("L1", 64, write_policy=v), "write_policy"),
    "stream_trace kind": (lambda v: stream_trace(4, kind=v), "kind"),
    "gemm_trace order": (lambda v: gemm_trace(2, 2, 2, order=v), "order"),
    "search objective": (lambda v: search(LAYER, ARCH, objective=v), "objective"),
    "search dataflow": (lambda v: search(LAYER, ARCH, v), "dataflow"),
    "sparse encode fmt": (lambda v: sparse_encode(np.eye(2), v), "fmt"),
    "expected_bits fmt": (lambda v: expected_bits((4, 4), 0.5, v), "fmt"),
    "sparse_mapping_cost mode": (lambda v: sparse_mapping_cost(RESULT, ARCH, 0.5, v), "mode"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CALLS))
@FEW
@given(value=bad_options)
def test_options_refuse_unknown_strings(case, value):
    call, name = OPTION_CALLS[case]
    if value is None and case == "search dataflow":
        return                                   # None is search's "no dataflow"
    exc = check_refused(lambda: call(value), name=name)
    if isinstance(value, str):
        assert isinstance(exc, ValueError), exc
    else:
        assert isinstance(exc, TypeError), exc


# --------------------------------------------------------------------------- #
# Addresses and indices past their bound
# --------------------------------------------------------------------------- #
past = st.integers(MAX_ADDRESS, 2 ** 63 - 1)


@FEW
@given(address=past)
def test_addresses_past_the_bound(address):
    check_refused(lambda: _l1().run([0, address]), name="addresses")
    check_refused(lambda: _l1().run(np.array([address], dtype=np.uint64)), name="addresses")
    check_refused(lambda: strided_trace(2, 64, base=address), name="base")
    check_refused(lambda: stream_trace(4, base=address), name="base")
    check_refused(lambda: gemm_trace(2, 2, 2, bases=(0, 4096, address)), name="bases[C]")


@FEW
@given(size=st.integers(1, 2 ** 16 - 1))   # size + 1 stays within one access (MAX_ACCESS_BYTES)
def test_an_access_may_not_run_past_the_bound(size):
    check_refused(lambda: _l1().run([MAX_ADDRESS - 1], sizes=size + 1), name="addresses plus sizes")
    # traces whose LAST access would cross it, although the first is inside
    check_refused(lambda: strided_trace(3, MAX_ADDRESS // 2, base=size), name="strided_trace")
    check_refused(lambda: stream_trace(size + 2, elem_bytes=64, base=MAX_ADDRESS - 64 * size),
                  name="stream_trace")


@FEW
@given(extra=st.integers(0, 100))
def test_indices_past_their_bound(extra):
    tr = SystolicArray(2, 2).trace(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    check_refused(lambda: tr.frame(tr.cycles + extra), name="t")
    check_refused(lambda: tr.frame(-1 - extra), name="t")


# --------------------------------------------------------------------------- #
# Impossible sizes: refused before any allocation or long loop
# --------------------------------------------------------------------------- #
def test_huge_views_are_refused_before_any_copy():
    huge = huge_broadcast()
    check_refused(lambda: SystolicArray(4, 4).matmul(huge, np.ones((10 ** 6, 2))), name="A")
    check_refused(lambda: density(huge), name="x")
    check_refused(lambda: magnitude_prune(huge, 0.5), name="w")
    addresses = np.broadcast_to(np.int64(0), (10 ** 12,))
    check_refused(lambda: _l1().run(addresses), name="addresses")
    check_refused(lambda: _l1().run([0, 64], is_write=np.broadcast_to(True, (10 ** 12,))),
                  name="is_write")


def test_too_many_macs_are_refused_before_the_kernel():
    a = np.broadcast_to(np.int8(1), (4096, 4096))        # 2**36 MACs, small views
    check_refused(lambda: SystolicArray(4, 4).matmul(a, a), name="MACs")


@FEW
@given(st.integers(10 ** 12, 10 ** 18), st.sampled_from(["ws", "os", "is"]))
def test_closed_forms_take_any_size(m, dataflow):
    # counted without a list per tile (a list of 10**12 tiles would not fit in memory)
    t = systolic_traffic(m, 3, 5, 1, 1, dataflow)
    assert systolic_folds(m, 3, 5, 1, 1, dataflow) > 0 and t["out_writes"] >= m * 5


def test_long_searches_and_huge_traces_are_refused():
    check_refused(lambda: gemm_trace(10 ** 6, 10 ** 6, 10 ** 6), name="gemm_trace")
    check_refused(lambda: search(LAYER, ARCH, samples=10 ** 12), name="samples")
    check_refused(lambda: search(LAYER, ARCH, exhaustive_limit=10 ** 12), name="exhaustive_limit")
    check_refused(lambda: mm.ConvLayer(K=2 ** 40), name="K")
    # 9 distinct primes over 5 levels + the array: 6**9 splits of one loop
    levels = tuple(mm.Level(f"L{i}", None if i == 0 else 10 ** 6, 1.0) for i in range(5))
    deep = mm.Architecture(levels, num_pes=4, array_below=2)
    wide = mm.ConvLayer(K=2 * 3 * 5 * 7 * 11 * 13 * 17 * 19 * 23)
    check_refused(lambda: mapspace_size(wide, deep), name="loop K")


# --------------------------------------------------------------------------- #
# No KeyError / AttributeError / IndexError from a bad argument
# --------------------------------------------------------------------------- #
WRONG_KIND = [None, "L1", 3, 2.5, [1, 2], {"a": 1}]


@FEW
@given(value=st.sampled_from(WRONG_KIND))
def test_wrong_objects_name_the_argument(value):
    check_refused(lambda: encode(value, ARCH), name="mapping")
    check_refused(lambda: encode(MAPPING, value), name="arch")
    check_refused(lambda: sparse_mapping_cost(value, ARCH, 0.5), name="result")
    check_refused(lambda: nonzero_input_macs(value, np.ones((1, 1, 1, 1))), name="layer")
    if value is not None:                        # None is the Eyeriss table
        check_refused(lambda: mm.Architecture.eyeriss_like(energy=value), name="energy")
    check_refused(lambda: mm.evaluate(LAYER, value, MAPPING), name="arch")
    check_refused(lambda: MemoryHierarchy([Cache("L1", 64), value]), name="levels[1]")


def test_unknown_names_are_value_errors_naming_the_argument():
    h = _l1()
    stats = h.run([0, 16])
    for call, name in [(lambda: stats["L9"], "name"), (lambda: h.resident("L9"), "name"),
                       (lambda: h.dirty(3), "name"), (lambda: RESULT.accesses("L9"), "level"),
                       (lambda: RESULT.accesses("RF", "X"), "tensor")]:
        exc = check_refused(call, name=name)
        assert isinstance(exc, ValueError) and isinstance(exc, KeyError), exc   # UnknownName


def test_malformed_structures_name_the_argument():
    check_refused(lambda: mm.Mapping(5, (None,), {}, ("WIO",)), name="temporal")
    check_refused(lambda: mm.Mapping(({},), (None,), {}, (5,)), name="keep[0]")
    check_refused(lambda: mm.Mapping.from_factors(ARCH, LAYER, 7), name="temporal")
    check_refused(lambda: mm.Architecture(5, 2, 0), name="levels")
    check_refused(lambda: gemm_trace(2, 2, 2, bases={"A": 0}), name="bases")
    check_refused(lambda: gemm_trace(2, 2, 2, bases=7), name="bases")
    check_refused(lambda: expected_bits(5, 0.5, "csr"), name="shape")
    check_refused(lambda: expected_bits((4,), 0.5, "csr"), name="shape")
    check_refused(lambda: prune_n_m(np.ones((8, 2)), 2, 4, axis=True), name="axis")
    check_refused(lambda: prune_n_m(np.ones((8, 2)), 2, 4, axis=2), name="axis")
    factors, orders, keep = encode(MAPPING, ARCH)
    check_refused(lambda: decode(factors[0, :2], orders[0], keep), name="factors")
    check_refused(lambda: decode(factors[0], [[0, 1]], keep), name="factors")
    check_refused(lambda: decode(factors[0], orders[0], [[1]]), name="keep")
    check_refused(lambda: MAPPING.describe("arch"), name="arch")
