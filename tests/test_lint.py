"""The house rules, checked by the tools that own them: ruff (pyproject ``[tool.ruff]``) over the
Python files and notebooks, cython-lint over the kernels. Both are pinned in the ``test`` extra.

Each is also shown to catch a planted violation, so a rule set that matches nothing cannot pass.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, env=env, **kw)


def test_ruff_is_clean():
    out = _run([str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", "."])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_ruff_catches_a_planted_violation():
    planted = "import os\nimport sys\n\n\ndef f(l):\n    return undefined_name\n"
    out = _run([str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise",
                "--stdin-filename", "mini_accel/planted.py", "-"], input=planted)
    assert out.returncode == 1
    assert "F401" in out.stdout and "F821" in out.stdout and "I001" not in out.stdout


def test_cython_kernels_are_lint_clean():
    kernels = sorted(str(p) for p in (REPO / "mini_accel" / "_core").glob("*.pyx"))
    assert len(kernels) >= 3
    out = _run([str(BIN / "cython-lint"), *kernels])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_cython_lint_catches_a_planted_violation(tmp_path):
    bad = tmp_path / "bad.pyx"
    bad.write_text("import os\ncdef int f(int x) nogil:\n    cdef int y = 1\n    return x\n")
    out = _run([str(BIN / "cython-lint"), str(bad)])
    assert out.returncode != 0 and "imported but unused" in out.stdout + out.stderr
