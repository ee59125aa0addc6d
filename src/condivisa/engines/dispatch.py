"""Optimal battery dispatch of a building's flats: the whole horizon at once, or a rolling horizon.

Both solve the linear programme of :mod:`condivisa.engines.dispatch_lp` (HiGHS): :func:`optimal_dispatch`
over the whole horizon with perfect foresight, :func:`rolling_dispatch` over windows (e.g. 2 days) keeping
the first step (e.g. 1 day) of each, with a perfect forecast (the actual data) or a persistence forecast
(every day of the window looks like the day before the window); the kept plan is then applied to the actual
data within the limits. :func:`dispatch_value_eur` is the LP's objective for any dispatch, so the optimum can
be compared with the heuristic's (:mod:`condivisa.engines.storage`): optimum ≥ heuristic over the same
horizon and start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from condivisa.engines.dispatch_lp import WindowModel, charge_bounds, solve_window
from condivisa.engines.sharing import shared_energy_kwh
from condivisa.engines.storage import QUARTER_H, BatterySpec, StorageResult, clamped_cumsum


@dataclass
class DispatchResult:
    """The optimal plan: ``storage`` (SoC and withdrawal per flat), objective (€), solver facts."""

    storage: StorageResult
    objective_eur: float
    solve_seconds: float
    n_columns: int
    n_rows: int
    n_nonzeros: int
    n_solves: int = 1


def dispatch_value_eur(
    pv_kwh: ArrayLike,
    withdrawal_kwh: ArrayLike,
    price_eur_per_kwh: ArrayLike,
    incentive_eur_per_kwh: ArrayLike,
) -> float:
    """The LP objective of any dispatch, e.g. the heuristic's, so the two can be compared.

    ``V = Σ_t incentive_t · min(PV_t, Σ_b w_{b,t}) − Σ_{b,t} price_t · w_{b,t}``.

    Parameters
    ----------
    pv_kwh : array_like
        PV production per interval, (T,), kWh.
    withdrawal_kwh : array_like
        Each flat's grid withdrawal, (B, T), kWh.
    price_eur_per_kwh : array_like
        Retail price per interval, €/kWh.
    incentive_eur_per_kwh : array_like
        Premium plus valorisation per kWh shared, per interval, €/kWh.

    Returns
    -------
    float
        V, €.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    """
    w = np.atleast_2d(np.asarray(withdrawal_kwh, dtype=float))
    shared = shared_energy_kwh(np.asarray(pv_kwh, dtype=float), w)
    return float(
        np.sum(np.asarray(incentive_eur_per_kwh) * shared) - np.sum(np.asarray(price_eur_per_kwh) * w)
    )


class _Inputs(NamedTuple):
    """The dispatch's data as float arrays: PV (T,), loads (B, T), capacity and contract (B,), price and
    incentive (T,)."""

    pv: np.ndarray
    loads: np.ndarray
    capacity: np.ndarray
    contract: np.ndarray
    price: np.ndarray
    incentive: np.ndarray


def _inputs(
    pv_kwh: ArrayLike,
    loads_kwh: ArrayLike,
    capacity_kwh: ArrayLike,
    contract_kw: ArrayLike,
    price_eur_per_kwh: ArrayLike,
    incentive_eur_per_kwh: ArrayLike,
) -> _Inputs:
    """Broadcast the arguments of a dispatch to :class:`_Inputs` (scalars to every flat or interval)."""
    loads = np.atleast_2d(np.asarray(loads_kwh, dtype=float))
    n_b, n_t = loads.shape
    return _Inputs(
        pv=np.asarray(pv_kwh, dtype=float),
        loads=loads,
        capacity=np.broadcast_to(np.asarray(capacity_kwh, dtype=float), (n_b,)),
        contract=np.broadcast_to(np.asarray(contract_kw, dtype=float), (n_b,)),
        price=np.broadcast_to(np.asarray(price_eur_per_kwh, dtype=float), (n_t,)),
        incentive=np.broadcast_to(np.asarray(incentive_eur_per_kwh, dtype=float), (n_t,)),
    )


def optimal_dispatch(
    pv_kwh: ArrayLike,
    loads_kwh: ArrayLike,
    capacity_kwh: ArrayLike,
    contract_kw: ArrayLike,
    price_eur_per_kwh: ArrayLike,
    incentive_eur_per_kwh: ArrayLike,
    *,
    spec: BatterySpec = BatterySpec(capacity_kwh=0.0),
    start_soc_kwh: ArrayLike | None = None,
    interval_h: float = QUARTER_H,
) -> DispatchResult:
    """Solve the whole horizon as one LP (perfect foresight), starting at E_min like the heuristic.

    Parameters
    ----------
    pv_kwh : array_like
        PV production per interval, (T,), kWh.
    loads_kwh : array_like
        Each flat's load, (B, T), kWh.
    capacity_kwh, contract_kw : array_like
        Battery capacity (kWh) and contract power (kW), scalar or per flat.
    price_eur_per_kwh, incentive_eur_per_kwh : array_like
        Retail price and premium + valorisation per interval, €/kWh (scalars broadcast).
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    start_soc_kwh : array_like, optional
        Starting SoC, kWh; default E_min.
    interval_h : float, default 0.25
        Interval length, hours.

    Returns
    -------
    DispatchResult
        The optimal SoC and withdrawal per flat (kWh), the objective (€) and the solver's facts.
    """
    pv, loads, capacity, contract, price, incentive = _inputs(
        pv_kwh, loads_kwh, capacity_kwh, contract_kw, price_eur_per_kwh, incentive_eur_per_kwh
    )
    start = (
        capacity * spec.soc_min_pct / 100.0
        if start_soc_kwh is None
        else np.broadcast_to(np.asarray(start_soc_kwh, float), (loads.shape[0],))
    )
    c, d, e, objective, size, seconds = solve_window(
        pv, loads, capacity, contract, price, incentive, start, spec, interval_h
    )
    withdrawal = np.maximum(loads + c - d, 0.0)
    storage = StorageResult(
        e, withdrawal, np.asarray(start, float).copy(), spec.charge_efficiency, spec.discharge_efficiency
    )
    return DispatchResult(storage, objective, seconds, *size)


def persistence_forecast(actual: np.ndarray, start: int, length: int, day: int) -> np.ndarray:
    """Persistence forecast of intervals [start, start + length): every day looks like the day before.

    Each day of the window repeats the ``day`` intervals before ``start``; the first day, with nothing
    before it, uses the actual values.

    Parameters
    ----------
    actual : numpy.ndarray
        The actual series (kWh); the last axis is time.
    start : int
        First interval of the window.
    length : int
        Intervals in the window.
    day : int
        Intervals per day (96 at quarter hours).

    Returns
    -------
    numpy.ndarray
        The forecast, shaped like ``actual`` with ``length`` intervals on the last axis.
    """
    if start < day:
        return actual[..., start : start + length]
    yesterday = actual[..., start - day : start]
    reps = -(-length // day)
    return np.concatenate([yesterday] * reps, axis=-1)[..., :length]


class _Limits(NamedTuple):
    """What the kept plan must respect on the actual data: SoC window and charge/discharge bounds, kWh."""

    low: np.ndarray
    high: np.ndarray
    c_max: np.ndarray
    d_max: np.ndarray


def _window_forecast(
    x: _Inputs, start: int, stop: int, forecast: str, interval_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """PV and loads the LP of the window ``[start, stop)`` sees: the actual data (``"perfect"``) or their
    persistence forecast (:func:`persistence_forecast`, a day of 24 h / ``interval_h`` intervals)."""
    if forecast == "perfect":
        return x.pv[start:stop], x.loads[:, start:stop]
    day = int(round(24 / interval_h))
    return (
        persistence_forecast(x.pv, start, stop - start, day),
        persistence_forecast(x.loads, start, stop - start, day),
    )


def _apply_kept(
    c: np.ndarray, d: np.ndarray, keep: slice, limits: _Limits, spec: BatterySpec, e_now: np.ndarray
) -> np.ndarray:
    """The SoC over the kept intervals ``keep`` when the window's plan ``c``, ``d`` meets the actual data.

    The plan's charge and discharge are cut to the actual bounds, their net battery energy
    ``η_c·c − d/η_d`` runs through the heuristic's clamped SoC recursion
    (:func:`condivisa.engines.storage.clamped_cumsum`) from ``e_now``, so the result is always feasible.
    """
    k = keep.stop - keep.start
    c = np.minimum(c[:, :k], limits.c_max[:, keep])
    d = np.minimum(d[:, :k], limits.d_max[:, keep])
    step_kwh = spec.charge_efficiency * c - d / spec.discharge_efficiency
    return clamped_cumsum(np.ascontiguousarray(step_kwh.T), e_now, limits.low, limits.high).T


def rolling_dispatch(
    pv_kwh: ArrayLike,
    loads_kwh: ArrayLike,
    capacity_kwh: ArrayLike,
    contract_kw: ArrayLike,
    price_eur_per_kwh: ArrayLike,
    incentive_eur_per_kwh: ArrayLike,
    *,
    spec: BatterySpec = BatterySpec(capacity_kwh=0.0),
    window: int = 192,
    step: int = 96,
    forecast: str = "perfect",
    interval_h: float = QUARTER_H,
) -> DispatchResult:
    """Rolling horizon: solve ``window`` intervals, apply the first ``step`` to the actual data, move on.

    The kept plan's net battery energy per interval is limited by the actual loads and contract power and
    run through the same clamped SoC recursion as the heuristic
    (:func:`condivisa.engines.storage.clamped_cumsum`), so the result is always feasible.

    Parameters
    ----------
    pv_kwh : array_like
        PV production per interval, (T,), kWh.
    loads_kwh : array_like
        Each flat's load, (B, T), kWh.
    capacity_kwh, contract_kw : array_like
        Battery capacity (kWh) and contract power (kW), scalar or per flat.
    price_eur_per_kwh, incentive_eur_per_kwh : array_like
        Retail price and premium + valorisation per interval, €/kWh.
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    window : int, default 192
        Intervals per LP (2 days at quarter hours).
    step : int, default 96
        Intervals kept from each LP (1 day), 0 < step ≤ window.
    forecast : str, default "perfect"
        ``"perfect"`` (the actual data) or ``"persistence"`` (:func:`persistence_forecast`; a day is
        24 h / ``interval_h`` intervals; on the two DST days the day before is 4 intervals shorter or
        longer, a negligible shift).
    interval_h : float, default 0.25
        Interval length, hours.

    Returns
    -------
    DispatchResult
        SoC and withdrawal per flat (kWh), the objective of the applied plan (€,
        :func:`dispatch_value_eur`) and the solver's facts summed over the windows.

    Raises
    ------
    ValueError
        For an unknown forecast or step outside 0 < step ≤ window.
    """
    if forecast not in ("perfect", "persistence"):
        raise ValueError(f"forecast must be 'perfect' or 'persistence', got {forecast!r}")
    if not 0 < step <= window:
        raise ValueError(f"need 0 < step <= window, got step={step}, window={window}")
    x = _inputs(pv_kwh, loads_kwh, capacity_kwh, contract_kw, price_eur_per_kwh, incentive_eur_per_kwh)
    n_b, n_t = x.loads.shape
    low = x.capacity * spec.soc_min_pct / 100.0
    high = x.capacity * spec.soc_max_pct / 100.0
    limits = _Limits(low, high, *charge_bounds(x.loads, x.contract, spec, interval_h))
    soc = np.empty((n_b, n_t))
    e_now = low.copy()
    solve_seconds, n_solves, size = 0.0, 0, (0, 0, 0)
    model = WindowModel(n_b, min(window, n_t), spec)
    for start in range(0, n_t, step):
        stop = min(start + window, n_t)
        pv_f, loads_f = _window_forecast(x, start, stop, forecast, interval_h)
        c, d, _, _, size, seconds = solve_window(
            pv_f,
            loads_f,
            x.capacity,
            x.contract,
            x.price[start:stop],
            x.incentive[start:stop],
            e_now,
            spec,
            interval_h,
            model,
        )
        solve_seconds += seconds
        n_solves += 1
        keep = slice(start, min(start + step, n_t))
        soc[:, keep] = _apply_kept(c, d, keep, limits, spec, e_now)
        e_now = soc[:, keep.stop - 1].copy()
    result = StorageResult(soc, x.loads, low.copy(), spec.charge_efficiency, spec.discharge_efficiency)
    result.withdrawal_kwh = np.maximum(x.loads + result.charge_kwh - result.discharge_kwh, 0.0)
    objective = dispatch_value_eur(x.pv, result.withdrawal_kwh, x.price, x.incentive)
    return DispatchResult(result, objective, solve_seconds, *size, n_solves=n_solves)
