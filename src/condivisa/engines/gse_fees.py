"""GSE fees of the CACER incentive (DM 106/2024, "decreto corrispettivi"), per plant.

The GSE keeps a yearly fee per plant out of what it pays the referente:

- ``P ≤ 3 kW``: none;
- ``3 < P ≤ 20 kW``: 15 €/year;
- ``P > 20 kW``: 15 €/year + 1 €/kW for each kW above 20 kW, i.e. ``15 + (P − 20)`` €/year.

Reading of the rule: "15 €/year + 1 €/kW above 20 kW" is read as one euro for each kW *beyond* the first
20 (so the fee is continuous at 20 kW: 15 € at 20 kW, 16 € at 21 kW), not 1 €/kW on the whole power.

A settled period carries its share of the year: per civil month ``m``,
``fee_p,m = round(annual_p · Σ_{d ∈ m} 1 / days_in_year(d))`` over the days ``d`` the plant earns the
incentive (half to even), and the period's fee is the sum of its months, like every other money figure
(rounded once per month): a month carries about one twelfth, a whole year the whole fee (to a few cents
of rounding), and a year settled at once equals the sum of its months. Pure numpy; integer cents.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

import numpy as np

#: (up to power, fee €/year) and, above 20 kW, 1 €/kW beyond the first 20 kW (DM 106/2024)
FEE_FREE_UP_TO_KW = 3.0
FEE_FLAT_UP_TO_KW = 20.0
FEE_FLAT_EUR_PER_YEAR = 15.0
FEE_EUR_PER_KW_ABOVE_FLAT = 1.0


def annual_fee_cents(power_kw: float) -> int:
    """A plant's yearly GSE fee for the CACER incentive, cents.

    Parameters
    ----------
    power_kw : float
        The plant's power, kW.

    Returns
    -------
    int
        0 up to 3 kW, 1500 up to 20 kW, ``1500 + 100 · (P − 20)`` above (rounded to the cent).

    References
    ----------
    .. [1] DM MASE 106/2024 (corrispettivi GSE): fees for the CACER incentive, per plant.
    """
    if power_kw <= FEE_FREE_UP_TO_KW:
        return 0
    eur = FEE_FLAT_EUR_PER_YEAR
    if power_kw > FEE_FLAT_UP_TO_KW:
        eur += FEE_EUR_PER_KW_ABOVE_FLAT * (power_kw - FEE_FLAT_UP_TO_KW)
    return int(round(eur * 100))


def year_fraction(days: Iterable[dt.date]) -> float:
    """``Σ_d 1 / days_in_year(d)``: the share of their years the days make up (365 or 366 a year)."""
    return float(sum(1.0 / (366 if calendar.isleap(d.year) else 365) for d in days))


def period_fee_cents(power_kw: float, fee_days: Iterable[dt.date]) -> int:
    """The GSE fee a plant carries over a period: its yearly fee pro rata to the days, cents.

    Parameters
    ----------
    power_kw : float
        The plant's power, kW.
    fee_days : iterable of datetime.date
        The days of the period the plant earns the incentive.

    Returns
    -------
    int
        ``Σ_m round(annual_fee_cents(P) · Σ_{d ∈ m} 1 / days_in_year(d))``, each month half to even.

    References
    ----------
    .. [1] DM MASE 106/2024 (corrispettivi GSE): yearly fee, deducted from the GSE's payments.
    """
    annual = annual_fee_cents(power_kw)
    if annual == 0:
        return 0
    by_month: dict[tuple[int, int], list[dt.date]] = {}
    for d in fee_days:
        by_month.setdefault((d.year, d.month), []).append(d)
    return int(sum(np.round(annual * year_fraction(days)) for days in by_month.values()))


def charge_gse_fees(
    fee_cents_by_plant: np.ndarray, bearer_by_plant: np.ndarray, received_cents: np.ndarray
) -> tuple[np.ndarray, int]:
    """Take each plant's GSE fee off its bearer's money, never more than the bearer receives.

    Parameters
    ----------
    fee_cents_by_plant : numpy.ndarray
        The period's GSE fee per plant, cents (:func:`period_fee_cents`).
    bearer_by_plant : numpy.ndarray
        The payee row that bears each plant's fee (the community account, or the plant's owner).
    received_cents : numpy.ndarray
        What each payee receives before the GSE fees, cents.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        The fees taken per payee (≥ 0), cents, and the part of the fees no bearer could cover (it is
        reported, to be carried to the next payment).

    References
    ----------
    .. [1] DM MASE 106/2024 (corrispettivi GSE): the fees are deducted from what the GSE pays.
    """
    owed = np.zeros(received_cents.size, dtype=np.int64)
    np.add.at(owed, bearer_by_plant, np.asarray(fee_cents_by_plant, dtype=np.int64))
    taken = np.minimum(owed, np.maximum(received_cents, 0))
    return taken, int(owed.sum() - taken.sum())
