"""GSE fees of the CACER incentive (DM 106/2024): none up to 3 kW, 15 €/year up to 20 kW, 15 €/year + 1 €/kW
above 20 kW, per plant, pro rata to the days, off the community or the producers. Arithmetic in comments."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.community import ConsumersBy, GseFeesBorneBy, Rules
from condivisa.domain.config import ConfigError, load_community
from condivisa.engines.allocation import COMMUNITY, MemberFigures, PlantFigures, allocate
from condivisa.engines.gse_fees import annual_fee_cents, period_fee_cents
from condivisa.engines.settlement import settle
from condivisa.formats.csv_io import read_measurements, read_prices
from settlement_helpers import community, flat_prices, hourly_frame

JUNE_2024 = [dt.date(2024, 6, d) for d in range(1, 31)]


@pytest.mark.parametrize(
    ("power_kw", "cents"),
    [
        (2.0, 0),
        (3.0, 0),  # "none up to 3 kW": 3 kW included
        (3.5, 1500),  # 15 €/year
        (20.0, 1500),
        (21.0, 1600),  # 15 + 1 × (21 − 20) = 16 €
        (250.0, 24500),  # 15 + 1 × 230 = 245 €
        (999.5, 99450),  # 15 + 979.5 = 994.50 €
    ],
)
def test_yearly_fee_by_power(power_kw, cents):
    assert annual_fee_cents(power_kw) == cents


def test_the_month_carries_its_days_share_of_the_year():
    # June 2024: 30 days of a 366-day year
    # 250 kW: 24500 × 30 / 366 = 2008.20 → 2008 cents; 18 kW: 1500 × 30 / 366 = 122.95 → 123 cents
    assert period_fee_cents(250.0, JUNE_2024) == 2008
    assert period_fee_cents(18.0, JUNE_2024) == 123
    # a plant commissioned on 16 June carries 15 days: 1500 × 15 / 366 = 61.48 → 61
    assert period_fee_cents(18.0, JUNE_2024[15:]) == 61
    assert period_fee_cents(3.0, JUNE_2024) == 0


def test_a_whole_year_is_the_sum_of_its_rounded_months():
    # 250 kW in 2024, each month round(24500 × days / 366):
    # 31 days: 2075.14 → 2075 (7 months: 14525); 30 days: 2008.20 → 2008 (4 months: 8032); Feb 29: 1941.26 → 1941
    # 14525 + 8032 + 1941 = 24498 cents: 2 cents of monthly rounding short of 245.00 €
    year = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(366)]
    assert period_fee_cents(250.0, year) == 24498


def _alloc(bearer, community_share=0.15):
    # plant of 250 kW owned by m1, premium 10000 cents, its period fee 2008 cents
    plant = PlantFigures("p", "m1", 10000, 0, 0, gse_fee_cents=2008)
    members = [
        MemberFigures("m1", consumption_in_shared_kwh=10.0, active_days=30),
        MemberFigures("m2", consumption_in_shared_kwh=10.0, active_days=30),
    ]
    rules = Rules(0.10, community_share, 0.90 - community_share, ConsumersBy.CONSUMPTION, gse_fees=bearer)
    return allocate([plant], members, rules, period_days=30)


def test_the_community_bears_the_fees_by_default():
    # premium 10000: producers 1000 (m1), community 1500, consumers 7500 (3750 + 3750)
    # the community account: 1500 − 2008 → only 1500 can be taken; 508 cents are uncovered (reported)
    a = _alloc(GseFeesBorneBy.COMMUNITY)
    assert a.gse_fees == {"m1": 0, "m2": 0, COMMUNITY: 1500}
    assert a.gse_fees_uncovered_cents == 508
    assert a.total(COMMUNITY) == 0 and a.total("m1") == 4750
    # with 25 % to the community (2500 cents): all 2008 taken, the account keeps 492
    b = _alloc(GseFeesBorneBy.COMMUNITY, community_share=0.25)
    assert b.gse_fees[COMMUNITY] == 2008 and b.total(COMMUNITY) == 492 and b.gse_fees_uncovered_cents == 0


def test_producers_bear_their_plants_fees():
    # m1 owns the plant: 1000 (producers' part) + 3750 (consumers' part) = 4750 − 2008 = 2742
    a = _alloc(GseFeesBorneBy.PRODUCERS)
    assert a.gse_fees == {"m1": 2008, "m2": 0, COMMUNITY: 0}
    assert a.total("m1") == 2742 and a.total(COMMUNITY) == 1500
    assert sum(a.total(p) for p in a.payees) == 10000 - 2008


def test_the_example_community_june_statement():
    # pv1 18 kW: 1.23 €, pv2 250 kW: 20.08 € (see above) → 21.31 € off the community account
    c = load_community("examples/community.yaml")
    r = settle(
        c, read_measurements("examples/measurements-2024-06.csv"), read_prices("examples/prices-2024-06.csv")
    )
    d = r.to_dict()
    g = d["gse_fees"]
    assert g["borne_by"] == "community"
    assert [p["gse_fee_eur"] for p in g["plants"]] == [1.23, 20.08]
    assert g["total_eur"] == g["taken_eur"] == 21.31 and g["by_payee_eur"] == {"community": -21.31}
    acc = d["community_account"]
    assert acc["total_eur"] == round(
        acc["premium_eur"] + acc["valorisation_eur"] + acc["sale_eur"] + acc["fees_eur"] - 21.31, 2
    )


def test_through_the_engine_producers_and_the_key():
    # one day (2024-06-01) of a 30 kW plant owned by a: yearly 15 + 10 = 25 € → 2500 / 366 = 6.83 → 7 cents
    # injected 10 kWh, withdrawn 8 (south PV, Pz 100: TIP 120): premium 0.96, sale 1.00, valorisation 0.08
    plants = [{"id": "p", "pod": "P1", "owner": "a", "power_kw": 30, "commissioning": "2024-01-01"}]
    rules = {"premium": {"producers": 0, "community": 0, "consumers": 1}, "gse_fees": "producers"}
    c = community(plants=plants, rules=rules)
    day = dt.date(2024, 6, 1)
    m = hourly_frame(day, {"C1": ({12: 8.0}, "withdrawn"), "P1": ({12: 10.0}, "injected")})
    d = settle(c, m, flat_prices(day, 100.0)).to_dict()
    assert d["gse_fees"]["by_payee_eur"] == {"a": -0.07}
    assert d["members"][0]["total_eur"] == round(0.96 + 1.00 + 0.08 - 0.07, 2)
    with pytest.raises(ConfigError, match="rules.gse_fees"):
        community(rules={"gse_fees": "members"})


@settings(max_examples=50, deadline=None)
@given(st.floats(0.5, 1000), st.floats(0.5, 1000), st.integers(2023, 2030))
def test_fees_grow_with_power_and_a_year_is_within_cents_of_the_yearly_fee(p1, p2, year):
    lo, hi = sorted((p1, p2))
    assert annual_fee_cents(lo) <= annual_fee_cents(hi)
    start = dt.date(year, 1, 1)
    days = [start + dt.timedelta(days=d) for d in range((dt.date(year + 1, 1, 1) - start).days)]
    # twelve monthly roundings, each within half a cent
    assert abs(period_fee_cents(hi, days) - annual_fee_cents(hi)) <= 6
