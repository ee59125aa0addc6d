"""ARERA valorisation of autoconsumed (shared) energy, TIAD (ARERA 727/2022/R/eel), Art. 8-9.

The grid charges that do not apply to energy shared inside a configuration are given back:

- CER, CEC, AID, CAD (points under one primary substation)::

      V_h = TRAS_E · E_sh,h / 1000                                           [€]

- AUC, GCA (points in one building)::

      V_h = (TRAS_E + BTAU) · E_sh,h / 1000 + Σ_p c_loss,p · Pz_h · E_sh,h,p / 1000

  with ``c_loss,p`` the avoided-loss coefficient of plant ``p``'s connection voltage
  (2.6 % low voltage, 1.2 % medium voltage, 2024 values).

Energies in kWh, tariffs and prices in €/MWh. Every plant's shared energy counts, eligible for the
premium or not. The yearly values live in :data:`condivisa.domain.tariffs.YEARLY_VALUES` and can be
overridden per community (``tariffs:`` in ``community.yaml``); a year missing from the table is provisional
and says so (:func:`yearly_values_and_notices`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from condivisa.domain.tariffs import VALORISATION_KEYS, resolve_yearly

#: The keys the valorisation of a configuration uses: TRAS_E only, or all four for AUC/GCA.
CER_KEYS: tuple[str, ...] = ("tras_e_eur_per_mwh",)


def yearly_values_and_notices(
    years: ArrayLike,
    overrides: Mapping[str, float] | None = None,
    *,
    by_year: Mapping[int, Mapping[str, float]] | None = None,
    same_building: bool = True,
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Per-interval arrays of the valorisation parameters of each interval's civil year, and the notices of
    the years whose values are not in the table.

    The values come from :func:`condivisa.domain.tariffs.resolve_yearly`: the community's overrides for the
    year, then for every year, then :data:`condivisa.domain.tariffs.YEARLY_VALUES`. A year missing from the
    table uses the latest earlier year's values and gets a notice (the result is provisional); only the
    values the configuration uses count (TRAS_E, plus BTAU and the loss coefficients for AUC/GCA).

    Parameters
    ----------
    years : array_like
        The civil year (Europe/Rome) of each interval.
    overrides : Mapping[str, float], optional
        Key -> value for every year (``tariffs: {tras_e_eur_per_mwh: ...}`` in ``community.yaml``).
    by_year : Mapping[int, Mapping[str, float]], optional
        Year -> key -> value (``tariffs: {2026: {tras_e_eur_per_mwh: ...}}``).
    same_building : bool, default True
        AUC/GCA: all four values are used; otherwise TRAS_E only.

    Returns
    -------
    values : dict of str to numpy.ndarray
        ``tras_e_eur_per_mwh`` (TRAS_E, €/MWh), ``btau_eur_per_mwh`` (BTAU, €/MWh), ``loss_factor_bt``
        and ``loss_factor_mt`` (avoided-loss coefficients, dimensionless), each shaped like ``years``.
    notices : tuple of str
        One per year whose used values are not sourced (Italian, for the referente).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 8-9, with the yearly updates of the
       tariff components.
    """
    years = np.asarray(years, dtype=int)
    out = {name: np.zeros(years.shape) for name in VALORISATION_KEYS}
    notices: list[str] = []
    used = VALORISATION_KEYS if same_building else CER_KEYS
    for year in np.unique(years):
        every = dict(overrides or {})
        values = resolve_yearly(int(year), VALORISATION_KEYS, every, by_year).values
        notices.extend(resolve_yearly(int(year), used, every, by_year).notices)
        sel = years == year
        for name in out:
            out[name][sel] = float(values[name] or 0.0)
    return out, tuple(notices)


def yearly_values(
    years: ArrayLike,
    overrides: Mapping[str, float] | None = None,
    *,
    by_year: Mapping[int, Mapping[str, float]] | None = None,
) -> dict[str, np.ndarray]:
    """The values of :func:`yearly_values_and_notices`, without the notices (e.g. for a simulation)."""
    return yearly_values_and_notices(years, overrides, by_year=by_year)[0]


def valorisation_by_plant_eur(
    shared_by_plant_kwh: ArrayLike,
    zonal_price_eur_per_mwh: ArrayLike,
    *,
    same_building: bool,
    plant_is_mt: Sequence[bool],
    tras_e_eur_per_mwh: ArrayLike,
    btau_eur_per_mwh: ArrayLike,
    loss_factor_bt: ArrayLike,
    loss_factor_mt: ArrayLike,
) -> np.ndarray:
    """Valorisation of each plant's shared energy in each interval, €.

    CER, CEC, AID, CAD: ``V_h,p = TRAS_E · E_sh,h,p / 1000``; AUC, GCA (``same_building``):
    ``V_h,p = (TRAS_E + BTAU + c_loss,p · Pz_h) · E_sh,h,p / 1000`` with ``c_loss,p`` the avoided-loss
    coefficient of the plant's connection voltage. Every plant's shared energy counts, eligible for the
    premium or not.

    Parameters
    ----------
    shared_by_plant_kwh : array_like
        Shared energy per plant and interval (plants × intervals), kWh.
    zonal_price_eur_per_mwh : array_like
        Zonal price Pz of each interval, €/MWh.
    same_building : bool
        AUC/GCA (points in one building): transmission, distribution and avoided losses; otherwise the
        transmission component only.
    plant_is_mt : sequence of bool
        Per plant, connected at medium voltage (else low voltage).
    tras_e_eur_per_mwh, btau_eur_per_mwh : array_like
        TRAS_E and BTAU per interval, €/MWh (:func:`yearly_values`).
    loss_factor_bt, loss_factor_mt : array_like
        Avoided-loss coefficients per interval, low and medium voltage, dimensionless.

    Returns
    -------
    numpy.ndarray
        Valorisation per plant and interval (plants × intervals), €.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 8-9: valorisation and restitution of
       the tariff components not due on shared energy.
    """
    shared = np.atleast_2d(np.asarray(shared_by_plant_kwh, dtype=float))
    tras_e = np.asarray(tras_e_eur_per_mwh, dtype=float)
    if not same_building:
        return shared * (tras_e / 1000.0)
    pz = np.asarray(zonal_price_eur_per_mwh, dtype=float)
    is_mt = np.asarray(plant_is_mt, dtype=bool)[:, None]
    loss = np.where(is_mt, np.asarray(loss_factor_mt, dtype=float), np.asarray(loss_factor_bt, dtype=float))
    per_mwh = tras_e + np.asarray(btau_eur_per_mwh, dtype=float) + loss * pz
    return shared * (per_mwh / 1000.0)
