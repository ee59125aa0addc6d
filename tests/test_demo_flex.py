"""The demo's flexibility loop: the event's day and the pause of the DUs before it (fast), and the whole demo
on fixed days (slow): the event's line is printed with the settlement's figures, to the cent; without a
suitable day (``--weeks 1``) the demo says so and goes on; the 1st of a month and a DST day work."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from condivisa.app import events as app_events
from condivisa.app.demo_flex import MIN_HISTORY_DAYS, event_day
from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.domain.time_bands import day_type
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.sources import STORED_FILL, inputs_from_store
from condivisa.outputs.terminal import cli_number
from condivisa.sim.demo_data import NOT_TAKING_PART, demo_configuration
from condivisa.sim.demo_traffic import QUARTERS_PER_MESSAGE, SILENT_FOR, _steps, demo_fleets, send_past
from condivisa.store.store import Store

EVENT_LINE = re.compile(
    r"evento (\d{4}-\d{2}-\d{2}) (\d\d)–(\d\d): (\d+) di (\d+) soci hanno accettato; spostati ([\d.,]+) kWh "
    r"\(misurati col baseline; i dispositivi simulati ne hanno spostati ([\d.,]+)\); energia condivisa in più "
    r"([\d.,]+) kWh, premio in più ([\d.,]+) €, bonus ([\d.,]+) €"
)
FORECAST_LINE = re.compile(
    r"previsione della produzione in più, \d{4}-\d{2} \((\d+) giorni.*MAE [\d.,]+ kWh/h"
)


@pytest.fixture(autouse=True)
def _real_clock():
    yield
    clock.reset()


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(ROME)


@pytest.mark.parametrize(
    "now, weeks, expected",
    [
        ("2026-03-18T18:00+01:00", 3, dt.date(2026, 3, 17)),  # yesterday, a Tuesday
        ("2026-03-18T01:00+01:00", 3, dt.date(2026, 3, 16)),  # yesterday's last hours are the silent DU's
        ("2026-03-01T18:00+01:00", 3, dt.date(2026, 2, 27)),  # a Sunday, the 1st: Friday of the month before
        ("2026-03-29T18:00+02:00", 3, dt.date(2026, 3, 27)),  # DST day (Sunday)
        ("2026-01-01T18:00+01:00", 3, dt.date(2025, 12, 31)),  # 1 January
        ("2026-01-07T18:00+01:00", 3, dt.date(2026, 1, 5)),  # 6 January (Epiphany) is a holiday
        ("2028-02-29T18:00+01:00", 3, dt.date(2028, 2, 28)),
        ("2026-03-18T18:00+01:00", 1, None),  # one week never has 5 working days before a working day
        ("2026-03-01T18:00+01:00", 1, None),
    ],
)
def test_event_day_is_a_recent_working_day_with_history(now, weeks, expected):
    instant = _at(now)
    first = (instant - dt.timedelta(weeks=weeks)).date()
    day = event_day(first, instant, SILENT_FOR)
    assert day == expected
    if day is not None:
        assert day_type(day)[0] == "weekday"
        days = [first + dt.timedelta(days=i) for i in range((day - first).days)]
        assert sum(k == "weekday" for k in day_type(days)) >= MIN_HISTORY_DAYS


def test_demo_cer_has_the_bonus_and_most_but_not_all_households_take_part():
    raw, devices = demo_configuration("cer")
    assert raw["rules"]["flexibility_bonus"] == {"share": 0.3}
    takes_part = {d.du_id: d.participation for d in devices if d.production_kw <= 0}
    assert [k for k in range(1, 17) if takes_part[f"DU-{k:04d}"] == 0.0] == list(NOT_TAKING_PART)
    assert all(takes_part[f"DU-{k:04d}"] == 0.9 for k in range(1, 17) if k not in NOT_TAKING_PART)
    assert all(takes_part[f"DU-{k:04d}"] == 0.0 for k in range(17, 21))  # businesses, town hall, parish


class _Sink:
    """A sink recording what is sent, and the commands handed over when the pause comes."""

    def __init__(self) -> None:
        self.sent: list = []
        self.commands: list = []
        self.replies: list = []
        self.flushed_at: list[int] = []

    def send(self, m) -> None:
        self.sent.append(m)

    def flush(self) -> None:
        self.flushed_at.append(len(self.sent))

    def take_commands(self):
        out, self.commands = self.commands, []
        return out

    def reply(self, du_id, reply) -> None:
        self.replies.append((du_id, reply.status))


def test_send_past_pauses_at_the_event_day_and_the_dus_answer_before_sending_it():
    from condivisa.formats.flex_messages import EventCommand

    _, devices = demo_configuration("cer")
    now = _at("2026-03-18T18:00+01:00")
    start = dt.date(2026, 3, 10)
    fleets = demo_fleets("cer", devices, start, 8, now)
    midnight = dt.datetime(2026, 3, 16, tzinfo=ROME)
    steps, pause = _steps(fleets.mqtt, 96 * 8, midnight)
    assert fleets.mqtt.starts[pause] == midnight and (pause, QUARTERS_PER_MESSAGE) in steps
    assert sum(size for _, size in steps) == 96 * 8
    assert all(0 < size <= QUARTERS_PER_MESSAGE for _, size in steps)
    mqtt, rest = _Sink(), _Sink()
    command = EventCommand(
        "ev-x", midnight.replace(hour=11), midnight.replace(hour=14), "consume", None, None, ""
    )
    before: list[int] = []

    def on_pause(counts):
        before.append(counts["mqtt_messages"])
        mqtt.commands = [(d.du_id, command) for d in devices if d.production_kw <= 0]

    counts = send_past(fleets, mqtt, rest, now, pause_at=midnight, on_pause=on_pause)
    assert before and mqtt.flushed_at[0] == len(mqtt.sent[: before[0]])  # flushed before the pause
    # the DUs answered with the window's quarters not sent yet (else they would all decline)
    statuses = dict(mqtt.replies)
    assert len(statuses) == 20  # the REST DUs answer too, their reply goes out over MQTT
    accepted = [du for du, s in statuses.items() if s == "accepted"]
    assert 0 < len(accepted) < 16
    assert all(statuses[f"DU-{k:04d}"] == "declined" for k in (*NOT_TAKING_PART, 17, 18, 19, 20))
    moved = {**fleets.mqtt.shifted_kwh("ev-x"), **(fleets.rest.shifted_kwh("ev-x") if fleets.rest else {})}
    assert set(moved) == set(accepted) and all(v > 0 for v in moved.values())
    assert counts["sent_quarters"] == len(fleets.mqtt.starts)


def _run(tmp: Path, *args: str):
    res = CliRunner().invoke(app, ["demo", "--no-serve", "--dir", str(tmp), "--lang", "en", *args])
    assert res.exit_code == 0, res.output
    assert "demo stopped." in res.output and "Traceback" not in res.output
    return " ".join(res.output.split())


@pytest.mark.slow
def test_demo_prints_the_event_with_the_settlements_figures_to_the_cent(tmp_path):
    today = "2026-03-18T18:00+01:00"
    out = _run(tmp_path / "demo", "--today", today)
    m = EVENT_LINE.search(out)
    assert m, out
    day, start_h, end_h, accepted, invited = (
        m.group(1),
        int(m.group(2)),
        int(m.group(3)),
        *map(int, m.groups()[3:5]),
    )
    assert day == "2026-03-17" and end_h - start_h == 3 and 8 <= start_h <= 14
    assert invited == 20 and 0 < accepted < 16
    assert FORECAST_LINE.search(out), out
    # the figures printed are the settlement's: read the demo's store again, as the dashboard does
    clock.set_now(today)
    workdir = tmp_path / "demo"
    community = load_community(workdir / "community.yaml")
    store = Store(f"sqlite:///{workdir / 'demo.db'}")
    try:
        inputs = inputs_from_store(
            store, community, prices_csv=workdir / "prices.csv", assumed_price_eur_per_mwh=100.0
        )
        (report,) = app_events.reports(store, inputs, "demo")
        result = inputs.settled_months(fill=STORED_FILL).month("2026-03").result
    finally:
        store.close()
    assert report.settled and result is not None
    bonus_cents = sum(result.allocation.flexibility_bonus.values())
    assert bonus_cents > 0 and bonus_cents == result.flexibility.bonus_cents
    assert m.group(10) == cli_number(bonus_cents / 100)
    assert m.group(9) == cli_number(report.extra_premium_eur)
    assert m.group(8) == cli_number(report.extra_shared_kwh, 1)
    assert m.group(6) == cli_number(sum(report.shifted_kwh.values()), 1)
    assert report.record.replies() == {"accepted": accepted, "declined": 20 - accepted, "no reply": 0}
    # the baseline measures about what the simulated DUs moved
    measured, moved = (float(m.group(k).replace(",", "")) for k in (6, 7))
    assert moved > 5 and measured == pytest.approx(moved, rel=0.35)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, event",
    [
        (("--weeks", "1", "--today", "2026-03-18T18:00+01:00"), False),
        (("--weeks", "2", "--today", "2026-03-01"), True),  # the 1st of a month: the event is in February
        (("--weeks", "2", "--today", "2026-03-29"), True),  # DST day
    ],
)
def test_demo_event_on_any_day(tmp_path, args, event):
    out = _run(tmp_path / "demo", *args)
    if event:
        assert EVENT_LINE.search(out), out
    else:
        assert "no flexibility event: no past working day" in out and "evento " not in out
