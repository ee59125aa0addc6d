"""Device simulator: profiles, totalizers, DST days, messages and faults, REST end to end, CLI."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from condivisa.cli import app as cli_app
from condivisa.domain.config import community_from_dict, load_community
from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.kernel.timegrid import ROME
from condivisa.sim import devices as sim
from condivisa.sim.sinks import RestSink

PAST = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


class FlatRng:
    """lognormal -> 1, normal -> 0: no randomness, so energies follow the shape exactly."""

    def lognormal(self, mean, sigma, size):
        return np.ones(size)

    def normal(self, mean, sigma, size):
        return np.zeros(size)


def test_household_day_energy_is_exact_without_noise():
    # 2 days x 96 quarter hours; shares of each day sum to 1, so each day sums to daily_kwh = 8 kWh
    hours = np.tile(np.arange(96) / 4.0, 2)
    days = np.repeat([0, 1], 96)
    e = sim.household_kwh(hours, days, 8.0, FlatRng())
    assert e[:96].sum() == pytest.approx(8.0) and e[96:].sum() == pytest.approx(8.0)
    # evening (20:00, q=80) and morning (07:15, q=29) peaks above the night (03:00, q=12)
    assert e[80] > e[29] > e[12]


def test_totalizers_are_monotone_and_differences_equal_energies():
    devs = sim.synthetic_devices(12, seed=3)
    f = sim.build_fleet(devs, dt.date(2025, 6, 1), 2, seed=3, until=PAST)
    assert f.withdrawn_kwh.shape == (12, 192)
    assert (np.diff(f.withdrawn_total_kwh, axis=1) >= 0).all() and (
        np.diff(f.injected_total_kwh, axis=1) >= 0
    ).all()
    np.testing.assert_allclose(np.diff(f.withdrawn_total_kwh, axis=1), f.withdrawn_kwh[:, 1:], atol=2e-6)
    np.testing.assert_allclose(np.diff(f.injected_total_kwh, axis=1), f.injected_kwh[:, 1:], atol=2e-6)


def test_pv_pod_injects_by_day_only_within_its_power():
    devs = [sim.SimDevice("DU-PV", "IT001E00000100", production_kw=20.0)]
    f = sim.build_fleet(devs, dt.date(2025, 6, 21), 1, until=PAST)
    hours = f.starts.hour
    night, noon = (hours < 4) | (hours >= 22), (hours >= 12) & (hours < 14)
    assert f.injected_kwh[0, night].max() == 0.0 and f.withdrawn_kwh[0, night].min() == 0.005
    assert f.injected_kwh[0, noon].min() > 0.5  # 20 kW x 0.25 h x >=0.55 cloud x clear-sky share
    assert f.injected_kwh[0].max() <= 20.0 * 0.25  # never above nameplate power x 15 minutes
    assert f.injected_kwh[0].argmax() in range(40, 64)  # peak between 10:00 and 16:00 local


@pytest.mark.parametrize(
    "day, quarters", [(dt.date(2025, 3, 30), 92), (dt.date(2025, 10, 26), 100), (dt.date(2025, 6, 1), 96)]
)
def test_dst_days_have_their_quarter_hours(day, quarters):
    f = sim.build_fleet(sim.synthetic_devices(2), day, 1, until=PAST)
    assert len(f.starts) == quarters


def test_future_quarter_hours_are_not_sent():
    until = dt.datetime(2025, 5, 31, 23, 0, tzinfo=dt.timezone.utc)  # 01:00 Rome on 1 June
    f = sim.build_fleet(sim.synthetic_devices(1), dt.date(2025, 6, 1), 1, until=until)
    assert len(f.starts) == 4  # 00:00, 00:15, 00:30, 00:45 end at or before 01:00
    with pytest.raises(ValueError, match="no quarter hour"):
        sim.build_fleet(sim.synthetic_devices(1), dt.date(2025, 6, 2), 1, until=until)


def test_messages_round_trip_to_the_fleet_values():
    f = sim.build_fleet(sim.synthetic_devices(7), dt.date(2025, 6, 1), 1, until=PAST)
    msgs = list(sim.messages(f, 40, group=3))
    assert [(m.kind, m.sender_id, m.readings) for m in msgs] == [
        ("gw", "sim-gw-1", 3),
        ("gw", "sim-gw-2", 3),
        ("gw", "sim-gw-3", 1),
    ]
    lines = [r for m in msgs for r in parse_urbandataset(json.loads(m.payload)).readings]
    assert [r.du_id for r in lines] == [d.du_id for d in f.devices]
    for i, r in enumerate(lines):
        assert r.start == f.starts[40].to_pydatetime()
        assert r.withdrawn_kwh == pytest.approx(f.withdrawn_kwh[i, 40], abs=1e-6)
        assert r.withdrawn_total_kwh == pytest.approx(f.withdrawn_total_kwh[i, 40], abs=1e-6)
    single = list(sim.messages(f, 0))
    assert len(single) == 7 and all(m.kind == "du" and m.readings == 1 for m in single)


def test_faults():
    f = sim.build_fleet(sim.synthetic_devices(5), dt.date(2025, 6, 1), 1, until=PAST)
    dup = list(sim.messages(f, 0, faults=("dup",), fault_rate=1.0))
    assert len(dup) == 10 and dup[0].payload == dup[1].payload and dup[1].fault == "dup"
    assert list(sim.messages(f, 0, faults=("gap",), fault_rate=1.0)) == []
    bad = list(sim.messages(f, 0, faults=("corrupt",), fault_rate=1.0))
    assert len(bad) == 5 and all(m.readings == 0 for m in bad)
    with pytest.raises(ValueError):
        json.loads(bad[0].payload)
    assert list(sim.messages(f, 0, faults=("dup",), fault_rate=0.0))[0].fault is None
    with pytest.raises(ValueError, match="unknown fault"):
        list(sim.messages(f, 0, faults=("fire",)))


class ListSink:
    def __init__(self):
        self.sent = []

    def send(self, m):
        self.sent.append(m)

    def flush(self):
        pass


def test_run_paces_time_and_counts():
    f = sim.build_fleet(sim.synthetic_devices(3), dt.date(2025, 6, 1), 1, until=PAST)
    sink, sleeps = ListSink(), []
    counts = sim.run(f, sink, speed=1e9, sleep=sleeps.append)
    assert counts["messages"] == 3 * 96 == len(sink.sent) and counts["readings"] == 288
    counts = sim.run(f, ListSink(), group=2, faults=("gap",), fault_rate=1.0)
    assert counts == {"messages": 0, "readings": 0, "dup": 0, "gap": 2 * 96, "corrupt": 0, "resent": 0}


class ResendSink(ListSink):
    """Asks, once, after the first step, for DU-00002's quarter hours from 00:15 local."""

    asked = False

    def take_resends(self):
        if self.asked:
            return []
        self.asked = True
        return [("DU-00002", dt.datetime(2025, 6, 1, 0, 15, tzinfo=ROME))]


def test_resend_command_republishes_from_the_asked_instant():
    f = sim.build_fleet(sim.synthetic_devices(3), dt.date(2025, 6, 1), 1, until=PAST)
    f.starts = f.starts[:3]  # 00:00, 00:15, 00:30 local
    sink = ResendSink()
    counts = sim.run(f, sink)
    # asked after step 0 (00:00 sent): nothing from 00:15 was sent yet -> nothing to resend then
    assert counts["resent"] == 0 and counts["messages"] == 9
    m = sim.catch_up(f, "DU-00002", dt.datetime(2025, 6, 1, 0, 15, tzinfo=ROME), 2)
    lines = parse_urbandataset(json.loads(m.payload)).readings
    assert [r.start for r in lines] == [f.starts[1].to_pydatetime(), f.starts[2].to_pydatetime()]
    assert all(r.du_id == "DU-00002" for r in lines) and m.readings == 2
    assert sim.catch_up(f, "DU-404", f.starts[0].to_pydatetime(), 2) is None


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), group=st.integers(1, 10))
def test_every_device_is_in_exactly_one_message(n, group):
    f = sim.build_fleet(sim.synthetic_devices(n), dt.date(2025, 1, 15), 1, until=PAST)
    msgs = list(sim.messages(f, 10, group=group))
    assert sum(m.readings for m in msgs) == n
    assert len(msgs) == (n + group - 1) // group


def test_rest_end_to_end(sqlite_url, example_community_path):
    from fastapi.testclient import TestClient

    from condivisa.app.http_app import create_app
    from condivisa.app.settings import Settings
    from condivisa.store.store import Store

    community = load_community(example_community_path)
    store = Store(sqlite_url)
    store.upgrade()
    store.register_devices(community)
    f = sim.build_fleet(sim.devices_from_community(community), dt.date(2025, 6, 1), 1, until=PAST)
    f.starts = f.starts[:4]
    sink = RestSink("http://testserver")
    with TestClient(
        create_app(
            Settings(database_url=sqlite_url, api_auth_required=False, allowed_hosts=["testserver"]),
            store=store,
            community=community,
        )
    ) as client:
        client.headers.update(sink.client.headers)
        sink.client = client
        sent = sim.run(f, sink, group=4, faults=("dup",), fault_rate=0.5, seed=1)
    assert sink.answers["stored"] == 7 * 4 == store.counts()["measurements"]  # 7 DUs x 4 quarter hours
    assert sink.answers["duplicates"] == sent["readings"] - 28 and sent["dup"] > 0
    assert store.measurements_frame(pods=["IT001E00000101"])["injected_kwh"].sum() >= 0


def test_cli_example_community_is_a_valid_community_file(tmp_path):
    out = tmp_path / "sim.yaml"
    result = CliRunner().invoke(cli_app, ["devices", "example-community", "--count", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    community = community_from_dict(yaml.safe_load(out.read_text()))
    assert len(community.devices) == 12 and len(community.plants) == 2  # DU 1 and 11 sit on PV PODs


def test_cli_needs_one_target():
    result = CliRunner().invoke(cli_app, ["devices", "simulate", "--count", "1"])
    assert result.exit_code == 2 and "exactly one" in result.output
