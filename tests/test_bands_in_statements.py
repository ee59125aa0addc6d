"""Time bands in what a member reads: the month's energy by F1/F2/F3 (from the settlement result) and the
band of every advised window."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from rich.console import Console

from condivisa.engines.indicators import ShiftWindow
from condivisa.engines.settlement import settle
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.kernel.timegrid import ROME
from condivisa.outputs import report
from condivisa.outputs.bands import member_band_energy, window_bands
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import member_statement, statement_table
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


@pytest.fixture(scope="module")
def community():
    from condivisa.domain.config import load_community

    return load_community(EXAMPLE_COMMUNITY)


@pytest.fixture(scope="module")
def data(community):
    return read_measurements(MEAS, known_pods=community.all_pods), read_prices(PRICES)


@pytest.fixture(scope="module")
def result(community, data):
    return settle(community, *data)


def test_bands_add_up_to_the_statement(community, result):
    for member in community.members:
        st = member_statement(community, member.id, result)
        assert [b.band for b in st.bands] == ["F1", "F2", "F3"]
        assert sum(b.withdrawn_kwh for b in st.bands) == pytest.approx(st.energy.withdrawn_kwh, abs=1.5e-3)
        assert sum(b.shared_kwh for b in st.bands) == pytest.approx(st.energy.shared_kwh, abs=1.5e-3)


def test_bands_by_hand_on_the_member_series(community, result):
    # recount m1's June by hand: F1 = Mon-Fri 08-19 except Sunday 2 June (Festa della Repubblica is a
    # Sunday in 2024: a holiday anyway), F2 = Mon-Fri 07-08 and 19-23 plus Saturdays 07-23, F3 the rest
    series = result.member_series("m1")
    local = series.index.tz_convert(ROME)
    weekday, hour = np.asarray(local.day_of_week), np.asarray(local.hour)
    f1 = (weekday < 5) & (hour >= 8) & (hour < 19)
    f2 = ((weekday < 5) & ((hour == 7) | ((hour >= 19) & (hour < 23)))) | (
        (weekday == 5) & (hour >= 7) & (hour < 23)
    )
    w = series["member_withdrawn_kwh"].to_numpy()
    bands = {b.band: b for b in member_band_energy(result, "m1")}
    assert bands["F1"].withdrawn_kwh == round(w[f1].sum(), 3)
    assert bands["F2"].withdrawn_kwh == round(w[f2].sum(), 3)
    assert bands["F3"].withdrawn_kwh == round(w[~f1 & ~f2].sum(), 3)
    assert bands["F1"].withdrawn_kwh > 0 and bands["F3"].withdrawn_kwh > 0


@pytest.mark.parametrize(
    ("day", "start_hour", "hours", "expected"),
    [
        (dt.date(2026, 12, 2), 11, 2, "F1"),  # a Wednesday, sunny midday
        (dt.date(2026, 12, 2), 18, 2, "F1/F2"),  # 18-19 F1, 19-20 F2
        (dt.date(2026, 12, 5), 12, 2, "F2"),  # a Saturday
        (dt.date(2026, 12, 6), 12, 2, "F3"),  # a Sunday
        (dt.date(2026, 12, 8), 12, 2, "F3"),  # Immacolata, a Tuesday holiday
        (dt.date(2027, 3, 29), 10, 3, "F3"),  # Easter Monday 2027 (29 March): a national holiday, F3 all day
        (dt.date(2026, 12, 2), 22, 2, "F2/F3"),  # 22-23 F2, 23-24 F3
    ],
)
def test_window_bands_by_hand(day, start_hour, hours, expected):
    assert window_bands([ShiftWindow(start_hour, hours, 1.0)], day) == [expected]


def test_statement_page_shows_the_bands_and_the_advice_band(community, data):
    book = SettledMonths(community, *data, as_of=dt.date(2024, 7, 1))
    st = book.statement("m1", "2024-06")
    html = report.member_statement_html(book, "m1", "2024-06", "it")
    table = re.search(r'<table data-testid="band-table">.*?</table>', html, re.S)
    assert table is not None
    for b in st.bands:
        row = re.search(rf'<tr data-band="{b.band}">(.*?)</tr>', table.group(0), re.S)
        assert row is not None
        assert f'data-key="withdrawn_kwh">{fmt_number(b.withdrawn_kwh, "it", 1)}<' in row.group(1)
        assert f'data-key="shared_kwh">{fmt_number(b.shared_kwh, "it", 1)}<' in row.group(1)
    # the advice is for 2 July 2024, a Tuesday: each window names its band
    advice = re.search(r'<ul class="windows" data-testid="best-hours">(.*?)</ul>', html, re.S)
    assert advice is not None
    assert re.findall(r'data-key="band">(F[123](?:/F[123])*)<', advice.group(1))
    assert "Fasce ARERA" in html


def test_cli_statement_table_lists_the_bands(community, result):
    st = member_statement(community, "m1", result)
    console = Console(width=140, record=True)
    console.print(statement_table(st))
    text = console.export_text()
    for b in st.bands:
        assert f"{b.band}: withdrawn / shared" in text
        assert f"{b.withdrawn_kwh:,.1f} / {b.shared_kwh:,.1f} kWh" in text


def test_no_settled_day_no_bands(community):
    st = member_statement(community, "m1", None)
    assert st.bands == ()
