"""Open the labs in JupyterLab, as a student: nbgrader's instructor tools switched off.

    .venv/bin/python labs/start_lab.py [any jupyter lab option ...]

What a student sees: JupyterLab on this folder, with nbgrader's **Validate**
button (it runs every cell of the notebook and tells you which visible tests
fail, without handing anything in) and its Assignments tab where a course
uses a hub; without the instructor's tools (Formgrader, the Create Assignment
toolbar, the course list), which only confuse in a student's session.
Running as root (some containers) adds ``--allow-root`` by itself.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: nbgrader's JupyterLab plugins and server extensions a student never needs.
INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",
                                "nbgrader.server_extensions.course_list")


def student_config_dir() -> Path:
    """A Jupyter config folder that switches the instructor tools off."""
    config = Path(tempfile.mkdtemp(prefix="mini_accel-student-jupyter-"))
    (config / "labconfig").mkdir()
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {name: True for name in INSTRUCTOR_PLUGINS}}))
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in INSTRUCTOR_SERVER_EXTENSIONS}}}))
    return config


def command(extra: list[str]) -> list[str]:
    args = [sys.executable, "-m", "jupyterlab", "--notebook-dir", str(HERE)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args + extra


def main(argv: list[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    config = student_config_dir()
    # Later entries of JUPYTER_CONFIG_PATH lose: ours comes first.
    paths = [str(config)] + [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    cmd = command(extra)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
