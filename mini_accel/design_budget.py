"""Budgets a design must meet, the check against them, and the score against a reference.

See :mod:`mini_accel.design` for the model. A :class:`Budget` is a set of
limits (power, area, price, cost of ownership, latency, throughput, energy);
:func:`check_constraints` says which hold, with the numbers, and
:func:`score` compares an evaluation with a reference evaluation.

>>> from mini_accel.design import reference_design
>>> check_constraints(reference_design("edge"), Budget("chip", max_area_mm2=10.0)).ok
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._checks import check_instance, check_number
from .design_eval import Evaluation, evaluate
from .design_model import Design, PriceModel
from .tables import Table, TableResult

__all__ = ["Budget", "ConstraintCheck", "ConstraintReport", "check_constraints", "score"]


# --------------------------------------------------------------------------- #
# Budgets
# --------------------------------------------------------------------------- #
_LIMITS = (
    # field, metric on Evaluation, unit, "max" or "min"
    ("max_power_w", "power_w", "W", "max"),
    ("max_area_mm2", "area_mm2", "mm^2", "max"),
    ("max_price_usd", "price_usd", "USD", "max"),
    ("max_tco_usd", "tco_usd", "USD", "max"),
    ("max_latency_s", "latency_s", "s", "max"),
    ("min_throughput_ips", "throughput_ips", "inferences/s", "min"),
    ("max_energy_per_inference_j", "energy_per_inference_j", "J", "max"),
)
_NEEDS_WORKLOAD = {"power_w", "tco_usd", "latency_s", "throughput_ips", "energy_per_inference_j"}


@dataclass(frozen=True)
class Budget:
    """Limits a design must meet; ``None`` means no limit.

    ``max_tco_usd`` is the total cost of ownership over its years
    (:func:`mini_accel.edge_server.total_cost_of_ownership` with the
    evaluation's options). ``basis`` records where each limit comes from.

    >>> from mini_accel.design import reference_design
    >>> b = Budget("tiny", max_area_mm2=1.0)
    >>> check_constraints(reference_design("edge"), b).ok
    False
    """

    name: str
    max_power_w: float | None = None
    max_area_mm2: float | None = None
    max_price_usd: float | None = None
    max_tco_usd: float | None = None
    max_latency_s: float | None = None
    min_throughput_ips: float | None = None
    max_energy_per_inference_j: float | None = None
    basis: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        limits = 0
        for attr, *_ in _LIMITS:
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, check_number(attr, value, low=0, closed="neither"))
                limits += 1
        if not limits:
            raise ValueError("a Budget needs at least one limit (e.g. max_power_w=2.0)")
        if not isinstance(self.basis, dict):
            raise TypeError(f"basis must be a dict of limit -> source, got {type(self.basis).__name__}")

    def limits(self) -> dict:
        """The limits that are set, by field name.

        >>> Budget("b", max_power_w=2, max_area_mm2=4).limits()
        {'max_power_w': 2.0, 'max_area_mm2': 4.0}
        """
        return {attr: getattr(self, attr) for attr, *_ in _LIMITS if getattr(self, attr) is not None}


@dataclass(frozen=True)
class ConstraintCheck:
    """One limit: the value reached, the limit, and whether it holds.

    >>> print(ConstraintCheck("max_power_w", 1.5, 2.0, "W", True))
    ok   max_power_w: 1.5 W <= 2 W
    """

    constraint: str
    value: float
    limit: float
    unit: str
    ok: bool

    def __str__(self) -> str:
        sign = "<=" if self.constraint.startswith("max") else ">="
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.constraint}: {self.value:.4g} {self.unit} {sign} {self.limit:.4g} {self.unit}"


@dataclass(frozen=True)
class ConstraintReport(TableResult):
    """The outcome of :func:`check_constraints` (a table in JupyterLab).

    >>> rep = ConstraintReport("mine", "b", (ConstraintCheck("max_area_mm2", 5.0, 4.0, "mm^2", False),))
    >>> rep.ok, rep.failed
    (False, ['max_area_mm2'])
    """

    design: str
    budget: str
    checks: tuple

    @property
    def ok(self) -> bool:
        """True when every limit holds."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list:
        return [c.constraint for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {c.constraint: {"value": c.value, "limit": c.limit, "unit": c.unit, "ok": c.ok}
                for c in self.checks}

    def __str__(self) -> str:
        verdict = "all limits hold" if self.ok else "FAILS " + ", ".join(self.failed)
        head = f"{self.design} vs budget {self.budget}: {verdict}"
        return "\n".join([head, *(f"  {c}" for c in self.checks)])

    def to_table(self) -> Table:
        """The checks as a :class:`~mini_accel.tables.Table` (``table()`` is its text).

        >>> rep = ConstraintReport("mine", "b", (ConstraintCheck("max_area_mm2", 5.0, 4.0, "mm^2", False),))
        >>> print(rep.table())
        mine vs budget b
        constraint    value  limit  unit  ok
        ------------  -----  -----  ----  -----
        max_area_mm2      5      4  mm^2  False
        """
        rows = [(c.constraint, c.value, c.limit, c.unit, str(c.ok)) for c in self.checks]
        return Table(["constraint", "value", "limit", "unit", "ok"], rows,
                     title=f"{self.design} vs budget {self.budget}")


def check_constraints(design, budget: Budget, workload=None, batch: int | None = None,
                      **evaluate_options) -> ConstraintReport:
    """Which limits of ``budget`` the design meets, with the numbers.

    ``design`` is an :class:`Evaluation` (from :func:`evaluate`), or a
    :class:`Design` plus a ``workload`` (and ``batch``) to evaluate it on.
    Area and price need no workload; power, latency, throughput, energy and
    cost of ownership do.

    >>> from mini_accel.design import reference_budget, reference_design, reference_workload
    >>> rep = check_constraints(reference_design("edge"), reference_budget("edge"),
    ...                         *reference_workload("edge"))
    >>> rep.ok, [c.constraint for c in rep.checks]
    (True, ['max_power_w', 'max_area_mm2', 'max_latency_s'])
    """
    check_instance("budget", budget, Budget)
    if isinstance(design, Evaluation):
        if workload is not None:
            raise TypeError("design is already an Evaluation: do not pass a workload too")
        ev, d = design, design.design
    elif isinstance(design, Design):
        d = design
        ev = evaluate(design, workload, batch, **evaluate_options) if workload is not None else None
    else:
        raise TypeError(f"design must be a Design or an Evaluation, got {type(design).__name__}")
    checks = []
    for attr, metric, unit, kind in _LIMITS:
        limit = getattr(budget, attr)
        if limit is None:
            continue
        if metric in _NEEDS_WORKLOAD and ev is None:
            raise ValueError(f"budget {budget.name!r} limits {attr}, which depends on the workload: "
                             "pass workload= (and batch=) or an Evaluation")
        if metric == "area_mm2":
            value = d.area_mm2
        elif metric == "price_usd":
            value = (ev.price_model if ev is not None else
                     evaluate_options.get("price_model") or PriceModel()).price(d.area_mm2)
        elif metric == "tco_usd":
            value = ev.tco.total_usd
        else:
            value = getattr(ev, metric)
        ok = value <= limit if kind == "max" else value >= limit
        checks.append(ConstraintCheck(attr, float(value), limit, unit, bool(ok)))
    return ConstraintReport(d.name, budget.name, tuple(checks))


def score(evaluation: Evaluation, reference: Evaluation) -> dict:
    """How a design compares with a reference on the same workload (> 1: better).

    * ``energy_gain`` = reference energy per inference / this one's,
    * ``throughput_per_watt_gain``, ``throughput_per_usd_gain`` (chip price),
    * ``tco_gain`` = reference cost of ownership per inference / this one's,
    * ``speedup`` = reference latency / this one's.

    >>> from mini_accel.design import reference_design, reference_workload
    >>> ev = evaluate(reference_design("edge"), *reference_workload("edge"))
    >>> score(ev, ev)["energy_gain"]
    1.0
    """
    for name, ev in (("evaluation", evaluation), ("reference", reference)):
        if not isinstance(ev, Evaluation):
            raise TypeError(f"{name} must be an Evaluation from evaluate(), got {type(ev).__name__}")
    if evaluation.workload != reference.workload or evaluation.batch != reference.batch:
        raise ValueError(f"compare designs on the same workload and batch: {evaluation.workload!r} "
                         f"batch {evaluation.batch} vs {reference.workload!r} batch {reference.batch}")
    e, r = evaluation, reference
    return {
        "energy_gain": r.energy_per_inference_j / e.energy_per_inference_j,
        "throughput_per_watt_gain": e.throughput_per_watt / r.throughput_per_watt,
        "throughput_per_usd_gain": (e.throughput_per_usd / r.throughput_per_usd
                                    if math.isfinite(r.throughput_per_usd) else math.nan),
        "tco_gain": r.usd_per_million_inferences / e.usd_per_million_inferences,
        "speedup": r.latency_s / e.latency_s,
    }
