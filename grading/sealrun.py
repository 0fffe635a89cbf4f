"""The kernel's half of the sealed checks: run the student's function on the hidden inputs.

This is the only grading code that ever runs inside the student's kernel, and
it holds no answers. At grading time the grader (``grading/sandbox.py``)
writes three files into the sandbox's scratch folder, next to the notebook's
working directory:

* ``_sealed_inputs.json``: for each hidden case of the lab, the argument
  tuples drawn from the student's seed (data only), the library functions to
  switch off while the student's function runs, and the guards to apply;
* ``<notebook>_checks.py``: a one-line stub, so the hidden test cells' own
  ``from <notebook>_checks import seal`` finds :func:`seal` below;
* this file.

:func:`seal` calls the student's function on every hidden input and prints one
record line with the results (numbers and arrays in JSON, never pickle). It
does not judge them: the grader's process re-draws the same inputs and checks
the results with the case module it never let the kernel see
(``grading/sealed.py``). A function that raises, or calls a switched-off
library function, fails the cell here already.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import importlib
import json
import sys
import types
import zlib
from pathlib import Path

import numpy as np

RECORD_PREFIX = "@@mini_accel-sealed-check@@ "
INPUTS_FILE = "_sealed_inputs.json"
_ALLOWED_KINDS = "biuf"        # bool, int, unsigned, float arrays only


# --------------------------------------------------------------------------- #
# Guards: library calls the student may make, but only in a certain way
# --------------------------------------------------------------------------- #
def weight_tile_fits_array(array, A, B, *args, **kwargs):
    """Refuse ``SystolicArray.matmul`` calls whose weight tile is larger than the array."""
    B = np.asarray(B)
    if B.ndim == 2 and (B.shape[0] > array.rows or B.shape[1] > array.cols):
        return (f"a {B.shape[0]}x{B.shape[1]} weight tile does not fit the "
                f"{array.rows}x{array.cols} array: cut B into array-sized tiles yourself")
    return None


#: The guards a case may name (by function name): the kernel runs only these.
GUARDS = {f.__name__: f for f in (weight_tile_fits_array,)}


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


def copy_args(value):
    """A deep copy of arrays in nested tuples/lists, so a function that edits its inputs
    in place cannot change what the grader compares against."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(copy_args(v) for v in value)
    if isinstance(value, dict):
        return {k: copy_args(v) for k, v in value.items()}
    return value


def call_under_blocks(what, target, args_list, blocked_names, guards):
    """``[target(*args) for args in args_list]`` with the library's answers switched off.

    A call of a switched-off function becomes an ``AssertionError`` that says so.
    """
    if not callable(target):
        raise AssertionError(f"{what} should be a function, got {type(target).__name__}")
    results = []
    with blocked(blocked_names, guards):
        for args in args_list:
            try:
                results.append(target(*copy_args(args)))
            except RuntimeError as exc:
                if "switched off while the grader" in str(exc) or "refused by the grader" in str(exc):
                    raise AssertionError(f"{what}: {exc}") from None
                raise
    return results


# --------------------------------------------------------------------------- #
# The record: data only, so the grader never runs anything from the kernel
# --------------------------------------------------------------------------- #
def encode(value):
    """JSON-able form of numbers, strings, arrays, nested lists/tuples/dicts, and the
    library's own dataclasses (hidden inputs such as a ``mini_accel.workloads.Workload``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) \
            and type(value).__module__.startswith("mini_accel."):
        fields = [[f.name, encode(getattr(value, f.name))] for f in dataclasses.fields(value) if f.init]
        return {"__dataclass__": f"{type(value).__module__}:{type(value).__qualname__}", "fields": fields}
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


def decode(value, objects: bool = False):
    """Inverse of :func:`encode`; never executes anything but, with ``objects``, the
    constructor of a ``mini_accel`` dataclass (for hidden inputs, never for results)."""
    if isinstance(value, dict) and "__dataclass__" in value:
        if not objects:
            return Unreadable("an object, not plain data")
        module, _, name = str(value["__dataclass__"]).partition(":")
        if not module.startswith("mini_accel."):
            return Unreadable("an object from outside the library")
        cls = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        return cls(**{k: decode(v, objects) for k, v in value["fields"]})
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
            items = [decode(v, objects) for v in value["items"]]
            return tuple(items) if value["__seq__"] == "tuple" else items
        if "__dict__" in value:
            return {_hashable(decode(k, objects)): decode(v, objects) for k, v in value["__dict__"]}
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


# --------------------------------------------------------------------------- #
# The in-kernel entry point during grading
# --------------------------------------------------------------------------- #
def _payload() -> dict:
    return json.loads((Path(__file__).resolve().parent / INPUTS_FILE).read_text())


def seal(name: str, target) -> None:
    """Run hidden case ``name`` on ``target`` and print the record for the grader."""
    case = _payload().get(name)
    if case is None:
        raise AssertionError(f"the grader has no hidden case called {name!r} (tell your instructor)")
    if case["args"] is None:           # a value case: the object itself is the result
        results = target
    else:
        guards = {dotted: GUARDS[guard] for dotted, guard in case["guards"].items()}
        results = call_under_blocks(case["what"] or name, target, decode(case["args"], objects=True),
                                    case["blocked"], guards)
    sys.stdout.write(make_record(name, results) + "\n")
    sys.stdout.flush()
