"""Shared energy and its split: hand-worked cases (arithmetic in the comments)."""

from __future__ import annotations

import numpy as np

from condivisa.engines.sharing import shared_energy_kwh, split_by_injection, withdrawal_share


def test_shared_energy_by_hand():
    # hour 1: inj 30, wd 27 -> 27; hour 2: inj 20, wd 27 -> 20; hour 3: inj 0, wd 5 -> 0
    assert shared_energy_kwh([30, 20, 0], [27, 27, 5]).tolist() == [27.0, 20.0, 0.0]
    # 2-D input is summed over the points first: inj 10 + 20 = 30, wd 20 + 7 = 27 -> 27
    assert shared_energy_kwh([[10], [20]], [[20], [7]]).tolist() == [27.0]


def test_split_by_injection_by_hand():
    # shared 27 of 30 injected: plant A (10) gets 9, plant B (20) gets 18; no injection -> 0 each
    parts = split_by_injection([27.0, 0.0], [[10.0, 0.0], [20.0, 0.0]])
    assert parts.tolist() == [[9.0, 0.0], [18.0, 0.0]]


def test_withdrawal_share_by_hand():
    # hour 1: shared 6 of 6 withdrawn (C1 4, C2 2) -> r = 1; hour 2: shared 2 of 8 (C1 4, C2 4) -> r = 0.25;
    # hour 3: nothing withdrawn -> 0
    w = np.array([[4.0, 4.0, 0.0], [2.0, 4.0, 0.0]])
    r = withdrawal_share([6.0, 2.0, 0.0], w)
    assert r.tolist() == [1.0, 0.25, 0.0]
    # 1-D withdrawal (already summed) gives the same key
    assert withdrawal_share([6.0, 2.0, 0.0], w.sum(axis=0)).tolist() == [1.0, 0.25, 0.0]
    # each member's part over the period: C1 4·1 + 4·0.25 = 5, C2 2·1 + 4·0.25 = 3; together the shared 8
    assert (w @ r).tolist() == [5.0, 3.0]
