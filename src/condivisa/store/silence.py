"""When a device is silent: the one rule that ``condivisa db devices`` and the dashboard's data-quality panel
share (:func:`condivisa.web.data.silent_devices`).

A device is **silent** when, for more than ``silent_after`` (default one hour), either no message has arrived
from it or its newest quarter hour ended (a device that sends, but only old readings, leaves the month's
figures just as short). A device never heard from, or with no reading at all, is **never seen**.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from condivisa.kernel.timegrid import to_utc

#: a device is "silent" when its latest message, or the end of its newest quarter hour, is older than this
SILENT_AFTER = dt.timedelta(hours=1)

OK, SILENT, NEVER_SEEN = "ok", "silent", "never seen"


def silence(
    row: dict[str, Any], now: dt.datetime, silent_after: dt.timedelta = SILENT_AFTER
) -> dict[str, Any]:
    """The silence of one :meth:`Store.device_last_seen` row: ``status`` (``ok``, ``silent``, ``never seen``),
    ``last_received_at`` and ``last_reading_end`` (aware UTC or None) and ``silent_for_h`` (the longer of the
    two silences in hours; None for a device never seen)."""
    seen = to_utc(row.get("last_received_at"), naive_is="utc")
    last_start = to_utc(row.get("last_start"), naive_is="utc")
    data_end = last_start + dt.timedelta(minutes=15) if last_start else None
    out: dict[str, Any] = {
        "last_received_at": seen,
        "last_reading_end": data_end,
        "silent_for_h": None,
        "status": NEVER_SEEN,
    }
    if seen is None or data_end is None:
        return out
    quiet = max(now - seen, now - data_end)
    out["silent_for_h"] = quiet.total_seconds() / 3600
    out["status"] = SILENT if quiet > silent_after else OK
    return out
