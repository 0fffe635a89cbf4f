"""JupyterLab in a real Chromium: a server and a browser per test session.

The server runs on 127.0.0.1 with a random token, its own settings, workspace
and runtime folders, over a temporary copy of ``labs/`` and
``grading/source/`` (JupyterLab autosaves outputs into the notebooks it runs).
Chromium is Debian's (``/usr/bin/chromium``), driven by the ``playwright``
package; no browser is ever downloaded. Screenshots go to
``test-artifacts/browser/`` at the repository root; the session prints where.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install playwright)"
    for item in items:
        if "browser" in item.keywords and reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab on ``root``; ``launcher`` replaces ``jupyter lab`` (e.g. the students' start script)."""

    def __init__(self, root: Path, home: Path, launcher: list[str] | None = None):
        self.root, self.token, self.port = root, secrets.token_hex(16), _free_port()
        settings = home / "settings"
        (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
        # No "news" pop-up over the notebook.
        (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # Every cell stays in the page, so the test sees all outputs without scrolling.
        (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
        (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}))
        env = dict(os.environ,
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   MPLBACKEND="module://matplotlib_inline.backend_inline")
        jupyter = Path(sys.executable).parent / "jupyter"
        self.log = (home / "jupyterlab.log").open("w")
        start = launcher or [str(jupyter), "lab", "--allow-root", f"--ServerApp.root_dir={root}"]
        self.proc = subprocess.Popen(
            [*start, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start; see {home / 'jupyterlab.log'}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str, workspace: str) -> str:
        return f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)   # the server and its kernels, by our own pid
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "labs", root / "labs")
    shutil.copytree(ROOT / "grading" / "source", root / "solved")
    for lab in (root / "solved").iterdir():      # what course.py places next to each source
        for name in ("labcheck.py", "sealrun.py"):
            shutil.copyfile(ROOT / "grading" / name, lab / name)
    server = LabServer(root, tmp_path_factory.mktemp("lab-home"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def student_server(tmp_path_factory):
    """JupyterLab started the way README tells students: ``python labs/start_lab.py``."""
    root = tmp_path_factory.mktemp("student-root")
    shutil.copytree(ROOT / "labs", root / "labs")
    server = LabServer(root, tmp_path_factory.mktemp("student-home"),
                       launcher=[sys.executable, str(root / "labs" / "start_lab.py")])
    server.root = root / "labs"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    # Module scope: the sync API refuses to start while another of its loops runs, and
    # tests/test_hub.py starts its own browser after this folder's tests.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")
