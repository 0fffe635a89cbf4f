"""The package as a whole: its docstring examples are collected by pytest itself."""
import shlex
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mini_accel"


def test_pytest_collects_every_modules_docstring_examples():
    """pyproject makes pytest run the docstring examples of every module, the package's own too.

    pytest's doctest collection (``--doctest-modules`` over ``mini_accel`` in
    ``testpaths``) replaces the hand-written runner, which never visited
    ``mini_accel/__init__.py``; nothing in the package may opt out of it.
    """
    ini = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in shlex.split(ini["addopts"])
    assert "mini_accel" in ini["testpaths"]
    with_examples = sorted(p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py")
                           if ">>> " in p.read_text("utf-8"))
    assert "mini_accel/__init__.py" in with_examples and len(with_examples) > 20
    assert not (PACKAGE / "conftest.py").exists(), "a conftest in the package could skip its doctests"
    opt_outs = [p for p in with_examples if "doctest: +SKIP" in (REPO / p).read_text("utf-8")]
    assert not opt_outs, f"modules that skip their examples: {opt_outs}"
