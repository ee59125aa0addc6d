"""Plotly figures of a case study, written as interactive HTML and, when a browser is available, PNG.

PNG export uses kaleido (pinned) driving Debian's ``/usr/bin/chromium`` (``apt-get install chromium``);
without a browser the PNGs are skipped with a note and the HTML files are still written.

Figures: a typical day per month for each case (mean of each quarter hour of the day over the month:
PV, building load, grid withdrawal, shared energy, battery SoC), the monthly sharing % of every case,
and the cumulative discounted cash flow of every case under each price scenario.

Labels are Italian by default (``lang="en"`` for English), with decimal commas (``separators``); the
battery's state of charge is a percentage of the flats' total capacity on its own 0–100 % axis. The HTML
files fill the width of the screen (phones included: a viewport tag and Plotly's responsive mode); the PNG
files keep a fixed export size (:data:`EXPORT_SIZE`).
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
MONTHS_IT = ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic")

#: the figures' words (it/en)
WORDS = {
    "it": {
        "pv": "fotovoltaico (kW)",
        "load": "consumo dell'edificio (kW)",
        "withdrawal": "prelievo dalla rete (kW)",
        "shared": "energia condivisa (kW)",
        "soc": "carica delle batterie (%)",
        "hour": "ora",
        "typical_day": "giornata tipo di ogni mese",
        "sharing_title": "condivisione mensile (condivisa / prodotta)",
        "sharing": "condivisione (%)",
        "scenario": "scenario",
        "year": "anno",
        "cash_title": "flusso di cassa attualizzato cumulato",
        "cash": "flusso di cassa attualizzato cumulato (€)",
    },
    "en": {
        "pv": "PV (kW)",
        "load": "building load (kW)",
        "withdrawal": "grid withdrawal (kW)",
        "shared": "shared (kW)",
        "soc": "battery charge, all flats (%)",
        "hour": "hour",
        "typical_day": "typical day per month",
        "sharing_title": "monthly sharing (shared / produced)",
        "sharing": "sharing (%)",
        "scenario": "scenario",
        "year": "year",
        "cash_title": "cumulative discounted cash flow",
        "cash": "cumulative discounted cash flow (€)",
    },
}

#: the PNG export size of each kind of figure (the HTML files fill the screen instead)
EXPORT_SIZE = {
    "typical_day": (1400, 850),
    "monthly_sharing": (1100, 500),
    "cumulative_cash_flow": (1400, 500),
}

_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def _words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["en"])


def _months(lang: str) -> tuple[str, ...]:
    return MONTHS_IT if lang == "it" else MONTHS


def _separators(lang: str) -> str:
    """Plotly's decimal and thousands separators: ``,.`` in Italian (``1.234,5``)."""
    return ",." if lang == "it" else ".,"


def _case_name(run: CaseRun, lang: str) -> str:
    from condivisa.casestudy.verdict import case_label

    return case_label(
        run.name, lang, {"capacity_kwh_per_flat": run.capacity_kwh_per_flat, "controller": run.controller}
    )


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


def typical_day_figure(study: CaseStudy, run: CaseRun, lang: str = "it") -> go.Figure:
    """The typical day of each month (12 small plots); the battery's charge in % of the flats' capacity."""
    w = _words(lang)
    hours = np.arange(96) / 4.0
    series = {
        w["pv"]: ("pv", typical_day_kw(study, study.pv_kwh)),
        w["load"]: ("load", typical_day_kw(study, study.loads_kwh.sum(axis=0))),
        w["withdrawal"]: ("withdrawal", typical_day_kw(study, run.withdrawal_kwh.sum(axis=0))),
        w["shared"]: ("shared", typical_day_kw(study, run.shared_kwh)),
    }
    soc_kwh = typical_day_kw(study, run.soc_kwh.sum(axis=0)) / 4.0  # SoC is a level, not a flow
    capacity = run.capacity_kwh_per_flat * len(study.case.flats)
    soc = 100 * soc_kwh / capacity if capacity > 0 else soc_kwh * 0
    fig = make_subplots(
        rows=3,
        cols=4,
        subplot_titles=_months(lang),
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
                    name=w["soc"],
                    legendgroup="soc",
                    showlegend=m == 0,
                    line={"color": COLOURS["soc"], "dash": "dot"},
                ),
                row=r,
                col=c,
                secondary_y=True,
            )
    fig.update_xaxes(title_text=w["hour"], tickvals=[0, 6, 12, 18, 24], row=3)
    top = max(float(table.max()) for _, table in series.values())
    fig.update_yaxes(range=[0, 1.05 * top if top > 0 else 1], secondary_y=False)  # explicit: see the SoC
    fig.update_yaxes(title_text="kW", col=1, secondary_y=False)
    if run.capacity_kwh_per_flat > 0:  # the charge on its own axis, always 0-100 %, titled on the right
        fig.update_yaxes(
            range=[0, 105],
            tickmode="array",
            tickvals=[0, 25, 50, 75, 100],
            ticksuffix=" %",
            secondary_y=True,
            showgrid=False,
        )
        fig.update_yaxes(title_text=w["soc"], col=4, secondary_y=True)
    fig.update_layout(
        title=f"{study.case.name} — {w['typical_day']}, {_case_name(run, lang)}",
        height=EXPORT_SIZE["typical_day"][1],
        autosize=True,
        separators=_separators(lang),
        legend={"orientation": "h", "y": -0.1},
        margin={"b": 110},
    )
    return fig


def sharing_figure(study: CaseStudy, lang: str = "it") -> go.Figure:
    w = _words(lang)
    month = study.index.tz_convert(ROME).month.to_numpy() - 1
    production = np.bincount(month, weights=study.pv_kwh, minlength=12)
    fig = go.Figure()
    for k, run in enumerate(study.runs):
        shared = np.bincount(month, weights=run.shared_kwh, minlength=12)
        fig.add_trace(
            go.Bar(
                x=list(_months(lang)),
                y=100 * shared / np.maximum(production, 1e-9),
                name=_case_name(run, lang),
                marker_color=_case_colour(k),
            )
        )
    fig.update_layout(
        title=f"{study.case.name} — {w['sharing_title']}",
        barmode="group",
        yaxis_title=w["sharing"],
        height=EXPORT_SIZE["monthly_sharing"][1],
        autosize=True,
        separators=_separators(lang),
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def cash_flow_figure(study: CaseStudy, lang: str = "it") -> go.Figure:
    from condivisa.casestudy.verdict import scenario_label

    w = _words(lang)
    scenarios = [s.name for s in study.case.scenarios]
    fig = make_subplots(
        rows=1,
        cols=len(scenarios),
        subplot_titles=[scenario_label(s, lang) for s in scenarios],  # short: three side by side on a phone
        shared_yaxes=True,
    )
    for j, scenario in enumerate(scenarios):
        for k, run in enumerate(study.runs):
            flows = study.cash_flows[(run.name, scenario)]
            d = cumulative_discounted_eur(flows.net_eur, study.case.discount_rate)
            fig.add_trace(
                go.Scatter(
                    x=np.arange(len(d)),
                    y=d,
                    name=_case_name(run, lang),
                    legendgroup=run.name,
                    showlegend=j == 0,
                    mode="lines+markers",
                    line={"color": _case_colour(k)},
                ),
                row=1,
                col=j + 1,
            )
        fig.add_hline(y=0, line={"color": "grey", "width": 1}, row=1, col=j + 1)
        fig.update_xaxes(title_text=w["year"], row=1, col=j + 1)
    fig.update_yaxes(title_text=w["cash"], col=1)
    fig.update_layout(
        title=f"{study.case.name} — {w['cash_title']}",
        height=EXPORT_SIZE["cumulative_cash_flow"][1],
        autosize=True,
        separators=_separators(lang),
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def figures(study: CaseStudy, lang: str = "it") -> dict[str, go.Figure]:
    """Figure name (file stem) → figure."""
    figs = {f"typical_day_{run.name}": typical_day_figure(study, run, lang) for run in study.runs}
    figs["monthly_sharing"] = sharing_figure(study, lang)
    figs["cumulative_cash_flow"] = cash_flow_figure(study, lang)
    return figs


def export_size(name: str) -> tuple[int, int]:
    """The PNG size (width, height) of figure ``name``."""
    return EXPORT_SIZE["typical_day" if name.startswith("typical_day") else name]


def write_html(fig: go.Figure, path: Path) -> None:
    """``fig`` as an HTML page that fills the screen's width, phones included (plotly.min.js beside it)."""
    fig.write_html(
        path,
        include_plotlyjs="directory",  # one plotly.min.js beside them: works offline
        default_width="100%",
        config={"responsive": True},
    )
    text = path.read_text(encoding="utf-8")
    if 'name="viewport"' not in text:
        text = text.replace("<head>", "<head>" + _VIEWPORT, 1)
        path.write_text(text, encoding="utf-8")


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


def write_figures(
    study: CaseStudy, out: Path, png: bool = True, lang: str = "it"
) -> tuple[list[Path], list[str]]:
    """Write every figure as HTML (always) and PNG (when ``png`` and a browser is found), labelled in
    ``lang``. Returns the paths written and notes about anything skipped."""
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(study, lang)
    written: list[Path] = []
    notes: list[str] = []
    for name, fig in figs.items():
        path = out / f"{name}.html"
        write_html(fig, path)
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
            width=[export_size(name)[0] for name in figs],
            height=[export_size(name)[1] for name in figs],
        )
        written += paths
    except Exception as exc:  # kaleido/browser trouble must not lose the run's numbers
        notes.append(f"PNG plots skipped: {type(exc).__name__}: {exc}")
    return written, notes
