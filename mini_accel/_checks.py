"""Argument checks shared by every public function (private).

One rule for the exception type, as in scikit-learn's parameter validation:

* the wrong *kind* of value (a string where a number belongs, a float where
  an int belongs, a truthy string where a bool belongs, an object array) is a
  :class:`TypeError`;
* the right kind with a wrong *value* (out of its interval, not one of the
  options, NaN, a shape that does not fit, too large to allocate) is a
  :class:`ValueError`.

Every message names the argument, says what it must be and what it got, so a
student can fix the call without reading the source. Constraints are declared
once, as :class:`Interval` and :class:`Options`, and either checked inline
with the ``check_*`` functions (which also convert) or declared on a function
with :func:`validate_params`.

Nothing here allocates in proportion to the input before the size is checked:
:func:`check_array` refuses more than :data:`MAX_ELEMENTS` elements while the
input is still a (possibly broadcast) view.

>>> check_int("rows", 8, low=1)
8
>>> check_number("clock_hz", 7e8, low=0, closed="neither")
700000000.0
>>> check_option("dataflow", "WS", ("ws", "os", "is"))
'ws'
>>> check_bool("double_buffer", "False")
Traceback (most recent call last):
...
TypeError: double_buffer must be True or False, got str ('False')
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_ELEMENTS", "Interval", "Options", "UnknownName", "validate_params",
    "check_number", "check_int", "check_bool", "check_option", "check_array", "check_size",
    "check_rng", "check_instance", "is_int", "is_real",
    "positive_number", "fraction", "positive_int", "positive_array",
]

#: The largest array (in elements) a public function accepts: 2**28 float64
#: values are 2 GiB. Larger inputs get a ValueError before anything is copied.
MAX_ELEMENTS = 2 ** 28

_CLOSED = ("both", "left", "right", "neither")
_INF = float("inf")


class UnknownName(KeyError, ValueError):
    """A name that is not in a catalog (a device, a model, a table row).

    A ValueError naming the argument, and still a KeyError for code that
    caught the KeyError the look-ups raised before.

    >>> try:
    ...     raise UnknownName("name must be one of ('a', 'b'), got 'c'")
    ... except ValueError as exc:
    ...     print(exc)
    name must be one of ('a', 'b'), got 'c'
    """

    def __str__(self) -> str:   # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _got(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} ({text})"


def _bound(x) -> str:
    """A bound as people read it: ints in full (16777216), floats short (0.5, 1e+12)."""
    if x is None:
        return ""
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:g}"


def is_int(value) -> bool:
    """Whether ``value`` is an int (numpy ints too), not a bool: for code that reports, not raises."""
    return _is_int(value)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (int or float, numpy too), not a bool."""
    return _is_real(value)


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return not _is_bool(value) and isinstance(value, (numbers.Real, np.floating, np.integer))


def _is_int(value) -> bool:
    return not _is_bool(value) and isinstance(value, (numbers.Integral, np.integer))


@dataclass(frozen=True)
class Interval:
    """A range of numbers: ``kind`` is ``"real"`` or ``"int"``; ``None`` is unbounded.

    ``closed`` says which ends belong to it: ``"both"``, ``"left"``,
    ``"right"`` or ``"neither"``.

    >>> Interval("int", 1, None).describe()
    'an int >= 1'
    >>> Interval("real", 0, 1, closed="right").describe()
    'a number in (0, 1]'
    """

    kind: str = "real"
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def __post_init__(self):
        if self.kind not in ("real", "int"):
            raise ValueError(f"kind must be 'real' or 'int', got {self.kind!r}")
        if self.closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {self.closed!r}")

    def condition(self) -> str:
        """The bound alone, as in messages: ``'>= 1'``, ``'in [0, 1]'`` (``''`` if unbounded)."""
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        lo, hi = _bound(self.low), _bound(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"
        if self.low is not None:
            return f"{'>=' if lo_in else '>'} {lo}"
        if self.high is not None:
            return f"{'<=' if hi_in else '<'} {hi}"
        return ""

    def describe(self) -> str:
        noun = "an int" if self.kind == "int" else "a number"
        return f"{noun} {self.condition()}".strip()

    def check(self, name: str, value):
        """``value`` as an int or float inside the interval, else TypeError/ValueError."""
        if self.kind == "int":
            if not _is_int(value):
                hint = ""
                if _is_real(value) and math.isfinite(float(value)) and float(value).is_integer():
                    hint = f"; pass int({value!r})"
                raise TypeError(f"{name} must be {self.describe()}, got {_got(value)}{hint}")
            value = int(value)
        else:
            if not _is_real(value):
                raise TypeError(f"{name} must be {self.describe()}, got {_got(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if ((self.low is not None and (value < self.low or (value == self.low and not lo_in)))
                or (self.high is not None and (value > self.high or (value == self.high and not hi_in)))):
            raise ValueError(f"{name} must be {self.condition()}, got {value!r}")
        return value


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings, matched without regard to case; ``aliases`` map to them.

    >>> Options(("lru", "fifo")).check("policy", "LRU")
    'lru'
    """

    values: tuple
    aliases: tuple = ()     # pairs (alias, canonical value)

    def check(self, name: str, value) -> str:
        return check_option(name, value, self.values, aliases=dict(self.aliases))


def check_number(name: str, value, *, low=None, high=None, closed: str = "both") -> float:
    """A finite float in the interval ``low``..``high`` (``closed`` as in :class:`Interval`)."""
    if type(value) is float and closed == "both" and value == value and value not in (_INF, -_INF) \
            and (low is None or value >= low) and (high is None or value <= high):
        return value                      # the common case, without building an Interval
    return Interval("real", low, high, closed).check(name, value)


def check_int(name: str, value, *, low=None, high=None) -> int:
    """An int (not a bool, not a float) in ``[low, high]``."""
    if type(value) is int and (low is None or value >= low) and (high is None or value <= high):
        return value                      # the common case, without building an Interval
    return Interval("int", low, high, "both").check(name, value)


def check_bool(name: str, value) -> bool:
    """``True`` or ``False`` (numpy bools too); a truthy string or a number is a TypeError."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return bool(value)


def check_option(name: str, value, options, *, aliases: dict | None = None) -> str:
    """``value`` (a string, any case) as one of ``options``, following ``aliases`` first.

    Not a string is a TypeError; a string that is not an option a ValueError
    that lists the options.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(options)} (a string), got {_got(value)}")
    key = value.strip().lower()
    if aliases:
        key = {k.lower(): v for k, v in aliases.items()}.get(key, key)
    lowered = {str(o).lower(): o for o in options}
    if key not in lowered:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return lowered[key]


def check_size(name: str, elements, *, max_elements: int = MAX_ELEMENTS) -> int:
    """A non-negative element count no larger than ``max_elements`` (ValueError past it)."""
    if elements > max_elements:
        raise ValueError(f"{name} would hold {int(elements):,} elements, more than the "
                         f"{max_elements:,} this library accepts; use smaller sizes")
    return int(elements)


def check_array(name: str, values, *, ndim: int | tuple | None = None, shape: tuple | None = None,
                dtype=np.float64, finite: bool = True, low=None, high=None, allow_empty: bool = True,
                max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """``values`` as a numpy array of ``dtype`` (``None`` keeps a numeric dtype), checked.

    Checks, in order: numeric (no strings, objects or complex: TypeError), the
    element count (ValueError past ``max_elements``, before any copy), ``ndim``
    (an int or a tuple of allowed ints), ``shape`` (``None`` entries match any
    length), emptiness, finiteness (NaN/inf) and the closed range ``[low, high]``.

    >>> check_array("x", [[1, 2], [3, 4]], ndim=2).dtype
    dtype('float64')
    >>> check_array("x", [1.0, float("nan")])
    Traceback (most recent call last):
    ...
    ValueError: x must be finite (no NaN or inf); 1 of 2 values are not
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {_got(values)}")
    arr = values if isinstance(values, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError) as exc:   # ragged lists and the like
            raise TypeError(f"{name} must be an array of numbers, got {_got(values)}") from exc
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "b" and dtype is not None
                                          and np.dtype(dtype).kind != "b"):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    check_size(name, arr.size, max_elements=max_elements)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if finite and arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise ValueError(f"{name} must be finite (no NaN or inf); {bad} of {arr.size} values are not")
    if low is not None and arr.size and np.min(arr) < low:
        raise ValueError(f"{name} must be >= {low:g}, got a minimum of {np.min(arr)!r}")
    if high is not None and arr.size and np.max(arr) > high:
        raise ValueError(f"{name} must be <= {high:g}, got a maximum of {np.max(arr)!r}")
    return arr


def check_rng(name: str, rng) -> np.random.Generator:
    """A numpy Generator from ``None``, an int seed or a Generator."""
    if rng is None or _is_int(rng):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"{name} must be a seed >= 0, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"{name} must be None, an int seed or a numpy Generator, got {_got(rng)}")


def check_instance(name: str, value, cls, *, what: str | None = None):
    """``value`` if it is an instance of ``cls`` (a class or tuple), else TypeError."""
    if not isinstance(value, cls):
        names = cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls)
        raise TypeError(f"{name} must be {what or 'a ' + names}, got {_got(value)}")
    return value


def validate_params(constraints: dict):
    """Declare a function's constraints once; they are checked on every call.

    ``constraints`` maps an argument name to an :class:`Interval`, an
    :class:`Options`, ``bool`` (:func:`check_bool`), a class or tuple of classes
    (:func:`check_instance`), or a list of these where any one may match
    (``None`` in the list allows ``None``). The function receives its
    arguments unchanged: use the ``check_*`` functions inline where you need the
    converted value.

    >>> @validate_params({"bits": Interval("int", 1, 32), "signed": bool})
    ... def levels(bits, signed=True):
    ...     return 2 ** bits
    >>> levels(8)
    256
    >>> levels(8.0)
    Traceback (most recent call last):
    ...
    TypeError: bits must be an int in [1, 32], got float (8.0); pass int(8.0)
    """
    def decorate(fn):
        sig = inspect.signature(fn)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate_params: {fn.__qualname__} has no parameters {sorted(unknown)}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                if name in constraints:
                    _check_one(name, value, constraints[name])
            return fn(*args, **kwargs)
        wrapper.__wrapped_constraints__ = constraints
        return wrapper
    return decorate


def _check_one(name: str, value, constraint):
    if isinstance(constraint, list):
        if value is None and None in constraint:
            return
        errors = []
        for c in constraint:
            if c is None:
                continue
            try:
                _check_one(name, value, c)
                return
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        # a value of the right kind that failed a range is a ValueError, else TypeError
        value_errors = [e for e in errors if isinstance(e, ValueError)]
        raise (value_errors[0] if value_errors else errors[0])
    if constraint is bool:
        check_bool(name, value)
    elif isinstance(constraint, (Interval, Options)):
        constraint.check(name, value)
    elif isinstance(constraint, (type, tuple)):
        check_instance(name, value, constraint)
    else:
        raise TypeError(f"validate_params: unknown constraint {constraint!r} for {name}")


# Short forms the modules have used since the start; they follow the same rules.
def positive_number(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0 with ``allow_zero``)."""
    return check_number(name, value, low=0, closed="both" if allow_zero else "neither")


def fraction(name: str, value, *, allow_zero: bool = True) -> float:
    """A number in [0, 1] (or (0, 1] with ``allow_zero=False``)."""
    return check_number(name, value, low=0, high=1, closed="both" if allow_zero else "right")


def positive_int(name: str, value, *, low: int = 1, high: int | None = None) -> int:
    """An int (not a bool) in [low, high]."""
    return check_int(name, value, low=low, high=high)


def positive_array(name: str, values) -> np.ndarray:
    """A float array of finite values > 0 (scalars become 0-d arrays)."""
    arr = check_array(name, values)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {values!r}")
    return arr


def renamed_keyword(old: str, new: str):
    """Keep an old keyword argument working for one release, with a DeprecationWarning.

    >>> import warnings
    >>> @renamed_keyword("fmt", "precision")
    ... def bits(precision="fp16"):
    ...     return precision
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     bits(fmt="bf16"), caught[0].category.__name__
    ('bf16', 'DeprecationWarning')
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {old}= and {new}=; pass only {new}=")
                import warnings
                warnings.warn(f"{fn.__name__}(): the keyword {old}= is now {new}=; {old}= will be "
                              "removed in the next release", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return wrapper
    return decorate
