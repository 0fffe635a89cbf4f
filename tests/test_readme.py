"""README.md is a contract: its commands are CI's, and its example runs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", README, re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(b.strip() for b in _bash_blocks() if "pytest" in b)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd in ci_lines, f"README's test command {test_cmd!r} is not a line of .ci/run"


def test_readme_lab_command_opens_the_labs_folder():
    lab_cmd = next(b.strip() for b in _bash_blocks() if "start_lab.py" in b)
    assert lab_cmd.endswith(".venv/bin/python labs/start_lab.py")
    assert (ROOT / "labs" / "start_lab.py").is_file()
    assert '.[labs]"' in lab_cmd
    assert (ROOT / "labs").is_dir()


def test_readme_python_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)
    assert code, "README has no python example"
    for block in code:
        exec(compile(block, "README.md", "exec"), {})
