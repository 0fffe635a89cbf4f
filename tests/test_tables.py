"""The one data-table loader and the one result table (mini_accel.tables)."""
from __future__ import annotations

import numpy as np
import pytest

from mini_accel import tables
from mini_accel.tables import Table, TableResult, format_number, read_table


@pytest.mark.parametrize("name", tables.data_files())
def test_every_shipped_table_loads_with_a_source_on_every_row(name):
    rows = read_table(name)
    assert rows, name
    assert "source" in rows[0], f"{name} has no source column"
    missing = [i for i, r in enumerate(rows) if not (r["source"] or "").strip()]
    assert not missing, f"{name}: rows {missing} have no source"


def test_columns_are_typed_and_empty_cells_are_none():
    rows = read_table("cloud_instances.csv", numbers=("usd_per_hour",), ints=("accelerators",))
    assert all(isinstance(r["accelerators"], int) for r in rows)
    assert all(r["usd_per_hour"] is None or isinstance(r["usd_per_hour"], float) for r in rows)
    assert any(r["usd_per_hour"] is None for r in rows), "an unpublished price stays empty"


def test_a_fresh_copy_each_call():
    a = read_table("devices.csv")
    a[0]["name"] = "changed"
    assert read_table("devices.csv")[0]["name"] != "changed"


@pytest.mark.parametrize("bad, kind", [("nope.csv", ValueError), (3, ValueError), ("../SOURCES.md", ValueError)])
def test_unknown_files_are_refused(bad, kind):
    with pytest.raises(kind, match="filename must be one of"):
        read_table(bad)


def test_unknown_columns_and_untyped_cells_are_refused():
    with pytest.raises(ValueError, match="has no columns"):
        read_table("devices.csv", numbers=("no_such_column",))
    with pytest.raises(ValueError, match="not a float"):
        read_table("devices.csv", numbers=("name",))


def test_a_status_must_be_made_of_the_known_marks(monkeypatch):
    good = ({"name": "a", "status": "P/S", "source": "x"}, {"name": "b", "status": "P-FLAG", "source": "y"})
    monkeypatch.setattr(tables, "_raw", lambda filename: good)
    assert [r["status"] for r in read_table("devices.csv")] == ["P/S", "P-FLAG"]
    monkeypatch.setattr(tables, "_raw", lambda filename: ({"name": "a", "status": "maybe", "source": "x"},))
    with pytest.raises(ValueError, match="status must be made of"):
        read_table("devices.csv")


def test_text_markdown_and_html_show_the_same_cells():
    t = Table(["op", "energy_pj"], [("a<b", 0.1 + 0.2), ("c", np.int64(3))], units={"energy_pj": "pJ"})
    text, md, html = t.to_text(), t.to_markdown(), t._repr_html_()
    assert "0.3" in text and "0.30000000000000004" not in text
    assert md.splitlines()[0] == "| op | energy_pj (pJ) |"
    assert "<td>a&lt;b</td>" in html and "<th>energy_pj (pJ)</th>" in html and "<td>3</td>" in html


def test_rows_must_fit_the_columns():
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        Table(["a", "b", "c"], [(1, 2)])
    with pytest.raises(ValueError, match="not in columns"):
        Table(["a"], [{"a": 1, "z": 2}])
    with pytest.raises(ValueError, match="at least one column"):
        Table([], [])


def test_numbers_read_like_numbers():
    assert format_number(2 / 3) == "0.6667"
    assert format_number(float("inf")) == "inf"
    assert format_number(np.float32(0.5)) == "0.5"
    assert format_number("text") == "text"


def _results():
    from mini_accel.design import evaluate, reference_design
    from mini_accel.energy import EnergyModel
    from mini_accel.memory import Cache, MemoryHierarchy
    from mini_accel.scratchpad import Scratchpad

    ev = evaluate(reference_design("edge"), [(8, 8, 8)])
    from mini_accel.design import check_constraints, reference_budget, reference_workload
    yield "Evaluation", ev
    yield "ConstraintReport", check_constraints(reference_design("edge"), reference_budget("edge"),
                                                *reference_workload("edge"))
    yield "EnergyReport", EnergyModel({"mac": 0.5}).report(events={"mac": 10})
    h = MemoryHierarchy([Cache("L1", 256, 16, 2)])
    yield "HierarchyStats", h.run([0, 16, 0], sizes=4)
    yield "ScratchpadResult", Scratchpad(64, 64, 64).gemm(8, 8, 8, 8, 8, 8)


@pytest.mark.parametrize("name, result", list(_results()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_result_shows_one_table_in_text_and_in_jupyterlab(name, result):
    assert isinstance(result, TableResult), name
    table = result.to_table()
    assert isinstance(table, Table) and len(table) > 0
    assert result.table().startswith(table.to_text().splitlines()[0])
    assert result._repr_html_().startswith("<table>")
