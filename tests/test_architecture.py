"""The architecture contracts of pyproject.toml ``[tool.importlinter]``, run by import-linter.

* ``mini_accel._core`` (the kernels and their fallbacks) imports nothing of
  ``mini_accel`` above it;
* the library never imports the grading tools;
* what ``import mini_accel`` loads imports no matplotlib or ipywidgets (the
  static check), and a fresh interpreter confirms it (the dynamic one).

Each contract is also shown to fail on a copy of the package with one
violation planted, so a contract that matches nothing cannot pass silently.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed "
                                "(pip install -e '.[test]')")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml")], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _contract_names():
    with open(REPO / "pyproject.toml", "rb") as fh:
        return [c["name"] for c in tomllib.load(fh)["tool"]["importlinter"]["contracts"]]


def test_the_contracts_are_kept():
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    for name in _contract_names():
        assert name.split()[1] in out.stdout      # every contract was checked
    assert f"{len(_contract_names())} kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("_core/_fallback_cache.py", "from .. import _checks", "The kernels"),
    ("_core/__init__.py", "import mini_accel.systolic", "The kernels"),
    ("roofline.py", "import labcheck", "grading tools"),
    ("energy.py", "from grading import course", "grading tools"),
    ("_checks.py", "import matplotlib.pyplot", "matplotlib or ipywidgets"),
    ("systolic.py", "import ipywidgets", "matplotlib or ipywidgets"),
])
def test_a_planted_violation_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(REPO / "mini_accel", tmp_path / "mini_accel",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", "data"))
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "mini_accel" / module, "a") as fh:
        fh.write(f"\n{line}\n")
    out = _lint(tmp_path)
    assert out.returncode != 0
    broken = [ln for ln in out.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert len(broken) == 1 and contract in out.stdout.split("Broken contracts")[1], out.stdout


def test_the_light_import_contract_lists_what_import_mini_accel_loads():
    """The third contract's sources are exactly the mini_accel modules a bare import loads."""
    code = ("import sys, mini_accel\n"
            "print(sorted(m for m in sys.modules if m.startswith('mini_accel')))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'ipywidgets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.splitlines()
    loaded, heavy = ast.literal_eval(out[0]), ast.literal_eval(out[1])
    assert heavy == []
    with open(REPO / "pyproject.toml", "rb") as fh:
        contracts = tomllib.load(fh)["tool"]["importlinter"]["contracts"]
    light = next(c for c in contracts if "matplotlib" in c["forbidden_modules"])
    covered = set(light["source_modules"])
    for name in loaded:
        # compiled kernels are binaries (nothing to lint); everything else must be a source
        assert name in covered or name.rsplit(".", 1)[0] + ".*" in covered or \
            name.startswith("mini_accel._core."), f"{name} is loaded by `import mini_accel` " \
            "but not listed in the light-import contract of pyproject.toml"
