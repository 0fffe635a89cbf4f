"""Submissions that attack the grader itself, graded in the sandbox (grading/sandbox.py).

A tiny lab (two functions, two sealed hidden checks) keeps each grading run
short; the attacks do not depend on the lab. One class is graded through the
instructor's command; each hostile student tries one thing that worked before
the sandbox (issue 11): read the sources, rewrite the checks and the config,
destroy the gradebook, leave a process behind that edits grades later, read
the environment, allocate past the memory limit, kill its own kernel. None of
them gains a point or changes anyone's grade, and the course files are
byte-for-byte what they were. Then the class is graded again with two workers
(same grades: the hidden inputs come from the course secret, not a fresh
draw), and once more with a worker killed (reported, re-graded, exit code 3).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from grading_fixtures import submissions as subs
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(subs.GRADING))
import sandbox  # noqa: E402  (grading/sandbox.py)

MODE, WHY = sandbox.sandbox_mode()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MODE == "none", reason=f"no grading sandbox on this machine: {WHY}"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

LAB = "tinylab"
CANARY = "canary-7f3a9"        # put in the grader's environment: must not reach the kernel
DAEMON_MARK = "1234.5"         # the daemon's 'sleep' argument, to find it

CHECKS = '''
import numpy as np
import labcheck
from labcheck import Case


def seal(name, target):
    labcheck.seal(CASES, name, target)


def _inputs(rng):
    return [(int(v),) for v in rng.integers(-1000, 1000, 6)] + [(0,), (1,)]


def _check(fn):
    def check(args, got):
        if not labcheck.is_int(got):
            return "should return an int"
        return None if got == fn(*args) else "wrong value"
    return check


def _double_reference(x):
    return 2 * x


def _square_reference(x):
    return x * x


CASES = {"double": Case(_inputs, _check(_double_reference), what="double"),
         "square": Case(_inputs, _check(_square_reference), what="square")}
'''


def _tiny_source() -> nbformat.NotebookNode:
    def meta(**kw):
        return {"nbgrader": {"schema_version": 3, "locked": False, "solution": False, "grade": False, **kw}}

    cells = [
        new_markdown_cell("# A tiny lab", metadata=meta(grade_id="intro", locked=True)),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=meta(grade_id="double", solution=True)),
        new_code_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nfrom tinylab_checks import seal; "
                      "seal(\"double\", double)\n### END HIDDEN TESTS",
                      metadata=meta(grade_id="test_double", grade=True, locked=True, points=2)),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=meta(grade_id="square", solution=True)),
        new_code_cell("assert square(3) == 9\n### BEGIN HIDDEN TESTS\nfrom tinylab_checks import seal; "
                      "seal(\"square\", square)\n### END HIDDEN TESTS",
                      metadata=meta(grade_id="test_square", grade=True, locked=True, points=2)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


DOUBLE = "def double(x):\n    return 2 * x\n"
SQUARE = "def square(x):\n    return x * x\n"

# Each attack runs in the student's first answer cell; what it finds it prints.
READ_EVERYTHING = subs.COPY_ANSWERS.replace("lab2_systolic_checks", "tinylab_checks") + textwrap.dedent('''
    print({k: v for k, v in os.environ.items()})
    for _p in ("../../../gradebook.db", "../../../.course_secret", "../../../nbgrader_config.py"):
        try:
            print("FOUND", _p, open(_p, "rb").read()[:50])
        except OSError:
            pass
''')

WRITE_EVERYTHING = textwrap.dedent('''
    import os
    _hit = []
    for _top in ["../../..", "/tmp", *("/" + d for d in os.listdir("/") if d not in ("proc", "sys", "dev"))]:
        for _dir, _subdirs, _files in os.walk(_top):
            for _f in _files:
                if _f in ("gradebook.db", "nbgrader_config.py", "sealed.py", "course.py", "grading_notes.json") \\
                        or _f.endswith("_checks.py"):
                    _path = os.path.join(_dir, _f)
                    try:
                        open(_path, "w").write("c = None  # gone")
                        _hit.append(_path)
                    except OSError:
                        pass
    print("OVERWROTE", _hit)
    import socket
    _open = []
    for _port in range(1, 65536):     # a database, the grader's kernel ports, anything
        with socket.socket() as _s:
            _s.settimeout(0.05)
            if _s.connect_ex(("127.0.0.1", _port)) == 0:
                _open.append(_port)
    print("OPEN", _open)
''')

DAEMON = textwrap.dedent('''
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            # The grandchild outlives the cell, in a new session: it would wait for the
            # grade and then rewrite every gradebook it can reach.
            try:
                open("../../../gradebook.db", "wb").write(b"x")
            except OSError:
                pass
            os.execv("/bin/sleep", ["sleep", "DAEMON_MARK"])
        os._exit(0)
    time.sleep(0.5)
''').replace("DAEMON_MARK", DAEMON_MARK)

HOG = DOUBLE + SQUARE + "import numpy as np\n_big = np.ones(12 * 2**30 // 8)   # 12 GiB\n"
EXITS = SQUARE + "import os\nos._exit(1)\n"

#: student -> (answers by grade id, expected automatic points of 4, what the note must say)
CASES = {
    "ref": ({"double": DOUBLE, "square": SQUARE}, 4.0, ""),
    "reader": ({"double": READ_EVERYTHING}, 0.0, ""),
    "writer": ({"double": WRITE_EVERYTHING}, 0.0, ""),
    "daemon": ({"double": DAEMON}, 0.0, ""),
    "hog": ({"double": HOG, "square": "pass"}, 4.0, "ran out of memory (limit 4 GiB)"),
    "exiter": ({"double": DOUBLE, "square": EXITS}, 2.0, "the kernel exited"),
    "stripped": ({"double": DOUBLE, "square": SQUARE}, 4.0, "no nbgrader metadata"),
}


def _digest(root: Path) -> dict:
    """Hashes of every course file a submission must not change."""
    files = [p for p in root.rglob("*") if p.is_file() and not any(
        part in ("submitted", "autograded", "feedback", "logs") for part in p.relative_to(root).parts)
        and p.name not in ("grading_notes.json", ".grading_notes.json.lock", "gradebook.db")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _course(root):
    spec = importlib.util.spec_from_file_location("course_sandbox_test", root / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores(course, root) -> dict:
    return {r["student_id"]: (float(r["raw_score"]), r["status"], r["note"])
            for r in course.export_rows(root) if r["assignment"] == LAB}


def _backends():
    from grading_fixtures import postgres

    pg = postgres.server_binaries() is not None
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
        not pg, reason="PostgreSQL server binaries not installed (apt-get install postgresql)"))]


@pytest.fixture(scope="module", params=_backends())
def graded(request, tmp_path_factory):
    if request.param == "sqlite":
        yield from _graded(tmp_path_factory, "sqlite")
        return
    from grading_fixtures import postgres

    with postgres.postgres_server() as url:
        saved = os.environ.get("MINI_ACCEL_GRADEBOOK_URL")
        os.environ["MINI_ACCEL_GRADEBOOK_URL"] = url
        try:
            yield from _graded(tmp_path_factory, url)
        finally:
            if saved is None:
                os.environ.pop("MINI_ACCEL_GRADEBOOK_URL")
            else:
                os.environ["MINI_ACCEL_GRADEBOOK_URL"] = saved


def _graded(tmp_path_factory, backend):
    base = tmp_path_factory.mktemp("sandbox-course")
    root = subs.course_copy(base)
    (root / "source" / LAB).mkdir()
    nbformat.write(_tiny_source(), root / "source" / LAB / f"{LAB}.ipynb")
    (root / "source" / LAB / f"{LAB}_checks.py").write_text(CHECKS)
    subs.course(root, "students", str(subs.write_roster(base / "roster.csv", CASES)))
    subs.course(root, "generate", LAB, "--no-labs")
    inbox = base / "inbox"
    for sid, (answers, _, _) in CASES.items():
        nb = subs.fill(subs.released(root, LAB), answers)
        if sid == "stripped":
            for cell in nb.cells:
                cell.metadata = {}
        subs.write(nb, inbox / f"{sid}_{LAB}.ipynb")
    subs.course(root, "collect", LAB, str(inbox))
    (root / ".course_secret").write_text("a-course-secret-for-this-test-only")
    before = _digest(root)
    env = {**os.environ, "MINI_ACCEL_TEST_CANARY": CANARY}
    first = subprocess.run([sys.executable, str(root / "course.py"), "--root", str(root), "autograde", LAB],
                           capture_output=True, text=True, timeout=900, env=env)
    time.sleep(1.0)          # anything a kernel left behind would act now
    course = _course(root)
    scores = _scores(course, root)
    subs.course(root, "feedback", LAB, "--to", str(base / "feedback"))
    after = _digest(root)
    yield {"root": root, "base": base, "course": course, "scores": scores, "first": first,
           "before": before, "after": after, "backend": backend}


@pytest.mark.parametrize("sid", list(CASES))
def test_each_submission_gets_what_its_cells_earned(graded, sid):
    answers, points, note = CASES[sid]
    raw, status, got_note = graded["scores"][sid]
    assert (raw, status) == (points, "graded"), (sid, raw, status, got_note)
    assert note in got_note, got_note
    assert "without the sandbox" not in got_note


def test_no_course_file_was_changed(graded):
    assert graded["first"].returncode == 0, graded["first"].stderr[-2000:]
    assert graded["after"] == graded["before"]
    if graded["backend"] == "sqlite":
        assert "gradebook.db" in os.listdir(graded["root"])
    assert graded["course"].read_notes(graded["root"])[LAB].keys() >= set(CASES)


def test_nothing_outlives_the_run(graded):
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [])[:2] == ["sleep", DAEMON_MARK]]
    assert left == [], "the detached process survived the grading run"


def test_the_kernel_saw_no_secret_and_feedback_shows_none(graded):
    root = graded["root"]
    secret = (root / ".course_secret").read_text().strip()
    outputs = []          # what the kernels printed, as the grader stored it
    for sid in CASES:
        nb = nbformat.read(root / "autograded" / sid / LAB / f"{LAB}.ipynb", as_version=4)
        outputs.append(nbformat.writes(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(outputs=c.get("outputs", [])) for c in nb.cells])))
    feedback = [p.read_text() for p in (graded["base"] / "feedback").glob("*.html")]
    assert len(outputs) == len(feedback) == len(CASES)
    for text in outputs:
        for forbidden in (CANARY, secret, "BEGIN SOLUTION", "_reference", "@example.org", "FOUND",
                          str(root), "MINI_ACCEL_GRADEBOOK_URL"):
            assert forbidden not in text, forbidden
    for text in feedback:
        for forbidden in (CANARY, secret, "@example.org", str(root), "HIDDEN TESTS"):
            assert forbidden not in text, forbidden
    reader = (root / "autograded" / "reader" / LAB / f"{LAB}.ipynb").read_text()
    assert "HOME" in reader          # it did print its environment: only the sandbox's
    writer = nbformat.read(root / "autograded" / "writer" / LAB / f"{LAB}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in subs.cell(writer, "double").outputs)
    overwrote = ast.literal_eval(re.search(r"OVERWROTE (\[.*?\])", printed).group(1))
    # Only the grader's stub in its own scratch folder (a file of that run alone) was writable.
    assert [p for p in overwrote if "mini_accel-grading-" not in p] == [], overwrote
    open_ports = set(ast.literal_eval(re.search(r"OPEN (\[.*?\])", printed).group(1)))
    host_ports = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    # What it reached listens in its own network namespace (its kernel), never on the host.
    assert open_ports & host_ports == set(), (open_ports, host_ports)
    if graded["backend"] != "sqlite":
        assert graded["backend"].split("@")[1].split("/")[0] not in reader


def test_same_grades_with_two_workers_and_after_a_killed_worker(graded):
    root, first = graded["root"], graded["scores"]
    if graded["backend"] == "sqlite":      # (on PostgreSQL the killed run below uses two workers too)
        again = subprocess.run([sys.executable, str(root / "course.py"), "--root", str(root), "autograde",
                                LAB, "--workers", "2"], capture_output=True, text=True, timeout=900)
        assert again.returncode == 0, again.stderr[-2000:]
        assert {k: v[:2] for k, v in _scores(graded["course"], root).items()} == \
            {k: v[:2] for k, v in first.items()}

    proc = subprocess.Popen([sys.executable, str(root / "course.py"), "--root", str(root), "autograde", LAB,
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children():
            if "--run-id" in child.cmdline():
                victim = child
                break
        time.sleep(0.2)
    assert victim is not None, "no worker started"
    time.sleep(3.0)            # in the middle of grading its first student
    victim.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 3, (out, err)
    assert "WORKER" in err and "DIED" in err and "SIGKILL" in err, err
    assert "NOT GRADED" not in err, err
    assert {k: v[:2] for k, v in _scores(graded["course"], root).items()} == \
        {k: v[:2] for k, v in first.items()}
    with graded["course"]._gradebook(root) as gb:     # one submission per student, none doubled
        assert sorted(s.student.id for s in gb.find_assignment(LAB).submissions) == sorted(CASES)
