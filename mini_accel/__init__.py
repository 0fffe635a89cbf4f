"""mini_accel: a small, fast, documented library for reasoning about AI accelerators.

The hot loops are private Cython kernels in ``mini_accel._core``; everything
public validates its inputs and documents its model.

>>> import numpy as np, mini_accel as ma
>>> A = np.arange(6, dtype=np.int8).reshape(2, 3); B = np.ones((3, 2), np.int8)
>>> res = ma.SystolicArray(4, 4).matmul(A, B)
>>> res.output.tolist(), res.cycles
([[3, 3], [12, 12]], 16)
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

try:  # fail early, and say how to fix it, when the compiled core is missing
    from ._core import systolic as _systolic_kernels  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "mini_accel's compiled Cython core is missing or out of date "
        f"({exc}). Build it from the repository root with:\n"
        '    python -m pip install -e ".[labs]"\n'
        "(a C compiler and the Python headers are needed; on Debian: "
        "apt-get install build-essential python3-dev)."
    ) from exc

from .systolic import (  # noqa: E402
    DATAFLOWS,
    SystolicArray,
    SystolicResult,
    SystolicTrace,
    systolic_cycles,
    systolic_folds,
    systolic_traffic,
)

# Heavier or optional modules load on first use, so `import mini_accel` stays
# light and never imports matplotlib or ipywidgets (PEP 562).
_LAZY_MODULES = ("viz",)


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'mini_accel' has no attribute {name!r}")


__all__ = [
    "DATAFLOWS",
    "SystolicArray",
    "SystolicResult",
    "SystolicTrace",
    "systolic_cycles",
    "systolic_folds",
    "systolic_traffic",
]
