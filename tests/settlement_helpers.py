"""Small builders shared by the settlement tests (not a test module)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from condivisa.domain.config import community_from_dict
from condivisa.kernel.timegrid import hours, quarter_hours

DAY = dt.date(2024, 6, 1)


def community(plants=None, members=None, rules=None, **kw):
    """A CER in the south constituted 2024-01-01; by default one consumer ``a`` (POD C1), one plant "
    "``p`` (P1, 10 kW)."""
    raw = {
        "name": "t",
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "primary_substation": "AC1",
        "members": members or [{"id": "a", "founder": True, "pods": [{"pod": "C1"}]}],
        "plants": plants
        or [{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "commissioning": "2024-01-01"}],
        "rules": rules or {"premium": {"producers": 0, "community": 0, "consumers": 1}},
    }
    raw.update(kw)
    return community_from_dict(raw)


def hourly_frame(
    day: dt.date, values: dict[str, tuple[dict[int, float], str]], n_days: int = 1
) -> pd.DataFrame:
    """Hourly rows for every POD: ``values[pod] = ({hour_index: kWh}, "withdrawn"|"injected")``; other hours 0."""
    idx = hours(day, day + dt.timedelta(days=n_days))
    rows = []
    for pod, (by_hour, column) in values.items():
        for i, ts in enumerate(idx):
            e = by_hour.get(i, 0.0)
            rows.append(
                {
                    "pod": pod,
                    "start": ts,
                    "withdrawn_kwh": e if column == "withdrawn" else 0.0,
                    "injected_kwh": e if column == "injected" else 0.0,
                }
            )
    return pd.DataFrame(rows, columns=["pod", "start", "withdrawn_kwh", "injected_kwh"])


def quarter_frame(day: dt.date, values: dict[str, tuple[float, str]], n_days: int = 1) -> pd.DataFrame:
    """Quarter-hour rows for every POD with the same energy in every quarter hour."""
    idx = quarter_hours(day, day + dt.timedelta(days=n_days))
    frames = []
    for pod, (e, column) in values.items():
        frames.append(
            pd.DataFrame(
                {
                    "pod": pod,
                    "start": idx,
                    "withdrawn_kwh": e if column == "withdrawn" else 0.0,
                    "injected_kwh": e if column == "injected" else 0.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def flat_prices(day: dt.date, price: float, n_days: int = 1) -> pd.Series:
    idx = hours(day, day + dt.timedelta(days=n_days))
    return pd.Series(price, index=idx, name="zonal_price_eur_per_mwh")
