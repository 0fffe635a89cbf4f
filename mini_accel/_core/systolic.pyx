# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Cycle-level kernels of a systolic MAC array (private: no validation here).

The public wrapper ``mini_accel.systolic`` checks shapes, dtypes and sizes,
allocates every buffer, and turns the counts returned here into a timeline.

How the kernels walk time
-------------------------
In a systolic array the value held by a register at cycle t is fixed by the
skew: in a weight-stationary fold, PE(i, j) multiplies activation row
m = t - i - j (counted from the first streaming cycle) by its weight, and adds
the partial sum PE(i-1, j) produced one cycle earlier.  Instead of copying
every register every cycle, the kernels loop over cycles t, over the rows i
that are busy at t, and over the columns j on the wavefront, and update the
partial sum of (m, j) in place.  Each PE therefore does at most one MAC per
cycle, every partial sum moves down one row per cycle, and the order of the
additions is exactly that of the hardware (top row first).  Partial sums are
stored skewed, ``psum[m + j, j]``, so the innermost loop is contiguous.

Integer operands are int32 and accumulate modulo 2**32 (two's complement
wrap-around, computed in unsigned arithmetic so C has no undefined overflow).
"""
from libc.stdint cimport int32_t, uint32_t

ctypedef fused num_t:
    int32_t
    float
    double


cdef inline num_t _mac(num_t acc, num_t a, num_t b) noexcept nogil:
    if num_t is int32_t:
        return <int32_t>(<uint32_t>acc + <uint32_t>a * <uint32_t>b)
    else:
        return acc + a * b


cdef inline num_t _add(num_t x, num_t y) noexcept nogil:
    if num_t is int32_t:
        return <int32_t>(<uint32_t>x + <uint32_t>y)
    else:
        return x + y


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _max(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


def stationary_matmul(const num_t[:, ::1] X, const num_t[:, ::1] W,
                      num_t[:, ::1] out, num_t[:, ::1] x_rev,
                      num_t[:, ::1] psum, Py_ssize_t R, Py_ssize_t C):
    """out += X @ W on an R x C array that holds W stationary (WS; IS on transposes).

    X: (T, K) streamed operand, one row per cycle; W: (K, N) stationary
    operand, cut into R x C tiles (folds): N-tiles outer, K-tiles inner.
    Scratch: x_rev (R, T), psum (T + C - 1, C).  ``out`` must start at zero.
    Returns the number of wavefront cycles walked, sum over folds of
    T + r + c - 2 (r x c = the fold's real tile).
    """
    cdef Py_ssize_t T = X.shape[0], K = X.shape[1], N = W.shape[1]
    cdef Py_ssize_t nf, kf, n0, k0, r, c, i, j, p, d, t, m, ilo, ihi, jlo, jhi
    cdef Py_ssize_t walked = 0
    cdef num_t* prow
    cdef const num_t* xrow
    cdef const num_t* wrow
    with nogil:
        for nf in range((N + C - 1) // C):
            n0 = nf * C
            c = _min(C, N - n0)
            for kf in range((K + R - 1) // R):
                k0 = kf * R
                r = _min(R, K - k0)
                # Stage the fold's slice of X, transposed and reversed in time,
                # so that row i's operand for diagonal d is x_rev[i, T-1-d+j].
                for i in range(r):
                    for p in range(T):
                        x_rev[i, p] = X[T - 1 - p, k0 + i]
                for d in range(T + c - 1):
                    for j in range(c):
                        psum[d, j] = 0
                for t in range(T + r + c - 2):
                    ilo = _max(0, t - (T + c - 2))
                    ihi = _min(r - 1, t)
                    for i in range(ilo, ihi + 1):
                        d = t - i                      # d = m + j on this row
                        jlo = _max(0, d - T + 1)
                        jhi = _min(c - 1, d)
                        prow = &psum[d, jlo]
                        xrow = &x_rev[i, T - 1 - d + jlo]
                        wrow = &W[k0 + i, n0 + jlo]
                        for j in range(jhi - jlo + 1):
                            prow[j] = _mac(prow[j], xrow[j], wrow[j])
                walked += T + r + c - 2
                # The bottom row hands each finished partial sum to its accumulator.
                for m in range(T):
                    for j in range(c):
                        out[m, n0 + j] = _add(out[m, n0 + j], psum[m + j, j])
    return walked


def output_stationary_matmul(const num_t[:, ::1] A, const num_t[:, ::1] B,
                             num_t[:, ::1] out, num_t[:, ::1] a_rev,
                             num_t[:, ::1] b_skew, num_t[:, ::1] acc,
                             Py_ssize_t R, Py_ssize_t C):
    """out = A @ B on an R x C output-stationary array.

    A: (M, K) enters from the left, B: (K, N) from the top, both skewed; PE(i, j)
    owns out[m0 + i, n0 + j].  Folds: N-tiles outer, M-tiles inner.
    Scratch: a_rev (M, K), b_skew (K + C - 1, C), acc (R, C).
    Returns the number of wavefront cycles walked, sum over folds of
    K + r + c - 2.
    """
    cdef Py_ssize_t M = A.shape[0], K = A.shape[1], N = B.shape[1]
    cdef Py_ssize_t nf, mf, n0, m0, r, c, i, j, q, d, t, ilo, ihi, jlo, jhi
    cdef Py_ssize_t walked = 0
    cdef num_t* arow_acc
    cdef const num_t* arow
    cdef const num_t* brow
    with nogil:
        for i in range(M):
            for q in range(K):
                a_rev[i, q] = A[i, K - 1 - q]
        for nf in range((N + C - 1) // C):
            n0 = nf * C
            c = _min(C, N - n0)
            # Column j of the fold receives B[k, n0 + j] at diagonal d = k + j.
            for d in range(K + c - 1):
                for j in range(c):
                    if 0 <= d - j < K:
                        b_skew[d, j] = B[d - j, n0 + j]
                    else:
                        b_skew[d, j] = 0
            for mf in range((M + R - 1) // R):
                m0 = mf * R
                r = _min(R, M - m0)
                for i in range(r):
                    for j in range(c):
                        acc[i, j] = 0
                for t in range(K + r + c - 2):
                    ilo = _max(0, t - (K + c - 2))
                    ihi = _min(r - 1, t)
                    for i in range(ilo, ihi + 1):
                        d = t - i                      # d = k + j on this row
                        jlo = _max(0, d - K + 1)
                        jhi = _min(c - 1, d)
                        arow_acc = &acc[i, jlo]
                        arow = &a_rev[m0 + i, K - 1 - d + jlo]
                        brow = &b_skew[d, jlo]
                        for j in range(jhi - jlo + 1):
                            arow_acc[j] = _mac(arow_acc[j], arow[j], brow[j])
                walked += K + r + c - 2
                for i in range(r):
                    for j in range(c):
                        out[m0 + i, n0 + j] = acc[i, j]
    return walked
