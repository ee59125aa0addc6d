"""Rule 5 of issue 14: yearly regulated values (TRAS_E, BTAU, loss coefficients, RID minimum prices).

A year missing from the table is never silently the latest one: the settlement is provisional, names the
year, the year whose values were used and the ``tariffs:`` override to set. The arithmetic is in the
comments."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from condivisa.domain.config import ConfigError
from condivisa.domain.tariffs import YEARLY_VALUES, parse_tariffs, resolve_yearly, tariff_key_problem
from condivisa.engines.settlement import settle
from condivisa.engines.valorisation import yearly_values_and_notices
from settlement_helpers import community, flat_prices, hourly_frame

KEYS = ("tras_e_eur_per_mwh", "btau_eur_per_mwh", "loss_factor_bt", "loss_factor_mt")


def _one_hour(day: dt.date, **kw):
    c = community(**kw)
    m = hourly_frame(day, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    return settle(c, m, flat_prices(day, 100.0))


def test_2024_is_sourced_and_final():
    # 2024 is in the table: CER valorisation 27 kWh × 10.57 €/MWh / 1000 = 0.28539 → 0.29 €, not provisional
    r = _one_hour(dt.date(2024, 6, 1))
    assert r.to_dict()["totals"]["valorisation_eur"] == 0.29
    assert not r.provisional and r.to_dict()["provisional_reasons"] == []


def test_missing_2026_uses_the_latest_year_and_says_how_to_override():
    # 2026 is not in the table: the 2024 TRAS_E (the latest year before) is used, 0.29 € as above, and the
    # result says so, naming 2026, 2024 and the override
    r = _one_hour(dt.date(2026, 6, 1))
    doc = r.to_dict()
    assert doc["totals"]["valorisation_eur"] == 0.29
    assert r.provisional and doc["provisional"] is True
    (reason,) = doc["provisional_reasons"]
    assert "2026" in reason and "usati quelli del 2024" in reason
    assert "tariffs: {2026: {tras_e_eur_per_mwh: ...}}" in reason
    assert "btau" not in reason  # a CER uses TRAS_E only


def test_a_year_before_the_table_uses_the_earliest():
    # 2023 is not sourced either: the 2024 values are used, and it is provisional
    r = _one_hour(
        dt.date(2023, 6, 1),
        constituted="2023-01-01",
        plants=[{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "commissioning": "2023-01-01"}],
    )
    assert r.provisional and "valori ARERA 2023" in r.provisional_reasons[0]


def test_year_override_makes_it_final_and_is_used():
    # tariffs: {2026: {tras_e_eur_per_mwh: 12}} → 27 × 12 / 1000 = 0.324 → 0.32 €, not provisional
    r = _one_hour(dt.date(2026, 6, 1), tariffs={2026: {"tras_e_eur_per_mwh": 12.0}})
    assert r.to_dict()["totals"]["valorisation_eur"] == 0.32
    assert not r.provisional


def test_every_year_override_also_counts_and_a_year_override_wins():
    # every year 20 €/MWh, 2026 12 €/MWh: in 2026 the year's value wins → 0.32 €; in 2025 20 → 0.54 €
    tariffs = {"tras_e_eur_per_mwh": 20.0, 2026: {"tras_e_eur_per_mwh": 12.0}}
    assert _one_hour(dt.date(2026, 6, 1), tariffs=tariffs).to_dict()["totals"]["valorisation_eur"] == 0.32
    r = _one_hour(dt.date(2025, 6, 1), tariffs=tariffs)
    assert r.to_dict()["totals"]["valorisation_eur"] == 0.54 and not r.provisional


def test_auc_needs_all_four_values_and_names_the_missing_ones():
    # an AUC in 2026 with only TRAS_E set: BTAU and the loss coefficients are the 2024 ones, and named
    _values, notices = yearly_values_and_notices(
        [2026, 2026], by_year={2026: {"tras_e_eur_per_mwh": 11.0}}, same_building=True
    )
    (notice,) = notices
    assert "btau_eur_per_mwh" in notice and "loss_factor_bt" in notice and "tras_e" not in notice


def test_two_years_in_one_period_each_with_its_values():
    # 2024-12-31 and 2025-01-01: 2024 is final, 2025 provisional (one notice, for 2025 only)
    values, notices = yearly_values_and_notices([2024, 2025], {}, same_building=False)
    assert list(values["tras_e_eur_per_mwh"]) == [10.57, 10.57]
    assert len(notices) == 1 and "2025" in notices[0]


def test_rid_minimum_price_is_a_yearly_value_too():
    assert resolve_yearly(2024, ["rid_minimum_pv_eur_per_mwh"]).values == {"rid_minimum_pv_eur_per_mwh": 46.4}
    r = resolve_yearly(2025, ["rid_minimum_pv_eur_per_mwh"])
    assert r.values["rid_minimum_pv_eur_per_mwh"] == 46.4 and "valori ARERA 2025" in r.notices[0]
    unknown = resolve_yearly(2024, ["rid_minimum_wind_eur_per_mwh"])
    assert unknown.values["rid_minimum_wind_eur_per_mwh"] is None and "non applicato" in unknown.notices[0]


def test_the_community_file_refuses_bad_tariffs():
    with pytest.raises(
        ConfigError, match=r"tariffs\.2026\.tras_e: unknown tariff key \(did you mean tras_e_eur_per_mwh\?\)"
    ):
        community(tariffs={2026: {"tras_e": 11.0}})
    with pytest.raises(ConfigError, match=r"tariffs\.loss_factor_bt: a loss factor is a fraction"):
        community(tariffs={"loss_factor_bt": 2.6})
    with pytest.raises(ConfigError, match=r"tariffs\.tras_e_eur_per_mwh: must be a number >= 0"):
        community(tariffs={"tras_e_eur_per_mwh": -1})
    assert tariff_key_problem("rid_minimum_wind_eur_per_mwh") is None
    assert parse_tariffs({"2026": {"btau_eur_per_mwh": 0.7}}) == ({}, {2026: {"btau_eur_per_mwh": 0.7}})


@given(st.integers(2000, 2100), st.sets(st.sampled_from(KEYS), min_size=1))
def test_property_a_value_is_final_exactly_when_sourced(year, keys):
    # every resolved value comes from the table for that year, or the result names the year
    r = resolve_yearly(year, sorted(keys))
    sourced = all(k in YEARLY_VALUES.get(year, {}) for k in keys)
    assert (r.notices == ()) == sourced
    assert all(str(year) in n for n in r.notices)
    assert all(v is not None and v >= 0 for v in r.values.values())


@given(st.integers(2000, 2100), st.floats(0, 100, allow_nan=False))
def test_property_a_year_override_is_always_used_and_final(year, value):
    r = resolve_yearly(year, KEYS, by_year={year: dict.fromkeys(KEYS, value)})
    assert r.notices == () and set(r.values.values()) == {value}
