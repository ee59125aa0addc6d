"""Hand-worked settlement cases: TIAD hourly shared energy, DM 414/2023 TIP, ARERA valorisation, RID sale.
The arithmetic is in the comments."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from condivisa.engines.settlement import settle
from condivisa.engines.settlement_metering import MeasurementError, MissingDataError
from condivisa.engines.settlement_money import PriceError
from condivisa.kernel.timegrid import quarter_hours
from settlement_helpers import DAY, community, flat_prices, hourly_frame, quarter_frame


def test_issue_case_30_injected_27_withdrawn():
    # one hour: injected 30 kWh, withdrawn 27 kWh → shared = min(30, 27) = 27 kWh
    # PV ≤ 200 kW in the north at Pz 100: TIP = min(120, 80 + 80) + 10 = 130 €/MWh → 27 × 130 / 1000 = 3.51 €
    # sale 30 kWh × 100 €/MWh / 1000 = 3.00 €; CER valorisation 27 × 10.57 / 1000 = 0.28539 → 0.29 €
    c = community(zone="north")
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    r = settle(c, m, flat_prices(DAY, 100.0)).to_dict()
    t = r["totals"]
    assert t["shared_kwh"] == 27.0 and t["injected_kwh"] == 30.0 and t["withdrawn_kwh"] == 27.0
    assert t["premium_eur"] == 3.51
    assert t["sale_eur"] == 3.00
    assert t["valorisation_eur"] == 0.29
    assert r["members"][0]["total_eur"] == pytest.approx(3.51 + 3.00 + 0.29)


def test_injection_below_withdrawal_shares_the_injection():
    # injected 20, withdrawn 27 → shared 20; south PV Pz 100: TIP 120 → 20 × 120 / 1000 = 2.40 €
    c = community()
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 20.0}, "injected")})
    t = settle(c, m, flat_prices(DAY, 100.0)).to_dict()["totals"]
    assert t["shared_kwh"] == 20.0 and t["premium_eur"] == 2.40


def test_two_plants_of_different_classes_in_one_hour():
    # A 100 kW injects 40, B 300 kW injects 60, withdrawn 50 → shared 50; by seniority (the default): both
    # commissioned 2024-01-01 and joined at the constitution, so file order decides: A first gets all its
    # 40, B the remaining 50 − 40 = 10 (pro rata 40:60 would give A 20, B 30)
    # south PV at Pz 150: TIP_A = min(120, 80 + 30) = 110, TIP_B = min(110, 70 + 30) = 100
    # premium = 40 × 110/1000 + 10 × 100/1000 = 4.40 + 1.00 = 5.40 €; sale = 100 × 150/1000 = 15.00 €
    c = community(
        plants=[
            {"id": "A", "pod": "PA", "owner": "a", "power_kw": 100, "commissioning": "2024-01-01"},
            {"id": "B", "pod": "PB", "owner": "a", "power_kw": 300, "commissioning": "2024-01-01"},
        ]
    )
    m = hourly_frame(
        DAY, {"C1": ({10: 50.0}, "withdrawn"), "PA": ({10: 40.0}, "injected"), "PB": ({10: 60.0}, "injected")}
    )
    r = settle(c, m, flat_prices(DAY, 150.0)).to_dict()
    plants = {p["id"]: p for p in r["plants"]}
    assert plants["A"]["shared_kwh"] == 40.0 and plants["B"]["shared_kwh"] == 10.0
    assert plants["A"]["premium_eur"] == 4.40 and plants["B"]["premium_eur"] == 1.00
    assert r["totals"]["premium_eur"] == 5.40 and r["totals"]["sale_eur"] == 15.00


def test_plant_older_than_the_community_is_not_incentivised_but_valorised():
    # plant commissioned 2023-06-01, community constituted 2024-01-01 → no premium;
    # the 10 kWh shared still earn the CER valorisation 10 × 10.57/1000 = 0.1057 → 0.11 €
    c = community(
        plants=[{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "commissioning": "2023-06-01"}]
    )
    m = hourly_frame(DAY, {"C1": ({9: 10.0}, "withdrawn"), "P1": ({9: 12.0}, "injected")})
    t = settle(c, m, flat_prices(DAY, 100.0)).to_dict()["totals"]
    assert t["shared_kwh"] == 10.0 and t["incentivised_shared_kwh"] == 0.0
    assert t["premium_eur"] == 0.0 and t["valorisation_eur"] == 0.11


def test_plant_commissioned_inside_the_period_counts_from_that_day():
    # plant commissioned on day 2 of a 2-day period: day 1 rows ignored (not expected, not counted)
    c = community(
        plants=[{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "commissioning": "2024-06-02"}]
    )
    # hours 12 (day 1) and 36 (= day 2, 12:00): 5 kWh each way
    m = hourly_frame(
        DAY, {"C1": ({12: 5.0, 36: 5.0}, "withdrawn"), "P1": ({12: 5.0, 36: 5.0}, "injected")}, n_days=2
    )
    r = settle(c, m, flat_prices(DAY, 100.0, n_days=2)).to_dict()
    assert r["totals"]["shared_kwh"] == 5.0 and r["totals"]["injected_kwh"] == 5.0
    plant_q = [q for q in r["data_quality"]["pods"] if q["pod"] == "P1"][0]
    assert plant_q["expected_intervals"] == 24


@pytest.mark.parametrize("kind,n_quarters", [("spring", 92), ("autumn", 100)])
def test_dst_days(kind, n_quarters):
    # every quarter hour: withdrawn 0.25 kWh, injected 0.5 kWh → per hour 1 kWh vs 2 kWh → shared 1 kWh/hour
    # spring day: 23 hours → 23 kWh; autumn day: 25 hours → 25 kWh; south PV Pz 100: TIP 120
    # premium 23 × 0.120 = 2.76 € / 25 × 0.120 = 3.00 €
    day = dt.date(2024, 3, 31) if kind == "spring" else dt.date(2024, 10, 27)
    c = community()
    m = quarter_frame(day, {"C1": (0.25, "withdrawn"), "P1": (0.5, "injected")})
    assert len(m) == 2 * n_quarters
    r = settle(c, m, flat_prices(day, 100.0))
    d = r.to_dict()
    hours = n_quarters // 4
    assert len(r.intervals()) == hours
    assert d["totals"]["shared_kwh"] == hours * 1.0
    assert d["totals"]["premium_eur"] == round(hours * 0.12, 2)
    assert all(
        q["expected_intervals"] == n_quarters and q["missing_intervals"] == 0
        for q in d["data_quality"]["pods"]
    )


def test_quarter_hour_settlement_differs_from_hourly():
    # one hour, quarters: withdrawn 1,1,0,0; injected 0,0,1,1
    # hourly: min(2, 2) = 2 kWh shared; by quarter hour: min(1,0)+min(1,0)+min(0,1)+min(0,1) = 0
    c = community()
    qh = quarter_hours(DAY, DAY + dt.timedelta(days=1))
    wd = np.zeros(len(qh))
    inj = np.zeros(len(qh))
    wd[48:50] = 1.0
    inj[50:52] = 1.0
    m = pd.concat(
        [
            pd.DataFrame({"pod": "C1", "start": qh, "withdrawn_kwh": wd, "injected_kwh": 0.0}),
            pd.DataFrame({"pod": "P1", "start": qh, "withdrawn_kwh": 0.0, "injected_kwh": inj}),
        ]
    )
    hourly = settle(c, m, flat_prices(DAY, 100.0), interval="hour").to_dict()
    quarter = settle(c, m, flat_prices(DAY, 100.0), interval="quarter").to_dict()
    assert hourly["totals"]["shared_kwh"] == 2.0
    assert quarter["totals"]["shared_kwh"] == 0.0
    assert quarter["totals"]["sale_eur"] == hourly["totals"]["sale_eur"] == 0.20  # 2 kWh × 100 €/MWh


def test_auc_valorisation_adds_distribution_and_losses():
    # AUC, 10 kWh shared at Pz 100:
    #   BT plant: (10.57 + 0.65) × 10/1000 + 0.026 × 100 × 10/1000 = 0.1122 + 0.026 = 0.1382 → 0.14 €
    #   MT plant: 0.1122 + 0.012 × 100 × 10/1000 = 0.1242 → 0.12 €
    for voltage, expected in (("BT", 0.14), ("MT", 0.12)):
        c = community(
            configuration="AUC",
            building="B1",
            plants=[{"id": "p", "pod": "P1", "owner": "a", "power_kw": 10, "voltage": voltage}],
        )
        m = hourly_frame(DAY, {"C1": ({12: 10.0}, "withdrawn"), "P1": ({12: 10.0}, "injected")})
        assert settle(c, m, flat_prices(DAY, 100.0)).to_dict()["totals"]["valorisation_eur"] == expected


def test_tariff_override_from_community_file():
    # TRAS_E overridden to 20 €/MWh: 27 kWh × 20 / 1000 = 0.54 €
    c = community(tariffs={"tras_e_eur_per_mwh": 20.0})
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    assert settle(c, m, flat_prices(DAY, 100.0)).to_dict()["totals"]["valorisation_eur"] == 0.54


def test_members_count_only_while_members():
    # b joins on day 2: its day-1 withdrawal (8 kWh at hour 12) is ignored; day 2 both withdraw 5 at hour 36
    members = [
        {"id": "a", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "b", "founder": True, "joined": "2024-06-02", "pods": [{"pod": "C2"}]},
    ]
    c = community(members=members)
    m = hourly_frame(
        DAY,
        {
            "C1": ({12: 5.0, 36: 5.0}, "withdrawn"),
            "C2": ({12: 8.0, 36: 5.0}, "withdrawn"),
            "P1": ({12: 20.0, 36: 20.0}, "injected"),
        },
        n_days=2,
    )
    d = settle(c, m, flat_prices(DAY, 100.0, n_days=2)).to_dict()
    by_id = {x["id"]: x for x in d["members"]}
    assert by_id["b"]["withdrawn_kwh"] == 5.0 and by_id["a"]["withdrawn_kwh"] == 10.0
    assert d["totals"]["shared_kwh"] == 15.0  # 5 on day 1 + 10 on day 2


def test_missing_quarter_hours_are_refused_then_filled_explicitly():
    c = community()
    m = quarter_frame(DAY, {"C1": (1.0, "withdrawn"), "P1": (2.0, "injected")})
    gap = m.index[(m["pod"] == "C1")][[40, 41]]  # two quarter hours of C1 missing
    m = m.drop(index=gap)
    with pytest.raises(MissingDataError, match=r"C1 \(2\)"):
        settle(c, m, flat_prices(DAY, 100.0))
    zero = settle(c, m, flat_prices(DAY, 100.0), fill="zero").to_dict()
    q = {x["pod"]: x for x in zero["data_quality"]["pods"]}
    assert q["C1"]["missing_intervals"] == 2 and q["C1"]["filled_intervals"] == 2
    assert zero["totals"]["withdrawn_kwh"] == 94.0  # 96 − 2 quarter hours of 1 kWh
    interp = settle(c, m, flat_prices(DAY, 100.0), fill="interpolate").to_dict()
    assert interp["totals"]["withdrawn_kwh"] == 96.0  # neighbours are 1 and 1 → 1 each


def test_interpolation_is_linear_between_neighbours():
    # C1 quarter hours 0..3 = 1, (missing), 3, 3 ... → the gap becomes (1 + 3) / 2 = 2
    c = community()
    m = quarter_frame(DAY, {"C1": (3.0, "withdrawn"), "P1": (0.0, "injected")})
    m.loc[0, "withdrawn_kwh"] = 1.0
    m = m.drop(index=1)
    r = settle(c, m, flat_prices(DAY, 100.0), fill="interpolate")
    first_hour = r.intervals()["withdrawn_kwh"].iloc[0]
    assert first_hour == pytest.approx(1.0 + 2.0 + 3.0 + 3.0)


def test_missing_price_hour_is_an_error_naming_the_hour():
    c = community()
    m = hourly_frame(DAY, {"C1": ({}, "withdrawn"), "P1": ({}, "injected")})
    prices = flat_prices(DAY, 100.0).drop(index=flat_prices(DAY, 100.0).index[5])
    with pytest.raises(PriceError, match=r"2024-06-01T05:00:00\+02:00"):
        settle(c, m, prices)


def test_unknown_pod_and_duplicates_and_negative_are_errors():
    c = community()
    m = hourly_frame(DAY, {"C1": ({}, "withdrawn"), "P1": ({}, "injected")})
    bad = pd.concat(
        [m, pd.DataFrame([{"pod": "XX", "start": m["start"][0], "withdrawn_kwh": 1.0, "injected_kwh": 0.0}])]
    )
    with pytest.raises(MeasurementError, match="'XX'"):
        settle(c, bad, flat_prices(DAY, 100.0))
    dup = pd.concat([m, m.iloc[[3]]], ignore_index=True)
    with pytest.raises(MeasurementError, match="two readings"):
        settle(c, dup, flat_prices(DAY, 100.0))
    neg = m.copy()
    neg.loc[2, "withdrawn_kwh"] = -1.0
    with pytest.raises(MeasurementError, match="-1.0"):
        settle(c, neg, flat_prices(DAY, 100.0))


def test_period_limits_the_settlement():
    c = community()
    m = hourly_frame(
        DAY, {"C1": ({12: 5.0, 36: 7.0}, "withdrawn"), "P1": ({12: 9.0, 36: 9.0}, "injected")}, n_days=2
    )
    d = settle(
        c, m, flat_prices(DAY, 100.0, n_days=2), period=(dt.date(2024, 6, 2), dt.date(2024, 6, 2))
    ).to_dict()
    assert d["totals"]["shared_kwh"] == 7.0 and d["period"] == {
        "from": "2024-06-02",
        "to": "2024-06-02",
        "interval": "hour",
    }


def test_months_add_up_to_totals_across_a_month_boundary():
    # 2 days: 30 June and 1 July, 5 kWh shared at noon each day → two months of 5 kWh
    day = dt.date(2024, 6, 30)
    c = community()
    m = hourly_frame(
        day, {"C1": ({12: 5.0, 36: 5.0}, "withdrawn"), "P1": ({12: 6.0, 36: 6.0}, "injected")}, n_days=2
    )
    d = settle(c, m, flat_prices(day, 100.0, n_days=2)).to_dict()
    assert [x["month"] for x in d["months"]] == ["2024-06", "2024-07"]
    for key in ("shared_kwh", "premium_eur", "sale_eur", "valorisation_eur"):
        assert sum(x[key] for x in d["months"]) == pytest.approx(d["totals"][key])
    assert d["months"][0]["shared_kwh"] == 5.0


def test_member_row_and_member_series():
    c = community()
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    r = settle(c, m, flat_prices(DAY, 100.0))
    row = r.member_row("a")
    assert row["id"] == "a" and row["shared_kwh"] == 27.0 and row == r.to_dict()["members"][0]
    series = r.member_series("a")
    assert series["member_withdrawn_kwh"].sum() == 27.0 and series["member_shared_kwh"].iloc[12] == 27.0
    with pytest.raises(KeyError, match="no member 'nobody'"):
        r.member_row("nobody")


def test_engine_refuses_off_grid_naive_and_too_coarse_data():
    c = community()
    m = quarter_frame(DAY, {"C1": (1.0, "withdrawn"), "P1": (1.0, "injected")})
    off = m.copy()
    off.loc[5, "start"] = off.loc[5, "start"] + pd.Timedelta(minutes=7)
    with pytest.raises(MeasurementError, match="row 5: .*not on the quarter-hour grid"):
        settle(c, off, flat_prices(DAY, 100.0))
    naive = m.copy()
    naive["start"] = naive["start"].dt.tz_localize(None)
    with pytest.raises(MeasurementError, match="time zone"):
        settle(c, naive, flat_prices(DAY, 100.0))
    hourly = hourly_frame(DAY, {"C1": ({}, "withdrawn"), "P1": ({}, "injected")})
    with pytest.raises(MeasurementError, match="quarter-hour settlement needs quarter-hour measurements"):
        settle(c, hourly, flat_prices(DAY, 100.0), interval="quarter")
    with pytest.raises(ValueError, match="interval"):
        settle(c, m, flat_prices(DAY, 100.0), interval="day")


def test_prosumer_pod_both_withdraws_and_injects():
    # one POD behind which a member consumes and a plant injects: its withdrawal counts as consumption,
    # its injection as the plant's. Hour 12: X withdraws 4, injects 10; C1 withdraws 3 → shared min(10, 7) = 7
    members = [
        {"id": "a", "founder": True, "pods": [{"pod": "X"}]},
        {"id": "b", "founder": True, "pods": [{"pod": "C1"}]},
    ]
    c = community(members=members, plants=[{"id": "p", "pod": "X", "owner": "a", "power_kw": 10}])
    m = hourly_frame(DAY, {"C1": ({12: 3.0}, "withdrawn")})
    x = hourly_frame(DAY, {"X": ({12: 4.0}, "withdrawn")})
    x["injected_kwh"] = np.where(np.arange(len(x)) == 12, 10.0, 0.0)
    d = settle(c, pd.concat([m, x], ignore_index=True), flat_prices(DAY, 100.0)).to_dict()
    assert d["totals"]["withdrawn_kwh"] == 7.0 and d["totals"]["injected_kwh"] == 10.0
    assert d["totals"]["shared_kwh"] == 7.0
