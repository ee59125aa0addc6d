"""Read a case-study file (the shape of ``shared/cases/is-corrias.yaml``) into plain dataclasses.

Errors name the file and the key, e.g. ``case.yaml: flats[3].contract_power_kw: 'three' is not a number``.

The file is strict: a key the parser does not know is an error naming its path and the closest known key
(``flats[2].contract_pwer_kw: unknown key (did you mean contract_power_kw?)``), and so is a ``loads`` value that
is not a load model.

``loads`` (top level) chooses how each flat's quarter-hour consumption is modelled
(:mod:`condivisa.casestudy.load_models`): ``arera`` (the default), ``synthetic`` or ``measured``; ``measured``
reads the flats' ``pod`` readings from the store named by ``measured.database``.

Battery kit prices (``storage_options.options[].kit_cost_eur``) are taken as VAT-included, as the Is Corrias
source quotes them; only when a file gives ``economics.vat_storage_pct`` (kit prices net of VAT) is that
percentage added on top of each kit. It defaults to 0.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condivisa.casestudy.case_keys import (
    COMMON_KEYS,
    ECONOMICS_KEYS,
    FLAT_KEYS,
    LOAD_MODELS,
    LOCATION_KEYS,
    MEASURED_KEYS,
    MISSING_MONTHS,
    OPTION_KEYS,
    PLANT_KEYS,
    SCENARIO_KEYS,
    STORAGE_KEYS,
    TOP_KEYS,
)
from condivisa.domain.community import ConfigurationType
from condivisa.domain.config import read_yaml_file
from condivisa.domain.strict_keys import unknown_key
from condivisa.formats.arera_profiles import match_region


class CaseError(ValueError):
    """The case file is malformed; the message names the key and the value."""


@dataclass(frozen=True)
class Flat:
    id: str
    contract_power_kw: float
    appliances_kwh_per_day: float
    ac_july_kwh_per_day: float
    household: str = ""
    area_m2: float | None = None
    pod: str | None = None  # the flat's POD, whose stored readings ``loads: measured`` uses


@dataclass(frozen=True)
class StorageOption:
    capacity_kwh: float
    kit_cost_eur: float
    battery_cost_eur: float | None = None
    inverter_cost_eur: float | None = None


@dataclass(frozen=True)
class PriceScenario:
    name: str
    zonal_price_eur_per_mwh: float
    premium_tariff_eur_per_mwh: float | None = None  # as stated in the file; recomputed with the TIP formula


@dataclass(frozen=True)
class Case:
    name: str
    configuration: ConfigurationType
    latitude: float
    longitude: float
    elevation_m: float
    market_zone: str | None
    year: int
    peak_power_kw: float
    tilt_deg: float
    azimuth_deg_pvgis: float
    system_losses_pct: float
    grant_fraction: float
    monthly_production_kwh: tuple[float, ...] | None
    flats: tuple[Flat, ...]
    ac_usage_coefficient: tuple[float, ...]
    energy_price_eur_per_kwh: tuple[float, ...]
    premium_tariff_eur_per_mwh: float | None
    soc_min_pct: float
    soc_max_pct: float
    charge_efficiency: float
    discharge_efficiency: float
    inverter_kw: float
    storage_options: tuple[StorageOption, ...]
    horizon_years: int
    discount_rate: float
    pv_cost_eur_per_kw: float
    maintenance_eur_per_year: float
    pv_degradation_per_year: float
    battery_degradation_per_year: float
    vat_storage_pct: float  # % added on top of kit prices; 0 (the default) = kit prices already include VAT
    scenarios: tuple[PriceScenario, ...]
    historical_prices: dict[str, dict[int, float]] = field(default_factory=dict)
    weather_file: Path | None = (
        None  # a PVGIS TMY or hourly export (pv_plant.pvgis_file), relative to the case file
    )
    loads: str = "arera"  # the load model, one of LOAD_MODELS
    municipality: str | None = None  # location.municipality (gives the region when location.region is absent)
    region: str | None = None  # location.region, spelled as in the ARERA table
    measured_database: str | None = None  # measured.database; None: the platform's default database
    missing_months: str = "error"  # measured.missing_months, one of MISSING_MONTHS

    @property
    def pv_investment_eur(self) -> float:
        return self.pv_cost_eur_per_kw * self.peak_power_kw

    @property
    def zonal_price_eur_per_mwh(self) -> float | None:
        """The year's zonal price of the market zone, when the file gives it."""
        table = self.historical_prices.get(self.market_zone or "", {})
        return table.get(self.year)


def _known_keys(raw: Any, allowed: Iterable[str], where: str) -> None:
    """Refuse a key of the mapping ``raw`` that is not in ``allowed``, naming the closest allowed one
    (:func:`condivisa.domain.strict_keys.unknown_key`, as for the community file); ``where`` ends with its dot."""
    if not isinstance(raw, dict):
        return
    problem = unknown_key(raw, allowed, where)
    if problem:
        raise CaseError(problem)


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    """``value`` if it is one of ``allowed``, else an error with the closest one."""
    text = str(value)
    if text in allowed:
        return text
    close = difflib.get_close_matches(text, allowed, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise CaseError(f"{where}: {value!r} is not one of {', '.join(allowed)}{hint}")


def _get(raw: dict, key: str, where: str) -> Any:
    if not isinstance(raw, dict) or key not in raw:
        raise CaseError(f"{where}{key}: missing")
    return raw[key]


def _num(value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CaseError(f"{where}: {value!r} is not a number")
    v = float(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise CaseError(f"{where}: {v} is outside {low}–{high}")
    return v


def _nums(value: Any, where: str, n: int | None = None, low: float | None = 0.0) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise CaseError(f"{where}: expected a list, got {value!r}")
    if n is not None and len(value) != n:
        raise CaseError(f"{where}: expected {n} values, got {len(value)}")
    return tuple(_num(v, f"{where}[{i}]", low) for i, v in enumerate(value))


def _flats(raw: dict) -> tuple[Flat, ...]:
    """``flats``: at least one, unique ids, contract power ≥ 0.1 kW, energies ≥ 0."""
    flats = []
    for i, f in enumerate(_get(raw, "flats", "") or []):
        w = f"flats[{i}]."
        _known_keys(f, FLAT_KEYS, w)
        pod = f.get("pod") if isinstance(f, dict) else None
        flats.append(
            Flat(
                id=str(_get(f, "id", w)),
                contract_power_kw=_num(_get(f, "contract_power_kw", w), w + "contract_power_kw", 0.1),
                appliances_kwh_per_day=_num(
                    _get(f, "appliances_kwh_per_day", w), w + "appliances_kwh_per_day", 0
                ),
                ac_july_kwh_per_day=_num(f.get("ac_july_kwh_per_day", 0.0), w + "ac_july_kwh_per_day", 0),
                household=str(f.get("household", "")),
                area_m2=f.get("area_m2"),
                pod=None if pod is None else str(pod).strip(),
            )
        )
    if not flats:
        raise CaseError("flats: at least one flat is needed")
    ids = [f.id for f in flats]
    if len(set(ids)) != len(ids):
        raise CaseError(f"flats: duplicate id(s) {sorted({x for x in ids if ids.count(x) > 1})}")
    pods = [f.pod for f in flats if f.pod]
    if len(set(pods)) != len(pods):
        raise CaseError(f"flats: duplicate pod(s) {sorted({x for x in pods if pods.count(x) > 1})}")
    return tuple(flats)


def _storage_options(storage: dict) -> tuple[StorageOption, ...]:
    """``storage_options.options``: capacities and kit costs ≥ 0."""
    options = []
    for i, o in enumerate(storage.get("options") or []):
        w = f"storage_options.options[{i}]."
        _known_keys(o, OPTION_KEYS, w)
        options.append(
            StorageOption(
                capacity_kwh=_num(_get(o, "capacity_kwh", w), w + "capacity_kwh", 0.0),
                kit_cost_eur=_num(_get(o, "kit_cost_eur", w), w + "kit_cost_eur", 0.0),
                battery_cost_eur=o.get("battery_cost_eur"),
                inverter_cost_eur=o.get("inverter_cost_eur"),
            )
        )
    return tuple(options)


def _scenarios(eco: dict) -> tuple[PriceScenario, ...]:
    """``economics.price_scenarios``: at least one, each with a zonal price and optionally a stated TIP."""
    scenarios = []
    for i, s in enumerate(eco.get("price_scenarios") or []):
        w = f"economics.price_scenarios[{i}]."
        _known_keys(s, SCENARIO_KEYS, w)
        stated = s.get("premium_tariff_eur_per_mwh")
        scenarios.append(
            PriceScenario(
                str(_get(s, "name", w)),
                _num(_get(s, "zonal_price_eur_per_mwh", w), w + "zonal_price_eur_per_mwh"),
                None if stated is None else _num(stated, w + "premium_tariff_eur_per_mwh", 0.0),
            )
        )
    if not scenarios:
        raise CaseError("economics.price_scenarios: at least one scenario is needed")
    return tuple(scenarios)


def _history(eco: dict) -> dict[str, dict[int, float]]:
    """``economics.historical_annual_price_eur_per_mwh``: zone → year → €/MWh."""
    return {
        str(zone): {
            int(y): _num(v, f"economics.historical_annual_price_eur_per_mwh.{zone}.{y}")
            for y, v in table.items()
        }
        for zone, table in (eco.get("historical_annual_price_eur_per_mwh") or {}).items()
    }


def _weather_file(plant: dict, base_dir: Path | None) -> Path | None:
    """``pv_plant.pvgis_file``, resolved against the case file's folder; it must exist."""
    weather = plant.get("pvgis_file")
    if weather is None:
        return None
    path = Path(str(weather))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise CaseError(f"pv_plant.pvgis_file: {str(weather)!r} not found")
    return path


def _check_keys(raw: dict) -> None:
    """Every mapping of the file has only keys the parser knows (:func:`_known_keys`)."""
    _known_keys(raw, TOP_KEYS, "")
    for key, allowed in (
        ("location", LOCATION_KEYS),
        ("pv_plant", PLANT_KEYS),
        ("storage_options", STORAGE_KEYS),
        ("economics", ECONOMICS_KEYS),
        ("measured", MEASURED_KEYS),
    ):
        _known_keys(raw.get(key), allowed, f"{key}.")
    _known_keys((raw.get("storage_options") or {}).get("common"), COMMON_KEYS, "storage_options.common.")


def _region(loc: dict) -> str | None:
    """``location.region``, spelled as in the ARERA table (:func:`~condivisa.formats.arera_profiles.match_region`)."""
    region = loc.get("region")
    if region is None:
        return None
    try:
        return match_region(str(region))
    except ValueError as exc:
        raise CaseError(f"location.region: {exc}") from None


def _measured(raw: dict) -> tuple[str | None, str]:
    """``measured.database`` (a database URL, or None) and ``measured.missing_months``."""
    measured = raw.get("measured") or {}
    if not isinstance(measured, dict):
        raise CaseError(f"measured: expected a mapping, got {measured!r}")
    database = measured.get("database")
    missing = _choice(measured.get("missing_months", "error"), MISSING_MONTHS, "measured.missing_months")
    return (None if database is None else str(database)), missing


def case_from_dict(raw: dict, name: str = "case", base_dir: Path | None = None) -> Case:
    """Build a :class:`Case` from the parsed YAML mapping; ``base_dir`` resolves ``pv_plant.pvgis_file``.

    The plant needs ``monthly_production_kwh`` (clear-sky shape scaled to it), ``pvgis_file`` (PVGIS
    weather through pvlib) or both (weather shape scaled to the monthly energies). Every error names the key
    (``flats[2].contract_power_kw: 0.0 is outside 0.1–None``)."""
    if not isinstance(raw, dict):
        raise CaseError("expected a mapping at the top level")
    _check_keys(raw)
    try:
        configuration = ConfigurationType(str(raw.get("configuration", "AUC")))
    except ValueError:
        raise CaseError(
            f"configuration: {raw.get('configuration')!r} is not one of {[c.value for c in ConfigurationType]}"
        ) from None
    loc, plant = _get(raw, "location", ""), _get(raw, "pv_plant", "")
    flats = _flats(raw)
    common = (raw.get("storage_options") or {}).get("common") or {}
    eco = _get(raw, "economics", "")
    premium = raw.get("premium_tariff_eur_per_mwh")
    weather_file = _weather_file(plant, base_dir)
    monthly = plant.get("monthly_production_kwh")
    if monthly is None and weather_file is None:
        raise CaseError("pv_plant.monthly_production_kwh: missing (or give pv_plant.pvgis_file)")
    database, missing_months = _measured(raw)
    municipality = loc.get("municipality")
    return Case(
        name=name,
        configuration=configuration,
        latitude=_num(_get(loc, "latitude", "location."), "location.latitude", -90, 90),
        longitude=_num(_get(loc, "longitude", "location."), "location.longitude", -180, 180),
        elevation_m=_num(loc.get("elevation_m", 0.0), "location.elevation_m", None),
        market_zone=loc.get("market_zone"),
        year=int(_num(_get(raw, "year", ""), "year", 1990, 2100)),
        peak_power_kw=_num(_get(plant, "peak_power_kw", "pv_plant."), "pv_plant.peak_power_kw", 0.01),
        tilt_deg=_num(_get(plant, "tilt_deg", "pv_plant."), "pv_plant.tilt_deg", 0, 90),
        azimuth_deg_pvgis=_num(
            _get(plant, "azimuth_deg_pvgis", "pv_plant."), "pv_plant.azimuth_deg_pvgis", -180, 180
        ),
        system_losses_pct=_num(plant.get("system_losses_pct", 14), "pv_plant.system_losses_pct", 0, 99),
        grant_fraction=_num(plant.get("grant_fraction", 0.0), "pv_plant.grant_fraction", 0, 0.4),
        monthly_production_kwh=None
        if monthly is None
        else _nums(monthly, "pv_plant.monthly_production_kwh", 12),
        flats=flats,
        ac_usage_coefficient=_nums(raw.get("ac_usage_coefficient", [1.0] * 12), "ac_usage_coefficient", 12),
        energy_price_eur_per_kwh=_nums(
            _get(raw, "energy_price_eur_per_kwh", ""), "energy_price_eur_per_kwh", 12
        ),
        premium_tariff_eur_per_mwh=None
        if premium is None
        else _num(premium, "premium_tariff_eur_per_mwh", 0),
        soc_min_pct=_num(common.get("soc_min_pct", 10), "storage_options.common.soc_min_pct", 0, 100),
        soc_max_pct=_num(common.get("soc_max_pct", 100), "storage_options.common.soc_max_pct", 0, 100),
        charge_efficiency=_num(
            common.get("charge_efficiency", 0.95), "storage_options.common.charge_efficiency", 0.01, 1
        ),
        discharge_efficiency=_num(
            common.get("discharge_efficiency", 0.95), "storage_options.common.discharge_efficiency", 0.01, 1
        ),
        inverter_kw=_num(common.get("inverter_kw", 3.0), "storage_options.common.inverter_kw", 0),
        storage_options=_storage_options(raw.get("storage_options") or {}),
        horizon_years=int(_num(eco.get("horizon_years", 20), "economics.horizon_years", 1, 50)),
        discount_rate=_num(_get(eco, "discount_rate", "economics."), "economics.discount_rate", -0.5, 1),
        pv_cost_eur_per_kw=_num(
            _get(eco, "pv_cost_eur_per_kw", "economics."), "economics.pv_cost_eur_per_kw", 0
        ),
        maintenance_eur_per_year=_num(
            eco.get("maintenance_and_insurance_eur_per_year", 0),
            "economics.maintenance_and_insurance_eur_per_year",
            0,
        ),
        pv_degradation_per_year=_num(
            eco.get("pv_degradation_per_year", 0.005), "economics.pv_degradation_per_year", 0, 0.5
        ),
        battery_degradation_per_year=_num(
            eco.get("battery_degradation_per_year", 0.03), "economics.battery_degradation_per_year", 0, 0.5
        ),
        vat_storage_pct=_num(eco.get("vat_storage_pct", 0), "economics.vat_storage_pct", 0, 100),
        scenarios=_scenarios(eco),
        historical_prices=_history(eco),
        weather_file=weather_file,
        loads=_choice(raw.get("loads", LOAD_MODELS[0]), LOAD_MODELS, "loads"),
        municipality=None if municipality is None else str(municipality),
        region=_region(loc),
        measured_database=database,
        missing_months=missing_months,
    )


def load_case(path: str | Path) -> Case:
    """Read and check a case file."""
    path = Path(path)
    raw = read_yaml_file(path, CaseError)
    try:
        return case_from_dict(raw, name=path.stem, base_dir=path.parent)
    except CaseError as exc:
        raise CaseError(f"{path}: {exc}") from None
