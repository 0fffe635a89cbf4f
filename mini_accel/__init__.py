"""mini_accel: a small, fast, documented library for reasoning about AI accelerators.

The hot loops are private Cython kernels in ``mini_accel._core``; everything
public validates its inputs and documents its model.

>>> import numpy as np, mini_accel as ma
>>> A = np.arange(6, dtype=np.int8).reshape(2, 3); B = np.ones((3, 2), np.int8)
>>> res = ma.SystolicArray(4, 4).matmul(A, B)
>>> res.output.tolist(), res.cycles
([[3, 3], [12, 12]], 12)

The modules, one job each (all but ``systolic`` load on first use, so
``import mini_accel`` stays light and never imports matplotlib):

=================  ============================================================
``systolic``       the MAC array: exact GEMMs, cycles, traffic, per-cycle trace
``memory``         set-associative cache hierarchy in front of DRAM
``scratchpad``     explicitly managed on-chip buffers for a tiled GEMM
``traces``         address traces of GEMMs, convolutions and scans
``energy``         energy tables with sources, energy models and reports
``quant``          number formats, quantizers, calibrators, integer arithmetic
``ptq``            post-training quantization of a trained MLP
``nn``             layers as GEMMs, MAC counting, a tiny trainable MLP
``datasets``       the bundled handwritten-digits data set
``workloads``      layer shapes of real networks (ResNet-50, BERT, TPU apps)
``devices``        catalog of real accelerators and simulator presets
``roofline``       roofline models and operational intensity
``edge_server``    batch size, latency, energy per inference, cost of ownership
``design``         accelerator designs: time, energy, area, cost, budgets
``analog``         analog in-memory MACs with noise and few-bit converters
``viz``            matplotlib figures and ipywidgets explorers
``llm``            LLMs as GEMMs: model catalog, FLOPs, bytes, KV cache
``llm_decoder``    a tiny numpy decoder with and without a KV cache
``llm_serving``    TTFT/TPOT on real chips, batch limits, parallelism, cost
``llm_sim``        a seeded serving simulator (static/continuous, paged KV)
``viz_llm``        figures and explorers for LLM serving
``mapping``        loop-nest mappings on a spatial array: exact access counts, mapper
``sparsity``       pruning (unstructured, 2:4), compressed formats, 2:4 on the array
``viz_mapping``    figures and the mapping explorer
``training``       backward GEMMs on the array, MLP training in fp32/bf16/fp16
``training_memory`` training memory (ZeRO), 6ND compute, MFU, all-reduce, plans
``viz_training``   figures and the ZeRO explorer for training
=================  ============================================================
"""
from __future__ import annotations

import importlib

# The kernels come from ``mini_accel._core.load``: the compiled Cython core, else
# its pure-numpy twin with one RuntimeWarning that says how to get the compiled
# one (importing ``systolic`` below picks the first).
from .systolic import (  # noqa: E402
    DATAFLOWS,
    SystolicArray,
    SystolicResult,
    SystolicTrace,
    systolic_cycles,
    systolic_folds,
    systolic_traffic,
)

_SUBMODULES = (
    "systolic", "memory", "scratchpad", "traces", "energy", "formats", "quantizers",
    "calibration", "requant", "mixed_precision", "quant", "ptq", "nn", "datasets",
    "workloads", "devices", "roofline", "edge_server", "design", "analog", "viz",
    "measure", "cloud", "viz_measure",
    "llm", "llm_decoder", "llm_serving", "llm_sim", "viz_llm",
    "mapping", "mapping_model", "mapper", "sparsity", "viz_mapping",
    "training", "training_memory", "viz_training",
    "nn_layers", "nn_activations", "nn_counting", "nn_training", "viz_energy", "viz_systolic",
)

# Public names that live in a lazily loaded module (PEP 562).
_LAZY_NAMES = {
    "memory": ("Cache", "DRAM", "MemoryHierarchy", "HierarchyStats", "LevelStats",
               "DRAMStats", "classify_misses"),
    "scratchpad": ("Scratchpad", "ScratchpadResult", "LOOP_ORDERS"),
    "traces": ("Trace",),
    "energy": ("EnergyModel", "EnergyReport"),
    "quant": ("QParams", "qparams_minmax", "qparams_from_range", "quantize", "dequantize",
              "fake_quant", "calibrate", "format_info", "round_to_format", "IntegerLinear",
              "integer_matmul"),
    "datasets": ("load_digits", "holdout_split", "train_test_split"),
    "nn": ("Sequential", "Dense", "Conv2d", "GemmShape", "train_mlp"),
    "workloads": ("get_workload",),
    "devices": ("get_device", "find_devices", "get_preset"),
    "roofline": ("Roofline",),
    "edge_server": ("BatchModel", "total_cost_of_ownership"),
    "design": ("Design", "Budget", "PriceModel", "check_constraints", "reference_design",
               "reference_budget"),
    "analog": ("analog_matmul", "analog_accuracy"),
    "llm": ("LLMConfig",),
    "llm_decoder": ("TinyDecoder",),
    "llm_serving": ("Deployment",),
    "mapping": ("ConvLayer", "Mapping"),
    "sparsity": ("prune_n_m", "sparse_24_matmul"),
    "training": ("dense_backward", "conv2d_backward", "train_mlp_formats"),
    "training_memory": ("zero_bytes_per_chip", "plan_training"),
}
_NAME_TO_MODULE = {name: mod for mod, names in _LAZY_NAMES.items() for name in names}
_RENAMED = {
    "load_energy_table": ("energy", "load_table"),
    "evaluate_design": ("design", "evaluate"),
    "score_design": ("design", "score"),
}


def _version() -> str:
    """The one version string, pyproject.toml's, from the installed metadata."""
    from importlib import metadata  # read lazily: slow to import

    try:
        return metadata.version("mini_accel")
    except metadata.PackageNotFoundError:    # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _NAME_TO_MODULE:
        value = getattr(importlib.import_module(f".{_NAME_TO_MODULE[name]}", __name__), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
    else:
        raise AttributeError(f"module 'mini_accel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_NAME_TO_MODULE) | set(_RENAMED))


__all__ = [
    "DATAFLOWS", "SystolicArray", "SystolicResult", "SystolicTrace",
    "systolic_cycles", "systolic_folds", "systolic_traffic",
    *_NAME_TO_MODULE, *_RENAMED,
]
