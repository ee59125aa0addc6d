"""Issue #19, done when: on the real Mosquitto, forecast → event → the DUs acknowledge → the simulated
households respond → the baseline measures the shift → the extra shared energy and the flexibility bonus
are in the settlement, to the cent; the invitation e-mail reaches a real local SMTP server.

Three weeks of history are stored first (the baseline needs 10 similar days); the event day's readings
then travel as UrbanDatasets over MQTT through the ingest worker, after the event reached the simulated DUs.
The expected figures are worked out here independently of the engine: the baseline by its definition
(mean of the 10 previous working days' window quarters, times the capped same-day ratio), the TIP of a
20 kW PV plant in the south at a flat 100 €/MWh (DM 414/2023: 80 + max(0, 180 − Pz), at most 120 €/MWh:
120 €/MWh), and the extra shared energy by the hourly minimum (TIAD art. 1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest
import time_machine

import smtp_helpers
from condivisa.app import events as app_events
from condivisa.app.mail import Mailer
from condivisa.app.runtime import worker_from_settings
from condivisa.app.settings import Settings
from condivisa.domain.config import community_from_dict
from condivisa.engines.allocation import split_cents
from condivisa.formats.urbandataset.types import Reading
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.forecast import community_forecast
from condivisa.outputs.sources import inputs_from_store
from condivisa.sim import devices as sim
from condivisa.sim.flex_response import FlexParams
from condivisa.sim.sinks import MqttSink
from condivisa.store import flex_events
from condivisa.store.communities import community_slug
from condivisa.store.store import Store

pytestmark = pytest.mark.mosquitto

EVENT_DAY = dt.date(2026, 6, 17)  # a Wednesday
HISTORY_DAYS = 21
TIP_EUR_PER_KWH = 0.120  # 20 kW PV, zone south, Pz = 100 €/MWh: min(120, 80 + 80) €/MWh
SHARE = 0.5


def _devices() -> list[sim.SimDevice]:
    houses = [
        sim.SimDevice(f"DU-H{k}", f"IT001E90000{k:03d}", daily_kwh=9.0, participation=1.0 if k <= 3 else 0.0)
        for k in range(1, 6)
    ]
    return [*houses, sim.SimDevice("DU-PV", "IT001E90000900", production_kw=20.0)]


def _community(devices: list[sim.SimDevice], name: str):
    raw = sim.example_community_yaml(devices, name=name)
    for k, m in enumerate(raw["members"], start=1):
        m["email"] = f"m{k}@example.org"
        m["name"] = f"Socio {k}"
    raw["rules"] = {"flexibility_bonus": {"share": SHARE}}
    return community_from_dict(raw)


def _store_history(store: Store, fleet: sim.Fleet) -> None:
    for i, d in enumerate(fleet.devices):
        readings = [
            Reading(
                d.pod,
                fleet.starts[q].to_pydatetime().astimezone(dt.UTC),
                float(fleet.withdrawn_kwh[i, q]),
                float(fleet.injected_kwh[i, q]),
                du_id=d.du_id,
                withdrawn_total_kwh=float(fleet.withdrawn_total_kwh[i, q]),
                injected_total_kwh=float(fleet.injected_total_kwh[i, q]),
            )  # fmt: skip
            for q in range(len(fleet.starts))
        ]
        out = store.ingest_records(readings, source="test-history", device_id=d.du_id)
        assert not out.unknown_pods


def _expected_shift(frame: pd.DataFrame, pod: str, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """The baseline by its definition, computed with plain pandas: the window's quarters of the 10 previous
    working days (no holiday in June 2026 before the 17th except the 2nd, Festa della Repubblica), their
    mean, the same-day ratio on 2 hours ending 1 hour before the start, capped at ±20 %."""
    rows = frame[frame["pod"] == pod].set_index("start")["withdrawn_kwh"]
    local = rows.index.tz_convert(ROME)
    clock = local.hour * 60 + local.minute
    days = pd.Series(local.date, index=rows.index)
    lo = start.hour * 60 + start.minute
    hi = end.hour * 60 + end.minute
    adj = (lo - 180, lo - 60)
    working = sorted(
        {d for d in days if d < EVENT_DAY and d.weekday() < 5 and d != dt.date(2026, 6, 2)}, reverse=True
    )[:10]

    def energy(day: dt.date, a: int, b: int) -> np.ndarray:
        sel = (days.to_numpy() == day) & (clock >= a) & (clock < b)
        return rows[sel].to_numpy()

    profile = np.mean([energy(d, lo, hi) for d in working], axis=0)
    a_similar = np.mean([energy(d, *adj).sum() for d in working])
    alpha = float(np.clip(energy(EVENT_DAY, *adj).sum() / a_similar, 0.8, 1.2))
    return max(0.0, float((energy(EVENT_DAY, lo, hi) - alpha * profile).sum()))


@pytest.fixture
def smtp_server():
    with smtp_helpers.smtp_server() as server:
        yield server


def test_forecast_event_replies_response_baseline_and_bonus_to_the_cent(tmp_path, mosquitto, smtp_server):
    host, port, prefix = mosquitto
    devices = _devices()
    community = _community(devices, f"CER {prefix}")  # its slug is the topics' community level
    slug = community_slug(community.name)
    store = Store(f"sqlite:///{tmp_path / 'flex.db'}")
    store.upgrade()
    store.register_devices(community)
    settings = Settings(mqtt_url=f"mqtt://{host}:{port}", community=slug, mqtt_client_id=f"ingest-{slug}")
    smtp_port, inbox = smtp_server
    midnight = dt.datetime(EVENT_DAY.year, EVENT_DAY.month, EVENT_DAY.day, tzinfo=ROME)
    # the day before the event, 18:00: the referente plans tomorrow
    with time_machine.travel(midnight - dt.timedelta(hours=6), tick=True):
        history = sim.build_fleet(
            devices, EVENT_DAY - dt.timedelta(days=HISTORY_DAYS), HISTORY_DAYS, seed=11, until=midnight
        )
        _store_history(store, history)

        # 1. forecast: tomorrow's best hours
        forecast = community_forecast(store, community, EVENT_DAY)
        best = forecast.windows[0]
        assert best.spare_kwh > 0 and 9 <= best.start_hour <= 14
        start = pd.Timestamp(midnight + dt.timedelta(hours=best.start_hour))
        end = start + pd.Timedelta(hours=best.hours)

        # the platform's ingest worker (it also takes the DUs' replies) and the simulated DUs
        worker = worker_from_settings(settings, store).start()
        sink = MqttSink(f"mqtt://{host}:{port}", slug, root=settings.mqtt_topic_root)
        try:
            assert worker.wait_connected(10)
            # 2. the event, sent over MQTT and e-mail
            record = app_events.create(
                store, community, slug, start=start.to_pydatetime(), end=end.to_pydatetime(),
                created_by="referente", target_kw=5.0,
            )  # fmt: skip
            mailer = Mailer("127.0.0.1", smtp_port, sender="cer@example.org")
            summary = app_events.send(store, settings, community, record, mailer=mailer)
            assert summary.errors == [] and len(summary.du_topics) == 5
            assert sorted(summary.emails_sent) == ["m1", "m2", "m3", "m4", "m5"]

            # 3. the day: the DUs receive the event, reply, and send their quarter hours
            assert sink.wait_commands(5)
            today = sim.build_fleet(
                devices, EVENT_DAY, 1, seed=12, until=midnight + dt.timedelta(days=1), flex=FlexParams()
            )
            sent = sim.run(today, sink)
            sink.flush()
            stored_before = len(history.starts) * len(devices)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replies = flex_events.get_event(store.engine, record.id).replies()
                day_rows = store.counts()["measurements"] - stored_before
                if replies["no reply"] == 0 and day_rows >= sent["readings"] and worker.idle():
                    break
                time.sleep(0.2)
        finally:
            sink.close()
            worker.stop()
        assert replies == {"accepted": 3, "declined": 2, "no reply": 0}
        truth = today.shifted_kwh(record.id)
        assert set(truth) == {"DU-H1", "DU-H2", "DU-H3"} and all(v > 0.5 for v in truth.values())

    # 4. the day after: the settlement measures and values the event
    with time_machine.travel(midnight + dt.timedelta(days=1, hours=8), tick=True):
        inputs = inputs_from_store(store, community, assumed_price_eur_per_mwh=100.0)
        assert inputs.event_problems == ()
        book = inputs.settled_months(fill="zero")
        result = book.month("2026-06").result
        assert result is not None
        ev = result.flexibility.events[0]

        # the baseline measured the shift: as the definition gives it, and close to what the DUs moved
        frame = inputs.measurements
        by_member = {m.id: m.consumption_pods[0] for m in community.members}
        du_of = {d.pod: d.du_id for d in devices}
        for member_id, pod in by_member.items():
            assert ev.shifted_kwh[member_id] == pytest.approx(
                _expected_shift(frame, pod, start, end), abs=1e-6
            )
        movers = [m for m, p in by_member.items() if du_of[p] in truth]
        measured = sum(ev.shifted_kwh[m] for m in movers)
        moved = sum(truth.values())
        assert measured == pytest.approx(moved, rel=0.35), (measured, moved)
        print(f"\nmoved by the simulated DUs {moved:.2f} kWh, measured by the baseline {measured:.2f} kWh")

        # extra shared energy: the hourly minimum with and without the members' positive response
        flows = result.intervals()
        window = (flows.index >= start) & (flows.index < end)
        response_by_hour = np.zeros(window.sum())
        measured_events = inputs.events[0].responses
        for resp in measured_events.values():
            per_quarter = np.maximum(resp.actual_kwh - resp.baseline_kwh, 0.0)
            response_by_hour += per_quarter.reshape(-1, 4).sum(axis=1)
        inj = flows["injected_kwh"].to_numpy()[window]
        wd = flows["withdrawn_kwh"].to_numpy()[window]
        extra = np.minimum(inj, wd) - np.minimum(inj, np.maximum(wd - response_by_hour, 0))
        assert ev.extra_shared_kwh == pytest.approx(extra.sum(), abs=1e-9) and extra.sum() > 1.0
        # the premium: TIP 120 €/MWh on every extra kWh shared
        extra_cents = round(100 * TIP_EUR_PER_KWH * extra.sum())
        assert result.flexibility.extra_premium_cents == extra_cents
        bonus_cents = round(SHARE * extra_cents)
        assert result.flexibility.bonus_cents == bonus_cents
        weights = [ev.shifted_kwh.get(m.id, 0.0) for m in community.members]
        expected = {m.id: int(c) for m, c in zip(community.members, split_cents(bonus_cents, weights)) if c}
        assert result.allocation.flexibility_bonus == expected
        # the bonus is part of each member's premium, and the premium in total is unchanged
        plain = dataclasses.replace(inputs, events=()).settled_months(fill="zero").month("2026-06").result
        assert sum(plain.allocation.premium.values()) == sum(result.allocation.premium.values())
        for m in movers:
            assert result.allocation.premium[m] >= expected.get(m, 0)
        # the report the referente reads says the same, to the cent
        report = app_events.reports(store, inputs, slug)[0]
        assert report.settled and report.month_bonus_eur == {m: c / 100 for m, c in expected.items()}
        assert report.extra_shared_kwh == pytest.approx(extra.sum(), abs=1e-3)
        print(
            f"extra shared {extra.sum():.2f} kWh, extra premium {extra_cents / 100:.2f} €, "
            f"bonus {bonus_cents / 100:.2f} € {expected}"
        )

    # 5. the e-mails reached the SMTP server: one per member, with the event's hours, no one else's name
    assert sorted(r[0] for _, r, _ in inbox.messages) == [f"m{k}@example.org" for k in range(1, 6)]
    for _, rcpt, msg in inbox.messages:
        body = msg.get_body(preferencelist=("plain",)).get_content()
        k = rcpt[0][1]
        assert f"{start:%H:%M}" in body and f"Socio {k}" in body
        assert not any(f"Socio {j}" in body for j in range(1, 6) if str(j) != k)
    store.close()
