"""Real Unix accounts for the hub test: created with ``useradd``, removed with ``userdel``.

Root only. Every name carries a random prefix, so a run never touches an
account it did not create, and ``users()`` removes them even when the test fails.
Their processes (single-user servers, kernels) are ended by pid, found by uid.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Account:
    name: str
    password: str

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid


def as_user(name: str, *cmd: str, input: str | None = None, env: dict | None = None,
            cwd: Path | None = None, timeout: float = 600, check: bool = True,
            prefix: list[str] = ()) -> subprocess.CompletedProcess:
    """Run ``cmd`` as the Unix user ``name`` (``runuser``), with a clean environment plus ``env``.

    ``prefix`` goes before ``runuser`` (e.g. hub.open_course_prefix()).
    """
    home = pwd.getpwnam(name).pw_dir
    base = {"HOME": home, "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full = [*prefix, "runuser", "-u", name, "--", "env", "-i",
            *(f"{k}={v}" for k, v in {**base, **(env or {})}.items()),
            *cmd]
    return subprocess.run(full, input=input, capture_output=True, text=True, cwd=cwd or home,
                          timeout=timeout, check=check)


def can_read(name: str, path: Path) -> bool:
    """Whether user ``name`` can read ``path`` (a file: cat; a folder: ls)."""
    cmd = ("ls", str(path)) if Path(path).is_dir() else ("cat", str(path))
    return as_user(name, *cmd, check=False).returncode == 0


def _end_processes(uid: int) -> None:
    import psutil

    procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)


@contextlib.contextmanager
def users(*roles: str):
    """Create one account per role (e.g. "prof", "s1"); yield {role: Account}; remove them."""
    prefix = "ma" + secrets.token_hex(2)
    made: dict[str, Account] = {}
    try:
        for role in roles:
            account = Account(f"{prefix}-{role}", secrets.token_urlsafe(12))
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", account.name],
                           check=True, capture_output=True)
            made[role] = account
            subprocess.run(["chpasswd"], input=f"{account.name}:{account.password}\n", text=True,
                           check=True, capture_output=True)
            os.chmod(account.home, 0o700)   # a private home: nobody else may read a student's work
        yield made
    finally:
        for account in made.values():
            with contextlib.suppress(KeyError):
                _end_processes(account.uid)
            for _ in range(3):
                if subprocess.run(["userdel", "--remove", account.name], capture_output=True).returncode in (0, 6):
                    break
                time.sleep(1)
