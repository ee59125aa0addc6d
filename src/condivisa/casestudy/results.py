"""What a case study produces: each run's year 1 (:class:`CaseRun`) and the whole study (:class:`CaseStudy`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from condivisa.casestudy.casefile import Case
from condivisa.engines import finance, sizing


@dataclass
class CaseRun:
    """Year-1 quarter-hour results of one case (flats × intervals, kWh)."""

    name: str
    capacity_kwh_per_flat: float
    controller: str  # "none", "heuristic", "optimal"
    withdrawal_kwh: np.ndarray
    soc_kwh: np.ndarray
    shared_kwh: np.ndarray
    shared_by_year_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_purchase_by_year_eur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    settled_hourly: dict = field(default_factory=dict)  # totals of settle(interval="hour") on this year


@dataclass
class CaseStudy:
    case: Case
    index: pd.DatetimeIndex
    pv_kwh: np.ndarray
    loads_kwh: np.ndarray
    price_eur_per_kwh: np.ndarray
    zonal_price_eur_per_mwh: float
    tip_eur_per_mwh: float
    valorisation_eur_per_mwh: float
    runs: list[CaseRun]
    economics: list[finance.Economics]
    cash_flows: dict[tuple[str, str], finance.CashFlows]
    ideal_kit_cost: list[dict]
    sizing: list[sizing.SizingRow]
    dispatch_gain: dict
    notes: list[str]
    load_model: dict = field(default_factory=dict)  # how the flats' loads were modelled (load_models.py)
