"""Cloud accelerator instances and what an inference costs on them.

The table ``mini_accel/data/cloud_instances.csv`` lists instances of AWS
(Inf2, Trn1, G5, P4d, P5), Google Cloud (TPU v5e, v5p), Microsoft Azure
(ND-series; Maia, which has no public instance), Oracle Cloud (GPU
shapes) and Lambda (a per-GPU offer): the accelerator and its catalog row, how many, their memory, the
on-demand price per hour in one region with its date and source, and the
reserved or spot discount where one was found. **Prices change**: every
price carries the date it was published or read. ``status`` is P (the
provider's own published price), S (a secondary page quoting the list price) or FLAG (no usable
source: the price is blank or known to be stale, and the row is never used
for a cost; asking for its price raises ``ValueError`` naming the instance).
It is the course's one price table: :func:`chip_prices` derives the
per-chip prices that :data:`mini_accel.llm_serving.PRICES` shows.

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

from ._checks import UnknownName, check_instance, check_option, fraction, positive_number
from .tables import read_table

__all__ = ["Instance", "PRICINGS", "load_instances", "get_instance", "find_instances",
           "usd_per_million", "serve", "compare_instances", "cheapest", "chip_prices"]

#: Pricing options: the CSV column holding the discount in percent (None: on demand).
PRICINGS = {"on_demand": None, "reserved_1y": "reserved_1y_pct", "reserved_3y": "reserved_3y_pct",
            "spot": "spot_pct"}


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
        """USD per hour under ``pricing`` (see :data:`PRICINGS`).

        Raises ValueError naming the instance when the table has no sourced
        price for it (status FLAG or a blank price) or no published discount
        for ``pricing``.

        >>> get_instance("ND96isr H100 v5").price()
        Traceback (most recent call last):
        ...
        ValueError: ND96isr H100 v5 has no sourced price (status FLAG); see its source or pass a price
        """
        pricing = _check_pricing(pricing)
        if not self.priced:
            raise ValueError(f"{self.name} has no sourced price (status {self.status}); see its source or "
                             f"pass a price")
        if PRICINGS[pricing] is None:
            return self.usd_per_hour
        pct = self.discounts_pct.get(pricing)
        if pct is None:
            raise ValueError(f"{self.name}: no published {pricing} discount in the table; use pricing='on_demand'")
        return self.usd_per_hour * (1 - pct / 100)

    @property
    def usd_per_chip_hour(self) -> float:
        """On-demand USD per accelerator-hour (ValueError when unpriced, like :meth:`price`)."""
        return self.price() / (self.accelerators or 1)

    def device(self):
        """The catalog :class:`~mini_accel.devices.Device` of one accelerator (None if it has none)."""
        from .devices import get_device
        return get_device(self.device_name) if self.device_name else None

    def roofline(self, precision: str | None = None):
        """Roofline of one accelerator (the instance's bandwidth override applied)."""
        dev = self.device()
        if dev is None:
            raise UnknownName(f"{self.accelerator} ({self.name}) has no catalog row, so no roofline")
        roof = dev.roofline(precision)
        if self.accel_bw_gbs is not None:
            roof = roof.with_bandwidth(self.accel_bw_gbs * 1e9, name=f"{self.accelerator} ({self.name})")
        return roof


def _check_pricing(pricing) -> str:
    return check_option("pricing", pricing, tuple(PRICINGS))


def _row(r: dict) -> Instance:
    return Instance(
        provider=r["provider"], name=r["instance"], accelerator=r["accelerator"],
        device_name=r["device"] or None, accelerators=r["accelerators"],
        accel_memory_gb=r["accel_memory_gb"], accel_bw_gbs=r["accel_bw_gbs"],
        region=r["region"], usd_per_hour=r["usd_per_hour"], price_date=r["price_date"],
        discounts_pct={k: r[col] for k, col in PRICINGS.items() if col and r[col] is not None},
        software=r["software"], status=r["status"], source=r["source"])


@functools.cache
def _table() -> tuple:
    rows = read_table("cloud_instances.csv", ints=("accelerators",),
                      numbers=("accel_memory_gb", "accel_bw_gbs", "usd_per_hour", *filter(None, PRICINGS.values())))
    return tuple(_row(r) for r in rows)


def load_instances() -> list:
    """Every instance of the table, in file order."""
    return list(_table())


def get_instance(name: str) -> Instance:
    """An instance by its exact name (``"p4d.24xlarge"``, ``"BM.GPU.H100.8"``, ...)."""
    check_instance("name", name, str, what="an instance name (a string)")
    for inst in _table():
        if inst.name == name:
            return inst
    raise UnknownName(f"name must be one of {[i.name for i in _table()]}, got {name!r}")


def find_instances(*, provider: str | None = None, priced: bool | None = None,
                   modelled: bool | None = None) -> list:
    """Instances matching every filter (``modelled``: has a catalog device, so a roofline).

    >>> sorted({i.provider for i in find_instances(priced=True)})
    ['AWS', 'Lambda', 'Oracle Cloud']
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
    pricing = _check_pricing(pricing)
    row = {"instance": instance.name, "provider": instance.provider, "accelerator": instance.accelerator,
           "software": instance.software, "status": instance.status}
    try:
        price = instance.price(pricing)
        roof = instance.roofline(precision)
    except (KeyError, ValueError) as exc:
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


def chip_prices() -> dict:
    """Per catalog device, the cheapest sourced on-demand price per chip-hour in the table.

    Returns ``{device_name: (usd_per_chip_hour, source)}``. A row counts when
    it has a sourced price (status P or S) and its accelerators are the
    catalog chip itself (no ``accel_bw_gbs`` override: the 40 GB A100s of
    p4d.24xlarge are not the 80 GB catalog row). Among those the cheapest
    per chip wins (ties: the first row of the file), because a buyer rents
    the cheapest listed offer of a chip; the costs computed from these
    prices are therefore the low end of what the clouds charge. ``source``
    names the row, its date and status, then the row's own source text.

    >>> price, source = chip_prices()["NVIDIA H100 SXM5 80GB"]
    >>> price, source.split(":")[0]
    (2.49, 'Lambda, Lambda 1x H100 (on demand)')
    """
    best = {}
    for inst in _table():
        if not inst.priced or inst.device_name is None or inst.accel_bw_gbs is not None:
            continue
        per_chip = inst.usd_per_chip_hour
        if inst.device_name not in best or per_chip < best[inst.device_name][0]:
            source = (f"{inst.provider}, {inst.name}: ${inst.usd_per_hour:g}/h for {inst.accelerators} = "
                      f"${per_chip:.4g} per chip-hour on demand (status {inst.status}, {inst.price_date}); "
                      f"the cheapest sourced offer of this chip in cloud_instances.csv. {inst.source}")
            best[inst.device_name] = (per_chip, source)
    return best
