"""Build the private Cython kernels in mini_accel/_core.

Every ``mini_accel/_core/*.pyx`` becomes an extension module
``mini_accel._core.<name>``; adding a kernel needs no edit here (and a
pure-numpy twin ``_fallback_<name>.py``, which tests/test_fallback.py checks).

The extensions are optional: without a working C compiler the build prints
why and goes on, and ``mini_accel`` then runs on its pure-numpy fallbacks
(same results, slower; one RuntimeWarning at import says how to get the
compiled core). Binaries are stripped on Linux; the generated ``.c`` files
stay out of the wheel (pyproject.toml, ``exclude-package-data``).
"""
import sys
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

HERE = Path(__file__).parent
# No FMA contraction: float results must follow the documented order of additions
# (the fallbacks reproduce that order bit for bit).
COMPILE_ARGS = ["-O3", "-ffp-contract=off"] if sys.platform != "win32" else ["/O2", "/fp:precise"]
# Strip the symbol tables: the kernels are about 4x smaller (debug with an unstripped build).
LINK_ARGS = ["-s"] if sys.platform.startswith("linux") else []
BUILD_ERRORS = (CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError)


DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
}


class OptionalBuildExt(build_ext):
    """build_ext that reports a missing or broken C compiler and carries on.

    It first compiles an empty C program; only when that works does it run
    Cython and build the kernels (so a machine without a compiler spends no
    time translating them).
    """

    def run(self):
        problem = self._compiler_problem()
        if problem:
            self._fallback_note(problem)
            return
        # Cython writes the .c next to each .pyx; the extensions (set up by setuptools)
        # keep their identity and only compile the .c instead.
        c_sources = {e.name: e.sources for e in cythonize(
            self.extensions, compiler_directives=DIRECTIVES, quiet=True)}
        for ext in self.extensions:
            ext.sources = c_sources[ext.name]
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._fallback_note(exc)

    def _compiler_problem(self):
        """None when this machine compiles C, else why not."""
        from distutils.ccompiler import new_compiler  # setuptools' own copy of distutils
        from distutils.sysconfig import customize_compiler

        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe.c"
            probe.write_text("int main(void) { return 0; }\n")
            try:
                cc = new_compiler(compiler=self.compiler)
                customize_compiler(cc)
                cc.compile([str(probe)], output_dir=tmp)
            except BUILD_ERRORS as exc:
                return f"no working C compiler: {exc}"
        return None

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            self._fallback_note(exc, ext.name)

    @staticmethod
    def _fallback_note(exc, name="the Cython kernels"):
        bar = "*" * 78
        sys.stderr.write(
            f"\n{bar}\nmini_accel: could not compile {name} ({exc}).\n"
            "Installing without it: mini_accel will use its pure-numpy fallback (same\n"
            "results, slower). For the compiled core, install a C compiler and the Python\n"
            "headers (Debian/Ubuntu: apt-get install build-essential python3-dev; macOS:\n"
            "xcode-select --install; Windows: Microsoft C++ Build Tools) and reinstall.\n"
            f"{bar}\n\n")


extensions = [
    Extension(
        f"mini_accel._core.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=LINK_ARGS,
        optional=True,
    )
    for pyx in sorted((HERE / "mini_accel" / "_core").glob("*.pyx"))
]

setup(cmdclass={"build_ext": OptionalBuildExt}, ext_modules=extensions)
