"""Private kernels: compiled Cython modules, or their pure-numpy fallbacks.

No validation happens here: call the public API. The wrappers get their
kernel module from :func:`load`, never by importing a kernel directly::

    from ._core import load as _load_kernels
    _kernels = _load_kernels("systolic")

:func:`load` returns the compiled ``mini_accel._core.<name>`` when it imports,
else ``mini_accel._core._fallback_<name>``: the same functions with the same
signatures and bit-identical results (same order of every addition), written
in numpy and plain Python, slower. The first time a compiled kernel is
missing, ONE ``RuntimeWarning`` names every missing kernel and says how to get
the compiled core (a C compiler, then reinstall). ``MINI_ACCEL_PURE_PYTHON=1``
in the environment forces the fallbacks without a warning (tests, or students
who want to read the kernels in Python).

In a source checkout (editable install, ``setup.py build_ext --inplace``) a
compiled kernel older than its ``.pyx`` gets a warning that says to rebuild.

This package imports nothing of ``mini_accel`` above it (an import-linter
contract in ``pyproject.toml`` checks it).
"""
from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from types import ModuleType

#: Every kernel: ``<name>.pyx`` compiled, ``_fallback_<name>.py`` in numpy.
KERNELS = ("cache", "mapping", "systolic")
#: Set to 1 (or true/yes/on) to use the pure-numpy kernels even when compiled ones exist.
ENV_VAR = "MINI_ACCEL_PURE_PYTHON"

_HERE = Path(__file__).resolve().parent
_chosen: dict[str, ModuleType] = {}
_missing: dict[str, str] | None = None    # kernel -> why its compiled module did not import


def pure_python_forced() -> bool:
    """True when ``MINI_ACCEL_PURE_PYTHON`` asks for the numpy fallbacks."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _probe() -> dict[str, str]:
    """Import every compiled kernel once; warn once about the missing and the stale ones."""
    missing: dict[str, str] = {}
    for name in KERNELS:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            missing[name] = str(exc)
    if missing:
        warnings.warn(
            "mini_accel: the compiled core is missing for "
            + ", ".join(f"{name} ({why})" for name, why in missing.items())
            + ". Using the pure-numpy fallback: same results, slower. To get the "
            "compiled core, install a C compiler and the Python headers (Debian/Ubuntu: "
            "apt-get install build-essential python3-dev; macOS: xcode-select --install; "
            "Windows: Microsoft C++ Build Tools), then reinstall mini_accel "
            '(python -m pip install --force-reinstall --no-deps ., or pip install -e ".[labs]" '
            f"in a clone). Set {ENV_VAR}=1 to use the fallback on purpose without this warning.",
            RuntimeWarning, stacklevel=3)
    stale = stale_kernels()
    if stale:
        warnings.warn(
            "mini_accel: the compiled kernel(s) " + ", ".join(stale) + " are older than "
            "their .pyx source: rebuild them from the repository root with "
            "`python setup.py build_ext --inplace` (or `pip install -e .`), or results "
            "may come from old code.", RuntimeWarning, stacklevel=3)
    return missing


def stale_kernels(root: Path | None = None) -> list[str]:
    """Names of compiled kernels older than their ``.pyx`` in a source checkout.

    Only a checkout counts (a ``setup.py`` two levels up): an installed wheel
    carries the ``.pyx`` for reading, with install-time file dates.
    """
    core = _HERE if root is None else Path(root)
    if not (core.parent.parent / "setup.py").is_file():
        return []
    stale = []
    for pyx in sorted(core.glob("*.pyx")):
        built = [p for p in core.glob(pyx.stem + ".*") if p.suffix in (".so", ".pyd")]
        if built and max(p.stat().st_mtime for p in built) < pyx.stat().st_mtime:
            stale.append(pyx.stem)
    return stale


def load(name: str) -> ModuleType:
    """The kernel module ``name`` (one of :data:`KERNELS`): compiled, else the fallback."""
    global _missing
    if name not in KERNELS:
        raise ValueError(f"name must be one of {KERNELS}, got {name!r}")
    if name in _chosen:
        return _chosen[name]
    if pure_python_forced():
        module = importlib.import_module(f"{__name__}._fallback_{name}")
    else:
        if _missing is None:
            _missing = _probe()
        if name in _missing:
            module = importlib.import_module(f"{__name__}._fallback_{name}")
        else:
            module = importlib.import_module(f"{__name__}.{name}")
    _chosen[name] = module
    return module


def is_compiled(module: ModuleType) -> bool:
    """True for a compiled kernel module, False for a pure-numpy fallback."""
    return not module.__name__.rsplit(".", 1)[-1].startswith("_fallback_")
