"""What ships: the wheel, the sdist, one version string, and an install with no C compiler.

The builds run on a copy of the package sources in a temporary directory (so
the checkout's ``build/`` and in-place kernels are never touched):

* the wheel holds every kernel compiled and stripped (no ``.symtab``), the
  ``.pyx`` sources and the pure-numpy fallbacks, ``py.typed`` and the data,
  and no generated ``.c``, no tests;
* the sdist holds no tests (so none that cannot import);
* the version in the wheel's metadata is pyproject's, and ``mini_accel.__version__``
  reports it;
* a fresh virtual environment (no system site-packages) with only the build and
  run requirements made visible, and no C compiler on the PATH, installs the
  package with ``pip install --no-build-isolation .``, gets a clear message from
  the build, and runs a small lab computation on the fallback with the one
  warning at import.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import mini_accel

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
KERNELS = sorted(p.stem for p in (REPO / "mini_accel" / "_core").glob("*.pyx"))

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> Path:
    """setup.py, pyproject.toml, README, LICENSE and the package, without build products."""
    dest.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "mini_accel", dest / "mini_accel", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "*.pyd", "*.c", "*.cpp", "*.html"))
    return dest


def _elf_section_names(data: bytes) -> set[str]:
    """Section names of a 64-bit little-endian ELF file (what ``readelf -S`` lists)."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not an ELF64 LE binary"
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab_off = header(shstrndx)[4]
    names = set()
    for i in range(shnum):
        start = strtab_off + header(i)[0]
        names.add(data[start:data.index(b"\0", start)].decode())
    return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _copy_sources(tmp_path_factory.mktemp("wheel") / "src")
    out = src.parent / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                           "--no-build-isolation", "-w", str(out)],
                          cwd=src, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (whl,) = out.glob("mini_accel-*.whl")
    return whl


def test_the_wheel_ships_stripped_kernels_and_no_generated_c(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        binaries = {n: zf.read(n) for n in names if n.endswith((".so", ".pyd"))}
    assert not [n for n in names if n.endswith((".c", ".cpp", ".html"))], names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    for k in KERNELS:
        assert f"mini_accel/_core/{k}.pyx" in names
        assert f"mini_accel/_core/_fallback_{k}.py" in names
        assert [n for n in binaries if n.startswith(f"mini_accel/_core/{k}.")], f"{k} not compiled"
    for name, data in binaries.items():
        if sys.platform.startswith("linux"):
            assert ".symtab" not in _elf_section_names(data), f"{name} is not stripped"
    assert "mini_accel/py.typed" in names
    assert any(n.startswith("mini_accel/data/") and n.endswith(".csv") for n in names)


def test_the_wheel_metadata_has_the_one_version_classifiers(wheel):
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert f"\nVersion: {VERSION}\n" in meta
    assert wheel.name.startswith(f"mini_accel-{VERSION}-")
    for classifier in PYPROJECT["project"]["classifiers"]:
        assert f"Classifier: {classifier}" in meta
    assert "Typing :: Typed" in meta


def test_the_package_reports_the_version_of_pyproject():
    assert mini_accel.__version__ == VERSION
    assert "__version__ =" not in (REPO / "mini_accel" / "__init__.py").read_text(), \
        "one version string: pyproject.toml's, read through importlib.metadata"


def test_the_sdist_has_no_tests(tmp_path):
    pytest.importorskip("build", reason="python -m build is not installed (pip install build)")
    src = _copy_sources(tmp_path / "src")
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                           "-o", str(tmp_path / "dist"), "."],
                          cwd=src, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = (tmp_path / "dist").glob("mini_accel-*.tar.gz")
    assert sdist.name == f"mini_accel-{VERSION}.tar.gz"
    with tarfile.open(sdist) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
    assert "setup.py" in names and "pyproject.toml" in names
    for k in KERNELS:
        assert f"mini_accel/_core/{k}.pyx" in names
        assert f"mini_accel/_core/_fallback_{k}.py" in names
    assert not [n for n in names if n.startswith(("tests/", "test/"))], names
    assert "mini_accel/py.typed" in names


# The requirements made visible to the fresh environment (build: setuptools,
# Cython; run: numpy, threadpoolctl), linked one by one from this environment.
_VISIBLE = ("setuptools", "pkg_resources", "_distutils_hack", "Cython", "pyximport", "numpy",
            "threadpoolctl")

_LAB = r"""
import sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np, mini_accel as ma
    from mini_accel.memory import Cache, MemoryHierarchy
    from mini_accel.traces import gemm_trace
assert [str(w.category.__name__) for w in caught] == ["RuntimeWarning"], caught
assert "C compiler" in str(caught[0].message) and "reinstall" in str(caught[0].message)
assert ma.systolic._kernels.__name__ == "mini_accel._core._fallback_systolic"
assert "site-packages" in ma.__file__, ma.__file__
# lab 2: a GEMM on the array; lab 3: a GEMM's trace through a cache
A = np.arange(6, dtype=np.int8).reshape(2, 3); B = np.ones((3, 2), np.int8)
r = ma.SystolicArray(4, 4).matmul(A, B)
assert r.output.tolist() == [[3, 3], [12, 12]] and r.cycles == 12, (r.output, r.cycles)
st = MemoryHierarchy(Cache("L1", 1024, ways=4, line_bytes=32)).run(gemm_trace(16, 16, 16, order="ijk", elem_bytes=8))
print(ma.__version__, st["L1"].misses, st["L1"].hits)
"""


def test_install_without_a_c_compiler_runs_a_lab_on_the_fallback(tmp_path):
    src = _copy_sources(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # Only the four requirements, not this environment's editable mini_accel.
    visible = tmp_path / "visible"
    visible.mkdir()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for entry in site.iterdir():
        top = entry.name.split("-")[0].split(".")[0]
        if top.lower() in {v.lower() for v in _VISIBLE} or top == "numpy.libs":
            (visible / entry.name).symlink_to(entry)
    target_site = next((env_dir / "lib").glob("python3*/site-packages"))
    (target_site / "course_requirements.pth").write_text(str(visible) + "\n")
    bare_path = str(env_dir / "bin")                    # no gcc, cc, clang, ld on the PATH
    env = {"PATH": bare_path, "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8"}
    assert shutil.which("gcc", path=bare_path) is None and shutil.which("cc", path=bare_path) is None
    # Python 3.11's ensurepip brings an old setuptools: use the visible one, as pyproject asks.
    subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "setuptools"], env=env,
                   capture_output=True, timeout=120)
    proc = subprocess.run([str(py), "-m", "pip", "install", "-v", "--no-build-isolation", "."],
                          cwd=src, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "could not compile" in log and "pure-numpy fallback" in log, log[-4000:]
    installed = list(target_site.glob("mini_accel/_core/*"))
    assert not [p for p in installed if p.suffix in (".so", ".pyd")], "a kernel was compiled"
    run = subprocess.run([str(py), "-c", _LAB], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    version, misses, hits = run.stdout.split()
    assert version == VERSION and int(misses) > 0 and int(hits) > 0
