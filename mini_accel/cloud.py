"""Cloud accelerator instances and what an inference costs on them.

The table ``mini_accel/data/cloud_instances.csv`` lists instances of AWS
(Inf2, Trn1, G5, P4d, P5), Google Cloud (TPU v5e, v5p), Microsoft Azure
(ND-series; Maia, which has no public instance) and Oracle Cloud (GPU
shapes): the accelerator and its catalog row, how many, their memory, the
on-demand price per hour in one region with its date and source, and the
reserved or spot discount where one was found. **Prices change**: every
price carries the date it was read. ``status`` is P (the provider's price
page), S (a secondary page quoting the list price) or FLAG (no usable
source: the price is blank or known to be stale, and the row is never used
for a cost).

Cost of an inference (:func:`usd_per_million`)::

    USD per million = usd_per_hour / (items_per_s x utilization x 3600) x 1e6

An instance is paid for every hour it is up; it serves only while busy
(``utilization``). :func:`serve` gets ``items_per_s`` from the roofline
batch model (:class:`~mini_accel.edge_server.BatchModel`) of one
accelerator at the largest batch that meets a latency deadline, times the
accelerators of the instance. The cost drivers a buyer weighs are the
arguments: ``utilization``, the deadline (it caps the batch), ``precision``
(the peak used: int8, bf16, ...), ``efficiency`` (the fraction of the peak
the software stack really reaches: CUDA, Neuron and XLA differ by model),
and the pricing (on demand, reserved, spot). For a decode step an
"inference" is one token, so the cost is per million tokens.

>>> from mini_accel.cloud import usd_per_million, get_instance
>>> usd_per_million(3.6, 1000.0)               # $3.60 an hour, 1000 items/s, busy all the time
1.0
>>> inst = get_instance("trn1.32xlarge")
>>> inst.accelerators, inst.usd_per_hour, inst.priced
(16, 21.5, True)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ._checks import fraction, positive_number

__all__ = ["Instance", "PRICINGS", "load_instances", "get_instance", "find_instances",
           "usd_per_million", "serve", "compare_instances", "cheapest"]

#: Pricing options: the CSV column holding the discount in percent (None: on demand).
PRICINGS = {"on_demand": None, "reserved_1y": "reserved_1y_pct", "reserved_3y": "reserved_3y_pct",
            "spot": "spot_pct"}


def _num(text):
    text = (text or "").strip()
    return float(text) if text else None


@dataclass(frozen=True)
class Instance:
    """One row of ``cloud_instances.csv`` (missing numbers are None)."""

    provider: str
    name: str
    accelerator: str
    device_name: str | None
    accelerators: int | None
    accel_memory_gb: float | None      # all accelerators of the instance together
    accel_bw_gbs: float | None         # per accelerator, when it differs from the catalog row
    region: str
    usd_per_hour: float | None
    price_date: str
    discounts_pct: dict
    software: str
    status: str
    source: str

    @property
    def priced(self) -> bool:
        """Whether the row has a sourced price (status not FLAG)."""
        return self.usd_per_hour is not None and self.status != "FLAG"

    def price(self, pricing: str = "on_demand") -> float:
        """USD per hour under ``pricing`` (see :data:`PRICINGS`); KeyError if not published."""
        if pricing not in PRICINGS:
            raise ValueError(f"pricing must be one of {tuple(PRICINGS)}, got {pricing!r}")
        if not self.priced:
            raise KeyError(f"{self.name} has no sourced price (status {self.status}); read its source")
        if PRICINGS[pricing] is None:
            return self.usd_per_hour
        pct = self.discounts_pct.get(pricing)
        if pct is None:
            raise KeyError(f"{self.name}: no published {pricing} discount in the table")
        return self.usd_per_hour * (1 - pct / 100)

    def device(self):
        """The catalog :class:`~mini_accel.devices.Device` of one accelerator (None if it has none)."""
        from .devices import get_device
        return get_device(self.device_name) if self.device_name else None

    def roofline(self, precision: str | None = None):
        """Roofline of one accelerator (the instance's bandwidth override applied)."""
        dev = self.device()
        if dev is None:
            raise KeyError(f"{self.accelerator} ({self.name}) has no catalog row, so no roofline")
        roof = dev.roofline(precision)
        if self.accel_bw_gbs is not None:
            roof = roof.with_bandwidth(self.accel_bw_gbs * 1e9, name=f"{self.accelerator} ({self.name})")
        return roof


def _row(r: dict) -> Instance:
    count = _num(r["accelerators"])
    return Instance(
        provider=r["provider"], name=r["instance"], accelerator=r["accelerator"],
        device_name=r["device"] or None, accelerators=int(count) if count else None,
        accel_memory_gb=_num(r["accel_memory_gb"]), accel_bw_gbs=_num(r["accel_bw_gbs"]),
        region=r["region"], usd_per_hour=_num(r["usd_per_hour"]), price_date=r["price_date"],
        discounts_pct={k: _num(r[col]) for k, col in PRICINGS.items() if col and _num(r[col]) is not None},
        software=r["software"], status=r["status"], source=r["source"])


@functools.lru_cache(maxsize=1)
def _table() -> tuple:
    from .devices import read_data_table
    return read_data_table("cloud_instances.csv", _row)


def load_instances() -> list:
    """Every instance of the table, in file order."""
    return list(_table())


def get_instance(name: str) -> Instance:
    """An instance by its exact name (``"p4d.24xlarge"``, ``"BM.GPU.H100.8"``, ...)."""
    for inst in _table():
        if inst.name == name:
            return inst
    raise KeyError(f"no instance {name!r}; names are {[i.name for i in _table()]}")


def find_instances(*, provider: str | None = None, priced: bool | None = None,
                   modelled: bool | None = None) -> list:
    """Instances matching every filter (``modelled``: has a catalog device, so a roofline).

    >>> sorted({i.provider for i in find_instances(priced=True)})
    ['AWS', 'Oracle Cloud']
    """
    out = []
    for inst in _table():
        if provider is not None and provider.lower() not in inst.provider.lower():
            continue
        if priced is not None and inst.priced != priced:
            continue
        if modelled is not None and (inst.device_name is not None) != modelled:
            continue
        out.append(inst)
    return out


def usd_per_million(usd_per_hour, items_per_s, utilization=1.0) -> float:
    """USD per million items for an instance paid every hour and busy ``utilization`` of it.

    >>> round(usd_per_million(21.5, 50_000, utilization=0.5), 4)     # 21.5 / (25,000 x 3600) x 1e6
    0.2389
    """
    price = positive_number("usd_per_hour", usd_per_hour)
    rate = positive_number("items_per_s", items_per_s)
    util = fraction("utilization", utilization, allow_zero=False)
    return price / (rate * util * 3600.0) * 1e6


def serve(instance, workload, *, deadline_s: float, precision: str | None = None,
          utilization: float = 1.0, efficiency: float = 1.0, bytes_per_element: float = 1.0,
          activations: str = "on_chip", pricing: str = "on_demand") -> dict:
    """Batch, throughput and cost of ``workload`` on every accelerator of ``instance``.

    Each accelerator runs its own copy of the model (data parallel) at the
    largest batch within ``deadline_s``. Returns a dict with ``batch``,
    ``latency_s``, ``items_per_s`` (whole instance), ``usd_per_hour``,
    ``usd_per_million``, ``bound``, ``weights_fit`` (the weights fit one
    accelerator's memory); or ``error`` saying why there is no cost
    (no sourced price, no catalog device, no peak at ``precision``, the
    weights do not fit, batch 1 misses the deadline).
    """
    from .edge_server import BatchModel
    if isinstance(instance, str):
        instance = get_instance(instance)
    deadline_s = positive_number("deadline_s", deadline_s)
    row = {"instance": instance.name, "provider": instance.provider, "accelerator": instance.accelerator,
           "software": instance.software, "status": instance.status}
    try:
        price = instance.price(pricing)
        roof = instance.roofline(precision)
    except KeyError as exc:
        return {**row, "error": str(exc).strip("'\"")}
    model = BatchModel.from_workload(workload, roof, bytes_per_element=bytes_per_element,
                                     activations=activations, efficiency=efficiency)
    per_accel_gb = (instance.accel_memory_gb or 0) / (instance.accelerators or 1)
    fits = model.weight_bytes <= per_accel_gb * 1e9 if instance.accel_memory_gb else True
    if not fits:
        return {**row, "error": f"the weights ({model.weight_bytes / 1e9:.1f} GB) do not fit one "
                                f"accelerator's {per_accel_gb:.0f} GB", "weights_fit": False}
    batch = model.max_batch(deadline_s)
    if batch == 0:
        return {**row, "error": f"batch 1 takes {model.latency(1) * 1e3:.3g} ms, over the deadline"}
    items = instance.accelerators * model.throughput(batch)
    return {**row, "batch": batch, "latency_s": model.latency(batch), "items_per_s": items,
            "usd_per_hour": price, "usd_per_million": usd_per_million(price, items, utilization),
            "bound": model.bound(batch), "weights_fit": True, "precision": roof.precision}


def cheapest(rows) -> dict | None:
    """The row with the lowest ``usd_per_million`` (the tie rule below), or None.

    Rows with an ``error`` are skipped. Ties (equal cost) go to the
    instance with fewer accelerators, then to the alphabetically first name.
    """
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["usd_per_million"], r.get("accelerators", 0), r["instance"]))


def compare_instances(workload, instances=None, **kwargs) -> list:
    """:func:`serve` on every instance (default: the whole table), cheapest first, errors last.

    >>> rows = compare_instances("bert_base", deadline_s=7e-3, precision="bf16", bytes_per_element=2)
    >>> rows[0]["instance"] in {i.name for i in find_instances(priced=True, modelled=True)}
    True
    """
    instances = load_instances() if instances is None else [
        get_instance(i) if isinstance(i, str) else i for i in instances]
    rows = []
    for inst in instances:
        r = serve(inst, workload, **kwargs)
        r["accelerators"] = inst.accelerators
        rows.append(r)
    return sorted(rows, key=lambda r: ("error" in r, r.get("usd_per_million", 0.0),
                                       r["accelerators"] or 0, r["instance"]))
