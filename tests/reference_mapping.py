"""Brute-force execution of a mapped loop nest, counting every access level by level.

Slow and obvious on purpose: it runs every MAC of every PE in loop order,
keeps the actual set of elements each level holds for each PE, and counts a
load whenever that set changes. ``mini_accel.mapping_model.evaluate`` must give
the same numbers with closed-form reuse arithmetic.
"""
from __future__ import annotations

import itertools

DIMS = ("N", "K", "C", "P", "Q", "R", "S")
TENSORS = ("W", "I", "O")


def _coords(t, x, stride, dilation):
    n, k, c, p, q, r, s = x
    if t == "W":
        return (k, c, r, s)
    if t == "O":
        return (n, k, p, q)
    return (n, c, p * stride + r * dilation, q * stride + s * dilation)


def brute_force(layer, arch, mapping):
    """Counts with the layout of ``MappingResult``: (macs, cycles, counts, array)."""
    b = arch.array_below
    names = [lv.name for lv in arch.levels]
    nlev = len(names)
    # the full nest, outer to inner: (kind, level, dim, factor); kind 't' temporal, 's' spatial
    nest = []
    for i in range(nlev):
        for d in mapping.order[i]:
            f = mapping.temporal[i].get(d, 1)
            if f > 1:
                nest.append(("t", i, d, f))
        if i == b:
            for d in DIMS:
                f = mapping.spatial.get(d, 1)
                if f > 1:
                    nest.append(("s", i, d, f))
    temporal = [j for j, x in enumerate(nest) if x[0] == "t"]
    spatial = [j for j, x in enumerate(nest) if x[0] == "s"]

    def point(digits):
        idx = dict.fromkeys(DIMS, 0)
        for (_, _, d, f), v in zip(nest, digits):
            idx[d] = idx[d] * f + v
        return tuple(idx[d] for d in DIMS)

    def inside(j, level):
        """Whether nest position j is inside the tile of ``level``."""
        kind, lev, _, _ = nest[j]
        if kind == "s":
            return level <= b
        return lev >= level

    def tile(t, level, tdig, sdig):
        digits = [0] * len(nest)
        for j, v in zip(temporal, tdig):
            digits[j] = v
        for j, v in zip(spatial, sdig):
            digits[j] = v
        free = [j for j in range(len(nest)) if inside(j, level)]
        out = set()
        for combo in itertools.product(*(range(nest[j][3]) for j in free)):
            for j, v in zip(free, combo):
                digits[j] = v
            out.add(_coords(t, point(digits), layer.stride, layer.dilation))
        return frozenset(out)

    pes = list(itertools.product(*(range(nest[j][3]) for j in spatial)))
    counts = {n: {t: {"reads": 0, "fills": 0, "updates": 0} for t in TENSORS} for n in names}
    array = dict.fromkeys(TENSORS, 0)
    kept = {t: [i for i in range(nlev) if t in mapping.keep[i]] for t in TENSORS}
    parent_of = {t: {l: kept[t][k - 1] for k, l in enumerate(kept[t]) if k > 0} for t in TENSORS}
    insts = {l: (pes if l > b else [None]) for l in range(nlev)}
    current = {(t, l, pe): None for t in TENSORS for l in range(1, nlev) for pe in insts[l]}
    visited = {key: set() for key in current}

    def group(l, m, pe):
        """The parent instance that serves instance ``pe`` of level l."""
        return pe if (l > b and m > b) else None

    def drain(t, l, pes_changed):
        m = parent_of[t][l]
        unions = {}
        for pe in pes_changed:
            old = current[(t, l, pe)]
            counts[names[l]][t]["reads"] += len(old)
            unions.setdefault(group(l, m, pe), set()).update(old)
            if l > b >= m:
                array[t] += len(old)
        for u in unions.values():
            counts[names[m]][t]["updates"] += len(u)

    steps = 0
    for tdig in itertools.product(*(range(nest[j][3]) for j in temporal)):
        steps += 1
        for t in TENSORS:
            for l in kept[t][1:]:
                m = parent_of[t][l]
                new = {pe: tile(t, l, tdig, () if pe is None else pe) for pe in insts[l]}
                changed = [pe for pe in insts[l] if new[pe] != current[(t, l, pe)]]
                if not changed:
                    continue
                if t == "O":
                    drain(t, l, [pe for pe in changed if current[(t, l, pe)] is not None])
                unions = {}
                for pe in changed:
                    data = new[pe]
                    if t == "O" and data not in visited[(t, l, pe)]:
                        data = frozenset()        # first visit: starts at zero, nothing to read
                    visited[(t, l, pe)].add(new[pe])
                    counts[names[l]][t]["fills"] += len(data)
                    unions.setdefault(group(l, m, pe), set()).update(data)
                    if l > b >= m:
                        array[t] += len(data)
                    current[(t, l, pe)] = new[pe]
                for u in unions.values():
                    counts[names[m]][t]["reads"] += len(u)
        # the MACs of this step, one per PE
        for t in TENSORS:
            m = kept[t][-1]
            elems = {}
            for pe in pes:
                digits = [0] * len(nest)
                for j, v in zip(temporal, tdig):
                    digits[j] = v
                for j, v in zip(spatial, pe):
                    digits[j] = v
                e = _coords(t, point(digits), layer.stride, layer.dilation)
                elems.setdefault(group(nlev, m, pe) if m > b else None, set()).add((pe, e) if m > b else e)
                if m <= b:
                    array[t] += 2 if t == "O" else 1
            n_acc = sum(len(v) for v in elems.values())
            counts[names[m]][t]["reads"] += n_acc
            if t == "O":
                counts[names[m]][t]["updates"] += n_acc
    for t in ("O",):
        for l in sorted(kept[t][1:], reverse=True):
            drain(t, l, [pe for pe in insts[l] if current[(t, l, pe)] is not None])
    for n in names:
        for t in TENSORS:
            c = counts[n][t]
            c["writes"] = c["fills"] + c["updates"]
    return steps * len(pes), steps, counts, array


def all_macs(layer, mapping, arch):
    """Every (n, k, c, p, q, r, s) the mapping executes, with multiplicity (must be each once)."""
    b = arch.array_below
    nest = []
    for i in range(len(arch.levels)):
        for d in mapping.order[i]:
            f = mapping.temporal[i].get(d, 1)
            if f > 1:
                nest.append((d, f))
        if i == b:
            nest += [(d, mapping.spatial[d]) for d in DIMS if mapping.spatial.get(d, 1) > 1]
    seen = {}
    for digits in itertools.product(*(range(f) for _, f in nest)):
        idx = dict.fromkeys(DIMS, 0)
        for (d, f), v in zip(nest, digits):
            idx[d] = idx[d] * f + v
        key = tuple(idx[d] for d in DIMS)
        seen[key] = seen.get(key, 0) + 1
    return seen
