"""Charts: every axis has a unit, money stacks add up, layouts are responsive."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from condivisa.engines.indicators import ShiftWindow
from condivisa.kernel.timegrid import ROME
from condivisa.outputs import charts
from condivisa.outputs.kpis import Kpis


def _flows(hours: int) -> pd.DataFrame:
    idx = pd.date_range("2024-06-03", periods=hours, freq="h", tz=ROME)
    one = np.ones(hours)
    return pd.DataFrame(
        {
            "withdrawn_kwh": 2 * one,
            "injected_kwh": 3 * one,
            "shared_kwh": 2 * one,
            "spare_kwh": one,
            "member_withdrawn_kwh": 0.5 * one,
            "member_shared_kwh": 0.5 * one,
        },
        index=idx,
    )


def _axis_titles(fig) -> list[str]:
    layout = fig.to_plotly_json()["layout"]
    # an x axis shared with the panel below shows no tick labels and needs no title
    return [
        v.get("title", {}).get("text", "")
        for k, v in layout.items()
        if k.startswith(("xaxis", "yaxis")) and v.get("showticklabels", True)
    ]


def _assert_units(fig):
    for title in _axis_titles(fig):
        assert title, f"an axis has no title: {_axis_titles(fig)}"
    ytitles = [
        v["title"]["text"]
        for k, v in fig.to_plotly_json()["layout"].items()
        if k.startswith("yaxis") and "title" in v
    ]
    assert all(any(u in t for u in ("kWh", "€", "%")) for t in ytitles), ytitles


def test_flows_hourly_for_a_day_daily_for_a_month():
    day = charts.flows_figure(_flows(24), "en")
    assert all(tr.type == "scatter" for tr in day.data) and len(day.data) == 5
    assert "kWh/h" in day.layout.yaxis.title.text
    _assert_units(day)
    month = charts.flows_figure(_flows(24 * 30), "en")
    # 30 days -> 30 daily bars; each day sums 24 hours: withdrawn 24·2 = 48 kWh
    bars = month.data[1]
    assert bars.type == "bar" and len(bars.x) == 30 and bars.y[0] == pytest.approx(48.0)
    assert "kWh/day" in month.layout.yaxis.title.text
    _assert_units(month)


def test_flows_without_member_has_one_panel():
    fig = charts.flows_figure(_flows(24), "it", member=False)
    assert len(fig.data) == 3 and "Produzione della comunità" in {tr.name for tr in fig.data}


def test_trend_money_stacks_by_base():
    rows = [
        {
            "month": "2024-05",
            "withdrawn_kwh": 10,
            "shared_kwh": 4,
            "premium_eur": 1.0,
            "valorisation_eur": 2.0,
            "sale_eur": 3.0,
            "fees_eur": 0.5,
        }
    ]
    fig = charts.monthly_trend_figure(rows, "it")
    by_name = {tr.name: tr for tr in fig.data}
    # premium sits on 0, valorisation on 1 (= premium), sale on 1 + 2 = 3; fees drawn negative
    assert list(by_name["Premio (TIP)"].base) == [0.0]
    assert list(by_name["Valorizzazione ARERA"].base) == [1.0]
    assert list(by_name["Vendita (RID)"].base) == [3.0]
    assert list(by_name["Quote"].y) == [-0.5]
    assert list(by_name["Prelievo"].x) == ["maggio 2024"]
    _assert_units(fig)


def test_kpi_figure_leaves_out_undefined():
    k = Kpis(10, 20, 5, 50.0, 50.0, 25.0, 4.0, 1.0, float("nan"))
    fig = charts.kpi_figure(k, "en", member=True)
    assert list(fig.data[0].x) == [50.0, 25.0]
    assert fig.layout.xaxis.range == (0, 100)
    assert not any(isinstance(v, float) and math.isnan(v) for v in fig.data[0].x)


def test_shift_figure_highlights_windows():
    spare = pd.Series(np.arange(24, dtype=float))
    fig = charts.shift_figure(spare, [ShiftWindow(10, 2, 21.0)], "en")
    colours = list(fig.data[0].marker.color)
    assert colours[10] == colours[11] == charts.COLOURS["shared"] and colours[9] != charts.COLOURS["shared"]
    _assert_units(fig)


def test_members_figure_and_html():
    rows = [
        {"id": "m1", "name": "Rossi", "premium_eur": 1, "valorisation_eur": 2, "sale_eur": 0, "fees_eur": 1}
    ]
    fig = charts.members_figure(rows, "en")
    assert "€" in fig.layout.title.text and not fig.layout.xaxis.title.text  # the unit in the title (phones)
    html = charts.figure_html(fig, "chart-x")
    assert 'id="chart-x"' in html and "responsive" in html and "plotly.min.js" not in html
    assert len(html) < 100_000  # plotly.js is not inlined unless asked
