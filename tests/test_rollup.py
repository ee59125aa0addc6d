"""The retention policy (issue #18, item 4): quarter hours older than six years become hourly totals."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
import time_machine
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.formats.urbandataset.types import Reading
from condivisa.kernel.timegrid import ROME
from condivisa.store.models import Measurement
from condivisa.store.rollup import cutoff_month, hourly_rows, months_to_roll, roll_up
from condivisa.store.store import Store


def reading(start: pd.Timestamp, withdrawn: float, total: float) -> Reading:
    return Reading(
        pod="IT001E00000001",
        start=start.to_pydatetime(),
        withdrawn_kwh=withdrawn,
        injected_kwh=withdrawn / 10,
        withdrawn_total_kwh=total,
        du_id="DU-1",
    )


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2026, 12, 1), dt.date(2020, 12, 1)),
        (dt.date(2028, 2, 29), dt.date(2022, 2, 1)),  # no 29 February in 2022
        (dt.date(2027, 1, 1), dt.date(2021, 1, 1)),
    ],
)
def test_cutoff(today, expected):
    assert cutoff_month(today) == expected


def test_four_quarters_make_one_hour():
    t0 = pd.Timestamp("2020-03-01 10:00", tz="UTC")
    quarters = pd.DataFrame(
        {
            "pod": ["P"] * 5,
            "start_utc": [t0 + pd.Timedelta(minutes=15 * k) for k in range(5)],
            "meter": ["M1"] * 5,
            "du_id": ["D"] * 5,
            "received_at": [t0] * 5,
            "withdrawn_kwh": [0.1, 0.2, 0.3, 0.4, 0.5],
            "injected_kwh": [0.0, 0.0, 1.0, 1.0, 0.0],
            "withdrawn_total_kwh": [10.1, 10.3, 10.6, 11.0, 11.5],
            "injected_total_kwh": [None] * 5,
        }
    )
    hours = hourly_rows(quarters)
    assert list(hours["start_utc"]) == [t0, t0 + pd.Timedelta(hours=1)]
    assert hours["withdrawn_kwh"].round(9).tolist() == [1.0, 0.5]
    assert hours["injected_kwh"].tolist() == [2.0, 0.0]
    assert hours["withdrawn_total_kwh"].tolist() == [11.0, 11.5]  # the reading at the end of the hour
    assert hours["quarters"].tolist() == [4, 1]


def test_roll_up_old_months_only(db_url):
    with Store(db_url) as store:
        store.upgrade()
        old = pd.Timestamp("2020-11-30 23:00", tz=ROME)  # the last day of an old month, into December
        recent = pd.Timestamp("2021-01-04 10:00", tz=ROME)
        rows = [reading(old + pd.Timedelta(minutes=15 * k), 0.25, 100 + 0.25 * k) for k in range(8)]
        rows += [reading(recent + pd.Timedelta(minutes=15 * k), 0.5, 200 + 0.5 * k) for k in range(4)]
        store.ingest_records(rows, source="test", check_pods=False, cross_check=False)
        with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=ROME), tick=False):
            assert months_to_roll(store.engine, cutoff_month(dt.date(2026, 12, 1))) == [dt.date(2020, 11, 1)]
            done = roll_up(store.engine)
            assert [(d.month, d.quarters, d.hours) for d in done] == [("2020-11", 4, 1)]
            assert roll_up(store.engine) == []  # again: nothing more
        t = Measurement.__table__
        with store.engine.connect() as conn:
            got = conn.execute(
                sa.select(t.c.minutes, sa.func.count(), sa.func.sum(t.c.withdrawn_kwh)).group_by(t.c.minutes)
            ).all()
        assert sorted((m, n, round(kwh, 9)) for m, n, kwh in got) == [(15, 8, 3.0), (60, 1, 1.0)]
        frame = store.measurements_frame(pods=["IT001E00000001"])
        assert round(frame["withdrawn_kwh"].sum(), 9) == 4.0  # no energy lost
        out = CliRunner().invoke(
            app, ["db", "rollup", "--database", db_url, "--keep-years", "5", "--dry-run"]
        )
        assert out.exit_code == 0 and "2020-12: would become hourly totals" in out.output
