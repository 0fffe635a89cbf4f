"""mini_accel.viz_training: the figures draw what the models compute, and importing stays light."""
from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mini_accel import viz_training  # noqa: E402
from mini_accel.training_memory import zero_bytes_per_chip  # noqa: E402


def test_memory_per_chip_adds_up_to_the_zero_model():
    for stage in range(4):
        for opt in ("sgd", "momentum", "adam"):
            parts = viz_training.memory_per_chip(3e9, 16, opt, activation_bytes=5e9)[stage]
            assert sum(parts.values()) == pytest.approx(zero_bytes_per_chip(3e9, 16, stage, opt) + 5e9)


def test_memory_bars_are_stacked_to_the_totals():
    ax = viz_training.plot_memory_per_chip(7.5e9, 64, "adam", chip_memory_bytes=80e9)
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    assert [round(tops[s], 2) for s in range(4)] == [120.0, 31.41, 16.64, 1.88]   # ZeRO Fig. 1
    assert any(line.get_linestyle() == ":" for line in ax.get_lines())


def test_training_curves_plot_one_line_per_run():
    ax = viz_training.plot_training_curves({"a": [1.0, 0.5, 0.25], "b": [2.0, 1.0, 0.9]})
    lines = ax.get_lines()
    assert len(lines) == 2 and np.allclose(lines[0].get_ydata(), [1.0, 0.5, 0.25])
    with pytest.raises(TypeError, match="runs"):
        viz_training.plot_training_curves([])


def test_zero_widget_redraws():
    explorer = viz_training.zero_widget(chip_memory_bytes=32e9)
    explorer.log_chips.value = 3
    ax = explorer.update()
    assert "8 chips" in ax.get_title()


def test_importing_the_training_modules_does_not_import_matplotlib():
    code = ("import sys, mini_accel, mini_accel.training, mini_accel.training_memory, mini_accel.viz_training;"
            "print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
