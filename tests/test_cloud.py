"""mini_accel.cloud: the instance table, and cost per million against a slow reference."""
from __future__ import annotations

import csv
import re
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_accel.cloud import (
    PRICINGS,
    cheapest,
    chip_prices,
    compare_instances,
    find_instances,
    get_instance,
    load_instances,
    serve,
    usd_per_million,
)
from mini_accel.devices import get_device
from mini_accel.workloads import get_workload

ROWS = list(csv.DictReader(resources.files("mini_accel").joinpath("data", "cloud_instances.csv")
                           .open(encoding="utf-8")))


def test_every_price_has_a_date_and_a_source_and_flags_are_honest():
    providers = {r["provider"] for r in ROWS}
    assert {"AWS", "Google Cloud", "Microsoft Azure", "Oracle Cloud", "Lambda"} <= providers
    names = " ".join(r["instance"] for r in ROWS)
    for family in ("inf2", "trn1", "g5", "p4d", "p5", "TPU v5e", "TPU v5p", "ND96", "Maia", "BM.GPU"):
        assert family in names, family
    for r in ROWS:
        assert r["status"] in ("P", "S", "FLAG") and len(r["source"]) > 40, r["instance"]
        if r["usd_per_hour"]:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["price_date"]), r["instance"]
            assert float(r["usd_per_hour"]) > 0
        if r["status"] == "FLAG":
            assert "FLAG" in r["source"], r["instance"]       # the source says why
            assert not r["usd_per_hour"], f"{r['instance']}: a FLAG row keeps no price (no estimates)"
        else:
            assert r["usd_per_hour"], f"{r['instance']}: a row without a price must be FLAG"
            assert "est." not in r["source"] or "removed" in r["source"], r["instance"]
        if r["status"] == "P":                               # the provider's own page, quoted
            assert r["provider"].split()[0] in r["source"] and "'" in r["source"], r["instance"]
        if r["device"]:
            get_device(r["device"])                          # names a real catalog row
    assert all(not i.priced for i in load_instances() if i.status == "FLAG")


def _reference_cost(price, items_per_s, util):
    seconds_paid = 1e6 / (items_per_s * util)     # seconds of instance time per million served
    return price * seconds_paid / 3600


@settings(max_examples=100, deadline=None)
@given(st.floats(0.01, 200), st.floats(1e-3, 1e9), st.floats(0.01, 1.0))
def test_usd_per_million_matches_a_reference(price, rate, util):
    assert usd_per_million(price, rate, util) == pytest.approx(_reference_cost(price, rate, util), rel=1e-12)


@pytest.mark.parametrize("args, exc", [((0, 1.0), ValueError), ((1.0, -1), ValueError),
                                       ((1.0, 1.0, 0.0), ValueError), ((1.0, 1.0, 1.5), ValueError),
                                       (("1", 1.0), TypeError)])
def test_usd_per_million_refuses_bad_input(args, exc):
    with pytest.raises(exc):
        usd_per_million(*args)


def _brute_max_batch(model, deadline):
    b = 0
    while model.latency(b + 1) <= deadline:
        b += 1
    return b


def test_serve_against_the_batch_model_by_hand():
    from mini_accel.edge_server import BatchModel
    inst = get_instance("BM.GPU.A100-v2.8")
    r = serve(inst, "bert_base", deadline_s=7e-3, precision="int8", utilization=0.5)
    m = BatchModel.from_workload("bert_base", get_device("A100 SXM4 80GB"), precision="int8")
    b = _brute_max_batch(m, 7e-3)
    assert r["batch"] == b
    items = 8 * b / m.latency(b)
    assert r["items_per_s"] == pytest.approx(items)
    assert r["usd_per_million"] == pytest.approx(_reference_cost(32.0, items, 0.5))


def test_bandwidth_override_for_the_40gb_a100():
    p4d = get_instance("p4d.24xlarge")
    assert p4d.roofline("bf16").bandwidth == 1555e9
    assert get_instance("BM.GPU.A100-v2.8").roofline("bf16").bandwidth == 2039e9


def test_cost_drivers_move_the_cost_the_right_way():
    kw = {"deadline_s": 50e-3, "activations": "all"}
    base = serve("BM.GPU.H100.8", "gpt2_small_decode", precision="bf16", utilization=0.6,
                 bytes_per_element=2, **kw)
    half = serve("BM.GPU.H100.8", "gpt2_small_decode", precision="bf16", utilization=0.3,
                 bytes_per_element=2, **kw)
    assert half["usd_per_million"] == pytest.approx(2 * base["usd_per_million"])     # utilization
    int8 = serve("BM.GPU.H100.8", "gpt2_small_decode", precision="int8", utilization=0.6,
                 bytes_per_element=1, **kw)
    assert int8["usd_per_million"] < base["usd_per_million"]    # fewer bytes per weight: memory bound
    spot = serve("BM.GPU.H100.8", "gpt2_small_decode", precision="bf16", utilization=0.6,
                 bytes_per_element=2, pricing="spot", **kw)
    assert spot["usd_per_million"] == pytest.approx(0.5 * base["usd_per_million"])
    slow = serve("BM.GPU.H100.8", "bert_base", deadline_s=7e-3, precision="bf16", efficiency=0.25)
    fast = serve("BM.GPU.H100.8", "bert_base", deadline_s=7e-3, precision="bf16", efficiency=1.0)
    assert slow["usd_per_million"] > fast["usd_per_million"]      # software that reaches less of the peak
    tight = serve("BM.GPU.H100.8", "bert_base", deadline_s=1e-5, precision="bf16")   # weights alone: 33 us
    assert "deadline" in tight["error"]


def test_an_unpriced_instance_raises_a_value_error_naming_it():
    for inst in find_instances(priced=False):
        with pytest.raises(ValueError, match=re.escape(inst.name)):
            inst.price()
        with pytest.raises(ValueError, match=re.escape(inst.name)):
            _ = inst.usd_per_chip_hour
        r = serve(inst, "bert_base", deadline_s=7e-3, precision="bf16")
        assert "error" in r and "usd_per_million" not in r
    maia = get_instance("Maia 100 (no public instance)")
    assert maia.usd_per_hour is None and "not published" in maia.source
    with pytest.raises(ValueError, match="pricing"):
        serve("p5.48xlarge", "bert_base", deadline_s=7e-3, pricing="cheap")   # a bad argument is not a row


def test_chip_prices_is_the_cheapest_sourced_offer_of_each_catalog_chip():
    want = {}                                            # slow reference over the raw CSV rows
    for r in ROWS:
        if r["status"] in ("P", "S") and r["usd_per_hour"] and r["device"] and not r["accel_bw_gbs"]:
            per_chip = float(r["usd_per_hour"]) / int(r["accelerators"])
            if r["device"] not in want or per_chip < want[r["device"]][0]:
                want[r["device"]] = (per_chip, r["instance"])
    got = chip_prices()
    assert set(got) == set(want)
    for device, (price, source) in got.items():
        assert price == pytest.approx(want[device][0], rel=1e-12)
        assert want[device][1] in source and re.search(r"\d{4}-\d{2}-\d{2}", source)
    assert "NVIDIA A100 SXM4 80GB" in got and "p4d" not in got["NVIDIA A100 SXM4 80GB"][1]   # 40 GB chips


def test_llm_serving_prices_are_a_read_only_view_of_the_table():
    from mini_accel.llm_serving import PRICES, Deployment
    assert dict(PRICES) == chip_prices()
    with pytest.raises(TypeError):
        PRICES["NVIDIA H100 SXM5 80GB"] = (0.0, "made up")
    dep = Deployment("Llama-2-7B", "H100 SXM5", count=2)
    assert dep.usd_per_hour() == pytest.approx(2 * chip_prices()["NVIDIA H100 SXM5 80GB"][0])
    from mini_accel.llm_sim import _prices
    assert _prices() is PRICES


def test_rows_without_a_cost_say_why():
    assert "no sourced price" in serve("ND96isr H100 v5", "bert_base", deadline_s=7e-3)["error"]
    assert "no catalog row" in serve("g5.xlarge", "bert_base", deadline_s=7e-3)["error"]
    assert "no published reserved_1y" in serve("trn1.32xlarge", "bert_base", deadline_s=7e-3,
                                                pricing="reserved_1y")["error"]
    with pytest.raises(ValueError, match="pricing"):
        get_instance("trn1.32xlarge").price("cheap")
    # A model too big for one accelerator's memory: GPT-2 decode at fp32 with a 1e6-token cache fits,
    # but BERT-base with 400-byte "elements" (44 GB of weights) does not fit a 32 GB Trainium chip.
    big = serve("trn1.32xlarge", get_workload("bert_base"), deadline_s=1.0, bytes_per_element=400)
    assert big["weights_fit"] is False and "do not fit" in big["error"]
    assert set(PRICINGS) == {"on_demand", "reserved_1y", "reserved_3y", "spot"}


def test_compare_and_cheapest_with_the_tie_rule():
    rows = compare_instances("bert_base", deadline_s=7e-3, precision="int8", utilization=0.3)
    costs = [r["usd_per_million"] for r in rows if "error" not in r]
    assert costs == sorted(costs) and len(costs) == len(find_instances(priced=True, modelled=True))
    assert cheapest(rows)["instance"] == rows[0]["instance"]
    tie = [{"instance": "b", "usd_per_million": 1.0, "accelerators": 8},
           {"instance": "c", "usd_per_million": 1.0, "accelerators": 1},
           {"instance": "a", "usd_per_million": 1.0, "accelerators": 1},
           {"instance": "z", "error": "no price"}]
    assert cheapest(tie)["instance"] == "a"
    assert cheapest([{"instance": "z", "error": "x"}]) is None
