"""Reference designs, their budgets and workloads, and the capstone's design space (Lab 9).

See :mod:`mini_accel.design` for the model. :data:`REFERENCES` holds a
TPU-v1-like server design and a small edge baseline with the workload each
is scored on; :func:`reference_budget` the budget of each challenge;
:data:`DESIGN_GRID` and :func:`single_changes` the values a local search
may try.

>>> reference_workload("edge"), reference_design("edge").macs
(('mobilenet_v2', 1), 1024)
"""
from __future__ import annotations

from typing import Literal

from ._checks import UnknownName, check_instance
from .design_budget import Budget
from .design_model import PRECISIONS, Design, PriceModel, _const, _source
from .systolic import DATAFLOWS

__all__ = ["REFERENCES", "reference_design", "reference_budget", "reference_workload",
           "DESIGN_GRID", "single_changes"]

Reference = Literal["edge", "server"]


# --------------------------------------------------------------------------- #
# Reference designs, budgets and workloads
# --------------------------------------------------------------------------- #
def _tpu_v1_like() -> Design:
    from .devices import get_preset
    p = get_preset("tpu_v1")
    fifo = int(_const("tpu_v1_weight_fifo_tiles")) * p.rows * p.cols   # 8-bit weights
    return Design.from_preset(p, name="TPU-v1-like (server)", weight_buffer_bytes=fifo)


def _edge() -> Design:
    from .devices import get_device, get_preset
    side = int(_const("edge_array_side"))
    kib = int(_const("edge_buffer_kib")) * 1024
    tpu = get_preset("tpu_v1")
    return Design("edge reference", side, side, "ws", "int8", tpu.clock_hz,
                  get_device("Jetson Orin Nano 8GB (original)").bandwidth,
                  kib, kib // 4, kib // 4, double_buffer=True)


#: The reference designs: key -> (builder, budget key, workload name, batch, why).
REFERENCES = {
    "server": {
        "design": _tpu_v1_like,
        "workload": ("resnet50", 8),
        "sources": {
            "design": "devices.PRESETS['tpu_v1'] (Jouppi et al. ISCA 2017): 256x256 int8 ws, "
                      "double-buffered, 700 MHz, 34 GB/s, 24 MiB Unified Buffer (inputs), 4 MiB "
                      "accumulators (outputs); weight buffer = the 4-tile weight FIFO (256 KiB, Sec. 2)",
            "workload": "ResNet-50 at batch 8: course choice (FLAG); batch 8 is the TPU paper's "
                        "CNN0 batch (Table 1)",
        },
    },
    "edge": {
        "design": _edge,
        "workload": ("mobilenet_v2", 1),
        "sources": {
            "design": "course baseline, not a real chip (FLAG): " + _source("edge_array_side")
                      + "; " + _source("edge_buffer_kib") + "; clock 700 MHz of the TPU v1 preset; "
                      "DRAM bandwidth of the Jetson Orin Nano 8GB (devices.csv, S)",
            "workload": "MobileNetV2 at batch 1 (one camera frame): course choice (FLAG)",
        },
    },
}


def _reference(name) -> dict:
    if not isinstance(name, str):
        raise TypeError(f"name must be one of {sorted(REFERENCES)} (a string), got {type(name).__name__}")
    if name not in REFERENCES:
        raise UnknownName(f"unknown reference {name!r}; choose from {sorted(REFERENCES)}")
    return REFERENCES[name]


def reference_design(name: Reference) -> Design:
    """A reference design: ``"server"`` (TPU-v1-like) or ``"edge"`` (course baseline).

    >>> d = reference_design("server")
    >>> d.rows, d.cols, d.weight_buffer_bytes // 1024, d.input_buffer_bytes // 2**20
    (256, 256, 256, 24)
    """
    return _reference(name)["design"]()


def reference_workload(name: Reference) -> tuple:
    """``(workload name, batch)`` the reference design is scored on.

    >>> reference_workload("server")
    ('resnet50', 8)
    """
    return _reference(name)["workload"]


def reference_budget(name: Reference) -> Budget:
    """The budget of the edge or the server challenge, each limit with its basis.

    * ``"edge"``: power <= the Edge TPU's 2 W (Coral datasheet, devices.csv),
      area <= 4 mm^2 (course choice, FLAG), latency <= one frame at 30
      frames/s (course choice, FLAG).
    * ``"server"`` (a cost budget): a cost of ownership no higher than that
      of a 331 mm^2 chip drawing one TPU v1 die's share of its server's TDP
      (861 W / 4 dies, Jouppi Table 2; price model and edge_server
      defaults), area <= 331 mm^2 (the TPU v1 die is at most half of
      Haswell's 662 mm^2, Table 2), latency <= the 7 ms MLP0 deadline
      (Table 4).

    >>> round(reference_budget("server").max_tco_usd)      # 215 W x 1.57 PUE x 5 years + $9.88
    1204
    """
    from .devices import get_device
    from .edge_server import DEFAULT_DEADLINE_S, total_cost_of_ownership
    _reference(name)
    if name == "edge":
        coral = get_device("Edge TPU")
        fps = _const("edge_frame_rate_fps")
        return Budget("edge", max_power_w=coral.tdp_w, max_area_mm2=_const("edge_area_budget_mm2"),
                      max_latency_s=1.0 / fps, basis={
                          "max_power_w": f"{coral.name}: {coral.tdp_w:g} W (devices.csv; flagged: "
                                         "'using 2 watts' at 4 TOPS, not a formal TDP)",
                          "max_area_mm2": _source("edge_area_budget_mm2"),
                          "max_latency_s": _source("edge_frame_rate_fps")})
    if name == "server":
        tpu = get_device("Google TPU v1")
        area = _const("haswell_die_mm2") / 2
        watts = _const("tpu_v1_server_tdp_w") / _const("tpu_v1_dies_per_server")
        tco = total_cost_of_ownership(PriceModel().price(area), watts).total_usd
        return Budget("server", max_tco_usd=tco, max_area_mm2=area,
                      max_latency_s=DEFAULT_DEADLINE_S, basis={
                          "max_tco_usd": f"D: total_cost_of_ownership(PriceModel().price({area:g} mm^2), "
                                         f"{watts:g} W) with the edge_server defaults: no dearer to own "
                                         f"than one {tpu.name} die's share of its server at TDP "
                                         "(Jouppi et al. ISCA 2017 Table 2: 861 W, 4 dies; includes the "
                                         "host's share)",
                          "max_area_mm2": "TPU v1 die <= half the 662 mm^2 Haswell die, Jouppi et al. "
                                          "Table 2 (P; D: 331 mm^2)",
                          "max_latency_s": "MLP0 7 ms 99th-percentile limit, Jouppi et al. Table 4 (P)"})


# --------------------------------------------------------------------------- #
# The design space of the capstone (Lab 9)
# --------------------------------------------------------------------------- #
_POW2 = lambda lo, hi: tuple(2 ** k for k in range(lo, hi + 1))   # noqa: E731
#: The free parameters of a design in the Lab 9 challenge and the values each may
#: take (the explorer's sliders). Clock, DRAM bandwidth and SRAM efficiency are
#: fixed by the challenge's rules and are not in the grid.
DESIGN_GRID = {
    "rows": _POW2(2, 9),
    "cols": _POW2(2, 9),
    "dataflow": DATAFLOWS,
    "precision": PRECISIONS,
    "input_buffer_bytes": tuple(1024 * k for k in _POW2(4, 15)),     # 16 KiB .. 32 MiB
    "weight_buffer_bytes": tuple(1024 * k for k in _POW2(4, 13)),    # 16 KiB .. 8 MiB
    "output_buffer_bytes": tuple(1024 * k for k in _POW2(4, 13)),
    "double_buffer": (False, True),
}


def single_changes(design: Design, grid: dict | None = None):
    """Every design one step away: one parameter set to another value of ``grid``.

    Yields ``(parameter, value, new_design)`` in the grid's order (default
    :data:`DESIGN_GRID`); values the :class:`Design` refuses (e.g. a buffer
    too small for double buffering) are skipped. A local search evaluates
    these neighbours and moves to the best one that meets the budget.

    >>> moves = list(single_changes(reference_design("edge")))
    >>> len(moves), moves[0][:2]
    (50, ('rows', 4))
    """
    check_instance("design", design, Design)
    grid = DESIGN_GRID if grid is None else grid
    if not isinstance(grid, dict) or not grid:
        raise TypeError("grid must be a non-empty dict {parameter: values}, e.g. DESIGN_GRID")
    unknown = set(grid) - set(Design.__dataclass_fields__)
    if unknown:
        raise ValueError(f"grid has unknown parameter(s) {sorted(unknown)}; a Design has "
                         f"{sorted(Design.__dataclass_fields__)}")
    for param, values in grid.items():
        if isinstance(values, str) or not isinstance(values, (tuple, list, range)):
            raise TypeError(f"grid[{param!r}] must be a tuple or list of values, got "
                            f"{type(values).__name__} ({values!r})")
        for value in values:
            if getattr(design, param) == value:
                continue
            try:
                new = design.replace(**{param: value})
            except ValueError:
                continue
            yield param, value, new
