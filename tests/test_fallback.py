"""The pure-numpy fallback kernels (mini_accel/_core/_fallback_*.py) against the Cython ones.

* Every compiled kernel has a fallback with the same functions and constants.
* hypothesis draws inputs; both kernels run on copies of them; every output,
  every counter and every state array must be equal bit for bit (int32 wrap
  included, floats compared as bytes, so -0.0 vs 0.0 would fail).
* The public API (``SystolicArray.matmul``/``trace``, ``MemoryHierarchy.run``
  and ``flush``, ``mapper.search``) gives byte-identical results in a process
  with ``MINI_ACCEL_PURE_PYTHON=1``.
* The choice: one RuntimeWarning when a compiled kernel is missing (it says to
  install a C compiler and reinstall), none when the fallback is forced; a
  warning saying "rebuild" when a compiled kernel is older than its .pyx.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mini_accel._core as core
from mini_accel._core import _fallback_cache, _fallback_mapping, _fallback_systolic

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "mini_accel" / "_core"
compiled = {name: pytest.importorskip(f"mini_accel._core.{name}",
                                      reason="the compiled core is not built")
            for name in core.KERNELS}
fallback = {"systolic": _fallback_systolic, "cache": _fallback_cache, "mapping": _fallback_mapping}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_pyx_kernel_has_a_fallback_with_the_same_names():
    assert sorted(p.stem for p in CORE.glob("*.pyx")) == sorted(core.KERNELS)
    for name in core.KERNELS:
        public = {k for k in dir(compiled[name]) if not k.startswith("_")
                  and (callable(getattr(compiled[name], k)) or k.isupper())}
        missing = public - set(dir(fallback[name]))
        assert not missing, f"_fallback_{name}.py lacks {sorted(missing)}"
        for k in public:
            if not callable(getattr(compiled[name], k)):
                assert getattr(fallback[name], k) == getattr(compiled[name], k), (name, k)


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- systolic
def _operands(dtype, shape):
    if dtype == np.int32:
        elems = st.integers(-2**31, 2**31 - 1)
    else:
        width = 32 if dtype == np.float32 else 64
        tiny = float(np.float32(1e-30))                 # near the float32 subnormals
        elems = st.one_of(st.floats(-1e6, 1e6, width=width), st.sampled_from([0.0, -0.0]),
                          st.floats(-tiny, tiny, width=width))
    return hnp.arrays(dtype, shape, elements=elems)


@st.composite
def gemms(draw):
    dtype = draw(st.sampled_from([np.int32, np.float32, np.float64]))
    T, K, N = (draw(st.integers(1, 12)) for _ in range(3))
    R, C = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return draw(_operands(dtype, (T, K))), draw(_operands(dtype, (K, N))), R, C


@SETTINGS
@given(gemms())
def test_stationary_matmul_is_bit_exact(case):
    X, W, R, C = case
    T, N, dt = X.shape[0], W.shape[1], X.dtype
    outs, walked = [], []
    for mod in (compiled["systolic"], fallback["systolic"]):
        out = np.zeros((T, N), dt)
        walked.append(mod.stationary_matmul(X, W, out, np.empty((R, T), dt),
                                            np.empty((T + C - 1, C), dt), R, C))
        outs.append(out)
    assert walked[0] == walked[1]
    assert _same(*outs)


@SETTINGS
@given(gemms())
def test_output_stationary_matmul_is_bit_exact(case):
    A, B, R, C = case
    (M, K), N, dt = A.shape, B.shape[1], A.dtype
    outs, walked = [], []
    for mod in (compiled["systolic"], fallback["systolic"]):
        out = np.empty((M, N), dt)
        walked.append(mod.output_stationary_matmul(
            A, B, out, np.empty((M, K), dt), np.empty((K + C - 1, C), dt), np.empty((R, C), dt), R, C))
        outs.append(out)
    assert walked[0] == walked[1]
    assert _same(*outs)


def test_float_sums_follow_the_order_of_the_dataflow():
    """Where the order shows: float32 1e8 + 1 rounds to 1e8 (its spacing there is 8)."""
    X = np.array([[1e8, 1.0, -1e8, 1.0]], np.float32)
    W = np.ones((4, 1), np.float32)
    for mod in (compiled["systolic"], fallback["systolic"]):
        ws = np.zeros((1, 1), np.float32)            # 2-row folds: (1e8 + 1) + (-1e8 + 1)
        mod.stationary_matmul(X, W, ws, np.empty((2, 1), np.float32), np.empty((1, 1), np.float32), 2, 1)
        os_ = np.empty((1, 1), np.float32)           # one accumulator: ((1e8 + 1) - 1e8) + 1
        mod.output_stationary_matmul(X, W, os_, np.empty((1, 4), np.float32),
                                     np.empty((4, 1), np.float32), np.empty((1, 1), np.float32), 1, 1)
        assert (ws[0, 0], os_[0, 0]) == (0.0, 1.0), mod.__name__


# --------------------------------------------------------------------------- cache
@st.composite
def hierarchies(draw):
    from mini_accel.memory import Cache, MemoryHierarchy
    levels, line = [], 2 ** draw(st.integers(2, 6))
    for i in range(draw(st.integers(1, 3))):
        ways = draw(st.sampled_from([1, 2, 3, 4, 8]))
        sets = draw(st.sampled_from([1, 2, 3, 4, 5, 8]))
        levels.append(Cache(f"L{i}", size_bytes=line * ways * sets, ways=ways, line_bytes=line,
                            policy=draw(st.sampled_from(["lru", "fifo", "random"])),
                            write_policy=draw(st.sampled_from(["write-back", "write-through"])),
                            seed=draw(st.integers(0, 2**32))))
        line *= draw(st.sampled_from([1, 2, 4]))
    return MemoryHierarchy(levels)


@st.composite
def traces(draw):
    n = draw(st.integers(0, 200))
    hot = draw(st.integers(64, 4096))                   # small spans make hits and conflicts
    addr = draw(hnp.arrays(np.int64, n, elements=st.integers(0, hot)))
    if draw(st.booleans()):
        w = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1)))
    else:
        w = np.array([draw(st.integers(0, 1))], np.uint8)
    if draw(st.booleans()):
        sizes = draw(hnp.arrays(np.int32, n, elements=st.integers(1, 130)))
    else:
        sizes = np.array([draw(st.sampled_from([1, 4, 8, 64]))], np.int32)
    return addr, w, sizes


@SETTINGS
@given(hierarchies(), st.lists(traces(), min_size=1, max_size=3), st.booleans())
def test_cache_run_trace_and_flush_are_bit_exact(h, runs, flush):
    states = [[a.copy() for a in h._state()] for _ in range(2)]
    counts = [h._new_counts(), h._new_counts()]
    steps = [("run", r) for r in runs] + ([("flush", None)] if flush else [])
    for kind, trace in steps:                           # state carries over between calls
        for mod, state, c in zip((compiled["cache"], fallback["cache"]), states, counts):
            if kind == "run":
                mod.run_trace(*trace, *state, c)
            else:
                mod.flush(*state, c)
        assert _same(*counts), counts
        for a, b in zip(*states):                       # tags, stamps, dirty, clocks, rng
            assert _same(a, b)


# --------------------------------------------------------------------------- mapping
@st.composite
def mapping_batches(draw):
    nlev, m = draw(st.integers(1, 4)), draw(st.integers(0, 12))
    factors = draw(hnp.arrays(np.int64, (m, nlev + 1, 7), elements=st.sampled_from([1, 1, 2, 3, 4])))
    orders = np.array([[draw(st.permutations(range(7))) for _ in range(nlev)] for _ in range(m)],
                      dtype=np.int64).reshape(m, nlev, 7)
    keep = draw(hnp.arrays(np.uint8, (nlev, 3), elements=st.integers(0, 1)))
    keep[0] = 1
    cap = np.array([draw(st.one_of(st.just(-1), st.integers(1, 5000))) for _ in range(nlev)], np.int64)
    pj = draw(hnp.arrays(np.float64, nlev, elements=st.floats(0, 100)))
    scalars = (draw(st.integers(0, nlev - 1)), draw(st.integers(1, 400)),
               draw(st.floats(0, 10)), draw(st.floats(0, 10)),
               draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return (factors, orders, keep, cap, pj) + scalars


@SETTINGS
@given(mapping_batches())
def test_mapping_evaluate_batch_is_bit_exact(args):
    m = args[0].shape[0]
    outs = []
    for mod in (compiled["mapping"], fallback["mapping"]):
        out = (np.empty(m), np.empty(m), np.empty(m, np.uint8))
        mod.evaluate_batch(*args, *out)
        outs.append(out)
    for a, b in zip(*outs):
        assert _same(a, b)


# --------------------------------------------------------------------------- public API
_API_SCRIPT = r"""
import hashlib, json, sys, warnings
warnings.simplefilter("error")          # a forced fallback must not warn
import numpy as np
import mini_accel as ma
from mini_accel import mapper
from mini_accel.memory import Cache, MemoryHierarchy
from mini_accel.mapping_model import Architecture, ConvLayer
from mini_accel.traces import gemm_trace
rng = np.random.default_rng(7)
out = {"kernels": [ma.systolic._kernels.__name__, ma.memory._kernel.__name__]}
def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a); h.update(str((a.dtype, a.shape)).encode()); h.update(a.tobytes())
    return h.hexdigest()
for df in ("ws", "os", "is"):
    for dtype in (np.int8, np.float32, np.float64):
        A = (rng.standard_normal((13, 21)) * 40).astype(dtype)
        B = (rng.standard_normal((21, 9)) * 40).astype(dtype)
        r = ma.SystolicArray(4, 3, dataflow=df).matmul(A, B)
        out[f"matmul-{df}-{np.dtype(dtype).name}"] = [digest(r.output), r.cycles, r.folds, r.macs]
    t = ma.SystolicArray(3, 2, dataflow=df).trace(A[:5, :4], B[:4, :3])
    out[f"trace-{df}"] = digest(t.a, t.b, t.psum, t.result.output)
h = MemoryHierarchy([Cache("L1", 1024, ways=4, line_bytes=32),
                     Cache("L2", 8192, ways=8, line_bytes=64, policy="random", seed=3)])
tr = gemm_trace(12, 12, 12, order="kij", elem_bytes=8)
s1 = h.run(tr)
s2 = h.run(rng.integers(0, 1 << 14, 3000), is_write=rng.random(3000) < 0.3, sizes=6)
s3 = h.flush()
out["memory"] = [digest(s._counts) for s in (s1, s2, s3, h.stats)]
out["memory-repr"] = [repr(s1), repr(s2), repr(s3), repr(h.stats)]
layer = ConvLayer(N=2, K=16, C=8, P=7, Q=7, R=3, S=3)
arch = Architecture.eyeriss_like(num_pes=16, rf_words=64, buffer_words=4096)
res = mapper.search(layer, arch, "rs", samples=300, exhaustive_limit=0, seed=1)
out["mapper"] = repr(res)
print(json.dumps(out))
"""


def _api(pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != core.ENV_VAR}
    env["PYTHONHASHSEED"] = "0"                       # the reprs hold frozensets
    if pure:
        env[core.ENV_VAR] = "1"
    proc = subprocess.run([sys.executable, "-c", _API_SCRIPT], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_public_api_gives_identical_results_with_the_fallback_forced():
    fast, slow = _api(False), _api(True)
    assert fast.pop("kernels") == ["mini_accel._core.systolic", "mini_accel._core.cache"]
    assert slow.pop("kernels") == ["mini_accel._core._fallback_systolic",
                                   "mini_accel._core._fallback_cache"]
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key] == slow[key], key


# --------------------------------------------------------------------------- the choice
def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != core.ENV_VAR}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)


def test_a_missing_compiled_core_gives_one_warning_that_says_what_to_do():
    code = ("import sys\n"
            "for k in ('systolic', 'cache', 'mapping'):\n"
            "    sys.modules['mini_accel._core.' + k] = None      # as if never built\n"
            "import numpy as np, mini_accel as ma, mini_accel.memory, mini_accel.mapper\n"
            "r = ma.SystolicArray(2, 2).matmul(np.eye(3, dtype=np.int8), np.ones((3, 2), np.int8))\n"
            "print(ma.systolic._kernels.__name__, r.output.tolist())\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "mini_accel._core._fallback_systolic"
    warnings_ = [ln for ln in proc.stderr.splitlines() if "RuntimeWarning" in ln]
    assert len(warnings_) == 1, proc.stderr
    for words in ("C compiler", "reinstall", "cache", "systolic", "mapping", core.ENV_VAR):
        assert words in warnings_[0]


def test_forcing_the_fallback_warns_nothing_and_uses_it():
    code = ("import mini_accel as ma, mini_accel.memory\n"
            "print(ma.systolic._kernels.__name__, ma.memory._kernel.__name__)\n")
    proc = _run(code, {core.ENV_VAR: "1"})
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    assert proc.stdout.split() == ["mini_accel._core._fallback_systolic",
                                   "mini_accel._core._fallback_cache"]
    proc = _run(code, {core.ENV_VAR: "0"})
    assert proc.stdout.split() == ["mini_accel._core.systolic", "mini_accel._core.cache"]


def test_load_rejects_an_unknown_kernel():
    with pytest.raises(ValueError, match="name must be one of"):
        core.load("gemm")


def test_a_kernel_older_than_its_pyx_is_reported_as_stale(tmp_path):
    (tmp_path / "setup.py").write_text("")              # a source checkout
    kernels = tmp_path / "pkg" / "_core"
    kernels.mkdir(parents=True)
    for name in ("systolic", "cache"):
        (kernels / f"{name}.pyx").write_text("")
        (kernels / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    os.utime(kernels / "systolic.pyx", (2e9, 2e9))       # edited after the build
    os.utime(kernels / "cache.pyx", (1e9, 1e9))
    assert core.stale_kernels(kernels) == ["systolic"]
    (tmp_path / "setup.py").unlink()                     # an installed wheel: no check
    assert core.stale_kernels(kernels) == []


def test_the_stale_warning_says_rebuild(tmp_path):
    code = ("import warnings, mini_accel._core as c\n"
            "c.stale_kernels = lambda root=None: ['systolic']\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); c._probe()\n"
            "print([str(x.message) for x in w])\n")
    proc = _run(code)
    assert "rebuild" in proc.stdout and "systolic" in proc.stdout, proc.stdout + proc.stderr


def test_the_checkout_kernels_are_not_stale():
    assert core.stale_kernels() == [], "run `python setup.py build_ext --inplace`"


def test_the_fallback_modules_import_only_numpy():
    for mod in fallback.values():
        importlib.reload(mod)
        src = Path(mod.__file__).read_text()
        imports = {ln.split()[1].split(".")[0] for ln in src.splitlines()
                   if ln.startswith(("import ", "from "))}
        assert imports <= {"numpy", "__future__"}, (mod.__name__, imports)
