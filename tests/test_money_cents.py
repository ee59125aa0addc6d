"""``kernel.money``: € ↔ whole cents, the one conversion the statements and the result use."""

from hypothesis import given
from hypothesis import strategies as st

from condivisa.kernel.money import to_cents, to_euros


def test_hand_worked_conversions():
    assert to_cents(302.41) == 30241
    assert to_cents(-21.31) == -2131
    assert to_cents(0.125) == 12  # a half goes to the even cent
    assert to_euros(-2131) == -21.31
    assert to_euros(1) == 0.01 and to_euros(30241) == 302.41


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_cents_round_trip(cents):
    assert to_cents(to_euros(cents)) == cents
