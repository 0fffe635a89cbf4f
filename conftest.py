"""Settings for every test pytest collects, the docstring examples in mini_accel/ included."""
import os
import sys

import pytest

# Figures draw off-screen, whichever folder the tests were collected from.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test or a docstring example drew (pyplot keeps every one open)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
