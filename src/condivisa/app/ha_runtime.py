"""``condivisa serve`` publishes the members' Home Assistant sensors (issue #19, item 5), every
``ha_publish_interval_s`` seconds (0 = never).

Each cycle, for every community of the store (only ``settings.community`` when it is set) with at least one
active ``member`` credential (``member@<community>@<member_id>``, :mod:`condivisa.auth.devices`), the
figures of :func:`community_figures` are published by :mod:`condivisa.app.ha_publisher` on each such
member's own topics: the discovery configs once per start (and again after the publisher reconnected, or
for a credential issued meanwhile), the states every cycle, all QoS 1 and retained. A member erased since
(:mod:`condivisa.auth.erased`) is not published (the community is read as the dashboard reads it, erased
members under their pseudonyms); their retained messages are deleted from the broker once per start. A
cycle that fails (broker down, a community file that does not parse) is logged and tried again at the next
interval; it never stops ``serve``.

The figures, every one from the settlement (every number from one place):

- **shared energy today** (kWh): the member's ``shared_kwh`` in the settlement of today's stored readings so
  far, settled as the dashboard settles a day (:meth:`condivisa.outputs.sources.SettlementInputs.settled_months`,
  missing quarter hours zero-filled as :data:`~condivisa.outputs.sources.STORED_FILL`): the same function, so
  once the day is over the member page shows the same kWh (to the 3 decimals published). Energy does not
  depend on prices: the flat assumed price is used and no money is published;
- **community spare power now** (kW): in the last *complete* quarter hour (at 10:07, 09:45–10:00; at 00:05,
  23:45–24:00 of the day before), the community's injection minus its withdrawal, at least 0
  (:func:`condivisa.engines.indicators.spare_production_kwh`), from the quarter-hour settlement of that
  day's stored readings (so membership dates and plants' commissioning count as in the money), divided by
  0.25 h;
- **good moment to consume**: when that quarter hour is *measured* (every plant in service has its reading:
  production is what makes a surplus, and a missing consumption counts as zero, the dashboard's rule), the
  spare power is at least :data:`GOOD_TIME_SPARE_KW`, the power of one household appliance
  (:data:`condivisa.outputs.member_page.APPLIANCE_KW`, 2 kW: what the member page calls "1 appliance");
  when it is not measured yet (devices late, hourly data only), the current hour lies in one of today's
  forecast windows (:func:`condivisa.outputs.forecast.community_forecast`, computed once a day per
  community; no forecast, not a good moment).

The clock is injectable (``now=``, default :func:`condivisa.kernel.clock.now`), so a cycle can be run at
00:05 on the 1st of a month or on a DST day.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from condivisa.app.ha_publisher import MemberValues, clear_member, connect, publish_member
from condivisa.app.runtime import broker_connection
from condivisa.app.settings import Settings
from condivisa.auth.devices import active_device_credentials, member_credential_parts
from condivisa.auth.erased import erased_members, redact_community
from condivisa.domain.community import Community
from condivisa.engines.indicators import spare_production_kwh
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement import settle
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.forecast import community_forecast
from condivisa.outputs.member_page import APPLIANCE_KW
from condivisa.outputs.monthly import month_of
from condivisa.outputs.sources import (
    ASSUMED_PRICE_EUR_PER_MWH,
    STORED_FILL,
    SettlementInputs,
    inputs_from_store,
)
from condivisa.store.communities import list_communities, load_current
from condivisa.store.store import Store

log = logging.getLogger(__name__)

#: a good moment to consume: the measured spare power of the community is at least this, kW (one appliance)
GOOD_TIME_SPARE_KW = APPLIANCE_KW
QUARTER = dt.timedelta(minutes=15)
QUARTER_H = 0.25


@dataclass(frozen=True)
class CommunityFigures:
    """What one community's members see now (module docstring).

    Attributes
    ----------
    day : datetime.date
        Today (Europe/Rome).
    shared_today_kwh : dict
        ``member id -> kWh`` shared today so far (every member of the community).
    quarter_start : datetime.datetime
        Start of the last complete quarter hour (aware, Europe/Rome).
    spare_kw : float
        The community's spare power in that quarter hour, kW, ≥ 0.
    measured : bool
        Every plant in service has its reading of that quarter hour.
    good_time : bool
        The "buon momento per consumare" binary sensor.
    """

    day: dt.date
    shared_today_kwh: dict[str, float]
    quarter_start: dt.datetime
    spare_kw: float
    measured: bool
    good_time: bool


def last_complete_quarter(now: dt.datetime) -> dt.datetime:
    """Start of the last quarter hour that ended at or before ``now`` (aware), in Europe/Rome."""
    utc = now.astimezone(dt.UTC)
    floor = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)
    return (floor - QUARTER).astimezone(ROME)


def _day_inputs(store: Store, community: Community, day: dt.date) -> SettlementInputs:
    return inputs_from_store(
        store, community, assumed_price_eur_per_mwh=ASSUMED_PRICE_EUR_PER_MWH, first_day=day, last_day=day
    )


def shared_today_kwh(inputs: SettlementInputs, day: dt.date) -> dict[str, float]:
    """``member id -> kWh`` shared on ``day`` so far: the dashboard's settlement (zero-filled) of ``inputs``,
    the stored readings of ``day``, settled as of the day after."""
    members = [m.id for m in inputs.community.members]
    book = inputs.settled_months(fill=STORED_FILL, as_of=day + dt.timedelta(days=1))
    month = month_of(day)
    if month not in book.months or book.month(month).empty:
        return dict.fromkeys(members, 0.0)
    settled = book.month(month)
    return {m: float(settled.statement(m).energy.shared_kwh) for m in members}


def spare_in_quarter(inputs: SettlementInputs, quarter_start: dt.datetime) -> tuple[float, bool]:
    """The community's spare power in the quarter hour from ``quarter_start``, kW, and whether it is
    measured (module docstring), from the quarter-hour settlement of ``inputs`` (one day's readings)."""
    community, m = inputs.community, inputs.measurements
    at = pd.Timestamp(quarter_start).tz_convert(ROME)
    if m.empty:
        return 0.0, False
    starts = pd.to_datetime(m["start"], utc=True)
    pods_read = set(m.loc[starts == at.tz_convert("UTC"), "pod"].astype(str))
    in_service = [p.pod for p in community.plants if p.commissioning <= at.date()]
    measured = bool(pods_read) and set(in_service) <= pods_read
    try:
        result = settle(community, m, inputs.prices, interval="quarter", fill=STORED_FILL)
    except MeasurementError:  # hourly readings only: no quarter hour to read
        return 0.0, False
    flows = result.intervals()
    if at not in flows.index:
        return 0.0, False
    row = flows.loc[[at]]
    spare_kwh = float(spare_production_kwh(row["injected_kwh"], row["withdrawn_kwh"])[0])
    return spare_kwh / QUARTER_H, measured


def in_forecast_window(store: Store, community: Community, now: dt.datetime) -> bool:
    """The hour of ``now`` lies in one of today's forecast windows (False when there is no forecast)."""
    local = now.astimezone(ROME)
    try:
        forecast = community_forecast(store, community, local.date())
    except ValueError:
        return False
    return any(w.start_hour <= local.hour < w.start_hour + w.hours for w in forecast.windows)


def community_figures(
    store: Store,
    community: Community,
    now: dt.datetime,
    *,
    forecast_window: Callable[[], bool] | None = None,
) -> CommunityFigures:
    """The figures of ``community`` at ``now`` (module docstring). ``forecast_window`` answers whether the
    current hour is in today's forecast windows (default: :func:`in_forecast_window`), asked only when the
    last quarter hour is not measured."""
    day = now.astimezone(ROME).date()
    quarter = last_complete_quarter(now)
    today = _day_inputs(store, community, day)
    quarter_inputs = today if quarter.date() == day else _day_inputs(store, community, quarter.date())
    spare_kw, measured = spare_in_quarter(quarter_inputs, quarter)
    if measured:
        good = spare_kw >= GOOD_TIME_SPARE_KW
    else:
        good = forecast_window() if forecast_window else in_forecast_window(store, community, now)
    return CommunityFigures(day, shared_today_kwh(today, day), quarter, spare_kw, measured, good)


def member_credentials(engine: Any) -> dict[str, list[str]]:
    """``community -> member ids`` of the active ``member`` credentials."""
    out: dict[str, list[str]] = {}
    for c in active_device_credentials(engine):
        parts = member_credential_parts(c["du_id"]) if c["kind"] == "member" else None
        if parts is not None and parts[0] == c["community"]:
            out.setdefault(parts[0], []).append(parts[1])
    return out


@dataclass
class HaRuntime:
    """The publishing loop of ``serve`` (module docstring).

    Parameters
    ----------
    store : Store
        Where the readings, communities and credentials are.
    connect_client : callable
        Returns a connected paho client with the platform's (``worker``) credential.
    interval_s : int
        Seconds between cycles; 0: :meth:`start` starts nothing.
    root : str
        First level of the topics.
    communities : iterable of str, optional
        Only these communities (default: every community of the store).
    now : callable
        The clock.
    """

    store: Store
    connect_client: Callable[[], Any]
    interval_s: int
    root: str = "condivisa"
    communities: Iterable[str] | None = None
    now: Callable[[], dt.datetime] = clock.now
    cycles: int = 0
    failures: int = 0
    _client: Any = field(default=None, repr=False)
    _configured: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _cleared: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _forecasts: dict[tuple[str, dt.date, int], bool] = field(default_factory=dict, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def run_once(self) -> int:
        """One cycle; returns the number of messages published (0 without member credentials: no
        connection is made). Raises when the broker cannot be reached or refuses a message."""
        wanted = member_credentials(self.store.engine)
        if self.communities is not None:
            only = set(self.communities)
            wanted = {slug: ids for slug, ids in wanted.items() if slug in only}
        served = {r.slug for r in list_communities(self.store.engine)}
        wanted = {slug: ids for slug, ids in wanted.items() if slug in served}
        if not wanted:
            return 0
        client = self._connected()
        now, erased, sent = self.now(), erased_members(self.store.engine), 0
        for slug, member_ids in sorted(wanted.items()):
            try:
                sent += self._publish_community(client, slug, member_ids, now, erased)
            except (ConnectionError, TimeoutError):
                raise
            except Exception:  # one community's problem (its file, its data) does not stop the others
                log.exception("Home Assistant: community %s not published this cycle", slug)
        self.cycles += 1
        return sent

    def _connected(self) -> Any:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._drop_client()
        self._client = self.connect_client()
        self._configured.clear()  # after a reconnection the configs go again (a broker without retain)
        return self._client

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _good_time_from_forecast(self, slug: str, community: Community, now: dt.datetime) -> bool:
        local = now.astimezone(ROME)
        key = (slug, local.date(), local.hour)
        if key not in self._forecasts:
            self._forecasts = {k: v for k, v in self._forecasts.items() if k[1] == local.date()}
            try:
                self._forecasts[key] = in_forecast_window(self.store, community, now)
            except Exception:  # a forecast that fails does not keep the measured figures from being published
                log.exception("Home Assistant: no forecast for %s", slug)
                self._forecasts[key] = False
        return self._forecasts[key]

    def _publish_community(
        self, client: Any, slug: str, member_ids: list[str], now: dt.datetime, erased: dict
    ) -> int:
        # as the dashboard sees it: erased members replaced by their pseudonyms (their readings carry those)
        community = redact_community(load_current(self.store.engine, slug), erased)
        known = {m.id for m in community.members}
        sent = 0
        for member_id in member_ids:
            if member_id in erased and (slug, member_id) not in self._cleared:
                sent += clear_member(client, slug, member_id, root=self.root)
                self._cleared.add((slug, member_id))
        live = [m for m in member_ids if m in known and m not in erased]
        if len(live) < len([m for m in member_ids if m not in erased]):
            log.warning("Home Assistant: member credentials of %s for members not in the community", slug)
        if not live:
            return sent
        figures = community_figures(
            self.store,
            community,
            now,
            forecast_window=lambda: self._good_time_from_forecast(slug, community, now),
        )
        for member_id in live:
            values = MemberValues(
                member_id, figures.shared_today_kwh.get(member_id, 0.0), figures.spare_kw, figures.good_time
            )
            configs = (slug, member_id) not in self._configured
            sent += publish_member(client, values, slug, root=self.root, configs=configs)
            self._configured.add((slug, member_id))
        return sent

    # ---------------------------------------------------------------- the thread
    def start(self) -> HaRuntime:
        """Run a cycle now and then every ``interval_s`` seconds in a daemon thread (nothing when 0)."""
        if self.interval_s <= 0 or self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="condivisa-ha-publisher", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                sent = self.run_once()
                log.debug("Home Assistant: %d messages published", sent)
            except Exception:
                self.failures += 1
                log.exception("Home Assistant publishing failed; trying again in %d s", self.interval_s)
                try:
                    self._drop_client()
                except Exception:  # pragma: no cover - a client that cannot even disconnect
                    self._client = None
            delay = float(self.interval_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (waiting for a cycle in progress at most ``timeout_s``) and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._drop_client()


def ha_runtime_from_settings(
    settings: Settings, store: Store, *, now: Callable[[], dt.datetime] = clock.now
) -> HaRuntime:
    """The :class:`HaRuntime` of ``settings``: every ``ha_publish_interval_s`` seconds, on the ingest worker's
    broker with its credential (:func:`condivisa.app.runtime.broker_connection`), client id
    ``<mqtt_client_id>-ha``; only ``settings.community`` when it is set."""
    conn = broker_connection(settings)

    def connect_client() -> Any:
        return connect(
            conn.host, conn.port, conn.username, conn.password, client_id=f"{conn.client_id}-ha", tls=conn.tls
        )

    return HaRuntime(
        store,
        connect_client,
        settings.ha_publish_interval_s,
        root=settings.mqtt_topic_root,
        communities=[settings.community] if settings.community else None,
        now=now,
    )
