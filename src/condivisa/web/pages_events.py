"""Demand-response events on the dashboard (issue #19, item 3): the referente's ``/community/events`` and the
member's panel "I tuoi eventi".

- ``GET /community/events`` — staff only (referente, platform admin of the community shown): the form of a
  new event and the table of the community's events: window, invited, the DUs' replies and, once the day is
  settled, each member's kWh shifted, the extra shared energy and premium and the month's bonus — every
  figure :func:`condivisa.outputs.events.event_report` of the dashboard's own settled months
  (:meth:`condivisa.web.data.Dashboard.book`), so the page agrees to the cent with the statements;
- ``POST /community/events`` — create one (per-session anti-CSRF token): day, from, to (quarter hours),
  optional target kW or kWh, every member or a chosen few, a note; stored by
  :func:`condivisa.store.flex_events.create_event` and, when the app runs an MQTT worker
  (``app.state.mqtt_worker``), sent at once to each invited DU's command topic (QoS 1) and marked sent. A
  refusal (:class:`~condivisa.store.flex_events.EventError`: an overlap, no one invited, a bad window…)
  shows the form again with the message (400), nothing stored. E-mails are the CLI's
  (``condivisa events send``), as the page says;
- ``POST /community/events/cancel`` — cancel an event not over yet (its id in the form: no id in a path);
  another community's event answers exactly as an absent one (400, "no event").

Anybody but staff gets the 404 page (audited ``access_denied``), as on the other referente pages.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.events import command_dict, event_report, invitations, member_events
from condivisa.outputs.events_words import words
from condivisa.store import flex_events
from condivisa.store.flex_events import EventError, EventRecord
from condivisa.web import csrf
from condivisa.web.data import Dashboard
from condivisa.web.pages import NoCommunity, dashboard, render_page, resolve_lang, staff_only
from condivisa.web.pages_session import csrf_refused
from condivisa.web.tenancy import seen_slug

log = logging.getLogger(__name__)

WHAT = "community:events"
#: the form's single-valued fields (``member`` may repeat)
FIELDS = ("day", "start", "end", "target_kw", "target_kwh", "invite", "note")
NOTE_MAX = 500
_TIME = re.compile(r"^([01]\d|2[0-4]):(00|15|30|45)$")
#: the quarter hours offered by the form
STARTS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45)]
ENDS = [*STARTS[1:], "24:00"]


def _slug(request: Request) -> str:
    """The slug of the community shown (:class:`NoCommunity`, answered by the router, when none is)."""
    slug = seen_slug(request)
    if slug is None:
        raise NoCommunity()
    return slug


def _parse_time(day: dt.date, text: str, ew) -> dt.datetime:
    if not _TIME.match(text) or (text.startswith("24") and text != "24:00"):
        raise EventError(ew("bad_time", value=text[:10]))
    hour, minute = int(text[:2]), int(text[3:])
    if hour == 24:
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=ROME)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ROME)


def _number(text: str, ew) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise EventError(ew("bad_number", value=text[:20]))
    return value


def _new_id(engine: Any, start: dt.datetime) -> str:
    """``ev-YYYYMMDD-HHMM`` of the local start (as ``condivisa events create``), ``-2``… when a cancelled
    event of the same start holds it."""
    base = f"ev-{start.astimezone(ROME):%Y%m%d-%H%M}"
    for k in range(1, 100):
        candidate = base if k == 1 else f"{base}-{k}"
        try:
            flex_events.get_event(engine, candidate)
        except EventError:
            return candidate
    return base  # create_event says it exists


def _rows(dash: Dashboard, records: list[EventRecord], now: dt.datetime) -> list[dict[str, Any]]:
    book = dash.book()
    names = {m.id: m.name or m.id for m in dash.community.members}
    out = []
    for r in records:
        report = event_report(book, r) if r.cancelled_at is None else None
        out.append(
            {
                "record": r,
                "from": r.starts_at.astimezone(ROME),
                "to": r.ends_at.astimezone(ROME),
                "members": [(m, names.get(m, m)) for m in r.members],
                "replies": r.replies(),
                "report": report,
                "over": r.ends_at <= now,
                "cancellable": r.cancelled_at is None and r.ends_at > now,
            }
        )
    return list(reversed(out))  # newest first


def _page(
    request: Request,
    who: Any,
    lang: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    cancel_error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    dash = dashboard(request)
    slug = _slug(request)
    now = clock.now()
    records = flex_events.list_events(request.app.state.store.engine, slug, include_cancelled=True)
    known = {r.id for r in records}
    created = request.query_params.get("created")
    cancelled = request.query_params.get("cancelled")
    sent = request.query_params.get("sent", "")
    tomorrow = (now.astimezone(ROME) + dt.timedelta(days=1)).date()
    form = form or {"day": tomorrow.isoformat(), "start": "11:00", "end": "14:00", "invite": "all"}
    return render_page(
        request,
        "page_events.html",
        lang,
        status_code=status_code,
        who=who,
        ew=words(lang),
        community=dash.community,
        slug=slug,
        rows=_rows(dash, records, now),
        form=form,
        chosen=set(form.get("members") or ()),
        starts=STARTS,
        ends=ENDS,
        error=error,
        cancel_error=cancel_error,
        created=created if created in known else None,
        cancelled=cancelled if cancelled in known else None,
        sent=int(sent) if sent.isdigit() and len(sent) < 6 else None,
        send_error=request.query_params.get("send_error") == "1",
        mqtt=getattr(request.app.state, "mqtt_worker", None) is not None,
    )


def events_page(request: Request) -> Response:
    """``GET /community/events``: the form and the table, staff only (404 for anybody else)."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, WHAT)
    if refused is not None:
        return refused
    return _page(request, who, lang)


async def _read_form(request: Request) -> tuple[bool, dict[str, Any]]:
    form = await request.form(max_files=0, max_fields=len(FIELDS) + 2 + 1000)
    try:
        ok = csrf.session_ok(request, str(form.get(csrf.CSRF_FIELD) or ""))
        values: dict[str, Any] = {k: str(form.get(k) or "").strip()[:NOTE_MAX] for k in (*FIELDS, "event_id")}
        values["members"] = [str(m)[:64] for m in form.getlist("member")]
    finally:
        await form.close()
    return ok, values


def _send(request: Request, record: EventRecord, slug: str) -> tuple[int, bool]:
    """Publish the event to each invited DU through the app's MQTT worker and mark them sent: (DUs sent,
    whether a publish failed). No worker: nothing sent."""
    worker = getattr(request.app.state, "mqtt_worker", None)
    dus = sorted({i.du_id for i in record.invitations if i.du_id})
    if worker is None or not dus:
        return 0, False
    store = request.app.state.store
    with store.read() as conn:  # each command goes to its DU's own community's topic
        topics = store.registry.device_communities(conn, dus)
    command, sent, failed = command_dict(record), [], False
    for du in dus:
        try:
            worker.send_command(du, command, community=topics.get(du, slug))
            sent.append(du)
        except (ValueError, ConnectionError, OSError, RuntimeError) as exc:
            log.warning("event %s: could not send to %s: %s", record.id, du, exc)
            failed = True
    if sent:
        flex_events.mark_sent(store.engine, record.id, sent, [])
    return len(sent), failed


def _create(request: Request, who: Any, values: dict[str, Any], lang: str) -> EventRecord:
    ew = words(lang)
    try:
        day = dt.date.fromisoformat(values["day"])
    except ValueError:
        raise EventError(ew("bad_day", value=values["day"][:20])) from None
    start, end = _parse_time(day, values["start"], ew), _parse_time(day, values["end"], ew)
    if start <= clock.now():
        raise EventError(ew("past"))
    community = dashboard(request).community
    members = None if values["invite"] != "some" else values["members"]
    engine = request.app.state.store.engine
    return flex_events.create_event(
        engine,
        event_id=_new_id(engine, start),
        community=_slug(request),
        starts_at=start,
        ends_at=end,
        invitations=invitations(community, day, members),
        created_by=who.username,
        target_kw=_number(values["target_kw"], ew),
        target_kwh=_number(values["target_kwh"], ew),
        note=values["note"] or None,
    )


async def events_post(request: Request) -> Response:
    """``POST /community/events``: create (and send) an event, then back to the page (303); the form again
    with the reason on refusal (400)."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, WHAT)
    if refused is not None:
        return refused
    ok, values = await _read_form(request)
    if not ok:
        return csrf_refused(request, lang, "events", who.username)
    slug = _slug(request)
    try:
        record = await run_in_threadpool(_create, request, who, values, lang)
    except EventError as exc:
        return _page(request, who, lang, status_code=400, error=str(exc), form=values)
    sent, failed = await run_in_threadpool(_send, request, record, slug)
    back = f"/community/events?community={slug}&created={record.id}&sent={sent}"
    return RedirectResponse(back + ("&send_error=1" if failed else ""), status_code=303)


async def cancel_post(request: Request) -> Response:
    """``POST /community/events/cancel``: cancel the event ``event_id`` of the community shown, if not over."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, WHAT)
    if refused is not None:
        return refused
    ok, values = await _read_form(request)
    if not ok:
        return csrf_refused(request, lang, "events:cancel", who.username)
    slug, event_id = _slug(request), values["event_id"][:64]
    engine = request.app.state.store.engine
    try:
        record = flex_events.get_event(engine, event_id, slug)
        if record.ends_at <= clock.now():
            raise EventError(words(lang)("over", id=event_id))
        flex_events.cancel_event(engine, event_id, slug)
    except EventError as exc:
        return _page(request, who, lang, status_code=400, cancel_error=str(exc))
    return RedirectResponse(f"/community/events?community={slug}&cancelled={event_id}", status_code=303)


# ---- the member's panel ----------------------------------------------------------------------------------
def member_panel(request: Request, dash: Dashboard, member_id: str, lang: str) -> dict[str, Any]:
    """The member page's panel "I tuoi eventi": the events ``member_id`` is invited to, with their own
    figures only (:func:`condivisa.outputs.events.member_events`); empty when there are none."""
    slug = seen_slug(request)
    if slug is None:
        return {"my_events": []}
    records = flex_events.list_events(request.app.state.store.engine, slug)
    return {"my_events": member_events(dash.book(), records, member_id, clock.now()), "evw": words(lang)}
