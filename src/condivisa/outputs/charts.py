"""Plotly figures of the dashboard and the reports. Every axis carries its unit; layouts are responsive
(legend below the plot, small margins) so the charts stay readable on a phone.

Inputs are the frames of :mod:`condivisa.outputs.kpis` (``hourly_flows``) and the ``months``/``members``
entries of the settlement result (``SettlementResult.to_dict()``); nothing is computed here beyond
resampling hours to days for long periods.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping

import numpy as np
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
    "premium": "#6a3d9a",
    "valorisation": "#17becf",
    "sale": "#f2a900",
    "fees": "#c0392b",
}

#: Plotly config used everywhere: responsive, no logo, PNG export available from the mode bar
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _dates_on_x(fig: go.Figure) -> tuple[bool, bool]:
    """``(dates, whole_days)``: whether the traces' x values are instants, and all of them midnights."""
    found = False
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if xs is None or len(xs) == 0:
            continue
        stamps = pd.to_datetime(pd.Series(list(xs)), errors="coerce") if _is_datetime(xs[0]) else None
        if stamps is None or stamps.isna().any():
            return False, False
        found = True
        if not (stamps.dt.hour.eq(0) & stamps.dt.minute.eq(0)).all():
            return True, False
    return found, found


def _is_datetime(value) -> bool:
    return isinstance(value, dt.datetime | pd.Timestamp | np.datetime64)


def localise(fig: go.Figure, lang: str) -> go.Figure:
    """Italian numbers and dates in a figure: decimal comma and thousands point (``separators``), dates as
    ``03/06`` on the axis and ``03/06/2024 14:00`` in the hover (no English month names); English as is."""
    if lang != "it":
        return fig
    fig.update_layout(separators=",.")
    dates, whole_days = _dates_on_x(fig)
    if dates:
        fig.update_xaxes(tickformat="%d/%m", hoverformat="%d/%m/%Y" if whole_days else "%d/%m/%Y %H:%M")
    return fig


def _layout(fig: go.Figure, title: str, height: int = 380, lang: str | None = None) -> go.Figure:
    if lang is not None:
        localise(fig, lang)
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
    flows: pd.DataFrame,
    lang: str = "it",
    title: str | None = None,
    member: bool = True,
    member_name: str | None = None,
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
        subplot_titles=[t("community"), member_name or t("member")][:rows],
    )
    series = [
        (1, "injected_kwh", "production", "production", True),
        (1, "withdrawn_kwh", "community_withdrawal", "withdrawn", False),
        (1, "shared_kwh", "shared", "shared", False),
    ]
    if member:
        series += [
            (2, "member_withdrawn_kwh", "your_withdrawal", "member", False),
            (2, "member_shared_kwh", "your_shared", "member_shared", True),
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
    return _layout(fig, title or t("shared"), height=300 + 160 * rows, lang=lang)


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
    return _layout(fig, title or t("trend"), height=560, lang=lang)


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
    fig = _layout(fig, "", height=70 + 45 * len(items), lang=lang)
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
    return _layout(fig, t("best_hours"), height=300, lang=lang)


def overlay_figure(flows: pd.DataFrame, lang: str = "it", title: str = "") -> go.Figure:
    """The member's consumption over the community's production on a typical day of ``flows`` (the mean per
    local hour): the member's withdrawal and their shared part (left axis, kWh/h) and the community's
    production (right axis, kWh/h, its own scale: a plant produces far more than a household uses)."""
    t = translator(lang)
    hours = list(range(24))
    if flows.empty:
        profile = pd.DataFrame(
            0.0, index=hours, columns=["member_withdrawn_kwh", "member_shared_kwh", "injected_kwh"]
        )
    else:
        local = flows.tz_convert("Europe/Rome") if flows.index.tz is not None else flows
        profile = local.groupby(local.index.hour).mean().reindex(hours, fill_value=0.0)
    x = [f"{h:02d}" for h in hours]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=x,
            y=profile["injected_kwh"],
            name=t("production"),
            mode="lines",
            line={"width": 0, "color": COLOURS["production"]},
            fill="tozeroy",
            fillcolor="rgba(242,169,0,0.25)",
            hovertemplate="%{y:.1f} kWh",
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=profile["member_withdrawn_kwh"],
            name=t("mp_your_consumption"),
            mode="lines",
            line={"width": 2.5, "color": COLOURS["member"]},
            hovertemplate="%{y:.2f} kWh",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=profile["member_shared_kwh"],
            name=t("mp_covered"),
            mode="lines",
            line={"width": 0, "color": COLOURS["member_shared"]},
            fill="tozeroy",
            fillcolor="rgba(46,158,91,0.55)",
            hovertemplate="%{y:.2f} kWh",
        ),
        secondary_y=False,
    )
    fig.update_yaxes(title_text=f"{t('mp_your_consumption')} (kWh/h)", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(
        title_text=f"{t('production')} (kWh/h)", rangemode="tozero", showgrid=False, secondary_y=True
    )
    fig.update_xaxes(title_text=f"{t('hour')} (0–23)", type="category")
    return _layout(fig, title, height=340, lang=lang)


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
    fig.update_yaxes(autorange="reversed")
    # the unit in the title, not as an x-axis title: on a phone the wrapped legend would cover it
    title = f"{t('members')} · {t('money_eur')}"
    fig = _layout(fig, title, height=max(280, 110 + 26 * len(rows)), lang=lang)
    return fig


def figure_html(fig: go.Figure, div_id: str, include_plotlyjs: bool | str = False) -> str:
    """An empty chart ``<div>`` for ``fig`` and its figure as JSON (``<script type="application/json">``),
    drawn by the page's chart loader (:data:`CHART_LOADER_JS`, from :func:`condivisa.outputs.report.plotly_script`):
    at once when plotly.js is inlined (a standalone file, the PDF), else after the page has loaded and only
    when the chart scrolls into view, so the money shows before the 4.8 MB of plotly.js arrive. The width follows
    the container (``responsive``), the height is the figure's. ``include_plotlyjs`` (``True``: inlined, ~4 MB;
    a URL ending in ``.js``: referenced) returns plotly's own self-drawing ``<div>`` instead."""
    height = int(fig.layout.height or 380)
    if include_plotlyjs:
        return pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=include_plotlyjs,
            div_id=div_id,
            config=PLOT_CONFIG,
            default_width="100%",
            default_height=f"{height}px",
        )
    spec = '{"figure":' + pio.to_json(fig, validate=False) + ',"config":' + json.dumps(PLOT_CONFIG) + "}"
    spec = spec.replace("</", "<\\/")  # nothing in the JSON may close the <script>
    return (
        f'<div id="{div_id}" class="plotly-graph-div" data-chart style="height:{height}px; width:100%;"></div>'
        f'<script type="application/json" data-chart-spec="{div_id}">{spec}</script>'
    )


#: the chart loader every page with charts carries once (inline; the CSP allows inline scripts): it draws each
#: ``[data-chart]`` div from its JSON. With plotly.js already there (``window.Plotly``: a standalone file, the
#: PDF) every chart is drawn at once, without the mode bar. Else, after the ``load`` event (the page and its money
#: are shown first), it fetches plotly.js from ``window.CONDIVISA_PLOTLY`` and draws each chart as it comes near
#: the screen (IntersectionObserver). On touch screens and narrow windows the mode bar is hidden (it covers the
#: chart titles). ``document.documentElement.dataset.charts`` becomes ``"drawn"`` once every chart is drawn.
CHART_LOADER_JS = """(function () {
  var loading = null, left = 0;
  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) loading = new Promise(function (ok, ko) {
      var s = document.createElement("script");
      s.src = window.CONDIVISA_PLOTLY; s.async = true;
      s.onload = function () { ok(window.Plotly); }; s.onerror = ko;
      document.head.appendChild(s);
    });
    return loading;
  }
  function draw(div) {
    if (div.dataset.drawn) return;
    div.dataset.drawn = "1";
    var el = document.querySelector('script[data-chart-spec="' + div.id + '"]');
    var spec = JSON.parse(el.textContent), cfg = spec.config;
    var small = window.matchMedia("(hover: none), (pointer: coarse), (max-width: 700px)").matches;
    if (small || window.CONDIVISA_STATIC) cfg.displayModeBar = false;
    plotly().then(function (P) {
      return P.newPlot(div, spec.figure.data, spec.figure.layout, cfg);
    }).then(function () {
      left -= 1;
      if (left === 0) document.documentElement.dataset.charts = "drawn";
    });
  }
  function start(lazy) {
    var divs = [].slice.call(document.querySelectorAll("div[data-chart]"));
    left = divs.length;
    if (!left) return;
    if (!lazy || !("IntersectionObserver" in window)) { divs.forEach(draw); return; }
    plotly();  // fetch while the reader looks at the numbers
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); } });
    }, {rootMargin: "400px 0px"});
    divs.forEach(function (d) { seen.observe(d); });
    window.addEventListener("beforeprint", function () { divs.forEach(draw); });
  }
  if (window.Plotly) {
    window.CONDIVISA_STATIC = true;
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { start(false); });
    else start(false);
  } else if (document.readyState === "complete") start(true);
  else window.addEventListener("load", function () { start(true); });
})();"""
