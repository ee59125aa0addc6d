"""The one clock: parsing, CONDIVISA_NOW running on from its instant, children inheriting it, time-machine."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
import time_machine

from condivisa.kernel import clock


@pytest.fixture(autouse=True)
def _real_clock():
    clock.reset()
    yield
    clock.reset()


def test_parse_instant_by_hand():
    # a date is local midnight in Rome: 1 December is CET (+01:00), 1 July is CEST (+02:00)
    assert clock.parse_instant("2026-12-01") == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)
    assert clock.parse_instant("2026-07-01") == dt.datetime(2026, 6, 30, 22, 0, tzinfo=dt.UTC)
    assert clock.parse_instant("2026-12-01T08:53:00+01:00") == dt.datetime(2026, 12, 1, 7, 53, tzinfo=dt.UTC)
    # no offset: Rome's local time
    assert clock.parse_instant("2026-12-01T08:53") == dt.datetime(2026, 12, 1, 7, 53, tzinfo=dt.UTC)
    with pytest.raises(clock.ClockError, match="neither a date"):
        clock.parse_instant("1st of December")


def test_condivisa_now_starts_the_clock_and_it_runs_on(monkeypatch):
    monkeypatch.setenv(clock.ENV_NOW, "2026-12-01T08:53:00+01:00")
    monkeypatch.delenv(clock.ENV_SINCE, raising=False)
    with time_machine.travel(dt.datetime(2030, 5, 5, 12, 0, tzinfo=dt.UTC), tick=False) as traveller:
        assert clock.now() == dt.datetime(2026, 12, 1, 7, 53, tzinfo=dt.UTC)
        assert float(os.environ[clock.ENV_SINCE]) == pytest.approx(
            dt.datetime(2030, 5, 5, 12, 0, tzinfo=dt.UTC).timestamp()
        )
        traveller.shift(dt.timedelta(minutes=15))  # 15 real minutes later the shifted clock is 15 minutes on
        assert clock.local_now() == dt.datetime(2026, 12, 1, 9, 8, tzinfo=clock.ROME)
        assert clock.today() == dt.date(2026, 12, 1)


def test_set_now_and_reset():
    with time_machine.travel(dt.datetime(2030, 5, 5, 12, 0, tzinfo=dt.UTC), tick=False):
        clock.set_now(dt.date(2028, 2, 29))
        assert clock.now() == dt.datetime(2028, 2, 28, 23, 0, tzinfo=dt.UTC)
        clock.reset()
        assert clock.now() == dt.datetime(2030, 5, 5, 12, 0, tzinfo=dt.UTC)


def test_a_child_process_inherits_the_same_shifted_clock():
    clock.set_now("2026-12-01T08:53:00+01:00")
    code = "from condivisa.kernel import clock; print(clock.now().timestamp())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    child = float(out.stdout)
    # the child reads the same start and the same real instant it was set at: within the seconds it took to
    # start
    assert 0 <= child - clock.parse_instant("2026-12-01T08:53:00+01:00").timestamp() < 30
    assert abs(child - clock.now().timestamp()) < 30


def test_a_bad_condivisa_now_is_an_error_not_the_real_time(monkeypatch):
    monkeypatch.setenv(clock.ENV_NOW, "tomorrow")
    with pytest.raises(clock.ClockError, match="'tomorrow'"):
        clock.now()
