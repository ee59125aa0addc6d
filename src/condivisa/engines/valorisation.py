"""ARERA valorisation of autoconsumed (shared) energy, TIAD (ARERA 727/2022/R/eel), Art. 8-9.

The grid charges that do not apply to energy shared inside a configuration are given back:

- CER, CEC, AID, CAD (points under one primary substation)::

      V_h = TRAS_E · E_sh,h / 1000                                           [€]

- AUC, GCA (points in one building)::

      V_h = (TRAS_E + BTAU) · E_sh,h / 1000 + Σ_p c_loss,p · Pz_h · E_sh,h,p / 1000

  with ``c_loss,p`` the avoided-loss coefficient of plant ``p``'s connection voltage
  (2.6 % low voltage, 1.2 % medium voltage, 2024 values).

Energies in kWh, tariffs and prices in €/MWh. Every plant's shared energy counts, eligible for the
premium or not. The yearly values live in :data:`condivisa.domain.tariffs.VALORISATION_BY_YEAR`
and can be overridden per community (``tariffs:`` in ``community.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from condivisa.domain.tariffs import valorisation_values


def yearly_values(years: ArrayLike, overrides: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per-interval arrays of the valorisation parameters for the civil ``years`` of each interval.

    Returns ``tras_e_eur_per_mwh``, ``btau_eur_per_mwh``, ``loss_factor_bt``, ``loss_factor_mt``,
    each the same shape as ``years``, taken from the yearly table with ``overrides`` applied.
    """
    years = np.asarray(years, dtype=int)
    out = {
        name: np.zeros(years.shape)
        for name in ("tras_e_eur_per_mwh", "btau_eur_per_mwh", "loss_factor_bt", "loss_factor_mt")
    }
    for year in np.unique(years):
        values = valorisation_values(int(year), dict(overrides or {}))
        sel = years == year
        for name in out:
            out[name][sel] = getattr(values, name)
    return out


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
    """Valorisation of each plant's shared energy in each interval, € (plants × intervals).

    ``same_building`` selects the AUC/GCA formula (transmission + distribution + avoided losses);
    otherwise only the transmission component applies (CER/CEC/AID/CAD). The per-interval
    parameters come from :func:`yearly_values`.
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
