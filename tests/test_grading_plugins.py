"""The course's nbgrader plugins (grading/plugins.py), without autograding anything.

* the roster goes in through nbgrader's ``db student import`` after the ids are checked;
* ``nbgrader export`` with the course's plugin writes the file ``course.py export``
  writes, whose first columns are exactly nbgrader's stock CSV export;
* ``nbgrader zip_collect`` with the course's plugins places an LMS download exactly as
  ``course.py collect`` does (same files, times and notes), and the plan reads Canvas
  and Moodle names, wrong file names, stripped and broken notebooks and zip archives;
* the notes lock keeps a second process out, and ``course.py`` imports without ``fcntl``
  (Windows).
"""
from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from grading_fixtures import submissions as subs

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
]

LAB = "lab1_networks"
STUDENTS = ["alice", "al", "bob", "carol", "dave", "erin"]
NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course copy with the roster imported by ``course.py students``; its module."""
    base = tmp_path_factory.mktemp("plugins")
    root = subs.course_copy(base)
    module = _load(root / "course.py", "course_plugins_test")
    assert module.main(["--root", str(root), "students",
                        str(subs.write_roster(base / "roster.csv", STUDENTS))]) == 0
    return root, module


def _env(root: Path) -> dict:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("MINI_ACCEL_GRADEBOOK_URL", None)
    return env


# --------------------------------------------------------------------------- #
# Roster
# --------------------------------------------------------------------------- #
def test_roster_is_imported_through_nbgrader_with_names(course):
    root, module = course
    with module._gradebook(root) as gb:
        got = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
    assert got == {sid: (sid.title(), "Student", f"{sid}@example.org") for sid in STUDENTS}


def test_roster_with_a_bad_id_is_refused_before_any_import(course, tmp_path):
    root, module = course
    roster = tmp_path / "bad.csv"
    roster.write_text("id,first_name\nzed,Zed\nbad id!,X\n")
    with pytest.raises(SystemExit, match="may only use letters"):
        module.main(["--root", str(root), "students", str(roster)])
    with module._gradebook(root) as gb:
        assert "zed" not in {s.id for s in gb.students}
    roster.write_text("name\nzed\n")
    with pytest.raises(SystemExit, match="'id' column"):
        module.main(["--root", str(root), "students", str(roster)])


# --------------------------------------------------------------------------- #
# Collect: the plan, and nbgrader zip_collect == course.py collect
# --------------------------------------------------------------------------- #
def _lab_notebook() -> str:
    return (subs.GRADING / "source" / LAB / f"{LAB}.ipynb").read_text()


def _stripped_notebook() -> str:
    nb = json.loads(_lab_notebook())
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    return json.dumps(nb)


def _lms_download(inbox: Path) -> None:
    """An LMS download: Canvas names, a Moodle folder, a zip, and noise."""
    inbox.mkdir(parents=True)
    lab = _lab_notebook()
    (inbox / f"alice_12345_67890_{LAB}.ipynb").write_text(lab)                   # Canvas
    (inbox / "al_12346_67891_Lab1 final (1).ipynb").write_text(lab)               # wrong name
    (inbox / "al_12346_67891_scratch.ipynb").write_text('{"cells": [], "metadata": {}}')
    moodle = inbox / "Bob Builder_bob_assignsubmission_file_"                      # Moodle folder
    moodle.mkdir()
    (moodle / f"{LAB}.ipynb").write_text(_stripped_notebook())
    (inbox / f"carol_1_2_{LAB}.ipynb").write_text('{"cells": [ not json')
    (inbox / "dave_notes.txt").write_text("no notebook here")
    (inbox / f"stranger_9_{LAB}.ipynb").write_text(lab)
    (inbox / ".DS_Store").write_text("hidden")
    with zipfile.ZipFile(inbox / "erin_submission.zip", "w") as zf:
        zf.writestr(f"work/{LAB}.ipynb", lab)
        zf.writestr("../../escape.ipynb", lab)                                   # must not escape
    old = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC).timestamp()
    for path in inbox.rglob("*.ipynb"):
        os.utime(path, (old, old))


def test_plan_reads_canvas_moodle_zip_and_wrong_names(tmp_path):
    plugins = _load(subs.GRADING / "plugins.py", "plugins_plan_test")
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _lms_download(inbox)
    plugins.LmsExtractorPlugin().extract(str(inbox), str(out))
    assert not (tmp_path / "escape.ipynb").exists() and not list(out.rglob("escape.ipynb"))
    grade_ids = plugins.lab_grade_ids(subs.GRADING / "source" / LAB / f"{LAB}.ipynb")
    plan = plugins.plan_collection(plugins.lms_files(out), STUDENTS, grade_ids, LAB)
    status = {sid: (p.status, p.name) for sid, p in plan.placed.items()}
    assert status == {
        "alice": ("collected", f"alice_12345_67890_{LAB}.ipynb"),
        "al": ("renamed", "al_12346_67891_Lab1 final (1).ipynb"),        # "al", not "alice"
        "bob": ("collected", f"Bob Builder_bob_assignsubmission_file_/{LAB}.ipynb"),
        "carol": ("invalid", f"carol_1_2_{LAB}.ipynb"),
        "erin": ("collected", f"erin_submission.zip/work/{LAB}.ipynb"),
    }
    assert "no nbgrader metadata" in plan.placed["bob"].note
    assert plan.missing == {"dave": "no notebook of this lab among ['dave_notes.txt']"}
    unplaced = dict(plan.unplaced)
    assert unplaced[f"stranger_9_{LAB}.ipynb"] == "no known student id in the name"
    assert unplaced["al_12346_67891_scratch.ipynb"] == "al: extra file, ignored"
    assert ".DS_Store" not in unplaced
    # The file's modification time (kept through the extraction) is the submission time.
    from nbgrader.utils import parse_utc

    stamp = parse_utc(plan.timestamp("alice")).replace(tzinfo=dt.UTC)
    assert abs(stamp.timestamp() - (inbox / f"alice_12345_67890_{LAB}.ipynb").stat().st_mtime) < 1e-3


def _submitted(root: Path) -> dict:
    """{student: (notebook text, submission time)} of a course's submitted/ folder."""
    from nbgrader.utils import parse_utc

    out = {}
    for folder in sorted((root / "submitted").iterdir()):
        lab = folder / LAB
        out[folder.name] = ((lab / f"{LAB}.ipynb").read_text(),
                            parse_utc((lab / "timestamp.txt").read_text().strip()))
    return out


def test_nbgrader_zip_collect_places_files_like_course_collect(course, tmp_path):
    root, module = course
    _lms_download(tmp_path / "inbox")
    assert module.main(["--root", str(root), "collect", LAB, str(tmp_path / "inbox")]) == 0
    by_course = (_submitted(root), module.read_notes(root)[LAB])

    # The same download, through nbgrader's own command, in a second copy of the course.
    other = subs.course_copy(tmp_path / "nb")
    shutil.copyfile(root / "gradebook.db", other / "gradebook.db")     # the same roster
    _lms_download(other / "downloaded" / LAB / "archive")
    run = subprocess.run([NBGRADER, "zip_collect", LAB, "--force"], cwd=other, capture_output=True,
                         text=True, env=_env(other), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "NOT PLACED: stranger_9_" in run.stderr and "no submission from: dave" in run.stderr
    by_nbgrader = (_submitted(other), module.read_notes(other)[LAB])
    assert sorted(by_course[0]) == ["al", "alice", "bob", "carol", "erin"]
    assert by_nbgrader[1] == by_course[1]                      # the same notes
    for sid, (text, stamp) in by_course[0].items():            # the same notebooks and times
        other_text, other_stamp = by_nbgrader[0][sid]
        assert other_text == text, sid
        # A file unpacked from a zip is stamped when it is unpacked (both commands do so).
        assert abs((other_stamp - stamp).total_seconds()) < (300 if sid == "erin" else 1e-3), sid


# --------------------------------------------------------------------------- #
# Export: nbgrader export == course.py export; nbgrader's columns are nbgrader's
# --------------------------------------------------------------------------- #
def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_export_plugin_writes_the_course_columns(course, tmp_path):
    root, module = course
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    with module._gradebook(root) as gb:
        gb.update_or_create_assignment("lab_x", duedate="2026-12-01 12:00:00")
        gb.update_or_create_submission("lab_x", "alice", timestamp="2026-12-02 10:00:00")
    module.set_note(root, "lab_x", "alice", "autograde", "graded", "cell t1 was edited: restored")
    module.set_note(root, "lab_x", "bob", "collect", "missing", "no notebook of this lab among []")

    assert module.main(["--root", str(root), "export", "--to", str(tmp_path / "course.csv")]) == 0
    run = subprocess.run([NBGRADER, "export", "--to", str(tmp_path / "nbgrader.csv")], cwd=root,
                         capture_output=True, text=True, env=_env(root), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    course_rows = _read_csv(tmp_path / "course.csv")
    assert (tmp_path / "nbgrader.csv").read_bytes() == (tmp_path / "course.csv").read_bytes()
    assert list(course_rows[0]) == module.plugins.EXPORT_COLUMNS

    stock = tmp_path / "stock.csv"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "mini_accel") as gb:
        CsvExportPlugin(to=str(stock)).export(gb)
    stock_rows = _read_csv(stock)
    nb_cols = list(stock_rows[0])
    assert module.plugins.EXPORT_COLUMNS[:len(nb_cols)] == nb_cols
    assert [{k: r[k] for k in nb_cols} for r in course_rows] == stock_rows

    rows = {(r["assignment"], r["student_id"]): r for r in course_rows}
    alice, bob = rows["lab_x", "alice"], rows["lab_x", "bob"]
    assert (alice["status"], alice["note"], alice["needs_manual_grade"]) == \
        ("graded", "cell t1 was edited: restored", "False")
    assert (bob["status"], bob["score"], bob["timestamp"]) == ("missing", "0.0", "")
    assert rows["lab_x", "carol"]["status"] == "not submitted"


# --------------------------------------------------------------------------- #
# The notes lock, and Windows
# --------------------------------------------------------------------------- #
_WRITER = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import plugins
    root, who = sys.argv[2], sys.argv[3]
    with plugins.notes_lock(root):
        print(time.time(), flush=True)
    for i in range(25):
        plugins.set_note(root, "lab", f"{who}{i}", "autograde", "graded", who)
''')


def test_notes_lock_keeps_a_second_process_out(tmp_path):
    plugins = _load(subs.GRADING / "plugins.py", "plugins_lock_test")
    cmd = [sys.executable, "-c", _WRITER, str(subs.GRADING), str(tmp_path)]
    with plugins.notes_lock(tmp_path):
        writers = [subprocess.Popen(cmd + [who], stdout=subprocess.PIPE, text=True) for who in ("p", "q")]
        time.sleep(3.0)
        assert [w.poll() for w in writers] == [None, None], "a process got the lock while it was held"
        released = time.time()
    entered = [float(w.communicate(timeout=120)[0]) for w in writers]
    assert [w.returncode for w in writers] == [0, 0]
    assert min(entered) >= released
    # The two processes' read-modify-writes of the notes interleaved; none was lost.
    assert len(plugins.read_notes(tmp_path)["lab"]) == 50


def test_course_imports_without_fcntl():
    # As on Windows, where there is no fcntl (filelock then locks with msvcrt).
    code = ("import sys; sys.modules['fcntl'] = None; import importlib.util as u; "
            f"s = u.spec_from_file_location('c', {str(subs.GRADING / 'course.py')!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); print(m.plugins.notes_lock.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "notes_lock", out.stderr[-2000:]
