"""Tables of a case study (monthly, per flat, economics, ideal kit cost, sizing) and ``summary.json``.

Monthly premium = shared energy × TIP / 1000 (TIP at the year's zonal price); a flat's bill = its grid
withdrawal × the month's retail energy price (energy component only, as in the case file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from condivisa.casestudy.results import CaseRun, CaseStudy
from condivisa.kernel.timegrid import ROME


def _months(study: CaseStudy) -> np.ndarray:
    return study.index.tz_convert(ROME).month.to_numpy()


def monthly_rows(study: CaseStudy, run: CaseRun) -> list[dict]:
    """Production, shared, sharing %, premium €, consumption and bill per month (1…12)."""
    month = _months(study)
    rows = []
    for m in range(1, 13):
        sel = month == m
        production = float(study.pv_kwh[sel].sum())
        shared = float(run.shared_kwh[sel].sum())
        rows.append(
            {
                "month": m,
                "production_kwh": round(production, 2),
                "shared_kwh": round(shared, 2),
                "sharing_pct": round(100 * shared / production, 2) if production > 0 else 0.0,
                "premium_eur": round(shared * study.tip_eur_per_mwh / 1000, 2),
                "consumption_kwh": round(float(study.loads_kwh[:, sel].sum()), 2),
                "withdrawal_kwh": round(float(run.withdrawal_kwh[:, sel].sum()), 2),
                "bill_eur": round(
                    float((run.withdrawal_kwh[:, sel] * study.price_eur_per_kwh[sel]).sum()), 2
                ),
            }
        )
    return rows


def flat_rows(study: CaseStudy, run: CaseRun) -> list[dict]:
    """Per flat, for the year: consumption, grid withdrawal and the energy bill."""
    bills = (run.withdrawal_kwh * study.price_eur_per_kwh).sum(axis=1)
    return [
        {
            "flat": f.id,
            "consumption_kwh": round(float(study.loads_kwh[i].sum()), 2),
            "withdrawal_kwh": round(float(run.withdrawal_kwh[i].sum()), 2),
            "bill_eur": round(float(bills[i]), 2),
        }
        for i, f in enumerate(study.case.flats)
    ]


def case_entry(study: CaseStudy, run: CaseRun) -> dict:
    """The ``cases`` entry of ``summary.json``."""
    months = monthly_rows(study, run)
    production = float(study.pv_kwh.sum())
    shared = float(run.shared_kwh.sum())
    return {
        "name": run.name,
        "capacity_kwh_per_flat": run.capacity_kwh_per_flat,
        "controller": run.controller,
        "production_kwh": round(production, 2),
        "shared_kwh": round(shared, 2),
        "sharing_pct": round(100 * shared / production, 2),
        "premium_eur": round(shared * study.tip_eur_per_mwh / 1000, 2),
        "valorisation_eur": round(shared * study.valorisation_eur_per_mwh / 1000, 2),
        "consumption_kwh": round(float(study.loads_kwh.sum()), 2),
        "bill_eur": round(float((run.withdrawal_kwh * study.price_eur_per_kwh).sum()), 2),
        "settled_hourly": run.settled_hourly,
        "months": months,
        "flats": flat_rows(study, run),
    }


def summary(study: CaseStudy) -> dict:
    """The machine-readable summary (see docs/case-study.md)."""
    case = study.case
    return {
        "case": case.name,
        "year": case.year,
        "load_model": study.load_model,
        "inputs": {
            "configuration": case.configuration.value,
            "peak_power_kw": case.peak_power_kw,
            "flats": len(case.flats),
            "zonal_price_eur_per_mwh": study.zonal_price_eur_per_mwh,
            "tip_eur_per_mwh": round(study.tip_eur_per_mwh, 4),
            "valorisation_eur_per_mwh": round(study.valorisation_eur_per_mwh, 4),
            "monthly_production_input_kwh": None
            if case.monthly_production_kwh is None
            else list(case.monthly_production_kwh),
            "weather_file": None if case.weather_file is None else str(case.weather_file),
        },
        "cases": [case_entry(study, run) for run in study.runs],
        "economics": [e.to_dict() for e in study.economics],
        "ideal_kit_cost": study.ideal_kit_cost,
        "sizing": [row.to_dict() for row in study.sizing],
        "dispatch": study.dispatch_gain,
        "notes": study.notes,
    }


def economics_frame(study: CaseStudy) -> pd.DataFrame:
    return pd.DataFrame([e.to_dict() for e in study.economics])


def cash_flow_frame(study: CaseStudy) -> pd.DataFrame:
    """Yearly items per case and scenario (long format)."""
    rows = []
    for (name, scenario), flows in study.cash_flows.items():
        for y in range(len(flows.sale_eur)):
            rows.append(
                {
                    "case": name,
                    "scenario": scenario,
                    "year": y + 1,
                    "sale_eur": flows.sale_eur[y],
                    "premium_eur": flows.premium_eur[y],
                    "valorisation_eur": flows.valorisation_eur[y],
                    "maintenance_eur": flows.maintenance_eur[y],
                    "extra_purchase_eur": flows.extra_purchase_eur[y],
                    "net_eur": flows.income_eur[y],
                }
            )
    return pd.DataFrame(rows).round(2)


def write_tables(study: CaseStudy, out: Path) -> list[Path]:
    """Write summary.json and the CSV tables into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    doc = summary(study)
    written = [out / "summary.json"]
    written[0].write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    rows = []
    for c in doc["cases"]:
        rows += [dict(case=c["name"], **m) for m in c["months"]]
        total = {
            k: round(sum(m[k] for m in c["months"]), 2)
            for k in c["months"][0]
            if k not in ("month", "sharing_pct")
        }
        rows.append(dict(case=c["name"], month="year", **total, sharing_pct=c["sharing_pct"]))
    monthly = pd.DataFrame(rows)[list(rows[0])]
    tables = {
        "monthly.csv": monthly,
        "flats.csv": pd.DataFrame([dict(case=c["name"], **f) for c in doc["cases"] for f in c["flats"]]),
        "economics.csv": economics_frame(study),
        "cash_flows.csv": cash_flow_frame(study),
        "sizing.csv": pd.DataFrame(doc["sizing"]),
        "ideal_kit_cost.csv": pd.DataFrame(doc["ideal_kit_cost"]),
    }
    for name, frame in tables.items():
        frame.to_csv(out / name, index=False)
        written.append(out / name)
    return written
