"""The flats' quarter-hour loads of a case study, by the case's load model (``loads:`` in the case file).

Three models, each giving ``(flats, intervals)`` kWh on the case year's quarter hours (Europe/Rome):

``arera`` (the default)
    Each flat takes ARERA's mean hourly withdrawal of a domestic customer of the case's region and of the
    flat's contract-power class (:func:`power_class_of`), month by month and day type by day type (weekday,
    Saturday, Sunday/holiday from the Italian calendar of the case year), upsampled hour → quarter hour
    keeping each hour's energy (:func:`condivisa.engines.household.household_profile`), then scaled so that
    **each civil day's energy is the case file's**:

        E_d = A + C_July · Ku_m(d)      [kWh/day]

    (A appliances, C_July the July air conditioning, Ku_m the month's coefficient): the same daily, monthly
    and yearly energies as the synthetic model, only the shape within the day differs. Appliances and air
    conditioning share the ARERA shape (the shape is scaled to the day's total): the ARERA mean customer's
    month-by-month shape already holds the cooling and heating its customers run, and the case files give
    only daily energies, so a separate AC shape would be an invention. The region is ``location.region``,
    else the ISTAT region of ``location.municipality`` (:func:`condivisa.domain.municipalities.
    find_municipality`); a combination the ARERA table lacks falls back as
    :func:`condivisa.formats.arera_profiles.arera_shape_source` documents, with a note.
``synthetic``
    condivisa's modelled shapes (:func:`condivisa.engines.loads.household_loads_kwh`), same daily energies.
``measured``
    Each flat's typical day per month from its POD's stored readings (:mod:`condivisa.casestudy.
    measured_loads`), not scaled: the energies are the measured ones.

References
----------
.. [1] ARERA, mean hourly withdrawal of domestic customers by region, contract power class, month and day
   type (via RSE's CACER simulator, BSD 3-Clause).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from condivisa.casestudy.casefile import Case, CaseError
from condivisa.domain.municipalities import MunicipalityError, find_municipality
from condivisa.engines.household import DAY_TYPES, days_of, household_profile
from condivisa.engines.loads import household_loads_kwh
from condivisa.formats.arera_profiles import (
    POWER_CLASSES,
    arera_shape_source,
    load_arera_table,
    match_region,
)
from condivisa.kernel.timegrid import year_quarter_hours

ARERA_SOURCE = (
    "ARERA mean hourly withdrawal of domestic customers by region, contract power class, month and day type "
    "(via RSE's CACER simulator)"
)
SYNTHETIC_SOURCE = "condivisa's modelled shapes (engines.loads): morning and evening peaks, AC by season"
#: upper bound (kW, included) of each ARERA class of :data:`~condivisa.formats.arera_profiles.POWER_CLASSES`
CLASS_UPPER_KW: tuple[float, ...] = (1.5, 3.0, 4.5, 6.0, float("inf"))


@dataclass
class FlatLoads:
    """The flats' loads and how they were modelled (``summary.json``'s ``load_model``)."""

    loads_kwh: np.ndarray  # (flats, intervals) kWh per quarter hour
    info: dict
    notes: list[str] = field(default_factory=list)


def with_load_model(case: Case, loads: str | None = None, database: str | None = None) -> Case:
    """The case with a command line's ``--loads`` and ``--database`` overriding the file's."""
    changes: dict = {}
    if loads is not None:
        changes["loads"] = loads
    if database is not None:
        changes["measured_database"] = database
    return dataclasses.replace(case, **changes) if changes else case


def power_class_of(contract_power_kw: float) -> str:
    """The ARERA class of a contract power: ``0-1.5`` for P ≤ 1.5 kW, ``1.5-3`` for 1.5 < P ≤ 3, ``3-4.5``,
    ``4.5-6``, ``>6`` (the table's ``1.5<P<=3`` …: upper bounds included, so 3.0 kW is ``1.5-3``)."""
    for label, upper in zip(POWER_CLASSES, CLASS_UPPER_KW, strict=True):
        if contract_power_kw <= upper + 1e-9:
            return label
    return POWER_CLASSES[-1]


def case_days(case: Case) -> list[dt.date]:
    """The civil days of the case year."""
    return days_of(dt.date(case.year, 1, 1), dt.date(case.year + 1, 1, 1))


def daily_energy_kwh(case: Case, days: list[dt.date]) -> np.ndarray:
    """Each flat's energy of each day, ``E_d = A + C_July · Ku_m(d)`` kWh, shape ``(flats, days)``."""
    ku = np.asarray(case.ac_usage_coefficient, dtype=float)[[d.month - 1 for d in days]]
    appliances = np.array([f.appliances_kwh_per_day for f in case.flats])
    ac_july = np.array([f.ac_july_kwh_per_day for f in case.flats])
    return appliances[:, None] + ac_july[:, None] * ku[None, :]


def case_region(case: Case) -> tuple[str, str]:
    """The ARERA region of the case and where it came from (``location.region`` or the municipality)."""
    if case.region is not None:
        return case.region, "location.region"
    if case.municipality is None:
        raise CaseError(
            "location.region: missing (give location.region or location.municipality for loads: arera)"
        )
    try:
        town = find_municipality(case.municipality)
    except MunicipalityError as exc:
        raise CaseError(f"location.municipality: {exc}") from None
    try:  # ISTAT writes some regions bilingual, e.g. "Trentino-Alto Adige/Südtirol"
        region = match_region(town.region.split("/")[0])
    except ValueError as exc:
        raise CaseError(f"location.municipality: region of {town.label()}: {exc}") from None
    return region, f"location.municipality {town.label()}"


def arera_shapes(table: pd.DataFrame, region: str, power_class: str) -> tuple[np.ndarray, list[str]]:
    """The ``(12 months, 3 day types, 24 hours)`` ARERA shapes of one region and class, kWh per hour, and a
    note for each (month, day type) the table lacks and took from a fallback."""
    shapes = np.zeros((12, len(DAY_TYPES), 24))
    fallbacks = []
    for m in range(1, 13):
        for k, kind in enumerate(DAY_TYPES):
            shapes[m - 1, k], how = arera_shape_source(table, region, power_class, m, kind)
            if how != "exact":
                fallbacks.append(f"{region} {power_class} kW month {m} {kind}: {how}")
    return shapes, fallbacks


def _on_index(profile_kwh: np.ndarray, case: Case, index: pd.DatetimeIndex, what: str) -> np.ndarray:
    """A flat's profile on the case year's quarter hours laid onto ``index`` (the production's)."""
    series = pd.Series(profile_kwh, index=year_quarter_hours(case.year))
    out = series.reindex(index).to_numpy()
    if np.isnan(out).any():
        raise ValueError(f"{what}: the load profile does not cover the production's quarter hours")
    return out


def arera_loads(case: Case, index: pd.DatetimeIndex, table: pd.DataFrame | None = None) -> FlatLoads:
    """Stage 1: each flat's ARERA profile (region × contract-power class, month × day type), each day scaled
    to ``A + C_July · Ku_m`` kWh (see the module docstring)."""
    region, region_from = case_region(case)
    table = load_arera_table() if table is None else table
    days = case_days(case)
    targets = daily_energy_kwh(case, days)
    classes = {f.id: power_class_of(f.contract_power_kw) for f in case.flats}
    shapes: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for label in sorted(set(classes.values()), key=POWER_CLASSES.index):
        shapes[label], fallbacks = arera_shapes(table, region, label)
        notes += [f"ARERA profile {f}" for f in fallbacks]
    start, end = days[0], days[-1] + dt.timedelta(days=1)
    loads = np.vstack(
        [
            _on_index(
                household_profile(shapes[classes[f.id]], start, end, energy_kwh=targets[i], per="day"),
                case,
                index,
                f"flats[{i}]",
            )
            for i, f in enumerate(case.flats)
        ]
    )
    info = {
        "name": "arera",
        "source": ARERA_SOURCE,
        "region": region,
        "region_from": region_from,
        "classes": classes,
        "daily_energy": "appliances_kwh_per_day + ac_july_kwh_per_day × ac_usage_coefficient[month]",
        "fallbacks": [n.removeprefix("ARERA profile ") for n in notes],
    }
    return FlatLoads(loads, info, notes)


def synthetic_loads(case: Case, index: pd.DatetimeIndex) -> FlatLoads:
    """Stage 1: the modelled shapes of :func:`condivisa.engines.loads.household_loads_kwh`, unchanged."""
    flats = [
        {
            "id": f.id,
            "appliances_kwh_per_day": f.appliances_kwh_per_day,
            "ac_july_kwh_per_day": f.ac_july_kwh_per_day,
        }
        for f in case.flats
    ]
    loads = household_loads_kwh(case.year, flats, case.ac_usage_coefficient).reindex(index).to_numpy().T
    info = {
        "name": "synthetic",
        "source": SYNTHETIC_SOURCE,
        "daily_energy": "appliances_kwh_per_day + ac_july_kwh_per_day × ac_usage_coefficient[month]",
    }
    return FlatLoads(loads, info)


def describe(info: dict) -> str:
    """One line saying which load model a ``summary.json``'s ``load_model`` is (for the command line)."""
    name = info.get("name", "?")
    if name == "arera":
        counts = Counter(info.get("classes", {}).values())
        classes = ", ".join(
            f"{c} kW ×{n}" for c, n in sorted(counts.items(), key=lambda kv: POWER_CLASSES.index(kv[0]))
        )
        return f"loads: ARERA profiles of {info.get('region')} ({info.get('region_from')}), classes {classes}"
    if name == "measured":
        return f"loads: measured typical days from {info.get('database')}"
    return f"loads: {name} ({info.get('source', '')})"
