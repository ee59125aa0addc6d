"""The battery dispatch LP of one window, built once with scipy.sparse and solved with HiGHS (``highspy``).

Variables per flat b and interval t (kWh): charge c ≥ 0, discharge d ≥ 0, state of charge E; per interval
the shared energy s ≥ 0. Maximise the money the dispatch can change,

    Σ_t (premium_t + valorisation_t) · s_t  −  Σ_{b,t} price_t · (load_{b,t} + c_{b,t} − d_{b,t})

(premium and valorisation on shared energy, minus the energy the flats buy; the plant's sale is fixed
because all PV is injected), subject to the same physical limits as the heuristic:

    E_{b,t} = E_{b,t−1} + η_c·c_{b,t} − d_{b,t}/η_d,          E_min,b ≤ E_{b,t} ≤ E_max,b
    0 ≤ c_{b,t} ≤ min(P_inv·Δt, (P_contract,b·Δt − load_{b,t})⁺)   (inverter and contract power)
    0 ≤ d_{b,t} ≤ min(P_inv·Δt, load_{b,t})                       (no export from a battery)
    s_t ≤ PV_t,  s_t ≤ Σ_b (load_{b,t} + c_{b,t} − d_{b,t})         (TIAD shared energy: min of the two)

At the optimum s_t = min(PV_t, Σ withdrawal_t), so the objective equals the value computed by
:func:`condivisa.engines.dispatch.dispatch_value_eur` with :func:`condivisa.engines.sharing.shared_energy_kwh`.
Every heuristic trajectory is feasible here, hence optimum ≥ heuristic (over the same horizon, same start).

The model is assembled with scipy.sparse (no per-variable Python loop) and passed whole to HiGHS with
``passModel``; in a rolling horizon (:func:`condivisa.engines.dispatch.rolling_dispatch`) it is built once
and only costs and bounds change between windows, so HiGHS's dual simplex warm-starts from the previous
basis.
"""

from __future__ import annotations

import os
import sys
import time

import highspy
import numpy as np
import scipy.sparse as sp

from condivisa.engines.storage import QUARTER_H, BatterySpec


def charge_bounds(
    loads: np.ndarray, contract_kw: np.ndarray, spec: BatterySpec, interval_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds of charge (inverter and contract power) and discharge (inverter, no export), kWh.

    ``c_max = min(P_inv·Δt, (P_contract,b·Δt − load_{b,t})⁺)``, ``d_max = min(P_inv·Δt, load_{b,t})``.
    """
    inverter_kwh = spec.inverter_kw * interval_h
    c_max = np.minimum(np.maximum(contract_kw[:, None] * interval_h - loads, 0.0), inverter_kwh)
    d_max = np.minimum(loads, inverter_kwh)
    return c_max, d_max


def _quiet_highs() -> highspy.Highs:
    """A Highs instance without its copyright banner (printed by the C++ constructor on file
    descriptor 1, before any option can be set): stdout is pointed at /dev/null for the constructor."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    h.setOptionValue("output_flag", False)
    return h


class WindowModel:
    """The LP of one window, built once and re-solved for every window of the same length: only costs,
    bounds and right-hand sides change, so HiGHS warm-starts from the previous window's basis."""

    def __init__(self, n_b: int, n_t: int, spec: BatterySpec, warm_start: bool = True) -> None:
        self.n_b, self.n_t, self.spec = n_b, n_t, spec
        nbt = n_b * n_t
        eta_c, eta_d = spec.charge_efficiency, spec.discharge_efficiency
        idx = np.arange(nbt).reshape(n_b, n_t)
        # columns: c (b·T + t), d (nbt + …), E (2·nbt + …), s (3·nbt + t)
        self.c_col, self.d_col, self.e_col = idx, nbt + idx, 2 * nbt + idx
        self.n_col, self.n_row = 3 * nbt + n_t, nbt + n_t
        # SoC rows (b·T + t): E_t − E_{t−1} − η_c c_t + d_t/η_d = 0 (t = 0: = E_start)
        rows = [idx.ravel(), idx.ravel(), idx.ravel(), idx[:, 1:].ravel()]
        cols = [self.e_col.ravel(), self.c_col.ravel(), self.d_col.ravel(), self.e_col[:, :-1].ravel()]
        vals = [np.ones(nbt), np.full(nbt, -eta_c), np.full(nbt, 1.0 / eta_d), -np.ones(n_b * (n_t - 1))]
        # shared rows (nbt + t): s_t − Σ_b c_{b,t} + Σ_b d_{b,t} ≤ Σ_b load_{b,t}
        t_rows = nbt + np.tile(np.arange(n_t), n_b)
        rows += [nbt + np.arange(n_t), t_rows, t_rows]
        cols += [3 * nbt + np.arange(n_t), self.c_col.ravel(), self.d_col.ravel()]
        vals += [np.ones(n_t), -np.ones(nbt), np.ones(nbt)]
        matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_row, self.n_col),
        )
        self.nnz = matrix.nnz
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_col, self.n_row
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = (
            np.zeros(self.n_col),
            np.zeros(self.n_col),
            np.zeros(self.n_col),
        )
        lp.row_lower_, lp.row_upper_ = np.zeros(self.n_row), np.zeros(self.n_row)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = (
            matrix.indptr,
            matrix.indices,
            matrix.data,
        )
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n_col, self.n_row
        self.highs = _quiet_highs()
        if warm_start:
            self.highs.setOptionValue("presolve", "off")  # keeps the basis for the next window's warm start
        self.highs.passModel(lp)
        self.all_cols = np.arange(self.n_col, dtype=np.int32)
        self.all_rows = np.arange(self.n_row, dtype=np.int32)

    def solve(
        self,
        pv_kwh: np.ndarray,
        loads_kwh: np.ndarray,
        capacity_kwh: np.ndarray,
        contract_kw: np.ndarray,
        price_eur_per_kwh: np.ndarray,
        incentive_eur_per_kwh: np.ndarray,
        start_soc_kwh: np.ndarray,
        interval_h: float = QUARTER_H,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        """Solve for one window's data (arguments as :func:`solve_window`).

        Returns
        -------
        charge_kwh, discharge_kwh, soc_kwh : numpy.ndarray
            c, d and E, (B, T), kWh.
        objective_eur : float
            The objective, € (including the constant −Σ price·load).
        seconds : float
            Solver time, s.
        """
        spec, n_b, n_t = self.spec, self.n_b, self.n_t
        nbt = n_b * n_t
        c_max, d_max = charge_bounds(loads_kwh, contract_kw, spec, interval_h)
        low = capacity_kwh * spec.soc_min_pct / 100.0
        high = capacity_kwh * spec.soc_max_pct / 100.0
        price = np.broadcast_to(price_eur_per_kwh, (n_t,))
        cost = np.concatenate(
            [
                np.tile(price, n_b),
                -np.tile(price, n_b),
                np.zeros(nbt),
                -np.broadcast_to(incentive_eur_per_kwh, (n_t,)),
            ]
        )
        lower = np.concatenate([np.zeros(2 * nbt), np.repeat(low, n_t), np.zeros(n_t)])
        upper = np.concatenate([c_max.ravel(), d_max.ravel(), np.repeat(high, n_t), np.maximum(pv_kwh, 0.0)])
        soc_rhs = np.zeros((n_b, n_t))
        soc_rhs[:, 0] = start_soc_kwh
        row_lower = np.concatenate([soc_rhs.ravel(), np.full(n_t, -highspy.kHighsInf)])
        row_upper = np.concatenate([soc_rhs.ravel(), loads_kwh.sum(axis=0)])
        h = self.highs
        h.changeColsCost(self.n_col, self.all_cols, cost)
        h.changeColsBounds(self.n_col, self.all_cols, lower, upper)
        # highspy 1.16's stubs lack changeRowsBounds, which the extension module has
        h.changeRowsBounds(self.n_row, self.all_rows, row_lower, row_upper)  # type: ignore[attr-defined]
        started = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - started
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS did not find the optimum: {h.modelStatusToString(status)}")
        x = np.asarray(h.getSolution().col_value)
        objective = -h.getInfo().objective_function_value - float(np.sum(price * loads_kwh))
        return (
            np.clip(x[self.c_col], 0, None),
            np.clip(x[self.d_col], 0, None),
            x[self.e_col],
            objective,
            seconds,
        )


def solve_window(
    pv_kwh: np.ndarray,
    loads_kwh: np.ndarray,
    capacity_kwh: np.ndarray,
    contract_kw: np.ndarray,
    price_eur_per_kwh: np.ndarray,
    incentive_eur_per_kwh: np.ndarray,
    start_soc_kwh: np.ndarray,
    spec: BatterySpec,
    interval_h: float = QUARTER_H,
    model: WindowModel | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, tuple[int, int, int], float]:
    """Build (or reuse ``model``) and solve the LP of the module docstring over the given intervals.

    Parameters
    ----------
    pv_kwh : numpy.ndarray
        PV production per interval, (T,), kWh.
    loads_kwh : numpy.ndarray
        Each flat's load, (B, T), kWh.
    capacity_kwh, contract_kw : numpy.ndarray
        Battery capacity (kWh) and contract power (kW) per flat, (B,).
    price_eur_per_kwh, incentive_eur_per_kwh : numpy.ndarray
        Retail price and premium + valorisation per interval, €/kWh.
    start_soc_kwh : numpy.ndarray
        SoC before the first interval, (B,), kWh.
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    interval_h : float, default 0.25
        Interval length, hours.
    model : WindowModel, optional
        A model of the same shape to warm-start from.

    Returns
    -------
    charge_kwh, discharge_kwh, soc_kwh : numpy.ndarray
        c, d and E, (B, T), kWh.
    objective_eur : float
        The objective, € (including the constant −Σ price·load).
    size : tuple of int
        Columns, rows and non-zeros of the model.
    seconds : float
        Solver time, s.

    Raises
    ------
    RuntimeError
        When HiGHS does not reach the optimum.

    References
    ----------
    .. [1] Q. Huangfu, J. A. J. Hall, "Parallelizing the dual revised simplex method", Math. Prog.
       Comp. 10 (2018) 119–142 (HiGHS).
    """
    n_b, n_t = loads_kwh.shape
    if model is None or (model.n_b, model.n_t) != (n_b, n_t):
        model = WindowModel(n_b, n_t, spec, warm_start=False)
    c, d, e, objective, seconds = model.solve(
        pv_kwh,
        loads_kwh,
        capacity_kwh,
        contract_kw,
        price_eur_per_kwh,
        incentive_eur_per_kwh,
        start_soc_kwh,
        interval_h,
    )
    return c, d, e, objective, (model.n_col, model.n_row, model.nnz), seconds
