"""Argument checks shared by the public modules (private)."""
from __future__ import annotations

import math
import numbers

import numpy as np


def positive_number(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0), else TypeError/ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def fraction(name: str, value, *, allow_zero: bool = True) -> float:
    """A number in [0, 1] (or (0, 1] with ``allow_zero=False``)."""
    value = positive_number(name, value, allow_zero=allow_zero)
    if value > 1:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
    return value


def positive_int(name: str, value, *, low: int = 1, high: int | None = None) -> int:
    """An int (not a bool) in [low, high], else TypeError/ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def positive_array(name: str, values) -> np.ndarray:
    """A float array of finite values > 0 (scalars become 0-d arrays)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers, got {values!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {values!r}")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {values!r}")
    return arr
