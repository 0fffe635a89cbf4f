"""An analog in-memory MAC array: weights as conductances, noise, and a few-bit ADC.

In an analog crossbar each weight is stored as the conductance of a device
(a pair of devices for a signed weight). Inputs arrive as voltages; by Ohm's
law each device passes a current ``G x V``, and by Kirchhoff's current law
the currents of a column add up on its wire: the whole dot product happens
in one step, where the data already is. The price is precision: devices are
programmed to their conductance only approximately, reading the summed
current adds noise, and an analog-to-digital converter (ADC) with few bits
turns it back into a number.

The model (one crossbar, forward pass) follows the analog tile of IBM's
Analog Hardware Acceleration Kit (aihwkit: Rasch et al., "A flexible and
fast PyTorch toolkit for simulating training and inference on analog
crossbar arrays", IEEE AICAS 2021), with the programming noise of phase-change
memory (PCM) fitted by Nandakumar et al. (IEEE ICECS 2019) as aihwkit
implements it. Its parameters are in ``mini_accel/data/analog_noise.csv``.
For ``y = A @ W`` with ``A`` (M, K) and ``W`` (K, N):

1. **Weights to conductances.** ``W`` is divided by ``w_max = max|W|`` so
   every weight ``w`` lies in [-1, 1]; a weight is a pair of devices
   ``G+ = g_max max(w, 0)`` and ``G- = g_max max(-w, 0)`` whose currents
   are subtracted (aihwkit's single-pair converter).
2. **Programming noise**, drawn once per call (writing the weights):

   * ``noise_model="gaussian"``: ``w + prog_noise x N(0, 1)``, the lumped
     error of the pair as a fraction of the largest weight, the same for
     every weight (additive Gaussian weight noise; FLAG: a textbook
     simplification, not a fit to a device).
   * ``noise_model="pcm"``: each device ``G + s(G) x N(0, 1)`` with
     ``s(G) / g_max = prog_noise x (c0 + c1 u + c2 u^2) / 25 uS``,
     ``u = G / g_max``, and no negative conductance (clipped at 0), as in
     aihwkit's ``PCMLikeNoiseModel`` (``prog_noise=1`` is the measured
     device: 1.1% of g_max for an off device, 4.2% for a fully-on one).
3. **Inputs (DAC).** Each row of ``A`` is divided by its own ``max|x|``
   (aihwkit's "abs_max" noise management) so inputs lie in [-1, 1]; with
   ``dac_bits=b`` they are rounded to steps of ``1 / (2^(b-1) - 1)``
   (``2^b - 1`` levels, aihwkit's ``inp_res = 1 / (2^b - 2)`` of the range).
   An all-zero row is not sent to the array: its output is exactly 0.
4. **Analog multiply-accumulate**: ``y = x @ w`` summed as currents.
5. **Read noise**: ``+ read_noise x N(0, 1)`` at every output, in units of
   the current of one fully-on device at full input (aihwkit's
   ``out_noise``), fresh at every read.
6. **ADC** (``adc_bits=b``): clip to ``[-adc_range, adc_range]`` (aihwkit's
   ``out_bound``, default 12 in the same units), round to steps of
   ``2 adc_range / (2^b - 2)``: ``2^b - 1`` levels, 0 among them.
7. **Back to numbers**: multiply by ``max|x|`` (per row) and ``w_max``.

Without DAC and ADC rounding, the error of an output ``y[m, n]`` has a
closed-form standard deviation: ``read_noise x max|A[m]| x w_max`` from the
read noise (one draw per output, whatever K) and, with the Gaussian model,
``prog_noise x w_max x ||A[m]||_2`` from the programming noise (K independent
errors weighted by the inputs); the two add in quadrature.

Not modelled (FLAG): conductance drift and 1/f noise over time, IR drop
along the wires, device-to-device gain variation, splitting a large K over
several crossbars (each with its own ADC), per-column weight scaling, and
the energy or area of the ADCs.

Example
-------
>>> import numpy as np
>>> from mini_accel.analog import analog_matmul
>>> A = np.array([[1.0, 2.0], [3.0, 4.0]]); W = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> np.allclose(analog_matmul(A, W), A @ W)          # no noise, no ADC: exact
True
>>> # A 3-bit ADC over +-1 has 7 levels, steps of 1/3. Row [1, 2] reaches the array
>>> # as [0.5, 1.0] (divided by its max, 2); 0.5 rounds to 2/3; times 2 gives 4/3:
>>> analog_matmul(A, W, adc_bits=3, adc_range=1.0).round(4).tolist()
[[1.3333, 2.0], [2.6667, 4.0]]
"""
from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from ._checks import (
    UnknownName,
    check_array,
    check_int,
    check_number,
    check_option,
    check_rng,
    check_size,
)
from .tables import read_table

__all__ = [
    "NOISE_MODELS",
    "AIHWKIT_DEFAULTS",
    "load_noise_table",
    "pcm_programming_sigma",
    "analog_matmul",
    "analog_forward",
    "analog_accuracy",
]

#: Programming-noise models of :func:`analog_matmul`.
NoiseModel = Literal["gaussian", "pcm"]
NOISE_MODELS = NoiseModel.__args__
#: Largest DAC/ADC resolution accepted (beyond it float64 rounding, not the ADC, decides).
MAX_BITS = 24


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    return {row["name"]: row for row in read_table("analog_noise.csv", numbers=("value",))}


def load_noise_table() -> dict:
    """Rows of ``data/analog_noise.csv`` by name (value, unit, status, source, note).

    >>> load_noise_table()["aihwkit_out_noise"]["value"]
    0.06
    """
    return {name: dict(row) for name, row in _table().items()}


def _v(name: str) -> float:
    rows = _table()
    if name not in rows:
        raise UnknownName(f"name must be one of {tuple(rows)}, got {name!r}")
    return rows[name]["value"]


#: aihwkit's default analog tile (IOParameters): read noise 0.06, a 9-bit ADC
#: over +-12, a 7-bit DAC. Use as ``analog_matmul(A, W, **AIHWKIT_DEFAULTS)``.
AIHWKIT_DEFAULTS = {
    "read_noise": _v("aihwkit_out_noise"),
    "adc_bits": int(_v("aihwkit_adc_bits")),
    "adc_range": _v("aihwkit_out_bound"),
    "dac_bits": int(_v("aihwkit_dac_bits")),
}


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #
def _bits(name: str, value):
    """None (no converter) or a resolution of 2 to MAX_BITS bits (3 levels at least)."""
    return None if value is None else check_int(name, value, low=2, high=MAX_BITS)


def _matrix(name: str, x) -> np.ndarray:
    return check_array(name, x, ndim=2, allow_empty=False)


def _options(prog_noise, read_noise, adc_bits, adc_range, dac_bits, noise_model):
    noise_model = check_option("noise_model", noise_model, NOISE_MODELS)
    if isinstance(adc_range, str):
        adc_range = check_option("adc_range", adc_range, ("max",))
    else:
        adc_range = check_number("adc_range", adc_range, low=0, closed="neither")
    return (check_number("prog_noise", prog_noise, low=0), check_number("read_noise", read_noise, low=0),
            _bits("adc_bits", adc_bits), adc_range, _bits("dac_bits", dac_bits), noise_model)


def _quantize(x: np.ndarray, step: float, limit: float) -> np.ndarray:
    """Round to multiples of ``step`` after clipping to ``[-limit, limit]``."""
    return np.round(np.clip(x, -limit, limit) / step) * step


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #
def pcm_programming_sigma(g_relative) -> np.ndarray:
    """Programming-noise std of a PCM device, as a fraction of g_max.

    ``(c0 + c1 u + c2 u^2) / 25 uS`` with ``u = G / g_max`` (Nandakumar et al.
    2019 via aihwkit's ``PCMLikeNoiseModel``); never negative.

    >>> [round(float(s), 4) for s in pcm_programming_sigma([0.0, 1.0])]
    [0.0105, 0.0422]
    """
    u = np.asarray(g_relative, dtype=np.float64)
    sigma_us = _v("pcm_prog_c0") + _v("pcm_prog_c1") * u + _v("pcm_prog_c2") * u * u
    return np.maximum(sigma_us, 0.0) / _v("pcm_g_max_us")


def _program(w: np.ndarray, prog_noise: float, noise_model: str, gen) -> np.ndarray:
    """Weights in [-1, 1] after programming them into conductance pairs."""
    if prog_noise == 0:
        return w
    if noise_model == "gaussian":
        return w + prog_noise * gen.standard_normal(w.shape)
    g_pos, g_neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)          # in units of g_max
    noisy = []
    for g in (g_pos, g_neg):
        g = g + prog_noise * pcm_programming_sigma(g) * gen.standard_normal(g.shape)
        noisy.append(np.maximum(g, 0.0))                             # no negative conductance
    return noisy[0] - noisy[1]


def analog_matmul(A, W, *, prog_noise: float = 0.0, read_noise: float = 0.0,
                  adc_bits: int | None = None, adc_range=None, dac_bits: int | None = None,
                  noise_model: NoiseModel = "gaussian", rng=0) -> np.ndarray:
    """``A @ W`` computed by a noisy analog crossbar (see the module docstring).

    Parameters
    ----------
    A : array_like, shape (M, K)
        Inputs (one row per input vector).
    W : array_like, shape (K, N)
        Weights, stored as conductances.
    prog_noise : float
        Programming noise: with ``noise_model="gaussian"`` the std of each
        weight's error as a fraction of ``max|W|``; with ``"pcm"`` a scale on
        the measured PCM noise (1.0 = the device of Nandakumar et al.).
    read_noise : float
        Std of the noise added to every output, in units of one fully-on
        weight at full input (aihwkit's default is 0.06).
    adc_bits : int or None
        ADC resolution (2 .. 24 bits; ``2^b - 1`` levels); None: no ADC.
    adc_range : float or "max", optional
        ADC full scale in the same units (default: aihwkit's ``out_bound``,
        12); ``"max"``: the largest ideal output of this call (a perfectly
        calibrated range). Outputs beyond it are clipped.
    dac_bits : int or None
        DAC resolution for the inputs; None: exact inputs.
    noise_model : {"gaussian", "pcm"}
    rng : None, int or numpy.random.Generator
        Seed (default 0: the same call gives the same noise) or a Generator.

    Returns
    -------
    numpy.ndarray of float64, shape (M, N)

    >>> import numpy as np
    >>> A, W = np.ones((1000, 100)), np.full((100, 1), 0.5)
    >>> y = analog_matmul(A, W, read_noise=0.1)     # exact 50; noise 0.1 x max|x| 1 x w_max 0.5
    >>> round(float(y.mean()), 1), round(float(y.std()), 2)
    (50.0, 0.05)
    """
    A, W = _matrix("A", A), _matrix("W", W)
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {A.shape[0]}x{A.shape[1]} and W is "
                         f"{W.shape[0]}x{W.shape[1]}; A.shape[1] must equal W.shape[0]")
    check_size("the multiply-adds of A @ W (M*K*N)", A.shape[0] * A.shape[1] * W.shape[1])
    if adc_range is None:
        adc_range = AIHWKIT_DEFAULTS["adc_range"]
    prog_noise, read_noise, adc_bits, adc_range, dac_bits, noise_model = _options(
        prog_noise, read_noise, adc_bits, adc_range, dac_bits, noise_model)
    gen = check_rng("rng", rng)

    w_max = float(np.abs(W).max())
    if w_max == 0.0:
        return np.zeros((A.shape[0], W.shape[1]))
    w = _program(W / w_max, prog_noise, noise_model, gen)

    alpha = np.abs(A).max(axis=1, keepdims=True)        # abs-max scaling of each input row
    x = np.divide(A, alpha, out=np.zeros_like(A), where=alpha > 0)
    if dac_bits is not None:
        x = _quantize(x, 1.0 / (2 ** (dac_bits - 1) - 1), 1.0)

    y = x @ w
    if read_noise:
        y = y + read_noise * gen.standard_normal(y.shape)
    if adc_bits is not None:
        full_scale = adc_range
        if full_scale == "max":
            full_scale = float(np.abs(x @ (W / w_max)).max()) or 1.0
        y = _quantize(y, 2.0 * full_scale / (2 ** adc_bits - 2), full_scale)
    return y * alpha * w_max           # an all-zero row (alpha = 0) gives exactly 0


# --------------------------------------------------------------------------- #
# A trained MLP on the analog array
# --------------------------------------------------------------------------- #
def _check_model(model):
    from .nn import Conv2d, Dense, Layer, Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a mini_accel.nn.Sequential, got {type(model).__name__}")
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2d):
            raise TypeError(f"layer {i} is a Conv2d: analog_accuracy runs the Dense layers of an "
                            "MLP on the analog array (convolutions are not supported)")
        if not isinstance(layer, Layer):  # pragma: no cover - Sequential already checks
            raise TypeError(f"layer {i} is not a mini_accel.nn layer")
    if not any(isinstance(layer, Dense) for layer in model.layers):
        raise ValueError("the model has no Dense layer to run on the analog array")
    return model


def analog_forward(model, X, *, rng=0, **analog_options) -> np.ndarray:
    """The model's scores (before a final Softmax) with every Dense GEMM on the analog array.

    Each Dense layer's weights are programmed once (one draw of programming
    noise per layer); the bias is added digitally after the ADC; other
    layers (ReLU, ...) run digitally. ``analog_options`` are those of
    :func:`analog_matmul`.

    >>> from mini_accel.nn import Dense, ReLU, Sequential
    >>> model = Sequential([Dense(3, 4, rng=0), ReLU(), Dense(4, 2, rng=1)])
    >>> X = np.ones((2, 3))
    >>> np.allclose(analog_forward(model, X), model.forward(X))        # no noise: exact
    True
    >>> analog_forward(model, X, read_noise=0.05, adc_bits=6).shape
    (2, 2)
    """
    from .nn import Dense, Softmax
    _check_model(model)
    x = _matrix("X", X)
    gen = check_rng("rng", rng)
    layers = model.layers[:-1] if isinstance(model.layers[-1], Softmax) else model.layers
    for layer in layers:
        if isinstance(layer, Dense):
            if x.shape[1] != layer.in_features:
                raise ValueError(f"{layer!r} expects inputs of shape (n, {layer.in_features}), "
                                 f"got {x.shape}")
            x = analog_matmul(x, layer.W, rng=gen, **analog_options)
            if layer.bias:
                x = x + layer.b
        else:
            x = layer.forward(x)
    return x


def analog_accuracy(model, X, y, *, prog_noise: float = 0.0, read_noise: float = 0.0,
                    adc_bits: int | None = None, adc_range=None, dac_bits: int | None = None,
                    noise_model: NoiseModel = "gaussian", rng=0, repeats: int = 1) -> float:
    """Accuracy of a trained MLP whose Dense layers run on the analog array.

    ``repeats`` independent chips (programming and read noise drawn anew,
    from one generator seeded by ``rng``) are averaged. Other arguments as
    :func:`analog_matmul`.

    >>> from mini_accel.datasets import load_digits
    >>> from mini_accel.nn import train_mlp, accuracy
    >>> X, y = load_digits(); X = X / 16
    >>> model = train_mlp(X[:1000], y[:1000], hidden=(32,), epochs=10, seed=0)
    >>> exact = accuracy(model, X[1000:], y[1000:])
    >>> analog_accuracy(model, X[1000:], y[1000:]) == exact            # no noise: the same
    True
    >>> analog_accuracy(model, X[1000:], y[1000:], prog_noise=1.0) < exact - 0.3
    True
    """
    from .nn import _labels
    _check_model(model)
    X = _matrix("X", X)
    labels = _labels(y, X.shape[0])
    repeats = check_int("repeats", repeats, low=1, high=10_000)
    gen = check_rng("rng", rng)
    options = dict(prog_noise=prog_noise, read_noise=read_noise, adc_bits=adc_bits,
                   adc_range=adc_range, dac_bits=dac_bits, noise_model=noise_model)
    hits = [float(np.mean(np.argmax(analog_forward(model, X, rng=gen, **options), axis=1) == labels))
            for _ in range(repeats)]
    return float(np.mean(hits))
