"""The prospective members' quarter-hour withdrawals for the reference year, from their bills.

Each consumer gets a *shape* — 24 hourly values per month and day type (weekday, Saturday,
Sunday/holiday), laid on the year's real days and split into quarter hours keeping each hour's energy
(:func:`condivisa.engines.household.household_profile`) — then the shape is scaled to the bills
(:func:`condivisa.engines.household.bills_to_profile`): for each group g of the bills (month × band,
month, band or the whole year) ``w_q = shape_q · bill_g / Σ_{q∈g} shape_q``, so every bill figure is
reproduced exactly.

Shapes:

- ``domestic``: ARERA's mean hourly withdrawal of a domestic customer of the region and contract-power
  class (:func:`condivisa.formats.arera_profiles.arera_shape_source`, with its documented fallback);
- ``office`` (default of ``public_body``, ``nonprofit``, ``research``): ARERA publishes no non-domestic
  shape, so a documented simple one is used: 1 from 08:00 to 18:00 on weekdays, 0.25 otherwise (nights,
  Saturdays, Sundays and holidays);
- ``shop`` (default of ``sme`` and ``enterprise``): 1 from 08:00 to 20:00 Monday to Saturday, 0.2
  otherwise (nights, Sundays and holidays).

The non-domestic shapes are assumptions, stated in the report; bills by band (F1/F2/F3) correct them
toward the member's real split between day, evening and night.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd

from condivisa.engines.household import DAY_TYPES, bills_to_profile, household_profile
from condivisa.feasibility.consumers import Consumer
from condivisa.formats.arera_profiles import POWER_CLASSES, arera_shape_source, load_arera_table
from condivisa.kernel.timegrid import ROME

#: (first hour, end hour exclusive, level inside, level outside, day types with the opening hours)
NON_DOMESTIC = {
    "office": (8, 18, 1.0, 0.25, ("weekday",)),
    "shop": (8, 20, 1.0, 0.2, ("weekday", "saturday")),
}


def power_class(contract_power_kw: float) -> str:
    """ARERA's contract-power class of a domestic customer: ≤1.5, ≤3, ≤4.5, ≤6 or >6 kW."""
    for limit, label in zip((1.5, 3.0, 4.5, 6.0), POWER_CLASSES):
        if contract_power_kw <= limit + 1e-9:
            return label
    return POWER_CLASSES[-1]


@functools.cache
def _arera() -> pd.DataFrame:
    return load_arera_table()


@functools.cache
def shape_array(shape: str, region: str, power: str) -> tuple[np.ndarray, str]:
    """The (12 months, 3 day types, 24 hours) shape, relative units, and how it was obtained.

    ``domestic``: ARERA's table (kWh per hour; the note names the fallback when not exact);
    ``office``/``shop``: the documented non-domestic shapes of :data:`NON_DOMESTIC`.
    """
    if shape in NON_DOMESTIC:
        first, end, inside, outside, open_days = NON_DOMESTIC[shape]
        out = np.full((12, 3, 24), outside)
        for k, kind in enumerate(DAY_TYPES):
            if kind in open_days:
                out[:, k, first:end] = inside
        return out, f"non-domestic '{shape}' shape (assumed: ARERA publishes domestic shapes only)"
    table = _arera()
    out = np.zeros((12, 3, 24))
    sources = set()
    for m in range(12):
        for k, kind in enumerate(DAY_TYPES):
            out[m, k], source = arera_shape_source(table, region, power, m + 1, kind)
            sources.add(source)
    sources.discard("exact")
    note = f"ARERA domestic shape, {region}, {power} kW"
    if sources:
        note += f" ({', '.join(sorted(sources))})"
    return out, note


@functools.cache
def _year_shape(shape: str, region: str, power: str, year: int) -> np.ndarray:
    arr, _ = shape_array(shape, region, power)
    return household_profile(arr, dt.date(year, 1, 1), dt.date(year + 1, 1, 1))


def consumer_kwh(consumer: Consumer, index: pd.DatetimeIndex, region: str) -> tuple[np.ndarray, str]:
    """One consumer's quarter-hour withdrawal over ``index`` (a whole civil year, Europe/Rome), kWh.

    Parameters
    ----------
    consumer : Consumer
        Its bills, shape, contract power and (optional) region.
    index : pandas.DatetimeIndex
        The year's quarter-hour starts (``kernel.timegrid.year_quarter_hours``).
    region : str
        The plan's region, used when the consumer names none.

    Returns
    -------
    withdrawal_kwh : numpy.ndarray
        kWh per quarter hour; its groups sum to the bill figures.
    note : str
        Which shape was used.
    """
    year = int(index[len(index) // 2].year)
    reg = consumer.region or region
    power = power_class(consumer.contract_power_kw)
    shape = _year_shape(consumer.shape, reg, power, year)
    if shape.shape != (len(index),):
        raise ValueError(f"the shape has {shape.shape[0]} quarter hours, the year {len(index)}")
    months = index.tz_convert(ROME).month.to_numpy()
    bills = np.asarray(consumer.bills_kwh, dtype=float)
    if consumer.bills_by == "month_band":
        bills = bills.reshape(12, 3)
    elif consumer.bills_by == "year":
        bills = bills.reshape(())
    profile = bills_to_profile(shape, bills, months=months, instants=index, by=consumer.bills_by)  # type: ignore[arg-type]
    return np.asarray(profile, dtype=float), shape_array(consumer.shape, reg, power)[1]


def members_kwh(
    consumers: tuple[Consumer, ...], index: pd.DatetimeIndex, region: str
) -> tuple[list[str], list[Consumer], np.ndarray, list[str]]:
    """Every member's withdrawal: a consumer with ``count: N`` gives N identical members.

    Returns
    -------
    ids : list of str
        Member ids, in order (``id`` or ``id-1`` … ``id-N``).
    of : list of Consumer
        The plan entry of each member.
    withdrawal_kwh : numpy.ndarray
        Members × quarter hours, kWh.
    notes : list of str
        The shapes used, one line per plan entry.
    """
    ids: list[str] = []
    of: list[Consumer] = []
    rows: list[np.ndarray] = []
    notes: list[str] = []
    for c in consumers:
        profile, note = consumer_kwh(c, index, region)
        notes.append(f"{c.id}: {note}")
        for member_id in c.member_ids:
            ids.append(member_id)
            of.append(c)
            rows.append(profile)
    return ids, of, np.vstack(rows), notes
