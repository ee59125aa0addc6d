"""The MQTT messages of flexibility (issue #19): ``advice`` and ``event`` sent to a DU, and the DU's ``reply``.

Downlink, on the DU's command topic ``<root>/<community>/du/<du_id>/cmd`` (QoS 1), JSON objects:

* ``advice``: tomorrow's good hours for consuming, from the day-ahead forecast::

    {"cmd": "advice", "id": "advice-2026-12-02", "day": "2026-12-02",
     "windows": [{"from": "2026-12-02T11:00:00+01:00", "to": "2026-12-02T14:00:00+01:00",
                  "spare_kw": 40.0}],
     "text": {"it": "domani tra le 11 e le 14 ...", "en": "tomorrow between 11 and 14 ..."}}

  A DU may show the text or start deferrable loads in the windows; it need not reply.
* ``event``: a demand-response event the referente created: consume more (``"action": "consume"``) in the
  window ``[from, to)``, towards a community-wide target (``target_kw`` mean power or ``target_kwh``
  energy; either may be absent)::

    {"cmd": "event", "id": "ev-20261202-1", "from": "...T11:00:00+01:00", "to": "...T14:00:00+01:00",
     "action": "consume", "target_kw": 30.0, "target_kwh": null, "text": {"it": "...", "en": "..."}}

Uplink, on ``<root>/<community>/du/<du_id>/reply`` (QoS 1): the DU's answer to a command that has an
``id``::

    {"reply": "ev-20261202-1", "cmd": "event", "status": "accepted", "at": "2026-12-01T18:00:05+01:00"}

``status`` is ``accepted`` (the DU will act) or ``declined`` (it will not, e.g. the member said no). Times are
ISO 8601 with their UTC offset; a time without one is refused, never guessed.

This module only builds and parses: it is a pure format, like :mod:`condivisa.formats.urbandataset`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

#: the actions an event may ask for (only shifting consumption *into* sunny hours, for now)
EVENT_ACTIONS = ("consume",)
REPLY_STATUSES = ("accepted", "declined")
#: the largest reply accepted (bytes): a reply is a few dozen bytes
MAX_REPLY_BYTES = 4096


class MessageError(ValueError):
    """A flexibility message is invalid; the text says why (sent back on the error topic)."""


@dataclass(frozen=True)
class AdviceWindow:
    """Hours ``[start, end)`` with about ``spare_kw`` of production the community does not consume."""

    start: dt.datetime
    end: dt.datetime
    spare_kw: float


@dataclass(frozen=True)
class Advice:
    advice_id: str
    day: dt.date
    windows: tuple[AdviceWindow, ...]
    text: dict[str, str]  # language -> sentence


@dataclass(frozen=True)
class EventCommand:
    event_id: str
    start: dt.datetime
    end: dt.datetime
    action: str = "consume"
    target_kw: float | None = None
    target_kwh: float | None = None
    text: dict[str, str] | None = None


@dataclass(frozen=True)
class Reply:
    command_id: str
    cmd: str
    status: str
    at: dt.datetime | None = None


# ------------------------------------------------------------------------------------------- building
def advice_command(advice: Advice) -> dict[str, Any]:
    """The ``advice`` command of ``advice`` (module docstring)."""
    return {
        "cmd": "advice",
        "id": advice.advice_id,
        "day": advice.day.isoformat(),
        "windows": [
            {"from": w.start.isoformat(), "to": w.end.isoformat(), "spare_kw": round(w.spare_kw, 1)}
            for w in advice.windows
        ],
        "text": dict(advice.text),
    }


def event_command(event: EventCommand) -> dict[str, Any]:
    """The ``event`` command of ``event`` (module docstring)."""
    return {
        "cmd": "event",
        "id": event.event_id,
        "from": event.start.isoformat(),
        "to": event.end.isoformat(),
        "action": event.action,
        "target_kw": event.target_kw,
        "target_kwh": event.target_kwh,
        "text": dict(event.text or {}),
    }


def reply_payload(reply: Reply) -> bytes:
    """The bytes a DU publishes on its ``reply`` topic."""
    body = {"reply": reply.command_id, "cmd": reply.cmd, "status": reply.status}
    if reply.at is not None:
        body["at"] = reply.at.isoformat()
    return json.dumps(body).encode()


# -------------------------------------------------------------------------------------------- parsing
def _aware(value: object, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise MessageError(f"{where}: expected an ISO 8601 time with its offset, got {value!r}")
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MessageError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise MessageError(f"{where}: {value!r} has no UTC offset (e.g. +01:00)")
    return t


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise MessageError(f"{where}: expected a non-empty string of at most 200 characters")
    return value


def _optional_kw(value: object, where: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise MessageError(f"{where}: expected a number > 0 or null, got {value!r}")
    return float(value)


def _object(raw: bytes | dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if limit is not None and len(raw) > limit:
        raise MessageError(f"message of {len(raw)} bytes: at most {limit}")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError("expected a JSON object")
    return body


def parse_event(raw: bytes | dict[str, Any]) -> EventCommand:
    """An ``event`` command (what a DU receives); :class:`MessageError` with the reason if invalid."""
    body = _object(raw)
    if body.get("cmd") != "event":
        raise MessageError(f"cmd: expected 'event', got {body.get('cmd')!r}")
    start, end = _aware(body.get("from"), "from"), _aware(body.get("to"), "to")
    if end <= start:
        raise MessageError("to: must be after from")
    action = body.get("action", "consume")
    if action not in EVENT_ACTIONS:
        raise MessageError(f"action: expected one of {EVENT_ACTIONS}, got {action!r}")
    text = body.get("text") or {}
    if not isinstance(text, dict):
        raise MessageError("text: expected an object language -> sentence")
    return EventCommand(
        _text(body.get("id"), "id"),
        start,
        end,
        action,
        _optional_kw(body.get("target_kw"), "target_kw"),
        _optional_kw(body.get("target_kwh"), "target_kwh"),
        {str(k): str(v) for k, v in text.items()},
    )


def parse_advice(raw: bytes | dict[str, Any]) -> Advice:
    """An ``advice`` command (what a DU receives); :class:`MessageError` with the reason if invalid."""
    body = _object(raw)
    if body.get("cmd") != "advice":
        raise MessageError(f"cmd: expected 'advice', got {body.get('cmd')!r}")
    try:
        day = dt.date.fromisoformat(str(body.get("day")))
    except ValueError:
        raise MessageError(f"day: {body.get('day')!r} is not a date YYYY-MM-DD") from None
    windows = body.get("windows")
    if not isinstance(windows, list):
        raise MessageError("windows: expected a list")
    parsed = []
    for i, w in enumerate(windows):
        if not isinstance(w, dict):
            raise MessageError(f"windows[{i}]: expected an object")
        start, end = _aware(w.get("from"), f"windows[{i}].from"), _aware(w.get("to"), f"windows[{i}].to")
        if end <= start:
            raise MessageError(f"windows[{i}].to: must be after from")
        spare = w.get("spare_kw", 0.0)
        if isinstance(spare, bool) or not isinstance(spare, int | float) or not math.isfinite(spare):
            raise MessageError(f"windows[{i}].spare_kw: expected a number")
        parsed.append(AdviceWindow(start, end, float(spare)))
    text = body.get("text") or {}
    if not isinstance(text, dict):
        raise MessageError("text: expected an object language -> sentence")
    return Advice(_text(body.get("id"), "id"), day, tuple(parsed), {str(k): str(v) for k, v in text.items()})


def parse_reply(raw: bytes | dict[str, Any]) -> Reply:
    """A DU's ``reply`` (uplink); :class:`MessageError` with the reason if invalid."""
    body = _object(raw, MAX_REPLY_BYTES)
    unknown = sorted(set(body) - {"reply", "cmd", "status", "at"})
    if unknown:
        raise MessageError(f"unknown key(s) {unknown}: a reply has reply, cmd, status, at")
    status = body.get("status")
    if status not in REPLY_STATUSES:
        raise MessageError(f"status: expected one of {REPLY_STATUSES}, got {status!r}")
    at = body.get("at")
    return Reply(
        _text(body.get("reply"), "reply"),
        _text(body.get("cmd"), "cmd"),
        str(status),
        None if at is None else _aware(at, "at"),
    )
