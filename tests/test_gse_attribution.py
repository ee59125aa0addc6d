"""Issue #14 rule 1: shared energy attributed to the plants by seniority (GSE Regole operative CACER 2024).

Hand-worked cases (the arithmetic is in the comments) and hypothesis properties of
:func:`condivisa.engines.sharing.split_by_seniority`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.community import SharedEnergyAttribution
from condivisa.domain.config import ConfigError
from condivisa.engines.settlement import settle
from condivisa.engines.sharing import shared_energy_kwh, split_by_injection, split_by_seniority
from settlement_helpers import DAY, community, flat_prices, hourly_frame


def test_split_by_seniority_by_hand():
    # plants in file order A, B, C; seniority B (oldest), C, A
    # hour 1: shared 25, A 10, B 12, C 8 → B 12, C min(8, 25 − 12) = 8, A 25 − 12 − 8 = 5
    # hour 2: shared 10, A 10, B 12, C 8 → B 10 (all of it), C 0, A 0
    # hour 3: shared 0 → 0 each; hour 4: shared 30 = all injected → each plant its own injection
    inj = np.array([[10.0, 10.0, 5.0, 10.0], [12.0, 12.0, 0.0, 12.0], [8.0, 8.0, 3.0, 8.0]])
    parts = split_by_seniority([25.0, 10.0, 0.0, 30.0], inj, [1, 2, 0])
    assert parts.tolist() == [[5.0, 0.0, 0.0, 10.0], [12.0, 10.0, 0.0, 12.0], [8.0, 0.0, 0.0, 8.0]]


def test_split_by_seniority_refuses_a_bad_order():
    with pytest.raises(ValueError, match="permutation"):
        split_by_seniority([1.0], [[1.0], [1.0]], [0, 0])


def test_the_two_methods_differ_by_hand():
    # the example of docs/gse-rules.md: 10 kWh shared; younger plant Y injects 8, older O injects 6
    # seniority: O 6, Y 10 − 6 = 4; pro rata: O 10 · 6/14 = 4.2857, Y 10 · 8/14 = 5.7143
    inj = [[8.0], [6.0]]  # Y, O
    assert split_by_seniority([10.0], inj, [1, 0]).ravel().tolist() == [4.0, 6.0]
    assert split_by_injection([10.0], inj).ravel() == pytest.approx([80 / 14, 60 / 14])


def two_plant_community(attribution: str | None = None):
    # Y (300 kW, commissioned 2024-03-01) is written first, O (100 kW, commissioned 2024-01-01) second
    rules = {"premium": {"producers": 0, "community": 0, "consumers": 1}}
    if attribution:
        rules["shared_energy_attribution"] = attribution
    return community(
        plants=[
            {"id": "Y", "pod": "PY", "owner": "a", "power_kw": 300, "commissioning": "2024-03-01"},
            {"id": "O", "pod": "PO", "owner": "a", "power_kw": 100, "commissioning": "2024-01-01"},
        ],
        rules=rules,
    )


@pytest.mark.parametrize(
    ("attribution", "shared_o", "shared_y", "premium_o", "premium_y", "total"),
    [
        # one hour, south PV, Pz 150: TIP_O (≤ 200 kW) = min(120, 80 + 30) = 110; TIP_Y (≤ 600 kW) =
        # min(110, 70 + 30) = 100 €/MWh. O injects 30, Y 30, consumers withdraw 40 → shared 40.
        # seniority: O (older) 30, Y 40 − 30 = 10 → 30 × 110/1000 = 3.30 €, 10 × 100/1000 = 1.00 €: 4.30 €
        (None, 30.0, 10.0, 3.30, 1.00, 4.30),
        ("seniority", 30.0, 10.0, 3.30, 1.00, 4.30),
        # pro rata 30:30 → 20 each → 20 × 110/1000 = 2.20 €, 20 × 100/1000 = 2.00 €: 4.20 €
        ("pro_rata", 20.0, 20.0, 2.20, 2.00, 4.20),
    ],
)
def test_settlement_by_seniority_and_pro_rata_by_hand(
    attribution, shared_o, shared_y, premium_o, premium_y, total
):
    c = two_plant_community(attribution)
    m = hourly_frame(
        DAY, {"C1": ({11: 40.0}, "withdrawn"), "PY": ({11: 30.0}, "injected"), "PO": ({11: 30.0}, "injected")}
    )
    r = settle(c, m, flat_prices(DAY, 150.0)).to_dict()
    plants = {p["id"]: p for p in r["plants"]}
    assert plants["O"]["shared_kwh"] == shared_o and plants["Y"]["shared_kwh"] == shared_y
    assert plants["O"]["premium_eur"] == premium_o and plants["Y"]["premium_eur"] == premium_y
    assert r["totals"]["premium_eur"] == total and r["totals"]["shared_kwh"] == 40.0


def test_seniority_order_commissioning_then_joined_then_file_order():
    # b and d commissioned 2024-01-10, a and c later (2024-03-01): b and d come first; a and c tie on
    # commissioning and on joining (default: the later of commissioning and constitution, 2024-03-01), so
    # file order puts a before c
    c = community(
        plants=[
            {"id": "a", "pod": "Pa", "owner": "a", "power_kw": 10, "commissioning": "2024-03-01"},
            {
                "id": "b",
                "pod": "Pb",
                "owner": "a",
                "power_kw": 10,
                "commissioning": "2024-01-10",
                "joined": "2024-02-01",
            },
            {"id": "c", "pod": "Pc", "owner": "a", "power_kw": 10, "commissioning": "2024-03-01"},
            {"id": "d", "pod": "Pd", "owner": "a", "power_kw": 10, "commissioning": "2024-01-10"},
        ]
    )
    # b and d both commissioned 2024-01-10: b joined 2024-02-01, d at the constitution default
    # max(2024-01-10, 2024-01-01) = 2024-01-10 → d before b
    assert [c.plants[k].id for k in c.plant_seniority()] == ["d", "b", "a", "c"]
    assert c.plants[1].joined == dt.date(2024, 2, 1)
    assert c.rules.shared_energy_attribution is SharedEnergyAttribution.SENIORITY


def test_joined_breaks_a_commissioning_tie():
    # same commissioning; x written first but joined 2024-05-01, y joined at the constitution → y first
    c = community(
        plants=[
            {
                "id": "x",
                "pod": "Px",
                "owner": "a",
                "power_kw": 10,
                "commissioning": "2024-01-01",
                "joined": "2024-05-01",
            },
            {"id": "y", "pod": "Py", "owner": "a", "power_kw": 10, "commissioning": "2024-01-01"},
        ]
    )
    assert [c.plants[k].id for k in c.plant_seniority()] == ["y", "x"]


@pytest.mark.parametrize(("typo", "hint"), [("seniorty", "seniority"), ("pro-rata", "pro_rata")])
def test_unknown_attribution_is_an_error_with_a_suggestion(typo, hint):
    with pytest.raises(
        ConfigError, match=rf"rules.shared_energy_attribution: '{typo}'.*did you mean {hint}\?"
    ):
        community(rules={"shared_energy_attribution": typo})


@st.composite
def hours_and_plants(draw):
    n_plants = draw(st.integers(1, 5))
    n_hours = draw(st.integers(1, 6))
    energy = st.floats(0.0, 500.0, allow_nan=False, allow_infinity=False)
    inj = np.array(
        draw(
            st.lists(
                st.lists(energy, min_size=n_hours, max_size=n_hours), min_size=n_plants, max_size=n_plants
            )
        )
    )
    wd = np.array(draw(st.lists(energy, min_size=n_hours, max_size=n_hours)))
    order = draw(st.permutations(list(range(n_plants))))
    return inj, wd, np.array(order)


@settings(max_examples=200, deadline=None)
@given(hours_and_plants())
def test_seniority_properties(case):
    inj, wd, order = case
    shared = shared_energy_kwh(inj, wd)
    parts = split_by_seniority(shared, inj, order)
    tol = 1e-9 * (1.0 + inj.sum())
    # the attributions add up to the hour's shared energy
    assert parts.sum(axis=0) == pytest.approx(shared, abs=tol)
    # each plant gets between 0 and its own injection
    assert np.all(parts >= 0.0) and np.all(parts <= inj + tol)
    # an older plant is never left short while a younger one is matched
    for i, older in enumerate(order):
        for younger in order[i + 1 :]:
            if parts[younger].max(initial=0.0) > tol:
                matched = parts[younger] > tol
                assert parts[older][matched] == pytest.approx(inj[older][matched], abs=tol)


@settings(max_examples=100, deadline=None)
@given(hours_and_plants())
def test_seniority_and_pro_rata_give_the_same_hourly_total(case):
    inj, wd, order = case
    shared = shared_energy_kwh(inj, wd)
    tol = 1e-9 * (1.0 + inj.sum())
    assert split_by_seniority(shared, inj, order).sum(axis=0) == pytest.approx(
        split_by_injection(shared, inj).sum(axis=0), abs=tol
    )
