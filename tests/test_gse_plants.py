"""Issue #14 rules 2, 8 and 9: plants over 1 MW, existing and pre-constitution plants, upgrade sections.

DM MASE 414/2023 art. 3 and GSE Regole operative CACER 2024; the arithmetic is in the comments. Every
community here is a CER in the south constituted 2024-01-01 (``settlement_helpers.community``) unless the
test says otherwise; one hour of 2024-06-01 at a zonal price of 150 €/MWh.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from condivisa.domain.config import ConfigError
from condivisa.engines.settlement import settle
from settlement_helpers import DAY, community, flat_prices, hourly_frame


def one_plant_hour(c, injected: float = 100.0, withdrawn: float = 50.0, pod: str = "P1") -> dict:
    m = hourly_frame(DAY, {"C1": ({10: withdrawn}, "withdrawn"), pod: ({10: injected}, "injected")})
    return settle(c, m, flat_prices(DAY, 150.0)).to_dict()


def plant(power_kw: float, commissioning: str = "2024-01-01", **extra) -> dict:
    return {
        "id": "p",
        "pod": "P1",
        "owner": "a",
        "power_kw": power_kw,
        "commissioning": commissioning,
        **extra,
    }


# --- rule 2: over 1 MW -----------------------------------------------------------------------------


def test_plant_over_1_mw_gets_valorisation_and_sale_but_no_premium(caplog):
    # 1,500 kW: shared min(100, 50) = 50 kWh; premium 0 (DM 414/2023: plants up to 1 MW)
    # valorisation 50 × 10.57/1000 = 0.5285 → 0.53 €; sale 100 × 150/1000 = 15.00 €
    with caplog.at_level(logging.WARNING, logger="condivisa.domain.config"):
        c = community(plants=[plant(1500)])
    assert any("1500 kW is over 1000 kW" in w for w in c.warnings)
    assert any("p: 1500 kW is over 1000 kW" in rec.getMessage() for rec in caplog.records)
    t = one_plant_hour(c)["totals"]
    assert t["shared_kwh"] == 50.0 and t["incentivised_shared_kwh"] == 0.0
    assert t["premium_eur"] == 0.0 and t["valorisation_eur"] == 0.53 and t["sale_eur"] == 15.00


def test_plant_of_exactly_1_mw_still_earns_the_top_class_premium():
    # 1,000 kW is "up to 1 MW": class > 600 kW, TIP = min(100, 60 + (180 − 150)) = 90 €/MWh
    # premium 50 × 90/1000 = 4.50 €; no warning
    c = community(plants=[plant(1000)])
    assert c.warnings == ()
    assert one_plant_hour(c)["totals"]["premium_eur"] == 4.50


# --- rule 8: existing and pre-constitution plants ------------------------------------------------------


def two_plants(existing_kw: float) -> list[dict]:
    return [
        {"id": "old", "pod": "P0", "owner": "a", "power_kw": existing_kw, "commissioning": "2019-05-01"},
        {"id": "new", "pod": "P1", "owner": "a", "power_kw": 100, "commissioning": "2024-01-01"},
    ]


def test_existing_plants_over_30_percent_are_refused_naming_them_and_the_share():
    # existing 50 kW of 50 + 100 = 150 kW → 33.3 % > 30 %
    with pytest.raises(
        ConfigError, match=r"old \(50 kW, 2019-05-01\) are 33\.3% of the configuration's 150 kW"
    ):
        community(plants=two_plants(50))


def test_existing_plant_within_30_percent_is_valorised_only():
    # existing 40 kW of 140 kW → 28.6 % ≤ 30 %: accepted
    # one hour: old injects 30, new 30, withdrawn 40 → shared 40; by seniority old (2019) first: 30, new 10
    # premium only on new: TIP (≤ 200 kW, south, Pz 150) = min(120, 80 + 30) = 110 → 10 × 110/1000 = 1.10 €
    # valorisation of all 40 kWh: 40 × 10.57/1000 = 0.4228 → 0.42 €
    c = community(plants=two_plants(40))
    m = hourly_frame(
        DAY, {"C1": ({10: 40.0}, "withdrawn"), "P0": ({10: 30.0}, "injected"), "P1": ({10: 30.0}, "injected")}
    )
    r = settle(c, m, flat_prices(DAY, 150.0)).to_dict()
    plants = {p["id"]: p for p in r["plants"]}
    assert plants["old"]["shared_kwh"] == 30.0 and plants["old"]["premium_eur"] == 0.0
    assert plants["new"]["shared_kwh"] == 10.0 and plants["new"]["premium_eur"] == 1.10
    assert r["totals"]["incentivised_shared_kwh"] == 10.0 and r["totals"]["valorisation_eur"] == 0.42


@pytest.mark.parametrize(
    ("commissioning", "built_for_community", "premium", "warns"),
    [
        # community constituted 2024-06-01 in these cases; TIP ≤ 200 kW = 110 → 50 × 110/1000 = 5.50 €
        ("2023-09-01", None, 0.0, True),  # before 24/01/2024, no documents: no premium, a warning
        ("2023-09-01", True, 5.50, False),  # documented as built for the community: eligible
        ("2024-03-01", None, 5.50, False),  # after 24/01/2024: eligible without documents
        ("2024-03-01", False, 0.0, False),  # explicitly not built for it: no premium
        ("2021-12-20", True, 5.50, False),  # just after 16/12/2021, documented: eligible
    ],
)
def test_pre_constitution_plants(commissioning, built_for_community, premium, warns):
    extra = {} if built_for_community is None else {"built_for_community": built_for_community}
    c = community(plants=[plant(10, commissioning, **extra)], constituted="2024-06-01")
    assert bool(c.warnings) is warns
    assert one_plant_hour(c)["totals"]["premium_eur"] == premium


def test_built_for_community_must_be_a_boolean():
    with pytest.raises(
        ConfigError, match=r"plants\[0\].built_for_community: 'yes please' is not true or false"
    ):
        community(plants=[plant(10, built_for_community="yes please")])


# --- rule 9: upgrade sections ---------------------------------------------------------------------------


def upgraded(**section) -> dict:
    # the original plant p (150 kW, commissioned 2024-01-01, POD P1) and an upgrade section on POD P2
    base = {"pod": "P2", "power_kw": 300, "commissioning": "2024-04-01", **section}
    return plant(150, "2024-01-01", grant_fraction=0.2, sections=[base])


def test_sections_become_plant_units_with_their_own_class():
    # p 150 kW (≤ 200 kW) and p.s1 300 kW (≤ 600 kW); both inherit owner a and the 20 % grant:
    # F = 0.5 · 0.2/0.4 = 0.25. South PV at Pz 150: TIP_p = 0.75 · min(120, 110) = 82.5,
    # TIP_s1 = 0.75 · min(110, 100) = 75 €/MWh. p injects 20, s1 40, withdrawn 50 → shared 50; by
    # seniority p (2024-01-01) first: 20, s1 30 → 20 × 82.5/1000 = 1.65 €, 30 × 75/1000 = 2.25 €: 3.90 €
    c = community(plants=[upgraded()])
    assert [(u.id, u.pod, u.section_of, u.owner, u.grant_fraction) for u in c.plants] == [
        ("p", "P1", None, "a", 0.2),
        ("p.s1", "P2", "p", "a", 0.2),
    ]
    m = hourly_frame(
        DAY, {"C1": ({10: 50.0}, "withdrawn"), "P1": ({10: 20.0}, "injected"), "P2": ({10: 40.0}, "injected")}
    )
    r = settle(c, m, flat_prices(DAY, 150.0)).to_dict()
    plants = {p["id"]: p for p in r["plants"]}
    assert plants["p"]["premium_eur"] == 1.65 and plants["p.s1"]["premium_eur"] == 2.25
    assert r["totals"]["premium_eur"] == 3.90
    # the section's sale: 40 × 150/1000 = 6.00 €; both: 60 × 150/1000 = 9.00 €
    assert plants["p.s1"]["sale_eur"] == 6.00 and r["totals"]["sale_eur"] == 9.00


def test_each_section_has_its_own_20_year_window():
    c = community(plants=[upgraded(id="p-upgrade", commissioning="2030-05-01")])
    p, s = c.plants
    assert s.id == "p-upgrade"
    # p's window ends 2044-01-01, the section's 2050-05-01
    assert p.premium_eligible_on(dt.date(2043, 12, 31), c.constituted)
    assert not p.premium_eligible_on(dt.date(2044, 1, 1), c.constituted)
    assert s.premium_eligible_on(dt.date(2044, 1, 1), c.constituted)
    assert not s.premium_eligible_on(dt.date(2030, 4, 30), c.constituted)  # not yet in service
    assert not s.premium_eligible_on(dt.date(2050, 5, 1), c.constituted)


def test_a_section_over_1_mw_warns_and_earns_no_premium():
    c = community(plants=[upgraded(power_kw=1200)])
    assert [w.split(":")[0] for w in c.warnings] == ["plant p.s1"]
    assert c.plants[0].premium_exclusion(c.constituted) is None
    assert "over 1,000 kW" in (c.plants[1].premium_exclusion(c.constituted) or "")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"pod": "P2", "power_kw": 10, "powr_kw": 1},
            r"plants\[0\].sections\[0\].powr_kw: unknown key \(did you mean power_kw\?\)",
        ),
        ({"power_kw": 10}, r"plants\[0\].sections\[0\].pod: missing"),
        ({"pod": "P2", "power_kw": 10, "id": "p"}, r"duplicate id\(s\) p"),
    ],
)
def test_bad_sections_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        community(plants=[plant(10, sections=[section])])
