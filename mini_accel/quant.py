"""Number formats, quantization, calibration, integer-only inference and mixed precision.

One place to import the whole chapter from; each topic lives in its own small
module:

=================================  ==========================================
:mod:`mini_accel.formats`          FP32/FP16/BF16/TF32 rounding (nearest-even
                                   or truncation), INT4/INT8/UINT8 ranges,
                                   :func:`format_info`, bit-level views
:mod:`mini_accel.quantizers`       affine and symmetric quantizers, per tensor
                                   and per channel; scale and zero point equal
                                   to PyTorch's ``MinMaxObserver``
:mod:`mini_accel.calibration`      min-max, percentile, MSE and TensorRT's
                                   KL-divergence (entropy) calibration
:mod:`mini_accel.requant`          Jacob et al. 2018 integer-only arithmetic:
                                   int8 x int8 on the systolic array, int32
                                   accumulators and bias, fixed-point
                                   requantization, saturation
:mod:`mini_accel.mixed_precision`  FP16 x FP16 with FP32 vs FP16 accumulation,
                                   gradient underflow, loss scaling, FP32
                                   master weights
:mod:`mini_accel.ptq`              post-training quantization of a trained
                                   MLP, accuracy table FP32 vs INT8/INT4
=================================  ==========================================

Example: the whole path from float to integers and back.

>>> import numpy as np
>>> from mini_accel import quant
>>> quant.format_info("bf16").max, quant.format_info("fp16").max      # (2 - 2**-m) * 2**bias
(3.3895313892515355e+38, 65504.0)
>>> x = np.random.default_rng(0).laplace(size=10_000)
>>> cal = quant.calibrate(x, "percentile", bits=8)       # symmetric, 99.99th percentile of |x|
>>> qp = cal.qparams()
>>> q = quant.quantize(x, qp)
>>> q.dtype, int(q.min()) >= -127, int(q.max()) <= 127
(dtype('int8'), True, True)
>>> float(np.abs(quant.dequantize(q, qp) - x)[np.abs(x) <= cal.amax].max()) <= float(qp.scale) / 2 + 1e-6
True
"""
from __future__ import annotations

from .calibration import (  # noqa: F401
    METHODS,
    MODES,
    Calibration,
    abs_histogram,
    calibrate,
    entropy_amax,
    expand_merged_bins,
    kl_divergence_sweep,
    minmax_range,
    mse_range,
    percentile_range,
)
from .formats import (  # noqa: F401
    FORMAT_NAMES,
    FormatInfo,
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
from .mixed_precision import (  # noqa: F401
    DynamicLossScaler,
    accumulation_error,
    fp16_underflow,
    master_weights_demo,
    matmul_fp16,
    train_regression,
    update_is_lost,
)
from .quantizers import (  # noqa: F401
    FLOAT32_EPS,
    QParams,
    dequantize,
    fake_quant,
    qparams_from_range,
    qparams_minmax,
    qrange,
    quantization_error,
    quantize,
)
from .requant import (  # noqa: F401
    IntegerLinear,
    integer_matmul,
    multiply_by_quantized_multiplier,
    quantize_bias,
    quantize_multiplier,
    requantize,
)

__all__ = [
    # formats
    "FORMAT_NAMES", "FormatInfo", "format_info", "int_range", "round_to_format",
    "to_fp16", "to_bf16", "to_tf32", "encode", "decode", "bit_fields", "bit_string",
    # quantizers
    "FLOAT32_EPS", "QParams", "qrange", "qparams_from_range", "qparams_minmax",
    "quantize", "dequantize", "fake_quant", "quantization_error",
    # calibration
    "METHODS", "MODES", "Calibration", "calibrate", "minmax_range", "percentile_range",
    "mse_range", "entropy_amax", "abs_histogram", "kl_divergence_sweep", "expand_merged_bins",
    # integer-only inference
    "quantize_multiplier", "multiply_by_quantized_multiplier", "requantize",
    "quantize_bias", "integer_matmul", "IntegerLinear",
    # mixed precision
    "matmul_fp16", "accumulation_error", "fp16_underflow", "update_is_lost",
    "master_weights_demo", "DynamicLossScaler", "train_regression",
]
