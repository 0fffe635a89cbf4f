"""Hidden checks of Lab 3 (memory hierarchy and energy).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result, without giving the answer away. The inputs are drawn in the student's
kernel, where a hostile notebook may have patched ``builtins``: the
generators call no Python builtin such as ``abs``, ``min`` or ``sorted`` and
no numpy helper that does (``np.concatenate``, not ``np.tile``, which calls
``all()``), so such a patch cannot change the inputs. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` or from a few lines of Python written here, never from the
student's code.
"""
from __future__ import annotations

import numpy as np
from labcheck import Case
from labcheck import close as _close
from labcheck import is_int as _is_int
from labcheck import is_number as _is_number
from labcheck import seal as _seal

_ENERGY = "mini_accel.energy"
_MEMORY = "mini_accel.memory"
_SCRATCH = "mini_accel.scratchpad"
_SYSTOLIC = "mini_accel.systolic"

#: Library code that turns counts into energy.
_ENERGY_ANSWERS = (f"{_ENERGY}.EnergyModel.report", f"{_ENERGY}.EnergyReport.by_level",
                   f"{_ENERGY}.EnergyReport.by_operation")
#: Library code that simulates a cache. (Its compiled kernel cannot be listed here:
#: labcheck.blocked swaps ``__code__``, which a Cython function does not allow.)
_CACHE_ANSWERS = (f"{_MEMORY}.MemoryHierarchy.run", f"{_MEMORY}.classify_misses")
#: Library code that counts the DRAM traffic of a tiled GEMM.
_SCRATCH_ANSWERS = (f"{_SCRATCH}.reload_factors", f"{_SCRATCH}.Scratchpad.gemm")
#: Library code that counts what the systolic array reads and writes.
_TRAFFIC_ANSWERS = (f"{_SYSTOLIC}.systolic_traffic", f"{_SYSTOLIC}.SystolicArray.matmul",
                    f"{_SYSTOLIC}.SystolicArray.trace")

ORDERS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


# --------------------------------------------------------------------------- #
# Task 1: energy from counts
# --------------------------------------------------------------------------- #
_EVENTS = ("mac", "rf", "array", "buffer", "dram", "L1", "L2", "fp32_add", "int8_mult", "sram")


def _energy_inputs(rng):
    out = [({"mac": 1, "dram": 1}, {"mac": 4.6, "dram": 650.0}),
           ({"dram": 0, "mac": 7}, {"mac": 0.3, "dram": 162.5, "rf": 0.25})]
    for _ in range(6):
        names = list(rng.choice(_EVENTS, size=int(rng.integers(1, 6)), replace=False))
        counts = {str(k): int(rng.integers(0, 10**7)) for k in names}
        extra = [e for e in _EVENTS if e not in names][: int(rng.integers(0, 3))]
        costs = {str(k): float(rng.uniform(0.01, 3000)) for k in names + extra}
        out.append((counts, costs))
    return out


def _energy_check(args, got):
    counts, costs = args
    if not isinstance(got, dict):
        return f"energy_breakdown should return a dict, got {type(got).__name__}"
    want_keys = set(counts) | {"total"}
    if set(got) != want_keys:
        missing, extra = sorted(want_keys - set(got)), sorted(set(got) - want_keys)
        return (f"energy_breakdown for events {sorted(counts)}: the keys are not one per event plus "
                f"'total' (missing {missing}, unexpected {extra})")
    for event, count in counts.items():
        if not _is_number(got[event]):
            return f"energy_breakdown: the entry for {event!r} should be a number"
        if not _close(got[event], count * costs[event]):
            return f"energy_breakdown: the energy of {event!r} is wrong (count x cost per event)"
    if not _is_number(got["total"]) or not _close(got["total"], sum(counts[e] * costs[e] for e in counts)):
        return "energy_breakdown: the 'total' is not the sum of the events' energies"
    return None


# --------------------------------------------------------------------------- #
# Task 2: DRAM words without reuse and the compulsory minimum
# --------------------------------------------------------------------------- #
def _gemm_inputs(rng):
    fixed = [(1, 1, 1), (1, 1000, 1), (7, 1, 9), (256, 256, 256)]
    return fixed + [tuple(int(rng.integers(1, 600)) for _ in range(3)) for _ in range(8)]


def _gemm_check(args, got):
    M, K, N = args
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "gemm_dram_words should return a pair (no_reuse, compulsory)"
    if not (_is_int(got[0]) and _is_int(got[1])):
        return "gemm_dram_words should return two ints"
    if int(got[0]) != 2 * M * K * N + M * N:
        return (f"gemm_dram_words(M={M}, K={K}, N={N}): the no-reuse count is wrong "
                "(what does each MAC load, and what is stored per output?)")
    if int(got[1]) != M * K + K * N + M * N:
        return f"gemm_dram_words(M={M}, K={K}, N={N}): the compulsory count is wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 3: an LRU cache
# --------------------------------------------------------------------------- #
def _reference_misses(addresses, size_bytes, line_bytes, ways):
    from mini_accel.memory import Cache, MemoryHierarchy
    cache = Cache("L1", size_bytes=size_bytes, ways=ways, line_bytes=line_bytes, policy="lru")
    return MemoryHierarchy(cache).run(np.asarray(addresses, dtype=np.int64))["L1"].misses


def _trace(rng, n, span, line_bytes):
    """A trace with locality: runs of sequential bytes, re-visits and random jumps."""
    out, pos = [], int(rng.integers(0, span))
    while len(out) < n:
        kind = rng.integers(0, 3)
        if kind == 0:                                    # a sequential run
            step = int(rng.choice([1, 4, 8]))
            run = int(rng.integers(4, 40))
            out.extend(pos + step * np.arange(run))
            pos += step * run
        elif kind == 1 and out:                          # go back to something recent
            pos = int(out[-int(rng.integers(1, np.minimum(len(out), 200) + 1))])
            out.append(pos)
        else:                                            # jump, sometimes by a cache-sized stride
            pos = int(rng.integers(0, span)) if rng.random() < 0.5 else pos + line_bytes * int(rng.integers(1, 64))
            out.append(pos)
    return np.array(out[:n], dtype=np.int64) % span


def _lru_inputs(rng):
    out = []
    for size, line, ways in [(256, 16, 2), (1024, 32, 4), (512, 64, 1), (2048, 16, 8),
                             (768, 32, 3), (4096, 64, 2)]:
        addrs = _trace(rng, 1500, int(rng.integers(4, 16)) * size, line)
        out.append((addrs, size, line, ways))
    return out


def _lru_edge_inputs(rng):
    # LRU against FIFO: A B A C B in a fully associative cache of two lines (C must evict B,
    # the least recently used), and a 2-way set where a re-used line must survive.
    out = [([0, 1000, 0, 5000, 1000], 32, 16, 2),
           ([0, 64, 0, 128, 0, 64, 192, 0], 128, 16, 2)]
    # fully associative (one set), a one-line cache, direct-mapped with a power-of-two stride,
    # huge addresses, one-byte lines, and a plain Python list
    out.append((_trace(rng, 1200, 4096, 16), 512, 16, 32))
    out.append((_trace(rng, 400, 256, 32), 32, 32, 1))
    stride = np.arange(0, 64 * 1024, 1024, dtype=np.int64)
    out.append((np.concatenate([stride] * 6) + rng.integers(0, 4), 1024, 64, 1))
    out.append((_trace(rng, 800, 1 << 20, 64) + (1 << 42), 2048, 64, 4))
    out.append((_trace(rng, 800, 200, 1), 16, 1, 4))
    out.append(([int(a) for a in _trace(rng, 600, 2048, 16)], 256, 16, 2))
    return out


def _lru_check(args, got):
    addresses, size, line, ways = args
    if not _is_int(got):
        return f"lru_misses should return an int, got {type(got).__name__}"
    want = _reference_misses(addresses, size, line, ways)
    if int(got) != want:
        sets = size // (line * ways)
        kind = "fully associative" if sets == 1 else ("direct-mapped" if ways == 1 else f"{ways}-way")
        more = "too many" if got > want else "too few"
        return (f"lru_misses on {len(addresses)} accesses, {size}-byte {kind} cache with {line}-byte "
                f"lines: {more} misses")
    return None


# --------------------------------------------------------------------------- #
# Task 4: DRAM traffic of a tiled GEMM
# --------------------------------------------------------------------------- #
def _tiled_inputs(rng):
    out = [(256, 256, 256, 64, 64, 64, "mnk"), (100, 100, 100, 200, 100, 7, "knm"),
           (1, 1, 1, 1, 1, 1, "nkm")]
    for order in ORDERS:
        M, K, N = (int(rng.integers(1, 700)) for _ in range(3))
        tiles = [int(rng.integers(1, np.maximum(2, d // int(rng.integers(1, 9)) + 1))) for d in (M, K, N)]
        out.append((M, K, N, *tiles, order))
    for _ in range(3):
        M, K, N = (int(rng.integers(1, 300)) for _ in range(3))
        out.append((M, K, N, int(rng.integers(1, 400)), int(rng.integers(1, 400)),
                    int(rng.integers(1, 400)), str(rng.choice(ORDERS))))
    return out


def _tiled_check(args, got):
    from mini_accel.scratchpad import Scratchpad
    M, K, N, tm, tk, tn, order = args
    if not isinstance(got, dict) or set(got) != {"A", "B", "C"}:
        return "tiled_dram_words should return a dict with the keys 'A', 'B' and 'C'"
    sp = Scratchpad(1, 1, 1).gemm(M, K, N, tm, tk, tn, order)
    want = {"A": sp.dram_reads["A"], "B": sp.dram_reads["B"],
            "C": sp.dram_reads["C"] + sp.dram_writes["C"]}
    where = f"tiled_dram_words(M={M}, K={K}, N={N}, tiles {tm}x{tk}x{tn}, order {order!r})"
    for op in "ABC":
        if not _is_int(got[op]):
            return f"{where}: the count for {op} should be an int"
        if int(got[op]) != want[op]:
            hint = " (written out and read back)" if op == "C" else ""
            return f"{where}: the words moved for {op}{hint} are wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 5: buffer traffic of the three dataflows
# --------------------------------------------------------------------------- #
def _traffic_inputs(rng):
    out = [(1, 2048, 2048, 32, 32, "ws"), (3136, 576, 64, 32, 32, "os"), (5, 5, 5, 8, 8, "is"),
           # arrays that are not square: rows and columns must not be swapped
           (7, 10, 9, 3, 5, "ws"), (7, 10, 9, 3, 5, "os"), (7, 10, 9, 3, 5, "is"), (9, 7, 10, 5, 3, "is")]
    for _ in range(4):
        for dataflow in ("ws", "os", "is"):
            M, K, N = (int(rng.integers(1, 400)) for _ in range(3))
            out.append((M, K, N, int(rng.integers(1, 40)), int(rng.integers(1, 40)), dataflow))
    return out


def _traffic_check(args, got):
    from mini_accel import systolic_traffic
    M, K, N, R, C, dataflow = args
    keys = {"a_reads", "b_reads", "out_writes"}
    if not isinstance(got, dict) or set(got) != keys:
        return "array_buffer_traffic should return a dict with the keys a_reads, b_reads and out_writes"
    want = systolic_traffic(M, K, N, R, C, dataflow)
    where = f"array_buffer_traffic(M={M}, K={K}, N={N}, rows={R}, cols={C}, {dataflow!r})"
    for key in ("a_reads", "b_reads", "out_writes"):
        if not _is_int(got[key]):
            return f"{where}: {key} should be an int"
        if int(got[key]) != want[key]:
            return f"{where}: {key} is wrong (which folds re-read this operand?)"
    return None


CASES = {
    "energy_breakdown": Case(_energy_inputs, _energy_check, blocked=_ENERGY_ANSWERS, what="energy_breakdown"),
    "gemm_dram_words": Case(_gemm_inputs, _gemm_check, what="gemm_dram_words"),
    "lru_misses": Case(_lru_inputs, _lru_check, blocked=_CACHE_ANSWERS, what="lru_misses"),
    "lru_misses_edges": Case(_lru_edge_inputs, _lru_check, blocked=_CACHE_ANSWERS, what="lru_misses"),
    "tiled_dram_words": Case(_tiled_inputs, _tiled_check, blocked=_SCRATCH_ANSWERS, what="tiled_dram_words"),
    "array_buffer_traffic": Case(_traffic_inputs, _traffic_check, blocked=_TRAFFIC_ANSWERS,
                                 what="array_buffer_traffic"),
}
