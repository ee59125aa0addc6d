"""Battery storage: the case study's rule-based controller, vectorised across batteries, and capacity fade.

The heuristic (one battery per flat, a building-wide controller), for each quarter hour t and battery b:

* surplus_t = PV_t − Σ_flats load_t. When surplus_t > 0 each battery charges
  c = min( surplus_t / n,  P_inv·Δt,  (P_contract,b·Δt − load_b,t)⁺,  (E_max − E)/η_c );
* otherwise it discharges to cover its own flat: d = min( load_b,t,  P_inv·Δt,  (E − E_min)·η_d );
* E_{t} = E_{t−1} + η_c·c − d/η_d, E_min = 10 %, E_max = 100 % of the capacity;
* the flat's withdrawal is load + c − d ≥ 0 and never above its contract power (load + c ≤ P_contract·Δt).

Vectorisation. Only the SoC carries over in time, and every limit above except the SoC headroom is known
beforehand. With u_t = η_c·min(surplus/n, P_inv·Δt, headroom) (charging) or −min(load, P_inv·Δt)/η_d
(discharging), the rule is exactly the clamped cumulative sum

    E_t = min( max( E_{t−1} + u_t, E_min ), E_max ),

so all the arithmetic runs loop-free over (time × batteries) arrays, and only this three-operation
recursion loops over time, with numpy across all batteries at once. Charge and discharge then follow
loop-free from ΔE: c = ΔE⁺/η_c, d = ΔE⁻·η_d, which keeps the balance η_c·c − d/η_d = ΔE exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

QUARTER_H = 0.25
_BLOCK = 512  # time steps per block of the loop-free arithmetic


@dataclass(frozen=True)
class BatterySpec:
    """One battery: usable window ``soc_min_pct``–``soc_max_pct`` of ``capacity_kwh``, efficiencies, inverter."""

    capacity_kwh: float
    soc_min_pct: float = 10.0
    soc_max_pct: float = 100.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    inverter_kw: float = 3.0

    def __post_init__(self) -> None:
        if self.capacity_kwh < 0:
            raise ValueError(f"capacity_kwh must be >= 0, got {self.capacity_kwh}")
        if not 0 <= self.soc_min_pct <= self.soc_max_pct <= 100:
            raise ValueError(
                f"need 0 <= soc_min_pct <= soc_max_pct <= 100, got {self.soc_min_pct}, {self.soc_max_pct}"
            )
        for name in ("charge_efficiency", "discharge_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within (0, 1], got {getattr(self, name)}")
        if self.inverter_kw < 0:
            raise ValueError(f"inverter_kw must be >= 0, got {self.inverter_kw}")

    @property
    def soc_min_kwh(self) -> float:
        """E_min = capacity · soc_min_pct / 100, kWh."""
        return self.capacity_kwh * self.soc_min_pct / 100.0

    @property
    def soc_max_kwh(self) -> float:
        """E_max = capacity · soc_max_pct / 100, kWh."""
        return self.capacity_kwh * self.soc_max_pct / 100.0


@dataclass
class StorageResult:
    """Arrays (batteries × intervals), kWh: ``soc_kwh`` at the end of each interval, each flat's grid
    ``withdrawal_kwh`` (load + charge − discharge); charge and discharge follow from ΔSoC on demand
    (c = ΔE⁺/η_c, d = ΔE⁻·η_d), so only two full arrays are stored."""

    soc_kwh: np.ndarray
    withdrawal_kwh: np.ndarray
    start_soc_kwh: np.ndarray
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95

    @property
    def delta_soc_kwh(self) -> np.ndarray:
        """ΔE of each interval (batteries × intervals), kWh."""
        return np.diff(self.soc_kwh, axis=-1, prepend=self.start_soc_kwh[:, None])

    @property
    def charge_kwh(self) -> np.ndarray:
        """c = ΔE⁺ / η_c, kWh drawn to charge."""
        return np.maximum(self.delta_soc_kwh, 0.0) / self.charge_efficiency

    @property
    def discharge_kwh(self) -> np.ndarray:
        """d = ΔE⁻ · η_d, kWh delivered to the flat."""
        return np.maximum(-self.delta_soc_kwh, 0.0) * self.discharge_efficiency


def faded_capacity_kwh(capacity_kwh: ArrayLike, years: ArrayLike, fade_per_year: float = 0.03) -> np.ndarray:
    """Capacity after full years of use, compounding: ``C_y = C_0 · (1 − fade)^y``.

    E.g. 5 kWh, 3 %/year, 2 years: 5 · 0.97² = 4.7045 kWh.

    Parameters
    ----------
    capacity_kwh : array_like
        C_0, kWh.
    years : array_like
        Full years of use y.
    fade_per_year : float, default 0.03
        Yearly capacity loss, within [0, 1).

    Returns
    -------
    numpy.ndarray
        C_y, kWh.

    Raises
    ------
    ValueError
        When ``fade_per_year`` is outside [0, 1).
    """
    if not 0 <= fade_per_year < 1:
        raise ValueError(f"fade_per_year must be within [0, 1), got {fade_per_year}")
    return np.asarray(capacity_kwh, dtype=float) * (1.0 - fade_per_year) ** np.asarray(years, dtype=float)


def clamped_cumsum(
    step_kwh: np.ndarray,
    start_kwh: ArrayLike,
    low_kwh: ArrayLike,
    high_kwh: ArrayLike,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """State of charge by the clamped cumulative sum ``E_t = min(max(E_{t−1} + u_t, low), high)``.

    The only sequential part of the simulation: one pass over time, numpy across batteries.

    Parameters
    ----------
    step_kwh : numpy.ndarray
        u_t, the SoC step of each interval, intervals × batteries, kWh (C-ordered).
    start_kwh : array_like
        E before the first interval, kWh (scalar or per battery).
    low_kwh, high_kwh : array_like
        E_min and E_max, kWh (scalar or per battery).
    out : numpy.ndarray, optional
        A C-ordered array shaped like ``step_kwh`` to write into.

    Returns
    -------
    numpy.ndarray
        E_t at the end of each interval, intervals × batteries, kWh.
    """
    steps = np.ascontiguousarray(step_kwh, dtype=float)
    n_t, n_b = steps.shape
    low = np.broadcast_to(np.asarray(low_kwh, dtype=float), (n_b,)).copy()
    high = np.broadcast_to(np.asarray(high_kwh, dtype=float), (n_b,)).copy()
    prev = np.broadcast_to(np.asarray(start_kwh, dtype=float), (n_b,)).copy()
    soc = np.empty_like(steps) if out is None else out
    add, minimum, maximum = np.add, np.minimum, np.maximum
    for t in range(n_t):
        row = soc[t]
        add(prev, steps[t], out=row)
        minimum(row, high, out=row)
        maximum(row, low, out=row)
        prev = row
    return soc


def _per_battery(value: ArrayLike, n_b: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n_b,))
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got {arr.min()}")
    return arr


def heuristic_dispatch(
    load_kwh: ArrayLike,
    charge_allowance_kwh: ArrayLike,
    capacity_kwh: ArrayLike,
    contract_kw: ArrayLike,
    *,
    spec: BatterySpec = BatterySpec(capacity_kwh=0.0),
    start_soc_kwh: ArrayLike | None = None,
    interval_h: float = QUARTER_H,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> StorageResult:
    """Run the case study's rule-based controller for B batteries over T intervals.

    Charging intervals: ``c = min(allowance, P_inv·Δt, (P_contract·Δt − load)⁺, (E_max − E)/η_c)``;
    otherwise ``d = min(load, P_inv·Δt, (E − E_min)·η_d)``; ``E_t = E_{t−1} + η_c·c − d/η_d`` by
    :func:`clamped_cumsum`; the flat's withdrawal is ``load + c − d`` (module docstring).

    Speed: inputs that are time-major in memory (``x.T`` of a C-ordered (T, B) array) avoid a transpose;
    ``out`` saves the operating system's first-touch cost of fresh memory across runs.

    Parameters
    ----------
    load_kwh : array_like
        Each flat's consumption, (B, T), kWh.
    charge_allowance_kwh : array_like
        The PV surplus share each battery may take, (B, T) or (T,), kWh (> 0: charging interval, 0:
        discharging interval; :func:`charge_allowance_kwh`).
    capacity_kwh : array_like
        Battery capacity, kWh (scalar or (B,)).
    contract_kw : array_like
        Contract power of each flat, kW (scalar or (B,)).
    spec : BatterySpec
        SoC window, efficiencies and inverter (its own capacity is ignored).
    start_soc_kwh : array_like, optional
        Starting SoC, kWh (clipped to the window); default E_min.
    interval_h : float, default 0.25
        Interval length Δt, hours.
    out : tuple of numpy.ndarray, optional
        Two C-ordered (T, B) float arrays (SoC, withdrawal) to write into.

    Returns
    -------
    StorageResult
        SoC and withdrawal per battery and interval, kWh.

    Raises
    ------
    ValueError
        For a load that is not (B, T) or is negative, negative capacity or contract power, or a bad ``out``.
    """
    load = np.asarray(load_kwh, dtype=float)
    if load.ndim != 2:
        raise ValueError(f"load_kwh must be (batteries × intervals), got shape {load.shape}")
    n_b, n_t = load.shape
    if (load < 0).any():
        b, t = np.argwhere(load < 0)[0]
        raise ValueError(f"load_kwh[{b}, {t}] = {load[b, t]} is negative")
    allowance = np.broadcast_to(np.asarray(charge_allowance_kwh, dtype=float), (n_b, n_t))
    capacity = _per_battery(capacity_kwh, n_b, "capacity_kwh")
    contract = _per_battery(contract_kw, n_b, "contract_kw")
    low = capacity * spec.soc_min_pct / 100.0
    high = capacity * spec.soc_max_pct / 100.0
    start = (
        low
        if start_soc_kwh is None
        else np.clip(np.broadcast_to(np.asarray(start_soc_kwh, float), (n_b,)), low, high)
    )
    eta_c, eta_d = spec.charge_efficiency, spec.discharge_efficiency
    inverter_kwh = spec.inverter_kw * interval_h

    # outputs are time-major (T × B, C order) so that each time step is one contiguous row
    if out is not None:
        soc, withdrawal = out
        if (
            soc.shape != (n_t, n_b)
            or withdrawal.shape != (n_t, n_b)
            or not (soc.flags.c_contiguous and withdrawal.flags.c_contiguous)
        ):
            raise ValueError(f"out must be two C-ordered arrays of shape {(n_t, n_b)}")
    else:
        soc = np.empty((n_t, n_b))
        withdrawal = np.empty((n_t, n_b))
    headroom = np.maximum(contract * interval_h, 0.0)
    prev = np.asarray(start, dtype=float).copy()
    for lo_t in range(0, n_t, _BLOCK):  # blocks of time keep the temporaries in cache
        hi_t = min(lo_t + _BLOCK, n_t)
        load_t, allow_t = load[:, lo_t:hi_t].T, allowance[:, lo_t:hi_t].T
        if (
            not load_t.flags.c_contiguous
        ):  # battery-major input: one transposing copy per block, then contiguous
            load_t = np.ascontiguousarray(load_t)
        if allow_t.strides[1] != 0 and not allow_t.flags.c_contiguous:
            allow_t = np.ascontiguousarray(allow_t)
        u = np.empty((hi_t - lo_t, n_b))
        np.subtract(headroom, load_t, out=u)  # contract headroom …
        np.maximum(u, 0.0, out=u)
        np.minimum(u, allow_t, out=u)  # … the PV surplus share …
        np.minimum(u, inverter_kwh, out=u)  # … and the inverter
        u *= eta_c  # charging step (SoC gain)
        d_step = np.empty_like(u)
        np.minimum(load_t, inverter_kwh, out=d_step)
        d_step /= -eta_d  # discharging step (SoC loss)
        np.copyto(u, d_step, where=allow_t <= 0)
        block = soc[lo_t:hi_t]
        clamped_cumsum(u, prev, low, high, out=block)
        delta = u  # reuse: ΔE of each interval
        delta[0] = block[0] - prev
        np.subtract(block[1:], block[:-1], out=delta[1:])
        prev = block[-1].copy()
        w = withdrawal[lo_t:hi_t]  # load + ΔE⁺/η_c − ΔE⁻·η_d
        np.maximum(delta, 0.0, out=d_step)
        np.add(load_t, d_step / eta_c, out=w)
        np.minimum(delta, 0.0, out=d_step)
        d_step *= eta_d
        w += d_step
        np.maximum(w, 0.0, out=w)  # rounding only: d ≤ load by construction
    return StorageResult(soc.T, withdrawal.T, np.asarray(start, dtype=float).copy(), eta_c, eta_d)


def charge_allowance_kwh(pv_kwh: ArrayLike, loads_kwh: ArrayLike) -> np.ndarray:
    """Per-battery charging allowance of the case study: ``max(PV_t − Σ_b load_b,t, 0) / n``.

    Parameters
    ----------
    pv_kwh : array_like
        The building's PV production per interval, (T,), kWh.
    loads_kwh : array_like
        The n flats' loads, (n, T), kWh.

    Returns
    -------
    numpy.ndarray
        The allowance per interval, (T,), kWh.
    """
    loads = np.atleast_2d(np.asarray(loads_kwh, dtype=float))
    surplus = np.asarray(pv_kwh, dtype=float) - loads.sum(axis=0)
    return np.maximum(surplus, 0.0) / loads.shape[0]


def building_heuristic(
    pv_kwh: ArrayLike,
    loads_kwh: ArrayLike,
    capacity_kwh: ArrayLike,
    contract_kw: ArrayLike,
    spec: BatterySpec = BatterySpec(capacity_kwh=0.0),
    interval_h: float = QUARTER_H,
) -> StorageResult:
    """The heuristic for one building whose PV surplus is shared equally by its flats' batteries.

    Parameters
    ----------
    pv_kwh : array_like
        PV production per interval, (T,), kWh.
    loads_kwh : array_like
        The n flats' loads, (n, T), kWh.
    capacity_kwh : array_like
        Battery capacity per flat, kWh.
    contract_kw : array_like
        Contract power per flat, kW.
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    interval_h : float, default 0.25
        Interval length, hours.

    Returns
    -------
    StorageResult
        :func:`heuristic_dispatch` with :func:`charge_allowance_kwh`.
    """
    loads = np.atleast_2d(np.asarray(loads_kwh, dtype=float))
    return heuristic_dispatch(
        loads,
        charge_allowance_kwh(pv_kwh, loads),
        capacity_kwh,
        contract_kw,
        spec=spec,
        interval_h=interval_h,
    )
