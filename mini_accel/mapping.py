"""Loop-nest mappings onto a spatial accelerator: the public face of two modules.

* :mod:`mini_accel.mapping_model`: a layer as seven loops (:class:`ConvLayer`),
  storage levels and a PE array (:class:`Architecture`), a :class:`Mapping`
  (tiling factors, loop orders, spatial unrolling, bypass), its validity
  (:func:`violations`) and its exact per-level, per-tensor access counts,
  cycles and energy (:func:`evaluate`).
* :mod:`mini_accel.mapper`: the dataflows (WS, OS, IS, NLR, RS) as mapping
  constraints and a mapper (:func:`search`) that evaluates mappings in
  batches with a Cython kernel.

>>> from mini_accel.mapping import ConvLayer, Architecture, search
>>> layer = ConvLayer(N=1, K=8, C=4, P=8, Q=8, R=3, S=3)
>>> arch = Architecture.eyeriss_like(num_pes=16, rf_words=64, buffer_words=4096)
>>> best = search(layer, arch, "rs", samples=3000, seed=0)
>>> best.result.macs == layer.macs, best.result.counts["DRAM"]["I"]["reads"] == layer.tensor_words()["I"]
(True, True)
"""
from __future__ import annotations

from .mapper import (
    DATAFLOWS,
    OBJECTIVES,
    Dataflow,
    SearchResult,
    compare_dataflows,
    dataflow_violations,
    decode,
    encode,
    evaluate_many,
    mapspace_size,
    search,
)
from .mapping_model import (
    DIMS,
    RELEVANT,
    TENSORS,
    Architecture,
    ConvLayer,
    Level,
    Mapping,
    MappingResult,
    check_mapping,
    evaluate,
    violations,
)

__all__ = [
    "DIMS", "TENSORS", "RELEVANT", "ConvLayer", "Level", "Architecture", "Mapping",
    "MappingResult", "violations", "check_mapping", "evaluate", "DATAFLOWS", "OBJECTIVES",
    "Dataflow", "SearchResult", "search", "compare_dataflows", "dataflow_violations",
    "encode", "decode", "evaluate_many", "mapspace_size",
]
