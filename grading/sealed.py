"""The grader's half of the sealed checks: seeds, case modules, and the verdict preprocessor.

The hidden inputs of a student's sealed checks are drawn from
:func:`student_salt`, an HMAC of the course secret with the lab and the
student: the same notebook gets the same inputs, so the same grade, on every
run and with any number of workers, and no one without the secret can
predict them. ``sandbox.SandboxedExecute`` draws the inputs, hands them to the
sandboxed kernel (which only runs the student's functions on them and prints
the results as data), and puts the salt in nbgrader's resources.

``VerifySealedChecks`` runs after it, in nbgrader's own process where no
student code ever ran. For every graded test cell it:

1. reads the ``seal("<case>", ...)`` calls from the cell's *source* (restored
   from the gradebook by ``OverwriteCells``, so the student cannot change it);
2. reads the results the kernel printed for those cases (data only);
3. re-draws the hidden inputs from the same salt, and judges the results with
   the lab's case module loaded from ``source/<assignment>/<notebook>_checks.py``,
   a file the kernel never had;
4. on any failure (wrong result, missing record, unreadable output) puts an
   error first in the cell's outputs so nbgrader scores the cell 0, with a
   message that says what is wrong and never shows hidden code or answers.

It also removes the record lines from the outputs and, in sealed cells only,
turns stderr text (warnings) into stdout text, because nbgrader would
otherwise score a correct cell 0 for a harmless warning; and it drops
``execute_result`` outputs there, which nbgrader would read as partial
credit. See grading/README.md, "How the grading cannot be fooled".
"""
from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import re
import secrets
import sys
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

HERE = Path(__file__).resolve().parent
SEAL_CALL = re.compile(r"""\bseal\(\s*["'](\w+)["']""")
RESOURCE_KEY = "mini_accel_sealed"
SECRET_FILE = ".course_secret"


def _load_labcheck():
    """The master copy of labcheck.py that sits next to this file."""
    spec = importlib.util.spec_from_file_location("_grader_labcheck", HERE / "labcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


labcheck = _load_labcheck()


def load_case_module(path: Path):
    """Load a lab's case module from the instructor's source tree, under a private name.

    The module may ``import labcheck`` lazily; at check time the grader hands it the
    master copy, so nothing is read from the student's directory.
    """
    name = f"_grader_cases_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("labcheck")
    sys.modules["labcheck"] = labcheck
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("labcheck", None)
        else:
            sys.modules["labcheck"] = saved
    return module


def coursedir_of(preprocessor):
    obj = preprocessor
    while obj is not None:
        if hasattr(obj, "coursedir"):
            return obj.coursedir
        obj = getattr(obj, "parent", None)
    raise RuntimeError(f"{type(preprocessor).__name__} must run inside an nbgrader converter")


def course_secret(root: Path) -> bytes:
    """The course's secret: ``MINI_ACCEL_COURSE_SECRET``, else ``<root>/.course_secret``
    (made on first use, readable by its owner only). A new secret for a new term
    gives every student new hidden inputs; graders on several machines share one."""
    env = os.environ.get("MINI_ACCEL_COURSE_SECRET")
    if env:
        return env.encode()
    path = Path(root) / SECRET_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:      # another worker made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def student_salt(root: Path, assignment: str, student: str) -> str:
    """The seed of one student's hidden inputs in one lab: the same on every run, on
    every worker and machine of the course, different for each student, unknowable
    without the course secret."""
    return hmac.new(course_secret(root), f"{assignment}/{student}".encode(), hashlib.sha256).hexdigest()[:32]


def lab_cases(coursedir, assignment: str, notebook: str) -> dict:
    """The CASES of a notebook's case module in the instructor's source folder ({} if none)."""
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    case_file = source / f"{notebook}_checks.py"
    return load_case_module(case_file).CASES if case_file.exists() else {}


class VerifySealedChecks(NbGraderPreprocessor):
    """Re-check every sealed case outside the kernel; fail cells whose results are wrong."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self._cases = lab_cases(coursedir_of(self), info["assignment"], info["notebook"])
        self._salt = resources.get(RESOURCE_KEY, {}).get("salt")
        self.log.info("Verifying the sealed checks of %s", info["notebook"])
        return super().preprocess(nb, resources)

    # -- one cell ------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        names = SEAL_CALL.findall(cell.source)
        if not names:
            return cell, resources
        stdout = "".join(o.get("text", "") for o in cell.outputs
                         if o.output_type == "stream" and o.get("name") == "stdout")
        records = labcheck.read_records(stdout)
        failures = [msg for msg in (self._verify(name, records) for name in names) if msg]
        cell.outputs = self._clean_outputs(cell.outputs)
        failed_in_kernel = any(o.output_type == "error" for o in cell.outputs)
        if failures and not failed_in_kernel:
            # The kernel only ran the function; this is the verdict. (A cell that
            # already failed in the kernel scores 0 anyway and keeps its own message.)
            self.log.info("Hidden check failed in %s: %s", cell.metadata.nbgrader.get("grade_id"), failures)
            cell.outputs.insert(0, NotebookNode(
                output_type="error", ename="HiddenCheckFailed", evalue=failures[0],
                traceback=[f"HiddenCheckFailed: {msg}" for msg in failures]))
        return cell, resources

    def _verify(self, name, records):
        case = self._cases.get(name)
        if case is None:
            return f"the grader has no check called {name!r} (tell your instructor)"
        if self._salt is None:
            return "the grader did not seed this run (tell your instructor)"
        if name not in records:
            return (f"the grader found no result for check {name!r}: the cell stopped early "
                    "or its output was changed")
        try:
            args_list = labcheck.draw_inputs(case, name, self._salt)
            return labcheck.verdict(case, args_list, records[name])
        except Exception as exc:  # never crash the grader on a strange result
            return f"{case.what or name}: the result could not be checked ({type(exc).__name__})"

    @staticmethod
    def _clean_outputs(outputs):
        cleaned = []
        for out in outputs:
            if out.output_type == "execute_result":
                continue
            if out.output_type == "stream":
                text = "".join(line for line in out.text.splitlines(keepends=True)
                               if labcheck.RECORD_PREFIX not in line)
                if not text:
                    continue
                out = NotebookNode(output_type="stream", name="stdout", text=text)
            cleaned.append(out)
        return cleaned
