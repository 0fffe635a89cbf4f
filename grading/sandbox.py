"""Run a submission's kernel in a sandbox: nbgrader's Execute, isolated and limited.

``SandboxedExecute`` replaces nbgrader's ``Execute`` preprocessor in the
autograde pipeline (nbgrader_config.py). For each submission it:

1. makes a scratch folder outside the course tree and writes into it only
   what the kernel may see: the files the lab hands every student (the
   release folder, minus notebooks), and the hidden inputs of the sealed
   checks drawn from the student's seed (``sealrun.py``, a one-line
   ``<notebook>_checks.py`` stub and ``_sealed_inputs.json``);
2. starts the kernel in that folder with a scrubbed environment (no database
   URL, no seed, no instructor HOME) and the limits of :class:`Limits`;
3. where bubblewrap can run (Linux; ``bwrap`` from the package registry),
   inside a sandbox: a read-only view of the system and the Python
   environment, the scratch folder as the only writable place, no course
   tree, no network (the kernel talks to the grader over Unix sockets in the
   scratch folder), its own process namespace, and, when the grader runs as
   root, as the unprivileged user ``nobody``. Every process the kernel starts
   (detached, double-forked, in a new session) dies with the run;
4. executes the notebook cell by cell; when a cell kills the kernel (out of
   memory, CPU limit, ``os._exit``) or has to be stopped (an endless loop),
   that cell gets an error that names the cause, a fresh kernel replays the
   cells before it, and grading goes on: one bad cell costs that cell's
   points, not the notebook.

What each mode guarantees is in grading/README.md ("The grading sandbox").
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sealed
import sealrun
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, Unicode

#: The user the kernel runs as when the grader is root (``nobody`` on Debian).
SANDBOX_UID = SANDBOX_GID = 65534
#: Environment variables the kernel keeps from the grader's (nothing secret).
_KEPT_ENV = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
             "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Marks the grader's own error outputs, so the note can name the cause.
EVENT_PREFIX = "mini_accel grading event: "


@dataclass(frozen=True)
class Limits:
    """Per-run limits of the kernel."""
    memory_gib: float = 4.0        # address space (RLIMIT_AS)
    cpu_s: int = 600               # CPU time of one kernel (RLIMIT_CPU)
    processes: int = 256           # processes of the sandbox user (RLIMIT_NPROC; sandboxed only)
    file_mib: int = 512            # largest file it may write (RLIMIT_FSIZE)


def sandbox_mode() -> tuple[str, str]:
    """("bwrap-root" | "bwrap-user" | "none", why) for this machine.

    ``MINI_ACCEL_SANDBOX=none`` forces "none"; ``=require`` makes a missing
    sandbox an error instead of a note on every grade.
    """
    wanted = os.environ.get("MINI_ACCEL_SANDBOX", "auto")
    if wanted == "none":
        return "none", "MINI_ACCEL_SANDBOX=none"
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        why = "bubblewrap (bwrap) is not installed" if sys.platform.startswith("linux") \
            else f"no sandbox on {sys.platform}"
    else:
        mode = "bwrap-root" if os.geteuid() == 0 else "bwrap-user"
        probe = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent"]
        if mode == "bwrap-user":
            probe += ["--unshare-user"]
        proc = subprocess.run(probe + ["true"], capture_output=True, text=True)
        if proc.returncode == 0:
            return mode, ""
        why = f"bwrap cannot start here: {proc.stderr.strip()[:200]}"
    if wanted == "require":
        raise RuntimeError(f"MINI_ACCEL_SANDBOX=require but {why}")
    return "none", why


def _readable_roots() -> list[Path]:
    """The folders the kernel needs to read: the Python installation, the environment
    and the mini_accel package (never a folder that holds the course)."""
    import site
    import sysconfig

    import mini_accel

    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(mini_accel.__file__).resolve().parent,
             Path(sys.executable).resolve().parent.parent}
    # An environment whose lib/ is a symlink elsewhere: bind where the packages really are.
    for path in [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]:
        if Path(path).exists():
            roots.add(Path(path).resolve())
    # Keep only the outermost folders (a folder inside another one is bound with it).
    return sorted(p for p in roots if not any(q != p and q in p.parents for q in roots))


class Sandbox:
    """One grading run's scratch folder and the command line that confines a kernel to it."""

    def __init__(self, course_root: Path, limits: Limits, mode: str):
        self.course_root = Path(course_root).resolve()
        self.limits, self.mode = limits, mode
        for path in _readable_roots():
            if path == self.course_root or path in self.course_root.parents or self.course_root in path.parents:
                raise RuntimeError(f"the kernel would see the course: {path} and {self.course_root} overlap; "
                                   "keep the course folder outside the Python environment and the library")
        self.dir = Path(tempfile.mkdtemp(prefix="mini_accel-grading-"))
        self.work, self.home, self.runtime = (self.dir / n for n in ("work", "home", "runtime"))
        for d in (self.work, self.home, self.runtime):
            d.mkdir()

    def give(self, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (self.work / name).write_bytes(data)

    def hand_over(self) -> None:
        """Let the sandbox user own the scratch folder (root mode)."""
        if self.mode == "bwrap-root":
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
        os.chmod(self.dir, 0o700 if self.mode != "bwrap-root" else 0o711)

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        env.update(HOME=str(self.home), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                   IPYTHONDIR=str(self.home / ".ipython"), MPLCONFIGDIR=str(self.home / ".matplotlib"),
                   JUPYTER_RUNTIME_DIR=str(self.runtime), PYTHONDONTWRITEBYTECODE="1",
                   LANG=env.get("LANG", "C.UTF-8"), TMPDIR=str(self.work))
        return env

    def _rlimits(self) -> list[str]:
        lim = self.limits
        args = [f"--as={int(lim.memory_gib * 2**30)}", f"--cpu={lim.cpu_s}",
                f"--fsize={lim.file_mib * 2**20}", "--core=0"]
        if self.mode == "bwrap-root":
            args.append(f"--nproc={lim.processes}")
        return ["prlimit", *args, "--"]

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped so that it runs confined, with limits, in the scratch folder."""
        if self.mode == "none":
            # No isolation of files: limits, scrubbed environment and a scratch cwd only.
            code = ("import os,resource,sys;"
                    f"resource.setrlimit(resource.RLIMIT_AS,({int(self.limits.memory_gib * 2**30)},)*2);"
                    f"resource.setrlimit(resource.RLIMIT_CPU,({self.limits.cpu_s},)*2);"
                    f"os.chdir({str(self.work)!r});os.execv(sys.argv[1],sys.argv[1:])")
            return [sys.executable, "-c", code, *argv]
        cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
               "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading",
               "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
               "--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--tmpfs", "/tmp"]
        for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            target = Path("/") / link
            if target.is_symlink():
                cmd += ["--symlink", os.readlink(target), str(target)]
            elif target.is_dir():
                cmd += ["--ro-bind", str(target), str(target)]
        made = {Path("/"), Path("/usr"), Path("/etc"), Path("/tmp")}
        binds = [(p, "--ro-bind") for p in _readable_roots()] + [(self.dir, "--bind")]
        for path, how in binds:
            for parent in reversed(path.parents):
                if parent not in made and not any(parent == p or parent in p.parents for p in
                                                  (Path("/usr"), Path("/etc"))):
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            if not any(path == p or p in path.parents for p in (Path("/usr"),)):
                cmd += [how, str(path), str(path)]
        cmd += ["--chdir", str(self.work), "--clearenv"]
        for key, value in self.environment().items():
            cmd += ["--setenv", key, value]
        if self.mode == "bwrap-root":
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--", *self._rlimits(),
                    "setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--"]
        else:
            cmd[1:1] = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
            cmd += ["--", *self._rlimits()]
        return cmd + argv

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in a :class:`Sandbox` and talks over Unix sockets."""

    sandbox: Sandbox | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        return self.sandbox.command(super().format_kernel_cmd(extra_arguments))

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_spec.interrupt_mode = "message"   # a signal would stop at bwrap
        kw["env"] = self.sandbox.environment()
        kw.pop("cwd", None)
        kw["cwd"] = str(self.sandbox.work)
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.sandbox.mode == "bwrap-root":
            os.chown(self.connection_file, SANDBOX_UID, SANDBOX_GID)
            for name in os.listdir(self.sandbox.runtime):
                os.chown(self.sandbox.runtime / name, SANDBOX_UID, SANDBOX_GID)


def _event_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message,
                        traceback=[f"{ename}: {message}", EVENT_PREFIX + message])


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in a sandbox and a cell that kills it costing only itself."""

    memory_limit_gib = Float(Limits.memory_gib, help="Address-space limit of the kernel, GiB").tag(config=True)
    cpu_limit_s = Integer(Limits.cpu_s, help="CPU-time limit of one kernel, seconds").tag(config=True)
    scratch_files_from = Unicode("release", help="Course folder whose non-notebook files the "
                                 "kernel gets (what the lab hands every student)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        info = resources["nbgrader"]
        coursedir = sealed.coursedir_of(self)
        mode, why = sandbox_mode()
        limits = Limits(memory_gib=self.memory_limit_gib, cpu_s=self.cpu_limit_s)
        box = Sandbox(coursedir.root, limits, mode)
        self._events: list[str] = []
        if mode == "none":
            self.log.warning("Grading WITHOUT a sandbox (%s): the kernel can read and write what "
                             "the grader can", why)
            self._events.append(f"graded without the sandbox ({why})")
        try:
            box.give(self._kernel_files(coursedir, info, resources))
            box.hand_over()
            manager = type("BoundSandboxKernelManager", (SandboxKernelManager,), {"sandbox": box})
            self.kernel_manager_class = manager
            self.transport_ipc = str(box.runtime / "kernel")
            self._limits = limits
            return super().preprocess(nb, resources, km)
        finally:
            box.close()
            resources.setdefault(sealed.RESOURCE_KEY, {})["events"] = self._events
            for event in self._events:
                self.log.warning(EVENT_PREFIX + event)

    def _kernel_files(self, coursedir, info, resources) -> dict[str, bytes]:
        """What the kernel may see: the lab's handed-out files and the hidden inputs."""
        files = {}
        release = Path(coursedir.format_path(self.scratch_files_from, ".", info["assignment"]))
        if release.is_dir():
            for path in sorted(release.iterdir()):
                if path.is_file() and path.suffix != ".ipynb":
                    files[path.name] = path.read_bytes()
        salt = sealed.student_salt(coursedir.root, info["assignment"], info["student"])
        resources.setdefault(sealed.RESOURCE_KEY, {})["salt"] = salt
        cases = sealed.lab_cases(coursedir, info["assignment"], info["notebook"])
        payload = {}
        for name, case in cases.items():
            guards = {}
            for dotted, predicate in case.guards.items():
                if sealrun.GUARDS.get(predicate.__name__) is not predicate:
                    raise RuntimeError(f"case {name}: guard {predicate.__name__} is not in sealrun.GUARDS")
                guards[dotted] = predicate.__name__
            args = sealed.labcheck.draw_inputs(case, name, salt)
            payload[name] = {"what": case.what, "blocked": list(case.blocked), "guards": guards,
                             "args": None if args is None else sealrun.encode(args)}
        files[sealrun.INPUTS_FILE] = json.dumps(payload).encode()
        files["sealrun.py"] = Path(sealrun.__file__).read_bytes()
        files[f"{info['notebook']}_checks.py"] = (
            b"# Written by the grader for this grading run: the hidden inputs only, no checks.\n"
            b"from sealrun import seal  # noqa: F401\n")
        return files

    # -- the kernel ----------------------------------------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.transport = "ipc"
        km.ip = self.transport_ipc
        km.connection_file = str(Path(self.transport_ipc).parent / "connection.json")
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        start = time.monotonic()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cause = self._death_cause()
            cell.outputs.append(_event_output("KernelDied", f"{cause}; the cells after it ran in a new kernel"))
            self._events.append(f"{self._cell_name(cell, index)}: {cause}")
            self._restart_and_replay(index)
            return cell, self.resources
        except CellTimeoutError:
            # nbclient gave up waiting for the cell's output to end: after its own timeout
            # and an interrupt the kernel ignored, or because output never stopped coming.
            if time.monotonic() - start >= self.timeout:
                message = (f"stopped after the {self.timeout} s limit of one cell; it ignored the "
                           "interrupt (an endless loop that catches KeyboardInterrupt?)")
                ename = "CellTimeoutError"
            else:
                message = (f"output timeout: the cell's output did not end within {self.iopub_timeout} s "
                           "of its result (does it print without end?)")
                ename = "OutputTimeout"
            cell.outputs.append(_event_output(ename, message))
            self._events.append(f"{self._cell_name(cell, index)}: {message}")
            self._restart_and_replay(index)
            return cell, self.resources
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if any(o.ename == "CellTimeoutError" for o in errors):
            message = (f"stopped after the {self.timeout} s limit of one cell "
                       "(an endless or very slow loop?)")
            self._events.append(f"{self._cell_name(cell, index)}: {message}")
            # The interrupt may have been swallowed: never trust that kernel again.
            self._restart_and_replay(index)
        elif any(o.ename == "MemoryError" or o.ename.endswith("MemoryError") for o in errors):
            self._events.append(f"{self._cell_name(cell, index)}: ran out of memory "
                                f"(limit {self._limits.memory_gib:g} GiB)")
        return cell, self.resources

    @staticmethod
    def _cell_name(cell, index):
        return f"cell {cell.metadata.get('nbgrader', {}).get('grade_id') or index + 1}"

    def _death_cause(self) -> str:
        code = None
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None:
            code = process.poll()
        if code is not None and code > 128:
            sig = code - 128
            if sig == signal.SIGXCPU:
                return f"the kernel used up its CPU-time limit ({self._limits.cpu_s} s) and was stopped"
            if sig == signal.SIGKILL:
                return ("the kernel was killed (out of memory, limit "
                        f"{self._limits.memory_gib:g} GiB, or killed from outside)")
            if sig == signal.SIGSEGV:
                return "the kernel crashed (segmentation fault)"
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            return f"the kernel died (signal {name})"
        if code is not None:
            return f"the kernel exited (exit code {code}: os._exit or a crash)"
        return "the kernel died"

    def _restart_and_replay(self, index: int) -> None:
        """A fresh kernel that has run every code cell before ``index`` (outputs discarded)."""
        run_sync(self.km.restart_kernel)(now=True)
        self.wait_for_ready()
        for j, earlier in enumerate(self.nb.cells[:index]):
            if earlier.cell_type != "code" or not earlier.source.strip():
                continue
            if any(o.output_type == "error" and o.ename in ("KernelDied", "OutputTimeout", "CellTimeoutError")
                   for o in earlier.get("outputs", [])):
                continue
            try:   # nbclient stores the executed copy at index j: put the graded cell back
                super().execute_cell(copy.deepcopy(earlier), j, store_history=False)
            except (DeadKernelError, CellTimeoutError):
                run_sync(self.km.restart_kernel)(now=True)
                self.wait_for_ready()
            finally:
                self.nb.cells[j] = earlier

    def wait_for_ready(self):
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
