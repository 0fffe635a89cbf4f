import os
import sys

# The slow register-level reference lives next to the tests.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("MPLBACKEND", "Agg")

