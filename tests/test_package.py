"""The package as a whole: build hints, doctests, a light import."""
import doctest
import importlib
import pkgutil

import pytest

import mini_accel


def _public_modules():
    for info in pkgutil.walk_packages(mini_accel.__path__, "mini_accel."):
        if "._core" not in info.name:
            yield info.name


@pytest.mark.parametrize("name", sorted(_public_modules()))
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:   # an optional extra (matplotlib, ipywidgets) is absent
        pytest.skip(f"{name}: {exc}")
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0, f"{failures} docstring example(s) failed in {name}"
