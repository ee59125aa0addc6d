"""Plotly figures of the dashboard and the reports. Every axis carries its unit; layouts are responsive
(legend below the plot, small margins) so the charts stay readable on a phone.

Inputs are the frames of :mod:`condivisa.outputs.kpis` (``hourly_flows``) and the ``months``/``members``
entries of the settlement result (``SettlementResult.to_dict()``); nothing is computed here beyond
resampling hours to days for long periods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from condivisa.engines.indicators import ShiftWindow
from condivisa.outputs.i18n import month_label, translator
from condivisa.outputs.kpis import Kpis

#: colours: production (sun), withdrawal (grid), shared (green), member (blue)
COLOURS = {
    "production": "#f2a900",
    "withdrawn": "#7f8c8d",
    "shared": "#2e9e5b",
    "member": "#2c6fbb",
    "member_shared": "#7fc8a0",
    "premium": "#2e9e5b",
    "valorisation": "#2c6fbb",
    "sale": "#f2a900",
    "fees": "#c0392b",
}

#: Plotly config used everywhere: responsive, no logo, PNG export available from the mode bar
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        height=height,
        autosize=True,
        margin={"l": 55, "r": 15, "t": 45, "b": 10},
        # the legend sits ~75 px below the plot area, under the x-axis title, whatever the figure's height
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -75.0 / max(120, height - 55),
            "x": 0,
            "font": {"size": 11},
        },
        hovermode="x unified",
        template="none",
        font={"family": "system-ui, sans-serif", "size": 12},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    # a light grid of our own: cheaper than copying a whole Plotly template into every figure
    fig.update_xaxes(gridcolor="#e8edf0", linecolor="#c9d3d8", zerolinecolor="#c9d3d8", automargin=True)
    fig.update_yaxes(gridcolor="#e8edf0", linecolor="#c9d3d8", zerolinecolor="#c9d3d8", automargin=True)
    return fig


def flows_figure(
    flows: pd.DataFrame, lang: str = "it", title: str | None = None, member: bool = True
) -> go.Figure:
    """Community production, community withdrawal and shared energy (top) and, with ``member``, the member's
    withdrawal and shared part (bottom), from an :func:`~condivisa.outputs.kpis.hourly_flows` frame.

    Periods longer than 3 days are shown per day (kWh/day), shorter ones per hour (kWh/h).
    """
    t = translator(lang)
    data = flows
    daily = len(flows) > 72
    if daily and not flows.empty:
        data = flows.groupby(flows.index.normalize()).sum()
    unit = "kWh/" + (t("day").lower() if lang == "it" else "day") if daily else "kWh/h"
    rows = 2 if member else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[t("community"), t("member")][:rows],
    )
    series = [
        (1, "injected_kwh", "production", "production", True),
        (1, "withdrawn_kwh", "community_withdrawal", "withdrawn", False),
        (1, "shared_kwh", "shared", "shared", False),
    ]
    if member:
        series += [
            (2, "member_withdrawn_kwh", "your_withdrawal", "member", False),
            (2, "member_shared_kwh", "your_shared", "shared", True),
        ]
    for row, col, key, colour, fill in series:
        y = data[col] if col in data else []
        if daily:
            trace = go.Bar(
                x=data.index, y=y, name=t(key), marker_color=COLOURS[colour], hovertemplate="%{y:.2f} kWh"
            )
        else:
            trace = go.Scatter(
                x=data.index,
                y=y,
                name=t(key),
                mode="lines",
                line={"shape": "hv", "width": 2, "color": COLOURS[colour]},
                fill="tozeroy" if fill else None,
                hovertemplate="%{y:.2f} kWh",
            )
        fig.add_trace(trace, row=row, col=1)
    if daily:
        fig.update_layout(barmode="group")
    for r in range(1, rows + 1):
        fig.update_yaxes(
            title_text=f"{t('energy_kwh').split(' (')[0]} ({unit})", rangemode="tozero", row=r, col=1
        )
    fig.update_xaxes(title_text=t("day") if daily else t("hour"), row=rows, col=1)
    return _layout(fig, title or t("shared"), height=300 + 160 * rows)


def monthly_trend_figure(months: Iterable[Mapping], lang: str = "it", title: str | None = None) -> go.Figure:
    """Month-by-month energy (withdrawn and shared, kWh) and money (premium, valorisation, sale, fees, €).

    ``months`` are dicts with ``month`` (``YYYY-MM``) and any of ``withdrawn_kwh``, ``shared_kwh``,
    ``premium_eur``, ``valorisation_eur``, ``sale_eur``, ``fees_eur`` — a member's or the community's months.
    """
    t = translator(lang)
    rows = list(months)
    labels = [month_label(r["month"], lang) for r in rows]
    fig = make_subplots(
        rows=2, cols=1, vertical_spacing=0.24, subplot_titles=[t("energy_kwh"), t("money_eur")]
    )
    for key, name, colour in (
        ("withdrawn_kwh", t("withdrawn"), COLOURS["withdrawn"]),
        ("shared_kwh", t("shared"), COLOURS["shared"]),
    ):
        if rows and key in rows[0]:  # side by side: shared energy is part of the withdrawal
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=[r.get(key, 0.0) for r in rows],
                    name=name,
                    marker_color=colour,
                    offsetgroup=key,
                    hovertemplate="%{y:.1f} kWh",
                ),
                row=1,
                col=1,
            )
    base = [0.0] * len(rows)
    for key, name in (
        ("premium_eur", t("premium")),
        ("valorisation_eur", t("valorisation")),
        ("sale_eur", t("sale")),
    ):
        if rows and key in rows[0]:  # stacked by explicit base: the parts add up to the money received
            y = [float(r.get(key, 0.0) or 0.0) for r in rows]
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=y,
                    base=list(base),
                    name=name,
                    marker_color=COLOURS[key[:-4]],
                    offsetgroup="money",
                    hovertemplate="%{y:.2f} €",
                ),
                row=2,
                col=1,
            )
            base = [b_ + y_ for b_, y_ in zip(base, y)]
    if rows and "fees_eur" in rows[0]:
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[-abs(r.get("fees_eur", 0.0) or 0.0) for r in rows],
                name=t("fees"),
                offsetgroup="money",
                marker_color=COLOURS["fees"],
                hovertemplate="%{y:.2f} €",
            ),
            row=2,
            col=1,
        )
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(title_text="kWh", row=1, col=1)
    fig.update_yaxes(title_text="€", row=2, col=1)
    fig.update_xaxes(title_text=t("month"))
    return _layout(fig, title or t("trend"), height=560)


def kpi_figure(k: Kpis, lang: str = "it", member: bool = False) -> go.Figure:
    """Horizontal bars (0–100 %) of sharing, self-sufficiency and, for a member, the share of their
    consumption
    that was shared. Undefined ratios (``nan``) are left out."""
    t = translator(lang)
    items = [("sharing_pct", k.sharing_pct), ("self_sufficiency_pct", k.self_sufficiency_pct)]
    if member:
        items.append(("member_share_pct", k.member_share_pct))
    items = [(key, v) for key, v in items if v == v]
    fig = go.Figure(
        go.Bar(
            y=[t(key + "_short") for key, _ in items],
            x=[v for _, v in items],
            orientation="h",
            marker_color=COLOURS["shared"],
            text=[f"{v:.1f} %" for _, v in items],
            textposition="auto",
            hovertemplate="%{x:.1f} %",
            name="%",
        )
    )
    fig.update_xaxes(range=[0, 100], ticksuffix=" %", title_text="%")
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig = _layout(fig, "", height=70 + 45 * len(items))
    fig.update_layout(showlegend=False, margin={"l": 10, "r": 15, "t": 10, "b": 10})
    return fig


def shift_figure(spare_by_hour_kwh: pd.Series, windows: Iterable[ShiftWindow], lang: str = "it") -> go.Figure:
    """Typical spare production per local hour (kWh/h) with the recommended windows highlighted."""
    t = translator(lang)
    chosen = {h for w in windows for h in range(w.start_hour, w.start_hour + w.hours)}
    hours = list(range(24))
    values = [float(spare_by_hour_kwh.get(h, 0.0)) for h in hours]
    colours = [COLOURS["shared"] if h in chosen else "#c8d6cf" for h in hours]
    fig = go.Figure(
        go.Bar(
            x=[f"{h:02d}" for h in hours],
            y=values,
            marker_color=colours,
            name=t("spare"),
            hovertemplate="%{x}:00 · %{y:.2f} kWh",
        )
    )
    fig.update_yaxes(title_text=f"{t('spare')} (kWh/h)", rangemode="tozero")
    fig.update_xaxes(title_text=f"{t('hour')} (0–23)", type="category")
    return _layout(fig, t("best_hours"), height=300)


def members_figure(members: Iterable[Mapping], lang: str = "it") -> go.Figure:
    """The money each member receives (premium, valorisation, sale stacked; fees negative), €."""
    t = translator(lang)
    rows = list(members)
    names = [str(r.get("name") or r["id"]) for r in rows]
    fig = go.Figure()
    for key, name in (
        ("premium_eur", t("premium")),
        ("valorisation_eur", t("valorisation")),
        ("sale_eur", t("sale")),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[r.get(key, 0.0) for r in rows],
                name=name,
                orientation="h",
                marker_color=COLOURS[key[:-4]],
                hovertemplate="%{x:.2f} €",
            )
        )
    fig.add_trace(
        go.Bar(
            y=names,
            x=[-abs(r.get("fees_eur", 0.0)) for r in rows],
            name=t("fees"),
            orientation="h",
            marker_color=COLOURS["fees"],
            hovertemplate="%{x:.2f} €",
        )
    )
    fig.update_layout(barmode="relative")
    fig.update_xaxes(title_text=t("money_eur"))
    fig.update_yaxes(autorange="reversed")
    fig = _layout(fig, t("members"), height=max(280, 110 + 26 * len(rows)))
    return fig


def figure_html(fig: go.Figure, div_id: str, include_plotlyjs: bool | str = False) -> str:
    """An HTML ``<div>`` for ``fig`` (responsive config); ``include_plotlyjs=True`` inlines plotly.js (~4 MB)
    for a self-contained file, a URL ending in ``.js`` references a served copy."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        div_id=div_id,
        config=PLOT_CONFIG,
        default_width="100%",
        default_height=f"{fig.layout.height or 380}px",
    )
