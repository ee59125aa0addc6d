"""Times in an UrbanDataset: local timestamps of ``context.timeZone`` and 15-minute periods.

Timestamps in the document are local times of a fixed offset (``UTC+1``, ``+02:00``); condivisa turns them
into aware UTC datetimes at once, so the two 02:xx hours of the autumn DST night stay distinct.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from condivisa.formats.urbandataset import profile as prof
from condivisa.kernel.timegrid import QUARTER, UTC


def parse_local_timestamp(text: object, tz: dt.timezone) -> dt.datetime:
    """``YYYY-MM-DDThh:mm:ss`` in the fixed offset ``tz`` -> aware UTC datetime (``ValueError`` otherwise)."""
    if not isinstance(text, str) or not prof.TIMESTAMP_RE.match(text):
        raise ValueError(f"{text!r} is not a timestamp YYYY-MM-DDThh:mm:ss")
    try:
        local = dt.datetime.fromisoformat(text)  # the regex above guarantees the exact shape
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date and time") from None
    return local.replace(tzinfo=tz).astimezone(UTC)


#: :func:`parse_local_timestamp` remembered: devices sending at the same quarter hour share the instant
_context_instant = lru_cache(maxsize=4096)(parse_local_timestamp)


def period_start(period: dict, tz: dt.timezone) -> tuple[dt.datetime | None, tuple[str, str] | None]:
    """``(start, None)`` of a valid 15-minute period on the quarter-hour grid, else ``(None, (subpath, reason))``."""
    start_ts, end_ts = period.get("start_ts"), period.get("end_ts")
    if isinstance(start_ts, str) and isinstance(end_ts, str):
        return _start_of_period(
            start_ts, end_ts, tz
        )  # the same quarter hours come in every message: remembered
    return _start_of_period.__wrapped__(start_ts, end_ts, tz)


@lru_cache(maxsize=8192)
def _start_of_period(
    start_ts: object, end_ts: object, tz: dt.timezone
) -> tuple[dt.datetime | None, tuple[str, str] | None]:
    try:
        start = parse_local_timestamp(start_ts, tz)
        end = parse_local_timestamp(end_ts, tz)
    except ValueError as exc:
        return None, ("", str(exc))
    if end - start != QUARTER:
        minutes = (end - start).total_seconds() / 60
        return None, ("", f"period is {minutes:g} minutes, expected 15")
    if start.minute % 15 or start.second:
        return None, (".start_ts", f"{start_ts!r} is not on the quarter-hour grid")
    return start, None


#: :func:`parse_local_timestamp` remembered: devices sending at the same quarter hour share the instant
context_instant = lru_cache(maxsize=4096)(parse_local_timestamp)
