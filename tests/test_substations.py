"""Rule 11 of issue #14: a CER under several primary substations, each settled as its own configuration
(TIAD, ARERA 727/2022, art. 1 and 3; GSE Regole operative CACER 2024). The worked example of
docs/dev/substations.md, by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.community import PerimeterError
from condivisa.engines.gse_threshold import surplus_cents
from condivisa.engines.settlement import settle
from settlement_helpers import DAY, community, flat_prices, hourly_frame

A, B = "AC001E00001", "AC001E00002"


def _two(sub_b: str = B, configuration: str = "CER"):
    return community(
        configuration=configuration,
        primary_substation=A,
        members=[
            {"id": "a1", "founder": True, "pods": [{"pod": "CA", "primary_substation": A}]},
            {"id": "b1", "founder": True, "pods": [{"pod": "CB", "primary_substation": sub_b}]},
        ],
        plants=[
            {"id": "pv-A", "pod": "PA", "owner": "a1", "power_kw": 10, "primary_substation": A},
            {"id": "pv-B", "pod": "PB", "owner": "b1", "power_kw": 10, "primary_substation": sub_b},
        ],
    )


# hour 10: pv-A 10, a1 2, pv-B 0, b1 8; hour 11: pv-A 0, a1 3, pv-B 6, b1 1
MEASURED = {
    "PA": ({10: 10.0}, "injected"),
    "CA": ({10: 2.0, 11: 3.0}, "withdrawn"),
    "PB": ({11: 6.0}, "injected"),
    "CB": ({10: 8.0, 11: 1.0}, "withdrawn"),
}


def test_two_substations_differ_from_a_pooled_computation():
    # per substation: A min(10,2)=2 + min(0,3)=0 → 2 kWh; B min(0,8)=0 + min(6,1)=1 → 1 kWh
    # TIP south at Pz 100: 80 + min(40, 80) = 120 €/MWh → A 0.24 €, B 0.12 €
    # TRAS_E 10.57 €/MWh: A 0.02114 → 0.02 €, B 0.01057 → 0.01 €; ratios 20 % and 16.7 % < 55 %: no surplus
    r = settle(_two(), hourly_frame(DAY, MEASURED), flat_prices(DAY, 100.0))
    conf = {c.substation: c for c in r.configurations}
    assert list(conf) == [A, B]
    assert conf[A].shared_kwh == pytest.approx(2.0) and conf[B].shared_kwh == pytest.approx(1.0)
    assert (conf[A].premium_cents, conf[B].premium_cents) == (24, 12)
    assert (conf[A].valorisation_cents, conf[B].valorisation_cents) == (2, 1)
    assert conf[A].threshold_surplus_cents == 0 and conf[B].threshold_surplus_cents == 0
    d = r.to_dict()
    t = d["totals"]
    assert t["shared_kwh"] == 3.0 and t["premium_eur"] == 0.36 and t["valorisation_eur"] == 0.03
    assert sum(c["premium_eur"] for c in d["configurations"]) == pytest.approx(t["premium_eur"])
    assert surplus_cents(r.allocation.threshold_sets) == 0
    # a1 gets nothing of pv-B's energy: 2 kWh, all of hour 10; b1 1 kWh
    assert r.member_shared_kwh.tolist() == pytest.approx([2.0, 1.0])

    # pooled (every POD under A): 10 + 4 = 14 kWh, 1.68 €, 14 × 10.57 = 0.148 → 0.15 €
    # threshold: 14/16 = 87.5 % → 168 × (0.875 − 0.55) / 0.875 = 62.4 → 63 cents (rounded up)
    p = settle(_two(sub_b=A), hourly_frame(DAY, MEASURED), flat_prices(DAY, 100.0))
    tp = p.to_dict()["totals"]
    assert tp["shared_kwh"] == 14.0 and tp["premium_eur"] == 1.68 and tp["valorisation_eur"] == 0.15
    assert surplus_cents(p.allocation.threshold_sets) == 63
    assert [c.threshold_surplus_cents for c in p.configurations] == [63]


def test_one_substation_is_today_result():
    # a community under one substation: the fast path, one configuration equal to the totals
    c = community()
    m = hourly_frame(DAY, {"C1": ({12: 27.0}, "withdrawn"), "P1": ({12: 30.0}, "injected")})
    r = settle(c, m, flat_prices(DAY, 100.0)).to_dict()
    assert r["totals"]["shared_kwh"] == 27.0 and r["totals"]["premium_eur"] == 3.24
    (only,) = r["configurations"]
    assert only["primary_substation"] == "AC1"
    for k in ("shared_kwh", "premium_eur", "valorisation_eur", "sale_eur"):
        assert only[k] == r["totals"][k]
    assert all("configuration" not in s for s in r["threshold"]["sets"])


def test_aid_stays_under_one_substation():
    with pytest.raises(PerimeterError, match="CB"):
        _two(configuration="AID")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 50), min_size=24, max_size=24),
    st.lists(st.floats(0, 50), min_size=24, max_size=24),
    st.lists(st.floats(0, 50), min_size=24, max_size=24),
    st.lists(st.floats(0, 50), min_size=24, max_size=24),
    st.booleans(),
)
def test_the_total_is_the_sum_of_the_configurations(pa, ca, pb, cb, split):
    values = {
        "PA": (dict(enumerate(pa)), "injected"),
        "CA": (dict(enumerate(ca)), "withdrawn"),
        "PB": (dict(enumerate(pb)), "injected"),
        "CB": (dict(enumerate(cb)), "withdrawn"),
    }
    prices = flat_prices(DAY, 100.0)
    r = settle(_two(sub_b=B if split else A), hourly_frame(DAY, values), prices)
    pooled = settle(_two(sub_b=A), hourly_frame(DAY, values), prices)
    conf = r.configurations
    assert float(r.shared_kwh.sum()) == pytest.approx(sum(c.shared_kwh for c in conf), abs=1e-9)
    for c in conf:
        assert c.shared_kwh <= c.injected_kwh + 1e-9 and c.shared_kwh <= c.withdrawn_kwh + 1e-9
    assert int(r.monthly_cents["premium"].sum()) == sum(c.premium_cents for c in conf)
    assert float(r.shared_kwh.sum()) <= float(pooled.shared_kwh.sum()) + 1e-9
    if not split:
        assert np.array_equal(r.shared_kwh, pooled.shared_kwh)
