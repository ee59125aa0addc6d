"""The demo's example configurations (made up, deterministic) and its zonal prices (real: GME 2023).

- ``cer``: a 20-member renewable energy community in the South: 16 households, 2 small businesses, the
  municipality and a parish; three PV plants (the town hall's, a business's, one owned by the community).
  Its rules give a flexibility bonus (``flexibility_bonus: {share: 0.3}``: 30 % of the extra premium a
  demand-response event earns goes to the members who shifted consumption, :mod:`condivisa.engines.
  flexibility`). For the demo's event the households' DUs take part with probability
  :data:`HOUSEHOLD_PARTICIPATION` (seeded per DU and event, :func:`condivisa.sim.flex_response.
  participates`) except those of :data:`NOT_TAKING_PART`, which always decline, so most but never all accept;
  the businesses', the town hall's and the parish's DUs decline (their loads are not a household's
  washing machine or water heater).
- ``is-corrias``: the Is Corrias condominium (AUC, Selargius): 8 flats and one 18 kWp rooftop plant; the
  flats' mean daily energies follow the case study's appliance + air-conditioning figures.

Prices: GME's real 2023 hourly prices of the community's market zone (package data), replayed onto the
demo's days by :func:`condivisa.engines.price_replay.replay_prices` (same weekday, same local hour; DST
days handled), so the demo settles on real zonal prices whatever day it runs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from condivisa.engines.price_replay import replay_prices
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.sim.devices import SimDevice

KINDS = ("cer", "is-corrias")
SUBSTATION = "AC001E00999"
#: probability p that a household DU of the demo CER acts on an event (module docstring)
HOUSEHOLD_PARTICIPATION = 0.9
#: the households of the demo CER (member numbers) that never act on an event
NOT_TAKING_PART = (4, 9, 14)


def demo_prices(start: dt.date, end: dt.date, market_zone: str = "SARD") -> pd.Series:
    """Hourly zonal prices, €/MWh, for the civil days ``start`` .. ``end`` (exclusive), Europe/Rome: GME's
    2023 prices of ``market_zone`` replayed onto those days (:func:`~condivisa.engines.price_replay.
    replay_prices`)."""
    return replay_prices(load_gme_2023(zone=market_zone), start, end)


def _cer() -> tuple[dict, list[SimDevice]]:
    rng = np.random.default_rng(5)
    surnames = [
        "Rossi",
        "Bianchi",
        "Serra",
        "Melis",
        "Pinna",
        "Piras",
        "Mura",
        "Sanna",
        "Fadda",
        "Porcu",
        "Cocco",
        "Deiana",
        "Loi",
        "Atzeni",
        "Usai",
        "Floris",
    ]
    members, devices = [], []
    for k, surname in enumerate(surnames, start=1):
        members.append(
            {
                "id": f"m{k}",
                "name": f"Famiglia {surname}",
                "category": "private",
                "founder": k <= 10,
                "joined": None if k <= 10 else "2025-06-01",
                "pods": [{"pod": f"IT001E{k:08d}"}],
            }
        )
        participation = 0.0 if k in NOT_TAKING_PART else HOUSEHOLD_PARTICIPATION
        devices.append(
            SimDevice(
                f"DU-{k:04d}",
                f"IT001E{k:08d}",
                daily_kwh=float(rng.uniform(6.0, 13.0)),
                participation=participation,
            )
        )
    others = [
        ("m17", "Panificio Serra snc", "sme", 38.0),
        ("m18", "Officina Loi srl", "sme", 30.0),
        ("m19", "Comune di Esempio", "public_body", 55.0),
        ("m20", "Parrocchia San Giorgio", "nonprofit", 12.0),
    ]
    for k, (mid, name, category, daily) in enumerate(others, start=17):
        members.append(
            {
                "id": mid,
                "name": name,
                "category": category,
                "founder": True,
                "pods": [{"pod": f"IT001E{k:08d}"}],
            }
        )
        devices.append(SimDevice(f"DU-{k:04d}", f"IT001E{k:08d}", daily_kwh=daily, participation=0.0))
    plants = [
        ("pv-municipio", "m19", 60.0, "2025-03-01"),
        ("pv-panificio", "m17", 20.0, "2025-04-15"),
        ("pv-comunita", "community", 40.0, "2025-05-10"),
    ]
    plant_rows = []
    for k, (pid, owner, kw, commissioning) in enumerate(plants, start=101):
        plant_rows.append(
            {
                "id": pid,
                "pod": f"IT001E{k:08d}",
                "owner": owner,
                "power_kw": kw,
                "source": "pv",
                "commissioning": commissioning,
                "voltage": "BT",
            }
        )
        devices.append(SimDevice(f"DU-{k:04d}", f"IT001E{k:08d}", production_kw=kw))
    for m in members:
        if m.get("joined") is None:
            m.pop("joined", None)
    raw = {
        "name": "CER Sole del Campidano (demo)",
        "configuration": "CER",
        "zone": "south",
        "market_zone": "SARD",
        "constituted": "2025-01-01",
        "primary_substation": SUBSTATION,
        "members": members,
        "plants": plant_rows,
        "rules": {
            "premium": {
                "producers": 0.10,
                "community": 0.15,
                "consumers": 0.75,
                "consumers_by": "consumption",
            },
            "sale": "producers",
            "valorisation": "consumers",
            "enterprise_cap": True,
            "flexibility_bonus": {"share": 0.3},
            "later_members": {
                "annual_fee_eur": 24,
                "exit_penalty_eur": 50,
                "min_shared_consumption_kwh_per_year": 100,
            },
        },
        "devices": [{"id": d.du_id, "pod": d.pod} for d in devices],
    }
    return raw, devices


def _is_corrias() -> tuple[dict, list[SimDevice]]:
    # mean daily kWh of each flat over a year: appliances + July AC × mean monthly AC coefficient (≈ 0.68)
    flats = [
        ("N-1", 7.58, 4.25),
        ("N-2", 7.58, 4.25),
        ("N-3", 7.58, 4.25),
        ("N-4", 9.21, 4.25),
        ("N-5", 9.21, 4.25),
        ("N-6", 9.21, 4.25),
        ("N-7", 9.21, 4.25),
        ("N-8", 12.33, 6.94),
    ]
    millesimi = [111, 111, 111, 111, 111, 111, 111, 223]
    members, devices = [], []
    for k, ((flat, appliances, ac), mill) in enumerate(zip(flats, millesimi), start=1):
        members.append(
            {
                "id": f"n{k}",
                "name": f"Appartamento {flat}",
                "category": "private",
                "founder": True,
                "millesimi": mill,
                "pods": [{"pod": f"IT002E{k:08d}"}],
            }
        )
        devices.append(
            SimDevice(f"DU-N{k:03d}", f"IT002E{k:08d}", daily_kwh=round(appliances + 0.68 * ac, 2))
        )
    raw = {
        "name": "Condominio Is Corrias, edificio N (demo)",
        "configuration": "AUC",
        "zone": "south",
        "market_zone": "SARD",
        "constituted": "2024-01-01",
        "primary_substation": SUBSTATION,
        "building": "Is Corrias N",
        "members": members,
        "plants": [
            {
                "id": "pv-tetto",
                "pod": "IT002E00000100",
                "owner": "community",
                "power_kw": 18.0,
                "source": "pv",
                "commissioning": "2024-01-01",
                "voltage": "BT",
            }
        ],
        "rules": {
            "premium": {"producers": 0.0, "community": 0.0, "consumers": 1.0, "consumers_by": "millesimi"},
            "sale": "community",
            "valorisation": "consumers",
        },
        "devices": [{"id": d.du_id, "pod": d.pod} for d in devices]
        + [{"id": "DU-N100", "pod": "IT002E00000100"}],
    }
    devices.append(SimDevice("DU-N100", "IT002E00000100", production_kw=18.0))
    return raw, devices


def demo_configuration(kind: str) -> tuple[dict, list[SimDevice]]:
    """``(community.yaml mapping, simulated DUs)`` of the demo ``kind`` (``cer`` or ``is-corrias``)."""
    if kind == "cer":
        return _cer()
    if kind == "is-corrias":
        return _is_corrias()
    raise ValueError(f"demo community {kind!r}: choose one of {', '.join(KINDS)}")
