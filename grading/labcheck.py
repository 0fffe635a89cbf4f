"""Sealed checks, the grader's and the instructor's half: cases, hidden inputs, verdicts.

A graded lab hides its tests in cells like::

    ### BEGIN HIDDEN TESTS
    from lab2_systolic_checks import seal; seal("ws_step", ws_step)
    ### END HIDDEN TESTS

and keeps its checks in a case module, ``<notebook>_checks.py``, next to the
*source* notebook: a ``Case`` per hidden check, with a function that draws the
inputs from a seed and a pure function that judges a result.

No student ever receives a case module or this file (they hold reference
answers): nbgrader leaves them out of the release (``CourseDirectory.ignore``
in nbgrader_config.py) and the student's kernel never sees them. When a
submission is graded (grading/sandbox.py):

* the grader derives the student's seed from the course secret, draws the
  hidden inputs, and hands the sandboxed kernel only those inputs and
  ``sealrun.py`` (the kernel's half: run the function, print the results as
  data, never judge them);
* after the kernel ran, the grader's own process re-draws the inputs from the
  same seed and judges the printed results with :func:`verdict` and the
  pristine case module (``grading/sealed.py``). A missing or wrong result
  fails the cell, whatever the kernel did.

When an instructor runs a *source* notebook (or the tests do), the case
module's ``seal`` is :func:`seal` below: inputs from a fixed seed per case,
judged in the kernel at once.

This file and ``sealrun.py`` have one master copy each, in ``grading/``;
``python grading/course.py`` places copies next to each source notebook
(ignored by git) so that a source notebook runs in JupyterLab.
"""
from __future__ import annotations

import base64
import json
import numbers
import zlib

import numpy as np
from sealrun import (  # noqa: F401
    RECORD_PREFIX,
    Unreadable,
    blocked,
    call_under_blocks,
    copy_args,
    decode,
    encode,
    make_record,
    weight_tile_fits_array,
)

#: A result larger than this (encoded) is refused: no check needs more.
MAX_RECORD_CHARS = 4_000_000


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

    def __init__(self, inputs, check, blocked=(), guards=None, what=""):  # noqa: F811 (the re-exported name)
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
    """Run hidden case ``name`` on ``target`` in this kernel and raise on a wrong result.

    This is the instructor's view: running a *source* notebook checks its
    reference answers on the case's fixed inputs. Lab case modules wrap it as
    ``seal(name, target)`` with their own ``CASES``. When a *submission* is
    graded, the kernel never sees this module: the grader hands it
    ``sealrun.seal`` and only the hidden inputs (grading/sandbox.py).
    """
    case = cases[name]
    args_list = draw_inputs(case, name, None)
    if args_list is None:
        results = target
    else:
        results = call_under_blocks(case.what or name, target, args_list, case.blocked, case.guards)
    message = verdict(case, args_list, results)
    if message:
        raise AssertionError(message)
