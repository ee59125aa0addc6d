"""Cross-check rules (pure functions), hand-worked."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from condivisa.store.checks import Point, energy_vs_totalizer, series_flags, totalizer_backwards

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, tzinfo=UTC)
Q = dt.timedelta(minutes=15)


def p(i: int, wd: float, wt: float | None, inj: float = 0.0, it: float | None = None) -> Point:
    return Point(T0 + i * Q, wd, inj, wt, it)


def test_energy_matches_totalizer_difference():
    # 100.250 - 100.000 = 0.250 kWh moved; energy 0.250 -> agree
    assert energy_vs_totalizer(p(0, 0.1, 100.0), p(1, 0.25, 100.25)) == []
    # energy 0.2485: |0.2485 - 0.250| = 0.0015 <= 0.002 tolerance -> agree (meter rounding)
    assert energy_vs_totalizer(p(0, 0.1, 100.0), p(1, 0.2485, 100.25)) == []


def test_energy_disagrees_with_totalizer():
    # energy 0.240 vs 0.250 moved: |diff| = 0.010 > 0.002 -> flagged
    [(code, detail)] = energy_vs_totalizer(p(0, 0.1, 100.0), p(1, 0.24, 100.25))
    assert code == "withdrawn_energy_vs_totalizer" and "0.240" in detail and "0.250" in detail
    # injection side: 50.000 -> 51.000 moved 1.000 kWh but energy 0.5
    [(code, _)] = energy_vs_totalizer(p(0, 0, None, 0, 50.0), p(1, 0, None, 0.5, 51.0))
    assert code == "injected_energy_vs_totalizer"


def test_only_consecutive_quarters_and_present_totals_are_compared():
    assert energy_vs_totalizer(p(0, 0.1, 100.0), p(2, 9.0, 100.25)) == []  # 30 min apart
    assert energy_vs_totalizer(p(0, 0.1, None), p(1, 9.0, 100.25)) == []


def test_totalizer_backwards():
    [(code, _)] = totalizer_backwards(p(0, 0, 100.0), p(3, 0, 99.999))
    assert code == "withdrawn_totalizer_backwards"
    assert totalizer_backwards(p(0, 0, 100.0), p(3, 0, 100.0)) == []  # standing still is fine


def test_series_flags_against_later_neighbour():
    # a late reading whose register is above the one of a later quarter already stored
    series = [p(0, 0.25, 100.0), p(1, 0.25, 100.5), p(2, 0.25, 100.5)]
    flags = series_flags("IT1", series, [series[1]])
    codes = sorted(f.code for f in flags)
    # 100.5 - 100.0 = 0.5 moved vs 0.25 energy -> disagreement; 100.5 <= 100.5 later -> not backwards
    assert codes == ["withdrawn_energy_vs_totalizer"]
    series = [p(0, 0.25, 100.0), p(1, 0.25, 100.25), p(2, 0.25, 100.2)]
    assert [f.code for f in series_flags("IT1", series, [series[1]])] == ["withdrawn_totalizer_backwards"]


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=2, max_size=20))
def test_consistent_series_never_flagged(energies):
    """Totalizers built as the running sum of the energies never raise a flag."""
    total, pts = 1000.0, []
    for i, e in enumerate(energies):
        total += e
        pts.append(p(i, e, total, e, total))
    assert series_flags("IT1", pts, pts) == []


# ---------------------------------------------------------------------------------- clean_series (the screen)


def t(pt: Point) -> tuple:
    return (pt.start, pt.withdrawn_kwh, pt.injected_kwh, pt.withdrawn_total_kwh, pt.injected_total_kwh)


def test_clean_series_by_hand():
    from condivisa.store.checks import clean_series

    # 1000.25 -> 1000.50 -> 1000.75 with 0.25 kWh each: consistent, rising
    assert clean_series([t(p(2, 0.25, 1000.75)), t(p(0, 0.25, 1000.25)), t(p(1, 0.25, 1000.50))])
    # energy 0.10 but the totalizer moved 0.25: suspicious
    assert not clean_series([t(p(0, 0.25, 1000.25)), t(p(1, 0.10, 1000.50))])
    # a totalizer lower two quarters later (gap in between): suspicious
    assert not clean_series([t(p(0, 0.25, 1000.25)), t(p(2, 0.25, 999.0))])
    # across a gap the energy is not compared with the totalizers: clean
    assert clean_series([t(p(0, 0.25, 1000.25)), t(p(2, 0.10, 1000.75))])
    # no totalizers at all: nothing to check
    assert clean_series([t(p(0, 0.25, None)), t(p(1, 9.0, None))])


@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),
            st.sampled_from([0.0, 0.25, 0.5]),
            st.one_of(st.none(), st.sampled_from([999.0, 1000.0, 1000.25, 1000.5, 1000.75])),
        ),
        min_size=1,
        max_size=7,
        unique_by=lambda x: x[0],
    )
)
def test_clean_series_means_no_flags(items):
    """The screen is sound: whenever it says clean, the full cross-check of any subset flags nothing."""
    from condivisa.store.checks import clean_series

    pts = sorted((p(i, wd, wt) for i, wd, wt in items), key=lambda x: x.start)
    if clean_series([t(x) for x in pts]):
        for k in range(len(pts)):
            sub = pts[: k + 1]
            assert series_flags("IT001", sub, sub) == []
    else:  # and it is not blind: something in the full series is flagged
        assert series_flags("IT001", pts, pts) != []
