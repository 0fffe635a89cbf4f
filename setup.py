"""Build the private Cython kernels in mini_accel/_core.

Every ``mini_accel/_core/*.pyx`` becomes an extension module
``mini_accel._core.<name>``; adding a kernel needs no edit here.
"""
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
extensions = [
    Extension(
        f"mini_accel._core.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        # No FMA contraction: float results must follow the documented order of additions.
        extra_compile_args=["-O3", "-ffp-contract=off"],
    )
    for pyx in sorted((HERE / "mini_accel" / "_core").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
    )
)
