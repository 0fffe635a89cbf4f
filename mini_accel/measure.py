"""Measure the machine this runs on: GEMM throughput, memory bandwidth, an empirical roofline.

Everything else in the course comes from a model or a published table; this
module times the computer the lab runs on with numpy's BLAS and puts it on
the same roofline as the catalog's devices.

* :func:`gemm_sweep`: ``C = A @ B`` on square matrices of a sweep of sizes,
  per dtype (``float64``, ``float32``; the complex types the BLAS also
  offers count 8 real operations per complex MAC) and per thread count
  (set with threadpoolctl). Rate = ``2 n^3 / median(seconds)``.
* :func:`stream`: a STREAM-like copy and triad over arrays several times
  larger than the last-level cache. Bytes are those the numpy operations
  name (as STREAM counts them; no write-allocate traffic), so the rate is a
  lower bound on what the memory delivers.
* :func:`measure_machine`: both, within a time budget, and
  :meth:`MachineReport.roofline` / :meth:`MachineReport.as_device`: the
  measured machine as a :class:`~mini_accel.roofline.Roofline` or a catalog
  :class:`~mini_accel.devices.Device`.
* :func:`measure_workloads`: GEMMs of real layers (ResNet-50, BERT-base,
  GPT-2 decoding) and a small MLP forward, timed and set against the
  measured roofline's prediction.
* :func:`gpu_sweep`: the same sweep with torch on a CUDA or MPS GPU in
  fp32/fp16/bf16 and the tensor-core speed-up; returns a reason string
  instead where torch or a GPU is missing.

Robustness: every timing is a warm-up call then ``repeats`` calls; the
median is the estimate and ``spread`` (interquartile range over median) its noise. A
machine whose selected timings spread more than :data:`NOISY_SPREAD` is
reported as too noisy to trust (a :class:`NoisyMachineWarning` and
``report.noisy``). Nothing here asserts a speed: the tests check internal
consistency only.

>>> from mini_accel.measure import summarize_gemm
>>> samples = [{"n": 100, "seconds": [2e-3, 1e-3, 1e-3]}, {"n": 200, "seconds": [4e-3, 4e-3, 5e-3]}]
>>> s = summarize_gemm(samples)                     # 2*200^3 / 4 ms = 4 GFLOP/s at n = 200
>>> s["best_n"], round(s["peak_ops"] / 1e9, 3), round(s["spread"], 3)   # (4.5 - 4) ms / 4 ms
(200, 4.0, 0.125)
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_option, is_int, is_real, positive_int, positive_number

__all__ = [
    "BLAS_DTYPES", "NOISY_SPREAD", "PLAUSIBLE", "NoisyMachineWarning",
    "time_call", "time_gemm", "gemm_ops", "summarize_gemm", "summarize_stream",
    "last_level_cache_bytes", "blas_info", "gemm_sweep", "stream",
    "MachineReport", "measure_machine", "measure_workloads", "gpu_sweep",
    "TORCH_DTYPES", "torch_accelerator", "torch_gemm_sweep",
    "plausibility_problem", "measurement_problems", "MIN_STREAM_BYTES",
]

#: dtypes numpy hands to the BLAS (GEMM): real operations per multiply-accumulate.
BLAS_DTYPES = {"float64": 2, "float32": 2, "complex128": 8, "complex64": 8}
#: Spread (interquartile range / median of the repeats) above which a timing is too noisy to trust.
NOISY_SPREAD = 0.5
#: Bounds no honest CPU measurement crosses (generous: the grader uses them to reject
#: made-up numbers, never to judge a slow machine). Per thread: 2 TFLOP/s float32 covers
#: AVX-512 with 2 FMA units at 6 GHz (384 GFLOP/s) and Apple's AMX units behind
#: Accelerate; total: a 128-core AVX-512 server at 3 GHz does 24.6 TFLOP/s float32.
#: Bandwidth: HBM-equipped CPUs (Xeon Max) reach about 1 TB/s.
PLAUSIBLE = {
    "min_ops": 1e7, "max_ops_per_thread": {"float64": 1e12, "float32": 2e12,
                                           "complex128": 1e12, "complex64": 2e12},
    "max_ops": {"float64": 2e13, "float32": 4e13, "complex128": 2e13, "complex64": 4e13},
    "min_bandwidth": 1e8, "max_bandwidth": 2e12, "max_threads": 1024,
}
_DEFAULT_LLC = 32 * 2**20


class NoisyMachineWarning(UserWarning):
    """The timings spread too much to trust (other programs running, power saving, thermal limits)."""


# --------------------------------------------------------------------------- #
# Timing primitives
# --------------------------------------------------------------------------- #
def time_call(fn, *, repeats: int = 5, warmup: int = 1) -> list:
    """Seconds of ``repeats`` calls of ``fn()`` after ``warmup`` untimed calls.

    >>> len(time_call(lambda: sum(range(100)), repeats=3))
    3
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = positive_int("repeats", repeats)
    warmup = positive_int("warmup", warmup, low=0)
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _check_dtype(dtype) -> str:
    """One of :data:`BLAS_DTYPES`, given by name or as a numpy dtype (what numpy's BLAS multiplies)."""
    if isinstance(dtype, (type, np.dtype)):
        dtype = np.dtype(dtype).name
    return check_option("dtype", dtype, tuple(BLAS_DTYPES))


def gemm_ops(n: int, dtype: str = "float64") -> float:
    """Real operations of one ``n x n`` GEMM: ``ops_per_mac * n^3`` (2 real, 8 complex).

    >>> gemm_ops(1000), gemm_ops(10, "complex64")
    (2000000000.0, 8000.0)
    """
    n = positive_int("n", n)
    return float(BLAS_DTYPES[_check_dtype(dtype)]) * n**3


def time_gemm(n: int, dtype: str = "float64", *, repeats: int = 5, warmup: int = 1,
              seed: int = 0) -> list:
    """Seconds of ``repeats`` products ``A @ B`` of random ``n x n`` matrices (into a preallocated C).

    >>> t = time_gemm(64, "float32", repeats=3)
    >>> len(t), all(s > 0 for s in t)
    (3, True)
    """
    n = positive_int("n", n, high=16384)
    dtype = _check_dtype(dtype)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    return time_call(lambda: np.matmul(a, b, out=c), repeats=repeats, warmup=warmup)


def _median_spread(seconds) -> tuple:
    s = np.asarray(seconds, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"seconds must be a non-empty list of positive times, got {seconds!r}")
    med = float(np.median(s))
    q1, q3 = np.percentile(s, [25, 75])
    return med, float((q3 - q1) / med)


def summarize_gemm(samples, dtype: str = "float64") -> dict:
    """Peak-like GEMM rate from a size sweep: the best median rate over the sizes.

    ``samples`` is a list of ``{"n": int, "seconds": [...]}``. Per size the
    rate is ``gemm_ops(n) / median(seconds)``; the peak is the largest rate,
    and on a tie the smaller size wins. Returns ``peak_ops``, ``best_n``,
    ``spread`` (of the best size's timings) and ``rates`` (per size, in
    the order given).
    """
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError("samples must be a non-empty list of {'n': int, 'seconds': [...]} dicts")
    rates, best = [], None
    for s in samples:
        if not isinstance(s, dict) or "n" not in s or "seconds" not in s:
            raise ValueError(f"each sample must be a dict with 'n' and 'seconds', got {s!r}")
        med, spread = _median_spread(s["seconds"])
        rate = gemm_ops(s["n"], dtype) / med
        rates.append(rate)
        key = (rate, -int(s["n"]))
        if best is None or key > best[0]:
            best = (key, int(s["n"]), spread)
    return {"peak_ops": best[0][0], "best_n": best[1], "spread": best[2], "rates": rates}


def summarize_stream(samples) -> dict:
    """Memory bandwidth from STREAM-like samples: the best median rate over the kernels.

    ``samples`` is a list of ``{"kernel": str, "bytes": int, "seconds": [...]}``;
    per kernel the rate is ``bytes / median(seconds)``. Returns
    ``bandwidth`` (bytes/s), ``best_kernel``, ``spread`` and ``rates`` (per kernel).

    >>> summarize_stream([{"kernel": "copy", "bytes": 2e9, "seconds": [0.2, 0.25, 0.2]}])["bandwidth"]
    10000000000.0
    """
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError("samples must be a non-empty list of {'kernel', 'bytes', 'seconds'} dicts")
    rates, best = {}, None
    for s in samples:
        if not isinstance(s, dict) or not {"kernel", "bytes", "seconds"} <= set(s):
            raise ValueError(f"each sample must be a dict with 'kernel', 'bytes', 'seconds', got {s!r}")
        med, spread = _median_spread(s["seconds"])
        rate = positive_number("bytes", s["bytes"]) / med
        rates[s["kernel"]] = rate
        if best is None or rate > best[0]:
            best = (rate, s["kernel"], spread)
    return {"bandwidth": best[0], "best_kernel": best[1], "spread": best[2], "rates": rates}


def plausibility_problem(dtype: str, threads: int, peak_ops: float, bandwidth: float | None = None):
    """Why a CPU measurement cannot be real (a message), or None. See :data:`PLAUSIBLE`."""
    dtype = _check_dtype(dtype)
    if not 1 <= threads <= PLAUSIBLE["max_threads"]:
        return f"{threads} threads is not a thread count of a real CPU"
    if not PLAUSIBLE["min_ops"] <= peak_ops <= min(PLAUSIBLE["max_ops"][dtype],
                                                   threads * PLAUSIBLE["max_ops_per_thread"][dtype]):
        return (f"{peak_ops:.3g} {dtype} ops/s on {threads} thread(s) is beyond what any CPU does "
                f"(at most {PLAUSIBLE['max_ops_per_thread'][dtype]:.0e} per thread)")
    if bandwidth is not None and not PLAUSIBLE["min_bandwidth"] <= bandwidth <= PLAUSIBLE["max_bandwidth"]:
        return f"{bandwidth:.3g} bytes/s is not the memory bandwidth of a real CPU"
    return None


#: Smallest array a memory measurement may stream (bytes per sample): below this it may sit in a cache.
MIN_STREAM_BYTES = 16 * 2**20


def measurement_problems(record) -> list:
    """What makes a reported measurement inconsistent or impossible (empty list: none found).

    It cannot re-time anything (it may run on another computer): it checks
    that the derived numbers follow from the raw timings, and that the raw
    timings are physically possible for a CPU (:data:`PLAUSIBLE`). The
    record is a dict::

        {"dtype": "float32" or "float64", "threads": int,
         "gemm": [{"n": int, "seconds": [...]}, ...],        # >= 3 sizes, >= 3 repeats each
         "stream": [{"kernel": str, "bytes": int, "seconds": [...]}, ...],
         "peak_ops": float, "bandwidth": float, "ridge": float,
         "layer": {"M": int, "K": int, "N": int, "seconds": [...]},
         "layer_measured_ops": float, "layer_predicted_ops": float}

    Tolerance: derived numbers must match the raw timings to a relative 1e-6.

    >>> print(measurement_problems({"dtype": "float32"})[0][:60])
    the record is missing the keys ['bandwidth', 'gemm', 'layer'
    """
    need = {"dtype", "threads", "gemm", "stream", "peak_ops", "bandwidth", "ridge", "layer",
            "layer_measured_ops", "layer_predicted_ops"}
    if not isinstance(record, dict):
        return [f"the record should be a dict, got {type(record).__name__}"]
    missing = need - set(record)
    if missing:
        return [f"the record is missing the keys {sorted(missing)}"]
    dtype, threads = record["dtype"], record["threads"]
    if dtype not in ("float32", "float64"):
        return [f"dtype should be 'float32' or 'float64', got {dtype!r}"]
    if not is_int(threads) or not 1 <= threads <= PLAUSIBLE["max_threads"]:
        return [f"threads should be the number of BLAS threads (an int >= 1), got {threads!r}"]

    def timings(where, seconds):
        if not isinstance(seconds, (list, tuple)) or len(seconds) < 3:
            return f"{where}: give at least 3 timed repeats, got {seconds!r}"
        if not all(is_real(t) and math.isfinite(t) and t > 0 for t in seconds):
            return f"{where}: every time must be a positive number of seconds"
        if len({float(t) for t in seconds}) == 1:
            return f"{where}: {len(seconds)} identical times: a real timer never repeats itself exactly"
        return None

    out = []
    gemm = record["gemm"]
    if not isinstance(gemm, (list, tuple)) or not all(isinstance(s, dict) and {"n", "seconds"} <= set(s)
                                                      for s in gemm):
        return ["gemm should be a list of {'n': int, 'seconds': [...]} dicts"]
    sizes = [s["n"] for s in gemm]
    if not all(is_int(n) and 16 <= n <= 16384 for n in sizes) or len(set(sizes)) < 3:
        return ["gemm should hold at least 3 different sizes n (ints from 16 to 16384)"]
    for s in gemm:
        msg = timings(f"gemm n={s['n']}", s["seconds"])
        if msg:
            return [msg]
        rate = gemm_ops(s["n"], dtype) / min(s["seconds"])
        bad = plausibility_problem(dtype, threads, rate)
        if bad:
            out.append(f"gemm n={s['n']}: the fastest repeat gives {bad}")
    stream_rows = record["stream"]
    if not isinstance(stream_rows, (list, tuple)) or not stream_rows or not all(
            isinstance(s, dict) and {"kernel", "bytes", "seconds"} <= set(s) for s in stream_rows):
        return out + ["stream should be the list of {'kernel', 'bytes', 'seconds'} dicts of ma.measure.stream()"]
    for s in stream_rows:
        msg = timings(f"stream {s['kernel']}", s["seconds"])
        if msg:
            return out + [msg]
        if not is_real(s["bytes"]) or s["bytes"] < MIN_STREAM_BYTES:
            out.append(f"stream {s['kernel']}: {s['bytes']} bytes may fit a cache; stream at least "
                       f"{MIN_STREAM_BYTES // 2**20} MiB")
    if out:
        return out
    peak = summarize_gemm([{"n": s["n"], "seconds": s["seconds"]} for s in gemm], dtype)["peak_ops"]
    bw = summarize_stream(stream_rows)["bandwidth"]
    for key, want in (("peak_ops", peak), ("bandwidth", bw), ("ridge", peak / bw)):
        got = record[key]
        if not is_real(got) or not math.isclose(got, want, rel_tol=1e-6):
            out.append(f"{key} does not follow from your timings (got {got!r})")
    bad = plausibility_problem(dtype, threads, peak, bw)
    if bad:
        out.append(bad)
    layer = record["layer"]
    if not isinstance(layer, dict) or not {"M", "K", "N", "seconds"} <= set(layer) or not all(
            is_int(layer[k]) and layer[k] >= 1 for k in "MKN"):
        return out + ["layer should be {'M': int, 'K': int, 'N': int, 'seconds': [...]}"]
    msg = timings("layer", layer["seconds"])
    if msg:
        return out + [msg]
    M, K, N = layer["M"], layer["K"], layer["N"]
    ops = 2.0 * M * K * N
    measured = ops / float(np.median(np.asarray(layer["seconds"], dtype=np.float64)))
    item = np.dtype(dtype).itemsize
    predicted = min(peak, ops / ((M * K + K * N + M * N) * item) * bw)
    for key, want in (("layer_measured_ops", measured), ("layer_predicted_ops", predicted)):
        got = record[key]
        if not is_real(got) or not math.isclose(got, want, rel_tol=1e-6):
            out.append(f"{key} does not follow from your layer timing and your roofline (got {got!r})")
    bad = plausibility_problem(dtype, threads, ops / min(layer["seconds"]))
    if bad:
        out.append(f"layer: {bad}")
    elif measured > 3 * peak:
        out.append("the layer ran more than 3x faster than your peak: the size sweep missed this "
                   "machine's peak (measure again, with larger sizes)")
    return out


# --------------------------------------------------------------------------- #
# The machine
# --------------------------------------------------------------------------- #
def last_level_cache_bytes() -> tuple:
    """(bytes, how it was found) of the largest CPU cache; 32 MiB assumed if unknown."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    with contextlib.suppress(OSError, ValueError):
        sizes = []
        for entry in os.listdir(base):
            if entry.startswith("index"):
                with open(os.path.join(base, entry, "size")) as fh:
                    text = fh.read().strip().upper()
                mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1)
                sizes.append(int(text.rstrip("KMG")) * mult)
        if sizes:
            return max(sizes), "sysfs"
    if sys.platform == "darwin":
        import subprocess
        for key in ("hw.l3cachesize", "hw.l2cachesize"):
            with contextlib.suppress(Exception):
                out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2)
                if out.returncode == 0 and int(out.stdout.strip()) > 0:
                    return int(out.stdout.strip()), f"sysctl {key}"
    return _DEFAULT_LLC, "unknown: 32 MiB assumed"


def blas_info() -> dict:
    """numpy's BLAS as threadpoolctl sees it (library, version, threads); {} without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {k: pool.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
    return {}


@contextlib.contextmanager
def _threads(n):
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise ImportError("setting BLAS threads needs threadpoolctl (pip install threadpoolctl)") from exc
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


class _Progress:
    """A one-line text progress bar on stderr (nothing when disabled)."""

    def __init__(self, enabled: bool, budget_s: float):
        self.enabled, self.budget_s, self.t0 = enabled, budget_s, time.perf_counter()

    def update(self, label: str):
        if not self.enabled:
            return
        frac = min(1.0, (time.perf_counter() - self.t0) / self.budget_s)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        sys.stderr.write(f"\rmeasuring [{bar}] {label[:40]:40}")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


def gemm_sweep(dtypes=("float64", "float32"), threads=None, *, sizes=None, repeats: int = 5,
               budget_s: float = 2.0, max_n: int = 2048, progress: bool = False) -> list:
    """Time GEMMs over a sweep of sizes for each dtype and thread count.

    ``threads``: a list of thread counts (default: 1 and all the BLAS's
    threads). ``sizes``: fixed sizes, else 64, 128, ... doubled while one
    call takes less than about ``budget_s / 40`` and ``n <= max_n``. Returns
    one dict per (dtype, threads, n) with ``seconds``.
    """
    dtypes = [_check_dtype(d) for d in dtypes]
    budget_s = positive_number("budget_s", budget_s)
    if threads is None:
        full = blas_info().get("num_threads") or os.cpu_count() or 1
        threads = sorted({1, int(full)})
    threads = [positive_int("threads", t) for t in threads]
    configs = [(d, t) for t in threads for d in dtypes]
    share = budget_s / len(configs)
    bar, out = _Progress(progress, budget_s), []
    for dtype, nthreads in configs:
        t_start = time.perf_counter()
        with _threads(nthreads):
            n_list = list(sizes) if sizes is not None else None
            n = 64
            while True:
                if n_list is not None:
                    if not n_list:
                        break
                    n = n_list.pop(0)
                bar.update(f"GEMM {dtype} n={n} threads={nthreads}")
                secs = time_gemm(n, dtype, repeats=repeats)
                out.append({"dtype": dtype, "threads": nthreads, "n": int(n), "seconds": secs})
                if n_list is None:
                    spent = time.perf_counter() - t_start
                    n *= 2
                    if n > max_n or spent + 8 * sum(secs) * 1.3 > share:
                        break
    bar.close()
    return out


def stream(*, array_bytes: int | None = None, repeats: int = 5, progress: bool = False) -> list:
    """STREAM-like copy (``c[:] = a``) and triad (``a = b + s * c``) on float64 arrays.

    The three arrays together default to 4x the last-level cache (each at
    least 16 MiB, at most 128 MiB), so no pass finds its data in the cache.
    Bytes counted per call: copy 2 arrays, triad 5 (numpy does the
    triad in two passes: ``a = s * c`` reads c and writes a; ``a += b`` reads
    a and b and writes a).
    """
    llc, _ = last_level_cache_bytes()
    nbytes = array_bytes if array_bytes is not None else min(max(4 * llc // 3, 16 * 2**20), 128 * 2**20)
    nbytes = positive_int("array_bytes", int(nbytes), low=8 * 1024)
    n = nbytes // 8
    a, b, c = np.ones(n), np.full(n, 2.0), np.full(n, 0.5)    # touched now: no page faults when timed
    scalar = 3.0

    def triad():
        np.multiply(c, scalar, out=a)
        np.add(a, b, out=a)

    bar = _Progress(progress, 1.0)
    bar.update("memory: copy")
    copy_s = time_call(lambda: np.copyto(c, a), repeats=repeats)
    bar.update("memory: triad")
    triad_s = time_call(triad, repeats=repeats)
    bar.close()
    return [{"kernel": "copy", "bytes": 2 * 8 * n, "seconds": copy_s},
            {"kernel": "triad", "bytes": 5 * 8 * n, "seconds": triad_s}]


@dataclass
class MachineReport:
    """What :func:`measure_machine` found. ``gemm`` and ``memory`` hold the raw samples."""

    gemm: list
    memory: list
    info: dict = field(default_factory=dict)
    noisy: bool = False
    notes: list = field(default_factory=list)

    def samples(self, dtype: str = "float64", threads: int | None = None) -> list:
        """The GEMM samples of one dtype and thread count (default: the most threads)."""
        dtype = _check_dtype(dtype)
        rows = [s for s in self.gemm if s["dtype"] == dtype]
        if not rows:
            raise KeyError(f"no {dtype} GEMM was measured; measured: {sorted({s['dtype'] for s in self.gemm})}")
        threads = max(s["threads"] for s in rows) if threads is None else threads
        picked = [{"n": s["n"], "seconds": list(s["seconds"])} for s in rows if s["threads"] == threads]
        if not picked:
            raise KeyError(f"no {dtype} GEMM with {threads} threads; measured {sorted({s['threads'] for s in rows})}")
        return picked

    def threads(self) -> list:
        return sorted({s["threads"] for s in self.gemm})

    def best_threads(self, dtype: str = "float64") -> int:
        """The thread count with the highest peak for ``dtype`` (on a busy machine, not always all)."""
        counts = sorted({s["threads"] for s in self.gemm if s["dtype"] == _check_dtype(dtype)})
        if not counts:
            raise KeyError(f"no {dtype} GEMM was measured")
        return max(counts, key=lambda t: summarize_gemm(self.samples(dtype, t), dtype)["peak_ops"])

    def peak(self, dtype: str = "float64", threads: int | None = None) -> float:
        """Peak-like GEMM ops/s (see :func:`summarize_gemm`); default: the best thread count."""
        threads = self.best_threads(dtype) if threads is None else threads
        return summarize_gemm(self.samples(dtype, threads), dtype)["peak_ops"]

    @property
    def bandwidth(self) -> float:
        """Memory bandwidth in bytes/s (see :func:`summarize_stream`)."""
        return summarize_stream(self.memory)["bandwidth"]

    def roofline(self, dtype: str = "float32", threads: int | None = None):
        """The measured roofline of this machine as a :class:`~mini_accel.roofline.Roofline`."""
        from .roofline import Roofline
        t = threads if threads is not None else self.best_threads(dtype)
        return Roofline(f"this machine ({self.info.get('cpu', 'CPU')}, {dtype}, {t} thr.)",
                        self.peak(dtype, t), self.bandwidth, _PRECISION.get(dtype, dtype),
                        f"measured by mini_accel.measure on {self.info.get('date', '?')}")

    def as_device(self, name: str = "This machine (measured)"):
        """A catalog-style :class:`~mini_accel.devices.Device` (fp32 peak, measured bandwidth)."""
        from .devices import Device
        peaks = {"fp32": self.peak("float32")} if any(s["dtype"] == "float32" for s in self.gemm) else {}
        return Device(name=name, vendor=self.info.get("cpu", "?"), kind="edge", arch="cpu",
                      year=None, process_nm=None, peaks=peaks, unspecified_ops=None, mem_gb=None,
                      bandwidth=self.bandwidth, onchip_mb=self.info.get("llc_bytes", 0) / 2**20 or None,
                      tdp_w=None, price_usd=None, status="M", flagged=(),
                      source=f"measured by mini_accel.measure on {self.info.get('date', '?')}: "
                             f"numpy BLAS {self.info.get('blas', {})}; STREAM-like triad/copy")

    def summary(self) -> str:
        """A few lines: peaks per dtype and thread count, bandwidth, ridge, noise verdict."""
        lines = [f"{self.info.get('cpu', 'CPU')}, BLAS {self.info.get('blas', {}).get('internal_api', '?')}"]
        for dtype in sorted({s["dtype"] for s in self.gemm}):
            for t in self.threads():
                with contextlib.suppress(KeyError):
                    s = summarize_gemm(self.samples(dtype, t), dtype)
                    lines.append(f"  {dtype:10} {t:3d} thread(s): {s['peak_ops'] / 1e9:8.1f} GFLOP/s "
                                 f"(n={s['best_n']}, spread {s['spread']:.0%})")
        m = summarize_stream(self.memory)
        lines.append(f"  memory ({m['best_kernel']}): {m['bandwidth'] / 1e9:.1f} GB/s (spread {m['spread']:.0%})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


_PRECISION = {"float32": "fp32", "float64": "fp64", "complex64": "fp32", "complex128": "fp64"}


def measure_machine(budget_s: float = 3.0, *, dtypes=("float64", "float32"), threads=None,
                    repeats: int = 5, progress: bool = True, array_bytes: int | None = None) -> MachineReport:
    """GEMM sweep plus memory bandwidth within about ``budget_s`` seconds.

    Warns :class:`NoisyMachineWarning` (and sets ``report.noisy``) when the
    best GEMM or the bandwidth timings spread more than :data:`NOISY_SPREAD`.
    """
    budget_s = positive_number("budget_s", budget_s)
    llc, how = last_level_cache_bytes()
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "blas": blas_info(), "llc_bytes": llc, "llc_source": how,
            "date": _dt.date.today().isoformat(), "numpy": np.__version__}
    memory = stream(array_bytes=array_bytes, repeats=repeats, progress=progress)
    gemm = gemm_sweep(dtypes, threads, repeats=repeats, budget_s=0.8 * budget_s, progress=progress)
    report = MachineReport(gemm, memory, info)
    spreads = [summarize_stream(memory)["spread"]]
    for dtype in {s["dtype"] for s in gemm}:
        for t in report.threads():
            with contextlib.suppress(KeyError):
                spreads.append(summarize_gemm(report.samples(dtype, t), dtype)["spread"])
    if max(spreads) > NOISY_SPREAD:
        report.noisy = True
        msg = (f"the timings spread up to {max(spreads):.0%} (more than {NOISY_SPREAD:.0%}): this machine is "
               "too noisy to trust right now. Close other programs, plug in a laptop, and measure again "
               "with a larger budget_s.")
        report.notes.append(msg)
        warnings.warn(msg, NoisyMachineWarning, stacklevel=2)
    return report


# --------------------------------------------------------------------------- #
# The course's workloads on the measured roofline
# --------------------------------------------------------------------------- #
def _course_gemms():
    from .workloads import get_workload
    picks = [("resnet50", "layer3.0.conv2"), ("resnet50", "fc"), ("bert_base_layer", None),
             ("gpt2_small_decode", None)]
    out = []
    for net, layer_name in picks:
        w = get_workload(net)
        if layer_name is not None:
            with contextlib.suppress(KeyError):
                g = w.layer(layer_name).gemm
                out.append((f"{net} {layer_name}", g.M, g.K, g.N))
                continue
        big = max((layer for layer in w.gemm_layers() if layer.weight_elems), key=lambda l: l.macs)
        out.append((f"{net} {big.name}", big.gemm.M, big.gemm.K, big.gemm.N))
    return out


def measure_workloads(report: MachineReport, dtype: str = "float32", *, repeats: int = 5,
                      threads: int | None = None) -> list:
    """Time GEMMs of real layers and a small MLP forward; place each against the measured roofline.

    Each row: name, M, K, N, ops, bytes (every operand once), intensity,
    measured ops/s, attainable ops/s from ``report.roofline(dtype)`` and
    their ratio (above 1 means the data came from a cache faster than the
    measured DRAM bandwidth); timed with the roofline's thread count (default: the best one).
    """
    dtype = _check_dtype(dtype)
    threads = report.best_threads(dtype) if threads is None else threads
    roof = report.roofline(dtype, threads)
    item = np.dtype(dtype).itemsize
    shapes = _course_gemms() + [("MLP 784-512-512-10 fwd, batch 64", None, None, None)]
    rows = []          # operands filled with ones: the values do not change a BLAS's speed
    with _threads(threads):
        for name, M, K, N in shapes:
            if M is None:
                dims = [(64, 784, 512), (64, 512, 512), (64, 512, 10)]
                ws = [np.full((k, n), 0.5, dtype=dtype) for _, k, n in dims]
                x = np.ones((64, 784), dtype=dtype)

                def fwd(x=x, ws=ws):
                    h = x
                    for i, w in enumerate(ws):
                        h = h @ w
                        if i < len(ws) - 1:
                            np.maximum(h, 0, out=h)
                    return h
                secs = time_call(fwd, repeats=repeats)
                ops = sum(2.0 * m * k * n for m, k, n in dims)
                moved = sum((m * k + k * n + m * n) * item for m, k, n in dims)
                M, K, N = dims[0]
            else:
                a = np.ones((M, K), dtype=dtype)
                b = np.full((K, N), 0.5, dtype=dtype)
                secs = time_call(lambda a=a, b=b: a @ b, repeats=repeats)
                ops = float(BLAS_DTYPES[dtype]) * M * K * N
                moved = (M * K + K * N + M * N) * item
            med, spread = _median_spread(secs)
            intensity = ops / moved
            att = roof.attainable(intensity)
            rows.append({"name": name, "M": M, "K": K, "N": N, "ops": ops, "bytes": moved,
                         "intensity": intensity, "seconds": secs, "spread": spread,
                         "measured_ops": ops / med, "attainable_ops": att,
                         "fraction_of_roof": ops / med / att, "bound": roof.bound(intensity)})
    return rows


# The optional GPU sweep lives in its own module; its names stay importable from here.
from .measure_gpu import TORCH_DTYPES, gpu_sweep, torch_accelerator, torch_gemm_sweep  # noqa: E402
