"""Small real data sets shipped with the package (nothing is downloaded).

``load_digits`` reads the UCI "Optical Recognition of Handwritten Digits"
test set (Alpaydin & Kaynak 1998; 1797 images of 8x8 pixels, values 0..16),
in the copy that scikit-learn bundles. Origin, licence and checksum are in
``mini_accel/data/SOURCES.md``.

:func:`holdout_split` holds out a fraction of the examples, class by class,
for testing. (It was called ``train_test_split``, scikit-learn's name for a
function with another signature; the old name still works, with a
DeprecationWarning, for one release.)

>>> from mini_accel.datasets import load_digits, holdout_split
>>> X, y = load_digits()
>>> X.shape, y.shape, float(X.min()), float(X.max())
((1797, 64), (1797,), 0.0, 16.0)
>>> X_tr, X_te, y_tr, y_te = holdout_split(X, y, test_fraction=0.25, seed=0)
>>> len(y_tr), len(y_te)
(1347, 450)
"""
from __future__ import annotations

import gzip
import warnings
from importlib import resources

import numpy as np

from ._checks import check_bool, check_number, check_rng, check_size

__all__ = ["load_digits", "holdout_split", "train_test_split", "DIGITS_SHAPE"]

#: Height and width of one digit image.
DIGITS_SHAPE = (8, 8)
_DIGITS_FILE = "digits.csv.gz"


def load_digits(*, as_images: bool = False):
    """The 1797 handwritten digits: pixel counts 0..16 and labels 0..9.

    Each row of the CSV is 64 pixel values (an 8x8 image, row by row)
    followed by the class label, as in the UCI file ``optdigits.tes``.

    Parameters
    ----------
    as_images : bool
        Return ``X`` with shape ``(1797, 1, 8, 8)`` (N, channels, height,
        width, ready for :class:`mini_accel.nn.Conv2d`) instead of
        ``(1797, 64)``.

    Returns
    -------
    X : numpy.ndarray of float64, shape (1797, 64)
        Pixel values, integers 0..16 stored as float64. Divide by 16 to get
        values in [0, 1] before training.
    y : numpy.ndarray of int64, shape (1797,)
        Class labels 0..9.

    >>> X, y = load_digits(as_images=True)
    >>> X.shape, int(y[0])
    ((1797, 1, 8, 8), 0)
    """
    as_images = check_bool("as_images", as_images)
    ref = resources.files("mini_accel").joinpath("data", _DIGITS_FILE)
    with ref.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    X = np.ascontiguousarray(table[:, :-1])
    y = table[:, -1].astype(np.int64)
    if as_images:
        X = X.reshape(-1, 1, *DIGITS_SHAPE)
    return X, y


def holdout_split(X, y, test_fraction: float = 0.25, seed=0, *, stratify: bool = True):
    """Hold out ``test_fraction`` of the examples for testing, class by class, reproducibly.

    With ``stratify=True`` (the default) each class is split on its own, so
    both parts keep the class proportions of ``y``: of a class with ``n``
    examples, ``round(n * test_fraction)`` go to the test part (at least one
    stays on each side when ``n >= 2``). Rows are shuffled with
    ``numpy.random.default_rng(seed)``; the same seed gives the same split.

    Parameters
    ----------
    X : array_like, shape (n, ...)
        Inputs; the first axis indexes examples.
    y : array_like, shape (n,)
        Labels (any hashable values when stratifying; usually int class ids).
    test_fraction : float
        Fraction of the examples that go to the test part, strictly between
        0 and 1.
    seed : int, numpy.random.Generator or None
        Seed of the shuffle.
    stratify : bool
        Split per class (True) or shuffle all rows together (False, then
        ``round(n * test_fraction)`` rows go to the test part).

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray

    >>> import numpy as np
    >>> X = np.arange(20).reshape(10, 2); y = np.array([0] * 6 + [1] * 4)
    >>> X_tr, X_te, y_tr, y_te = holdout_split(X, y, test_fraction=0.5, seed=1)
    >>> sorted(y_te.tolist()), X_tr.shape
    ([0, 0, 0, 1, 1], (5, 2))
    """
    X = np.asarray(X)        # a view: nothing is copied before the sizes are checked
    y = np.asarray(y)
    check_size("X", X.size)
    check_size("y", y.size)
    if X.ndim == 0:
        raise ValueError("X must have at least one axis (one row per example), got a scalar")
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must have the same number of examples, got X with {X.shape[0]} "
            f"rows and y with {y.shape[0]} labels"
        )
    test_fraction = check_number("test_fraction", test_fraction, low=0, high=1, closed="neither")
    n = y.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 examples to split, got {n}")
    stratify = check_bool("stratify", stratify)
    rng = check_rng("seed", seed)
    if stratify:
        test_idx = []
        for label in np.unique(y):
            members = np.flatnonzero(y == label)
            rng.shuffle(members)
            k = int(round(len(members) * float(test_fraction)))
            if len(members) >= 2:
                k = min(max(k, 1), len(members) - 1)
            test_idx.append(members[:k])
        test_idx = np.concatenate(test_idx)
    else:
        order = rng.permutation(n)
        k = min(max(int(round(n * float(test_fraction))), 1), n - 1)
        test_idx = order[:k]
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    # Shuffle each part so that classes are interleaved (mini-batches mix classes).
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def train_test_split(X, y, test_fraction: float = 0.25, seed=0, *, stratify: bool = True):
    """Deprecated name of :func:`holdout_split` (same arguments, same result).

    scikit-learn's ``train_test_split`` takes ``test_size``, ``random_state``
    and a ``stratify`` array; this one does not, hence the new name.

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     parts = train_test_split([[0], [1], [2], [3]], [0, 0, 1, 1], 0.5)
    >>> [p.shape for p in parts]
    [(2, 1), (2, 1), (2,), (2,)]
    """
    warnings.warn("mini_accel.datasets.train_test_split is now holdout_split (same arguments); "
                  "the old name will be removed in the next release", DeprecationWarning, stacklevel=2)
    return holdout_split(X, y, test_fraction, seed, stratify=stratify)
