"""Time bands F1/F2/F3 in what a member reads: their month's energy by band (from the settlement result)
and the band of each advised hour, so "sposta i consumi" reads against the bill a family knows.

A member's withdrawal and part of the shared energy in band ``b`` over the settled intervals ``t``:

    W_b = Σ_{t: band(t) = b} w_t,     S_b = Σ_{t: band(t) = b} s_t      [kWh]

with ``w_t``, ``s_t`` the member's withdrawal and shared energy of
:meth:`~condivisa.engines.settlement_result.SettlementResult.member_series` (the same rows the statement's
totals come from, so ``Σ_b W_b`` and ``Σ_b S_b`` are the statement's withdrawn and shared energy) and
``band(t)`` the band of the interval's start (:func:`~condivisa.domain.time_bands.band_of`; a settlement
hour never straddles a band change: bands change on the hour).

References
----------
.. [1] ARERA, delibera 181/06, Tabella 1 (fasce orarie F1, F2, F3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from condivisa.domain.time_bands import band_of, band_of_local, day_type
from condivisa.engines.indicators import ShiftWindow
from condivisa.engines.settlement_result import SettlementResult

BANDS = ("F1", "F2", "F3")


@dataclass(frozen=True)
class BandEnergy:
    """A member's energy in one band, kWh."""

    band: str
    withdrawn_kwh: float
    shared_kwh: float

    def as_dict(self) -> dict[str, Any]:
        return {"band": self.band, "withdrawn_kwh": self.withdrawn_kwh, "shared_kwh": self.shared_kwh}


def member_band_energy(result: SettlementResult, member_id: str) -> tuple[BandEnergy, ...]:
    """``W_b`` and ``S_b`` of the module docstring for ``member_id``, F1, F2, F3 in that order.

    Parameters
    ----------
    result : SettlementResult
        The settlement the member's statement reads.
    member_id : str
        A member of the settled community.

    Returns
    -------
    tuple of BandEnergy
        Three entries, kWh rounded to the Wh like the settlement result; their withdrawals and shared
        energies add up to the statement's within the rounding (±1.5 Wh).
    """
    series = result.member_series(member_id)
    bands = band_of(pd.DatetimeIndex(series.index))
    withdrawn = series["member_withdrawn_kwh"].to_numpy()
    shared = series["member_shared_kwh"].to_numpy()
    return tuple(
        BandEnergy(
            name, round(float(withdrawn[bands == k].sum()), 3), round(float(shared[bands == k].sum()), 3)
        )
        for k, name in enumerate(BANDS, start=1)
    )


def window_bands(windows: list[ShiftWindow], day: dt.date) -> list[str]:
    """The band(s) of each advised window on ``day`` (its day type: weekday, Saturday, Sunday/holiday).

    Parameters
    ----------
    windows : list of ShiftWindow
        Local-hour windows (:func:`~condivisa.engines.indicators.best_hours_to_shift`).
    day : datetime.date
        The day the advice is for (tomorrow, for "the coming days").

    Returns
    -------
    list of str
        Per window, ``"F1"`` or the bands it spans in order (``"F1/F2"``).
    """
    kind = day_type(day)[0]
    out = []
    for w in windows:
        minutes = np.array([((w.start_hour + k) % 24) * 60 for k in range(w.hours)])
        codes = band_of_local(minutes, np.full(minutes.shape, kind))
        out.append("/".join(BANDS[c - 1] for c in dict.fromkeys(int(c) for c in codes)))
    return out
