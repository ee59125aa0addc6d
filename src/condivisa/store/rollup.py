"""The retention policy of measurements: quarter hours for ``keep_years`` years, then hourly totals.

A civil month (Europe/Rome) whose last day is more than ``keep_years`` years before today is *rolled up*:
its quarter hours (``minutes = 15``) of each POD and meter become one row per hour (``minutes = 60``) in one
transaction per month:

- ``withdrawn_kwh`` and ``injected_kwh`` of the hour are the sums of its quarter hours (kWh); the meter totals
  (``withdrawn_total_kwh``, ``injected_total_kwh``) are the largest of the hour (the reading at its end), the
  DU and arrival time those of the hour's last quarter hour;
- ``source`` is ``rollup``; ``flags`` keeps how many quarter hours the hour had (``{"quarters": n}``) when
  fewer than four (DST days have hours of four quarter hours too: the hours are UTC hours);
- the superseded values of ``measurement_revisions`` are kept (audit), the distributor's data untouched.

The default, six years, is the five years in which the distributor may still restate the data of existing
plants plus the year running (docs/data-store.md). A rolled-up month settles as hourly data, which is what the
GSE's hourly shared energy needs.

References
----------
.. [1] D.Lgs. 199/2021, art. 36 (five-year limit of corrections); ARERA TIAD (727/2022), Art. 4: shared
   energy is computed hourly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.store.models import Measurement

#: the retention of quarter hours, years (docs/data-store.md)
KEEP_YEARS = 6
_VALUE_COLUMNS = ("withdrawn_kwh", "injected_kwh", "withdrawn_total_kwh", "injected_total_kwh")


@dataclass(frozen=True)
class RolledMonth:
    """What rolling up one month did: quarter hours read and hours written."""

    month: str
    quarters: int
    hours: int


def cutoff_month(today: dt.date, keep_years: int = KEEP_YEARS) -> dt.date:
    """The first day of the oldest month kept in quarter hours: the month of ``today`` ``keep_years`` years
    ago (29 February → 28 February); every month before it is rolled up."""
    year = today.year - keep_years
    day = min(today.day, 28) if today.month == 2 else today.day
    return dt.date(year, today.month, day).replace(day=1)


def _midnight_utc(day: dt.date) -> dt.datetime:
    """Midnight (Europe/Rome) starting ``day``, in UTC."""
    return pd.Timestamp(day).tz_localize(ROME).tz_convert("UTC").to_pydatetime()


def months_to_roll(engine: sa.Engine, before: dt.date) -> list[dt.date]:
    """First days of the months before ``before`` that still hold quarter hours, oldest first."""
    t = Measurement.__table__
    end = _midnight_utc(before)
    with engine.connect() as conn:
        first = conn.execute(
            sa.select(sa.func.min(t.c.start_utc)).where(t.c.minutes == 15, t.c.start_utc < end)
        ).scalar()
    if first is None:
        return []
    first = (
        pd.Timestamp(first).tz_localize("UTC") if pd.Timestamp(first).tzinfo is None else pd.Timestamp(first)
    )
    month = first.tz_convert(ROME).date().replace(day=1)
    out = []
    while month < before:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def hourly_rows(quarters: pd.DataFrame) -> pd.DataFrame:
    """The hourly rows of quarter-hour rows (module docstring); ``quarters`` has the table's columns."""
    frame = quarters.sort_values("start_utc")
    frame = frame.assign(hour=pd.to_datetime(frame["start_utc"], utc=True).dt.floor("h"))
    grouped = frame.groupby(["pod", "hour", "meter"], sort=True)
    out = grouped.agg(
        withdrawn_kwh=("withdrawn_kwh", "sum"),
        injected_kwh=("injected_kwh", "sum"),
        withdrawn_total_kwh=("withdrawn_total_kwh", "max"),
        injected_total_kwh=("injected_total_kwh", "max"),
        du_id=("du_id", "last"),
        received_at=("received_at", "last"),
        quarters=("withdrawn_kwh", "size"),
    ).reset_index()
    return out.rename(columns={"hour": "start_utc"})


def roll_month(engine: sa.Engine, month: dt.date) -> RolledMonth:
    """Roll up the quarter hours of ``month`` (its first day) into hours, in one transaction."""
    t = Measurement.__table__
    start = _midnight_utc(month)
    end = _midnight_utc((month + dt.timedelta(days=32)).replace(day=1))
    window = sa.and_(t.c.minutes == 15, t.c.start_utc >= start, t.c.start_utc < end)
    cols = [t.c.pod, t.c.start_utc, t.c.meter, t.c.du_id, t.c.received_at, *(t.c[c] for c in _VALUE_COLUMNS)]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(*cols).where(window)).all()
        if not rows:
            return RolledMonth(f"{month:%Y-%m}", 0, 0)
        quarters = pd.DataFrame(rows, columns=[c.name for c in cols])
        quarters["start_utc"] = pd.to_datetime(quarters["start_utc"], utc=True)
        hours = hourly_rows(quarters)
        conn.execute(t.delete().where(window))
        conn.execute(t.insert(), [_row(h) for h in hours.itertuples(index=False)])
    return RolledMonth(f"{month:%Y-%m}", len(quarters), len(hours))


def _row(h) -> dict:
    def value(x):
        return None if pd.isna(x) else float(x)

    return {
        "pod": h.pod,
        "start_utc": h.start_utc.to_pydatetime(),
        "meter": h.meter,
        "minutes": 60,
        "withdrawn_kwh": float(h.withdrawn_kwh),
        "injected_kwh": float(h.injected_kwh),
        "withdrawn_total_kwh": value(h.withdrawn_total_kwh),
        "injected_total_kwh": value(h.injected_total_kwh),
        "du_id": h.du_id if isinstance(h.du_id, str) else None,
        "received_at": pd.Timestamp(h.received_at).to_pydatetime(),
        "source": "rollup",
        "revision": 0,
        "flags": None if h.quarters == 4 else [{"quarters": int(h.quarters)}],
    }


def roll_up(
    engine: sa.Engine, *, keep_years: int = KEEP_YEARS, today: dt.date | None = None
) -> list[RolledMonth]:
    """Roll up every month older than the retention (:func:`cutoff_month` of ``today``, default the clock's
    today); the months done, oldest first. Running it again does nothing more."""
    today = today or clock.now().astimezone(ROME).date()
    return [roll_month(engine, m) for m in months_to_roll(engine, cutoff_month(today, keep_years))]
