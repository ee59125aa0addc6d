"""The settled months of a community: the one source of every figure the dashboard, statements and reports
show.

Given the community, the measurements table and the hourly zonal prices, :class:`SettledMonths` settles each
civil month (Europe/Rome) on its own with :func:`condivisa.engines.settlement.settle` — the only place energy
and money are computed — up to the end of the day before ``as_of`` (today by :mod:`condivisa.kernel.clock`).
The day in progress is never settled, so its future quarter hours are not counted as missing. Every table,
tile, chart and download reads the :class:`MonthSettlement` of its month:

- the typed :class:`~condivisa.engines.settlement_result.SettlementResult` (``None`` while no day of the month
  is finished), through which a member is read as a
  :class:`~condivisa.outputs.statement.MemberStatement` and the allocation table as
  :class:`~condivisa.outputs.statement.PayeeLine` rows;
- the settled hourly series (``SettlementResult.intervals()`` / ``member_series()``), which respect membership
  dates and plants' commissioning exactly as the money does;
- which days are settled (``settled_to``) and whether the month is complete;
- the result document (``SettlementResult.to_dict()``, or :func:`empty_document`), only for the outputs that
  need JSON-like data.

Yearly figures are the sum of the monthly statements. Once the year is closed (``as_of`` is in a later year)
the difference between the allocation of the whole year and the sum of its months is a line of its own, the
yearly balance (:meth:`SettledMonths.year_balance`): the GSE pays monthly advances and settles the year with a
balance (conguaglio). Nothing here does I/O.

References
----------
.. [1] ARERA, TIAD (delibera 727/2022/R/eel), Art. 1: shared energy per hour.
.. [2] GSE, Regole operative CACER (2024): monthly advances and the yearly balance (conguaglio).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines.flexibility import MeasuredEvent
from condivisa.engines.indicators import spare_production_kwh
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement import settle
from condivisa.engines.settlement_result import SettlementResult
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.excluded import excluded_by_pod
from condivisa.outputs.statement import (
    MEMBER_ENERGY_KEYS,
    MONEY_KEYS,
    MemberStatement,
    Money,
    PayeeLine,
    StatementMonth,
    balances,
    member_statement,
    payee_lines,
)
from condivisa.store.provenance import monthly_mix

ENERGY_KEYS = ("withdrawn_kwh", "injected_kwh", "shared_kwh", "incentivised_shared_kwh")
FLOW_COLUMNS = (
    "withdrawn_kwh",
    "injected_kwh",
    "shared_kwh",
    "spare_kwh",
    "member_withdrawn_kwh",
    "member_shared_kwh",
)


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the first day of ``month`` (``YYYY-MM``) and of the next month, Europe/Rome."""
    try:
        first = dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise ValueError(f"month: {month!r} is not YYYY-MM") from None
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return pd.Timestamp(first, tz=ROME), pd.Timestamp(nxt, tz=ROME)


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def empty_document(community: Community) -> dict[str, Any]:
    """The result document of a month with no finished day: the same keys as ``SettlementResult.to_dict()``,
    every figure zero, ``period`` empty."""
    return {
        "community": community.name,
        "configuration": community.configuration.value,
        "period": {"from": None, "to": None, "interval": "hour"},
        "totals": {**{k: 0.0 for k in ENERGY_KEYS}, **{k: 0.0 for k in MONEY_KEYS[:3]}},
        "months": [],
        "plants": [
            {
                "id": p.id,
                "owner": p.owner,
                "power_kw": p.power_kw,
                "injected_kwh": 0.0,
                "shared_kwh": 0.0,
                "incentivised_shared_kwh": 0.0,
                "premium_eur": 0.0,
                "valorisation_eur": 0.0,
                "sale_eur": 0.0,
            }
            for p in community.plants
        ],
        "members": [
            {
                "id": m.id,
                "name": m.name,
                "category": m.category.value,
                "founder": m.founder,
                **{k: 0.0 for k in MEMBER_ENERGY_KEYS},
                **Money().as_dict(),
            }
            for m in community.members
        ],
        "community_account": Money().as_dict(),
        "external_producers": [],
        "enterprise_cap": {},
        "later_members": {"below_minimum_shared_consumption": [], "fees_due_eur": {}},
        "data_quality": {"data_interval_minutes": None, "fill": None, "pods": []},
    }


def _empty_flows() -> pd.DataFrame:
    return pd.DataFrame(
        columns=list(FLOW_COLUMNS), index=pd.DatetimeIndex([], tz=ROME, name="start"), dtype=float
    )


@dataclass(frozen=True)
class MonthSettlement:
    """One civil month as settled (see the module docstring)."""

    month: str
    community: Community
    result: SettlementResult | None
    complete: bool

    @property
    def empty(self) -> bool:
        """No day of the month is settled yet (the 1st of the current month, or data only for today)."""
        return self.result is None

    @property
    def settled_from(self) -> dt.date | None:
        return self.result.first_day if self.result is not None else None

    @property
    def settled_to(self) -> dt.date | None:
        """The last settled day (the money covers the days up to and including it)."""
        return self.result.last_day if self.result is not None else None

    @property
    def totals(self) -> dict[str, float]:
        """The community's energy (kWh) and money (€) of the month; zeros while no day is settled."""
        if self.result is None:
            return {**{k: 0.0 for k in ENERGY_KEYS}, **{k: 0.0 for k in MONEY_KEYS[:3]}}
        return self.result.totals

    def statement(self, member_id: str) -> MemberStatement:
        """The member's figures of this month alone (:func:`~condivisa.outputs.statement.member_statement`)."""
        return member_statement(self.community, member_id, self.result, month=self.month)

    def line(self, member_id: str) -> StatementMonth:
        """The member's line of this month in a statement."""
        st = self.statement(member_id)
        return StatementMonth(self.month, st.energy, st.money)

    def payees(self) -> list[PayeeLine]:
        """The allocation table's rows: every member, the community account, external producers."""
        return payee_lines(self.community, self.result)

    @cached_property
    def document(self) -> dict[str, Any]:
        """The result document (``SettlementResult.to_dict()``; :func:`empty_document` while no day is
        settled), for the outputs that need JSON-like data. Cached: do not modify."""
        return self.result.to_dict() if self.result is not None else empty_document(self.community)

    def flows(self, member_id: str | None = None) -> pd.DataFrame:
        """The settled hours: community withdrawal, injection, shared and spare energy and, for ``member_id``,
        the member's withdrawal and part of the shared energy (kWh; index: hour start, Europe/Rome)."""
        if self.result is None:
            return _empty_flows()
        frame = self.result.member_series(member_id) if member_id else self.result.intervals()
        frame["spare_kwh"] = spare_production_kwh(frame["injected_kwh"], frame["withdrawn_kwh"])
        for col in ("member_withdrawn_kwh", "member_shared_kwh"):
            if col not in frame:
                frame[col] = 0.0
        return frame[list(FLOW_COLUMNS)]


class SettledMonths:
    """Per-month settlement of one community's measurements, as of a day.

    ``fill=None`` makes a month with missing intervals an error (the engine's rule); ``"zero"`` or
    ``"interpolate"`` fill them explicitly (the gaps stay in ``data_quality``). ``as_of`` (default: today, by
    :mod:`condivisa.kernel.clock`) is the first day *not* settled. ``excluded``: the stored readings left out
    of ``measurements`` for exceeding their POD's bound (listed by :meth:`excluded_readings`).
    """

    def __init__(
        self,
        community: Community,
        measurements: pd.DataFrame,
        prices: pd.Series,
        fill: str | None = None,
        as_of: dt.date | None = None,
        excluded: pd.DataFrame | None = None,
        sources: pd.DataFrame | None = None,
        events: Sequence[MeasuredEvent] = (),
        event_problems: Sequence[str] = (),
    ) -> None:
        self.community = community
        #: the demand-response events with the members' measured responses (:mod:`condivisa.engines.flexibility`)
        self.events = tuple(events)
        #: why a member's response to an event could not be measured (no baseline), one line each
        self.event_problems = tuple(event_problems)
        self.excluded = excluded if excluded is not None else pd.DataFrame(columns=["pod", "start"])
        self.sources = (
            sources  # per POD and quarter hour: withdrawn_source, injected_source (store.provenance)
        )
        m = measurements.copy()
        if not m.empty:
            m["start"] = pd.to_datetime(m["start"])
            if m["start"].dt.tz is None:
                raise ValueError("measurements 'start' must be time-zone aware")
        self.measurements = m
        self.prices = prices
        self.fill = fill
        self.as_of = as_of or clock.today()
        self.settle_until = local_midnight(self.as_of)
        self._months: list[str] | None = None
        self.month = lru_cache(maxsize=64)(self._month)  # type: ignore[method-assign]
        self._flows = lru_cache(maxsize=256)(lambda month, member_id: self.month(month).flows(member_id))
        self._year_balance = lru_cache(maxsize=8)(self._year_balance_uncached)

    def _events_in(self, lo: pd.Timestamp, hi: pd.Timestamp) -> list[MeasuredEvent]:
        """The events of ``[lo, hi)`` whose window ended before ``as_of`` (settled with their month)."""
        return [e for e in self.events if lo <= e.start < hi and e.end <= self.settle_until]

    def source_mix(self, month: str) -> dict[str, float] | None:
        """The share of the settled quarter-hour values of ``month`` from each source (distributor, DU,
        estimate; :func:`condivisa.store.provenance.monthly_mix`); ``None`` without provenance."""
        if self.sources is None or self.sources.empty:
            return None
        rows = self.sources[pd.to_datetime(self.sources["start"]) < self.settle_until]
        return monthly_mix(rows).get(month)

    # ---- which months ---------------------------------------------------------------------------
    @property
    def months(self) -> list[str]:
        """The months with measurements up to the month of ``as_of``, ``YYYY-MM``, oldest first (the current
        month included, settled or not)."""
        if self._months is None:
            if self.measurements.empty:
                self._months = []
            else:
                local = self.measurements["start"].dt.tz_convert(ROME)
                codes = np.unique(local.dt.year.to_numpy() * 100 + local.dt.month.to_numpy())
                now = month_of(self.as_of)
                self._months = [m for m in (f"{c // 100:04d}-{c % 100:02d}" for c in codes) if m <= now]
        return list(self._months)

    @property
    def latest_month(self) -> str | None:
        """The newest month with measurements (it may have no finished day yet)."""
        return self.months[-1] if self.months else None

    @property
    def latest_settled_month(self) -> str | None:
        """The newest month with at least one settled day: what the pages show by default."""
        return next((m for m in reversed(self.months) if not self.month(m).empty), None)

    @property
    def last_complete_month(self) -> str | None:
        """The newest month whose every day lies before ``as_of``."""
        return next(
            (m for m in reversed(self.months) if self.month(m).complete and not self.month(m).empty), None
        )

    def is_complete(self, month: str) -> bool:
        return month_bounds(month)[1] <= self.settle_until

    def excluded_readings(self, month: str) -> list[dict[str, Any]]:
        """The readings of ``month`` left out of the money for exceeding their POD's bound, per POD
        (:func:`condivisa.outputs.excluded.excluded_by_pod`)."""
        return excluded_by_pod(self.excluded, self.community, *month_bounds(month))

    # ---- one month --------------------------------------------------------------------------------
    def _slice(self, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
        hi = min(hi, self.settle_until)
        m = self.measurements
        part = m[(m["start"] >= lo) & (m["start"] < hi)] if not m.empty else m
        p = self.prices
        prices = p[(p.index >= lo.floor("h")) & (p.index < hi)] if len(p) else p
        return part.reset_index(drop=True), prices

    def _month(self, month: str) -> MonthSettlement:
        if month not in self.months:
            raise KeyError(month)
        part, prices = self._slice(*month_bounds(month))
        complete = self.is_complete(month)
        if part.empty:
            return MonthSettlement(month, self.community, None, complete)
        return MonthSettlement(
            month,
            self.community,
            settle(
                self.community, part, prices, fill=self.fill, events=self._events_in(*month_bounds(month))
            ),
            complete,
        )

    def result(self, month: str) -> dict[str, Any]:
        """The month's result document (zeros when no day of it is settled yet), for JSON-like outputs."""
        return self.month(month).document

    def flows(self, month: str, member_id: str | None = None) -> pd.DataFrame:
        """The month's settled hourly flows (member columns filled for ``member_id``; cached: do not modify)."""
        return self._flows(month, member_id)

    def recent_flows(self, days: int = 7, member_id: str | None = None) -> pd.DataFrame:
        """The settled hourly flows of the last ``days`` settled days, across month boundaries (the advice on
        the 1st of a month uses the end of the month before)."""
        parts: list[pd.DataFrame] = []
        covered = 0
        for month in reversed(self.months):
            ms = self.month(month)
            if ms.empty:
                continue
            parts.insert(0, self.flows(month, member_id))
            covered += (ms.settled_to - ms.settled_from).days + 1
            if covered >= days:
                break
        if not parts:
            return _empty_flows()
        frame = pd.concat(parts)
        last_day = frame.index.max().normalize()
        return frame[frame.index >= last_day - pd.Timedelta(days=days - 1)]

    def statement(self, member_id: str, month: str) -> MemberStatement:
        """The member's statement of ``month``: the month's figures, the months of its year up to it and, for
        December of a closed year, the yearly balance (``year_total`` is their sum)."""
        year = int(month[:4])
        return member_statement(
            self.community,
            member_id,
            self.month(month).result,
            month=month,
            months=self.member_months(member_id, year, through=month),
            year_balance=self.year_balance(year, member_id) if month[5:] == "12" else None,
        )

    # ---- a year ----------------------------------------------------------------------------------
    def _year_months(self, year: int | None, through: str | None = None) -> list[str]:
        return [
            m
            for m in self.months
            if (year is None or m.startswith(f"{year:04d}-")) and (through is None or m <= through)
        ]

    def member_months(
        self, member_id: str, year: int | None = None, through: str | None = None
    ) -> list[StatementMonth]:
        """Per month: the member's statement line (energy and money), each month settled on its own."""
        return [self.month(m).line(member_id) for m in self._year_months(year, through)]

    def community_months(self, year: int | None = None, through: str | None = None) -> list[dict]:
        """Per month: the community's totals and its own account (``account_*``), from each month's settlement
        (rows of the trend table and chart)."""
        out = []
        for m in self._year_months(year, through):
            ms = self.month(m)
            totals = ms.totals
            account = next(p.money for p in ms.payees() if p.kind == "community")
            out.append(
                {
                    "month": m,
                    **{k: float(totals.get(k, 0.0)) for k in ENERGY_KEYS + MONEY_KEYS[:3]},
                    **{f"account_{k}": v for k, v in account.as_dict().items()},
                }
            )
        return out

    def year_closed(self, year: int) -> bool:
        """The year is over as of ``as_of`` (its yearly balance can be drawn)."""
        return self.as_of >= dt.date(year + 1, 1, 1)

    def _year_balance_uncached(self, year: int) -> dict[str, Money] | None:
        months = self._year_months(year)
        if not self.year_closed(year) or not months:
            return None
        part, prices = self._slice(
            *(pd.Timestamp(dt.date(year, 1, 1), tz=ROME), pd.Timestamp(dt.date(year + 1, 1, 1), tz=ROME))
        )
        if part.empty:
            return None
        year_events = self._events_in(
            pd.Timestamp(dt.date(year, 1, 1), tz=ROME), pd.Timestamp(dt.date(year + 1, 1, 1), tz=ROME)
        )
        try:
            yearly = settle(self.community, part, prices, fill=self.fill, events=year_events)
        except MeasurementError:  # e.g. a whole month without data and no fill: no yearly balance
            return None
        whole = payee_lines(self.community, yearly)
        return {
            pid: b.balance for pid, b in balances(whole, [self.month(m).payees() for m in months]).items()
        }

    def year_balance(self, year: int, payee: str) -> Money | None:
        """The yearly balance of ``payee`` (a member id, ``community`` or an external producer), €: the
        allocation of the whole closed year minus the sum of its monthly statements; ``None`` while the year
        is open."""
        balance = self._year_balance(year)
        if balance is None:
            return None
        return balance.get(payee) or Money()


def monthly_statements(period: SettlementResult, book: SettledMonths) -> dict[str, Any]:
    """For a settlement over several months (``period``): per payee the sum of its monthly statements (each
    month settled on its own, as the dashboard shows them) and the balance that makes them equal the period's
    allocation (``balance = period − Σ months``). Added to ``result.json`` as ``monthly_statements``."""
    whole = payee_lines(book.community, period)
    rows = [
        {"id": pid, "sum_of_months": b.sum_of_months.as_dict(), "balance": b.balance.as_dict()}
        for pid, b in balances(whole, [book.month(m).payees() for m in book.months]).items()
    ]
    return {
        "months": book.months,
        "payees": rows,
        "rule": "Each month is settled and split on its own (the monthly statements); the period's allocation "
        "differs from their sum by the balance, shown once the year is closed as the yearly balance.",
    }
