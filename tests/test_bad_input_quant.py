"""Bad input to the quantization group (formats, quantizers, calibration, requant, ptq,
mixed precision, analog) is refused with a TypeError or ValueError naming the argument.

One test per class of issue 13's fuzzing: truthy strings where a bool belongs, NaN or
fractions where an int belongs (NaN in the bit views of integer formats among them),
non-numbers where a number belongs, unknown option strings, impossible sizes (refused
before any allocation or long loop), and the wrong kind of object (no KeyError or
AttributeError leaking out).
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bad_bools, bad_ints, bad_numbers, bad_options, check_refused, huge_broadcast

from mini_accel import analog, calibration, formats, mixed_precision, ptq, quantizers, requant
from mini_accel.nn import Dense, ReLU, Sequential
from mini_accel.quantizers import QParams

FAST = settings(max_examples=25, deadline=None)
QP = QParams(scale=0.5, zero_point=0, qmin=-128, qmax=127)
INT_FORMATS = tuple(formats.INT_FORMATS)


def _model():
    return Sequential([Dense(4, 3, rng=0), ReLU(), Dense(3, 2, rng=1)])


# --------------------------------------------------------------------------- #
# Truthy strings, numbers and None where a bool belongs -> TypeError
# --------------------------------------------------------------------------- #
BOOL_CALLS = {
    "signed": lambda v: quantizers.qrange(8, signed=v),
    "reduce_range": lambda v: quantizers.qrange(8, reduce_range=v),
    "narrow": lambda v: formats.int_range(8, narrow=v),
    "symmetric": lambda v: quantizers.qparams_from_range(-1.0, 1.0, symmetric=v),
    "flush_subnormals": lambda v: formats.round_to_format([1.0], "bf16", flush_subnormals=v),
    "unsigned": lambda v: calibration.entropy_amax([1.0, 2.0], unsigned=v, num_bins=16, start_bin=8),
    "relu": lambda v: requant.requantize(np.array([1]), 2 ** 30, 0, relu=v),
    "per_channel": lambda v: requant.IntegerLinear.from_float(np.ones((2, 2)), None, QP, QP,
                                                              per_channel=v),
    "found_inf": lambda v: mixed_precision.DynamicLossScaler().update(v),
}


@FAST
@given(arg=st.sampled_from(sorted(BOOL_CALLS)), value=bad_bools)
def test_truthy_values_are_not_bools(arg, value):
    exc = check_refused(lambda: BOOL_CALLS[arg](value), name=arg)
    assert isinstance(exc, TypeError)


def test_int_range_signed_string_was_accepted_before():
    # int_range(8, signed="no") used to give the signed range, "no" being truthy
    check_refused(lambda: formats.int_range(8, signed="no"), name="signed", kinds=(TypeError,))


# --------------------------------------------------------------------------- #
# NaN, fractions, bools and strings where an int belongs
# --------------------------------------------------------------------------- #
INT_CALLS = {
    "bits": lambda v: quantizers.qrange(v),
    "weight_bits": lambda v: requant.IntegerLinear.from_float(np.ones((2, 2)), None, QP, QP,
                                                              weight_bits=v),
    "num_bins": lambda v: calibration.abs_histogram([1.0, 2.0], num_bins=v),
    "num_candidates": lambda v: calibration.mse_range([1.0, 2.0], num_candidates=v),
    "num_levels": lambda v: calibration.expand_merged_bins([1.0, 2.0], v),
    "ch_axis": lambda v: quantizers.qparams_minmax(np.ones((2, 2)), "qint8", "per_channel_affine",
                                                   ch_axis=v),
    "quant_min": lambda v: quantizers.qparams_from_range(0.0, 1.0, quant_min=v, quant_max=3),
    "zero_point": lambda v: requant.requantize(np.array([1]), 2 ** 30, 0, zero_point=v),
    "a_zero_point": lambda v: requant.integer_matmul(np.ones((1, 1), np.int8), np.ones((1, 1), np.int8),
                                                     a_zero_point=v),
    "adc_bits": lambda v: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), adc_bits=v),
    "repeats": lambda v: analog.analog_accuracy(_model(), np.ones((2, 4)), [0, 1], repeats=v),
    "steps": lambda v: mixed_precision.master_weights_demo(1.0, 1e-4, v),
    "trials": lambda v: mixed_precision.accumulation_error((4,), trials=v),
    "k_values": lambda v: mixed_precision.accumulation_error((v,), trials=1),
    "n_calib": lambda v: ptq.ptq_report(n_calib=v, bits=(8,), methods=("minmax",), epochs=1),
}


@FAST
@given(arg=st.sampled_from(sorted(INT_CALLS)), value=bad_ints)
def test_non_ints_are_refused(arg, value):
    if arg in ("adc_bits",) and value is None:
        return                                  # None means "no ADC" there
    check_refused(lambda: INT_CALLS[arg](value), name=arg)


@FAST
@given(precision=st.sampled_from(INT_FORMATS),
       value=st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.5, -2.5, 1e-9]),
       view=st.sampled_from(["bit_fields", "bit_string"]))
def test_int_bit_views_refuse_nan_inf_and_fractions(precision, value, view):
    fn = getattr(formats, view)
    exc = check_refused(lambda: fn(value, precision), name="x")
    assert isinstance(exc, ValueError)
    check_refused(lambda: fn(np.array([1.0, value]), precision) if view == "bit_fields" else fn(value, precision),
                  name="x")


@FAST
@given(precision=st.sampled_from(INT_FORMATS), value=st.integers(-300, 300))
def test_int_bit_views_take_whole_numbers_and_saturate(precision, value):
    bits, signed = formats.INT_FORMATS[precision]
    lo, hi = formats.int_range(bits, signed)
    text = formats.bit_string(float(value), precision)
    assert len(text) == bits
    assert int(text, 2) == min(max(value, lo), hi) % 2 ** bits


@pytest.mark.parametrize("precision", INT_FORMATS)
@pytest.mark.parametrize("value", [float("nan"), 2.5, 3.0])
def test_encode_of_an_int_format_is_a_value_error(precision, value):
    check_refused(lambda: formats.encode(value, precision), name="precision", kinds=(ValueError,))


# --------------------------------------------------------------------------- #
# Non-numbers where a number belongs
# --------------------------------------------------------------------------- #
NUMBER_CALLS = {
    "percentile": lambda v: calibration.percentile_range([1.0, 2.0], v),
    "eps": lambda v: quantizers.qparams_from_range(0.0, 1.0, eps=v),
    "loss_scale": lambda v: mixed_precision.fp16_underflow([1e-3], loss_scale=v),
    "lr": lambda v: mixed_precision.train_regression("fp32", steps=1, lr=v),
    "init_scale": lambda v: mixed_precision.DynamicLossScaler(init_scale=v),
    "prog_noise": lambda v: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), prog_noise=v),
    "read_noise": lambda v: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), read_noise=v),
    "adc_range": lambda v: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), adc_bits=4,
                                                adc_range=v),
    "weight": lambda v: mixed_precision.master_weights_demo(v, 1e-4, 2),
}


@FAST
@given(arg=st.sampled_from(sorted(NUMBER_CALLS)), value=bad_numbers)
def test_non_numbers_are_refused(arg, value):
    if arg == "adc_range" and value is None:
        return                                  # None means aihwkit's default range
    check_refused(lambda: NUMBER_CALLS[arg](value), name=arg)


# --------------------------------------------------------------------------- #
# Option strings (and number-format names)
# --------------------------------------------------------------------------- #
OPTION_CALLS = {
    "precision": lambda v: formats.round_to_format([1.0], v),
    "rounding": lambda v: formats.round_to_format([1.0], "bf16", rounding=v),
    "method": lambda v: calibration.calibrate([1.0, 2.0], v),
    "mode": lambda v: calibration.minmax_range([1.0, 2.0], v),
    "qscheme": lambda v: quantizers.qparams_minmax([1.0, 2.0], "quint8", v),
    "dtype": lambda v: quantizers.qparams_minmax([1.0, 2.0], v),
    "overflow": lambda v: requant.quantize_bias([0.5], 0.1, 0.1, overflow=v),
    "accumulate": lambda v: mixed_precision.matmul_fp16([[1.0]], [[1.0]], v),
    "noise_model": lambda v: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), noise_model=v),
    "weight_method": lambda v: ptq.quantize_mlp(_model(), np.ones((4, 4)), weight_method=v),
}


@FAST
@given(arg=st.sampled_from(sorted(OPTION_CALLS)), value=bad_options)
def test_bad_options_are_refused(arg, value):
    check_refused(lambda: OPTION_CALLS[arg](value), name=arg)


@pytest.mark.parametrize("view", ["format_info", "encode", "decode", "bit_fields", "bit_string"])
def test_unknown_and_unsupported_formats(view):
    fn = getattr(formats, view)
    first = 1 if view == "decode" else 1.0
    args = () if view == "format_info" else (first,)
    for bad in ("fp12", "fp8", None, 16):         # fp8 is in the registry, not modelled here
        check_refused(lambda bad=bad: fn(*args, bad), name="precision")


def test_format_tables_follow_the_registry():
    own = formats.formats_supported_by("formats")
    assert formats.FORMAT_NAMES == own
    assert set(formats.FLOAT_FORMATS) | set(formats.INT_FORMATS) == set(own)
    for name, (bits, signed) in formats.INT_FORMATS.items():
        assert formats.FORMATS[name].bits == bits and formats.FORMATS[name].kind == "int"
        assert formats.format_info(name).min == formats.int_range(bits, signed)[0]
    for name, (e, m) in formats.FLOAT_FORMATS.items():
        assert formats.FORMATS[name].kind == "float"
        assert formats.format_info(name).bits == 1 + e + m
    for alias, name in formats._ALIASES.items():
        assert formats.canonical_format(alias.upper()) == name == formats.format_info(alias).name


def test_old_fmt_keyword_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="precision="):
        old = formats.round_to_format([1.1], fmt="fp16")
    assert old.tolist() == formats.round_to_format([1.1], precision="fp16").tolist()
    with pytest.warns(DeprecationWarning):
        assert formats.format_info(name="half").name == "fp16"
    with pytest.warns(DeprecationWarning):
        assert formats.bit_string(-3, fmt="int4") == "1101"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # the new name does not warn
        formats.encode(1.0, precision="bf16")
    with pytest.raises(TypeError, match="precision="):
        formats.decode([1], fmt="fp16", precision="fp16")


# --------------------------------------------------------------------------- #
# Impossible sizes: ValueError before any copy or long loop
# --------------------------------------------------------------------------- #
HUGE_CALLS = {
    "x": [lambda h: quantizers.quantize(h, QP), lambda h: formats.round_to_format(h, "fp16"),
          lambda h: formats.bit_fields(h, "int8"), lambda h: quantizers.qparams_minmax(h),
          lambda h: quantizers.quantization_error(h, QP)],
    "x (calibration data)": [lambda h: calibration.calibrate(h, "minmax")],
    "values": [lambda h: mixed_precision.fp16_underflow(h)],
    "A": [lambda h: analog.analog_matmul(h, np.ones((h.shape[1], 1))),
          lambda h: mixed_precision.matmul_fp16(h, np.ones((h.shape[1], 1)))],
    "acc": [lambda h: requant.requantize(np.broadcast_to(np.int64(1), h.shape), 2 ** 30, 0)],
}


@pytest.mark.parametrize("name,call", [(n, c) for n, cs in HUGE_CALLS.items() for c in cs])
def test_huge_broadcast_views_are_refused_before_copying(name, call):
    exc = check_refused(lambda: call(huge_broadcast()), name=name)
    assert isinstance(exc, ValueError) and "elements" in str(exc)


def test_huge_products_are_refused_before_the_loop():
    a = np.broadcast_to(np.float64(1.0), (10_000, 1_000))          # 1e7 values: allowed
    b = np.broadcast_to(np.float64(1.0), (1_000, 10_000))          # but M*K*N = 1e11
    check_refused(lambda: mixed_precision.matmul_fp16(a, b), name="M*K*N", kinds=(ValueError,))
    check_refused(lambda: analog.analog_matmul(a, b), name="M*K*N", kinds=(ValueError,))
    check_refused(lambda: mixed_precision.accumulation_error((1_000_000,), trials=1000),
                  name="trials", kinds=(ValueError,))
    check_refused(lambda: calibration.kl_divergence_sweep(np.ones(1 << 17)), name="counts",
                  kinds=(ValueError,))


# --------------------------------------------------------------------------- #
# The wrong kind of object: TypeError naming it, no AttributeError/KeyError
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("bad", [None, "qp", {"scale": 1.0}, 0.5])
def test_qparams_must_be_qparams(bad):
    for fn in (quantizers.quantize, quantizers.dequantize, quantizers.fake_quant):
        check_refused(lambda fn=fn: fn([1], bad), name="qparams", kinds=(TypeError,))


@pytest.mark.parametrize("bad", [None, "model", [Dense(2, 2)], object()])
def test_models_must_be_sequential(bad):
    check_refused(lambda: ptq.quantize_mlp(bad, np.ones((2, 2))), name="model", kinds=(TypeError,))
    check_refused(lambda: analog.analog_forward(bad, np.ones((2, 2))), name="model", kinds=(TypeError,))


@pytest.mark.parametrize("bad", ["seed", 1.5, [1, 2], -1])
def test_rng_must_be_a_seed_or_generator(bad):
    check_refused(lambda: analog.analog_matmul(np.ones((1, 1)), np.ones((1, 1)), rng=bad), name="rng")


def test_unknown_noise_table_row_is_a_value_error():
    exc = check_refused(lambda: analog._v("not_a_row"), name="name", kinds=(ValueError,))
    assert isinstance(exc, KeyError)                  # still a KeyError for old callers
