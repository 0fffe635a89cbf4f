"""Measure a GPU through torch (optional): the GEMM sweep of :mod:`mini_accel.measure` in fp32/fp16/bf16.

Runs only where torch finds a CUDA or MPS GPU; elsewhere :func:`gpu_sweep`
returns the reason as a string. The timing loop, :func:`torch_gemm_sweep`,
takes any torch device, so the tests run it on the CPU.
"""
from __future__ import annotations

import math

from ._checks import check_option, positive_int
from .measure import summarize_gemm, time_call

__all__ = ["TORCH_DTYPES", "torch_accelerator", "torch_gemm_sweep", "gpu_sweep"]

#: The torch dtypes of the accelerator sweep (fp32, then the tensor-core types).
TORCH_DTYPES = ("float32", "float16", "bfloat16")


def torch_accelerator():
    """``(torch.device, synchronize)`` of the CUDA or MPS GPU torch finds, or a reason string."""
    try:
        import torch
    except ImportError:
        return "skipped: torch is not installed (pip install 'mini_accel[torch]')"
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.cuda.synchronize
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps"), torch.mps.synchronize
    return "skipped: torch finds no CUDA or MPS GPU on this machine"


def torch_gemm_sweep(device, synchronize, sizes=(1024, 2048, 4096), dtypes=TORCH_DTYPES, *,
                     repeats: int = 5, warmup: int = 1) -> dict:
    """The timing loop of :func:`gpu_sweep` on any torch ``device`` (tested on the CPU).

    Each timed call is ``a @ b`` (``n x n``) then ``synchronize()`` (GPU kernels run
    asynchronously). A dtype the device cannot allocate or multiply leaves an ``error``
    sample and no peak. Per dtype, ``peak_ops`` and ``spread`` are :func:`summarize_gemm`'s;
    ``tensor_core_speedup`` = peak(float16) / peak(float32) (NaN when either is missing).

    >>> import torch
    >>> r = torch_gemm_sweep(torch.device("cpu"), lambda: None, sizes=(32,), dtypes=("float32",), repeats=2)
    >>> r["samples"][0]["result_dtype"], len(r["samples"][0]["seconds"])
    ('torch.float32', 2)
    """
    import torch
    if not callable(synchronize):
        raise TypeError(f"synchronize must be callable, got {type(synchronize).__name__}")
    if isinstance(sizes, (int, str)) or not sizes:
        raise ValueError(f"sizes must be a non-empty list of matrix sizes, got {sizes!r}")
    sizes = [positive_int("sizes[i]", n, high=32768) for n in sizes]
    if isinstance(dtypes, str) or not dtypes:
        raise ValueError(f"dtypes must be a non-empty list drawn from {TORCH_DTYPES}, got {dtypes!r}")
    dtypes = [check_option("dtypes[i]", d, TORCH_DTYPES) for d in dtypes]
    repeats = positive_int("repeats", repeats)
    warmup = positive_int("warmup", warmup, low=0)
    samples, peaks, spreads = [], {}, {}
    for name in dtypes:
        done = []
        for n in sizes:
            try:
                a = torch.randn(n, n, device=device, dtype=getattr(torch, name))
                b = torch.randn(n, n, device=device, dtype=getattr(torch, name))
                result_dtype = str((a[:1, :1] @ b[:1, :1]).dtype)
            except (RuntimeError, TypeError) as exc:      # e.g. bf16 on an old MPS
                samples.append({"dtype": name, "n": n, "error": str(exc)})
                break

            def run(a=a, b=b):
                a @ b
                synchronize()
            done.append({"dtype": name, "n": n, "result_dtype": result_dtype,
                         "seconds": time_call(run, repeats=repeats, warmup=warmup)})
        samples.extend(done)
        if done:
            summary = summarize_gemm(done, "float32")        # 2 real operations per MAC
            peaks[name], spreads[name] = summary["peak_ops"], summary["spread"]
    speedup = peaks["float16"] / peaks["float32"] if {"float16", "float32"} <= set(peaks) else math.nan
    return {"device": str(device), "samples": samples, "peak_ops": peaks, "spread": spreads,
            "tensor_core_speedup": speedup}


def gpu_sweep(sizes=(1024, 2048, 4096), dtypes=TORCH_DTYPES, *, repeats: int = 5):
    """:func:`torch_gemm_sweep` on the CUDA or MPS GPU torch finds; a reason string where none.

    >>> isinstance(gpu_sweep(sizes=(64,), repeats=1), (dict, str))
    True
    """
    found = torch_accelerator()
    if isinstance(found, str):
        return found
    return torch_gemm_sweep(*found, sizes, dtypes, repeats=repeats)
