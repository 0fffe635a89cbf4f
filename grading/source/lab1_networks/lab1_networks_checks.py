"""Hidden checks of Lab 1 (matrices as networks).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` or from a few lines of numpy written here, never from the
student's code.
"""
from __future__ import annotations

import numpy as np
from labcheck import Case, array_problem, close, is_int
from labcheck import seal as _seal

_NN = "mini_accel.nn"
_WL = "mini_accel.workloads"
#: Library code that computes a layer's output: off while the student's layer runs.
_LAYER_ANSWERS = (f"{_NN}.Dense.forward", f"{_NN}.Sequential.forward", f"{_NN}.Sequential.logits",
                  f"{_NN}.Sequential.predict_proba")
_CONV_ANSWERS = (f"{_NN}.im2col", f"{_NN}.col2im", f"{_NN}.Conv2d.forward", f"{_NN}.Conv2d.gemm_operands")
_COUNT_ANSWERS = (f"{_NN}.Sequential.work", f"{_NN}.Sequential.num_params", f"{_NN}.Layer.macs",
                  f"{_NN}.GemmShape.macs", f"{_NN}.GemmShape.ops",
                  f"{_WL}.Workload.macs", f"{_WL}.Workload.ops", f"{_WL}.Workload.other_ops",
                  f"{_WL}.Workload.params", f"{_WL}.Workload.matmul_share", f"{_WL}.Workload.summary",
                  f"{_WL}.Workload.by_kind", f"{_WL}.WorkloadLayer.macs", f"{_WL}.WorkloadLayer.to_dict")


#: Tolerance of every float result (relative and absolute), as the task text states: float32
#: arithmetic passes (its error is near 1e-7 relative), float16 (1e-3) does not.
TOL = dict(rtol=1e-5, atol=1e-5)


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


# --------------------------------------------------------------------------- #
# Task 1: a dense layer as one GEMM
# --------------------------------------------------------------------------- #
def _dense_inputs(rng):
    shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 4), (6, 9, 1), (32, 64, 10), (3, 5, 8)]
    return [(rng.standard_normal((B, K)), rng.standard_normal((K, N)), rng.standard_normal(N))
            for B, K, N in shapes]


def _dense_check(args, got):
    x, W, b = args
    where = f"dense_forward on a batch of {x.shape[0]} with a {W.shape[0]}x{W.shape[1]} weight matrix"
    problem = array_problem(where, got, (x.shape[0], W.shape[1]), x @ W + b, **TOL)
    if problem and isinstance(got, np.ndarray) and got.shape == (x.shape[0], W.shape[1]):
        if array_problem("", got, got.shape, x @ W, **TOL) is None:
            return problem + " (the bias is missing)"
    return problem


# --------------------------------------------------------------------------- #
# Task 2: an MLP as a chain of GEMMs
# --------------------------------------------------------------------------- #
def _mlp_inputs(rng):
    # A hidden unit that is negative before the ReLU, and a negative logit: the ReLU must act
    # between the layers and not after the last one.
    eye = np.eye(2)
    out = [(np.array([[1.0, -2.0]]), [(eye, np.zeros(2)), (eye, np.array([0.0, -1.0]))])]
    for sizes in [(4, 3), (6, 5, 2), (8, 16, 16, 3), (3, 1, 4), (10, 7, 7, 7, 2)]:
        layers = [(rng.standard_normal((k, n)), rng.standard_normal(n)) for k, n in zip(sizes, sizes[1:])]
        out.append((rng.standard_normal((int(rng.integers(1, 6)), sizes[0])), layers))
    return out


def _mlp_reference(x, layers):
    for i, (W, b) in enumerate(layers):
        x = x @ W + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def _mlp_check(args, got):
    x, layers = args
    want = _mlp_reference(x, layers)
    problem = array_problem(f"mlp_forward with {len(layers)} layer(s)", got, want.shape, want, **TOL)
    if problem and isinstance(got, np.ndarray) and got.shape == want.shape:
        no_relu = x
        for W, b in layers:
            no_relu = no_relu @ W + b
        if array_problem("", got, want.shape, no_relu, **TOL) is None:
            return problem + " (is the ReLU applied between the layers?)"
        relu_last = np.maximum(want, 0.0)
        if array_problem("", got, want.shape, relu_last, **TOL) is None:
            return problem + " (the last layer returns raw scores: no ReLU after it)"
    return problem


# --------------------------------------------------------------------------- #
# Task 3: MACs and parameters of an MLP
# --------------------------------------------------------------------------- #
def _mlp_count_inputs(rng):
    fixed = [(1, (784, 10)), (100, (64, 32, 10)), (7, (3, 1, 5, 2))]
    drawn = [(int(rng.integers(1, 300)), tuple(int(v) for v in rng.integers(1, 400, size=rng.integers(2, 6))))
             for _ in range(6)]
    return fixed + drawn


def _mlp_counts_check(args, got):
    batch, sizes = args
    macs = sum(batch * k * n for k, n in zip(sizes, sizes[1:]))
    params = sum(k * n + n for k, n in zip(sizes, sizes[1:]))
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "mlp_counts should return a pair (macs, params)"
    if not (is_int(got[0]) and is_int(got[1])):
        return "mlp_counts should return two ints"
    where = f"mlp_counts(batch={batch}, sizes={list(sizes)})"
    if int(got[0]) != macs:
        hint = " (the batch multiplies the MACs)" if int(got[0]) * batch == macs else ""
        return f"{where}: the MAC count is wrong{hint}"
    if int(got[1]) != params:
        hint = " (did you count the biases?)" if int(got[1]) == params - sum(sizes[1:]) else \
            " (parameters do not depend on the batch)" if int(got[1]) == params * batch else ""
        return f"{where}: the parameter count is wrong{hint}"
    return None


# --------------------------------------------------------------------------- #
# Tasks 4 and 5: im2col and a convolution as one GEMM
# --------------------------------------------------------------------------- #
def _conv_shapes(rng):
    """(N, C, H, W, kh, kw, stride, padding): edge cases first, then random ones."""
    fixed = [(1, 1, 3, 3, 3, 3, 1, 0), (1, 1, 4, 4, 2, 2, 2, 0), (2, 3, 5, 6, 3, 3, 1, 1),
             (1, 2, 7, 5, 3, 1, 2, 1), (3, 1, 6, 6, 1, 1, 1, 0), (1, 4, 5, 5, 5, 5, 1, 2)]
    drawn = []
    while len(drawn) < 4:
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        H, W = int(rng.integers(kh, 9)), int(rng.integers(kw, 9))
        drawn.append((int(rng.integers(1, 3)), int(rng.integers(1, 4)), H, W, kh, kw, s, p))
    return fixed + drawn


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _im2col_inputs(rng):
    return [(rng.standard_normal((N, C, H, W)), kh, kw, s, p)
            for N, C, H, W, kh, kw, s, p in _conv_shapes(rng)]


def _im2col_check(args, got):
    from mini_accel.nn import im2col
    x, kh, kw, s, p = args
    N, C, H, W = x.shape
    Ho, Wo = _out_size(H, kh, s, p), _out_size(W, kw, s, p)
    where = f"im2col of a {x.shape} input, kernel {kh}x{kw}, stride {s}, padding {p}"
    problem = array_problem(where, got, (N * Ho * Wo, C * kh * kw))
    if problem:
        return problem
    want = im2col(x, (kh, kw), stride=s, padding=p)
    if array_problem(where, got, want.shape, want, **TOL):
        if np.allclose(np.sort(got, axis=None), np.sort(want, axis=None)):
            return (f"{where}: the right values, in the wrong order "
                    "(rows: n, i, j; columns: c, kernel row, kernel column)")
        return f"{where}: some values are wrong (check the stride and the zero padding)"
    return None


def _conv_inputs(rng):
    out = []
    for i, (N, C, H, W, kh, kw, s, p) in enumerate(_conv_shapes(rng)):
        out_ch = 3 if i < 6 else int(rng.integers(1, 5))      # several filters in the fixed cases
        out.append((rng.standard_normal((N, C, H, W)), rng.standard_normal((out_ch, C, kh, kw)),
                    rng.standard_normal(out_ch), s, p))
    return out


def _conv_direct(x, w, b, s, p):
    """The convolution by its definition: one dot product per output pixel."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = _out_size(H, kh, s, p), _out_size(W, kw, s, p)
    out = np.empty((N, O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * s:i * s + kh, j * s:j * s + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def _conv_check(args, got):
    x, w, b, s, p = args
    want = _conv_direct(x, w, b, s, p)
    where = f"conv2d_gemm of a {x.shape} input with {w.shape} weights, stride {s}, padding {p}"
    problem = array_problem(where, got, want.shape, want, **TOL)
    if problem and isinstance(got, np.ndarray) and got.shape == want.shape:
        if array_problem("", got, want.shape, want - b[None, :, None, None], **TOL) is None:
            return problem + " (the bias is missing)"
        if array_problem("", got.transpose(0, 1, 3, 2), want.shape, want, **TOL) is None:
            return problem + " (height and width are swapped)"
    return problem


# --------------------------------------------------------------------------- #
# Task 6: counting a real network
# --------------------------------------------------------------------------- #
def _network_inputs(rng):
    from mini_accel import workloads as wl
    from mini_accel.nn import GemmShape

    nets = [wl.resnet50(batch=int(rng.integers(1, 4))), wl.mobilenet_v2(),
            wl.bert_base_layer(seq_len=int(rng.integers(8, 129)))]
    layers = []
    for i in range(int(rng.integers(3, 9))):
        if rng.random() < 0.6:
            M, K, N = (int(v) for v in rng.integers(1, 500, size=3))
            layers.append(wl.WorkloadLayer(f"gemm{i}", "fc", GemmShape(M, K, N, int(rng.integers(1, 4))),
                                           params=K * N, weight_elems=K * N, other_ops=int(rng.integers(0, 9999))))
        else:
            layers.append(wl.WorkloadLayer(f"act{i}", "relu", None, other_ops=int(rng.integers(1, 99999))))
    nets.append(wl.Workload("random", tuple(layers)))
    return [(net,) for net in nets]


def _network_check(args, got):
    (net,) = args
    macs = sum(l.gemm.count * l.gemm.M * l.gemm.K * l.gemm.N for l in net.layers if l.gemm is not None)
    params = sum(l.params for l in net.layers)
    other = sum(l.other_ops for l in net.layers)
    share = 2 * macs / (2 * macs + other)
    if not isinstance(got, dict):
        return f"network_counts should return a dict, got {type(got).__name__}"
    missing = {"macs", "params", "other_ops", "gemm_share"} - set(got)
    if missing:
        return f"network_counts({net.name}) is missing the keys {sorted(missing)}"
    for key, want in (("macs", macs), ("params", params), ("other_ops", other)):
        if not is_int(got[key]):
            return f"network_counts({net.name})[{key!r}] should be an int"
        if int(got[key]) != want:
            hint = " (grouped layers: multiply by the GEMM count)" if key == "macs" and any(
                l.gemm is not None and l.gemm.count > 1 for l in net.layers) else ""
            return f"network_counts({net.name})[{key!r}] is wrong{hint}"
    if not close(got["gemm_share"], share):
        return (f"network_counts({net.name})['gemm_share'] is wrong "
                "(a MAC is 2 operations; the share is of all operations)")
    return None


# --------------------------------------------------------------------------- #
# Task 7: training costs more than inference
# --------------------------------------------------------------------------- #
def _training_check(args, got):
    batch, sizes = args
    forward = [batch * k * n for k, n in zip(sizes, sizes[1:])]
    # Weight gradients cost one forward GEMM each; input gradients too, except for the
    # first layer, whose input (the data) needs no gradient.
    want = sum(forward) + sum(forward) + sum(forward[1:])
    where = f"training_macs(batch={batch}, sizes={list(sizes)})"
    if not is_int(got):
        return f"{where} should return an int, got {type(got).__name__}"
    if int(got) != want:
        if int(got) == 3 * sum(forward):
            return f"{where} is a little too large (which gradient does the first layer not need?)"
        return f"{where} is wrong"
    return None


CASES = {
    "dense_forward": Case(_dense_inputs, _dense_check, blocked=_LAYER_ANSWERS, what="dense_forward"),
    "mlp_forward": Case(_mlp_inputs, _mlp_check, blocked=_LAYER_ANSWERS, what="mlp_forward"),
    "mlp_counts": Case(_mlp_count_inputs, _mlp_counts_check, blocked=_COUNT_ANSWERS, what="mlp_counts"),
    "im2col": Case(_im2col_inputs, _im2col_check, blocked=_CONV_ANSWERS, what="im2col"),
    "conv2d_gemm": Case(_conv_inputs, _conv_check, blocked=_CONV_ANSWERS, what="conv2d_gemm"),
    "network_counts": Case(_network_inputs, _network_check, blocked=_COUNT_ANSWERS, what="network_counts"),
    "training_macs": Case(_mlp_count_inputs, _training_check, blocked=_COUNT_ANSWERS, what="training_macs"),
}
