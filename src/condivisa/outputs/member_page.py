"""What a member's page and statement tell beyond the money tiles: the notices (incomplete data, amounts
still provisional), this month against last month and the same month last year, the best hours in terms a
family can use, a producer's plants, and the overlap of the member's consumption with the community's
production. Everything is read from the settlement (:class:`~condivisa.outputs.monthly.SettledMonths`): the
month's result ``data_quality``, the monthly statements, the result's plant rows, the settled hourly flows.

Rules:

- **incomplete data**: the quarter hours missing in the month's settlement (``data_quality``, per POD) of the
  member's own PODs (consumption PODs and the PODs of the plants they own); the dashboard counts them as zero
  (:data:`condivisa.outputs.sources.STORED_FILL`), the CLI refuses them;
- **provisional**: every amount is provisional until the year's yearly close (the yearly balance, conguaglio);
  the GSE pays the monthly advances *about* two months after the month
  (:data:`condivisa.domain.gse_calendar.DEFAULT_PAYMENT_DAYS`, an assumption of condivisa, not a GSE term:
  docs/gse-ledger.md) and the balance after the year is closed;
- **best hours for a family**: the spare production of a window (kWh over ``hours``) is a spare *power*
  ``kW = kWh / hours``; an appliance is :data:`APPLIANCE_KW` (washing machine, dishwasher, oven: about 2 kW)
  and a household on a 3 kW contract can run one or two at once, so the advice says "1–2 appliances" when
  the spare power is at least two appliances, "1 appliance" when at least one, else "a small load";
- **comparisons**: the month's statement against the statements of the month before and of the same month a
  year earlier, when those months have data (``None`` otherwise: shown as "—").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from condivisa.domain.gse_calendar import DEFAULT_PAYMENT_DAYS, default_due_on
from condivisa.kernel.money import to_cents, to_euros
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import MemberStatement, Money

#: the power of one household appliance (washing machine, dishwasher, oven), kW
APPLIANCE_KW = 2.0
#: what a household can run at once on a 3 kW contract: at most this many appliances
HOUSEHOLD_APPLIANCES = 2

#: income lines (what the member receives) and cost lines (what is taken off), of :class:`Money`
INCOME_KEYS = ("premium_eur", "valorisation_eur", "sale_eur")
COST_KEYS = ("fees_eur", "gse_fees_eur")


def income_eur(money: Money) -> float:
    """Premium + valorisation + sale, € (whole cents)."""
    return to_euros(sum(to_cents(getattr(money, k)) for k in INCOME_KEYS))


def costs_eur(money: Money) -> float:
    """Fees + GSE fees, € (≤ 0: what is taken off; whole cents)."""
    return to_euros(sum(to_cents(getattr(money, k)) for k in COST_KEYS))


def member_pods(book: SettledMonths, member_id: str) -> set[str]:
    """The member's consumption PODs and the PODs of the plants they own."""
    member = book.community.member(member_id)
    pods = set(member.consumption_pods)
    pods |= {p.pod for p in book.community.plants if p.owner == member_id}
    return pods


def incomplete_data(book: SettledMonths, member_id: str, month: str) -> dict[str, Any] | None:
    """The quarter hours missing in ``month``'s settlement on the member's own PODs: ``missing``,
    ``expected`` and per POD (``pods``); ``None`` when nothing is missing."""
    pods = member_pods(book, member_id)
    rows = [p for p in book.month(month).document["data_quality"].get("pods") or [] if p.get("pod") in pods]
    missing = sum(int(p.get("missing_intervals") or 0) for p in rows)
    if not missing:
        return None
    return {
        "missing": missing,
        "expected": sum(int(p.get("expected_intervals") or 0) for p in rows),
        "pods": [
            {
                "pod": p["pod"],
                "missing": int(p["missing_intervals"]),
                "expected": int(p["expected_intervals"]),
            }
            for p in rows
            if p.get("missing_intervals")
        ],
    }


def provisional(book: SettledMonths, month: str) -> dict[str, Any]:
    """Whether the amounts of ``month`` are still provisional (the year is not closed) and when the GSE
    would pay: ``advance_by`` is the month's last day + :data:`DEFAULT_PAYMENT_DAYS` (an assumption)."""
    year = int(month[:4])
    return {
        "provisional": not book.year_closed(year),
        "year": year,
        "advance_by": default_due_on(month),
        "payment_days": DEFAULT_PAYMENT_DAYS,
    }


def _shift(month: str, months: int) -> str:
    y, m = int(month[:4]), int(month[5:])
    k = y * 12 + (m - 1) + months
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def _figures(st: MemberStatement) -> dict[str, float]:
    return {
        "withdrawn_kwh": st.energy.withdrawn_kwh,
        "shared_kwh": st.energy.shared_kwh,
        "income_eur": income_eur(st.money),
        "costs_eur": costs_eur(st.money),
        "total_eur": st.money.total_eur,
    }


COMPARE_KEYS = ("withdrawn_kwh", "shared_kwh", "income_eur", "costs_eur", "total_eur")


def comparisons(book: SettledMonths, member_id: str, month: str) -> dict[str, Any]:
    """The month's figures beside those of the month before and the same month a year earlier (each from
    that month's statement; ``None`` when the month has no data)."""

    def of(m: str) -> dict[str, float] | None:
        if m not in book.months or book.month(m).empty:
            return None
        return _figures(book.month(m).statement(member_id))

    prev, last_year = _shift(month, -1), _shift(month, -12)
    return {
        "keys": COMPARE_KEYS,
        "this": {"month": month, "figures": of(month)},
        "prev": {"month": prev, "figures": of(prev)},
        "last_year": {"month": last_year, "figures": of(last_year)},
    }


def appliances(spare_kw: float) -> str:
    """How many appliances the spare power is worth for a household: ``"1–2"``, ``"1"`` or ``"0"``."""
    if spare_kw >= HOUSEHOLD_APPLIANCES * APPLIANCE_KW:
        return "1–2"
    if spare_kw >= APPLIANCE_KW:
        return "1"
    return "0"


def family_windows(windows) -> list[dict[str, Any]]:
    """The best windows in family terms: hours, spare power (kW) and appliances (:func:`appliances`)."""
    out = []
    for w in windows:
        kw = w.spare_kwh / w.hours if w.hours else 0.0
        out.append(
            {
                "start": w.start_hour,
                "end": (w.start_hour + w.hours) % 24,
                "label": w.label,
                "spare_kwh": w.spare_kwh,
                "spare_kw": kw,
                "appliances": appliances(kw),
            }
        )
    return out


def recent_days(book: SettledMonths, days: int = 7) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the last ``days`` settled days (what the best hours are computed from)."""
    recent = book.recent_flows(days)
    if recent.empty:
        return None
    return recent.index.min().date(), recent.index.max().date()


def producer_plants(book: SettledMonths, member_id: str, month: str) -> list[dict[str, Any]]:
    """The plants the member owns, with the month's production (injected), shared part and sale, from the
    result's plant rows."""
    rows = {p["id"]: p for p in book.month(month).document.get("plants") or []}
    out = []
    for plant in book.community.plants:
        if plant.owner != member_id:
            continue
        row = rows.get(plant.id, {})
        out.append(
            {
                "id": plant.id,
                "power_kw": plant.power_kw,
                "injected_kwh": float(row.get("injected_kwh", 0.0)),
                "shared_kwh": float(row.get("shared_kwh", 0.0)),
                "sale_eur": float(row.get("sale_eur", 0.0)),
            }
        )
    return out


def covered_pct(st: MemberStatement) -> float:
    """The share of the member's consumption covered by the community's production (their shared energy over
    their withdrawal), %; ``nan`` without withdrawal."""
    w = st.energy.withdrawn_kwh
    return 100.0 * st.energy.shared_kwh / w if w > 0 else float("nan")
