"""Hypothesis strategies shared by the test modules (one place, so failures shrink alike).

Arrays are built with ``hypothesis.extra.numpy`` rather than random loops, so a
failing case shrinks to the smallest array that still fails. The ``bad_*``
strategies are the classes of bad input the library must refuse with a
TypeError or ValueError naming the argument (issue 13's fuzzing classes).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Sizes small enough for brute-force references.
small_dims = st.integers(1, 12)


def matrices(dtype=np.float64, *, rows=small_dims, cols=small_dims, low=-8, high=8):
    """2-D arrays of ``dtype`` with finite values in [low, high] (ints or floats)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(max(low, info.min), min(high, info.max))
    else:
        width = 32 if dtype == np.float32 else 64 if dtype == np.float64 else 16
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)
    return hnp.arrays(dtype, st.tuples(rows, cols), elements=elements)


@st.composite
def gemm_operands(draw, dtype=np.int8, *, max_dim: int = 12):
    """A pair ``(A, B)`` with matching inner dimension, of ``dtype``."""
    m, k, n = (draw(st.integers(1, max_dim)) for _ in range(3))
    a = draw(matrices(dtype, rows=st.just(m), cols=st.just(k)))
    b = draw(matrices(dtype, rows=st.just(k), cols=st.just(n)))
    return a, b


def finite_floats(low=-1e6, high=1e6, **kw):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, **kw)


def float_arrays(*, min_dims=1, max_dims=2, max_side=10, low=-100.0, high=100.0, dtype=np.float64):
    """Finite float arrays of 1..``max_dims`` dimensions."""
    shape = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)
    return hnp.arrays(dtype, shape, elements=finite_floats(low, high, width=64 if dtype == np.float64 else 32))


# --------------------------------------------------------------------------- #
# Bad inputs: each must be refused with TypeError or ValueError
# --------------------------------------------------------------------------- #
#: Truthy and falsy things that are not bools.
bad_bools = st.sampled_from(["False", "True", "yes", "no", "", 0, 1, 2, 0.0, None, [], [0]])

#: Things that are not finite numbers in any sense.
bad_numbers = st.sampled_from([float("nan"), float("inf"), -float("inf"), "1", "nan", None, [1.0], {}, 1j])

#: Things that are not ints (fractions, bools, strings, NaN).
bad_ints = st.sampled_from([0.5, 2.5, True, False, "3", float("nan"), None, 1e300, [2]])

#: Things that are not option strings.
bad_options = st.sampled_from([None, 3, b"ws", ["ws"], "", "not-an-option", "w s"])


def huge_broadcast(elements: int = 10 ** 12):
    """A float64 view of ``elements`` values that takes no memory (a broadcast of one value).

    A function that copies it before checking its size would raise MemoryError
    or hang; the library must refuse it with a ValueError first.
    """
    side = int(round(elements ** 0.5))
    return np.broadcast_to(np.float64(1.0), (side, side))


def check_refused(call, *, name: str | None = None, kinds=(TypeError, ValueError)):
    """Call ``call()``; it must raise one of ``kinds`` naming ``name`` in its message.

    Returns the exception so a test can look further. Any other exception
    (KeyError, AttributeError, MemoryError, IndexError...) fails the test.
    """
    try:
        call()
    except kinds as exc:
        if name is not None and name not in str(exc):
            raise AssertionError(f"the error does not name {name!r}: {exc}") from exc
        return exc
    except Exception as exc:  # noqa: BLE001 - the point is to report the wrong kind
        raise AssertionError(f"expected TypeError/ValueError, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError("the bad input was accepted")
