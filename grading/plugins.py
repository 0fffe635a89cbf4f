"""The course's nbgrader plugins, and the notes file they share with ``course.py``.

nbgrader has extension points for two of the instructor's jobs; the course
plugs into them, so that nbgrader's own commands, run from ``grading/``, give
what ``course.py`` gives (``nbgrader_config.py`` selects these classes):

* ``nbgrader export`` -> :class:`CourseCsvExportPlugin`: nbgrader's CSV
  columns plus ``needs_manual_grade``, ``status`` and ``note``
  (``course.py export`` and ``status`` use the same rows);
* ``nbgrader zip_collect LAB`` -> :class:`LmsExtractorPlugin` (unpacks the
  LMS download: zip archives, folders; nothing outside the target folder)
  and :class:`LmsCollectorPlugin` (whose notebook is which: the student id as
  a whole word of the file or folder name, the lab's notebook recognised by
  its nbgrader cell ids; ``course.py collect`` runs the same plan).

The roster is nbgrader's own ``nbgrader db student import`` (``course.py
students`` checks the ids first, then runs it). The notes file
(``grading_notes.json``: why a student's grade is what it is) is written by
several grading processes at once under a lock (``filelock``: POSIX and
Windows).

Example (the plan for an LMS download; ids and cell ids are made up)::

    >>> import json, pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> nb = {"cells": [{"metadata": {"nbgrader": {"grade_id": "t1"}}}]}
    >>> _ = (tmp / "alice_1_2_Lab final.ipynb").write_text(json.dumps(nb))
    >>> _ = (tmp / "notes_bob.txt").write_text("hi")
    >>> plan = plan_collection(lms_files(tmp), ["alice", "bob"], {"t1"}, "lab1")
    >>> plan.placed["alice"].status, plan.missing["bob"][:26]
    ('renamed', 'no notebook of this lab am')
"""
from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin, ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Unicode

NOTES_FILE = "grading_notes.json"
#: How course.py writes a submission time (nbgrader's parse_utc reads it).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


# --------------------------------------------------------------------------- #
# The notes file
# --------------------------------------------------------------------------- #
@contextlib.contextmanager
def notes_lock(root: Path):
    """Serialize read-modify-write of the notes file across processes (POSIX and Windows)."""
    from filelock import FileLock

    with FileLock(str(Path(root) / f".{NOTES_FILE}.lock")):
        yield


def read_notes(root: Path) -> dict:
    path = Path(root) / NOTES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_notes(root: Path, notes: dict) -> None:
    path = Path(root) / NOTES_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(notes, indent=1, sort_keys=True))
    tmp.replace(path)          # atomic: a crash never leaves half a file


def set_note(root: Path, lab: str, student: str, stage: str, status: str, note: str = "",
             run: str = "") -> None:
    """Record what a stage (``collect``, ``autograde``) did for one student of one lab."""
    with notes_lock(root):
        notes = read_notes(root)
        entry = notes.setdefault(lab, {}).setdefault(student, {})
        entry[stage] = {"status": status, "note": note, **({"run": run} if run else {})}
        write_notes(root, notes)


# --------------------------------------------------------------------------- #
# Export
# --------------------------------------------------------------------------- #
EXPORT_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                  "email", "raw_score", "late_submission_penalty", "score", "max_score",
                  "needs_manual_grade", "status", "note"]


def export_rows(gb: Gradebook, notes: dict, assignments=(), students=()) -> list[dict]:
    """One row per (assignment, student), nbgrader's columns plus status and note.

    ``assignments``/``students``: only these (nbgrader's ``--assignment``/``--student``);
    empty means all.
    """
    rows = []
    for assignment in gb.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gb.students:
            if students and student.id not in students:
                continue
            row = {"assignment": assignment.name, "duedate": assignment.duedate or "",
                   "student_id": student.id, "last_name": student.last_name or "",
                   "first_name": student.first_name or "", "email": student.email or "",
                   "max_score": assignment.max_score}
            try:
                sub = gb.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                           needs_manual_grade=False)
            else:
                row.update(timestamp=sub.timestamp or "", raw_score=sub.score,
                           late_submission_penalty=sub.late_submission_penalty,
                           score=max(0.0, sub.score - sub.late_submission_penalty),
                           needs_manual_grade=bool(sub.needs_manual_grade))
            stages = notes.get(assignment.name, {}).get(student.id, {})
            last = stages.get("autograde") or stages.get("collect") or {}
            row["status"] = last.get("status", "not submitted" if not row["timestamp"] else "")
            row["note"] = "; ".join(s["note"] for s in stages.values() if s.get("note"))
            rows.append(row)
    return rows


def write_export(rows: list[dict], dest) -> None:
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _course_root(plugin) -> str:
    """The course directory: the plugin's own setting, else the nbgrader app's."""
    coursedir = getattr(plugin.parent, "coursedir", None)
    return plugin.course_root or (coursedir.root if coursedir is not None else ".")


class CourseCsvExportPlugin(CsvExportPlugin):
    """``nbgrader export``: nbgrader's CSV columns plus ``needs_manual_grade``, ``status``
    and ``note`` (from the course's notes file). ``--to`` defaults to ``grades.csv``."""

    course_root = Unicode("", help="course directory holding grading_notes.json "
                                   "(default: the app's CourseDirectory.root)").tag(config=True)
    rows_written = 0

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades.csv"
        rows = export_rows(gradebook, read_notes(Path(_course_root(self))),
                           [str(a) for a in self.assignment], [str(s) for s in self.student])
        self.log.info("Exporting %d rows to %s", len(rows), dest)
        write_export(rows, dest)
        self.rows_written = len(rows)


# --------------------------------------------------------------------------- #
# Collecting an LMS download
# --------------------------------------------------------------------------- #
class LmsExtractorPlugin(ExtractorPlugin):
    """Unpack an LMS download: every file copied with its modification time, each
    ``.zip`` unpacked into a folder of the same name (``x.zip/...``), members whose
    names would escape that folder skipped, hidden files skipped, a broken zip
    copied as it is (the collector reports it)."""

    def extract(self, archive_path: str, extracted_path: str) -> None:
        inbox, out_root = Path(archive_path), Path(extracted_path)
        for path in sorted(inbox.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            rel = path.relative_to(inbox)
            if path.suffix.lower() == ".zip":
                out = out_root / rel
                try:
                    with zipfile.ZipFile(path) as zf:
                        for member in zf.infolist():
                            target = (out / member.filename).resolve()
                            if member.is_dir() or not str(target).startswith(str(out.resolve())):
                                continue          # skip folders and path-escaping names
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_bytes(zf.read(member))
                    continue
                except zipfile.BadZipFile:
                    pass
            (out_root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out_root / rel)   # keeps the time: it becomes the submission time


def lms_files(extracted: Path) -> list[tuple[str, Path]]:
    """(name relative to the extracted folder, path) of every file, sorted."""
    extracted = Path(extracted)
    return [(p.relative_to(extracted).as_posix(), p) for p in sorted(extracted.rglob("*")) if p.is_file()]


def owner(name: str, students: list[str]) -> str | None:
    """The student whose id appears in ``name`` as a whole token (the longest wins)."""
    best = None
    for sid in students:
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(sid)}(?![A-Za-z0-9])", name, re.IGNORECASE):
            if best is None or len(sid) > len(best):
                best = sid
    return best


def is_this_lab(path: Path, grade_ids: set[str]) -> bool | str | None:
    """True/False whether the notebook has this lab's cells, "stripped" if it is a
    notebook without any nbgrader metadata, None if it is not valid JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = data["cells"]
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None
    if ids <= {None} and cells:
        return "stripped"
    return len(ids & grade_ids) >= max(1, len(grade_ids) // 2)


def lab_grade_ids(notebook: Path) -> set[str]:
    """The grade ids of the graded and answer cells of a lab's source notebook."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution")} - {None}


@dataclass
class Placed:
    name: str           #: the file's name as the LMS gave it
    path: Path
    status: str         #: collected, renamed or invalid
    note: str


@dataclass
class CollectionPlan:
    placed: dict[str, Placed] = field(default_factory=dict)     #: student -> the file graded
    missing: dict[str, str] = field(default_factory=dict)       #: student -> why none was
    unplaced: list[tuple[str, str]] = field(default_factory=list)   #: (file name, why)

    def timestamp(self, sid: str) -> str:
        """The submission time of a placed file: its modification time, in UTC."""
        stamp = _dt.datetime.fromtimestamp(self.placed[sid].path.stat().st_mtime, _dt.UTC)
        return stamp.strftime(TIMESTAMP_FORMAT)

    def record(self, root: Path, lab: str) -> None:
        """Write the collect stage of every student in the plan to the notes file."""
        for sid, note in self.missing.items():
            set_note(root, lab, sid, "collect", "missing", note)
        for sid, placed in self.placed.items():
            set_note(root, lab, sid, "collect", placed.status, placed.note)

    def report(self, students: list[str]) -> list[str]:
        """The lines the instructor reads: placed, not placed, no submission."""
        lines = [f"{sid:20} {p.status:10} {p.note}" for sid, p in sorted(self.placed.items())]
        lines += [f"NOT PLACED: {name} ({why})" for name, why in self.unplaced]
        absent = sorted(set(students) - set(self.placed))
        if absent:
            lines.append(f"no submission from: {', '.join(absent)}")
        return lines


def plan_collection(files: list[tuple[str, Path]], students: list[str], grade_ids: set[str],
                    lab: str) -> CollectionPlan:
    """Which file is each student's notebook of ``lab``, and why every other file is not."""
    plan = CollectionPlan()
    by_student: dict[str, list[tuple[str, Path]]] = {}
    for name, path in files:
        sid = owner(name, students)
        if sid is None:
            plan.unplaced.append((name, "no known student id in the name"))
        else:
            by_student.setdefault(sid, []).append((name, path))
    for sid, files_of in sorted(by_student.items()):
        notebooks = [(n, p) for n, p in files_of if p.suffix.lower() == ".ipynb"]
        exact = [(n, p) for n, p in notebooks if p.name.endswith(f"{lab}.ipynb")]
        ordered = exact + [f for f in notebooks if f not in exact]
        verdicts = [(f, is_this_lab(f[1], grade_ids)) for f in ordered]
        ours = [f for f, v in verdicts if v is True]
        not_json = [f for f, v in verdicts if v is None]
        stripped = [f for f, v in verdicts if v == "stripped" and f in exact]
        if not ours and stripped:
            ours = stripped     # placed by its file name; autograde matches its cells
        if ours:
            chosen = ours[0]
            status, note = ("collected", "") if chosen in exact else \
                ("renamed", f"submitted as {chosen[1].name!r}, graded as {lab}.ipynb")
            if chosen in stripped:
                status, note = "collected", "no nbgrader metadata: placed by its file name"
        elif not_json:      # keep it: autograde records the 0 with the reason
            chosen = not_json[0]
            status, note = "invalid", f"{chosen[1].name!r} is not a valid notebook (not JSON)"
        else:
            plan.missing[sid] = f"no notebook of this lab among {[Path(n).name for n, _ in files_of]}"
            plan.unplaced.extend((n, f"{sid}: not a notebook of {lab}") for n, _ in files_of)
            continue
        plan.placed[sid] = Placed(chosen[0], chosen[1], status, note)
        plan.unplaced.extend((n, f"{sid}: extra file, ignored") for n, _ in files_of if n != chosen[0])
    return plan


class LmsCollectorPlugin(FileNameCollectorPlugin):
    """``nbgrader zip_collect LAB``: the LMS's file names (Canvas
    ``alice_12345_67890_lab2.ipynb``, Moodle's one folder per student) and contents.

    The first file asked about makes the plan for the whole extracted folder
    (:func:`plan_collection`; students from the gradebook, the lab's cell ids from
    its source notebook), records it in the notes file and logs the report; each
    file is then the student's ``<lab>.ipynb`` or skipped. No regular expression
    to configure (``named_regexp`` is not used).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._chosen: dict[str, dict] | None = None

    def _make_plan(self, submitted_file: str) -> None:
        app = self.parent
        coursedir = app.coursedir
        lab, root = coursedir.assignment_id, Path(coursedir.root)
        extracted = Path(app._format_collect_path(app.extracted_directory))
        if not Path(submitted_file).resolve().is_relative_to(extracted.resolve()):
            extracted = Path(submitted_file).parent
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            students = [s.id for s in gb.students]
        if not students:
            self.log.error("no students in the gradebook: import the roster first "
                           "(nbgrader db student import roster.csv)")
        source = root / coursedir.source_directory / lab / f"{lab}.ipynb"
        plan = plan_collection(lms_files(extracted), students, lab_grade_ids(source), lab)
        plan.record(root, lab)
        for line in plan.report(students):
            self.log.warning(line) if line.startswith(("NOT PLACED", "no submission")) else self.log.info(line)
        self._chosen = {str(p.path.resolve()): {"student_id": sid, "file_id": f"{lab}.ipynb",
                                                "timestamp": plan.timestamp(sid)}
                        for sid, p in plan.placed.items()}

    def collect(self, submitted_file: str) -> dict | None:
        if self._chosen is None:
            self._make_plan(submitted_file)
        return self._chosen.get(str(Path(submitted_file).resolve()))
