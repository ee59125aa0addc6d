"""Plotly figures of a case study, written as interactive HTML and, when a browser is available, PNG.

PNG export uses kaleido (pinned) driving Debian's ``/usr/bin/chromium`` (``apt-get install chromium``);
without a browser the PNGs are skipped with a note and the HTML files are still written.

Figures: a typical day per month for each case (mean of each quarter hour of the day over the month:
PV, building load, grid withdrawal, shared energy, battery SoC), the monthly sharing % of every case,
and the cumulative discounted cash flow of every case under each price scenario.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from condivisa.casestudy.results import CaseRun, CaseStudy
from condivisa.engines.finance import cumulative_discounted_eur
from condivisa.kernel.timegrid import ROME

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COLOURS = {"pv": "#f2b705", "load": "#3b6ea5", "withdrawal": "#c0392b", "shared": "#27ae60", "soc": "#8e44ad"}


def _case_colour(k: int) -> str:
    """The same colour for a case in every figure and subplot."""
    return qualitative.Plotly[k % len(qualitative.Plotly)]


def typical_day_kw(study: CaseStudy, values: np.ndarray) -> np.ndarray:
    """Mean power (kW) per month (12) × quarter hour of the local day (96) of a quarter-hour energy series."""
    local = study.index.tz_convert(ROME)
    slot = local.hour.to_numpy() * 4 + local.minute.to_numpy() // 15
    month = local.month.to_numpy() - 1
    key = month * 96 + slot
    sums = np.bincount(key, weights=values, minlength=12 * 96)
    counts = np.maximum(np.bincount(key, minlength=12 * 96), 1)
    return (sums / counts).reshape(12, 96) * 4.0


def typical_day_figure(study: CaseStudy, run: CaseRun) -> go.Figure:
    hours = np.arange(96) / 4.0
    series = {
        "PV (kW)": ("pv", typical_day_kw(study, study.pv_kwh)),
        "building load (kW)": ("load", typical_day_kw(study, study.loads_kwh.sum(axis=0))),
        "grid withdrawal (kW)": ("withdrawal", typical_day_kw(study, run.withdrawal_kwh.sum(axis=0))),
        "shared (kW)": ("shared", typical_day_kw(study, run.shared_kwh)),
    }
    soc = typical_day_kw(study, run.soc_kwh.sum(axis=0)) / 4.0  # SoC is a level, not a flow
    fig = make_subplots(
        rows=3,
        cols=4,
        subplot_titles=MONTHS,
        shared_xaxes=True,
        shared_yaxes=True,
        specs=[[{"secondary_y": True}] * 4] * 3,
        vertical_spacing=0.08,
        horizontal_spacing=0.04,
    )
    for m in range(12):
        r, c = m // 4 + 1, m % 4 + 1
        for label, (key, table) in series.items():
            fig.add_trace(
                go.Scatter(
                    x=hours,
                    y=table[m],
                    name=label,
                    legendgroup=label,
                    showlegend=m == 0,
                    line={"color": COLOURS[key], "width": 1.5},
                ),
                row=r,
                col=c,
            )
        if run.capacity_kwh_per_flat > 0:
            fig.add_trace(
                go.Scatter(
                    x=hours,
                    y=soc[m],
                    name="battery SoC, all flats (kWh)",
                    legendgroup="soc",
                    showlegend=m == 0,
                    line={"color": COLOURS["soc"], "dash": "dot"},
                ),
                row=r,
                col=c,
                secondary_y=True,
            )
    fig.update_xaxes(title_text="hour", tickvals=[0, 6, 12, 18, 24], row=3)
    fig.update_yaxes(title_text="kW", col=1, secondary_y=False)
    fig.update_layout(
        title=f"{study.case.name} — typical day per month, {run.name}",
        height=850,
        width=1400,
        legend={"orientation": "h", "y": -0.1},
        margin={"b": 110},
    )
    return fig


def sharing_figure(study: CaseStudy) -> go.Figure:
    month = study.index.tz_convert(ROME).month.to_numpy() - 1
    production = np.bincount(month, weights=study.pv_kwh, minlength=12)
    fig = go.Figure()
    for k, run in enumerate(study.runs):
        shared = np.bincount(month, weights=run.shared_kwh, minlength=12)
        fig.add_trace(
            go.Bar(
                x=list(MONTHS),
                y=100 * shared / np.maximum(production, 1e-9),
                name=run.name,
                marker_color=_case_colour(k),
            )
        )
    fig.update_layout(
        title=f"{study.case.name} — monthly sharing (shared / produced)",
        barmode="group",
        yaxis_title="sharing (%)",
        height=500,
        width=1100,
    )
    return fig


def cash_flow_figure(study: CaseStudy) -> go.Figure:
    scenarios = [s.name for s in study.case.scenarios]
    fig = make_subplots(
        rows=1, cols=len(scenarios), subplot_titles=[f"scenario {s}" for s in scenarios], shared_yaxes=True
    )
    for j, scenario in enumerate(scenarios):
        for k, run in enumerate(study.runs):
            flows = study.cash_flows[(run.name, scenario)]
            d = cumulative_discounted_eur(flows.net_eur, study.case.discount_rate)
            fig.add_trace(
                go.Scatter(
                    x=np.arange(len(d)),
                    y=d,
                    name=run.name,
                    legendgroup=run.name,
                    showlegend=j == 0,
                    mode="lines+markers",
                    line={"color": _case_colour(k)},
                ),
                row=1,
                col=j + 1,
            )
        fig.add_hline(y=0, line={"color": "grey", "width": 1}, row=1, col=j + 1)
        fig.update_xaxes(title_text="year", row=1, col=j + 1)
    fig.update_yaxes(title_text="cumulative discounted cash flow (€)", col=1)
    fig.update_layout(title=f"{study.case.name} — cumulative discounted cash flow", height=500, width=1400)
    return fig


def figures(study: CaseStudy) -> dict[str, go.Figure]:
    """Figure name (file stem) → figure."""
    figs = {f"typical_day_{run.name}": typical_day_figure(study, run) for run in study.runs}
    figs["monthly_sharing"] = sharing_figure(study)
    figs["cumulative_cash_flow"] = cash_flow_figure(study)
    return figs


def _browser() -> str | None:
    for candidate in (
        os.environ.get("BROWSER_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("google-chrome"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def write_figures(study: CaseStudy, out: Path, png: bool = True) -> tuple[list[Path], list[str]]:
    """Write every figure as HTML (always) and PNG (when ``png`` and a browser is found).
    Returns the paths written and notes about anything skipped."""
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(study)
    written: list[Path] = []
    notes: list[str] = []
    for name, fig in figs.items():
        path = out / f"{name}.html"
        fig.write_html(path, include_plotlyjs="directory")  # one plotly.min.js beside them: works offline
        written.append(path)
    if not png:
        return written, notes
    browser = _browser()
    if browser is None:
        notes.append(
            "PNG plots skipped: no Chromium/Chrome found (apt-get install chromium); HTML plots written"
        )
        return written, notes
    os.environ.setdefault("BROWSER_PATH", browser)
    try:
        import plotly.io as pio

        paths = [out / f"{name}.png" for name in figs]
        pio.write_images(
            list(figs.values()),
            paths,
            width=[f.layout.width for f in figs.values()],
            height=[f.layout.height for f in figs.values()],
        )
        written += paths
    except Exception as exc:  # kaleido/browser trouble must not lose the run's numbers
        notes.append(f"PNG plots skipped: {type(exc).__name__}: {exc}")
    return written, notes
