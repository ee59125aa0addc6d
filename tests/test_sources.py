"""The one input loader: community, measurements (CSV or store) and prices (CSV or a flat assumed price)."""

from __future__ import annotations

import datetime as dt

import pytest

from condivisa.formats.csv_io import InputError, read_measurements, read_prices
from condivisa.outputs.sources import (
    ASSUMED_PRICE_EUR_PER_MWH,
    NoPricesError,
    flat_prices,
    inputs_from_files,
    inputs_from_store,
    stored_months,
)
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


def test_inputs_from_files_read_what_the_csv_readers_read():
    inputs = inputs_from_files(EXAMPLE_COMMUNITY, MEAS, PRICES)
    assert inputs.community.name and not inputs.prices_assumed
    expected = read_measurements(MEAS, known_pods=inputs.community.all_pods)
    assert inputs.measurements.equals(expected) and inputs.prices.equals(read_prices(PRICES))
    book = inputs.settled_months(as_of=dt.date(2024, 7, 1))
    assert book.months == ["2024-06"] and book.month("2024-06").complete


def test_an_assumed_price_is_flat_and_said_so():
    inputs = inputs_from_files(EXAMPLE_COMMUNITY, MEAS, assumed_price_eur_per_mwh=80.0)
    assert inputs.prices_assumed and set(inputs.prices) == {80.0}
    assert inputs.prices.equals(flat_prices(inputs.measurements, 80.0))
    with pytest.raises(NoPricesError, match="no prices"):
        inputs_from_files(EXAMPLE_COMMUNITY, MEAS)


def test_a_bad_csv_names_the_file(tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("start,zonal_price_eur_per_mwh\nnot a time,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="prices.csv"):
        inputs_from_files(EXAMPLE_COMMUNITY, MEAS, bad)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    inputs = inputs_from_files(EXAMPLE_COMMUNITY, MEAS, PRICES)
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('sources') / 'db.sqlite'}")
    s.upgrade()
    s.register_devices(inputs.community)
    ingest_frame(s, inputs.measurements, source="test")
    yield s, inputs
    s.close()


def test_inputs_from_store_read_the_days_asked_for(store):
    s, files = store
    whole = inputs_from_store(s, files.community, prices_csv=PRICES)
    assert len(whole.measurements) == len(files.measurements) and not whole.prices_assumed
    week = inputs_from_store(
        s, files.community, prices_csv=PRICES, first_day=dt.date(2024, 6, 3), last_day=dt.date(2024, 6, 9)
    )
    days = week.measurements["start"].dt.tz_convert("Europe/Rome").dt.date
    assert days.min() == dt.date(2024, 6, 3) and days.max() == dt.date(2024, 6, 9)
    with pytest.raises(NoPricesError):
        inputs_from_store(s, files.community)


def test_stored_months_are_the_dashboards(store):
    s, files = store
    book = stored_months(s, files.community, as_of=dt.date(2024, 7, 1))
    assert book.fill == "zero" and set(book.prices) == {ASSUMED_PRICE_EUR_PER_MWH}
    priced = stored_months(s, files.community, PRICES, as_of=dt.date(2024, 7, 1))
    direct = files.settled_months(as_of=dt.date(2024, 7, 1))
    assert priced.result("2024-06")["members"] == direct.result("2024-06")["members"]
