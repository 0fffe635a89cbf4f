"""A class on a real JupyterHub: nbgrader's exchange end to end, real Unix users, a real browser.

Runs as root only (it creates Unix accounts and the hub switches to them). The
test starts, on 127.0.0.1:

* a throw-away PostgreSQL server for the gradebook (``MINI_ACCEL_GRADEBOOK_URL``);
* JupyterHub from ``grading/hub/jupyterhub_config.py`` (PAM login with each
  account's password, LocalProcessSpawner: every server runs as its user),
  its proxy from npm (``grading/hub/node_modules``);
* nbgrader's exchange in a shared folder made as nbgrader documents
  (``chmod 1777``), read by every server through ``grading/hub/jupyter/``.

One instructor and three students. The instructor works in a terminal (as that
Unix user, in a private copy of the course directory); the students work in
Chromium: log in, Nbgrader -> Assignment List, Fetch, answer, Submit, later
Fetch Feedback and read it. The three submissions: all answers (the reference
answers written into the fetched notebook as that student before Submit), one
answer typed into the notebook in the browser and saved, and the untouched
notebook. The lab is a two-task lab in the course's format
(``hub_fixtures/tinylab.py``), small so that grading takes seconds.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from grading_fixtures import postgres as pg_fixture
from grading_fixtures import submissions as subs
from hub_fixtures import hub, student, tinylab, unix

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LAB = tinylab.LAB
COURSE_PY = subs.GRADING / "course.py"
#: role -> the answers that student gives (None: all of them, set(): none)
CLASS = {"s1": None, "s2": {"squares"}, "s3": set()}


def _skip_reason() -> str | None:
    reason = hub.missing_requirements()
    if reason:
        return reason
    if pg_fixture.server_binaries() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    for module in ("psycopg", "playwright.sync_api"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def shared_base():
    """A scratch folder every test user can enter (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="mini-accel-hub-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Instructor:
    """The instructor at a terminal: commands run as that Unix user, in the course directory."""

    def __init__(self, account: unix.Account, exchange: Path, db_url: str, prefix: list[str]):
        self.name, self.prefix = account.name, prefix
        self.root = account.home / "mini_accel" / "grading"
        self.python = Path(sys.executable)
        self.env = {"PATH": f"{self.python.parent}:/usr/bin:/bin",
                    "JUPYTER_CONFIG_PATH": str(hub.HUB_DIR / "jupyter"),
                    "MINI_ACCEL_EXCHANGE": str(exchange),
                    "MINI_ACCEL_GRADEBOOK_URL": db_url}

    def course(self, *args: str) -> str:
        """``python grading/course.py --root <course> ARGS``"""
        return self._run(str(self.python), str(COURSE_PY), "--root", str(self.root), *args)

    def nbgrader(self, *args: str) -> str:
        """``nbgrader ARGS``, from inside the course directory (it reads nbgrader_config.py there)."""
        return self._run(str(self.python), "-m", "nbgrader", *args)

    def _run(self, *cmd: str) -> str:
        done = unix.as_user(self.name, *cmd, env=self.env, cwd=self.root, check=False, prefix=self.prefix)
        assert done.returncode == 0, f"{' '.join(cmd[1:])} failed as {self.name}:\n{done.stdout}\n{done.stderr}"
        return done.stdout


def _set_up_course(account: unix.Account, class_accounts: list[unix.Account]) -> Path:
    """The instructor's private copy of the course directory, with the tiny lab and the roster."""
    root = subs.course_copy(account.home / "mini_accel")
    tinylab.write_source(root)
    subs.write_roster(account.home / "roster.csv", [a.name for a in class_accounts])
    for path in [account.home / "mini_accel", *(account.home / "mini_accel").rglob("*"), account.home / "roster.csv"]:
        shutil.chown(path, account.name, account.name)
    return root


def _write_as(account: unix.Account, path: Path, nb) -> None:
    """Write a notebook into the student's home as that student (what saving in JupyterLab does)."""
    unix.as_user(account.name, "tee", str(path), input=json.dumps(nb, indent=1))


def test_a_class_on_jupyterhub(shared_base):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    exchange = shared_base / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o1777)          # nbgrader's documented exchange permissions
    state = shared_base / "hub-state"
    state.mkdir(mode=0o700)
    prefix = hub.open_course_prefix(shared_base)

    with pg_fixture.postgres_server() as db_url, unix.users("prof", *CLASS) as accounts:
        students = {role: accounts[role] for role in CLASS}
        prof = Instructor(accounts["prof"], exchange, db_url, prefix)
        root = _set_up_course(accounts["prof"], list(students.values()))
        assert prof.root == root

        # 1. The instructor adds the class, generates and releases the lab.
        prof.course("students", str(accounts["prof"].home / "roster.csv"))
        prof.course("generate", LAB, "--no-labs")
        prof.nbgrader("release_assignment", LAB)
        released = exchange / "mini_accel" / "outbound" / LAB / f"{LAB}.ipynb"
        assert released.exists()

        the_hub = hub.Hub(state, exchange, [prof.name], [a.name for a in students.values()], prefix)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=student.CHROMIUM, args=student.CHROMIUM_ARGS)
                sessions = {role: student.Student(browser, the_hub.url, a.name, a.password)
                            for role, a in students.items()}
                # 2. Each student logs in, fetches the lab, answers and submits.
                for role, s in sessions.items():
                    try:
                        s.login()
                        s.open_assignments(LAB)
                        s.fetch(LAB)
                        mine = students[role].home / LAB / f"{LAB}.ipynb"
                        if CLASS[role] is None:
                            fetched = json.loads(unix.as_user(s.name, "cat", str(mine)).stdout)
                            _write_as(students[role], mine, tinylab.answered(fetched))
                        elif CLASS[role]:
                            (only,) = CLASS[role]
                            s.edit_answer(LAB, list(tinylab.ANSWERS).index(only), tinylab.ANSWERS[only])
                            saved = unix.as_user(s.name, "cat", str(mine)).stdout
                            assert tinylab.ANSWERS[only].splitlines()[1] in saved, "the typed answer was not saved"
                            s.open_assignments(LAB)
                        s.submit(LAB)
                        s.shot("submitted")
                    except Exception:
                        s.shot("failed")
                        raise

                # 3. The instructor collects, autogrades on PostgreSQL with two workers,
                #    makes the feedback and releases it; exports the grades.
                prof.nbgrader("collect", LAB)
                for a in students.values():
                    assert (root / "submitted" / a.name / LAB / f"{LAB}.ipynb").exists()
                prof.course("autograde", LAB, "--workers", "2")
                prof.course("feedback", LAB)
                prof.nbgrader("release_feedback", LAB)
                prof.course("export", "--to", str(root / "grades.csv"))
                with open(root / "grades.csv", newline="") as fh:
                    grades = {r["student_id"]: r for r in csv.DictReader(fh) if r["assignment"] == LAB}
                for role, a in students.items():
                    assert float(grades[a.name]["raw_score"]) == tinylab.expected_score(CLASS[role]), role
                    assert grades[a.name]["status"] == "graded", grades[a.name]
                    if shutil.which("bwrap"):   # the instructor is not root: bubblewrap's user mode
                        assert "without the sandbox" not in grades[a.name]["note"], grades[a.name]
                assert not (root / "gradebook.db").exists(), "the gradebook must be PostgreSQL, not SQLite"

                # 4. Each student fetches the feedback and reads the score; no hidden test in it.
                max_score = float(sum(tinylab.POINTS.values()))
                for role, s in sessions.items():
                    try:
                        s.open_assignments(LAB)
                        s.fetch_feedback(LAB)
                        text, html = s.open_feedback(LAB)
                        s.shot("feedback")
                    except Exception:
                        s.shot("failed-feedback")
                        raise
                    assert f"{tinylab.expected_score(CLASS[role])} / {max_score}" in text, (role, text[:400])
                    assert tinylab.HIDDEN_MARKER not in html and "HIDDEN TESTS" not in html, role
                for s in sessions.values():
                    s.close()
                browser.close()
        finally:
            the_hub.stop()

        # 5. Who can read what, checked as the students themselves.
        s1, s2 = students["s1"], students["s2"]
        course_exchange = exchange / "mini_accel"
        assert unix.can_read(s2.name, released), "control: a student must be able to read the release"
        assert unix.can_read(s1.name, s1.home / LAB / f"{LAB}.ipynb"), "control: a student reads their own work"
        assert not unix.can_read(s2.name, s1.home / LAB / f"{LAB}.ipynb"), "another student's notebook"
        assert not unix.can_read(s2.name, s1.home), "another student's home"
        assert not unix.can_read(s2.name, course_exchange / "inbound"), "the list of submissions"
        assert not unix.can_read(s2.name, course_exchange / "feedback"), "the list of released feedback"
        for path in (root / "source" / LAB / f"{LAB}.ipynb", root / "source",
                     root / "submitted" / s1.name / LAB / f"{LAB}.ipynb", root / "grades.csv"):
            assert not unix.can_read(s2.name, path), f"a student can read {path}"
