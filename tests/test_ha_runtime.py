"""Home Assistant in ``condivisa serve`` (issue #19, item 5): the member credential command, the figures of a
publishing cycle (equal to the dashboard's settlement and to a direct computation), one cycle on our own real
Mosquitto with the generated password/ACL files (member A gets its retained configs and states, member B
nothing of A's), interval 0, a broker that is down, and cycles at 00:05 on the 1st of a month and on DST
days."""

from __future__ import annotations

import datetime as dt
import getpass
import math
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from condivisa.app.ha_publisher import connect
from condivisa.app.ha_runtime import (
    GOOD_TIME_SPARE_KW,
    HaRuntime,
    community_figures,
    ha_runtime_from_settings,
    last_complete_quarter,
    member_credentials,
)
from condivisa.app.settings import load_settings
from condivisa.auth.devices import check_device, member_credential_parts
from condivisa.auth.mqtt_acl import member_username, write_mosquitto_files
from condivisa.auth.service import AuthService
from condivisa.cli import app
from condivisa.ingest.tables import ingest_frame
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.sources import stored_months
from condivisa.store.communities import community_slug, parse_community_text, save_version
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import free_port
from condivisa.transports.mqtt.ha_discovery import COMMUNITY_SPARE, GOOD_TIME, SHARED_TODAY
from mqtt_helpers import wait_port
from test_mqtt_acl import MOSQUITTO, Client

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "community.yaml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
COMMUNITY = parse_community_text(TEXT)
SLUG = community_slug(COMMUNITY.name)
WORKER, WORKER_PW = "condivisa-ingest", "worker-pw"
#: each member's shared kWh is rounded to the Wh in their statement: the sum may differ by half a Wh each
ROUNDING_KWH = 0.0005 * len(COMMUNITY.members) + 1e-9


@pytest.fixture
def hstore(sqlite_url):
    """The example community kept in the store; members m1 and m2 have a member credential."""
    s = Store(sqlite_url)
    s.upgrade()
    with s.engine.begin() as conn:
        save_version(conn, SLUG, COMMUNITY, TEXT, rules_sha256="x" * 64, actor="test", create=True)
    auth = AuthService(s)
    auth.create_device_credential(WORKER, SLUG, WORKER_PW, kind="worker")
    s.passwords = {  # type: ignore[attr-defined]
        m: auth.create_device_credential(member_username(SLUG, m), SLUG, kind="member") for m in ("m1", "m2")
    }
    yield s
    s.close()


def readings(day: dt.date, until: dt.datetime) -> pd.DataFrame:
    """Quarter hours of ``day`` from local midnight up to ``until`` (excluded): households withdraw
    0.2–0.6 kWh, the plants inject a midday bell (zero at night)."""
    starts = pd.date_range(
        local_midnight(day), pd.Timestamp(until).tz_convert(ROME), freq="15min", inclusive="left"
    )
    hours = np.array([t.hour + t.minute / 60 for t in starts])
    rows = []
    for k, member in enumerate(COMMUNITY.members):
        for pod in member.consumption_pods:
            w = 0.2 + 0.1 * k + 0.05 * np.sin(hours)
            rows.append(
                pd.DataFrame({"pod": pod, "start": starts, "withdrawn_kwh": w.round(4), "injected_kwh": 0.0})
            )
    for plant in COMMUNITY.plants:
        bell = np.clip(np.sin(np.pi * (hours - 6) / 14), 0, None) * plant.power_kw * 0.25 * 0.6
        rows.append(
            pd.DataFrame(
                {"pod": plant.pod, "start": starts, "withdrawn_kwh": 0.0, "injected_kwh": bell.round(4)}
            )
        )
    return pd.concat(rows, ignore_index=True)


def expected(frame: pd.DataFrame, quarter: dt.datetime) -> tuple[float, float]:
    """Computed directly from the readings: the community's shared energy of the day so far (TIAD: per hour,
    min of injection and withdrawal) and its spare power in ``quarter`` (kW)."""
    plants = {p.pod for p in COMMUNITY.plants}
    f = frame.assign(start=pd.to_datetime(frame["start"], utc=True))
    inj = f[f["pod"].isin(plants)].groupby("start")["injected_kwh"].sum()
    wd = f[~f["pod"].isin(plants)].groupby("start")["withdrawn_kwh"].sum()
    hourly = pd.concat({"i": inj, "w": wd}, axis=1).fillna(0.0).resample("1h").sum()
    shared = float(np.minimum(hourly["i"], hourly["w"]).sum())
    at = pd.Timestamp(quarter).tz_convert("UTC")
    spare_kw = max(0.0, float(inj.get(at, 0.0)) - float(wd.get(at, 0.0))) / 0.25
    return shared, spare_kw


# ------------------------------------------------------------------ credentials
def test_member_credential_names():
    assert member_credential_parts("member@cer-x@m1") == ("cer-x", "m1")
    assert member_credential_parts("DU-0001") is None
    assert member_credential_parts("member@cer-x") is None
    check_device("member@cer-x@m1", "member")
    with pytest.raises(ValueError, match="expected member@"):
        check_device("m1", "member")
    with pytest.raises(ValueError, match="for members"):
        check_device("member@cer-x@m1", "du")


def test_add_member_issues_a_credential_and_refuses_unknown_members(hstore, sqlite_url, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["devices", "add-member", "m3", "--community", SLUG, "--database", sqlite_url, "--broker", "mqtt.ex"],
    )
    assert res.exit_code == 0, res.output
    user = member_username(SLUG, "m3")
    assert f"username: {user}" in res.output
    password = next(line.split()[1] for line in res.output.splitlines() if line.startswith("password: "))
    assert f"condivisa/{SLUG}/member/m3/ha" in res.output and "mqtt.ex" in res.output
    creds = {c["du_id"]: c for c in AuthService(hstore).device_credentials()}
    assert creds[user]["kind"] == "member" and creds[user]["community"] == SLUG
    assert member_credentials(hstore.engine) == {SLUG: ["m1", "m2", "m3"]}
    # the password printed is the one the broker files carry (Mosquitto $7$ hash)
    from condivisa.auth.hashing import verify_mosquitto_hash

    assert verify_mosquitto_hash(password, creds[user]["password_hash"])
    # the files of `mqtt-acl`: the member reads its own topics only; retained messages now accepted
    paths = write_mosquitto_files(list(creds.values()), tmp_path / "mqtt")
    assert f"user {user}\ntopic read condivisa/{SLUG}/member/m3/#\n" in paths["acl"].read_text()
    assert "retain_available true" in paths["mosquitto.conf"].read_text()
    no_members = [c for c in creds.values() if c["kind"] != "member"]
    assert (
        "retain_available false"
        in write_mosquitto_files(no_members, tmp_path / "m2")["mosquitto.conf"].read_text()
    )

    res = runner.invoke(app, ["devices", "add-member", "m33", "--community", SLUG, "--database", sqlite_url])
    assert (
        res.exit_code == 2 and "'m33' is not in community" in res.output and "did you mean m3?" in res.output
    )
    res = runner.invoke(
        app, ["devices", "add-member", "m1", "--community", "cer-esempio-su", "--database", sqlite_url]
    )
    assert res.exit_code == 2 and f"did you mean {SLUG}?" in res.output
    res = runner.invoke(app, ["devices", "add-member", "m1", "--database", sqlite_url])  # the only community
    assert res.exit_code == 0 and member_username(SLUG, "m1") in res.output

    res = runner.invoke(app, ["devices", "remove-member", "m3", "--database", sqlite_url])
    assert res.exit_code == 0 and "revoked" in res.output
    assert member_credentials(hstore.engine) == {SLUG: ["m1", "m2"]}
    res = runner.invoke(app, ["devices", "remove-member", "m3", "--database", sqlite_url])
    assert res.exit_code == 2 and "no active member credential" in res.output


# ------------------------------------------------------------------ the figures
def test_figures_equal_the_dashboard_settlement_and_a_direct_computation(hstore):
    now = dt.datetime(2024, 6, 15, 13, 7, tzinfo=ROME)
    frame = readings(now.date(), dt.datetime(2024, 6, 15, 13, 0, tzinfo=ROME))
    ingest_frame(hstore, frame, source="csv:test")
    fig = community_figures(hstore, COMMUNITY, now)
    assert fig.quarter_start == dt.datetime(2024, 6, 15, 12, 45, tzinfo=ROME)
    # the dashboard's function (stored_months), settled as of tomorrow: the same kWh for every member
    book = stored_months(hstore, COMMUNITY, as_of=dt.date(2024, 6, 16))
    for m in COMMUNITY.members:
        assert fig.shared_today_kwh[m.id] == book.month("2024-06").statement(m.id).energy.shared_kwh
    shared, spare_kw = expected(frame, fig.quarter_start)
    assert sum(fig.shared_today_kwh.values()) == pytest.approx(shared, abs=ROUNDING_KWH)
    assert fig.shared_today_kwh["m1"] > 0
    assert (
        fig.measured and fig.spare_kw == pytest.approx(spare_kw, abs=1e-9) and spare_kw > GOOD_TIME_SPARE_KW
    )
    assert fig.good_time

    # the last quarter hour not received yet: not measured, the forecast decides (none without history)
    late = community_figures(hstore, COMMUNITY, dt.datetime(2024, 6, 15, 13, 16, tzinfo=ROME))
    assert not late.measured and late.spare_kw == 0.0 and not late.good_time
    assert community_figures(
        hstore, COMMUNITY, dt.datetime(2024, 6, 15, 13, 16, tzinfo=ROME), forecast_window=lambda: True
    ).good_time


@pytest.mark.parametrize(
    "now, data_from, data_until",
    [
        # 00:05 on the 1st of a month: nothing today yet, the last quarter hour is 23:45 of the month before
        (
            dt.datetime(2024, 7, 1, 0, 5, tzinfo=ROME),
            dt.date(2024, 6, 30),
            dt.datetime(2024, 7, 1, 0, 0, tzinfo=ROME),
        ),
        # 00:05 on the 1st of a year
        (
            dt.datetime(2025, 1, 1, 0, 5, tzinfo=ROME),
            dt.date(2024, 12, 31),
            dt.datetime(2025, 1, 1, 0, 0, tzinfo=ROME),
        ),
        # DST starts (23 h): at 03:05 CEST the last quarter hour is 01:45–03:00 CET→CEST
        (
            dt.datetime(2024, 3, 31, 3, 5, tzinfo=ROME),
            dt.date(2024, 3, 31),
            dt.datetime(2024, 3, 31, 3, 0, tzinfo=ROME),
        ),
        # DST ends (25 h), midday
        (
            dt.datetime(2024, 10, 27, 12, 7, tzinfo=ROME),
            dt.date(2024, 10, 27),
            dt.datetime(2024, 10, 27, 12, 0, tzinfo=ROME),
        ),
        # DST ends, in the repeated hour (02:20 CET, the second 02:xx): 02:00–02:15 CET
        (
            dt.datetime(2024, 10, 27, 1, 20, tzinfo=dt.UTC),
            dt.date(2024, 10, 27),
            dt.datetime(2024, 10, 27, 1, 15, tzinfo=dt.UTC),
        ),
    ],
)
def test_a_cycle_at_midnight_of_the_first_and_on_dst_days(hstore, now, data_from, data_until):
    frame = readings(data_from, data_until)
    ingest_frame(hstore, frame, source="csv:test")
    fig = community_figures(hstore, COMMUNITY, now)
    quarter = last_complete_quarter(now)
    q_utc, now_utc = quarter.astimezone(dt.UTC), now.astimezone(dt.UTC)  # aware arithmetic: in UTC
    assert q_utc + dt.timedelta(minutes=15) <= now_utc < q_utc + dt.timedelta(minutes=30)
    today = frame[pd.to_datetime(frame["start"], utc=True) >= local_midnight(now.astimezone(ROME).date())]
    shared, spare_kw = expected(today, quarter)
    assert fig.day == now.astimezone(ROME).date()
    assert sum(fig.shared_today_kwh.values()) == pytest.approx(shared, abs=ROUNDING_KWH)
    if data_from < fig.day:
        assert fig.shared_today_kwh == dict.fromkeys(fig.shared_today_kwh, 0.0)  # nothing shared yet today
    assert fig.measured  # the quarter hour of the day before counts
    assert fig.spare_kw == pytest.approx(expected(frame, quarter)[1], abs=1e-9)
    assert fig.good_time == (fig.spare_kw >= GOOD_TIME_SPARE_KW)
    assert math.isfinite(fig.spare_kw) and spare_kw >= 0


def test_interval_0_starts_nothing(hstore, sqlite_url):
    settings = load_settings(database_url=sqlite_url, ha_publish_interval_s=0)
    runtime = ha_runtime_from_settings(settings, hstore).start()
    assert runtime._thread is None
    runtime.stop()
    assert runtime.cycles == 0 and runtime.failures == 0


# ------------------------------------------------------------------ the real Mosquitto
NO_MOSQUITTO = shutil.which(MOSQUITTO) is None and not Path(MOSQUITTO).exists()


@pytest.fixture
def broker(hstore, tmp_path):
    """Our own Mosquitto on the files of `condivisa mqtt-acl` for the store's credentials: ``port`` (devices
    and members) and ``port + 2`` (the platform)."""
    port = free_port()
    paths = write_mosquitto_files(
        AuthService(hstore).device_credentials(), tmp_path / "mqtt", port=port, run_as=getpass.getuser()
    )
    assert "retain_available true" in paths["mosquitto.conf"].read_text()  # member credentials exist
    log = open(tmp_path / "mosquitto.log", "w")
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(paths["mosquitto.conf"])], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_port(port)
        wait_port(port + 2)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _runtime(hstore, port, interval_s, now):
    return HaRuntime(
        hstore,
        lambda: connect("127.0.0.1", port + 2, WORKER, WORKER_PW, client_id="condivisa-ingest-ha"),
        interval_s,
        now=lambda: now,
    )


@pytest.mark.mosquitto
@pytest.mark.skipif(NO_MOSQUITTO, reason="no mosquitto binary")
def test_one_cycle_publishes_member_a_and_hides_it_from_b(hstore, broker):
    port = broker
    now = dt.datetime(2024, 6, 15, 13, 7, tzinfo=ROME)
    ingest_frame(
        hstore, readings(now.date(), dt.datetime(2024, 6, 15, 13, 0, tzinfo=ROME)), source="csv:test"
    )
    a_base, b_base = f"condivisa/{SLUG}/member/m1", f"condivisa/{SLUG}/member/m2"
    pw = hstore.passwords

    # interval 0: started, it publishes nothing
    idle = _runtime(hstore, port, 0, now).start()
    time.sleep(0.5)
    idle.stop()
    probe = Client(port, member_username(SLUG, "m1"), pw["m1"], v5=False)
    assert probe.ok and probe.subscribe(f"{a_base}/#")
    assert probe.received(0.5) == []
    probe.c.disconnect()
    probe.c.loop_stop()

    runtime = _runtime(hstore, port, 300, now)
    try:
        assert runtime.run_once() == 12  # 2 members × (3 configs + 3 states)
        fig = community_figures(hstore, COMMUNITY, now)
        a = Client(port, member_username(SLUG, "m1"), pw["m1"], v5=False)
        assert a.ok and a.subscribe(f"{a_base}/#")
        got = dict(a.received(1.0))
        assert len(got) == 6 and all(t.startswith(f"{a_base}/") for t in got)
        assert {t.rsplit("/", 2)[-2] for t in got if t.endswith("/config")} == {
            SHARED_TODAY,
            COMMUNITY_SPARE,
            GOOD_TIME,
        }
        # A's values are the settlement's figures, to the 3 decimals published
        assert got[f"{a_base}/state/{SHARED_TODAY}"] == f"{fig.shared_today_kwh['m1']:.3f}".encode()
        book = stored_months(hstore, COMMUNITY, as_of=dt.date(2024, 6, 16))
        assert float(got[f"{a_base}/state/{SHARED_TODAY}"]) == pytest.approx(
            book.month("2024-06").statement("m1").energy.shared_kwh, abs=5e-4
        )
        assert got[f"{a_base}/state/{COMMUNITY_SPARE}"] == f"{fig.spare_kw:.3f}".encode()
        assert got[f"{a_base}/state/{GOOD_TIME}"] == b"ON"

        # B: nothing of A's, retained or new
        b = Client(port, member_username(SLUG, "m2"), pw["m2"], v5=True)
        assert b.ok
        b.subscribe(f"{a_base}/#")  # Mosquitto may grant it; what matters is what B receives
        assert b.received(0.8) == []
        b.subscribe(f"{b_base}/#")
        assert len(b.received(0.8)) == 6  # its own

        # the next cycle: states only; A gets them, B does not
        assert runtime.run_once() == 6
        assert sorted(t for t, _ in a.received(0.8)) == sorted(t for t in got if "/state/" in t)
        assert all(t.startswith(f"{b_base}/") for t, _ in b.received(0.5))
        for c in (a, b):
            c.c.disconnect()
            c.c.loop_stop()
    finally:
        runtime.stop()


@pytest.mark.mosquitto
@pytest.mark.skipif(NO_MOSQUITTO, reason="no mosquitto binary")
def test_the_thread_publishes_then_stops_and_survives_a_broker_down(hstore, broker):
    now = dt.datetime(2024, 6, 15, 13, 7, tzinfo=ROME)
    runtime = _runtime(hstore, broker, 1, now).start()
    try:
        for _ in range(100):
            if runtime.cycles >= 2:
                break
            time.sleep(0.05)
        assert runtime.cycles >= 2 and runtime.failures == 0
    finally:
        runtime.stop()
    assert runtime._thread is None

    closed = free_port()  # nobody listens: every cycle fails, is logged, and the thread goes on
    down = HaRuntime(
        hstore, lambda: connect("127.0.0.1", closed, WORKER, WORKER_PW, timeout_s=0.5), 1, now=lambda: now
    ).start()
    try:
        for _ in range(100):
            if down.failures >= 2:
                break
            time.sleep(0.05)
        assert down.failures >= 2 and down._thread is not None and down._thread.is_alive()
    finally:
        down.stop()
