"""The feasibility report: ``report.html`` (Italian) and ``report.en.html`` (English), with Plotly plots.

Both pages are written from ``summary.json``'s document (:func:`condivisa.feasibility.summary.summary`),
so every figure shown is a figure of the summary. Each money cell carries its exact value and its place in
the summary (``data-eur="1234.56" data-key="members.fam-rossi.total_eur"``), which the tests compare to the
cent. As the case study's plots do, plotly.js is written once beside the pages (``plotly.min.js``), so the
report works offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from condivisa.feasibility.plots import figures
from condivisa.feasibility.report_text import TEXT
from condivisa.feasibility.study import Study

PAGES = {"it": "report.html", "en": "report.en.html"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em} th,td{padding:.3em .6em;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f6} td.n,td.eur{text-align:right;font-variant-numeric:tabular-nums}
.brief{font-size:1.1em;background:#f3f8f1;padding:.8em 1em;border-left:4px solid #27ae60}
.notes li{margin:.3em 0} .lang{float:right}
"""


def number(x: float, lang: str, digits: int = 0) -> str:
    """``x`` with thousands separators: ``1.234,5`` (Italian) or ``1,234.5`` (English)."""
    text = f"{x:,.{digits}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".") if lang == "it" else text


def eur(x: float, lang: str) -> str:
    """A money figure to the cent: ``1.234,56 €`` (Italian) or ``€1,234.56`` (English)."""
    sign = "-" if x < 0 else ""
    return f"{sign}{number(abs(x), lang, 2)} €" if lang == "it" else f"{sign}€{number(abs(x), lang, 2)}"


def pct(x: float, lang: str) -> str:
    """A ratio as a percentage with one decimal: ``42,3 %`` or ``42.3%``."""
    return f"{number(100 * x, lang, 1)} %" if lang == "it" else f"{number(100 * x, lang, 1)}%"


def _e(text: object) -> str:
    return html.escape(str(text))


def money_cell(x: float, lang: str, key: str) -> str:
    """A ``<td>`` with a money figure, its exact value and its summary key."""
    return f'<td class="eur" data-eur="{x:.2f}" data-key="{_e(key)}">{_e(eur(x, lang))}</td>'


def num_cell(x: float | None, lang: str, digits: int = 0) -> str:
    return '<td class="n">—</td>' if x is None else f'<td class="n">{_e(number(x, lang, digits))}</td>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text_cell(x: object) -> str:
    return f"<td>{_e('' if x is None else x)}</td>"


MONEY = ("premium_eur", "valorisation_eur", "sale_eur", "fees_eur", "gse_fees_eur", "total_eur")


def _year_section(doc: dict[str, Any], lang: str) -> str:
    t, y = TEXT[lang], doc["year"]
    brief = t["brief_text"].format(
        year=doc["plan"]["year"],
        shared=number(y["shared_kwh"], lang),
        production=number(y["production_kwh"], lang),
        pct_prod=pct(y["sharing_of_production"], lang),
        pct_cons=pct(y["sharing_of_consumption"], lang),
        total=eur(y["total_eur"], lang),
    )
    rows = [
        [_text_cell(t[k]), num_cell(y[k], lang)] for k in ("production_kwh", "consumption_kwh", "shared_kwh")
    ]
    rows += [
        [_text_cell(t[k]), f'<td class="n">{pct(y[k], lang)}</td>']
        for k in ("sharing_of_production", "sharing_of_consumption")
    ]
    rows += [
        [_text_cell(t[k]), money_cell(y[k], lang, f"year.{k}")]
        for k in ("premium_eur", "valorisation_eur", "sale_eur", "gse_fees_eur", "total_eur")
    ]
    return f'<h2>{_e(t["brief"])}</h2><p class="brief">{_e(brief)}</p>' + _table([t["energy"], ""], rows)


def _members_section(doc: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    headers = [t["member"], t["name"], t["category"], t["withdrawn_kwh"], t["member_shared_kwh"]] + [
        t[k] for k in MONEY
    ]
    rows = []
    for m in doc["members"]:
        rows.append(
            [
                _text_cell(m["id"]),
                _text_cell(m["name"]),
                _text_cell(m["category"]),
                num_cell(m["withdrawn_kwh"], lang),
                num_cell(m["shared_kwh"], lang),
            ]
            + [money_cell(m[k], lang, f"members.{m['id']}.{k}") for k in MONEY]
        )
    others = [("community_account", t["community_account"], doc["community_account"])]
    others += [(f"external_producers.{p['id']}", p["id"], p) for p in doc["external_producers"]]
    if "social_fund" in doc:
        others.append(("social_fund", "social fund", doc["social_fund"]))
    for key, label, money in others:
        rows.append(
            [_text_cell(label), _text_cell(""), _text_cell(""), num_cell(None, lang), num_cell(None, lang)]
            + [money_cell(money[k], lang, f"{key}.{k}") for k in MONEY]
        )
    return f"<h2>{_e(t['money_members'])}</h2>" + _table(headers, rows)


def _plants_section(doc: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    headers = [
        t["plant"],
        t["owner"],
        t["kwp"],
        t["production_kwh"],
        t["shared_kwh"],
        t["premium_eur"],
        t["valorisation_eur"],
        t["sale_eur"],
    ]
    rows = [
        [
            _text_cell(p["id"]),
            _text_cell(p["owner"]),
            num_cell(p["kwp"], lang, 1),
            num_cell(p["injected_kwh"], lang),
            num_cell(p["shared_kwh"], lang),
        ]
        + [
            money_cell(p[k], lang, f"plants.{p['id']}.{k}")
            for k in ("premium_eur", "valorisation_eur", "sale_eur")
        ]
        for p in doc["plants"]
    ]
    return f"<h2>{_e(t['plants_title'])}</h2>" + _table(headers, rows)


def _economics_section(doc: dict[str, Any], lang: str) -> str:
    t, inputs = TEXT[lang], doc["economics_inputs"]
    title = t["economics"].format(years=inputs["horizon_years"], rate=pct(inputs["discount_rate"], lang))
    headers = [
        t["owner"],
        t["plants"],
        t["grant_eur"],
        t["investment_eur"],
        t["year1_net_income_eur"],
        t["npv_eur"],
        t["payback_years"],
        t["irr"],
        t["as_consumer"],
    ]
    rows = []
    items = [(f"owners.{o['owner']}", o) for o in doc["owners"]] + [
        ("community_economics", doc["community_economics"])
    ]
    for key, o in items:
        pb = o["payback_years"]
        rows.append(
            [
                _text_cell(o["owner"]),
                _text_cell(", ".join(o["plants"])),
                money_cell(o["grant_eur"], lang, f"{key}.grant_eur"),
                money_cell(o["investment_eur"], lang, f"{key}.investment_eur"),
                money_cell(o["year1_net_income_eur"], lang, f"{key}.year1_net_income_eur"),
                money_cell(o["npv_eur"], lang, f"{key}.npv_eur"),
                f'<td class="n">{_e(t["never"]) if pb is None else number(pb, lang, 1)}</td>',
                f'<td class="n">{"—" if o["irr"] is None else pct(o["irr"], lang)}</td>',
                money_cell(o["year1_as_consumer_eur"], lang, f"{key}.year1_as_consumer_eur")
                if "year1_as_consumer_eur" in o
                else num_cell(None, lang),
            ]
        )
    return f"<h2>{_e(title)}</h2><p>{_e(t['economics_text'])}</p>" + _table(headers, rows)


def _absorption_section(doc: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    if not doc["absorption"]:
        return ""
    target = pct(doc["absorption"][0]["target_sharing"], lang)
    headers = [
        t["kind"],
        t["category"],
        t["yearly_kwh"],
        t["needed"],
        t["sharing_after"],
        t["extra_income_eur"],
        t["newcomer_eur"],
    ]
    rows = []
    for a in doc["absorption"]:
        needed = str(a["needed"]) if a["needed"] is not None else t["not_reached"].format(n=a["max_added"])
        rows.append(
            [
                _text_cell(a["kind"]),
                _text_cell(a["category"]),
                num_cell(a["yearly_kwh"], lang),
                f'<td class="n">{_e(needed)}</td>',
                f'<td class="n">{pct(a["sharing_after"], lang)}</td>',
                money_cell(a["extra_income_eur"], lang, f"absorption.{a['kind']}.extra_income_eur"),
                num_cell(None, lang)
                if a["newcomer_eur"] is None
                else money_cell(a["newcomer_eur"], lang, f"absorption.{a['kind']}.newcomer_eur"),
            ]
        )
    return f"<h2>{_e(t['absorption'])}</h2><p>{_e(t['absorption_text'].format(target=target))}</p>" + _table(
        headers, rows
    )


def _join_section(doc: dict[str, Any], lang: str) -> str:
    t, j = TEXT[lang], doc["join"]
    if not j:
        return ""
    n = j["newcomer"]
    text = t["join_text"].format(
        before=number(j["shared_kwh_before"], lang),
        after=number(j["shared_kwh_after"], lang),
        pb=pct(j["sharing_before"], lang),
        pa=pct(j["sharing_after"], lang),
        change=eur(j["community_income_change_eur"], lang),
        total=eur(n["total_eur"], lang),
    )
    mine = _table([t[k] for k in MONEY], [[money_cell(n[k], lang, f"join.newcomer.{k}") for k in MONEY]])
    rows = [
        [_text_cell(p["payee"])]
        + [
            money_cell(p[k], lang, f"join.payees.{p['payee']}.{k}")
            for k in ("before_eur", "after_eur", "change_eur")
        ]
        for p in j["payees"]
    ]
    return (
        f"<h2>{_e(t['join'].format(who=n['name'] or n['id']))}</h2><p>{_e(text)}</p>"
        + mine
        + _table([t["payee"], t["before_eur"], t["after_eur"], t["change_eur"]], rows)
    )


def page(doc: dict[str, Any], plots: dict[str, str], lang: str) -> str:
    """One language's report page: header, answer in brief, members' money, plants, economics, absorption,
    the newcomer, plots, method and notes."""
    t, p = TEXT[lang], doc["plan"]
    other = PAGES["en" if lang == "it" else "it"]
    facts = [
        (t["place"], p["municipality"] or "—"),
        (t["region"], p["region"]),
        (t["zone"], p["market_zone"]),
        (t["year"], p["year"]),
        (t["members"], p["members"]),
        (t["plants"], p["plants"]),
    ]
    head = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in facts)
    plot_html = "".join(f'<div class="plot">{v}</div>' for v in plots.values())
    notes = "".join(f"<li>{_e(n)}</li>" for n in [t["method"], *doc["notes"]])
    body = (
        f'<a class="lang" href="{other}">{_e(t["lang_other"])}</a>'
        f"<h1>{_e(t['title'])}: {_e(p['name'])}</h1><ul>{head}</ul>"
        + _year_section(doc, lang)
        + _members_section(doc, lang)
        + _plants_section(doc, lang)
        + _economics_section(doc, lang)
        + _absorption_section(doc, lang)
        + _join_section(doc, lang)
        + f'<h2>{_e(t["plots"])}</h2>{plot_html}<h2>{_e(t["notes"])}</h2><ul class="notes">{notes}</ul>'
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(t['title'])}: {_e(p['name'])}</title><style>{STYLE}</style>"
        f'<script src="plotly.min.js"></script></head><body>{body}</body></html>\n'
    )


def write_report(study: Study, doc: dict[str, Any], out: Path, *, plots: bool = True) -> list[Path]:
    """Write ``report.html`` (Italian), ``report.en.html`` (English) and ``plotly.min.js`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for lang, name in PAGES.items():
        divs = (
            {
                key: pio.to_html(
                    fig,
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"plot-{key}",
                    default_width="100%",
                    default_height="380px",
                )
                for key, fig in figures(study, lang).items()
            }
            if plots
            else {}
        )
        path = out / name
        path.write_text(page(doc, divs, lang), encoding="utf-8")
        written.append(path)
    if plots:
        js = out / "plotly.min.js"
        js.write_text(get_plotlyjs(), encoding="utf-8")
        written.append(js)
    return written
