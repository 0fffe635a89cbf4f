"""Pure-numpy twin of ``mapping.pyx`` (private: no validation here).

Same function, same arguments, bit-identical outputs. Read ``mapping.pyx`` for
the encoding of ``factors``, ``orders``, ``keep``, ``cap`` and ``pj``; the
readable model is ``mini_accel.mapping_model._evaluate``.

Mappings are independent, so the whole batch is evaluated at once: every
scalar of the Cython loop becomes an array over the mappings, and every float
expression keeps the kernel's order of operations, so each element sees the
same IEEE operations in the same order (``float * int`` converts the int64
exactly as C converts a ``long``). The loops with factor 1, which the Cython
kernel leaves out of its flattened loop list, are kept here: they multiply by
1, add +0.0 to a sum that is >= 0 and change no reset vector, so they change
no bit. Integer sums (the reset vectors) are precomputed once per batch.

>>> import numpy as np
>>> fac = np.ones((1, 3, 7), np.int64); fac[0, 0, 1] = 4; fac[0, 2, 2] = 2   # K=4 above, C=2 on PEs
>>> out = np.empty(1), np.empty(1), np.empty(1, np.uint8)
>>> evaluate_batch(fac, np.tile(np.arange(7), (1, 2, 1)), np.ones((2, 3), np.uint8),
...                np.array([-1, -1]), np.array([10.0, 1.0]), 0, 4, 0.5, 0.25, 1, 1, *out)
>>> out[1].tolist(), out[2].tolist()                       # 4 steps, valid
([4.0], [1])
"""
from __future__ import annotations

import numpy as np

W_, I_, O_ = 0, 1, 2


def _distinct(n_sp, inner_out, step_out, f_sp, inner_f, step_f, s, d):
    rows = [(a * step_out + b) * s for a in range(n_sp) for b in range(inner_out)]
    cols = [(c * step_f + e) * d for c in range(f_sp) for e in range(inner_f)]
    return len({x + y for x in rows for y in cols})


def _window(e, f, s, d):
    if e == 1 or f == 1:
        return e * f
    if s == 1 and d <= e:
        return e + (f - 1) * d
    if d == 1 and s <= f:
        return (e - 1) * s + f
    return _distinct(e, 1, 1, f, 1, 1, s, d)


def _window_v(e, f, s, d):
    """``_window`` of every mapping; ``s`` and ``d`` are scalars or arrays like ``e``."""
    s, d = np.broadcast_to(s, e.shape), np.broadcast_to(d, e.shape)
    out = np.where((e == 1) | (f == 1), e * f,
                   np.where((s == 1) & (d <= e), e + (f - 1) * d,
                            np.where((d == 1) & (s <= f), (e - 1) * s + f, -1)))
    odd = out < 0
    if odd.any():
        rows, inv = np.unique(np.stack([e[odd], f[odd], s[odd], d[odd]], axis=1), axis=0,
                              return_inverse=True)
        vals = np.array([_window(*(int(x) for x in r)) for r in rows], dtype=np.int64)
        out[odd] = vals[inv.ravel()]
    return out


def _words_v(t, ext, s, d):
    if t == W_:
        return ext[:, 1] * ext[:, 2] * ext[:, 5] * ext[:, 6]
    if t == O_:
        return ext[:, 0] * ext[:, 1] * ext[:, 3] * ext[:, 4]
    return (ext[:, 0] * ext[:, 2] * _window_v(ext[:, 3], ext[:, 5], s, d)
            * _window_v(ext[:, 4], ext[:, 6], s, d))


def _strided_window_v(n_sp, inner_out, step_out, f_sp, inner_f, step_f, s, d):
    step_out = np.where(n_sp == 1, inner_out, step_out)
    step_f = np.where(f_sp == 1, inner_f, step_f)
    contiguous = (inner_out == step_out) & (inner_f == step_f)
    single = (inner_out == 1) & (inner_f == 1) & ~contiguous
    out = np.zeros(n_sp.shape, dtype=np.int64)
    if contiguous.any():
        out[contiguous] = _window_v(n_sp[contiguous] * inner_out[contiguous],
                                    f_sp[contiguous] * inner_f[contiguous], s, d)
    if single.any():
        out[single] = _window_v(n_sp[single], f_sp[single], s * step_out[single],
                                d * step_f[single])
    odd = ~(contiguous | single)
    if odd.any():
        args = np.stack([n_sp, inner_out, step_out, f_sp, inner_f, step_f], axis=1)[odd]
        rows, inv = np.unique(args, axis=0, return_inverse=True)
        vals = np.array([_distinct(*(int(x) for x in r), s, d) for r in rows],
                        dtype=np.int64)
        out[odd] = vals[inv.ravel()]
    return out


def _union_words_v(t, inner, sp, step, s, d):
    """Words of the union over the PEs of tiles ``inner``; the PE index is strided by ``step``."""
    ext = inner * sp
    if t != I_:
        return _words_v(t, ext, s, d)
    return (ext[:, 0] * ext[:, 2]
            * _strided_window_v(sp[:, 3], inner[:, 3], step[:, 3], sp[:, 5], inner[:, 5],
                                step[:, 5], s, d)
            * _strided_window_v(sp[:, 4], inner[:, 4], step[:, 4], sp[:, 6], inner[:, 6],
                                step[:, 6], s, d))


_VEC_DIMS = {W_: ((1, 0, 1), (2, 1, 1), (5, 2, 1), (6, 3, 1)),      # (dim, column, scale)
             O_: ((0, 0, 1), (1, 1, 1), (3, 2, 1), (4, 3, 1)),
             I_: ((0, 0, 1), (2, 1, 1), (3, 2, "s"), (5, 2, "d"), (4, 3, "s"), (6, 3, "d"))}


def _vec_v(t, ldim, lext, s, d):
    """The key vector of every loop of every mapping for tensor t: shape (loops, 4, m)."""
    v = np.zeros((ldim.shape[0], 4, ldim.shape[1]), dtype=np.int64)
    for dd, col, scale in _VEC_DIMS[t]:
        k = 1 if scale == 1 else (s if scale == "s" else d)
        v[:, col, :] = np.where(ldim == dd, lext * k, v[:, col, :])
    return v


class _LoopTables:
    """What :func:`_loads` recomputes for every level, computed once per batch.

    Arrays are loop-major, ``(loops, ..., m)``, so each loop's slice is contiguous.
    """

    def __init__(self, ldim, lf, lext, s, d):
        ldim, lext = np.ascontiguousarray(ldim.T), np.ascontiguousarray(lext.T)
        self.lf = np.ascontiguousarray(lf.T)
        self.lf1 = self.lf - 1
        n, m = self.lf.shape
        self.outer_prod = [np.ones(m)]
        for j in range(n):
            self.outer_prod.append(self.outer_prod[j] * self.lf[j])
        self.v, self.nz, self.suffix = {}, {}, {}
        for t in (W_, I_, O_):
            v = _vec_v(t, ldim, lext, s, d)
            self.v[t] = v
            self.nz[t] = (v != 0).any(axis=1)
            # suffix[j] = sum over loops j' >= j of (f - 1) * v: the reset vector (integers)
            suffix = np.zeros((n + 1, 4, m), dtype=np.int64)
            for j in range(n - 1, -1, -1):
                np.add(suffix[j + 1], self.lf1[j] * v[j], out=suffix[j])
            self.suffix[t] = suffix


def _loads_v(t, n_outer, tab):
    m = tab.lf.shape[1]
    v, nz, suffix = tab.v[t], tab.nz[t], tab.suffix[t]
    changes, dist = np.zeros(m), np.ones(m)
    for j in range(n_outer - 1, -1, -1):
        dist = np.where(nz[j], dist * tab.lf[j], dist)
        dz = (v[j] != suffix[j + 1] - suffix[n_outer]).any(axis=0)     # vs the reset before j
        changes = np.where(dz, changes + tab.outer_prod[j] * tab.lf1[j], changes)
    return changes + 1.0, dist


def _extents_v(fac, level, nlev, with_spatial, sp):
    ext = np.ones((fac.shape[0], 7), dtype=np.int64)
    for j in range(level, nlev):
        ext *= fac[:, j, :]
    if with_spatial:
        ext *= sp
    return ext


def evaluate_batch(factors, orders, keep, cap, pj, array_below, num_pes, array_pj, mac_pj,
                   stride, dilation, energy, cycles, valid):
    """Energy, cycles and validity of every mapping of the batch, written into the outputs."""
    fac = np.asarray(factors, dtype=np.int64)
    m, nlev = fac.shape[0], fac.shape[1] - 1
    if m == 0:
        return
    keep_l = np.asarray(keep).astype(bool).tolist()
    cap_l, pj_l = np.asarray(cap).tolist(), np.asarray(pj).tolist()
    ab, s, d = int(array_below), int(stride), int(dilation)
    rows = np.arange(m)[:, None]
    ldim = np.asarray(orders, dtype=np.int64).reshape(m, nlev * 7)   # every loop, outer first
    llev = np.repeat(np.arange(nlev), 7)
    lf = fac[rows, llev[None, :], ldim]
    n = nlev * 7
    sp = fac[:, nlev, :]
    pes = np.ones(m, dtype=np.int64)
    for k in range(7):
        pes *= sp[:, k]
    steps = np.ones(m)
    for j in range(n):
        steps = steps * lf[:, j]
    macs = steps * pes
    cycles[:] = steps
    # inner extents: levels below the array, then spatial, then the rest
    below = np.ones((m, 7), dtype=np.int64)
    lext = np.zeros((m, n), dtype=np.int64)
    r = rows[:, 0]
    for j in range(n - 1, -1, -1):
        if llev[j] > ab:
            lext[:, j] = below[r, ldim[:, j]]
            below[r, ldim[:, j]] *= lf[:, j]
    step = below.copy()            # the stride of the spatial index: the PE-level factors
    below *= sp
    for j in range(n - 1, -1, -1):
        if llev[j] <= ab:
            lext[:, j] = below[r, ldim[:, j]]
            below[r, ldim[:, j]] *= lf[:, j]
    # capacities
    ok = pes <= int(num_pes)
    for i in range(1, nlev):
        if cap_l[i] < 0:
            continue
        ext = _extents_v(fac, i, nlev, i <= ab, sp)
        used = np.zeros(m, dtype=np.int64)
        for t in range(3):
            if keep_l[i][t]:
                used += _words_v(t, ext, s, d)
        ok &= used <= cap_l[i]
    tables = _LoopTables(ldim, lf, lext, s, d)
    with np.errstate(all="ignore"):          # invalid mappings may overflow; they get 1e300
        acc = macs * float(mac_pj)
        arr = np.zeros(m)
        for t in range(3):
            parent = 0
            for i in range(1, nlev):
                if not keep_l[i][t]:
                    continue
                ext = _extents_v(fac, i, nlev, i <= ab, sp)
                tile = _words_v(t, ext, s, d)
                loads, distinct = _loads_v(t, 7 * i, tables)
                crossing = i > ab and parent <= ab
                if crossing:
                    side = _union_words_v(t, ext, sp, step, s, d)
                    inst = pes
                else:
                    inst = pes if i > ab else 1
                    side = tile * inst
                if t == O_:
                    refills = loads - distinct
                    acc = acc + (loads + refills) * tile * inst * pj_l[i]
                    acc = acc + (loads + refills) * side * pj_l[parent]
                    if crossing:
                        arr = arr + (loads + refills) * tile * inst
                else:
                    acc = acc + loads * tile * inst * pj_l[i]
                    acc = acc + loads * side * pj_l[parent]
                    if crossing:
                        arr = arr + loads * tile * inst
                parent = i
            if parent <= ab:
                spatial_words = _union_words_v(t, np.ones_like(sp), sp, step, s, d)
                arr = arr + macs * (2 if t == O_ else 1)
            else:
                spatial_words = pes
            acc = acc + steps * spatial_words * pj_l[parent] * (2 if t == O_ else 1)
        energy[:] = np.where(ok, acc + arr * float(array_pj), 1e300)
    valid[:] = ok
