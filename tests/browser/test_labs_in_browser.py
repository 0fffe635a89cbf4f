"""What a student sees: every lab opened, run and checked in JupyterLab in Chromium.

* the student notebook (from ``labs/``) runs until the first task and stops
  there with the ``NotImplementedError`` that asks for the student's code;
* the solved source notebook (from ``grading/source/``) runs top to bottom
  with no error, shows matplotlib figures and live widgets, and nbgrader's
  Validate button says it passes;
* the systolic wavefront animation redraws the array when its cycle slider
  moves.
"""
from __future__ import annotations

import time
import uuid

import pytest

from .conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.browser

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
LABS = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
RUN_TIMEOUT = 180_000   # ms; a lab runs in well under a minute


def open_notebook(page, server, path: str):
    page.goto(server.url(path, workspace=uuid.uuid4().hex[:8]))
    page.wait_for_selector(PANEL, timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=90_000)


def run_all(page):
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def wait_until_done(page, *, stop_at_error: bool):
    if stop_at_error:
        page.wait_for_selector(f"{PANEL} .jp-OutputArea-output:has-text('NotImplementedError')",
                               timeout=RUN_TIMEOUT)
    else:   # the last code cell got its execution count
        page.wait_for_function(
            """panel => { const cells = document.querySelectorAll(panel + ' .jp-CodeCell');
                          const last = cells[cells.length - 1].querySelector('.jp-InputPrompt');
                          return /\\[\\d+\\]/.test(last.textContent); }""",
            arg=PANEL, timeout=RUN_TIMEOUT)
    page.wait_for_function(   # and nothing is still queued or running
        """panel => ![...document.querySelectorAll(panel + ' .jp-InputPrompt')]
                       .some(p => p.textContent.includes('*'))""",
        arg=PANEL, timeout=RUN_TIMEOUT)


def error_outputs(page) -> list[str]:
    texts = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [t for t in texts.all_inner_texts() if "Traceback" in t or "Error" in t.split("\n")[0]]


def shot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_runs_until_the_first_task(page, lab_server, lab):
    open_notebook(page, lab_server, f"labs/{lab}.ipynb")
    run_all(page)
    wait_until_done(page, stop_at_error=True)
    errors = error_outputs(page)
    shot(page, f"{lab}-student")
    assert len(errors) == 1 and "NotImplementedError" in errors[0], errors
    # The set-up cells before the first task ran (they have execution counts).
    assert page.locator(f"{PANEL} .jp-InputPrompt", has_text="[1]").count() == 1


@pytest.mark.parametrize("lab", LABS)
def test_solved_lab_runs_clean_with_figures_and_widgets(page, lab_server, lab):
    open_notebook(page, lab_server, f"solved/{lab}/{lab}.ipynb")
    run_all(page)
    wait_until_done(page, stop_at_error=False)
    shot(page, f"{lab}-solved")
    assert error_outputs(page) == []
    assert page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 2
    assert page.locator(f"{PANEL} .jupyter-widgets").count() >= 1
    assert page.locator(f"{PANEL} .widget-slider, {PANEL} .widget-dropdown").count() >= 1

    # nbgrader's Validate button, as a student would use it before handing in.
    page.locator(f"{PANEL} .jp-Toolbar-item", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=RUN_TIMEOUT)
    page.wait_for_function(
        "() => { const d = document.querySelector('.jp-Dialog'); "
        "return d && !/Validating/.test(d.innerText); }", timeout=RUN_TIMEOUT)
    text = dialog.inner_text()
    shot(page, f"{lab}-validate")
    assert "Success" in text and "passes all the tests" in text, text


def _wavefront_labs():
    return [lab for lab in LABS
            if "systolic_wavefront_widget" in (ROOT / "labs" / f"{lab}.ipynb").read_text()]


@pytest.mark.parametrize("lab", _wavefront_labs())
def test_wavefront_animation_moves_with_its_slider(page, lab_server, lab):
    open_notebook(page, lab_server, f"solved/{lab}/{lab}.ipynb")
    run_all(page)
    wait_until_done(page, stop_at_error=False)
    box = page.locator(f"{PANEL} .widget-vbox:has(.widget-play)").first
    box.scroll_into_view_if_needed()
    image = box.locator(".widget-output img").first
    image.wait_for(timeout=30_000)
    before = image.get_attribute("src")
    readout = box.locator(".widget-readout").first
    assert readout.inner_text().strip() == "0"
    box.locator(".widget-slider .noUi-handle").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("el => el.textContent.trim() === '3'", arg=readout.element_handle(),
                           timeout=10_000)
    # The Output widget replaces its <img>: look it up afresh until it differs.
    deadline = time.time() + 30
    while image.get_attribute("src") == before:
        assert time.time() < deadline, "the array did not redraw after the slider moved"
        page.wait_for_timeout(200)
    box.screenshot(path=str(SCREENSHOTS / f"{lab}-wavefront-cycle3.png"))


def test_students_jupyterlab_has_validate_but_no_instructor_tools(page, student_server):
    """README's student command: nbgrader's Validate stays, its instructor tools are gone,
    and opening a lab does not change the file."""
    lab = LABS[0]
    path = student_server.root / f"{lab}.ipynb"
    before = path.read_bytes()
    page.goto(student_server.url(f"{lab}.ipynb", workspace=uuid.uuid4().hex[:8]))
    page.wait_for_selector(PANEL, timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=90_000)
    assert page.locator(f"{PANEL} .jp-Toolbar-item", has_text="Validate").count() >= 1
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    items = []
    if "Nbgrader" in menus:
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
        items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
        page.keyboard.press("Escape")
    shot(page, "student-jupyterlab")
    for tool in ("Formgrader", "Course List", "Create Assignment"):
        assert not any(tool in item for item in items), items
    assert page.locator("text=Create Assignment").count() == 0
    time.sleep(3)          # JupyterLab would have autosaved a change by now
    assert path.read_bytes() == before, "opening the lab changed the notebook"


def _design_labs():
    return [lab for lab in LABS if "design_explorer_widget" in (ROOT / "labs" / f"{lab}.ipynb").read_text()]


@pytest.mark.parametrize("lab", _design_labs())
def test_design_explorer_draws_its_first_frame_complete(page, lab_server, lab):
    """The capstone's explorer: its first frame, and the first one after a change, are whole
    figures of one size (a frame without its legend or labels would be smaller: the inline
    backend crops to what is drawn)."""
    open_notebook(page, lab_server, f"solved/{lab}/{lab}.ipynb")
    run_all(page)
    wait_until_done(page, stop_at_error=False)
    box = page.locator(f"{PANEL} .widget-vbox:has(.widget-toggle-buttons)").first
    box.scroll_into_view_if_needed()
    image = box.locator(".widget-output img").first
    image.wait_for(timeout=30_000)
    size = "img => [img.naturalWidth, img.naturalHeight]"
    first, first_size = image.get_attribute("src"), image.evaluate(size)
    box.screenshot(path=str(SCREENSHOTS / f"{lab}-explorer-first.png"))
    assert "ok" in box.locator(".widget-html").first.inner_text()
    box.locator(".widget-dropdown select").first.select_option(index=1)
    deadline = time.time() + 60
    while image.get_attribute("src") == first:
        assert time.time() < deadline, "the explorer did not redraw after the change"
        page.wait_for_timeout(200)
    box.screenshot(path=str(SCREENSHOTS / f"{lab}-explorer-changed.png"))
    assert image.evaluate(size) == first_size, "the first redrawn frame differs in size (incomplete?)"
