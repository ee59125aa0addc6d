"""Plotly figures of a feasibility study, labelled in Italian or English.

- monthly production, consumption and shared energy (kWh, from the settlement's months);
- the typical day: mean power (kW) in each quarter hour of the local day over the year, of production,
  consumption and shared energy (``min(Σ injection, Σ withdrawal)`` per quarter hour: the settlement itself
  is hourly);
- the absorption curve: the sharing % ``S(n) / Σ I`` with n more consumers of each kind
  (:mod:`condivisa.feasibility.absorb`), and the target;
- the cumulative discounted cash flow ``D_y = Σ_{k≤y} CF_k / (1 + r)^k`` of each owner and of the community
  (:func:`condivisa.engines.finance.cumulative_discounted_eur`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from condivisa.engines.finance import cumulative_discounted_eur
from condivisa.feasibility.study import Study
from condivisa.kernel.timegrid import ROME

COLOURS = {"production": "#f2b705", "consumption": "#3b6ea5", "shared": "#27ae60"}
MONTHS = {
    "it": ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
LABELS: dict[str, dict[str, str]] = {
    "it": {
        "production": "produzione",
        "consumption": "consumo",
        "shared": "energia condivisa",
        "monthly": "Energia per mese (kWh)",
        "typical": "Giornata tipo: potenza media nell'anno (kW)",
        "hour": "ora del giorno",
        "absorb": "Quota di produzione condivisa con n nuovi consumatori",
        "added": "nuovi consumatori (n)",
        "target": "obiettivo",
        "cash": "Flusso di cassa cumulato attualizzato (€)",
        "year": "anno",
    },
    "en": {
        "production": "production",
        "consumption": "consumption",
        "shared": "shared energy",
        "monthly": "Energy per month (kWh)",
        "typical": "Typical day: mean power over the year (kW)",
        "hour": "hour of the day",
        "absorb": "Share of production shared with n more consumers",
        "added": "consumers added (n)",
        "target": "target",
        "cash": "Cumulative discounted cash flow (€)",
        "year": "year",
    },
}


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def monthly_figure(study: Study, lang: str) -> go.Figure:
    t = LABELS[lang]
    rows = study.result.month_rows()
    x = [MONTHS[lang][int(r["month"][5:]) - 1] for r in rows]
    fig = go.Figure()
    for key, col in (
        ("production", "injected_kwh"),
        ("consumption", "withdrawn_kwh"),
        ("shared", "shared_kwh"),
    ):
        fig.add_bar(x=x, y=[r[col] for r in rows], name=t[key], marker_color=COLOURS[key])
    fig.update_layout(barmode="group")
    return _layout(fig, t["monthly"])


def typical_day_kw(study: Study, values_kwh: np.ndarray) -> np.ndarray:
    """Mean power, kW, in each of the 96 quarter hours of the local day: ``4 · mean(E_q)`` over the year."""
    local = study.index.tz_convert(ROME)
    slot = local.hour.to_numpy() * 4 + local.minute.to_numpy() // 15
    sums = np.bincount(slot, weights=values_kwh, minlength=96)
    return sums / np.maximum(np.bincount(slot, minlength=96), 1) * 4.0


def typical_day_figure(study: Study, lang: str) -> go.Figure:
    t = LABELS[lang]
    hours = np.arange(96) / 4.0
    series = {
        "production": study.production_kwh.sum(axis=0),
        "consumption": study.withdrawal_kwh.sum(axis=0),
        "shared": study.shared_kwh_quarter,
    }
    fig = go.Figure()
    for key, values in series.items():
        fig.add_scatter(x=hours, y=typical_day_kw(study, values), name=t[key], line={"color": COLOURS[key]})
    fig.update_xaxes(title_text=t["hour"], dtick=2)
    return _layout(fig, t["typical"])


def absorption_figure(study: Study, lang: str) -> go.Figure:
    t = LABELS[lang]
    fig = go.Figure()
    for a in study.absorption:
        fig.add_scatter(
            x=[n for n, _ in a.curve], y=[100 * s for _, s in a.curve], name=a.kind, mode="lines+markers"
        )
    fig.add_hline(y=100 * study.plan.target_sharing, line_dash="dash", annotation_text=t["target"])
    fig.update_xaxes(title_text=t["added"])
    fig.update_yaxes(title_text="%", range=[0, 101])
    return _layout(fig, t["absorb"])


def cash_flow_figure(study: Study, lang: str) -> go.Figure:
    t = LABELS[lang]
    fig = go.Figure()
    rate = study.plan.economics.discount_rate
    investments = list(study.owners) + ([study.community] if study.community else [])
    for inv in investments:
        d = cumulative_discounted_eur(inv.cash_flows_eur, rate)
        fig.add_scatter(x=list(range(len(d))), y=d, name=inv.who, mode="lines")
    fig.add_hline(y=0, line_color="#888")
    fig.update_xaxes(title_text=t["year"])
    return _layout(fig, t["cash"])


def figures(study: Study, lang: str) -> dict[str, go.Figure]:
    """The report's figures by name: ``monthly``, ``typical_day``, ``cash_flow`` and, with candidates,
    ``absorption``."""
    out = {
        "monthly": monthly_figure(study, lang),
        "typical_day": typical_day_figure(study, lang),
        "cash_flow": cash_flow_figure(study, lang),
    }
    if study.absorption:
        out["absorption"] = absorption_figure(study, lang)
    return out
