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


cdef inline long _window(long e, long f, long s, long d) noexcept nogil:
    cdef long n, p, r, span
    cdef char* seen
    if e == 1 or f == 1:
        return e * f
    if s == 1 and d <= e:
        return e + (f - 1) * d
    if d == 1 and s <= f:
        return (e - 1) * s + f
    span = (e - 1) * s + (f - 1) * d + 1
    seen = <char*>malloc(span)
    if seen == NULL:
        return span
    memset(seen, 0, span)
    n = 0
    for p in range(e):
        for r in range(f):
            if seen[p * s + r * d] == 0:
                seen[p * s + r * d] = 1
                n += 1
    free(seen)
    return n


cdef inline long _words(long t, long* ext, long s, long d) noexcept nogil:
    # ext order: N K C P Q R S
    if t == W_:
        return ext[1] * ext[2] * ext[5] * ext[6]
    if t == O_:
        return ext[0] * ext[1] * ext[3] * ext[4]
    return ext[0] * ext[2] * _window(ext[3], ext[5], s, d) * _window(ext[4], ext[6], s, d)


cdef inline void _vec(long t, long dim, long e, long s, long d, long* v) noexcept nogil:
    v[0] = 0; v[1] = 0; v[2] = 0; v[3] = 0
    if t == W_:      # k c r s
        if dim == 1: v[0] = e
        elif dim == 2: v[1] = e
        elif dim == 5: v[2] = e
        elif dim == 6: v[3] = e
    elif t == O_:    # n k p q
        if dim == 0: v[0] = e
        elif dim == 1: v[1] = e
        elif dim == 3: v[2] = e
        elif dim == 4: v[3] = e
    else:            # n c h w
        if dim == 0: v[0] = e
        elif dim == 2: v[1] = e
        elif dim == 3: v[2] = e * s
        elif dim == 5: v[2] = e * d
        elif dim == 4: v[3] = e * s
        elif dim == 6: v[3] = e * d


cdef inline void _loads(long t, long n_outer, long* ldim, long* lf, long* lext, long s, long d,
                        double* loads, double* distinct) noexcept nogil:
    cdef long j, k
    cdef long v[4]
    cdef long reset[4]
    cdef double outer_prod[MAXLOOPS + 1]
    cdef double changes = 0.0, dist = 1.0
    cdef bint nz, dz
    reset[0] = 0; reset[1] = 0; reset[2] = 0; reset[3] = 0
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
    cdef long n_above[16]
    cdef double steps, macs, e, acc, loads, distinct, refills, spatial_words, arr
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
                        ldim[n] = dim; llev[n] = i; lf[n] = f
                        n += 1
            pes = 1
            for k in range(7):
                below[k] = 1
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
                        for k in range(7):
                            ext[k] *= sp[k]
                        side = _words(t, ext, stride, dilation)
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
                    spatial_words = _words(t, sp, stride, dilation)
                    arr += macs * (2 if t == O_ else 1)
                else:
                    spatial_words = pes
                acc += steps * spatial_words * pj[parent] * (2 if t == O_ else 1)
            energy[m] = acc + arr * array_pj
