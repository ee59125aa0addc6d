"""``condivisa events`` (issue #19, item 3): create, list, show, report, send and cancel demand-response
events from the command line, on a SQLite store; the event over the real Mosquitto to each DU's cmd topic
and the e-mail through a real SMTP server (aiosmtpd); the spring DST day; the report equal to the
dashboard's settlement."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

import smtp_helpers
from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.formats.flex_messages import parse_event
from condivisa.kernel.timegrid import ROME
from condivisa.store import flex_events
from condivisa.transports.mqtt.broker import free_port
from conftest import EXAMPLE_COMMUNITY, ROOT
from mqtt_helpers import Listener, wait_until

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
SLUG = "cer-esempio-sud"
#: the day before the event of most tests, 10:00 in Rome
BEFORE = dt.datetime(2026, 12, 1, 10, 0, tzinfo=ROME)
EMAILS = {"Famiglia Rossi": "rossi@example.org", "Azienda Agricola Verdi": "verdi@refused.example"}


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    """No broker, no mail server, no settings file from the environment; wide tables."""
    for name in (
        "CONDIVISA_MQTT_URL",
        "CONDIVISA_SMTP_URL",
        "CONDIVISA_MQTT_TOPIC_ROOT",
        "CONDIVISA_COMMUNITY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "220")


@pytest.fixture
def config(tmp_path) -> Path:
    """The example community with an e-mail address for m1 and m3 (m3's is refused by the SMTP server)."""
    text = EXAMPLE_COMMUNITY.read_text(encoding="utf-8")
    for name, address in EMAILS.items():
        text = text.replace(f"name: {name},", f"name: {name}, email: {address},")
    path = tmp_path / "community.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str, at: dt.datetime = BEFORE):
    with time_machine.travel(at, tick=False):
        return CliRunner().invoke(app, ["events", *args])


def _create(config: Path, url: str, *extra: str, at: dt.datetime = BEFORE):
    return _run("create", "--config", str(config), "--database", url, *extra, at=at)


def _json(config: Path, url: str, *args: str):
    result = _run(*args, "--config", str(config), "--database", url, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


WINDOW = ("--from", "2026-12-02 11:00", "--to", "2026-12-02 14:00")


# ------------------------------------------------------------------------------------ create, list, show
def test_create_without_sending_then_list_and_show_as_json(store, sqlite_url, config):
    made = _create(config, sqlite_url, *WINDOW, "--target-kw", "30", "--note", "Grazie!", "--no-send")
    assert made.exit_code == 0, made.output
    assert "event ev-20261202-1100 created: 2026-12-02 11:00–14:00 (+0100)" in made.output
    assert "5 members invited, 5 DUs" in made.output and "not sent" in made.output

    [listed] = _json(config, sqlite_url, "list")
    assert listed["id"] == "ev-20261202-1100" and listed["community"] == SLUG
    assert (listed["from"], listed["to"]) == ("2026-12-02T11:00:00+01:00", "2026-12-02T14:00:00+01:00")
    assert listed["target_kw"] == 30.0 and listed["target_kwh"] is None and listed["note"] == "Grazie!"
    assert listed["sent_at"] is None and listed["cancelled_at"] is None
    assert listed["created_at"] == "2026-12-01T10:00:00+01:00" and listed["created_by"].startswith("cli:")
    assert listed["replies"] == {"accepted": 0, "declined": 0, "no reply": 5}
    assert [(i["member"], i["du"], i["reply"]) for i in listed["invitations"]] == [
        (f"m{k}", f"DU-000{k}", None) for k in range(1, 6)
    ]  # the plants' DUs are not invited

    flex_events.record_reply(
        store.engine, community=SLUG, du_id="DU-0002", event_id="ev-20261202-1100", status="declined"
    )
    shown = _json(config, sqlite_url, "show", "ev-20261202-1100")
    assert shown["id"] == "ev-20261202-1100" and shown["members_invited"] == ["m1", "m2", "m3", "m4", "m5"]
    assert shown["replies"] == {"accepted": 0, "declined": 1, "no reply": 4}
    assert shown["settled"] is False and shown["shifted_kwh"] == {} and shown["extra_premium_eur"] == 0.0

    table = _run("list", "--config", str(config), "--database", sqlite_url)
    assert table.exit_code == 0 and "ev-20261202-1100" in table.output and "not sent" in table.output
    text = _run("show", "ev-20261202-1100", "--config", str(config), "--database", sqlite_url)
    assert text.exit_code == 0, text.output
    assert "0 accepted, 1 declined, 4 no reply" in text.output and "DU-0002: declined" in text.output
    assert "not settled yet" in text.output and "assumed flat 100 €/MWh" in text.output
    assert "Famiglia Rossi" in text.output and "Grazie!" in text.output


def test_only_the_members_asked_are_invited(store, sqlite_url, config):
    made = _create(
        config, sqlite_url, *WINDOW, "--member", "m1", "--member", "m3", "--id", "ev-a", "--no-send"
    )
    assert made.exit_code == 0, made.output
    [listed] = _json(config, sqlite_url, "list")
    assert listed["id"] == "ev-a" and listed["members_invited"] == ["m1", "m3"]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--from", "2026-12-02 13:00", "--to", "2026-12-02 15:00"), "overlaps event 'ev-20261202-1100'"),
        (("--from", "2026-12-03 11:10", "--to", "2026-12-03 14:00"), "on the quarter hour"),
        (("--from", "2026-12-03 14:00", "--to", "2026-12-03 11:00"), "must end after it starts"),
        (("--from", "2026-12-03 22:00", "--to", "2026-12-04 01:00"), "lies on one day"),
        (("--from", "tomorrow", "--to", "2026-12-03 14:00"), "not a time"),
        (("--from", "2026-12-03 11:00", "--to", "2026-12-03 14:00", "--member", "m9"), "not members"),
        (("--from", "2026-12-03 11:00", "--to", "2026-12-03 14:00", "--target-kw", "0"), "must be > 0"),
        (
            (
                "--from",
                "2026-12-03 11:00",
                "--to",
                "2026-12-03 14:00",
                "--target-kw",
                "1",
                "--target-kwh",
                "2",
            ),
            "not both",
        ),
        (("--from", "2026-12-03 11:00", "--to", "2026-12-03 14:00", "--id", "ev 1"), "event id 'ev 1'"),
    ],
)
def test_a_bad_event_is_refused_with_the_reason_and_exit_2(store, sqlite_url, config, args, why):
    assert _create(config, sqlite_url, *WINDOW, "--no-send").exit_code == 0
    refused = _create(config, sqlite_url, *args, "--no-send")
    assert refused.exit_code == 2, refused.output
    assert "error:" in refused.output and why in refused.output
    assert len(_json(config, sqlite_url, "list")) == 1  # nothing stored


def test_cancel_keeps_the_event_and_frees_its_hours(store, sqlite_url, config):
    assert _create(config, sqlite_url, *WINDOW, "--no-send").exit_code == 0
    cancelled = _run("cancel", "ev-20261202-1100", "--config", str(config), "--database", sqlite_url)
    assert cancelled.exit_code == 0, cancelled.output
    assert (
        "ev-20261202-1100 (2026-12-02 11:00–14:00 (+0100)) is cancelled 2026-12-01 10:00" in cancelled.output
    )
    [listed] = _json(config, sqlite_url, "list")
    assert listed["cancelled_at"] == "2026-12-01T10:00:00+01:00"
    shown = _json(config, sqlite_url, "show", "ev-20261202-1100")
    assert shown["cancelled_at"] is not None and shown["settled"] is False
    assert _json(config, sqlite_url, "report")["events"] == []  # a cancelled event is not measured
    again = _run("send", "ev-20261202-1100", "--config", str(config), "--database", sqlite_url)
    assert again.exit_code == 2 and "is cancelled" in again.output
    other = _create(config, sqlite_url, "--from", "2026-12-02 12:00", "--to", "2026-12-02 13:00", "--no-send")
    assert other.exit_code == 0, other.output  # the hours are free again
    for command in ("show", "send", "cancel"):
        unknown = _run(command, "ev-nope", "--config", str(config), "--database", sqlite_url)
        assert unknown.exit_code == 2 and "no event 'ev-nope'" in unknown.output


# ---------------------------------------------------------------------------------------------- the clock
def test_an_event_on_the_spring_dst_day_keeps_its_clock_hours(store, sqlite_url, config):
    day_before = dt.datetime(2026, 3, 28, 18, 0, tzinfo=ROME)
    made = _create(
        config,
        sqlite_url,
        "--from",
        "2026-03-29 11:00",
        "--to",
        "2026-03-29 14:00",
        "--no-send",
        at=day_before,
    )
    assert made.exit_code == 0, made.output
    assert "ev-20260329-1100 created: 2026-03-29 11:00–14:00 (+0200)" in made.output
    [listed] = _json(config, sqlite_url, "list")
    assert (listed["from"], listed["to"]) == ("2026-03-29T11:00:00+02:00", "2026-03-29T14:00:00+02:00")
    assert listed["created_at"] == "2026-03-28T18:00:00+01:00"  # the day before is still winter time
    record = flex_events.get_event(store.engine, "ev-20260329-1100")
    assert record.starts_at.astimezone(
        dt.UTC
    ).hour == 9 and record.ends_at - record.starts_at == dt.timedelta(hours=3)
    # the night hour that does not exist is refused, not guessed
    night = _create(
        config,
        sqlite_url,
        "--from",
        "2026-03-29 02:30",
        "--to",
        "2026-03-29 04:00",
        "--no-send",
        at=day_before,
    )
    assert night.exit_code == 2 and "does not exist in Italy" in night.output
    # an ISO time with its offset is taken as it is
    iso = _create(
        config, sqlite_url, "--from", "2026-03-29T15:00:00+02:00", "--to", "2026-03-29T13:15:00Z", "--no-send"
    )
    assert iso.exit_code == 0, iso.output
    assert "ev-20260329-1500 created: 2026-03-29 15:00–15:15 (+0200)" in iso.output


# ------------------------------------------------------------------------------------------ sending
@pytest.fixture
def smtp_server():
    with smtp_helpers.smtp_server() as server:
        yield server


def test_a_broker_that_is_down_is_reported_with_exit_1(store, sqlite_url, config, monkeypatch):
    monkeypatch.setenv("CONDIVISA_MQTT_URL", f"mqtt://127.0.0.1:{free_port()}")
    sent = _create(config, sqlite_url, *WINDOW, "--no-email")
    assert sent.exit_code == 1, sent.output
    assert "DU messages published: 0" in sent.output and "error: MQTT:" in sent.output
    assert "e-mails: none" in sent.output
    [listed] = _json(config, sqlite_url, "list")
    assert all(i["sent_at"] is None for i in listed["invitations"])  # no DU got it: send it again later


@pytest.mark.mosquitto
def test_the_event_reaches_each_dus_cmd_topic_and_the_members_mailbox(
    store, sqlite_url, config, mosquitto, smtp_server, monkeypatch
):
    host, port, prefix = mosquitto
    smtp_port, inbox = smtp_server
    monkeypatch.setenv("CONDIVISA_MQTT_URL", f"mqtt://{host}:{port}")
    monkeypatch.setenv("CONDIVISA_MQTT_TOPIC_ROOT", prefix)
    monkeypatch.setenv("CONDIVISA_SMTP_URL", f"smtp://127.0.0.1:{smtp_port}")
    monkeypatch.setenv("CONDIVISA_SMTP_FROM", "cer@example.org")
    listener = Listener(host, port, f"{prefix}/#")
    got = listener.messages
    try:
        sent = _create(config, sqlite_url, *WINDOW, "--target-kwh", "90")
        assert wait_until(lambda: len(got) >= 5, 10)
        # send again (e.g. after an outage), DUs only: the same command once more on each cmd topic
        again = _run(
            "send", "ev-20261202-1100", "--config", str(config), "--database", sqlite_url, "--no-email"
        )
        assert wait_until(lambda: len(got) >= 10, 10)
    finally:
        listener.close()
    assert sent.exit_code == 1, sent.output  # m3's address was refused
    out = sent.output
    assert "DU messages published: 5" in out and "e-mails sent: 1" in out
    assert "refused m3: 550 5.1.1 no such user" in out and "members with no channel" not in out
    expected = [f"{prefix}/{SLUG}/du/DU-000{k}/cmd" for k in range(1, 6)]
    assert sorted(t for t, _ in got[:5]) == expected
    for _, payload in got:
        command = parse_event(payload)
        assert command.event_id == "ev-20261202-1100" and command.action == "consume"
        assert command.start == dt.datetime(2026, 12, 2, 11, 0, tzinfo=ROME)
        assert command.start.utcoffset() == dt.timedelta(hours=1) and command.target_kwh == 90.0
        assert "tra le 11:00 e le 14:00" in command.text["it"] and "90 kWh" in command.text["en"]
    assert again.exit_code == 0, again.output
    assert "DU messages published: 5" in again.output and "e-mails: none" in again.output
    [(_, to, message)] = inbox.messages
    assert to == ["rossi@example.org"] and message["Subject"].startswith("Evento della comunità")
    body = message.get_content()
    assert "Ciao Famiglia Rossi" in body and "tra le 11:00 e le 14:00" in body and "Verdi" not in body
    [listed] = _json(config, sqlite_url, "list")
    assert listed["sent_at"] is not None and all(i["sent_at"] for i in listed["invitations"])


# -------------------------------------------------------------------------------------- report, settled
def test_the_report_is_the_dashboards_settlement(tmp_path, sqlite_url):
    from condivisa.formats.csv_io import read_measurements
    from condivisa.ingest.tables import ingest_frame
    from condivisa.outputs.sources import stored_months
    from condivisa.store.store import Store

    text = EXAMPLE_COMMUNITY.read_text(encoding="utf-8")
    text = text.replace(
        "  enterprise_cap: true\n", "  enterprise_cap: true\n  flexibility_bonus: {share: 0.5}\n"
    )
    config = tmp_path / "community.yaml"
    config.write_text(text, encoding="utf-8")
    community = load_community(config)
    assert community.rules.flexibility_bonus_share == 0.5
    with Store(sqlite_url) as s:
        s.upgrade()
        s.register_devices(community)
        ingest_frame(s, read_measurements(MEAS, known_pods=community.all_pods), source="test")
    made = _create(
        config,
        sqlite_url,
        "--from",
        "2024-06-20 11:00",
        "--to",
        "2024-06-20 14:00",
        "--no-send",
        at=dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME),
    )
    assert made.exit_code == 0, made.output
    after = dt.datetime(2024, 7, 5, 10, 0, tzinfo=ROME)
    with time_machine.travel(after, tick=False):
        result = CliRunner().invoke(
            app, ["events", "report", "--config", str(config), "--database", sqlite_url, "-f", "json"]
        )
        assert result.exit_code == 0, result.output
        with Store(sqlite_url) as s:
            book = stored_months(s, community)  # what the dashboard shows, its default prices
    data = json.loads(result.stdout)
    assert data["prices_assumed"] is True and data["community"] == SLUG
    [report] = data["events"]
    assert report["settled"] is True and report["problems"] == []
    result_june = book.month("2024-06").result
    [figures] = result_june.flexibility.events
    assert report["extra_shared_kwh"] == round(figures.extra_shared_kwh, 3)
    assert report["extra_premium_eur"] == round(figures.extra_premium_eur, 2)
    assert report["shifted_kwh"] == {m: round(v, 3) for m, v in figures.shifted_kwh.items()}
    # the bonus: half the extra premium, pro rata to the kWh shifted, to the cent
    assert report["extra_premium_eur"] == 0.18 and sum(report["month_bonus_eur"].values()) == pytest.approx(
        0.09
    )
    assert report["month_bonus_eur"] == {"m2": 0.03, "m3": 0.06}
    assert report["shifted_kwh"]["m2"] < report["shifted_kwh"]["m3"]
    with time_machine.travel(after, tick=False):
        table = CliRunner().invoke(
            app, ["events", "report", "--config", str(config), "--database", sqlite_url]
        )
    assert table.exit_code == 0, table.output
    assert "extra shared energy: 3.203 kWh; extra premium: 0.18 €" in table.output
    assert "Azienda Agricola Verdi" in table.output and "0.06" in table.output
