"""Tests of the scratchpad (tiled GEMM traffic) model."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_accel.scratchpad import LOOP_ORDERS, Scratchpad, reload_factors


def brute_force(M, K, N, tm, tk, tn, order):
    """Walk the tile loops one step at a time and count every transfer.

    Each buffer holds the current tile; A and B are loaded when their tile
    changes; C partial sums are loaded only when the tile comes back, and a C
    tile is written out whenever it leaves (and at the end).
    """
    tm, tk, tn = min(tm, M), min(tk, K), min(tn, N)
    ranges = {"m": range(0, M, tm), "k": range(0, K, tk), "n": range(0, N, tn)}
    ext = {"m": lambda m0: min(tm, M - m0), "k": lambda k0: min(tk, K - k0),
           "n": lambda n0: min(tn, N - n0)}
    dram_reads = {"A": 0, "B": 0, "C": 0}
    dram_writes = {"C": 0}
    array_reads = {"A": 0, "B": 0, "C": 0}
    array_writes = {"C": 0}
    loads = {"A": 0, "B": 0, "C": 0}
    held = {"A": None, "B": None, "C": None}
    visited_c = set()
    steps = 0
    for idx in itertools.product(*(ranges[d] for d in order)):
        t = dict(zip(order, idx))
        m0, k0, n0 = t["m"], t["k"], t["n"]
        em, ek, en = ext["m"](m0), ext["k"](k0), ext["n"](n0)
        steps += 1
        for op, key, words in (("A", (m0, k0), em * ek), ("B", (k0, n0), ek * en)):
            if held[op] != key:
                dram_reads[op] += words
                loads[op] += 1
                held[op] = key
        if held["C"] != (m0, n0):
            if held["C"] is not None:
                pm, pn = held["C"]
                dram_writes["C"] += ext["m"](pm) * ext["n"](pn)
            if (m0, n0) in visited_c:
                dram_reads["C"] += em * en
                loads["C"] += 1
            visited_c.add((m0, n0))
            held["C"] = (m0, n0)
        array_reads["A"] += em * ek
        array_reads["B"] += ek * en
        if k0 > 0:
            array_reads["C"] += em * en
        array_writes["C"] += em * en
    pm, pn = held["C"]
    dram_writes["C"] += ext["m"](pm) * ext["n"](pn)
    return dict(dram_reads=dram_reads, dram_writes=dram_writes, array_reads=array_reads,
                array_writes=array_writes, tile_loads=loads, steps=steps)


def counts(res):
    return dict(dram_reads=res.dram_reads, dram_writes=res.dram_writes,
                array_reads=res.array_reads, array_writes=res.array_writes,
                tile_loads=res.tile_loads, steps=res.steps)


BIG = Scratchpad(1 << 30, 1 << 30, 1 << 30)


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 30),
       st.integers(1, 35), st.integers(1, 35), st.integers(1, 35),
       st.sampled_from(LOOP_ORDERS))
def test_closed_form_matches_brute_force(M, K, N, tm, tk, tn, order):
    assert counts(BIG.gemm(M, K, N, tm, tk, tn, order)) == brute_force(M, K, N, tm, tk, tn, order)


@pytest.mark.parametrize("order", LOOP_ORDERS)
def test_brute_force_on_every_order_with_edge_tiles(order):
    assert counts(BIG.gemm(37, 23, 29, 8, 5, 7, order)) == brute_force(37, 23, 29, 8, 5, 7, order)


# --------------------------------------------------------------------------- #
# Closed forms for simple cases, by hand
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("order", LOOP_ORDERS)
def test_one_tile_is_compulsory_traffic_only(order):
    r = BIG.gemm(20, 30, 40, 20, 30, 40, order)
    assert r.dram_reads == {"A": 600, "B": 1200, "C": 0}
    assert r.dram_writes == {"C": 800}
    assert r.dram_words == r.min_dram_words == 600 + 1200 + 800
    assert r.array_reads == {"A": 600, "B": 1200, "C": 0} and r.steps == 1


def test_scalar_tiles_mnk_is_the_naive_loop():
    # 1x1x1 tiles, k innermost: every MAC reads one A and one B word from DRAM
    # (M*K*N each); each C element stays while its k-loop runs: written once.
    r = BIG.gemm(6, 5, 4, 1, 1, 1, "mnk")
    assert r.dram_reads == {"A": 6 * 5 * 4, "B": 6 * 5 * 4, "C": 0}
    assert r.dram_writes == {"C": 6 * 4}


@pytest.mark.parametrize("order, expect", [
    # 4 tiles along each dimension (T = 4). Hand derivation:
    # mnk: A (m,k) reloaded for each n (outside k) -> 4; B (k,n) for each m -> 4;
    #      C (m,n) stays during the innermost k loop -> 1.
    ("mnk", {"A": 4, "B": 4, "C": 1}),
    # nmk: same roles as mnk with m and n swapped.
    ("nmk", {"A": 4, "B": 4, "C": 1}),
    # mkn: A (m,k) stays during the innermost n loop -> 1; B reloaded for each m;
    #      C leaves for each k and comes back -> 4 visits.
    ("mkn", {"A": 1, "B": 4, "C": 4}),
    # kmn: A innermost-relevant loop is m (2nd), nothing irrelevant outside -> 1;
    #      B (k,n) reloaded per m -> 4; C per k -> 4.
    ("kmn", {"A": 1, "B": 4, "C": 4}),
    # nkm: B stays during inner m -> 1; A reloaded per n -> 4; C per k -> 4.
    ("nkm", {"A": 4, "B": 1, "C": 4}),
    ("knm", {"A": 4, "B": 1, "C": 4}),
])
def test_reload_factors_by_hand(order, expect):
    assert reload_factors({"m": 4, "n": 4, "k": 4}, order) == expect
    r = BIG.gemm(64, 64, 64, 16, 16, 16, order)
    assert r.dram_reads["A"] == expect["A"] * 64 * 64
    assert r.dram_reads["B"] == expect["B"] * 64 * 64
    assert r.dram_reads["C"] == (expect["C"] - 1) * 64 * 64
    assert r.dram_writes["C"] == expect["C"] * 64 * 64


def test_one_trip_loops_do_not_cause_reloads():
    # K fits in one tile: for "mkn" the k loop has one trip, so C is never
    # written out early, and A (m, k) changes only with m.
    r = BIG.gemm(64, 16, 64, 16, 16, 16, "mkn")
    assert r.dram_reads == {"A": 64 * 16, "B": 4 * 16 * 64, "C": 0}
    assert r.dram_writes == {"C": 64 * 64}


def test_array_traffic_is_order_independent():
    # Each step reads its A and B tiles; partial sums go back and forth once per
    # k-tile after the first: A read T_n times, B T_m times, C read T_k - 1 times.
    for order in LOOP_ORDERS:
        r = BIG.gemm(40, 30, 20, 10, 10, 10, order)
        assert r.array_reads == {"A": 2 * 1200, "B": 4 * 600, "C": 2 * 800}
        assert r.array_writes == {"C": 3 * 800}
        assert r.macs == 24000


# --------------------------------------------------------------------------- #
# Fitting
# --------------------------------------------------------------------------- #
def test_fit_report_and_double_buffering():
    sp = Scratchpad(a_words=4096, b_words=2048, c_words=4096)
    r = sp.gemm(256, 256, 256, 64, 64, 64)
    assert not r.fits
    assert len(r.fit_problems) == 1 and "B tile 64x64 = 4,096 words" in r.fit_problems[0]
    assert "b_words = 2,048" in r.fit_problems[0]
    assert "DOES NOT FIT" in r.report() and "DOES NOT FIT" in repr(r)
    with pytest.raises(ValueError, match="b_words"):
        sp.gemm(256, 256, 256, 64, 64, 64, require_fit=True)
    ok = Scratchpad(4096, 4096, 4096).gemm(256, 256, 256, 64, 64, 64)
    assert ok.fits and "all tiles fit" in ok.report()
    db = Scratchpad(4096, 4096, 4096, double_buffer=True).gemm(256, 256, 256, 64, 64, 64)
    assert not db.fits and len(db.fit_problems) == 3
    assert "x2 for double buffering = 8,192 words" in db.fit_problems[0]
    assert db.needed_words == {"A": 8192, "B": 8192, "C": 8192}
    # double buffering changes the space needed, not the words moved
    assert counts(db) == counts(ok)


def test_tile_larger_than_matrix_is_cut_down():
    r = Scratchpad(100, 100, 100).gemm(5, 5, 5, 64, 64, 64)
    assert (r.tile_m, r.tile_k, r.tile_n) == (5, 5, 5) and r.fits


def test_estimate_cycles_by_hand():
    r = Scratchpad(8192, 8192, 8192).gemm(256, 256, 256, 64, 64, 64, "mnk")
    # DRAM words: A 4*65536 + B 4*65536 + C 65536 = 589,824; /16 = 36,864 cycles.
    # Compute: 256^3 / 1024 = 16,384 cycles. Serial: 53,248.
    assert r.estimate_cycles(16, 1024) == 36864 + 16384
    d = Scratchpad(8192, 8192, 8192, double_buffer=True).gemm(256, 256, 256, 64, 64, 64)
    # Overlapped: max(36,864, 16,384) + (first A and B tiles + last C tile) / 16
    assert d.estimate_cycles(16, 1024) == 36864 + (3 * 4096) / 16
    with pytest.raises(ValueError, match="dram_words_per_cycle"):
        r.estimate_cycles(0, 1024)
    with pytest.raises(ValueError):
        r.estimate_cycles(float("nan"), 1024)


def test_intensity_and_to_dict():
    r = BIG.gemm(64, 64, 64, 64, 64, 64)
    assert r.intensity == 64**3 / (3 * 64 * 64)
    d = r.to_dict()
    assert d["dram_reads_A"] == 4096 and d["dram_writes_C"] == 4096 and d["fits"]
    assert d["buffer_accesses"] == r.buffer_accesses == 4096 * 2 + 4096 * 2 + 4096 + 4096


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((0, 4, 4, 2, 2, 2), {}, ValueError, "M must be >= 1"),
    ((4, 4, 4, -2, 2, 2), {}, ValueError, "tile_m"),
    ((4, 4, 4, 2.0, 2, 2), {}, TypeError, "tile_m"),
    ((4, 4, 4, 2, 2, 2), {"order": "mmk"}, ValueError, "order must be one of"),
    ((4, 4, 4, 2, 2, 2), {"order": 3}, TypeError, "order"),
])
def test_bad_gemm_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Scratchpad(64, 64, 64).gemm(*args, **kwargs)


def test_bad_buffers():
    with pytest.raises(ValueError, match="a_words"):
        Scratchpad(0, 64, 64)
    with pytest.raises(TypeError, match="double_buffer"):
        Scratchpad(64, 64, 64, double_buffer="yes")


def test_ijk_letters_are_accepted():
    assert Scratchpad(64, 64, 64).gemm(8, 8, 8, 4, 4, 4, order="ijk").order == "mnk"
