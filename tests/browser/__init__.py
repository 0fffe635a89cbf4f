"""Browser tests: JupyterLab in a real Chromium (a package, so its conftest has its own module name)."""
