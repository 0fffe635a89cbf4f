"""Number formats: ranges, rounding (RNE and truncation), bit-level views.

Independent oracles: numpy's float16/float32 casts and finfo, PyTorch's
bfloat16 (when installed), the c10 and TensorFlow bit tricks and an exact
rational-arithmetic rounding (tests/reference_quant.py), and hand cases.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_quant import (
    bf16_bits_c10,
    bf16_bits_truncate,
    round_exact,
    tf32_bits_round,
)

from mini_accel.formats import (
    FLOAT_FORMATS,
    bit_fields,
    bit_string,
    decode,
    encode,
    format_info,
    int_range,
    round_to_format,
    to_bf16,
    to_fp16,
    to_tf32,
)


def _random_float32(n, seed=0):
    """Random float32 bit patterns (all exponents, subnormals, inf, NaN)."""
    bits = np.random.default_rng(seed).integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    return bits.view(np.float32)


def _same(a, b):
    """Equal as floats, NaN equal to NaN, and the sign of zero must agree."""
    with np.errstate(invalid="ignore"):        # signalling NaNs are still NaN
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    eq = (a == b) & (np.signbit(a) == np.signbit(b))
    return bool(np.all(both_nan | eq))


# --------------------------------------------------------------------------- #
# format_info
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name, np_type", [("fp16", np.float16), ("fp32", np.float32)])
def test_format_info_matches_numpy_finfo(name, np_type):
    info, fi = format_info(name), np.finfo(np_type)
    assert info.max == float(fi.max) and info.min == float(fi.min)
    assert info.smallest_normal == float(fi.smallest_normal)
    assert info.smallest_subnormal == float(fi.smallest_subnormal)
    assert info.epsilon == float(fi.eps)
    assert info.mantissa_bits == fi.nmant and info.exponent_bits == fi.nexp


def test_fp16_numbers_from_the_reference_data():
    # Micikevicius et al. 2018 Sec. 3.2 / Migacz slides: max 65504, min normal 2**-14
    # ~ 6.1e-5, min subnormal 2**-24 ~ 5.96e-8.
    info = format_info("float16")
    assert info.max == 65504.0
    assert info.smallest_normal == 2.0 ** -14 and round(info.smallest_normal, 6) == 6.1e-05
    assert info.smallest_subnormal == 2.0 ** -24 and round(info.smallest_subnormal * 1e8, 2) == 5.96
    assert info.bytes == 2


def test_bf16_and_tf32_by_hand():
    bf = format_info("bfloat16")
    # 1 sign + 8 exponent + 7 mantissa: FP32's exponent range, eps 2**-7
    assert (bf.exponent_bits, bf.mantissa_bits, bf.bias) == (8, 7, 127)
    assert bf.max == (2 - 2 ** -7) * 2.0 ** 127
    assert bf.smallest_normal == format_info("fp32").smallest_normal == 2.0 ** -126
    assert bf.smallest_subnormal == 2.0 ** -133
    assert bf.epsilon == 2.0 ** -7
    tf = format_info("tf32")
    assert (tf.exponent_bits, tf.mantissa_bits, tf.bits, tf.bytes) == (8, 10, 19, 4)
    assert tf.max == (2 - 2 ** -10) * 2.0 ** 127 and tf.epsilon == 2.0 ** -10


def test_bf16_info_matches_torch():
    torch = pytest.importorskip("torch")
    fi, info = torch.finfo(torch.bfloat16), format_info("bf16")
    assert info.max == fi.max and info.smallest_normal == fi.smallest_normal
    assert info.epsilon == fi.eps


@pytest.mark.parametrize("name, lo, hi", [
    ("int8", -128, 127), ("uint8", 0, 255), ("int4", -8, 7), ("uint4", 0, 15),
    ("int16", -32768, 32767), ("int32", -(2 ** 31), 2 ** 31 - 1),
])
def test_integer_formats(name, lo, hi):
    info = format_info(name)
    assert (info.min, info.max, info.kind, info.epsilon) == (lo, hi, "int", 1.0)
    assert info.smallest_normal is None and info.mantissa_bits is None
    if name in ("int8", "uint8", "int16", "int32"):
        ii = np.iinfo(name)
        assert (ii.min, ii.max) == (lo, hi)


def test_int_range_narrow_and_errors():
    assert int_range(8, narrow=True) == (-127, 127)
    assert int_range(2) == (-2, 1) and int_range(2, signed=False) == (0, 3)
    with pytest.raises(ValueError, match="narrow"):
        int_range(8, signed=False, narrow=True)
    with pytest.raises(ValueError, match="bits"):
        int_range(0)
    with pytest.raises(TypeError, match="bits"):
        int_range(8.0)


def test_unknown_format_and_bad_arguments():
    with pytest.raises(ValueError, match="precision must be one of .*got 'fp12'"):
        format_info("fp12")
    with pytest.raises(TypeError, match="precision"):
        format_info(16)
    with pytest.raises(ValueError, match="integer format"):
        round_to_format([1.0], "int8")
    with pytest.raises(ValueError, match="rounding"):
        round_to_format([1.0], "bf16", rounding="up")
    with pytest.raises(TypeError, match="real numbers"):
        round_to_format(["a"], "fp16")
    with pytest.raises(TypeError, match="flush_subnormals"):
        round_to_format([1.0], "bf16", flush_subnormals="yes")


# --------------------------------------------------------------------------- #
# FP16 against numpy
# --------------------------------------------------------------------------- #
def test_fp16_every_representable_value_round_trips():
    values = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
    assert _same(to_fp16(values.astype(np.float32)), values)


def test_fp16_every_tie_and_its_neighbours_match_numpy():
    # The midpoint between two consecutive positive fp16 values is a tie;
    # numpy's float64 -> float16 cast rounds it to the even neighbour.
    finite = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    mids = (finite[:-1] + finite[1:]) / 2
    probes = np.concatenate([mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf)])
    probes = np.concatenate([probes, -probes])
    assert _same(to_fp16(probes), probes.astype(np.float16))


def test_fp16_random_float32_and_float64_match_numpy():
    x32 = _random_float32(300_000, seed=1)
    with np.errstate(over="ignore", invalid="ignore"):
        assert _same(to_fp16(x32), x32.astype(np.float16))
    rng = np.random.default_rng(2)
    x64 = rng.standard_normal(200_000) * np.exp2(rng.uniform(-30, 18, 200_000))
    with np.errstate(over="ignore"):
        assert _same(to_fp16(x64), x64.astype(np.float16))


def test_fp16_hand_cases():
    got = to_fp16([65504.0, 65519.0, 65520.0, -70000.0, 2.0 ** -25, 1.5 * 2.0 ** -25,
                   3 * 2.0 ** -26, -0.0, np.inf, np.nan]).astype(np.float64)
    # 65520 is the tie above 65504 (odd mantissa) -> inf; 2**-25 is half the smallest
    # subnormal -> ties to even 0; 1.5 * 2**-25 and 3 * 2**-26 are above half -> 2**-24.
    expected = [65504.0, 65504.0, np.inf, -np.inf, 0.0, 2.0 ** -24, 2.0 ** -24, -0.0, np.inf, np.nan]
    assert _same(got, expected)


def test_fp32_rounding_from_float64_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(200_000) * np.exp2(rng.uniform(-160, 130, 200_000))
    with np.errstate(over="ignore"):
        assert _same(round_to_format(x, "fp32"), x.astype(np.float32))


# --------------------------------------------------------------------------- #
# BF16 and TF32 against bit tricks, torch and hand cases
# --------------------------------------------------------------------------- #
def test_bf16_rne_matches_c10_bit_trick():
    x = _random_float32(400_000, seed=4)
    x = x[~np.isnan(x)]
    assert np.array_equal(encode(x, "bf16"), bf16_bits_c10(x))


def test_bf16_truncation_keeps_the_upper_16_bits():
    x = _random_float32(400_000, seed=5)
    x = x[~np.isnan(x)]
    assert np.array_equal(encode(x, "bf16", rounding="truncate"), bf16_bits_truncate(x))


def test_bf16_matches_torch():
    torch = pytest.importorskip("torch")
    x = _random_float32(400_000, seed=6)
    ours = to_bf16(x)
    theirs = torch.from_numpy(x.copy()).to(torch.bfloat16).float().numpy()
    assert _same(ours, theirs)


def test_bf16_hand_cases():
    one = 1.0
    cases = {
        one + 2 ** -8: 1.0,                        # tie between 1 and 1 + 2**-7 -> even (1.0)
        one + 3 * 2 ** -8: 1 + 2 ** -6,            # tie between odd 1+2**-7 and even 1+2**-6
        one + 2 ** -8 + 2 ** -20: 1 + 2 ** -7,     # just above the tie -> up
        -(one + 2 ** -8): -1.0,
        (2 - 2 ** -7) * 2.0 ** 127: (2 - 2 ** -7) * 2.0 ** 127,   # bf16 max stays
        float(np.finfo(np.float32).max): math.inf,                # above max + half ulp -> inf
        (2 - 2 ** -8) * 2.0 ** 127: math.inf,                     # the tie above max -> inf
        2.0 ** -133: 2.0 ** -133,                  # smallest bf16 subnormal is kept
        2.0 ** -134: 0.0,                          # half of it: tie -> even (0)
        3 * 2.0 ** -135: 2.0 ** -133,              # above the half -> up
    }
    got = to_bf16(np.array(list(cases), dtype=np.float64)).astype(np.float64)
    assert _same(got, list(cases.values()))
    assert np.isnan(to_bf16([np.nan])[0]) and to_bf16([-np.inf])[0] == -np.inf


def test_bf16_truncation_and_flush_hand_cases():
    x = [1 + 2 ** -8, 1 + 2 ** -7 + 2 ** -8 + 2 ** -9, -(1 + 2 ** -8), 3.0e38]
    got = to_bf16(x, rounding="truncate").astype(np.float64)
    assert _same(got, [1.0, 1 + 2 ** -7, -1.0, float(to_bf16([3.0e38], "truncate")[0])])
    assert got[3] <= 3.0e38     # truncation never rounds up, never overflows
    assert to_bf16([1e39], rounding="truncate")[0] == format_info("bf16").max
    # Cloud TPU flushes subnormals: 2**-130 is a bf16 subnormal (below 2**-126)
    assert to_bf16([2.0 ** -130])[0] == 2.0 ** -130
    flushed = to_bf16([2.0 ** -130, -(2.0 ** -130), 2.0 ** -126], flush_subnormals=True)
    assert _same(flushed, [0.0, -0.0, 2.0 ** -126])


def test_tf32_matches_bit_trick_and_tf_docs_example():
    x = _random_float32(400_000, seed=7)
    x = x[~np.isnan(x)]
    assert _same(to_tf32(x), tf32_bits_round(x))
    # TensorFlow docs: 1.0001 in TF32 -> 1.0 (10-bit mantissa; 1.0001 - 1 < 2**-11).
    assert to_tf32([1.0001])[0] == 1.0
    assert to_tf32([1 + 2 ** -10 + 2 ** -12], rounding="truncate")[0] == 1 + 2 ** -10


@settings(max_examples=300, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False, width=64),
       fmt=st.sampled_from(sorted(FLOAT_FORMATS)),
       rounding=st.sampled_from(["nearest_even", "truncate"]))
def test_rounding_equals_exact_rational_reference(x, fmt, rounding):
    e, m = FLOAT_FORMATS[fmt]
    got = float(round_to_format(np.array([x]), fmt, rounding)[0])
    assert _same([got], [round_exact(x, e, m, rounding)])


@settings(max_examples=200, deadline=None)
@given(x=st.floats(min_value=-6e4, max_value=6e4, allow_nan=False))
def test_fp16_is_the_nearest_value(x):
    r = float(to_fp16([x])[0])
    up = float(np.nextafter(np.float16(r), np.float16(np.inf)))
    down = float(np.nextafter(np.float16(r), np.float16(-np.inf)))
    assert abs(x - r) <= abs(x - up) and abs(x - r) <= abs(x - down)


# --------------------------------------------------------------------------- #
# Bit-level views
# --------------------------------------------------------------------------- #
def test_encode_fp16_equals_numpy_bits_and_decode_inverts():
    codes = np.arange(2 ** 16, dtype=np.uint16)
    values = codes.view(np.float16)
    finite_or_inf = ~np.isnan(values)
    assert np.array_equal(encode(values.astype(np.float32), "fp16")[finite_or_inf], codes[finite_or_inf])
    assert _same(decode(codes, "fp16"), values)
    assert np.all(encode([np.nan, -np.nan], "fp16") == 0x7E00)


def test_encode_bf16_equals_torch_bits():
    torch = pytest.importorskip("torch")
    x = _random_float32(100_000, seed=8)
    x = x[~np.isnan(x)]
    theirs = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(encode(x, "bf16"), theirs)
    assert encode([np.nan], "bf16")[0] == 0x7FC0       # c10's canonical NaN


def test_decode_all_bf16_codes_equals_upper_half_of_float32():
    codes = np.arange(2 ** 16, dtype=np.uint32)
    as_f32 = (codes << 16).astype(np.uint32).view(np.float32)   # bf16 -> fp32 pads zeros
    assert _same(decode(codes, "bf16"), as_f32)


def test_bit_fields_and_strings_by_hand():
    # -2.5 = -1.25 * 2**1: sign 1, exponent 1 + 15 = 16, fraction .25 * 2**10 = 256
    assert bit_string(-2.5, "fp16") == "1 10000 0100000000"
    assert bit_string(1.0, "fp32") == "0 01111111 " + "0" * 23
    assert bit_string(2.0 ** -24, "fp16") == "0 00000 0000000001"    # smallest subnormal
    assert bit_string(np.inf, "bf16") == "0 11111111 0000000"
    f = bit_fields([-6.0, 0.15625], "bf16")      # -1.5 * 2**2; 1.25 * 2**-3
    assert f["sign"].tolist() == [1, 0]
    assert (f["exponent"] - f["bias"]).astype(int).tolist() == [2, -3]
    assert f["mantissa"].tolist() == [64, 32]
    assert bit_string(-3, "int4") == "1101" and bit_string(7, "int4") == "0111"
    assert bit_string(-128, "int8") == "10000000" and bit_string(200, "uint8") == "11001000"
    assert bit_string(300, "uint8") == "11111111"          # saturates
    with pytest.raises(ValueError, match="one number"):
        bit_string([1.0, 2.0], "fp16")


def test_decode_rejects_bad_codes():
    with pytest.raises(ValueError, match="2\\*\\*16"):
        decode([70000], "fp16")
    with pytest.raises(TypeError, match="integers"):
        decode([1.5], "fp16")
