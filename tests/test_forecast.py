"""Day-ahead forecast of the spare production (issue #19 item 1): formulas by hand, DST days, store, CLI."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import time_machine
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.engines import forecast as fc
from condivisa.kernel.timegrid import ROME, hours
from condivisa.outputs.forecast import Forecast, advice_sentence, community_forecast, forecast_errors, outlook
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"


def _noon_series(first: dt.date, values: list[float], night: float = 0.0) -> pd.Series:
    index = hours(first, first + dt.timedelta(days=len(values)))
    out = pd.Series(night, index=index)
    for i, v in enumerate(values):
        out[pd.Timestamp(dt.datetime.combine(first + dt.timedelta(days=i), dt.time(12)), tz=ROME)] = v
    return out


def test_clearness_index_is_measured_over_clear_sky_of_the_last_3_days_daylight_only():
    first = dt.date(2026, 6, 1)
    clearsky = _noon_series(first, [10.0, 10.0, 10.0, 10.0])
    measured = _noon_series(first, [100.0, 5.0, 8.0, 11.0], night=1.0)  # day 1 is outside the 3 days
    assert fc.clearness_index(measured, clearsky) == pytest.approx(24.0 / 30.0)
    assert fc.clearness_index(measured, clearsky, days=1) == pytest.approx(1.1)
    assert fc.clearness_index(measured, clearsky, last_day=dt.date(2026, 6, 2), days=1) == pytest.approx(0.5)
    sunny = _noon_series(first, [20.0, 20.0, 20.0, 20.0])
    assert fc.clearness_index(sunny, clearsky) == pytest.approx(1.2)  # clipped
    assert math.isnan(fc.clearness_index(measured, clearsky * 0.0))


def test_production_is_clear_sky_times_k_and_spare_is_the_positive_part():
    index = hours(dt.date(2026, 6, 1), dt.date(2026, 6, 2))[:3]
    production = fc.production_forecast_kwh(pd.Series([10.0, 5.0, 0.0], index=index), 0.5)
    assert production.tolist() == [5.0, 2.5, 0.0]
    spare = fc.spare_forecast_kwh(production, pd.Series([2.0, 4.0, 1.0], index=index))
    assert spare.tolist() == [3.0, 0.0, 0.0] and spare.name == "spare_kwh"


def _history(first: dt.date, last: dt.date) -> pd.Series:
    """weekday: 1 + hour/10; Saturday: 5; Sunday and 2 June (Festa della Repubblica): 9."""
    index = hours(first, last + dt.timedelta(days=1))
    local = index.tz_convert(ROME)
    values = []
    for t in local:
        d = t.date()
        if d.weekday() == 6 or d == dt.date(2026, 6, 2):
            values.append(9.0)
        elif d.weekday() == 5:
            values.append(5.0)
        else:
            values.append(1.0 + t.hour / 10)
    return pd.Series(values, index=index)


def test_consumption_is_the_same_day_type_of_the_last_4_weeks():
    history = _history(dt.date(2026, 5, 18), dt.date(2026, 6, 14))
    older = pd.Series(100.0, index=hours(dt.date(2026, 5, 1), dt.date(2026, 5, 18)))  # > 4 weeks before
    series = pd.concat([older, history])
    monday = fc.consumption_forecast_kwh(series, dt.date(2026, 6, 15))
    assert len(monday) == 24
    assert monday.to_numpy() == pytest.approx([1.0 + h / 10 for h in range(24)])  # 2 June is not a workday
    saturday = fc.consumption_forecast_kwh(
        series[series.index < pd.Timestamp("2026-06-13", tz=ROME)], dt.date(2026, 6, 13)
    )
    assert set(saturday.round(9)) == {(100.0 + 5.0 + 5.0 + 5.0) / 4}  # 16 May is 28 days before: counted
    recent = series[series.index >= pd.Timestamp("2026-05-17", tz=ROME)]
    saturday = fc.consumption_forecast_kwh(
        recent[recent.index < pd.Timestamp("2026-06-13", tz=ROME)], dt.date(2026, 6, 13)
    )
    assert set(saturday.round(9)) == {5.0}
    republic_day = fc.consumption_forecast_kwh(
        history[history.index < pd.Timestamp("2026-06-02", tz=ROME)], dt.date(2026, 6, 2)
    )
    assert set(republic_day.round(9)) == {9.0}  # a Tuesday holiday takes the Sundays


def test_the_dst_days_have_23_and_25_hours():
    spring, autumn = dt.date(2026, 3, 29), dt.date(2026, 10, 25)
    assert len(fc.day_hours(spring)) == 23 and len(fc.day_hours(autumn)) == 25
    sky_spring = fc.clearsky_day_kwh(spring, 41.9, 12.5, 100.0)
    sky_autumn = fc.clearsky_day_kwh(autumn, 41.9, 12.5, 100.0)
    assert len(sky_spring) == 23 and len(sky_autumn) == 25
    assert sky_spring.iloc[:5].sum() == 0 and 300 < sky_spring.sum() < 800 and sky_autumn.sum() > 200
    history = pd.Series(
        [float(t.hour) for t in hours(dt.date(2026, 9, 27), autumn).tz_convert(ROME)],
        index=hours(dt.date(2026, 9, 27), autumn),
    )
    cons = fc.consumption_forecast_kwh(history, autumn)
    assert len(cons) == 25 and cons.iloc[2] == cons.iloc[3] == 2.0  # both 02:00 hours
    spring_history = pd.Series(1.0, index=hours(dt.date(2026, 3, 1), spring))
    assert fc.consumption_forecast_kwh(spring_history, spring).tolist() == [1.0] * 23
    spare = fc.spare_forecast_kwh(fc.production_forecast_kwh(sky_autumn, 0.5), cons)
    per_hour = fc.by_local_hour(spare)
    assert per_hour.shape == (24,) and per_hour.sum() == pytest.approx(spare.sum())


def test_forecast_error_per_day_mae_bias_and_total():
    index = hours(dt.date(2026, 6, 1), dt.date(2026, 6, 4))
    picks = [index[12], index[13], index[36], index[37], index[60]]
    forecast = pd.Series([2.0, 4.0, 3.0, 3.0, 1.0], index=picks)
    actual = pd.Series([1.0, 5.0, 2.0, 2.0, 0.0], index=picks)
    err = fc.forecast_error(forecast, actual)
    assert list(err.index) == [dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)]
    assert err["mae_kwh"].tolist() == [1.0, 1.0, 1.0]
    assert err["bias_kwh"].tolist() == [0.0, 1.0, 1.0]
    assert err["total_error_pct"].iloc[0] == 0.0 and err["total_error_pct"].iloc[1] == pytest.approx(50.0)
    assert math.isnan(err["total_error_pct"].iloc[2])


def test_the_advice_sentence_rounds_the_mean_power_of_the_best_window():
    from condivisa.engines.indicators import ShiftWindow

    day = dt.date(2026, 6, 2)
    f = Forecast(day, pd.DataFrame(), 0.8, (ShiftWindow(11, 3, 121.0),), 41.9, 12.5)
    assert (
        advice_sentence(f, dt.date(2026, 6, 1))
        == "domani tra le 11 e le 14 la comunità avrà circa 40 kW in più"
    )
    small = Forecast(day, pd.DataFrame(), 0.8, (ShiftWindow(9, 3, 7.0),), 41.9, 12.5)
    assert (
        advice_sentence(small, dt.date(2026, 5, 1))
        == "il 02/06/2026 tra le 9 e le 12 la comunità avrà circa 2,3 kW in più"
    )
    none = Forecast(day, pd.DataFrame(), 0.0, (), 41.9, 12.5)
    assert "non avrà" in advice_sentence(none, dt.date(2026, 6, 1))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from condivisa.domain.config import load_community
    from condivisa.formats.csv_io import read_measurements
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    community = load_community(EXAMPLE_COMMUNITY)
    measurements = read_measurements(MEAS, known_pods=community.all_pods)
    url = f"sqlite:///{tmp_path_factory.mktemp('forecast') / 'db.sqlite'}"
    s = Store(url)
    s.upgrade()
    s.register_devices(community)
    ingest_frame(s, measurements, source="test")
    yield s, community, measurements, url
    s.close()


def test_the_forecast_from_the_store_uses_the_days_before(store):
    s, community, measurements, _ = store
    f = community_forecast(s, community, dt.date(2024, 6, 20))
    assert len(f.hourly) == 24 and 0.5 < f.clearness_index < 1.2
    assert (f.hourly["spare_kwh"] >= 0).all() and f.hourly["production_kwh"].iloc[:4].sum() == 0
    assert f.windows and 9 <= f.windows[0].start_hour <= 12
    plant_pods = [p.pod for p in community.plants]
    start = pd.to_datetime(measurements["start"]).dt.tz_convert(ROME)
    before = measurements[
        (start >= pd.Timestamp("2024-06-17", tz=ROME)) & (start < pd.Timestamp("2024-06-20", tz=ROME))
    ]
    injected = before[before["pod"].isin(plant_pods)]["injected_kwh"].sum()
    clearsky = sum(
        fc.clearsky_day_kwh(d, f.latitude, f.longitude, p.power_kw).sum()
        for d in (dt.date(2024, 6, 17), dt.date(2024, 6, 18), dt.date(2024, 6, 19))
        for p in community.plants
    )
    assert f.clearness_index == pytest.approx(injected / clearsky, rel=1e-6)
    errors = forecast_errors(s, community, dt.date(2024, 6, 19), dt.date(2024, 6, 20))
    assert list(errors["day"]) == [dt.date(2024, 6, 19), dt.date(2024, 6, 20)]
    row = errors.iloc[1]
    assert row["production_forecast_kwh"] == pytest.approx(f.hourly["production_kwh"].sum())
    on_day = measurements[
        (start >= pd.Timestamp("2024-06-20", tz=ROME)) & (start < pd.Timestamp("2024-06-21", tz=ROME))
    ]
    assert row["production_actual_kwh"] == pytest.approx(
        on_day[on_day["pod"].isin(plant_pods)]["injected_kwh"].sum()
    )
    with pytest.raises(ValueError, match="no production"):
        community_forecast(s, community, dt.date(2025, 1, 1))
    # the page's one read of the store gives what the two functions give
    tomorrow, week = outlook(s, community, dt.date(2024, 6, 19))
    pd.testing.assert_frame_equal(tomorrow.hourly, f.hourly)
    assert tomorrow.windows == f.windows
    pd.testing.assert_frame_equal(
        week, forecast_errors(s, community, dt.date(2024, 6, 12), dt.date(2024, 6, 18))
    )


def test_the_cli_forecasts_tomorrow_by_the_clock(store):
    _, _, _, url = store
    runner = CliRunner()
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        result = runner.invoke(app, ["forecast", "--config", str(EXAMPLE_COMMUNITY), "--database", url])
    assert result.exit_code == 0, result.output
    assert "forecast of 2024-06-20" in result.output
    assert "domani tra le 11 e le 14 la comunità avrà circa" in result.output
    errors = runner.invoke(
        app,
        [
            "forecast",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "--database",
            url,
            "--errors-from",
            "2024-06-10",
            "--errors-to",
            "2024-06-12",
        ],
    )
    assert errors.exit_code == 0, errors.output
    assert (
        "2024-06-10" in errors.output
        and "2024-06-12" in errors.output
        and "mean absolute error" in errors.output
    )
    bad = runner.invoke(
        app, ["forecast", "-c", str(EXAMPLE_COMMUNITY), "--database", url, "--day", "2025-01-01"]
    )
    assert bad.exit_code == 2 and "no production" in bad.output
    nonsense = runner.invoke(
        app, ["forecast", "-c", str(EXAMPLE_COMMUNITY), "--database", url, "--day", "tomorrow"]
    )
    assert nonsense.exit_code == 2


def test_the_referente_sees_tomorrow_and_the_errors_of_the_last_days(store, tmp_path):
    """The community page shows tomorrow's best hours and, day by day, how wrong the last 7 forecasts were:
    the same figures as :func:`forecast_errors`."""
    from fastapi.testclient import TestClient

    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings

    s, community, _, url = store
    settings = load_settings(
        database_url=url, community_file=str(EXAMPLE_COMMUNITY), allowed_hosts=["testserver"]
    )
    app = create_app(settings, store=s, community=community)
    app.state.auth.create_user("rita", "password-1", "referente")
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        client = TestClient(app)
        token = client.post("/api/v1/auth/login", json={"username": "rita", "password": "password-1"})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        page = client.get("/community?month=2024-06", headers=headers).text
        english = client.get("/community?month=2024-06&lang=en", headers=headers).text
    assert 'data-testid="forecast"' in page
    assert "domani tra le 11 e le 14 la comunità avrà circa" in page
    assert "tomorrow between 11 and 14 the community will have about" in english
    errors = forecast_errors(s, community, dt.date(2024, 6, 12), dt.date(2024, 6, 18))
    table = page[page.index('data-testid="forecast-errors"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == len(errors) + 1 == 8  # the header and 7 days
    first = errors.iloc[0]
    assert (
        "12/06" in table
        and f"{first['spare_forecast_kwh']:,.1f}".replace(",", "X").replace(".", ",").replace("X", ".")
        in table
    )


def test_a_member_sees_tomorrows_good_hours_on_their_page(store):
    """Issue #19, item 2: the member's page says tomorrow's good hours, the sentence of the referente's page
    and of the advice e-mail (one source: :func:`condivisa.outputs.forecast.advice_sentence`)."""
    from fastapi.testclient import TestClient

    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings
    from condivisa.outputs.forecast import advice_sentence, community_forecast

    s, community, _, url = store
    settings = load_settings(
        database_url=url, community_file=str(EXAMPLE_COMMUNITY), allowed_hosts=["testserver"]
    )
    app = create_app(settings, store=s, community=community)
    member = community.members[0].id
    app.state.auth.create_user("mario", "password-1", "member", member_id=member)
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        client = TestClient(app)
        token = client.post("/api/v1/auth/login", json={"username": "mario", "password": "password-1"})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        page = client.get(f"/members/{member}?month=2024-06", headers=headers).text
        expected = advice_sentence(
            community_forecast(s, community, dt.date(2024, 6, 20)), dt.date(2024, 6, 19)
        )
    assert 'data-testid="tomorrow"' in page
    assert expected in page and "domani tra le 11 e le 14" in page
