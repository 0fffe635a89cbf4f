"""The package as a whole: build hints, doctests, a light import."""
import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import mini_accel


def test_missing_compiled_core_says_how_to_build_it():
    code = (
        "import sys; sys.modules['mini_accel._core.systolic'] = None\n"
        "try:\n    import mini_accel\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "compiled Cython core is missing" in out
    assert 'pip install -e ".[labs]"' in out


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
