"""What a student does in the browser: log in to the hub, use JupyterLab's Assignments tab.

Every step is a click or a keystroke in Debian's Chromium (playwright), on the
pages nbgrader's lab extension draws: the Nbgrader menu, then the
"Released / Downloaded / Submitted assignments" lists and their Fetch, Submit
and Fetch Feedback buttons.
"""
from __future__ import annotations

import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hub"
SLOW_MS = 120_000      # a first login starts the user's server: allow two minutes


class Student:
    """One student's browser session on the hub (its own cookies)."""

    def __init__(self, browser, hub_url: str, name: str, password: str):
        self.hub_url, self.name, self.password = hub_url, name, password
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)

    @property
    def server(self) -> str:
        return f"{self.hub_url}/user/{self.name}"

    def shot(self, what: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name.split('-')[-1]}-{what}.png"))

    def login(self) -> None:
        """The hub's login form, then JupyterLab once the server has started."""
        page = self.page
        page.goto(f"{self.hub_url}/hub/login")
        page.fill("#username_input", self.name)
        page.fill("#password_input", self.password)
        page.click("#login_submit")
        page.wait_for_url(f"**/user/{self.name}/lab**", timeout=SLOW_MS)
        page.wait_for_selector("#jp-main-dock-panel", timeout=SLOW_MS)
        page.wait_for_selector("text=Nbgrader", timeout=SLOW_MS)   # the lab extensions are loaded

    def open_assignments(self, lab: str) -> None:
        """Nbgrader menu -> Assignment List; wait until the course's lists are loaded."""
        page = self.page
        tab = page.locator(".lm-TabBar-tab", has_text="Assignments")
        if tab.count():
            tab.first.click()
        else:
            page.click("#jp-MainMenu >> text=Nbgrader")
            page.click("text=Assignment List")
        page.wait_for_selector("#assignments")
        self.refresh()

    def refresh(self) -> None:
        page = self.page
        page.click("#refresh_assignments_list")
        for name in ("released", "fetched", "submitted"):
            page.wait_for_selector(f"#{name}_assignments_list_loading", state="hidden")

    def _item(self, listing: str, lab: str):
        return self.page.locator(f"#{listing}_assignments_list .list_item", has_text=lab)

    def fetch(self, lab: str) -> None:
        """Released assignments -> Fetch; the lab appears under Downloaded assignments."""
        self._item("released", lab).get_by_role("button", name="Fetch").click()
        self._item("fetched", lab).first.wait_for()

    def edit_answer(self, lab: str, stub_index: int, answer: str) -> None:
        """Open the lab's notebook, replace the ``stub_index``-th answer stub with ``answer``, save."""
        page = self.page
        page.click("#jp-MainMenu >> text=File")
        page.click("#jp-mainmenu-file >> text=Open from Path…")
        page.fill(".jp-Dialog input", f"{lab}/{lab}.ipynb")
        page.keyboard.press("Enter")
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        panel.locator(".jp-Cell").first.wait_for(timeout=SLOW_MS)
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=SLOW_MS)
        stub = panel.locator(".jp-CodeCell", has_text="raise NotImplementedError()").nth(stub_index)
        stub.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(answer)
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        page.wait_for_selector(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty", state="detached")

    def submit(self, lab: str) -> None:
        """Downloaded assignments -> Submit; the lab appears under Submitted assignments."""
        self._item("fetched", lab).get_by_role("button", name="Submit").first.click()
        self._item("submitted", lab).first.wait_for(timeout=SLOW_MS)

    def fetch_feedback(self, lab: str) -> None:
        """Submitted assignments -> Fetch Feedback (once the instructor has released it)."""
        button = self._item("submitted", lab).get_by_role("button", name="Fetch Feedback").first
        button.click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._item("submitted", lab).get_by_text("view feedback").count():
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: no feedback appeared after Fetch Feedback")

    def open_feedback(self, lab: str) -> tuple[str, str]:
        """Click "(view feedback)" (the file browser goes to the feedback folder), open the
        HTML file there in JupyterLab's HTML viewer; return the shown page's (text, HTML)."""
        page = self.page
        self._item("submitted", lab).get_by_text("view feedback").first.click()
        entry = page.locator(".jp-DirListing-item", has_text=f"{lab}.html")
        entry.first.wait_for()
        entry.first.dblclick()
        frame = page.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe")
        frame.locator("body").wait_for()
        return frame.locator("body").inner_text(), frame.locator("html").inner_html()

    def close(self) -> None:
        self.context.close()
