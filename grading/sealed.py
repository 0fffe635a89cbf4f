"""The grader's half of the sealed checks: two nbgrader autograde preprocessors.

``SetCheckSeed`` runs before ``Execute``: it draws a fresh random salt for the
notebook and puts it in the environment the grading kernel inherits, so the
hidden inputs of every ``seal(...)`` call are new for each submission.

``VerifySealedChecks`` runs after ``Execute``, in nbgrader's own process
where no student code ever ran. For every graded test cell it:

1. reads the ``seal("<case>", ...)`` calls from the cell's *source* (restored
   from the gradebook by ``OverwriteCells``, so the student cannot change it);
2. reads the results the kernel printed for those cases (data only);
3. re-draws the hidden inputs from the salt it chose itself, and checks the
   results with a pristine copy of the lab's case module loaded from
   ``source/<assignment>/<notebook>_checks.py`` (never the student's copy);
4. on any failure (wrong result, missing record, unreadable output) puts an
   error first in the cell's outputs so nbgrader scores the cell 0, with a
   message that says what is wrong and never shows hidden code or answers.

It can only take points away, never give them: a cell that failed in the
kernel stays failed. It also removes the record lines from the outputs and,
in sealed cells only, turns stderr text (warnings) into stdout text, because
nbgrader would otherwise score a correct cell 0 for a harmless warning; and it
drops ``execute_result`` outputs there, which nbgrader would read as partial
credit. See grading/README.md, "How the grading cannot be fooled".
"""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import sys
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader import utils

HERE = Path(__file__).resolve().parent
SEAL_CALL = re.compile(r"""\bseal\(\s*["'](\w+)["']""")
_RESOURCE_KEY = "mini_accel_sealed"


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


def _coursedir(preprocessor):
    obj = preprocessor
    while obj is not None:
        if hasattr(obj, "coursedir"):
            return obj.coursedir
        obj = getattr(obj, "parent", None)
    raise RuntimeError("VerifySealedChecks must run inside an nbgrader converter")


class SetCheckSeed(NbGraderPreprocessor):
    """Give the grading kernel a fresh salt for the hidden inputs (before Execute)."""

    def preprocess(self, nb, resources):
        salt = secrets.token_hex(16)
        os.environ[labcheck.SEED_ENV] = salt
        resources[_RESOURCE_KEY] = {"salt": salt}
        return nb, resources


class VerifySealedChecks(NbGraderPreprocessor):
    """Re-check every sealed case outside the kernel; fail cells whose results are wrong."""

    def preprocess(self, nb, resources):
        os.environ.pop(labcheck.SEED_ENV, None)
        salt = resources.get(_RESOURCE_KEY, {}).get("salt")
        info = resources["nbgrader"]
        coursedir = _coursedir(self)
        source = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        case_file = source / f"{info['notebook']}_checks.py"
        self._cases = load_case_module(case_file).CASES if case_file.exists() else {}
        self._salt = salt
        self.log.info("Verifying sealed checks of %s against %s", info["notebook"], case_file)
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
            # The kernel said "pass" but the grader disagrees: the testing tools were
            # tampered with, or the record is missing. (A cell that already failed in
            # the kernel scores 0 anyway and keeps its own, more precise message.)
            self.log.warning("Sealed check failed outside the kernel in %s: %s",
                             cell.metadata.nbgrader.get("grade_id"), failures)
            cell.outputs.insert(0, NotebookNode(
                output_type="error", ename="GraderCheckFailed", evalue=failures[0],
                traceback=[f"GraderCheckFailed: {msg}" for msg in failures]))
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
