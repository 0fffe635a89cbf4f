# nbgrader settings of the mini_accel course (read by `nbgrader ...` run from
# this directory, and loaded explicitly by grading/course.py and the tests,
# because nbgrader's Python API does not read this file by itself).
#
# Each setting below closes a hole listed in shared/TOOLING_NOTES.md; the
# reasons are spelled out in grading/README.md ("How the grading cannot be
# fooled").
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # sealed.py, sandbox.py (the grader's preprocessors) live next to this file
    sys.path.insert(0, HERE)

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "mini_accel"
c.CourseDirectory.root = HERE      # gradebook.db, source/, release/, submitted/, ... live here

# The gradebook: SQLite (gradebook.db in this folder) unless MINI_ACCEL_GRADEBOOK_URL
# names another database, e.g. PostgreSQL for a class graded by several workers:
#   MINI_ACCEL_GRADEBOOK_URL=postgresql+psycopg://grader@127.0.0.1:5432/mini_accel
# (grading/README.md, "A class-sized course").
if os.environ.get("MINI_ACCEL_GRADEBOOK_URL"):
    c.CourseDirectory.db_url = os.environ["MINI_ACCEL_GRADEBOOK_URL"]

# What nbgrader never copies out of source/<lab>/: the case modules of the hidden
# checks and the checking code hold reference answers, so they reach neither the
# release (what students download) nor the autograded folders. The grader reads
# them from source/ itself (sealed.py).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*_checks.py", "labcheck.py", "sealrun.py"]

# The student notebooks: solutions replaced by a stub that says what to do.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Executing a submission (sandbox.SandboxedExecute: nbgrader's Execute with the
# kernel in a sandbox, see sandbox.py and grading/README.md).
#  - Per-cell timeout: a cell that runs longer is stopped (its test fails), the
#    kernel is replaced and the rest of the notebook still runs. A lab runs top
#    to bottom in under a minute, so 30 s for one cell is generous.
#  - Limits of one kernel: address space and CPU time.
#  - xmode=Minimal: a failing test shows "AssertionError: <message>" only,
#    never the source lines of a hidden test around it.
c.SandboxedExecute.timeout = 30
c.SandboxedExecute.interrupt_on_timeout = True
c.SandboxedExecute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]
c.SandboxedExecute.memory_limit_gib = 4.0
c.SandboxedExecute.cpu_limit_s = 600

# Deleted test cells, and test cells stripped of their nbgrader metadata, are
# put back from the gradebook (otherwise they silently wait for manual grading).
# Edited locked cells are restored from the gradebook by nbgrader anyway.
c.OverwriteCells.add_missing_cells = True

# Autograde = nbgrader's default pipeline with the sandboxed Execute, which hands
# the kernel the student's hidden inputs (seeded from the course secret), and
# VerifySealedChecks, which judges the results in this (the grader's) process,
# where no student code runs.
c.Autograde.autograde_preprocessors = [
    "sandbox.SandboxedExecute",
    "sealed.VerifySealedChecks",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# The course's nbgrader plugins (plugins.py), so that nbgrader's own commands, run
# from this directory, do what course.py does: `nbgrader export` writes the course's
# CSV (nbgrader's columns plus needs_manual_grade, status, note), and
# `nbgrader zip_collect LAB --force` places an LMS download from
# downloaded/LAB/archive/ (student ids in file or folder names, the lab's notebook
# recognised by its cell ids, zip archives) as `course.py collect` does.
c.ExportApp.plugin_class = "plugins.CourseCsvExportPlugin"
c.ZipCollectApp.extractor_plugin = "plugins.LmsExtractorPlugin"
c.ZipCollectApp.collector_plugin = "plugins.LmsCollectorPlugin"

# Feedback never contains hidden tests (nbgrader's default would show them).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
