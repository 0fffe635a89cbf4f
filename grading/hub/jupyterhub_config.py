# JupyterHub for a mini_accel class on one machine (grading/README.md, "A class on JupyterHub").
#
# Run as root from the repository root, with the course's virtualenv:
#
#     MINI_ACCEL_HUB_INSTRUCTORS=prof MINI_ACCEL_HUB_STUDENTS=alice,bob \
#         .venv/bin/jupyterhub -f grading/hub/jupyterhub_config.py
#
# tests/test_hub.py starts exactly this file, on 127.0.0.1, with throw-away Unix
# users, state folder and exchange. What it sets up, and why:
#
# * Users are real Unix accounts, logged in with their Unix password (PAM), and
#   every user's server runs under that user's own uid (LocalProcessSpawner
#   switches user before it starts jupyterhub-singleuser). File permissions are
#   therefore what keeps students out of each other's work and out of the
#   instructor's course folder.
# * Every user's server reads grading/hub/jupyter/nbgrader_config.py (the
#   exchange folder and the course id; on a hub you set up by hand this is
#   /etc/jupyter/nbgrader_config.py). Students also read grading/hub/jupyter-students/,
#   which switches the formgrader and the "create assignment" tools off for them:
#   they keep the Assignments tab (assignment_list), the course list and Validate.
#
# Settings come from the environment, so the same file serves the test and a class:
#   MINI_ACCEL_HUB_INSTRUCTORS, MINI_ACCEL_HUB_STUDENTS  comma-separated Unix logins
#   MINI_ACCEL_HUB_IP (127.0.0.1), MINI_ACCEL_HUB_PORT (8000)  where the hub is served
#   MINI_ACCEL_HUB_API_PORT (8081), MINI_ACCEL_HUB_PROXY_API_PORT (8001)  internal, loopback
#   MINI_ACCEL_HUB_STATE (/srv/jupyterhub)  the hub's database, cookie secret and pid file
#   MINI_ACCEL_EXCHANGE (/srv/nbgrader/exchange)  nbgrader's exchange, passed to every server
#   MINI_ACCEL_HUB_PYTHON (the hub's own)  the Python the users' servers run; every user must
#       be able to run it: install the course in a virtualenv under /opt, never under /root
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)


def _logins(name: str) -> list[str]:
    return [u.strip() for u in os.environ.get(name, "").split(",") if u.strip()]


INSTRUCTORS = _logins("MINI_ACCEL_HUB_INSTRUCTORS")
STUDENTS = _logins("MINI_ACCEL_HUB_STUDENTS")
STATE = Path(os.environ.get("MINI_ACCEL_HUB_STATE", "/srv/jupyterhub"))
EXCHANGE = os.environ.get("MINI_ACCEL_EXCHANGE", "/srv/nbgrader/exchange")

# Where the hub listens. Keep it on loopback and put a TLS-terminating reverse
# proxy (or c.JupyterHub.ssl_cert/ssl_key) in front for a real class.
c.JupyterHub.ip = os.environ.get("MINI_ACCEL_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("MINI_ACCEL_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("MINI_ACCEL_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('MINI_ACCEL_HUB_PROXY_API_PORT', '8001')}"
# The proxy from npm, installed next to this file: npm install --no-package-lock --prefix grading/hub
_chp = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(_chp) if _chp.exists() else "configurable-http-proxy"]

c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# Who may log in: the listed accounts only, with their Unix password.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False    # no pam_systemd/utmp sessions (containers have none)
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set(INSTRUCTORS)

# Every user's server runs as that user, from the course's virtualenv (the one the
# hub runs from), in the user's home folder, with JupyterLab as the start page.
c.JupyterHub.spawner_class = "localprocess"
# MINI_ACCEL_HUB_PYTHON names another Python for the users' servers, with the same
# packages (the tests use it when the virtualenv's own interpreter is under /root).
c.Spawner.cmd = [os.environ.get("MINI_ACCEL_HUB_PYTHON", sys.executable), "-m", "jupyterhub.singleuser"]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def _per_role_config(spawner):
    """The exchange for everyone; the students' extension switches for students only."""
    paths = [str(HERE / "jupyter")]
    if spawner.user.name not in INSTRUCTORS:
        paths.insert(0, str(HERE / "jupyter-students"))
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    spawner.environment["MINI_ACCEL_EXCHANGE"] = EXCHANGE


c.Spawner.pre_spawn_hook = _per_role_config
