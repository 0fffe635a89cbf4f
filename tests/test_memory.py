"""Tests of the cache hierarchy: hand-checked cases, the reference model, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_cache import DRAM_KEYS, LEVEL_KEYS, RefHierarchy

from mini_accel.memory import (
    DRAM,
    MAX_WAYS,
    Cache,
    HierarchyStats,
    MemoryHierarchy,
    classify_misses,
)
from mini_accel.traces import Trace, stream_trace


def one_level(size, ways, line, policy="lru", write_policy="write-back"):
    return MemoryHierarchy([Cache("L1", size, ways=ways, line_bytes=line, policy=policy,
                                  write_policy=write_policy)])


# --------------------------------------------------------------------------- #
# Small cases checked by hand
# --------------------------------------------------------------------------- #
def test_direct_mapped_conflict_misses():
    # 4 sets of one 16-byte line. Lines 0 (addr 0) and 4 (addr 64) both map to
    # set 0 (4 % 4 == 0) and evict each other every time; addr 16 is set 1.
    h = one_level(64, 1, 16)
    st_ = h.run([0, 64, 0, 64, 16, 16, 0], sizes=4)["L1"]
    # misses: 0, 64, 0, 64, 16, 0 ; hit: the second 16
    assert (st_.hits, st_.misses) == (1, 6)
    assert st_.evictions == 4          # 64 evicts 0, 0 evicts 64, 64 evicts 0, 0 evicts 64
    assert st_.write_backs == 0
    assert h.resident("L1")[:, 0].tolist() == [0, 16, -1, -1]


def test_two_way_set_keeps_both_conflicting_lines():
    # Same 64 bytes, 2 ways x 2 sets: 0 and 64 (lines 0 and 4, set 0) now coexist.
    st_ = one_level(64, 2, 16).run([0, 64, 0, 64], sizes=4)["L1"]
    assert (st_.hits, st_.misses, st_.evictions) == (2, 2, 0)


def test_lru_and_fifo_order_by_hand():
    # One set of two 16-byte lines; trace lines A=0, B=16, A, C=32, A, B.
    trace = [0, 16, 0, 32, 0, 16]
    # LRU: A m, B m, A h (A newest), C m evicts B, A h, B m evicts C -> {A, B}
    h = one_level(32, 2, 16, "lru")
    lru = h.run(trace)["L1"]
    assert (lru.hits, lru.misses, lru.evictions) == (2, 4, 2)
    assert sorted(h.resident("L1").ravel().tolist()) == [0, 16]
    # FIFO: A m, B m, A h (order unchanged), C m evicts A (oldest fill),
    #       A m evicts B, B m evicts C -> {A, B}
    h = one_level(32, 2, 16, "fifo")
    fifo = h.run(trace)["L1"]
    assert (fifo.hits, fifo.misses, fifo.evictions) == (1, 5, 3)


def test_lru_counts_a_write_hit_as_a_use():
    # One set, two lines. A, B, write A (hit: A becomes newest), C evicts B, not A.
    h = one_level(32, 2, 16, "lru")
    h.run([0, 16, 0, 32], is_write=[False, False, True, False])
    assert sorted(h.resident("L1").ravel().tolist()) == [0, 32]


def test_write_back_counts_by_hand():
    # Direct-mapped, 2 sets of 16 bytes. Write 0 (miss: fetch 16 B, dirty),
    # write 4 (hit), read 32 (line 2 -> set 0: miss, evicts dirty line 0 ->
    # write-back 16 B), read 16 (set 1, miss).
    h = one_level(32, 1, 16)
    s = h.run([0, 4, 32, 16], is_write=[True, True, False, False], sizes=4)
    l1 = s["L1"]
    assert (l1.write_misses, l1.write_hits, l1.read_misses, l1.read_hits) == (1, 1, 2, 0)
    assert (l1.evictions, l1.write_backs) == (1, 1)
    assert (s.dram.reads, s.dram.bytes_read) == (3, 48)
    assert (s.dram.writes, s.dram.bytes_written) == (1, 16)
    assert l1.bytes_from_below == 48 and l1.bytes_to_below == 16


def test_write_through_no_allocate_by_hand():
    # Write 0 (miss: nothing allocated, 4 bytes go to DRAM), read 0 (miss,
    # fetch 16 B), write 0 (hit: 4 more bytes to DRAM, line stays clean).
    h = one_level(32, 1, 16, write_policy="write-through")
    s = h.run([0, 0, 0], is_write=[True, False, True], sizes=4)
    l1 = s["L1"]
    assert (l1.write_misses, l1.read_misses, l1.write_hits) == (1, 1, 1)
    assert l1.writes_through == 2 and l1.write_backs == 0 and l1.evictions == 0
    assert (s.dram.bytes_read, s.dram.bytes_written, s.dram.writes) == (16, 8, 2)
    assert not h.dirty("L1").any()
    assert h.flush().dram.bytes_written == 0        # nothing dirty to flush


def test_two_levels_write_back_reaches_l2_as_a_write():
    # L1: direct-mapped 2 x 16 B; L2: 4 lines of 16 B, 2-way.
    h = MemoryHierarchy([Cache("L1", 32, 1, 16), Cache("L2", 64, 2, 16)])
    # write 0: L1 miss -> L2 read miss -> DRAM read. read 32: L1 miss (set 0)
    # -> L2 read miss (line 2, set 0) -> DRAM read; L1 evicts dirty line 0 ->
    # L2 write hit (line 0 is in L2), so nothing reaches DRAM yet.
    s = h.run([0, 32], is_write=[True, False], sizes=4)
    assert (s["L1"].misses, s["L1"].write_backs) == (2, 1)
    assert (s["L2"].read_misses, s["L2"].write_hits, s["L2"].accesses) == (2, 1, 3)
    assert (s.dram.bytes_read, s.dram.bytes_written) == (32, 0)
    assert h.dirty("L2").sum() == 1 and h.dirty("L1").sum() == 0
    f = h.flush()                                 # L2's dirty copy of line 0 goes out
    assert (f["L1"].write_backs, f["L2"].write_backs, f.dram.bytes_written) == (0, 1, 16)


def test_access_spanning_two_lines_counts_twice():
    h = one_level(256, 2, 64)
    s = h.run([60], sizes=8)                      # bytes 60-63 (line 0) and 64-67 (line 1)
    assert (s.requests, s.split_requests, s.line_accesses) == (1, 1, 2)
    assert (s["L1"].accesses, s["L1"].misses) == (2, 2)
    assert s.dram.bytes_read == 128
    s = h.run([56, 64], sizes=8)                  # both inside one line now: two hits
    assert (s.split_requests, s["L1"].hits) == (0, 2)


def test_write_through_forwards_only_the_bytes_of_each_piece():
    h = one_level(256, 2, 64, write_policy="write-through")
    s = h.run([60], is_write=True, sizes=8)       # 4 bytes in line 0, 4 in line 1
    assert (s.dram.writes, s.dram.bytes_written) == (2, 8)


# --------------------------------------------------------------------------- #
# Compulsory, capacity and conflict behaviour
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("policy", ["lru", "fifo", "random"])
def test_streaming_misses_once_per_line(policy):
    cache = Cache("L1", 4096, ways=4, line_bytes=64, policy=policy)
    n = 64 * 1024 // 4                              # 64 KB of floats, 16x the cache
    s = MemoryHierarchy(cache).run(stream_trace(n, elem_bytes=4))
    assert s["L1"].misses == 64 * 1024 // 64        # one compulsory miss per line
    assert s["L1"].hits == n - s["L1"].misses
    assert s.dram.bytes_read == 64 * 1024


def test_lru_thrashes_on_a_cyclic_scan_bigger_than_the_cache():
    lines = 4096 // 64
    s = one_level(4096, 4, 64).run(stream_trace(2 * 4096 // 4, passes=3))
    assert s["L1"].misses == 3 * 2 * lines          # every line misses in every pass


@pytest.mark.parametrize("policy", ["lru", "fifo", "random"])
def test_working_set_that_fits_hits_after_warm_up(policy):
    h = MemoryHierarchy(Cache("L1", 4096, ways=4, line_bytes=64, policy=policy))
    first = h.run(stream_trace(2048 // 4))          # 2 KB: half the cache
    assert first["L1"].misses == 2048 // 64
    again = h.run(stream_trace(2048 // 4, passes=5))
    assert again["L1"].misses == 0


def test_classify_misses_three_cs():
    c = Cache("L1", 64, ways=1, line_bytes=16)
    # Conflict only: two lines fight over one set of an otherwise empty cache.
    assert classify_misses(c, [0, 64] * 3) == {
        "accesses": 6, "misses": 6, "compulsory": 2, "capacity": 0, "conflict": 4}
    # Capacity: a cyclic scan over 5 lines in a 4-line cache misses in a fully
    # associative LRU cache too; all first touches are compulsory.
    cyc = list(range(0, 80, 16)) * 2
    r = classify_misses(Cache("L1", 64, ways="full", line_bytes=16), cyc)
    assert r == {"accesses": 10, "misses": 10, "compulsory": 5, "capacity": 5, "conflict": 0}
    # A request spanning two lines touches both.
    assert classify_misses(c, [12], sizes=8)["compulsory"] == 2


# --------------------------------------------------------------------------- #
# Against the pure-Python reference
# --------------------------------------------------------------------------- #
@st.composite
def hierarchies(draw):
    n = draw(st.integers(1, 3))
    levels, line = [], draw(st.sampled_from([4, 8, 16]))
    for _ in range(n):
        line = line * draw(st.sampled_from([1, 1, 2]))
        ways = draw(st.integers(1, 4))
        sets = draw(st.integers(1, 5))               # 3 and 5 sets: the modulo path
        levels.append(dict(size_bytes=line * ways * sets, ways=ways, line_bytes=line,
                           policy=draw(st.sampled_from(["lru", "fifo", "random"])),
                           write_policy=draw(st.sampled_from(["write-back", "write-through"])),
                           seed=draw(st.integers(0, 2**32))))
    return levels


@st.composite
def traces(draw, max_len=150):
    n = draw(st.integers(1, max_len))
    top = draw(st.sampled_from([64, 256, 2048]))
    addr = draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
    writes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    else:
        sizes = [draw(st.sampled_from([1, 4, 8]))] * n
    return np.array(addr, np.int64), np.array(writes, bool), np.array(sizes, np.int32)


def build(levels):
    return MemoryHierarchy([Cache(f"L{i + 1}", **cfg) for i, cfg in enumerate(levels)])


def assert_same(stats: HierarchyStats, ref: RefHierarchy):
    for lv, rl in zip(stats.levels, ref.levels):
        assert {k: getattr(lv, k) for k in LEVEL_KEYS} == rl.counts, lv.name
    assert {k: getattr(stats.dram, k) for k in DRAM_KEYS} == ref.dram
    assert (stats.requests, stats.split_requests, stats.line_accesses) == (
        ref.requests, ref.split, ref.line_accesses)


@settings(max_examples=300, deadline=None)
@given(hierarchies(), traces())
def test_kernel_matches_reference(levels, trace):
    h, ref = build(levels), RefHierarchy(levels)
    stats = h.run(*trace)
    ref.run(*trace)
    assert_same(stats, ref)
    for i, lv in enumerate(h.levels):
        assert h.resident(lv.name).tolist() == ref.resident(i)
    h.flush()
    ref.flush()
    assert_same(h.stats, ref)


@settings(max_examples=100, deadline=None)
@given(hierarchies(), traces(), st.integers(1, 149))
def test_state_carries_over_between_runs(levels, trace, cut):
    whole = build(levels)
    whole.run(*trace)
    parts = build(levels)
    cut = min(cut, len(trace[0]) - 1)
    first = parts.run(*(x[:cut] for x in trace)) if cut else None
    second = parts.run(*(x[cut:] for x in trace))
    assert parts.stats.to_dict() == whole.stats.to_dict()
    if first is not None:
        assert (first + second).to_dict() == whole.stats.to_dict()
    for lv in whole.levels:
        assert np.array_equal(parts.resident(lv.name), whole.resident(lv.name))


def test_reset_empties_the_caches():
    h = one_level(256, 2, 16)
    a = h.run([0, 16, 32, 0], is_write=[True, False, False, False])
    h.reset()
    assert h.stats.to_dict() == HierarchyStats(h.levels, h.dram, np.zeros((3, 8))).to_dict()
    assert (h.resident("L1") == -1).all()
    b = h.run([0, 16, 32, 0], is_write=[True, False, False, False])
    assert a.to_dict() == b.to_dict()


def test_random_policy_is_seeded():
    trace = np.random.default_rng(1).integers(0, 1 << 14, 5000)
    runs = [MemoryHierarchy(Cache("L1", 1024, 8, 16, policy="random", seed=s)).run(trace)
            ["L1"].misses for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]      # a different seed picks different victims


# --------------------------------------------------------------------------- #
# pycachesim, an independent simulator, when installed
# --------------------------------------------------------------------------- #
def _pycachesim(levels, policy):
    cachesim = pytest.importorskip("cachesim")
    mem = cachesim.MainMemory()
    below, caches = None, []
    for name, size, ways, line in reversed(levels):
        c = cachesim.Cache(name, size // (line * ways), ways, line, policy,
                           load_from=below, store_to=below)
        caches.insert(0, c)
        below = c
    mem.load_to(caches[-1])
    mem.store_from(caches[-1])
    return cachesim.CacheSimulator(caches[0], mem), caches


@pytest.mark.parametrize("policy", ["LRU", "FIFO"])
def test_matches_pycachesim(policy):
    levels = [("L1", 1024, 4, 32), ("L2", 8192, 8, 64)]
    rng = np.random.default_rng(5)
    addr = np.concatenate([rng.integers(0, 1 << 15, 3000), np.arange(0, 1 << 14, 8),
                           rng.integers(0, 1 << 12, 3000)]) & ~7
    writes = rng.random(addr.size) < 0.3
    if policy == "LRU":     # pycachesim does not refresh LRU age on a store hit: loads only
        writes[:] = False
    sim, caches = _pycachesim(levels, policy)
    runs = np.flatnonzero(np.diff(writes.astype(np.int8))) + 1
    pairs = []
    for chunk_a, chunk_w in zip(np.split(addr, runs), np.split(writes, runs)):
        pairs.append((chunk_a.tolist(), None) if not chunk_w[0] else (None, chunk_a.tolist()))
    sim.loadstore(pairs, length=8)
    ours = MemoryHierarchy([Cache(n, s, w, l, policy=policy.lower()) for n, s, w, l in levels])
    st_ = ours.run(addr, writes, 8)
    for c, lv in zip(caches, st_.levels):
        # pycachesim counts a HIT only for loads, and a write-allocate miss as a MISS
        assert c.backend.HIT_count == lv.read_hits
        assert c.backend.MISS_count == lv.misses
    # Its MISS_byte counts the bytes requested from above (32-byte L1 lines),
    # not the 64-byte L2 lines DRAM sends, so compare request counts.
    assert caches[-1].backend.MISS_count == st_.dram.reads
    assert caches[-1].backend.EVICT_count == st_.dram.writes


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(size_bytes=-64, ways=1), ValueError, "size_bytes"),
    (dict(size_bytes=0, ways=1), ValueError, "size_bytes"),
    (dict(size_bytes=96, ways=4, line_bytes=16), ValueError, r"multiple of line_bytes x ways"),
    (dict(size_bytes=100, ways=1, line_bytes=16), ValueError, "multiple of line_bytes"),
    (dict(size_bytes=96, ways=1, line_bytes=24), ValueError, "power of two"),
    (dict(size_bytes=64, ways=0), ValueError, "ways"),
    (dict(size_bytes=64, ways="two"), ValueError, "ways"),
    (dict(size_bytes=64.0, ways=1), TypeError, "size_bytes"),
    (dict(size_bytes=64, ways=True), TypeError, "ways"),
    (dict(size_bytes=64, ways=1, policy="plru"), ValueError, "policy"),
    (dict(size_bytes=64, ways=1, write_policy="write-around"), ValueError, "write_policy"),
    (dict(size_bytes=64 * 8192, ways="full", line_bytes=64), ValueError, "ways"),
    (dict(size_bytes=1 << 30, ways=8, line_bytes=64), ValueError, "lines"),
    (dict(size_bytes=64, ways=1, seed=-1), ValueError, "seed"),
])
def test_bad_cache_config(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Cache("L1", **kwargs)


def test_bad_hierarchy():
    l1, l2 = Cache("L1", 256, 1, 32), Cache("L2", 1024, 1, 16)
    with pytest.raises(ValueError, match="line_bytes may only grow"):
        MemoryHierarchy([l1, l2])
    with pytest.raises(ValueError, match="1 to 3"):
        MemoryHierarchy([Cache(f"L{i}", 256, 1, 32) for i in range(4)])
    with pytest.raises(ValueError, match="1 to 3"):
        MemoryHierarchy([])
    with pytest.raises(ValueError, match="names must differ"):
        MemoryHierarchy([l1, Cache("L1", 1024, 1, 32)])
    with pytest.raises(TypeError, match=r"levels\[1\]"):
        MemoryHierarchy([l1, {"size": 1024}])
    with pytest.raises(TypeError, match="dram"):
        MemoryHierarchy([l1], dram="DDR4")
    with pytest.raises(TypeError, match="name"):
        Cache("", 256, 1, 32)


@pytest.mark.parametrize("args, exc, match", [
    (([0.0, 64.0],), TypeError, "addresses must hold integers"),
    (([0, -64],), ValueError, "addresses must be >= 0"),
    (([],), ValueError, "addresses is empty"),
    ((np.zeros((2, 2), np.int64),), ValueError, "1-D"),
    (([0, "a"],), TypeError, "addresses"),
    (([0, 64], [True]), None, None),                                 # broadcast is fine
    (([0, 64], [True, False, True]), ValueError, "is_write must be one bool or a 1-D array"),
    (([0, 64], [0.5, 1.0]), TypeError, "is_write"),
    (([0, 64], [0, 2]), ValueError, "is_write"),
    (([0, 64], None, [4, 4, 4]), ValueError, "sizes must be one int or a 1-D array"),
    (([0, 64], None, -4), ValueError, "sizes must be >= 1"),
    (([0, 64], None, 0), ValueError, "sizes must be >= 1"),
    (([0, 64], None, 4.0), TypeError, "sizes"),
    (([0, 64], None, 1 << 20), ValueError, "sizes must be <="),
    (([1 << 60],), ValueError, "addresses must be < 2"),
])
def test_bad_trace(args, exc, match):
    h = one_level(256, 2, 32)
    if exc is None:
        h.run(*args)
        return
    with pytest.raises(exc, match=match):
        h.run(*args)


def test_trace_and_extra_arrays_are_exclusive():
    h = one_level(256, 2, 32)
    tr = stream_trace(4)
    assert isinstance(tr, Trace)
    assert h.run(tr).requests == 4
    with pytest.raises(TypeError, match="either a Trace"):
        h.run(tr, is_write=True)


def test_unknown_level_name():
    h = one_level(256, 2, 32)
    s = h.run([0])
    with pytest.raises(KeyError, match="L2"):
        s["L2"]
    with pytest.raises(KeyError):
        h.resident("L3")


def test_inputs_are_not_modified_and_any_int_dtype_works():
    addr = np.array([0, 64, 128, 64], dtype=np.uint16)
    w = np.array([1, 0, 0, 1], dtype=np.int8)
    s = one_level(256, 2, 32).run(addr, w, np.int64(4))
    assert s["L1"].accesses == 4 and s["L1"].writes == 2
    assert addr.tolist() == [0, 64, 128, 64]


# --------------------------------------------------------------------------- #
# Result views
# --------------------------------------------------------------------------- #
def test_table_rows_and_totals():
    h = MemoryHierarchy([Cache("L1", 256, 2, 32), Cache("L2", 1024, 4, 32)], DRAM("HBM"))
    a = h.run(stream_trace(512))
    b = h.run(stream_trace(512, kind="write"))
    assert (a + b).to_dict() == h.stats.to_dict()
    text = h.stats.table()
    for word in ("L1", "L2", "HBM", "hit rate", "write-backs"):
        assert word in text
    rows = h.stats.to_rows()
    assert [r["level"] for r in rows] == ["L1", "L2", "HBM"]
    assert rows[0]["accesses"] == 1024 and rows[2]["bytes_read"] == h.stats["HBM"].bytes_read
    frame = h.stats.to_frame()
    assert isinstance(frame, list) or list(frame.index) == ["L1", "L2", "HBM"]
    assert "HierarchyStats(1024 requests" in repr(h.stats)
    assert np.isnan(one_level(64, 1, 16).stats["L1"].hit_rate)   # no access yet
    assert MAX_WAYS == 4096
