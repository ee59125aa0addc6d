"""The billing runs on the dashboard (read-only): the number of the final run a member's month is in, the
numbered statement "Rendiconto n. <run>-<member>" on download, and the referente's list of runs.

Cheap on purpose: a page reads the runs' headers in **one** query (:func:`condivisa.billing.run_records.
run_headers`, no lines); the fingerprint of the run's inputs is checked only when a statement is downloaded
(:func:`condivisa.billing.statements.run_statement_html`): the month is settled again on the run's data and
fill from the store, and when it still matches the run the statement is the numbered one, otherwise (data,
prices, rules or community changed since the run and no correction was posted) the provisional one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import DBAPIError

from condivisa.billing.run_records import RunError, RunHeader, get_run, run_headers
from condivisa.billing.statements import issuing_run, run_statement_html, statement_number
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement_money import PriceError
from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH, inputs_from_store
from condivisa.web.data import Dashboard


def _headers(dash: Dashboard) -> list[RunHeader]:
    try:
        return run_headers(dash.store, dash.community.name)
    except DBAPIError:  # a database without the billing tables
        return []


def member_run(dash: Dashboard, member_id: str, month: str | None) -> dict[str, Any] | None:
    """``{"number": "N-m1", "run": N}`` when ``month`` is in a final run (its latest correction's number),
    else ``None`` (the month's amounts are provisional)."""
    if not month:
        return None
    run = issuing_run(_headers(dash), month)
    if run is None:
        return None
    return {"number": statement_number(run, member_id), "run": run.number}


def numbered_statement(dash: Dashboard, member_id: str, month: str, lang: str) -> tuple[str, str] | None:
    """The numbered statement of the member's month (HTML) and its number, or ``None`` when the month is in
    no final run or the current data no longer match the run (then the statement is provisional)."""
    header = issuing_run(_headers(dash), month)
    if header is None:
        return None
    try:
        run = get_run(dash.store, dash.community.name, header.number)
        first = dt.date.fromisoformat(run.months[0] + "-01")
        last_month = run.months[-1]
        nxt = dt.date(int(last_month[:4]) + (last_month[5:] == "12"), int(last_month[5:]) % 12 + 1, 1)
        prices = dash.files.prices_file or None
        inputs = inputs_from_store(
            dash.store,
            dash.community,
            prices_csv=prices,
            assumed_price_eur_per_mwh=None if prices else ASSUMED_PRICE_EUR_PER_MWH,
            first_day=first,
            last_day=nxt - dt.timedelta(days=1),
        )
        html = run_statement_html(dash.store, inputs, run, member_id, month, lang)
    except (RunError, KeyError, StopIteration, MeasurementError, PriceError, ValueError):
        return None
    return html, statement_number(run, member_id)


def community_runs(dash: Dashboard) -> list[dict[str, Any]]:
    """The community's stored runs, newest first: number, kind, months, created (UTC), by, corrects."""
    return [
        {
            "number": h.number,
            "kind": h.kind,
            "months": h.months[0] if len(h.months) == 1 else f"{h.months[0]}…{h.months[-1]}",
            "created_at": h.created_at,
            "created_by": h.created_by,
            "corrects": h.corrects_number,
        }
        for h in reversed(_headers(dash))
    ]
