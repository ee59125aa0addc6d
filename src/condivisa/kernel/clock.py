"""The one clock of condivisa: every "now" and "today" of the product comes from here.

By default the clock is the machine's real time. A process can be told that it lives on another day:

- ``CONDIVISA_NOW=2026-12-01T08:53:00+01:00`` (an instant with its UTC offset, or a date ``2026-12-01``, taken
as
  local midnight in Europe/Rome) starts the process's clock at that instant; from there it **runs on** at the
  real pace, so a demo started "on the 1st at 08:53" is at 09:08 fifteen minutes later;
- :func:`set_now` does the same from code (``condivisa demo --today``, ``condivisa report --as-of``).

The real instant at which the shifted clock read ``CONDIVISA_NOW`` is kept in ``CONDIVISA_NOW_SINCE`` (Unix
seconds) in the process's environment, so child processes (MQTT ingest workers, a served app) inherit the very
same shifted clock instead of starting it again.

Tests move the real time with the ``time-machine`` library: the clock reads :func:`time.time`, which it
patches, so a frozen or travelling test clock reaches every module.

References
----------
.. [1] Python ``datetime``: aware objects, https://docs.python.org/3/library/datetime.html
"""

from __future__ import annotations

import datetime as dt
import os
import time
from functools import lru_cache
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")

#: environment variable with the instant the process's clock starts at (ISO 8601 with offset, or a date)
ENV_NOW = "CONDIVISA_NOW"
#: environment variable with the real Unix time at which the shifted clock read :data:`ENV_NOW`
ENV_SINCE = "CONDIVISA_NOW_SINCE"


class ClockError(ValueError):
    """``CONDIVISA_NOW`` (or a ``--today`` / ``--as-of`` value) is not an instant or a date."""


def parse_instant(text: str) -> dt.datetime:
    """An aware instant from ``YYYY-MM-DD`` (local midnight, Europe/Rome) or ISO 8601 with a UTC offset.

    An instant without an offset is taken as Europe/Rome local time. Raises :class:`ClockError`.
    """
    value = (text or "").strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(day.year, day.month, day.day, tzinfo=ROME)
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ClockError(
            f"{value!r} is neither a date (YYYY-MM-DD) nor an instant (YYYY-MM-DDTHH:MM[:SS]+01:00)"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=ROME)


@lru_cache(maxsize=8)
def _start_s(text: str) -> float:
    """Unix time of a ``CONDIVISA_NOW`` value (parsed once: ``now()`` runs for every message ingested)."""
    return parse_instant(text).timestamp()


def _offset_s() -> float:
    """Seconds to add to the real time: 0 unless ``CONDIVISA_NOW`` is set."""
    start = os.environ.get(ENV_NOW)
    if not start:
        return 0.0
    instant = _start_s(start)
    since = os.environ.get(ENV_SINCE)
    if since is None:
        since = repr(time.time())
        os.environ[ENV_SINCE] = since  # children inherit the same shifted clock
    try:
        return instant - float(since)
    except ValueError:
        raise ClockError(f"{ENV_SINCE}={since!r} is not a Unix time") from None


def now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return dt.datetime.fromtimestamp(time.time() + _offset_s(), dt.UTC)


def local_now() -> dt.datetime:
    """The current instant in Europe/Rome."""
    return now().astimezone(ROME)


def today() -> dt.date:
    """Today's civil date in Europe/Rome."""
    return local_now().date()


def set_now(instant: dt.datetime | dt.date | str) -> dt.datetime:
    """Start this process's clock (and its children's) at ``instant``; it runs on from there.

    Returns the aware instant. A date is local midnight in Europe/Rome.
    """
    if isinstance(instant, str):
        value = parse_instant(instant)
    elif isinstance(instant, dt.datetime):
        value = instant if instant.tzinfo is not None else instant.replace(tzinfo=ROME)
    else:
        value = dt.datetime(instant.year, instant.month, instant.day, tzinfo=ROME)
    os.environ[ENV_NOW] = value.isoformat()
    os.environ[ENV_SINCE] = repr(time.time())
    return value


def reset() -> None:
    """Back to the machine's real time (tests)."""
    os.environ.pop(ENV_NOW, None)
    os.environ.pop(ENV_SINCE, None)
