"""The instructor's commands for the mini_accel course, where nbgrader's CLI is clumsy.

Run from the repository root (``--root`` points at another copy of the course
directory, which is what the tests do)::

    python grading/course.py students roster.csv          # id,first_name,last_name,email
    python grading/course.py generate [LAB ...]           # source -> release -> labs/
    python grading/course.py collect LAB INBOX            # a folder (or .zip) of LMS files
    python grading/course.py autograde LAB [--student ID] [--wall-clock SECONDS] [--workers N]
    python grading/course.py feedback LAB [--to DIR]
    python grading/course.py export [--to grades.csv]
    python grading/course.py status LAB
    python grading/course.py bundle [--to mini_accel-student.zip]   # what students download

Every command loads ``nbgrader_config.py`` from the course directory
explicitly (nbgrader's Python API would not read it) and uses nbgrader's own
API for the work. What this file adds, and why, is in grading/README.md:

* every command places the grader's checking code (``labcheck.py``,
  ``sealrun.py``; one master copy each, here) next to each source notebook,
  where a source notebook run in JupyterLab needs it; ``generate`` refreshes
  ``labs/`` from the release, which holds nothing but the student notebooks;
* ``students`` checks the roster's ids, then imports it with nbgrader's own
  ``nbgrader db student import``;
* ``collect`` understands LMS downloads: student ids inside file names,
  notebooks with the wrong name (recognised by their nbgrader cell ids), zip
  archives, and it reports every file it could not place (the course's
  nbgrader plugins in plugins.py: ``nbgrader zip_collect`` does the same);
* ``autograde`` grades each student in a separate process with a wall-clock
  limit, the kernel in a sandbox (sandbox.py), so a submission that hangs,
  crashes or attacks the grader gets what its cells earned with a note that
  names the cause, instead of blocking or corrupting the others; with
  ``--workers`` a worker that dies is reported, its students are graded again,
  and the command exits non-zero;
* ``collect`` and ``autograde`` put back the nbgrader metadata of a notebook
  that lost it, by matching its cells to the lab's;
* ``feedback`` writes a feedback file for every student who submitted, with
  the reason where grading failed;
* ``export`` writes nbgrader's CSV columns plus ``status``, ``note`` and
  ``needs_manual_grade`` (plugins.CourseCsvExportPlugin: ``nbgrader export``
  writes the same file);
* ``bundle`` builds the student download of a graded course: the library,
  the labs and the readings, and nothing of ``grading/`` (sources, checks,
  solutions) or of the tests, which read it.
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:     # plugins.py, next to this file
    sys.path.insert(0, str(HERE))
import plugins  # noqa: E402
from plugins import NOTES_FILE, read_notes, set_note  # noqa: E402,F401  (names used by the tests)

# nbgrader runs `alembic` (and the kernel) from PATH: use the tools of this Python's
# environment even when the virtualenv is not activated.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
#: Default wall-clock limit for autograding one student's notebook, in seconds.
#: A lab runs in under a minute; a plain infinite loop costs one cell timeout (30 s).
DEFAULT_WALL_CLOCK = 300.0

#: The grader's checking code: one master copy each in the course root, placed next
#: to every source notebook (ignored by git, never released to students).
GRADER_FILES = ("labcheck.py", "sealrun.py")
#: The roster columns handed to nbgrader's student import.
STUDENT_COLUMNS = ("id", "first_name", "last_name", "email")
#: What the sandboxed Execute logged about a cell (sandbox.EVENT_PREFIX).
_EVENT = re.compile(r"mini_accel grading event: (.+)")


# --------------------------------------------------------------------------- #
# Configuration and small helpers
# --------------------------------------------------------------------------- #
def load_config(root: Path):
    """The course's nbgrader_config.py, loaded explicitly, with ``root`` as course directory."""
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def make_api(root: Path):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_config(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _gradebook(root: Path):
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=load_config(root))
    return Gradebook(coursedir.db_url, coursedir.course_id)


def labs_in(root: Path) -> list[str]:
    source = Path(root) / "source"
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").exists())


def place_grader_files(root: Path) -> None:
    """Copy the master labcheck.py and sealrun.py next to every source notebook (if changed)."""
    root = Path(root)
    for lab in labs_in(root):
        for name in GRADER_FILES:
            master, copy = root / name, root / "source" / lab / name
            if not copy.exists() or copy.read_bytes() != master.read_bytes():
                shutil.copyfile(master, copy)


# --------------------------------------------------------------------------- #
# students
# --------------------------------------------------------------------------- #
def cmd_students(root: Path, roster: Path) -> int:
    """Add or update students from a CSV with an ``id`` column (and optional names, email).

    The ids are checked first (an id must be a file-name token the LMS uses); the
    import itself is nbgrader's ``nbgrader db student import``, run on a clean copy
    of the roster: ids stripped of spaces, the columns id, first_name, last_name,
    email (a missing or empty name or email is stored as none).
    """
    from nbgrader.apps.dbapp import DbStudentImportApp

    with open(roster, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "id" not in rows[0]:
        raise SystemExit(f"{roster}: expected a CSV with a header and an 'id' column")
    for row in rows:
        sid = row["id"].strip()
        if not re.fullmatch(r"[A-Za-z0-9._@-]+", sid):
            raise SystemExit(f"{roster}: student id {sid!r} may only use letters, digits and . _ @ -")
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "roster.csv"
        with open(clean, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(STUDENT_COLUMNS)
            writer.writerows([row["id"].strip()] + [row.get(k) or "" for k in STUDENT_COLUMNS[1:]]
                             for row in rows)
        app = DbStudentImportApp()
        app.initialize([str(clean), "--log-level=ERROR"], root=str(Path(root).resolve()))
        app.start()
    print(f"{len(rows)} students added or updated")
    return 0


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #
def cmd_generate(root: Path, labs: list[str], labs_dir: Path | None) -> int:
    """Sync labcheck.py, run nbgrader generate_assignment, copy the release into labs/."""
    root = Path(root)
    labs = labs or labs_in(root)
    api = make_api(root)
    for lab in labs:
        result = api.generate_assignment(lab, force=True, create=True)
        if not result["success"]:
            print(result.get("log", ""), result.get("error", ""), file=sys.stderr)
            raise SystemExit(f"generate_assignment failed for {lab}")
        if labs_dir is not None:
            labs_dir.mkdir(parents=True, exist_ok=True)
            for stale in [labs_dir / f"{lab}_checks.py", labs_dir / "labcheck.py"]:
                stale.unlink(missing_ok=True)     # handed out by older versions
            release = root / "release" / lab
            for path in sorted(release.rglob("*")):
                if path.is_file():
                    dest = labs_dir / path.relative_to(release)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dest)
        print(f"generated {lab}" + (f" -> {labs_dir}" if labs_dir else ""))
    return 0


# --------------------------------------------------------------------------- #
# collect
# --------------------------------------------------------------------------- #
def cmd_collect(root: Path, lab: str, inbox: Path) -> int:
    """Place each student's notebook as submitted/<student>/<lab>/<lab>.ipynb.

    The same plan as ``nbgrader zip_collect`` with the course's plugins
    (plugins.LmsExtractorPlugin, plugins.plan_collection), for a folder or
    .zip anywhere on disk, every student's folder replaced.
    """
    root = Path(root)
    with _gradebook(root) as gb:
        students = [s.id for s in gb.students]
    if not students:
        raise SystemExit("no students in the gradebook: run the 'students' command first")
    grade_ids = plugins.lab_grade_ids(root / "source" / lab / f"{lab}.ipynb")
    with tempfile.TemporaryDirectory() as scratch:
        plugins.LmsExtractorPlugin().extract(str(inbox), scratch)
        plan = plugins.plan_collection(plugins.lms_files(Path(scratch)), students, grade_ids, lab)
        for sid, placed in plan.placed.items():
            dest = root / "submitted" / sid / lab
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            shutil.copyfile(placed.path, dest / f"{lab}.ipynb")
            (dest / "timestamp.txt").write_text(plan.timestamp(sid))
        plan.record(root, lab)
    print("\n".join(plan.report(students)))
    return 0


# --------------------------------------------------------------------------- #
# autograde
# --------------------------------------------------------------------------- #
def _die_with_parent() -> None:
    """Linux: be killed when the process that started this one dies (a killed worker
    must not leave a grading process behind that writes grades later)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _autograde_child(root: str, lab: str, student: str, conn, stderr_path: str) -> None:
    """Runs in a forked process: one student's autograde through nbgrader's API.

    Its stdout and stderr, and the kernel's (which inherits them), go to the
    student's log file, so warnings do not flood the instructor's terminal.
    """
    _die_with_parent()
    err = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)
    os.dup2(err, 1)         # the kernel's own start-up chatter goes there too
    os.close(err)
    try:
        result = make_api(Path(root)).autograde(lab, student, force=True, create=True)
        conn.send({"success": bool(result.get("success")), "error": str(result.get("error", ""))[-4000:],
                   "log": str(result.get("log", ""))[-200_000:]})
    except BaseException as exc:  # report, never hang the parent
        conn.send({"success": False, "error": f"{type(exc).__name__}: {exc}", "log": ""})
    finally:
        conn.close()


def _kill_tree(pid: int) -> None:
    """Kill a process and everything it started (the kernel runs in its own session)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _failure_note(error: str, log: str) -> str:
    """Why nbgrader could not grade the notebook at all, in the instructor's words."""
    text = error + "\n" + log
    if "NotJSONError" in text or "JSONDecodeError" in text or "Notebook does not appear to be JSON" in text:
        return "invalid notebook: the submitted file is not a notebook (not JSON): scored 0"
    if "NotebookValidationError" in text or "ValidationError" in text:
        return "invalid notebook: the file is JSON but not a valid notebook: scored 0"
    if "No notebooks found" in text or "No submitted file" in text:
        return "no notebook of this lab was submitted: scored 0"
    if "DeadKernelError" in text:
        return "the kernel died and could not be restarted: scored 0; review by hand"
    if "Timeout waiting for IOPub" in text:
        return "output timeout: the kernel's output stopped arriving: scored 0; review by hand"
    if "sandbox" in text.lower() and "require" in text:
        return f"not graded: {error.strip().splitlines()[-1][:200]}"
    last = [line for line in error.strip().splitlines() if line.strip()][-1:] or ["unknown error"]
    return f"autograde failed ({last[0][:200]}): scored 0; review by hand"


def locked_cell_changes(root: Path, lab: str, student: str) -> list[str]:
    """What the student did to the read-only cells, compared with the released notebook.

    nbgrader repairs all of it (edited locked cells are restored, deleted or
    untagged test cells are put back); the note tells the instructor it happened.
    """
    import nbformat

    release = Path(root) / "release" / lab / f"{lab}.ipynb"
    submitted = Path(root) / "submitted" / student / lab / f"{lab}.ipynb"
    try:
        rel = nbformat.read(release, as_version=4)
        sub = nbformat.read(submitted, as_version=4)
    except Exception:
        return []
    ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in sub.cells}
    notes = []
    for cell in rel.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("locked"):
            continue
        gid = meta.get("grade_id")
        kind = "test cell" if meta.get("grade") else "read-only cell"
        if gid not in ids:
            untagged = any(c.source == cell.source and "nbgrader" not in c.metadata for c in sub.cells)
            what = "stripped of its nbgrader metadata" if untagged else "deleted"
            fix = "put back" if meta.get("grade") else "not put back (not graded)"
            notes.append(f"{kind} {gid} was {what}: {fix}")
        elif ids[gid].source != cell.source:
            notes.append(f"{kind} {gid} was edited: restored")
    return notes


# --------------------------------------------------------------------------- #
# Notebooks that lost their nbgrader metadata
# --------------------------------------------------------------------------- #
def _has_answer_metadata(nb) -> bool:
    return any(c.metadata.get("nbgrader", {}).get("solution") for c in nb.cells)


def restore_metadata(released, submitted) -> tuple[int, list[str]]:
    """Give the cells of ``submitted`` the nbgrader metadata of the matching released cells.

    Read-only cells (text, tests) are matched by identical source, in order;
    each answer cell is the first cell of its type between the anchors around
    it. Returns (answer cells matched, grade ids of answer cells not found).
    """
    anchors: dict[int, int] = {}       # released index -> submitted index
    start = 0
    for ri, rcell in enumerate(released.cells):
        if rcell.metadata.get("nbgrader", {}).get("solution"):
            continue
        for si in range(start, len(submitted.cells)):
            if submitted.cells[si].source == rcell.source and submitted.cells[si].cell_type == rcell.cell_type:
                anchors[ri], start = si, si + 1
                break
    used = set(anchors.values())
    matched, missing = 0, []
    for ri, rcell in enumerate(released.cells):
        meta = rcell.metadata.get("nbgrader")
        if not meta:
            continue
        if ri in anchors:
            submitted.cells[anchors[ri]].metadata["nbgrader"] = dict(meta)
            continue
        if not meta.get("solution"):
            continue
        lo = max([s for r, s in anchors.items() if r < ri], default=-1)
        hi = min([s for r, s in anchors.items() if r > ri], default=len(submitted.cells))
        for si in range(lo + 1, hi):
            cell = submitted.cells[si]
            if si not in used and cell.cell_type == rcell.cell_type:
                cell.metadata["nbgrader"] = dict(meta)
                used.add(si)
                matched += 1
                break
        else:
            missing.append(meta.get("grade_id"))
    return matched, missing


def _restore_submitted_metadata(root: Path, lab: str, student: str) -> str:
    """Put back lost nbgrader metadata in the submitted notebook; a note, or ''."""
    import nbformat

    path = Path(root) / "submitted" / student / lab / f"{lab}.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
        released = nbformat.read(Path(root) / "release" / lab / f"{lab}.ipynb", as_version=4)
    except Exception:
        return ""
    if _has_answer_metadata(nb):
        return ""
    matched, missing = restore_metadata(released, nb)
    shutil.copyfile(path, path.with_name(f"{lab}.original.ipynb.txt"))
    nbformat.write(nb, path)
    note = f"the notebook had no nbgrader metadata: its cells were matched to the lab's ({matched} answer cells"
    return note + (f"; not found: {', '.join(missing)})" if missing else ")") + "; review by hand"


# --------------------------------------------------------------------------- #
# autograde
# --------------------------------------------------------------------------- #
def _record_zero(root: Path, lab: str, student: str) -> None:
    """Give every graded cell of the submission 0 points, so export shows a definite 0."""
    with _gradebook(root) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(lab, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gb.db.commit()


def autograde_one(root: Path, lab: str, student: str, wall_clock: float = DEFAULT_WALL_CLOCK,
                  run_id: str = "") -> dict:
    """Autograde one student in a child process; return {"status", "note", "seconds"}."""
    root = Path(root).resolve()
    restored = _restore_submitted_metadata(root, lab, student)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    start = time.monotonic()
    log_dir = root / "logs" / lab
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"{student}.stderr.log"
    child = ctx.Process(target=_autograde_child, args=(str(root), lab, student, send, str(stderr_path)),
                        daemon=False)
    child.start()
    send.close()
    result = None
    if receive.poll(wall_clock):
        try:
            result = receive.recv()
        except EOFError:
            result = None
    child.join(timeout=5)
    timed_out = result is None and child.is_alive()
    if child.is_alive():
        _kill_tree(child.pid)
        child.join()
    seconds = time.monotonic() - start
    (log_dir / f"{student}.log").write_text((result or {}).get("log", "") + "\n" + (result or {}).get("error", ""))

    notes = [restored] if restored else []
    if result is not None and result["success"]:
        notes += locked_cell_changes(root, lab, student)
        notes += list(dict.fromkeys(_EVENT.findall(result["log"])))
        outcome = {"status": "graded", "note": "; ".join(notes)}
    else:
        if timed_out:
            note = (f"autograde did not finish within the {wall_clock:.0f} s wall-clock limit and was "
                    "stopped: scored 0; review by hand")
        elif result is None:
            note = f"the grading process died (exit code {child.exitcode}): scored 0; grade again"
        else:
            note = _failure_note(result.get("error", ""), result.get("log", ""))
        status = "timeout" if timed_out else ("invalid" if note.startswith("invalid notebook") else "failed")
        # A half-written autograded notebook must not reach the feedback or formgrader.
        shutil.rmtree(root / "autograded" / student / lab, ignore_errors=True)
        _record_zero(root, lab, student)
        outcome = {"status": status, "note": "; ".join(notes + [note])}
    set_note(root, lab, student, "autograde", outcome["status"], outcome["note"], run=run_id)
    outcome["seconds"] = seconds
    return outcome


def submitted_students(root: Path, lab: str) -> list[str]:
    base = Path(root) / "submitted"
    return sorted(p.name for p in base.iterdir() if (p / lab).is_dir()) if base.exists() else []


def cmd_autograde(root: Path, lab: str, students: list[str] | None, wall_clock: float,
                  workers: int = 1, run_id: str = "") -> int:
    students = students or submitted_students(root, lab)
    run_id = run_id or uuid.uuid4().hex
    if workers > 1 and len(students) > 1:
        return _autograde_in_workers(root, lab, students, wall_clock, workers, run_id)
    for sid in students:
        out = autograde_one(root, lab, sid, wall_clock, run_id)
        print(f"{sid:20} {out['status']:8} {out['seconds']:6.1f} s  {out['note']}", flush=True)
    return 0


def graded_in_run(root: Path, lab: str, students: list[str], run_id: str) -> set[str]:
    """The students whose autograde outcome was recorded by the run ``run_id``."""
    notes = read_notes(root).get(lab, {})
    return {sid for sid in students if notes.get(sid, {}).get("autograde", {}).get("run") == run_id}


def _autograde_in_workers(root: Path, lab: str, students: list[str], wall_clock: float,
                          workers: int, run_id: str) -> int:
    """Split the class round-robin over ``workers`` processes of this same command.

    Each worker grades its share one student at a time, exactly as above; they
    share the gradebook (use PostgreSQL for this, see grading/README.md) and the
    notes file (locked). A worker that dies (killed, out of memory) is
    reported; the students it had not finished are graded again here, one at a
    time, and the command exits non-zero so that the instructor looks.
    """
    shares = [students[i::workers] for i in range(min(workers, len(students)))]
    procs = []
    for share in shares:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "autograde", lab,
               "--wall-clock", str(wall_clock), "--run-id", run_id]
        for sid in share:
            cmd += ["--student", sid]
        procs.append(subprocess.Popen(cmd, preexec_fn=_die_with_parent if os.name == "posix" else None))
    codes = [proc.wait() for proc in procs]
    dead = [(i, code) for i, code in enumerate(codes) if code != 0]
    if not dead:
        return 0
    for i, code in dead:
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        left = [sid for sid in shares[i] if sid not in graded_in_run(root, lab, shares[i], run_id)]
        print(f"WORKER {i + 1} DIED ({how}); not graded by it: {', '.join(left) or 'none'}",
              file=sys.stderr, flush=True)
        for sid in left:
            out = autograde_one(root, lab, sid, wall_clock, run_id)
            print(f"{sid:20} {out['status']:8} {out['seconds']:6.1f} s  graded again: {out['note']}",
                  flush=True)
    missing = [sid for sid in students if sid not in graded_in_run(root, lab, students, run_id)]
    if missing:
        print(f"NOT GRADED: {', '.join(missing)}", file=sys.stderr)
    print(f"{len(dead)} worker(s) died; every other student was graded again: check the list above",
          file=sys.stderr)
    return 3


# --------------------------------------------------------------------------- #
# feedback, export, status
# --------------------------------------------------------------------------- #
def _reason_html(lab: str, student: str, note: str) -> str:
    """The feedback of a student whose notebook could not be graded: the reason, escaped."""
    import html

    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(lab)}: feedback"
            f"</title></head><body><h1>{html.escape(lab)}</h1><p>Student: {html.escape(student)}</p>"
            f"<p><b>Score: 0</b>. Your notebook could not be graded automatically:</p>"
            f"<p>{html.escape(note or 'no reason was recorded')}</p>"
            "<p>Your instructor has been told and will review it by hand.</p></body></html>\n")


def cmd_feedback(root: Path, lab: str, to: Path | None) -> int:
    """Feedback HTML for every student who submitted: nbgrader's, or the reason it failed."""
    root = Path(root)
    api = make_api(root)
    notes = read_notes(root).get(lab, {})
    for sid in submitted_students(root, lab):
        if (root / "autograded" / sid / lab).is_dir():
            result = api.generate_feedback(lab, sid, force=True)
            ok = result["success"]
            if not ok:
                print(f"{sid}: feedback failed: {result.get('error', '')[-300:]}", file=sys.stderr)
        else:
            ok = False
        if not ok:
            stage = notes.get(sid, {}).get("autograde") or notes.get(sid, {}).get("collect") or {}
            out = root / "feedback" / sid / lab
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{lab}.html").write_text(_reason_html(lab, sid, stage.get("note", "")), encoding="utf-8")
        if to is not None:
            to.mkdir(parents=True, exist_ok=True)
            for html in (root / "feedback" / sid / lab).glob("*.html"):
                shutil.copyfile(html, to / f"{sid}__{html.name}")
        print(f"{sid}: feedback written")
    return 0


def export_rows(root: Path) -> list[dict]:
    """One row per (assignment, student), nbgrader's columns plus status and note."""
    with _gradebook(root) as gb:
        return plugins.export_rows(gb, read_notes(root))


def cmd_export(root: Path, to: Path) -> int:
    """The grades CSV, written by the course's nbgrader export plugin."""
    exporter = plugins.CourseCsvExportPlugin(to=str(to), course_root=str(root))
    with _gradebook(root) as gb:
        exporter.export(gb)
    print(f"{exporter.rows_written} rows written to {to}")
    return 0


def cmd_status(root: Path, lab: str) -> int:
    for row in export_rows(root):
        if row["assignment"] == lab:
            print(f"{row['student_id']:20} {row['score']:>6} / {row['max_score']:<6} "
                  f"{row['status']:12} {'manual grading pending ' if row['needs_manual_grade'] else ''}"
                  f"{row['note']}")
    return 0


# --------------------------------------------------------------------------- #
# bundle
# --------------------------------------------------------------------------- #
#: What a student of a graded course receives, relative to the repository root.
BUNDLE_FILES = ("README.md", "LICENSE", "pyproject.toml", "setup.py", "mini_accel", "labs", "course")
_BUNDLE_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd", "*.c", "*.cpp", "*.html",
                                      ".ipynb_checkpoints", "*_checks.py", "labcheck.py", "sealrun.py")


def build_bundle(repo: Path, out: Path) -> Path:
    """Write the student bundle (a .zip, or a folder if ``out`` has no .zip suffix)."""
    repo, out = Path(repo), Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp) / "mini_accel-course"
        top.mkdir()
        for name in BUNDLE_FILES:
            src = repo / name
            if src.is_dir():
                shutil.copytree(src, top / name, ignore=_BUNDLE_SKIP)
            else:
                shutil.copyfile(src, top / name)
        if out.suffix == ".zip":
            out.unlink(missing_ok=True)
            shutil.make_archive(str(out.with_suffix("")), "zip", tmp, "mini_accel-course")
        else:
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(top, out)
    return out


def cmd_bundle(root: Path, to: Path) -> int:
    out = build_bundle(Path(root).resolve().parent, to)
    print(f"student bundle written to {out}: library, labs, readings; no solutions, no hidden checks")
    return 0


# --------------------------------------------------------------------------- #
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python grading/course.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE,
                        help="course directory (default: the folder of this file)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("students", help="add/update students from a CSV (id,first_name,last_name,email)")
    p.add_argument("roster", type=Path)
    p = sub.add_parser("generate", help="generate the student notebooks and refresh labs/")
    p.add_argument("labs", nargs="*")
    p.add_argument("--labs-dir", type=Path, default=None,
                   help="where the student notebooks go (default: <root>/../labs)")
    p.add_argument("--no-labs", action="store_true", help="only write release/, not labs/")
    p = sub.add_parser("collect", help="place LMS downloads as nbgrader submissions")
    p.add_argument("lab")
    p.add_argument("inbox", type=Path)
    p = sub.add_parser("autograde", help="autograde, one student per process, with a wall-clock limit")
    p.add_argument("lab")
    p.add_argument("--student", action="append")
    p.add_argument("--wall-clock", type=float, default=DEFAULT_WALL_CLOCK)
    p.add_argument("--workers", type=int, default=1,
                   help="grade the class in this many parallel processes (default 1)")
    p.add_argument("--run-id", default="", help=argparse.SUPPRESS)   # set by the parent of workers
    p = sub.add_parser("feedback", help="feedback HTML (hidden tests removed)")
    p.add_argument("lab")
    p.add_argument("--to", type=Path, default=None, help="also copy the HTML files here, one per student")
    p = sub.add_parser("export", help="grades to CSV, with status and notes")
    p.add_argument("--to", type=Path, default=Path("grades.csv"))
    p = sub.add_parser("status", help="one line per student of a lab")
    p.add_argument("lab")
    p = sub.add_parser("bundle", help="the student download: library, labs, readings (no solutions)")
    p.add_argument("--to", type=Path, default=Path("mini_accel-student.zip"))
    args = parser.parse_args(argv)
    root = args.root.resolve()
    place_grader_files(root)
    if args.command == "students":
        return cmd_students(root, args.roster)
    if args.command == "generate":
        labs_dir = None if args.no_labs else (args.labs_dir or root.parent / "labs")
        return cmd_generate(root, args.labs, labs_dir)
    if args.command == "collect":
        return cmd_collect(root, args.lab, args.inbox)
    if args.command == "autograde":
        if args.workers < 1:
            parser.error("--workers must be >= 1")
        return cmd_autograde(root, args.lab, args.student, args.wall_clock, args.workers, args.run_id)
    if args.command == "feedback":
        return cmd_feedback(root, args.lab, args.to)
    if args.command == "export":
        return cmd_export(root, args.to)
    if args.command == "bundle":
        return cmd_bundle(root, args.to)
    return cmd_status(root, args.lab)


if __name__ == "__main__":
    sys.exit(main())
