"""JupyterHub on 127.0.0.1, started from ``grading/hub/jupyterhub_config.py`` by the test.

The hub runs as root (it must, to start each user's server as that user), with
its state in a throw-away folder, and is stopped by its own pid; on shutdown it
stops the users' servers (JupyterHub's ``cleanup_servers``), and
``unix.users()`` ends anything left by uid.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HUB_DIR = REPO / "grading" / "hub"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
JUPYTERHUB = Path(sys.executable).parent / "jupyterhub"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _closed_ancestor(path: Path) -> tuple[Path, Path] | None:
    """(closed folder, its child on the way to ``path``) if other users cannot reach ``path``."""
    path = Path(path)
    for parent in reversed(path.parents):
        if not os.stat(parent).st_mode & 0o001:
            child = path if parent == path.parent else next(p for p in path.parents if p.parent == parent)
            return parent, child
    return None


def _course_paths() -> list[Path]:
    """What a user's server and the instructor's commands must reach: the Python installation
    behind the virtualenv, the virtualenv, and this checkout (the editable install)."""
    return [Path(os.path.realpath(sys.executable)).parent.parent, Path(sys.base_prefix).resolve(),
            Path(sys.prefix), REPO]


def open_course_prefix(scratch: Path) -> list[str]:
    """A command prefix that lets every user reach the course's Python, or [] when nothing is closed.

    On a real hub the course's virtualenv lives where everyone can read it (e.g.
    /opt/mini_accel/.venv). On a developer or CI machine the interpreter behind it
    may sit under a closed /root (pyenv). Then the hub, and every command the
    instructor runs, start in a private mount namespace (``unshare --mount``) in which
    the closed folder is an empty, open tmpfs holding only the folders the course
    needs, bound back read-write as they are. The machine itself is not changed.
    ``scratch`` is a folder of the test's (the mounts pass through it).
    """
    exposed: dict[Path, set[Path]] = {}
    for path in _course_paths():
        hit = _closed_ancestor(path)
        if hit:
            exposed.setdefault(hit[0], set()).add(hit[1])
    if not exposed:
        return []
    lines = ['set -e']
    for n, (closed, children) in enumerate(sorted(exposed.items())):
        for m, child in enumerate(sorted(children)):
            lines.append(f'mkdir -p "$SAVE/{n}-{m}" && mount --bind "{child}" "$SAVE/{n}-{m}"')
        lines.append(f'mount -t tmpfs -o mode=0755,size=1m mini-accel-open "{closed}"')
        for m, child in enumerate(sorted(children)):
            kind = "mkdir -p" if child.is_dir() else "touch"
            lines.append(f'{kind} "{child}" && mount --move "$SAVE/{n}-{m}" "{child}"')
    lines.append('exec "$@"')
    save = Path(scratch) / "mount-namespace"
    save.mkdir(exist_ok=True)
    return ["unshare", "--mount", "--propagation", "private", "--", "env", f"SAVE={save}",
            "sh", "-c", "\n".join(lines), "sh"]


def missing_requirements() -> str | None:
    """Why the hub test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: it creates Unix users and the hub starts servers as those users"
    if not JUPYTERHUB.exists():
        return "jupyterhub is not installed (pip install -e '.[hub]')"
    if not PROXY.exists():
        return "configurable-http-proxy is missing (npm install --no-package-lock --prefix grading/hub)"
    if not Path("/usr/bin/chromium").exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    for path in _course_paths():
        hit = _closed_ancestor(path)
        if hit and not os.stat(hit[1]).st_mode & 0o001:
            return f"{hit[1]} is closed to other users, so their servers cannot run the course's Python"
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        return "cannot make a mount namespace here (unshare --mount), needed to open the course's Python"
    return None


class Hub:
    """A running JupyterHub; ``url`` is where a browser reaches it."""

    def __init__(self, state: Path, exchange: Path, instructors: list[str], students: list[str],
                 prefix: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ,
                   MINI_ACCEL_HUB_INSTRUCTORS=",".join(instructors),
                   MINI_ACCEL_HUB_STUDENTS=",".join(students),
                   MINI_ACCEL_HUB_PORT=str(self.port),
                   MINI_ACCEL_HUB_API_PORT=str(free_port()),
                   MINI_ACCEL_HUB_PROXY_API_PORT=str(free_port()),
                   MINI_ACCEL_HUB_STATE=str(state),
                   MINI_ACCEL_EXCHANGE=str(exchange),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("MINI_ACCEL_GRADEBOOK_URL", None)    # users' servers never see the gradebook
        self.log_path = state / "jupyterhub.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*prefix, str(JUPYTERHUB), "-f",
                                      str(HUB_DIR / "jupyterhub_config.py")],
                                     cwd=state, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/hub/api", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterHub did not start; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)      # the hub stops the users' servers and its proxy
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
