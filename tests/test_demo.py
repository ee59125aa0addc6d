"""The demo: its example configurations and prices (fast), and the whole command on the embedded defaults
(slow: a week of simulated DUs through MQTT and REST into SQLite, settled and served)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.domain.community import ConfigurationType
from condivisa.domain.config import community_from_dict
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.sim.demo_data import demo_configuration, demo_prices
from web_helpers import free_port


@pytest.mark.parametrize(
    "kind, members, plants, config",
    [("cer", 20, 3, ConfigurationType.CER), ("is-corrias", 8, 1, ConfigurationType.AUC)],
)
def test_demo_configurations_are_valid_communities(kind, members, plants, config):
    raw, devices = demo_configuration(kind)
    community = community_from_dict(raw)  # perimeter checked
    assert community.configuration is config
    assert len(community.members) == members and len(community.plants) == plants
    # one DU per POD, the plants' DUs produce with the plant's power
    assert {d.pod for d in devices} == set(community.all_pods) == {d.pod for d in community.devices}
    power = {p.pod: p.power_kw for p in community.plants}
    assert all(d.production_kw == power.get(d.pod, 0.0) for d in devices)
    with pytest.raises(ValueError, match="choose one of"):
        demo_configuration("nowhere")


def test_is_corrias_flats_daily_energy_by_hand():
    _, devices = demo_configuration("is-corrias")
    # flat N-8: appliances 12.33 + 0.68 · AC 6.94 = 12.33 + 4.7192 = 17.05 kWh/day (rounded to 0.01)
    assert devices[7].daily_kwh == pytest.approx(17.05)
    # flat N-1: 7.58 + 0.68 · 4.25 = 7.58 + 2.89 = 10.47
    assert devices[0].daily_kwh == pytest.approx(10.47)


def test_demo_prices_are_gme_2023_of_the_zone_replayed():
    # 2024-10-27 (DST ends in Rome) has 25 hours, 2024-10-28 has 24 -> 49 prices
    p = demo_prices(dt.date(2024, 10, 27), dt.date(2024, 10, 29), "SARD")
    assert len(p) == 49 and (p >= 0).all() and str(p.index.tz) == "Europe/Rome"
    # Monday 28 October 2024 is priced as Monday 30 October 2023, SARD, hour by hour
    sard = load_gme_2023(zone="SARD")
    monday = p[p.index.date == dt.date(2024, 10, 28)].to_numpy()
    assert np.array_equal(
        monday, sard[sard.index.tz_convert("Europe/Rome").date == dt.date(2023, 10, 30)].to_numpy()
    )
    assert not np.array_equal(
        monday, demo_prices(dt.date(2024, 10, 28), dt.date(2024, 10, 29), "NORD").to_numpy()
    )


@pytest.mark.slow
def test_demo_runs_end_to_end_without_serving(tmp_path):
    res = CliRunner().invoke(
        app, ["demo", "--weeks", "1", "--no-serve", "--dir", str(tmp_path / "demo"), "--lang", "en"]
    )
    assert res.exit_code == 0, res.output
    out = res.output
    m = re.search(
        r"sent (\d+) MQTT messages .* and (\d+) REST pushes; (\d+) MQTT acknowledgements; (\d+) quarter hours stored, "
        r"(\d+) rejected",
        " ".join(out.split()),
    )
    assert m, out
    mqtt_sent, rest_sent, acked, stored, rejected = map(int, m.groups())
    assert acked == mqtt_sent and rest_sent > 0 and stored > 23 * 96 * 6  # 23 DUs, at least 6 full days
    reports = sorted(p.name for p in (tmp_path / "demo" / "reports").iterdir())
    assert any(n.startswith("report-") and n.endswith(".html") for n in reports)
    assert any(n.startswith("statement-m1-") for n in reports)
    assert "demo stopped." in out


@pytest.mark.slow
def test_demo_serves_the_dashboard_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {**os.environ, "COLUMNS": "160"}
    for key in list(env):  # the demo must not depend on any platform setting of the machine
        if key.startswith("CONDIVISA_"):
            env.pop(key)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "condivisa",
            "demo",
            "--weeks",
            "1",
            "--community",
            "is-corrias",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the demo" in line:
                break
        text = "".join(lines)
        assert "Ctrl-C stops the demo" in text, text
        url = re.search(r"open (http://127\.0\.0\.1:\d+)/", text).group(1)
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as c:

            def login(user: str):  # the login form carries an anti-CSRF token (and sets its nonce cookie)
                token = re.search(r'name="csrf_token" value="([^"]*)"', c.get("/login").text).group(1)
                return c.post("/login", data={"username": user, "password": "condivisa", "csrf_token": token})

            r = login("referente")
            assert r.status_code == 303
            page = c.get("/community").text
            assert re.search(r'data-testid="silent-count">1<', page)  # the DU silenced three hours ago
            assert "DU-N003" in page
            c.cookies.clear()
            login("n1")
            assert c.get("/members/n1").status_code == 200 and c.get("/members/n2").status_code == 404
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "demo stopped." in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
