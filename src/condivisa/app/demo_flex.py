"""The demo's demand-response event (issue #19) and its forecast, from planning to what it earned.

Rules implemented (``condivisa demo``):
- the event's day (:func:`event_day`) is the most recent working day (ARERA day type ``weekday``: not a
  Saturday, Sunday or national holiday) that ended before ``now`` − ``quiet`` (the demo's silent DU is
  silent only in its last hours) and has at least :data:`MIN_HISTORY_DAYS` working days of the demo's data
  before it (the baseline's similar days); none (e.g. ``--weeks 1``): no event;
- its window (:func:`plan_event`) is planned as a referente would, the evening before, once the days before
  it are stored: the best :data:`~condivisa.outputs.forecast.WINDOW_HOURS` hours of that day's forecast
  (:func:`condivisa.outputs.forecast.community_forecast`), else :data:`FALLBACK_WINDOW` (11:00–14:00 local);
  every member is invited, the event goes out over the demo's embedded broker (:func:`condivisa.app.events.
  send`);
- what it earned is read from the settlement the demo prints (:func:`event_lines`: the same settled months,
  :func:`condivisa.outputs.events.event_report`, as :func:`condivisa.app.events.reports` gives them), and the
  forecast's error over the printed month from :func:`condivisa.outputs.forecast.forecast_errors`
  (:func:`forecast_line`).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from condivisa.app import events as app_events
from condivisa.app.settings import Settings
from condivisa.domain.community import Community
from condivisa.domain.time_bands import day_type
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.events import event_report
from condivisa.outputs.forecast import community_forecast, forecast_errors
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.sources import SettlementInputs
from condivisa.outputs.terminal import cli_number
from condivisa.store import flex_events
from condivisa.store.flex_events import EventRecord
from condivisa.store.store import Store

#: working days of data the event's day needs before it (the baseline uses up to 10, at least 3)
MIN_HISTORY_DAYS = 5
#: the window (local hours [from, to)) when no forecast can be made
FALLBACK_WINDOW = (11, 14)
CREATED_BY = "condivisa demo"


@dataclass(frozen=True)
class PlannedEvent:
    """The demo's event as created and sent: ``from_forecast`` False when the window is the fallback."""

    record: EventRecord
    from_forecast: bool
    du_topics: tuple[str, ...]
    errors: tuple[str, ...]


def event_day(first_day: dt.date, now: dt.datetime, quiet: dt.timedelta = dt.timedelta(0)) -> dt.date | None:
    """The demo event's day (module docstring), or None when no day qualifies; ``first_day`` is the first
    day of the demo's data."""
    last = (now - quiet).astimezone(ROME).date() - dt.timedelta(days=1)
    days = [first_day + dt.timedelta(days=i) for i in range((last - first_day).days + 1)]
    if not days:
        return None
    working = [d for d, kind in zip(days, day_type(days), strict=True) if kind == "weekday"]
    for k in range(len(working) - 1, -1, -1):
        if k >= MIN_HISTORY_DAYS and local_midnight(working[k] + dt.timedelta(days=1)) <= now - quiet:
            return working[k]
    return None


def _window(store: Store, community: Community, day: dt.date) -> tuple[dt.datetime, dt.datetime, bool]:
    """``(start, end, from_forecast)`` of the event on ``day`` (module docstring)."""
    first, last = FALLBACK_WINDOW
    from_forecast = False
    try:
        forecast = community_forecast(store, community, day)
    except ValueError:
        forecast = None
    if forecast is not None and forecast.windows:
        best = forecast.windows[0]
        if best.start_hour + best.hours <= 24:
            first, last, from_forecast = best.start_hour, best.start_hour + best.hours, True
    start = dt.datetime(day.year, day.month, day.day, first, tzinfo=ROME)
    end = (
        local_midnight(day + dt.timedelta(days=1)).to_pydatetime() if last == 24 else start.replace(hour=last)
    )
    return start, end, from_forecast


def plan_event(store: Store, settings: Settings, community: Community, day: dt.date) -> PlannedEvent:
    """Create the demo's event on ``day`` (every member invited) and send it to the invited DUs over the
    broker of ``settings``; the days before ``day`` must be stored already (the forecast reads them)."""
    start, end, from_forecast = _window(store, community, day)
    record = app_events.create(
        store,
        community,
        settings.community_slug(),
        start=start,
        end=end,
        created_by=CREATED_BY,
        note="evento del demo: consumare di più quando la comunità produce di più",
    )
    summary = app_events.send(store, settings, community, record)
    return PlannedEvent(record, from_forecast, tuple(summary.du_topics), tuple(summary.errors))


def wait_replies(store: Store, event_id: str, timeout_s: float = 20.0) -> dict[str, int]:
    """Wait until every invited DU replied (or ``timeout_s``); the replies counted
    (:meth:`~condivisa.store.flex_events.EventRecord.replies`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        replies = flex_events.get_event(store.engine, event_id).replies()
        if replies["no reply"] == 0 or time.monotonic() > deadline:
            return replies
        time.sleep(0.1)


def _hours(record: EventRecord) -> str:
    a, b = record.starts_at.astimezone(ROME), record.ends_at.astimezone(ROME)
    return f"{a:%H}–{'24' if b.date() > a.date() else f'{b:%H}'}"


def event_lines(
    store: Store,
    book: SettledMonths,
    inputs: SettlementInputs,
    slug: str,
    simulated_kwh: Mapping[str, float] | None = None,
) -> list[str]:
    """One line per event of ``slug``: who accepted, the kWh moved as the baseline measured them (and as
    the simulated DUs moved them: ``simulated_kwh``, event id → kWh), the extra shared energy, premium and
    the month's bonus, all from the settlement ``book`` of ``inputs``."""
    lines = []
    for record in flex_events.list_events(store.engine, slug):
        report = event_report(book, record, inputs.event_problems)
        accepted = sorted({i.member_id for i in record.invitations if i.reply_status == "accepted"})
        head = (
            f"evento {record.starts_at.astimezone(ROME):%Y-%m-%d} {_hours(record)}: {len(accepted)} di "
            f"{len(record.members)} soci hanno accettato"
        )
        if not report.settled:
            lines.append(f"{head}; il suo giorno non è ancora saldato")
            continue
        moved = (simulated_kwh or {}).get(record.id)
        truth = (
            f"; i dispositivi simulati ne hanno spostati {cli_number(moved, 1)}" if moved is not None else ""
        )
        lines.append(
            f"{head}; spostati {cli_number(sum(report.shifted_kwh.values()), 1)} kWh (misurati col baseline"
            f"{truth}); energia condivisa in più {cli_number(report.extra_shared_kwh, 1)} kWh, premio in più "
            f"{cli_number(report.extra_premium_eur)} €, bonus {cli_number(sum(report.month_bonus_eur.values()))} €"
        )
        lines += [f"  {p}" for p in report.problems]
    return lines


def forecast_line(store: Store, community: Community, month: str, today: dt.date) -> str:
    """The forecast's error over the finished days of ``month`` (``YYYY-MM``): each day forecast from the
    days before it and compared with what was measured (:func:`condivisa.outputs.forecast.forecast_errors`);
    the mean of the daily MAE and bias of the spare production (kWh per hour) and of the daily total's
    absolute error (%)."""
    year, mon = map(int, month.split("-"))
    first = dt.date(year, mon, 1)
    following = dt.date(year + mon // 12, mon % 12 + 1, 1)
    last = min(following, today) - dt.timedelta(days=1)
    errors = forecast_errors(store, community, first, last) if first <= last else None
    if errors is None or errors.empty:
        return f"previsione di {month}: nessun giorno da confrontare (servono i 3 giorni prima)"
    pct = [abs(v) for v in errors["spare_total_error_pct"] if not math.isnan(v)]
    total = f"{cli_number(sum(pct) / len(pct), 0)} %" if pct else "n.d."
    return (
        f"previsione della produzione in più, {month} ({len(errors)} giorni, fatta il giorno prima): MAE "
        f"{cli_number(float(errors['spare_mae_kwh'].mean()))} kWh/h, bias "
        f"{cli_number(float(errors['spare_bias_kwh'].mean()))} kWh/h, errore del totale giornaliero {total}"
    )
