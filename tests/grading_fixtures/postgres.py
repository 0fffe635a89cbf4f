"""A throw-away PostgreSQL server on 127.0.0.1, for the class-sized grading path.

Uses Debian's ``postgresql`` server binaries. ``initdb`` refuses to run as
root, so as root the server runs as the ``postgres`` system user (or ``nobody``), in a fresh
folder under /tmp that user can reach. Used by ``tests/test_grading_scale.py``,
``tests/test_hub.py`` and ``benchmarks/bench_grading_scale.py``.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    """The folder of the newest installed PostgreSQL server, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _server_user() -> str:
    """As root: the ``postgres`` account the Debian package makes, else ``nobody``."""
    import pwd

    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return "nobody"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server(database: str = "mini_accel"):
    """Start a server with one empty database; yield its SQLAlchemy URL; stop and delete it."""
    pg = server_binaries()
    if pg is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="mini-accel-pg-"))
    owner = _server_user()
    as_user = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, owner)
    data, port = base / "data", _free_port()

    def run(*cmd):
        subprocess.run(as_user + [str(pg / cmd[0]), *cmd[1:]], check=True, capture_output=True)

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "grader")
        run("pg_ctl", "-D", str(data), "-l", str(base / "server.log"), "-w",
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {base}", "start")
        try:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "grader", database)
            yield f"postgresql+psycopg://grader@127.0.0.1:{port}/{database}"
        finally:
            subprocess.run(as_user + [str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def new_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on the server of ``url``; return its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name
