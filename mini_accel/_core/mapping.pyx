# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Batch evaluation of loop-nest mappings (private: no validation here).

The same arithmetic as ``mini_accel.mapping_model._evaluate`` (read that
first: it is the documented, readable version), for many mappings at once so
that the mapper can search quickly. Encoding, for mapping m:

* ``factors[m, i, d]``: factor of dimension d (N K C P Q R S) at level i;
  row ``nlev`` holds the spatial factors.
* ``orders[m, i, k]``: the dimension at position k (outer to inner) of level i.
* ``keep[i, t]`` (shared by the batch): whether level i keeps tensor t (W I O).
* ``cap[i]``: capacity in words, -1 for unbounded; ``pj[i]``: energy per access.

Outputs per mapping: energy, cycles, and ``valid`` (0 when a capacity or the
PE count is exceeded; the energy is then left at +inf).
"""
from libc.stdlib cimport malloc, free
from libc.string cimport memset

cdef enum:
    MAXLOOPS = 64
    W_ = 0
    I_ = 1
    O_ = 2


cdef long _distinct(long n_sp, long inner_out, long step_out, long f_sp, long inner_f,
                    long step_f, long s, long d) noexcept nogil:
    # distinct (a*step_out + b)*s + (c*step_f + e)*d, a < n_sp, b < inner_out, c < f_sp,
    # e < inner_f, counted on a bitmap (at most the span if it cannot be allocated)
    cdef long a, b, c, e, x, n, span
    cdef char* seen
    span = ((n_sp - 1) * step_out + inner_out - 1) * s + ((f_sp - 1) * step_f + inner_f - 1) * d + 1
    seen = <char*>malloc(span)
    if seen == NULL:
        return span
    memset(seen, 0, span)
    n = 0
    for a in range(n_sp):
        for b in range(inner_out):
            for c in range(f_sp):
                for e in range(inner_f):
                    x = (a * step_out + b) * s + (c * step_f + e) * d
                    if seen[x] == 0:
                        seen[x] = 1
                        n += 1
    free(seen)
    return n


cdef inline long _window(long e, long f, long s, long d) noexcept nogil:
    if e == 1 or f == 1:
        return e * f
    if s == 1 and d <= e:
        return e + (f - 1) * d
    if d == 1 and s <= f:
        return (e - 1) * s + f
    return _distinct(e, 1, 1, f, 1, 1, s, d)


cdef inline long _words(long t, long* ext, long s, long d) noexcept nogil:
    # ext order: N K C P Q R S
    if t == W_:
        return ext[1] * ext[2] * ext[5] * ext[6]
    if t == O_:
        return ext[0] * ext[1] * ext[3] * ext[4]
    return ext[0] * ext[2] * _window(ext[3], ext[5], s, d) * _window(ext[4], ext[6], s, d)


cdef inline long _strided_window(long n_sp, long inner_out, long step_out, long f_sp,
                                 long inner_f, long step_f, long s, long d) noexcept nogil:
    # the rows of a tile united over the PEs, whose index is strided by ``step``
    # (mapping_model._strided_window)
    if n_sp == 1:
        step_out = inner_out
    if f_sp == 1:
        step_f = inner_f
    if inner_out == step_out and inner_f == step_f:
        return _window(n_sp * inner_out, f_sp * inner_f, s, d)
    if inner_out == 1 and inner_f == 1:
        return _window(n_sp, f_sp, s * step_out, d * step_f)
    return _distinct(n_sp, inner_out, step_out, f_sp, inner_f, step_f, s, d)


cdef inline long _union_words(long t, long* inner, long* sp, long* step, long s,
                              long d) noexcept nogil:
    # words of the union over the PEs of a tile of extents ``inner`` below the array; the
    # PE index of each dimension is strided by ``step``, its factors at all PE levels
    cdef long ext[7]
    cdef long k
    for k in range(7):
        ext[k] = inner[k] * sp[k]
    if t != I_:
        return _words(t, ext, s, d)
    return (ext[0] * ext[2]
            * _strided_window(sp[3], inner[3], step[3], sp[5], inner[5], step[5], s, d)
            * _strided_window(sp[4], inner[4], step[4], sp[6], inner[6], step[6], s, d))


# Coordinate slot of each dimension (N K C P Q R S) in each tensor's tile key, -1 if the
# tensor does not depend on it: W (k, c, r, s), I (n, c, h, w), O (n, k, p, q). An input
# row is h = p*stride + r*dilation, a column w = q*stride + s*dilation.
cdef long _SLOT[3][7]
_SLOT[W_][:] = [-1, 0, 1, -1, -1, 2, 3]
_SLOT[I_][:] = [0, -1, 1, 2, 3, 2, 3]
_SLOT[O_][:] = [0, 1, -1, 2, 3, -1, -1]


cdef inline void _vec(long t, long dim, long e, long s, long d, long* v) noexcept nogil:
    cdef long k, slot = _SLOT[t][dim]
    for k in range(4):
        v[k] = 0
    if slot < 0:
        return
    if t == I_ and (dim == 3 or dim == 4):
        v[slot] = e * s
    elif t == I_ and dim >= 5:
        v[slot] = e * d
    else:
        v[slot] = e


cdef inline void _loads(long t, long n_outer, long* ldim, long* lf, long* lext, long s, long d,
                        double* loads, double* distinct) noexcept nogil:
    cdef long j, k
    cdef long v[4]
    cdef long reset[4]
    cdef double outer_prod[MAXLOOPS + 1]
    cdef double changes = 0.0, dist = 1.0
    cdef bint nz, dz
    for k in range(4):
        reset[k] = 0
    outer_prod[0] = 1.0
    for j in range(n_outer):
        outer_prod[j + 1] = outer_prod[j] * lf[j]
    j = n_outer - 1
    while j >= 0:
        _vec(t, ldim[j], lext[j], s, d, v)
        nz = v[0] != 0 or v[1] != 0 or v[2] != 0 or v[3] != 0
        if nz:
            dist *= lf[j]
        dz = (v[0] != reset[0]) or (v[1] != reset[1]) or (v[2] != reset[2]) or (v[3] != reset[3])
        if dz:
            changes += outer_prod[j] * (lf[j] - 1)
        for k in range(4):
            reset[k] += (lf[j] - 1) * v[k]
        j -= 1
    loads[0] = changes + 1.0
    distinct[0] = dist


cdef inline void _extents(const long[:, :, ::1] factors, Py_ssize_t m, long level, long nlev,
                          bint with_spatial, long* sp, long* ext) noexcept nogil:
    # the product of each dimension's factors at ``level`` and below (and across the PEs)
    cdef long k, j
    for k in range(7):
        ext[k] = 1
        for j in range(level, nlev):
            ext[k] *= factors[m, j, k]
        if with_spatial:
            ext[k] *= sp[k]


def evaluate_batch(const long[:, :, ::1] factors, const long[:, :, ::1] orders,
                   const unsigned char[:, ::1] keep, const long[::1] cap, const double[::1] pj,
                   long array_below, long num_pes, double array_pj, double mac_pj,
                   long stride, long dilation,
                   double[::1] energy, double[::1] cycles, unsigned char[::1] valid):
    cdef Py_ssize_t nmap = factors.shape[0], m
    cdef long nlev = factors.shape[1] - 1
    cdef long i, k, dim, f, t, n, j, parent, pes, tile, side, used, inst
    cdef bint crossing
    cdef long ldim[MAXLOOPS]
    cdef long llev[MAXLOOPS]
    cdef long lf[MAXLOOPS]
    cdef long lext[MAXLOOPS]
    cdef long below[7]
    cdef long ext[7]
    cdef long sp[7]
    cdef long one[7]
    cdef long step[7]
    cdef long n_above[16]
    cdef double steps, macs, acc, loads, distinct, refills, spatial_words, arr
    cdef bint ok
    with nogil:
        for m in range(nmap):
            # flatten the temporal loops
            n = 0
            for i in range(nlev):
                n_above[i] = n
                for k in range(7):
                    dim = orders[m, i, k]
                    f = factors[m, i, dim]
                    if f > 1:
                        ldim[n] = dim
                        llev[n] = i
                        lf[n] = f
                        n += 1
            pes = 1
            for k in range(7):
                below[k] = 1
                one[k] = 1
                sp[k] = factors[m, nlev, k]
                pes *= sp[k]
            steps = 1.0
            for j in range(n):
                steps *= lf[j]
            macs = steps * pes
            cycles[m] = steps
            # inner extents: levels below the array, then spatial, then the rest
            j = n - 1
            while j >= 0:
                if llev[j] > array_below:
                    lext[j] = below[ldim[j]]
                    below[ldim[j]] *= lf[j]
                j -= 1
            for k in range(7):
                step[k] = below[k]       # the stride of the spatial index: the PE-level factors
                below[k] *= sp[k]
            j = n - 1
            while j >= 0:
                if llev[j] <= array_below:
                    lext[j] = below[ldim[j]]
                    below[ldim[j]] *= lf[j]
                j -= 1
            # capacities
            ok = pes <= num_pes
            for i in range(1, nlev):
                if not ok:
                    break
                if cap[i] < 0:
                    continue
                _extents(factors, m, i, nlev, i <= array_below, sp, ext)
                used = 0
                for t in range(3):
                    if keep[i, t]:
                        used += _words(t, ext, stride, dilation)
                if used > cap[i]:
                    ok = False
            valid[m] = ok
            if not ok:
                energy[m] = 1e300
                continue
            acc = macs * mac_pj
            arr = 0.0
            for t in range(3):
                parent = 0
                for i in range(1, nlev):
                    if not keep[i, t]:
                        continue
                    _extents(factors, m, i, nlev, i <= array_below, sp, ext)
                    tile = _words(t, ext, stride, dilation)
                    _loads(t, n_above[i], ldim, lf, lext, stride, dilation, &loads, &distinct)
                    if i > array_below and parent <= array_below:
                        side = _union_words(t, ext, sp, step, stride, dilation)
                        inst = pes
                        crossing = 1
                    else:
                        inst = pes if i > array_below else 1
                        side = tile * inst
                        crossing = 0
                    if t == O_:
                        refills = loads - distinct
                        acc += (loads + refills) * tile * inst * pj[i]
                        acc += (loads + refills) * side * pj[parent]
                        if crossing:
                            arr += (loads + refills) * tile * inst
                    else:
                        acc += loads * tile * inst * pj[i]
                        acc += loads * side * pj[parent]
                        if crossing:
                            arr += loads * tile * inst
                    parent = i
                if parent <= array_below:
                    spatial_words = _union_words(t, one, sp, step, stride, dilation)
                    arr += macs * (2 if t == O_ else 1)
                else:
                    spatial_words = pes
                acc += steps * spatial_words * pj[parent] * (2 if t == O_ else 1)
            energy[m] = acc + arr * array_pj
