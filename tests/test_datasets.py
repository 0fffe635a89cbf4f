"""The bundled digits data set and the hold-out split (formerly train_test_split)."""
import gzip
import hashlib
import re
from importlib import resources

import numpy as np
import pytest

from mini_accel.datasets import holdout_split, load_digits

# Class distribution of the UCI test file optdigits.tes (optdigits.names, section 9:
# "No of examples in testing set"; the count for 9 is 1797 minus the other nine).
UCI_TEST_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shape_dtype_and_values():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(X, np.round(X)), "pixel values are integer counts of on-pixels"
    assert np.bincount(y).tolist() == UCI_TEST_CLASS_COUNTS


def test_digits_as_images_is_a_reshape():
    X, y = load_digits()
    imgs, y2 = load_digits(as_images=True)
    assert imgs.shape == (1797, 1, 8, 8)
    assert np.array_equal(imgs.reshape(1797, 64), X) and np.array_equal(y, y2)


def test_shipped_file_matches_recorded_checksum():
    data = resources.files("mini_accel").joinpath("data")
    blob = data.joinpath("digits.csv.gz").read_bytes()
    sources = data.joinpath("SOURCES.md").read_text()
    recorded = re.search(r"digits\.csv\.gz.*?sha256[^0-9a-f]*([0-9a-f]{64})", sources, re.S)
    assert recorded, "SOURCES.md must record the sha256 of digits.csv.gz"
    assert hashlib.sha256(blob).hexdigest() == recorded.group(1)
    assert len(gzip.decompress(blob).decode().strip().splitlines()) == 1797


@pytest.mark.parametrize("stratify", [True, False])
def test_split_is_a_partition(stratify):
    X, y = load_digits()
    ids = np.arange(len(y))
    Xi = np.column_stack([ids, X])          # carry the row id along
    Xtr, Xte, ytr, yte = holdout_split(Xi, y, 0.25, seed=3, stratify=stratify)
    tr, te = Xtr[:, 0].astype(int), Xte[:, 0].astype(int)
    assert len(set(tr) & set(te)) == 0
    assert sorted(np.concatenate([tr, te]).tolist()) == ids.tolist()
    assert np.array_equal(ytr, y[tr]) and np.array_equal(yte, y[te])
    assert np.array_equal(Xte[:, 1:], X[te])
    assert abs(len(te) - 0.25 * len(y)) <= (10 if stratify else 1)


def test_stratified_split_keeps_class_proportions():
    X, y = load_digits()
    _, _, _, yte = holdout_split(X, y, 0.25, seed=0)
    # per class: round(count * 0.25) test examples
    assert np.bincount(yte).tolist() == [int(round(c * 0.25)) for c in UCI_TEST_CLASS_COUNTS]


def test_split_is_reproducible_and_seed_dependent():
    X, y = load_digits()
    a = holdout_split(X, y, seed=0)
    b = holdout_split(X, y, seed=0)
    c = holdout_split(X, y, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[3], c[3])


def test_tiny_classes_keep_one_example_on_each_side():
    X = np.arange(6).reshape(6, 1)
    y = np.array([0, 0, 1, 1, 1, 1])
    _, _, ytr, yte = holdout_split(X, y, test_fraction=0.1, seed=0)
    assert set(ytr) == {0, 1} and set(yte) == {0, 1}


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(test_fraction=0.0), ValueError, r"test_fraction must be in \(0, 1\)"),
        (dict(test_fraction=1.0), ValueError, r"test_fraction must be in \(0, 1\)"),
        (dict(test_fraction="a"), TypeError, "test_fraction"),
        (dict(stratify="yes"), TypeError, "stratify"),
    ],
)
def test_split_rejects_bad_arguments(kwargs, exc, match):
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    with pytest.raises(exc, match=match):
        holdout_split(X, y, **kwargs)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same number of examples"):
        holdout_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="1-D"):
        holdout_split(np.zeros((10, 2)), np.zeros((10, 1)))


def test_old_name_still_works_with_a_deprecation_warning():
    from mini_accel.datasets import train_test_split
    X, y = load_digits()
    with pytest.warns(DeprecationWarning, match="holdout_split"):
        old = train_test_split(X, y, 0.25, seed=7, stratify=False)
    new = holdout_split(X, y, 0.25, seed=7, stratify=False)
    assert all(np.array_equal(a, b) for a, b in zip(old, new))


def test_split_refuses_huge_views_before_copying():
    huge = np.broadcast_to(np.float64(0.0), (10 ** 6, 10 ** 6))
    with pytest.raises(ValueError, match="X would hold"):
        holdout_split(huge, np.zeros(10 ** 6))
