"""Rule 6 of issue 14: RID minimum guaranteed prices (prezzi minimi garantiti, ARERA delibera 280/07).

Within the yearly quota (the first 1,500 MWh of a PV plant, in time order) the GSE pays the minimum price
monthly, and at the end of the year tops up to the zonal prices if these pay more for the same energy;
beyond the quota, the zonal price. The arithmetic is in the comments."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.config import ConfigError
from condivisa.engines.rid import rid_sale, within_quota_kwh
from condivisa.engines.settlement import settle
from condivisa.engines.settlement_sale import closed_years
from condivisa.kernel.timegrid import hours
from settlement_helpers import DAY, community, flat_prices, hourly_frame

PMIN = 46.4  # €/MWh, PV, 2024
QUOTA_KWH = 1_500_000.0  # 1,500 MWh


def test_hours_below_and_above_the_minimum_closed_year():
    # E = 100, 200, 300 kWh at Pz = 40, 50, 30 €/MWh, within the quota
    # advance = 46.4 × 600 / 1000 = 27.84 €; at zonal prices 4.00 + 10.00 + 9.00 = 23.00 € < 27.84 → no top-up
    # (the higher price hour by hour would give 4.64 + 10.00 + 13.92 = 28.56 €: the GSE compares yearly totals)
    r = rid_sale(
        [[100.0, 200.0, 300.0]], [40.0, 50.0, 30.0], [2024] * 3, PMIN, QUOTA_KWH, closed_years={2024}
    )
    assert r.sale_eur.sum() == pytest.approx(27.84)
    assert r.top_up_eur.sum() == 0.0 and r.pending_top_up_eur == {}


def test_yearly_top_up_when_zonal_prices_pay_more():
    # E = 100, 200 kWh at Pz = 40, 120: advance 46.4 × 300 / 1000 = 13.92 €; zonal 4.00 + 24.00 = 28.00 €
    # top-up = 28.00 − 13.92 = 14.08 €, added at the year's last interval when the year is closed
    r = rid_sale([[100.0, 200.0]], [40.0, 120.0], [2024, 2024], PMIN, QUOTA_KWH, closed_years={2024})
    assert r.sale_eur[0] == pytest.approx([4.64, 9.28 + 14.08])
    assert r.sale_eur.sum() == pytest.approx(28.00)
    # the same hours in a year not closed in the period: the advance only, the top-up pending
    open_ = rid_sale([[100.0, 200.0]], [40.0, 120.0], [2024, 2024], PMIN, QUOTA_KWH)
    assert open_.sale_eur.sum() == pytest.approx(13.92)
    assert open_.pending_top_up_eur == {(0, 2024): pytest.approx(14.08)}


def test_an_hour_crossing_the_1500_mwh_quota():
    # 1,499.9 MWh already injected this year: 100 kWh of quota left
    # hour 0: 50 kWh within (50 left); hour 1: 50 of its 100 within, 50 beyond; hour 2: all 80 beyond
    # advance = 46.4 × (50 + 50) / 1000 + 20 × 50 / 1000 + 60 × 80 / 1000 = 4.64 + 1.00 + 4.80 = 10.44 €
    # top-up: Σ (Pz − Pmin) E_q = 50 × (30 − 46.4) + 50 × (20 − 46.4) < 0 → 0
    inj, pz = [[50.0, 100.0, 80.0]], [30.0, 20.0, 60.0]
    r = rid_sale(inj, pz, [2024] * 3, PMIN, QUOTA_KWH, closed_years={2024}, injected_before_kwh=1_499_900.0)
    assert r.within_quota_kwh[0] == pytest.approx([50.0, 50.0, 0.0])
    assert r.sale_eur[0] == pytest.approx([2.32, 2.32 + 1.00, 4.80])
    assert r.sale_eur.sum() == pytest.approx(10.44)


def test_the_quota_starts_again_each_year():
    # quota 100 kWh: 2024 uses it all in its first hour; 2025's first 100 kWh are within again
    w = within_quota_kwh([[150.0, 50.0]], 100.0)
    assert w[0] == pytest.approx([100.0, 0.0])
    r = rid_sale([[150.0, 50.0, 120.0]], 10.0, [2024, 2024, 2025], 46.4, 100.0)
    assert r.within_quota_kwh[0] == pytest.approx([100.0, 0.0, 100.0])


def test_a_plant_without_the_minimum_sells_at_the_zonal_price():
    r = rid_sale([[100.0], [100.0]], [30.0], [2024], [[np.nan], [PMIN]], QUOTA_KWH, closed_years={2024})
    assert r.sale_eur[:, 0] == pytest.approx([3.00, 4.64])


def test_settle_pays_the_minimum_price_within_the_month():
    # one hour, 30 kWh injected at Pz 40: 30 × 46.4 / 1000 = 1.392 → 1.39 € (1.20 € at the zonal price)
    plant = {"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "rid_minimum_price": True}
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    r = settle(community(plants=[plant]), m, flat_prices(DAY, 40.0))
    assert r.to_dict()["totals"]["sale_eur"] == 1.39 and not r.provisional
    # at Pz 100 the GSE pays 1.39 € now and tops up 30 × (100 − 46.4) / 1000 = 1.608 € at the end of 2024
    r = settle(community(plants=[plant]), m, flat_prices(DAY, 100.0))
    assert r.to_dict()["totals"]["sale_eur"] == 1.39
    assert r.provisional and "finora +1.61 €" in r.provisional_reasons[0]


def test_settle_a_whole_year_adds_the_top_up_in_december():
    # 30 kWh on 1 January and 20 kWh on 31 December at Pz 100, the whole of 2024 settled
    # January: 30 × 46.4 / 1000 = 1.392 → 1.39 €; December: 20 × 46.4 / 1000 + top-up 50 × 53.6 / 1000
    # = 0.928 + 2.68 = 3.608 → 3.61 €; the year 5.00 € = 50 × 100 / 1000, the zonal valuation
    day0, n_days = dt.date(2024, 1, 1), 366
    plant = {"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "rid_minimum_price": True}
    last = n_days * 24 - 12
    m = hourly_frame(
        day0, {"C1": ({12: 1.0}, "withdrawn"), "P1": ({12: 30.0, last: 20.0}, "injected")}, n_days=n_days
    )
    r = settle(community(plants=[plant]), m, flat_prices(day0, 100.0, n_days=n_days)).to_dict()
    months = {row["month"]: row["sale_eur"] for row in r["months"]}
    assert months["2024-01"] == 1.39 and months["2024-12"] == 3.61 and r["totals"]["sale_eur"] == 5.00
    assert r["provisional"] is False


def test_closed_years_needs_the_first_and_the_last_hour():
    assert closed_years(hours(dt.date(2024, 1, 1), dt.date(2025, 1, 1)).tz_convert("Europe/Rome")) == {2024}
    assert closed_years(hours(dt.date(2024, 1, 2), dt.date(2025, 1, 1)).tz_convert("Europe/Rome")) == set()


def test_the_flag_must_be_true_or_false():
    with pytest.raises(ConfigError, match=r"plants\[0\]\.rid_minimum_price: expected true or false"):
        community(plants=[{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "rid_minimum_price": "yes"}])


def test_a_source_without_a_known_minimum_is_zonal_and_provisional():
    plant = {
        "id": "w",
        "pod": "P1",
        "owner": "a",
        "power_kw": 10,
        "source": "wind",
        "rid_minimum_price": True,
    }
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    r = settle(community(plants=[plant]), m, flat_prices(DAY, 40.0))
    assert r.to_dict()["totals"]["sale_eur"] == 1.20  # 30 × 40 / 1000
    assert any("rid_minimum_wind_eur_per_mwh" in n for n in r.provisional_reasons)


energies = st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(energies, st.floats(0, 300, allow_nan=False), st.floats(1, 5000, allow_nan=False), st.data())
def test_property_the_year_pays_the_higher_of_the_two_totals(inj, pmin, quota, data):
    n = len(inj)
    pz = np.array(data.draw(st.lists(st.floats(0, 400, allow_nan=False), min_size=n, max_size=n)))
    e = np.array([inj])
    r = rid_sale(e, pz, [2024] * n, pmin, quota, closed_years={2024})
    w = r.within_quota_kwh[0]
    assert np.all(w >= 0) and np.all(w <= e[0] + 1e-9) and w.sum() <= quota + 1e-6
    zonal_within, min_within = (pz * w).sum() / 1000, pmin * w.sum() / 1000
    beyond = (pz * (e[0] - w)).sum() / 1000
    assert r.sale_eur.sum() == pytest.approx(max(zonal_within, min_within) + beyond, abs=1e-6)
    assert r.sale_eur.sum() >= (pz * e[0]).sum() / 1000 - 1e-6  # never less than the zonal price
    hourly_max = (np.maximum(pz, pmin) * w).sum() / 1000 + beyond
    assert r.sale_eur.sum() <= hourly_max + 1e-6  # and never more than the higher price hour by hour
