"""Timing helpers shared by the benchmarks (one copy; each ``bench_*.py`` imports it).

The benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is
on ``sys.path`` and ``from _timing import best_of`` works without a package.

Example::

    >>> t = timings(lambda: sum(range(1000)), repeat=3)
    >>> t.value, t.best_s <= t.median_s
    (499500, True)
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple


class Timing(NamedTuple):
    """What :func:`timings` measured over its runs."""

    best_s: float       #: the shortest wall-clock time of one run
    median_s: float     #: the median wall-clock time
    cpu_s: float        #: CPU seconds (this process) of the fastest run; on a shared machine
    #:                     the honest cost, while wall clock includes waiting for the cores
    value: Any          #: what the last run returned


def timings(fn: Callable, repeat: int, setup: Callable | None = None) -> Timing:
    """Run ``fn`` ``repeat`` times (``fn(setup())`` when ``setup`` is given: the setup is
    not timed) and return the best and median wall-clock times, the CPU time of the
    fastest run and the last result."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}; pass a positive number of runs")
    walls, best_cpu, value = [], None, None
    for _ in range(repeat):
        args = (setup(),) if setup is not None else ()
        t, c = time.perf_counter(), time.process_time()
        value = fn(*args)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        if not walls or wall < min(walls):
            best_cpu = cpu
        walls.append(wall)
    return Timing(min(walls), statistics.median(walls), best_cpu, value)


def best_of(fn: Callable, repeat: int, setup: Callable | None = None) -> tuple[float, Any]:
    """(best wall-clock seconds, last result) of ``repeat`` runs of ``fn`` (see :func:`timings`)."""
    t = timings(fn, repeat, setup)
    return t.best_s, t.value
