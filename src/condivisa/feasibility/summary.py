"""The study as data: ``summary.json`` (every number of the report) and the CSV tables.

Money figures are the settlement result's (€, 2 decimals, exact sums of cents); energies kWh. Sharing is
given both ways: ``shared / production`` (how much of the plants' energy the community uses) and
``shared / consumption`` (how much of the members' consumption is covered).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from condivisa.domain.municipalities import zone_of_region
from condivisa.engines.allocation import COMMUNITY, SOCIAL_FUND
from condivisa.feasibility.study import Study
from condivisa.formats.csv_safe import safe_dict


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def year_figures(study: Study) -> dict[str, Any]:
    """The reference year's totals: energy, sharing both ways, premium, valorisation, sale, GSE fees."""
    r = study.result
    t = r.totals
    gse = r.gse_fees_dict()
    total = round(t["premium_eur"] + t["valorisation_eur"] + t["sale_eur"] - gse["taken_eur"], 2)
    return {
        "production_kwh": t["injected_kwh"],
        "consumption_kwh": t["withdrawn_kwh"],
        "shared_kwh": t["shared_kwh"],
        "incentivised_shared_kwh": t["incentivised_shared_kwh"],
        "sharing_of_production": _ratio(t["shared_kwh"], t["injected_kwh"]),
        "sharing_of_consumption": _ratio(t["shared_kwh"], t["withdrawn_kwh"]),
        "premium_eur": t["premium_eur"],
        "valorisation_eur": t["valorisation_eur"],
        "sale_eur": t["sale_eur"],
        "gse_fees_eur": round(-gse["taken_eur"], 2) + 0.0,
        "total_eur": total,
    }


def member_rows(study: Study) -> list[dict[str, Any]]:
    """Each member's energy and money by the proposed rules (the settlement's member rows)."""
    rows = []
    for entry, row in zip(study.member_of, study.result.member_rows()):
        rows.append({"plan_entry": entry.id, "shape": entry.shape, **row})
    return rows


def summary(study: Study) -> dict[str, Any]:
    """The ``summary.json`` document."""
    plan, r = study.plan, study.result
    plant_rows = []
    for p, row in zip(plan.plants, r.plant_rows()):
        plant_rows.append(
            {
                **row,
                "kwp": p.kwp,
                "tilt_deg": p.tilt_deg,
                "azimuth_deg": p.azimuth_deg,
                "cost_eur": p.cost_eur,
                "grant_fraction": p.grant_fraction,
            }
        )
    doc: dict[str, Any] = {
        "plan": {
            "name": plan.name,
            "configuration": plan.configuration,
            "municipality": plan.municipality,
            "region": plan.region,
            "zone": zone_of_region(plan.region).value,
            "market_zone": plan.market_zone,
            "year": plan.year,
            "latitude": plan.latitude,
            "longitude": plan.longitude,
            "members": len(study.members),
            "plants": len(plan.plants),
        },
        "settlement": {
            "interval": r.interval,
            "from": r.first_day.isoformat(),
            "to": r.last_day.isoformat(),
            "how": "the whole reference year settled at once by condivisa.engines.settlement.settle, hour by "
            "hour; money rounded to the cent once per month, the year the sum of the months",
            "provisional": r.provisional,
        },
        "year": year_figures(study),
        "months": r.month_rows(),
        "members": member_rows(study),
        "community_account": r.payee_money(COMMUNITY),
        "external_producers": [{"id": p, **r.payee_money(p)} for p in r.external_payees],
        "plants": plant_rows,
        "owners": [o.to_dict() for o in study.owners],
        "community_economics": study.community.to_dict() if study.community else None,
        "economics_inputs": {
            "horizon_years": plan.economics.horizon_years,
            "discount_rate": plan.economics.discount_rate,
            "maintenance_eur_per_kwp_year": plan.economics.maintenance_eur_per_kwp_year,
            "degradation_per_year": plan.economics.degradation_per_year,
        },
        "absorption": [a.to_dict() for a in study.absorption],
        "join": study.join.to_dict() if study.join else None,
        "notes": study.notes,
    }
    if SOCIAL_FUND in r.allocation.payees:
        doc["social_fund"] = r.payee_money(SOCIAL_FUND)
    return doc


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for row in rows:
            w.writerow(safe_dict({k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()}))
    return path


def write_data(doc: dict[str, Any], out: Path) -> list[Path]:
    """Write ``summary.json`` and the CSV tables (members' money, plants, owners' economics, months,
    absorption, and the newcomer's effect when there is one) into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    written = [path]
    owners = [{k: v for k, v in o.items() if k != "cash_flows_eur"} for o in doc["owners"]]
    if doc["community_economics"]:
        owners.append({k: v for k, v in doc["community_economics"].items() if k != "cash_flows_eur"})
    written.append(_write_csv(out / "members.csv", doc["members"]))
    written.append(_write_csv(out / "plants.csv", doc["plants"]))
    written.append(_write_csv(out / "economics.csv", owners))
    written.append(_write_csv(out / "months.csv", doc["months"]))
    if doc["absorption"]:
        written.append(
            _write_csv(
                out / "absorption.csv",
                [{k: v for k, v in a.items() if k != "curve"} for a in doc["absorption"]],
            )
        )
    if doc["join"]:
        written.append(_write_csv(out / "join.csv", doc["join"]["payees"]))
    return written
