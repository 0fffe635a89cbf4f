"""Sealed checks: hidden tests whose verdict the student's kernel cannot forge.

A graded lab hides its tests in cells like::

    ### BEGIN HIDDEN TESTS
    from lab2_systolic_checks import seal; seal("ws_step", ws_step)
    ### END HIDDEN TESTS

``seal(name, target)`` looks up case ``name`` in the lab's case module
(``<notebook>_checks.py``, next to the notebook), draws fresh random inputs,
calls ``target`` on them while the library functions that would give the
answer away are switched off, and checks the results. That check runs in the
student's kernel, so the student sees a helpful message at once, but it is
*not* what decides the grade: code in the same kernel can patch anything
(``numpy.allclose``, ``numpy.testing``, ``builtins``, this module).

What decides the grade is the second half, done by the grader's own process
(``grading/sealed.py``, an nbgrader preprocessor that runs after the kernel):

* During ``nbgrader autograde`` the grader puts a fresh random seed in the
  kernel's environment (``MINI_ACCEL_CHECK_SEED``); the inputs are drawn from
  it, so answers cannot be precomputed.
* ``seal`` prints one line with the student's *results* (data only: numbers
  and arrays in JSON, never pickle).
* The grader re-draws the inputs from the seed it chose, recomputes the
  verdict with a pristine copy of the case module, and fails the cell if a
  result is missing or wrong, whatever the kernel claimed.

Outside autograde (a student running the lab, the tests executing a source
notebook) there is no seed in the environment: inputs come from a fixed seed
per case and nothing is printed.

This file is the single source of truth; ``python grading/course.py
generate`` copies it next to every lab (``grading/source/<lab>/`` and
``labs/``), and ``tests/test_notebooks.py`` fails when a copy drifts.
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import json
import numbers
import os
import sys
import types
import zlib

import numpy as np

SEED_ENV = "MINI_ACCEL_CHECK_SEED"
RECORD_PREFIX = "@@mini_accel-sealed-check@@ "
#: A result larger than this (encoded) is refused: no check needs more.
MAX_RECORD_CHARS = 4_000_000
_ALLOWED_KINDS = "biuf"        # bool, int, unsigned, float arrays only


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #
class Case:
    """One sealed check.

    Parameters
    ----------
    inputs : callable(rng) -> list of tuples, or None
        Argument tuples to call the student's function with. None for a
        *value* case: the student's object itself is checked.
    check : callable(args, result) -> str or None
        A message saying what is wrong (without giving the answer away), or
        None when ``result`` is right for ``args`` (``args`` is None for a
        value case). It must cope with any ``result``: a wrong type, shape or
        dtype is a message, never an exception.
    blocked : tuple of str
        Dotted names of library functions (``"mini_accel.nn.im2col"``,
        ``"mini_accel.systolic.SystolicArray.matmul"``) that raise while the
        student's function runs, so that calling the library's answer does
        not pass a task whose point is to implement it.
    guards : dict of str -> callable(*args, **kwargs) -> str or None
        Library functions the student *may* call, but only in a certain way
        (e.g. one array-sized tile per ``SystolicArray.matmul`` call): the
        guard sees the call's arguments and returns a message to refuse it.
    what : str
        How the messages name the student's object, e.g. ``"ws_step"``.
    """

    def __init__(self, inputs, check, blocked=(), guards=None, what=""):
        self.inputs, self.check, self.blocked = inputs, check, tuple(blocked)
        self.guards, self.what = dict(guards or {}), what


def case_seed(name: str, salt: str | None) -> int:
    """The seed of case ``name``: fixed without a salt, else mixed with the grader's salt."""
    text = name if salt is None else f"{salt}:{name}"
    return zlib.crc32(text.encode())


def draw_inputs(case: Case, name: str, salt: str | None):
    if case.inputs is None:
        return None
    return list(case.inputs(np.random.default_rng(case_seed(name, salt))))


def _copy(value):
    """A deep copy of arrays in nested tuples/lists, so a function that edits its inputs
    in place cannot change what the grader compares against."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def verdict(case: Case, args_list, results) -> str | None:
    """The first failure message for ``results`` (one per argument tuple), or None."""
    if case.inputs is None:
        return case.check(None, results)
    if not isinstance(results, list) or len(results) != len(args_list):
        return f"{case.what}: the grader did not get one result per hidden case"
    for i, (args, result) in enumerate(zip(args_list, results)):
        try:
            message = case.check(args, result)
        except Exception as exc:  # a strange result must fail, not crash the grader
            message = f"{case.what}: the result could not be checked ({type(exc).__name__})"
        if message:
            return f"{message} [hidden case {i + 1} of {len(args_list)}]"
    return None


# --------------------------------------------------------------------------- #
# Helpers for the case modules' checks (messages say what is wrong, not what is right)
# --------------------------------------------------------------------------- #
def is_int(x) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def is_number(x) -> bool:
    return isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(x, (bool, np.bool_))


def close(got, want, rtol=1e-9) -> bool:
    """Whether the number ``got`` equals ``want`` to a relative tolerance."""
    return is_number(got) and abs(float(got) - float(want)) <= rtol * max(1.0, abs(float(want)))


def array_problem(what, got, shape, want=None, rtol=1e-9, atol=1e-9):
    """Why ``got`` is not a numeric array of ``shape`` (equal to ``want``), or None."""
    if not isinstance(got, np.ndarray):
        return f"{what} should be a numpy array, got {type(got).__name__}"
    if got.shape != tuple(shape):
        return f"{what} has shape {got.shape}, expected {tuple(shape)}"
    if got.dtype.kind not in "biuf":
        return f"{what} should hold numbers, got dtype {got.dtype}"
    if want is None:
        return None
    have = got.astype(np.float64)
    want = np.asarray(want, dtype=np.float64)
    if not np.isfinite(have).all():
        return f"{what} contains NaN or inf"
    bad = np.abs(have - want) > atol + rtol * np.abs(want)
    if bad.any():
        return f"{what}: {int(bad.sum())} of {bad.size} values are wrong"
    return None


# --------------------------------------------------------------------------- #
# Switching library functions off while the student's code runs
# --------------------------------------------------------------------------- #
def _resolve(dotted: str):
    """(owner, attribute name, object) for a dotted name such as a.b.Class.method."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(f"cannot resolve {dotted!r}")


def _raiser_code(name: str, freevars: tuple):
    """A code object that raises, with the same free variables as the one it replaces."""
    message = (f"{name} is switched off while the grader runs your code: the point of "
               "this task is to compute it yourself")
    body = "".join(f"    {v} = None\n" for v in freevars)
    uses = "".join(f"        {v}\n" for v in freevars)
    src = (f"def _outer():\n{body}    def _blocked(*args, **kwargs):\n{uses}"
           f"        raise RuntimeError({message!r})\n    return _blocked\n")
    namespace: dict = {}
    exec(compile(src, "<blocked>", "exec"), namespace)
    return namespace["_outer"]().__code__


@contextlib.contextmanager
def blocked(names, guards=None):
    """Make the named functions raise ``RuntimeError`` inside the ``with`` block.

    Python functions get their ``__code__`` swapped, so every reference to them
    (``from mini_accel import systolic_cycles as f`` included) raises;
    compiled functions are replaced on their module. ``guards`` maps a dotted
    name to a predicate; the function is replaced on its owner by a wrapper
    that refuses the calls the predicate objects to.
    """
    undo = []
    try:
        for dotted, predicate in (guards or {}).items():
            owner, attr, obj = _resolve(dotted)
            undo.append((owner, attr, owner.__dict__[attr] if isinstance(owner, type) else obj, False))
            setattr(owner, attr, _guarded(dotted, obj, predicate))
        for dotted in names:
            owner, attr, obj = _resolve(dotted)
            func = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
            # Only plain Python functions take a new __code__ (a Cython function
            # shows one but refuses the assignment): replace the others on their owner.
            if isinstance(func, types.FunctionType):
                undo.append((func, "__code__", func.__code__, True))
                func.__code__ = _raiser_code(dotted, func.__code__.co_freevars)
            else:
                undo.append((owner, attr, obj, False))
                setattr(owner, attr, _compiled_raiser(dotted))
        yield
    finally:
        failed = []
        for target, attr, original, is_code in reversed(undo):
            try:   # undo every entry, even when one of them fails
                if is_code:
                    target.__code__ = original
                else:
                    setattr(target, attr, original)
            except Exception as exc:  # pragma: no cover - reported below
                failed.append(f"{attr}: {exc}")
        if failed:
            raise RuntimeError("could not switch back on: " + "; ".join(failed))


def _guarded(name, func, predicate):
    def guarded(*args, **kwargs):
        message = predicate(*args, **kwargs)
        if message:
            raise RuntimeError(f"{name} refused by the grader: {message}")
        return func(*args, **kwargs)
    return guarded


def _compiled_raiser(name):
    def _blocked(*args, **kwargs):
        raise RuntimeError(f"{name} is switched off while the grader runs your code")
    return _blocked


# --------------------------------------------------------------------------- #
# The record: data only, so the grader never runs anything from the kernel
# --------------------------------------------------------------------------- #
def encode(value):
    """JSON-able form of numbers, strings, arrays and nested lists/tuples/dicts."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ALLOWED_KINDS:
            return {"__repr__": f"array of dtype {value.dtype}"}
        return {"__ndarray__": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode(),
                "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return encode(value.item()) if value.dtype.kind in _ALLOWED_KINDS else {"__repr__": repr(value)}
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return {"__seq__": type(value).__name__, "items": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    return {"__repr__": f"object of type {type(value).__name__}"}


class Unreadable:
    """Stands for a result that was not plain data (a check compares it to nothing)."""

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return f"<{self.what}>"


def decode(value):
    """Inverse of :func:`encode`; never executes anything."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            dtype = np.dtype(value["dtype"])
            if dtype.kind not in _ALLOWED_KINDS:
                return Unreadable("array of a refused dtype")
            raw = base64.b64decode(value["__ndarray__"])
            return np.frombuffer(raw, dtype=dtype).reshape(value["shape"]).copy()
        if "__float__" in value:
            return float(value["__float__"])
        if "__seq__" in value:
            items = [decode(v) for v in value["items"]]
            return tuple(items) if value["__seq__"] == "tuple" else items
        if "__dict__" in value:
            return {_hashable(decode(k)): decode(v) for k, v in value["__dict__"]}
        if "__repr__" in value:
            return Unreadable(str(value["__repr__"]))
        return Unreadable("malformed record")
    if isinstance(value, list):
        return Unreadable("malformed record")
    return value


def _hashable(key):
    return key if isinstance(key, (str, int, float, bool, type(None), tuple)) else repr(key)


def make_record(name: str, results) -> str:
    payload = json.dumps({"case": name, "results": encode(results)}, separators=(",", ":"))
    return RECORD_PREFIX + base64.b64encode(zlib.compress(payload.encode())).decode()


def read_records(text: str) -> dict:
    """{case name: decoded results} for every well-formed record line in ``text``."""
    found = {}
    for line in text.splitlines():
        start = line.find(RECORD_PREFIX)
        if start < 0:
            continue
        blob = line[start + len(RECORD_PREFIX):].strip()
        if len(blob) > MAX_RECORD_CHARS:
            continue
        try:
            payload = json.loads(zlib.decompress(base64.b64decode(blob, validate=True),
                                                 bufsize=MAX_RECORD_CHARS))
            found[str(payload["case"])] = decode(payload["results"])
        except Exception:  # a forged or truncated line is simply not a record
            continue
    return found


# --------------------------------------------------------------------------- #
# The in-kernel half
# --------------------------------------------------------------------------- #
def seal(cases: dict, name: str, target) -> None:
    """Run hidden case ``name`` on ``target`` here, raise on failure, emit the record.

    Lab case modules wrap this as ``seal(name, target)`` with their own ``CASES``.
    """
    case = cases[name]
    salt = os.environ.get(SEED_ENV) or None
    args_list = draw_inputs(case, name, salt)
    if args_list is None:
        results = target
    else:
        if not callable(target):
            raise AssertionError(f"{case.what} should be a function, got {type(target).__name__}")
        results = []
        with blocked(case.blocked, case.guards):
            for args in args_list:
                try:
                    results.append(target(*_copy(args)))
                except RuntimeError as exc:
                    if "switched off while the grader" in str(exc) or "refused by the grader" in str(exc):
                        raise AssertionError(f"{case.what}: {exc}") from None
                    raise
    message = verdict(case, args_list, results)
    if message:
        raise AssertionError(message)
    if salt is not None:
        sys.stdout.write(make_record(name, results) + "\n")
        sys.stdout.flush()
