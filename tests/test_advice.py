"""Advice that reaches people (issue #19 item 2): tomorrow's good hours, worked by hand on a small forecast,
by e-mail through a real SMTP server (aiosmtpd) and to the DUs through the real Mosquitto; the CLI's dry
run; the clock on the spring DST day and on New Year's Eve."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket

import pandas as pd
import pytest
import time_machine
from typer.testing import CliRunner

import smtp_helpers
from condivisa.app import advice as app_advice
from condivisa.app.advice import deliver, plan_advice, prepare
from condivisa.app.mail import Mailer, build_message, mailer_from_settings
from condivisa.app.settings import load_settings
from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.engines import forecast as fc
from condivisa.engines.indicators import ShiftWindow, best_hours_to_shift
from condivisa.formats.flex_messages import AdviceWindow, advice_command, parse_advice
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.advice import build_advice, good_windows, member_email, window_lines
from condivisa.outputs.forecast import Forecast
from condivisa.transports.email import MailServerError, send_messages
from condivisa.transports.mqtt.broker import free_port
from conftest import EXAMPLE_COMMUNITY, ROOT
from mqtt_helpers import Listener, wait_until

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
DAY, TODAY = dt.date(2026, 6, 2), dt.date(2026, 6, 1)
#: spare kWh per local hour of DAY: good (>= 2 kW) at 10-13 and 15
SPARE = {9: 0.5, 10: 2.0, 11: 4.0, 12: 6.0, 13: 4.0, 14: 1.9, 15: 2.5}
EMAILS = {
    "m1": "rossi@example.org",
    "m2": "bianchi@example.org",
    "m3": "verdi@refused.example",
    "m5": "neri@example.org",
}  # m4 (Comune di Esempio) has no address


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ROME)


def _forecast(day: dt.date, spare_by_row: dict[int, float]) -> Forecast:
    """A forecast of ``day`` whose spare production is ``spare_by_row`` (row of the day -> kWh), the best
    windows taken as :func:`condivisa.outputs.forecast.community_forecast` takes them."""
    index = fc.day_hours(day)
    spare = pd.Series([spare_by_row.get(i, 0.0) for i in range(len(index))], index=index, name="spare_kwh")
    hourly = pd.DataFrame(
        {"hour_start": index, "production_kwh": spare.to_numpy(), "consumption_kwh": 0.0, "spare_kwh": spare}
    ).reset_index(drop=True)
    windows = best_hours_to_shift(fc.by_local_hour(spare), duration_h=3, n=3, min_spare_kwh=0.05)
    return Forecast(day, hourly, 0.8, tuple(windows), 39.3, 16.25)


def _community():
    c = load_community(EXAMPLE_COMMUNITY)
    members = tuple(dataclasses.replace(m, email=EMAILS.get(m.id)) for m in c.members)
    return dataclasses.replace(c, members=members)


# ------------------------------------------------------------------------------ windows and texts by hand
def test_good_windows_are_runs_of_hours_with_at_least_2_kw_spare_and_their_mean():
    f = _forecast(DAY, SPARE)
    assert f.windows[0] == ShiftWindow(11, 3, 14.0)  # 4 + 6 + 4, the best 3 hours
    assert good_windows(f.hourly) == (
        AdviceWindow(_at(DAY, 10), _at(DAY, 14), (2 + 4 + 6 + 4) / 4),  # 14:00 has 1.9 < 2
        AdviceWindow(_at(DAY, 15), _at(DAY, 16), 2.5),
    )
    assert good_windows(f.hourly, min_spare_kw=5.0) == (AdviceWindow(_at(DAY, 12), _at(DAY, 13), 6.0),)
    advice = build_advice(f, TODAY)
    assert advice.advice_id == "advice-2026-06-02" and advice.day == DAY
    # the sentence is outputs.forecast's: the best 3 hours, 14 kWh / 3 h = 4.67 -> 4.7 kW
    assert advice.text == {
        "it": "domani tra le 11 e le 14 la comunità avrà circa 4,7 kW in più",
        "en": "tomorrow between 11 and 14 the community will have about 4.7 kW spare",
    }
    assert window_lines(advice, "it") == [
        "dalle 10:00 alle 14:00: circa 4 kW in più",
        "dalle 15:00 alle 16:00: circa 2,5 kW in più",
    ]
    assert window_lines(advice, "en")[1] == "from 15:00 to 16:00: about 2.5 kW spare"
    command = advice_command(advice)
    assert command["windows"][0] == {
        "from": "2026-06-02T10:00:00+02:00",
        "to": "2026-06-02T14:00:00+02:00",
        "spare_kw": 4.0,
    }
    assert parse_advice(json.dumps(command).encode()) == advice


def test_no_good_hour_says_so_and_the_windows_are_empty():
    f = _forecast(DAY, {11: 1.2, 12: 1.9, 13: 0.5})  # a 3-hour window of 3.6 kWh exists, but no hour >= 2 kW
    assert f.windows  # outputs.forecast alone would advise 1.2 kW
    advice = build_advice(f, TODAY)
    assert advice.windows == ()
    assert advice.text["it"] == "domani la comunità non avrà produzione in più da usare"
    assert advice.text["en"] == "tomorrow the community will have no spare production to use"
    assert advice_command(advice)["windows"] == []
    mail = member_email(advice, _community().member("m1"), "CER Esempio Sud")
    assert mail.subject == "CER Esempio Sud: nessuna ora buona il 02/06 / no good hours on 02/06"
    assert "non ci sono ore con produzione in più" in mail.body and "no hours with spare" in mail.body


def test_the_member_email_is_personal_italian_then_english_with_a_tip():
    community = _community()
    advice = build_advice(_forecast(DAY, SPARE), TODAY)
    mail = member_email(advice, community.member("m1"), community.name)
    assert mail.to == "rossi@example.org" and mail.member_id == "m1"
    assert mail.subject == "CER Esempio Sud: le ore buone del 02/06 / good hours on 02/06"
    body = mail.body
    assert body.startswith(
        "Gentile Famiglia Rossi,\n\ndomani tra le 11 e le 14 la comunità avrà circa 4,7 kW"
    )
    assert (
        "Le ore buone di martedì 02/06/2026 (ora italiana):\n  - dalle 10:00 alle 14:00: circa 4 kW" in body
    )
    assert "lavatrice" in body and "washing machine" in body
    assert body.index("Gentile") < body.index("Dear Famiglia Rossi,") < body.index("Tuesday 02/06/2026")
    for other in community.members[1:]:
        assert other.name not in body and other.id not in body.split()
    anonymous = dataclasses.replace(community.member("m1"), name=None)
    assert member_email(advice, anonymous, community.name).body.startswith("Buongiorno,")


def test_only_the_members_on_the_day_and_their_own_dus_get_the_advice():
    community = _community()
    left = dataclasses.replace(community.member("m2"), left=DAY)  # out from DAY on
    late = dataclasses.replace(community.member("m5"), joined=DAY + dt.timedelta(days=1))
    community = dataclasses.replace(
        community, members=(*community.members[:1], left, *community.members[2:4], late)
    )
    plan = plan_advice(_forecast(DAY, SPARE), community, today=TODAY, topic_community="cer-x", root="r")
    assert [d.member_id for d in plan.deliveries] == ["m1", "m3", "m4"]
    assert plan.deliveries[0].du_topics == {"DU-0001": "r/cer-x/du/DU-0001/cmd"}
    assert "DU-0100" not in str(plan.deliveries)  # the plants' DUs get nothing
    assert parse_advice(plan.payload) == plan.advice


# ------------------------------------------------------------------------------------------ SMTP, real
@pytest.fixture
def smtp_server():
    with smtp_helpers.smtp_server() as server:
        yield server


def test_the_emails_reach_a_real_smtp_server_and_a_refused_recipient_is_reported(smtp_server):
    port, inbox = smtp_server
    settings = load_settings(smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="cer@example.org")
    community = _community()
    plan = plan_advice(_forecast(DAY, SPARE), community, today=TODAY, topic_community="cer-esempio-sud")
    summary = deliver(plan, settings, mqtt=False)
    assert summary.emails_sent == ["rossi@example.org", "bianchi@example.org", "neri@example.org"]
    assert [(r.recipient, r.error) for r in summary.emails_refused] == [
        ("verdi@refused.example", "550 5.1.1 no such user")
    ]
    assert summary.members_without_email == ["m4"] and not summary.ok and summary.mqtt_error is None
    assert len(inbox.messages) == 3
    sender, to, message = inbox.messages[0]
    assert (
        sender == "cer@example.org" and to == ["rossi@example.org"] and message["To"] == "rossi@example.org"
    )
    assert message["Subject"] == "CER Esempio Sud: le ore buone del 02/06 / good hours on 02/06"
    body = message.get_content()
    assert "dalle 10:00 alle 14:00" in body and "from 15:00 to 16:00" in body and "Famiglia Rossi" in body
    assert not any(m.name in body for m in community.members if m.id != "m1")


def test_one_connection_many_messages_and_clear_errors(smtp_server):
    port, inbox = smtp_server
    mailer = Mailer("127.0.0.1", port, sender="cer@example.org")
    results = mailer.send(
        [mailer.message("a@example.org", "uno", "corpo 1"), mailer.message("b@refused.example", "due", "2")]
    )
    assert [(r.recipient, r.accepted, r.subject) for r in results] == [
        ("a@example.org", True, "uno"),
        ("b@refused.example", False, "due"),
    ]
    assert len(inbox.messages) == 1 and mailer.send([]) == []
    down = free_port()
    with pytest.raises(MailServerError, match=f"127.0.0.1:{down} is not reachable"):
        send_messages(
            [build_message("a@example.org", "s", "b", "x@example.org")], host="127.0.0.1", port=down
        )
    with pytest.raises(MailServerError, match=f"127.0.0.1:{port} does not offer STARTTLS"):
        dataclasses.replace(mailer, security="starttls").send([mailer.message("a@example.org", "s", "b")])
    assert len(inbox.messages) == 1  # nothing sent in clear instead
    summary = deliver(
        plan_advice(_forecast(DAY, SPARE), _community(), today=TODAY, topic_community="c"),
        load_settings(smtp_url=f"smtp://127.0.0.1:{down}"),
        mqtt=False,
    )
    assert f"127.0.0.1:{down}" in str(summary.email_error) and summary.emails_sent == []


def test_the_mailer_from_the_settings():
    assert mailer_from_settings(load_settings()) is None
    plain = mailer_from_settings(load_settings(smtp_url="smtp://mail.example.org"))
    assert plain == Mailer("mail.example.org", 25, "plain", None, None, "condivisa@localhost")
    tls = mailer_from_settings(
        load_settings(
            smtp_url="smtp://mail.example.org", smtp_starttls=True, smtp_username="u", smtp_password="p"
        )
    )
    assert tls is not None and (tls.port, tls.security, tls.username, tls.password) == (
        587,
        "starttls",
        "u",
        "p",
    )
    ssl = mailer_from_settings(load_settings(smtp_url="smtps://cer%40x:s%3Acret@mail.example.org:2465"))
    assert ssl is not None and (ssl.address, ssl.security, ssl.username, ssl.password) == (
        "mail.example.org:2465",
        "ssl",
        "cer@x",
        "s:cret",
    )
    assert "s:cret" not in repr(ssl)


# ------------------------------------------------------------------------------------------ MQTT, real
@pytest.mark.mosquitto
def test_the_advice_arrives_on_each_members_du_cmd_topic(mosquitto):
    host, port, prefix = mosquitto
    listener = Listener(host, port, f"{prefix}/#")
    got = listener.messages
    try:
        settings = load_settings(mqtt_url=f"mqtt://{host}:{port}", mqtt_topic_root=prefix)
        community = _community()
        plan = plan_advice(
            _forecast(DAY, SPARE), community, today=TODAY, topic_community="cer-esempio-sud", root=prefix
        )
        summary = deliver(plan, settings, email=False)
        expected = [f"{prefix}/cer-esempio-sud/du/DU-000{i}/cmd" for i in range(1, 6)]
        assert summary.du_published == expected and summary.ok
        assert wait_until(lambda: len(got) >= 5, 10)
    finally:
        listener.close()
    assert sorted(t for t, _ in got) == expected
    for _, payload in got:
        advice = parse_advice(payload)
        assert advice == plan.advice and advice.windows[0].start == _at(DAY, 10)
    summary = deliver(plan, load_settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}"), email=False)
    assert "127.0.0.1:" in str(summary.mqtt_error) and summary.du_published == []


# ------------------------------------------------------------------------------------ the clock and days
def _fake_forecast(rows: dict[int, float], asked: list[dt.date]):
    def community_forecast(store, community, day):
        asked.append(day)
        return _forecast(day, rows)

    return community_forecast


def test_tomorrow_is_the_23_hour_spring_dst_day(monkeypatch):
    asked: list[dt.date] = []
    # rows 1 and 2 of 29 March are 01:00+01:00 and 03:00+02:00: one after the other on the real time line
    rows = {1: 2.0, 2: 4.0, 10: 5.0, 11: 6.0, 12: 7.0}  # row 10 is 11:00 summer time
    monkeypatch.setattr(app_advice, "community_forecast", _fake_forecast(rows, asked))
    with time_machine.travel(dt.datetime(2026, 3, 28, 19, 0, tzinfo=ROME), tick=False):
        plan = prepare(None, _community(), load_settings())  # type: ignore[arg-type]
    assert asked == [dt.date(2026, 3, 29)] and len(plan.forecast.hourly) == 23
    night, noon = plan.advice.windows
    assert (
        night.start.isoformat() == "2026-03-29T01:00:00+01:00"
        and night.end.isoformat() == "2026-03-29T04:00:00+02:00"
    )
    real = night.end.astimezone(dt.UTC) - night.start.astimezone(dt.UTC)  # same-zone "-" is wall-clock
    assert real == dt.timedelta(hours=2) and night.spare_kw == 3.0
    assert (noon.start.isoformat(), noon.end.isoformat(), noon.spare_kw) == (
        "2026-03-29T11:00:00+02:00",
        "2026-03-29T14:00:00+02:00",
        6.0,
    )
    assert plan.advice.text["it"] == "domani tra le 11 e le 14 la comunità avrà circa 6 kW in più"
    assert plan.community == "cer-esempio-sud"
    assert plan.deliveries[0].du_topics == {"DU-0001": "condivisa/cer-esempio-sud/du/DU-0001/cmd"}
    assert "domenica 29/03/2026" in plan.deliveries[0].email.body


def test_on_new_years_eve_tomorrow_is_next_year(monkeypatch):
    asked: list[dt.date] = []
    monkeypatch.setattr(
        app_advice, "community_forecast", _fake_forecast({11: 30.0, 12: 40.0, 13: 50.0}, asked)
    )
    with time_machine.travel(dt.datetime(2026, 12, 31, 23, 30, tzinfo=ROME), tick=False):
        plan = prepare(None, _community(), load_settings())  # type: ignore[arg-type]
    assert asked == [dt.date(2027, 1, 1)]
    assert plan.advice.advice_id == "advice-2027-01-01" and plan.today == dt.date(2026, 12, 31)
    assert plan.advice.windows == (
        AdviceWindow(_at(dt.date(2027, 1, 1), 11), _at(dt.date(2027, 1, 1), 14), 40.0),
    )
    assert plan.advice.text["en"] == "tomorrow between 11 and 14 the community will have about 40 kW spare"
    mail = plan.deliveries[0].email
    assert mail.subject.endswith("good hours on 01/01") and "venerdì 01/01/2027" in mail.body


# ------------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def example_store(tmp_path_factory):
    from condivisa.formats.csv_io import read_measurements
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    folder = tmp_path_factory.mktemp("advice")
    text = EXAMPLE_COMMUNITY.read_text(encoding="utf-8")
    for name, address in (("Famiglia Rossi", EMAILS["m1"]), ("Famiglia Bianchi", EMAILS["m2"])):
        text = text.replace(f"name: {name},", f"name: {name}, email: {address},")
    config = folder / "community.yaml"
    config.write_text(text, encoding="utf-8")
    community = load_community(config)
    url = f"sqlite:///{folder / 'db.sqlite'}"
    with Store(url) as s:
        s.upgrade()
        s.register_devices(community)
        ingest_frame(s, read_measurements(MEAS, known_pods=community.all_pods), source="test")
    return config, url


def test_the_cli_dry_run_prints_per_member_and_sends_nothing(example_store, smtp_server, monkeypatch):
    config, url = example_store
    port, inbox = smtp_server
    broker = socket.socket()
    broker.bind(("127.0.0.1", 0))
    broker.listen()
    broker.setblocking(False)
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells unfolded
    monkeypatch.setenv("CONDIVISA_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("CONDIVISA_MQTT_URL", f"mqtt://127.0.0.1:{broker.getsockname()[1]}")
    runner = CliRunner()
    args = ["advise", "--config", str(config), "--database", url]
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        result = runner.invoke(app, [*args, "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "advice of 2024-06-20" in out and "dry run: nothing is sent" in out
    assert "domani tra le 11 e le 14 la comunità avrà circa" in out
    assert "rossi@example.org" in out and "bianchi@example.org" in out and "no address" in out
    assert "condivisa/cer-esempio-sud/du/DU-0001/cmd" in out and "DU-0100" not in out
    assert '"cmd": "advice"' in out
    assert inbox.messages == []
    with pytest.raises(BlockingIOError):
        broker.accept()  # nobody connected to the broker
    # the same without --dry-run, e-mail only: the two members with an address get it
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        sent = runner.invoke(app, [*args, "--no-mqtt"])
    assert sent.exit_code == 0, sent.output
    assert "e-mails sent: 2" in sent.output and "without an e-mail address: m3, m4, m5" in sent.output
    assert sorted(to[0] for _, to, _ in inbox.messages) == ["bianchi@example.org", "rossi@example.org"]
    with pytest.raises(BlockingIOError):
        broker.accept()
    broker.close()
    bad = runner.invoke(app, [*args, "--day", "2025-01-01", "--dry-run"])
    assert bad.exit_code == 2 and "no production" in bad.output
