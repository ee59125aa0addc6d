"""Read a feasibility plan (``plan.yaml``) strictly: every key known, every error named by its path.

A plan describes a community still to be built (``docs/feasibility.md``): ``name``, ``configuration`` (CER
by default), ``location`` (``municipality`` → region and market zone, ``latitude``/``longitude`` for the
sun), ``year`` (the calendar and the GME zonal prices of the reference year), ``members`` (bills by band or
month, or a yearly kWh), ``plants`` (kWp, tilt, azimuth, a PVGIS file or 12 monthly energies, cost, grant),
``rules`` (the ``rules:`` of ``community.yaml``), ``economics`` and ``candidates`` (kinds of prospective
consumers). A typo is an error with its path and the closest key: ``members[2].yearly_kwhh: unknown key
(did you mean yearly_kwh?)``; a value out of range names its bounds.

Azimuth convention: PVGIS's, degrees, 0 = south, −90 = east, +90 = west.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condivisa.domain.config import ConfigError, community_from_dict, read_yaml_file
from condivisa.domain.municipalities import MunicipalityError, find_municipality
from condivisa.domain.tariffs import MAX_GRANT_FRACTION
from condivisa.feasibility.consumers import Consumer, consumer_from_dict, load_newcomer
from condivisa.feasibility.strict import PlanError, ident, known_keys, mapping, number

TOP_KEYS = (
    "name",
    "configuration",
    "location",
    "year",
    "prices_file",
    "members",
    "plants",
    "external_producers",
    "rules",
    "tariffs",
    "economics",
    "candidates",
    "absorption",
)
LOCATION_KEYS = ("municipality", "region", "market_zone", "latitude", "longitude", "elevation_m")
PLANT_KEYS = (
    "id",
    "owner",
    "kwp",
    "tilt_deg",
    "azimuth_deg",
    "pvgis_file",
    "monthly_kwh",
    "cost_eur",
    "grant_fraction",
    "commissioning",
    "system_losses_pct",
    "maintenance_eur_per_year",
    "voltage",
)
ECONOMICS_KEYS = ("horizon_years", "discount_rate", "maintenance_eur_per_kwp_year", "degradation_per_year")
ABSORPTION_KEYS = ("target_sharing", "max_added")
COMMUNITY_OWNER = "community"
__all__ = ["Consumer", "Plan", "PlanError", "PlannedPlant", "load_newcomer", "load_plan", "plan_from_dict"]


@dataclass(frozen=True)
class PlannedPlant:
    """A candidate PV plant. ``azimuth_deg``: PVGIS convention (0 = south, −90 = east, +90 = west)."""

    id: str
    owner: str
    kwp: float
    tilt_deg: float
    azimuth_deg: float
    cost_eur: float
    grant_fraction: float = 0.0
    pvgis_file: Path | None = None
    monthly_kwh: tuple[float, ...] | None = None
    commissioning: dt.date | None = None
    system_losses_pct: float = 14.0
    maintenance_eur_per_year: float | None = None
    voltage: str = "BT"


@dataclass(frozen=True)
class EconomicsInputs:
    horizon_years: int = 20
    discount_rate: float = 0.04
    maintenance_eur_per_kwp_year: float = 20.0
    degradation_per_year: float = 0.005


@dataclass(frozen=True)
class Plan:
    name: str
    configuration: str
    year: int
    municipality: str | None
    region: str
    market_zone: str
    latitude: float
    longitude: float
    elevation_m: float
    members: tuple[Consumer, ...]
    plants: tuple[PlannedPlant, ...]
    rules: dict[str, Any]
    economics: EconomicsInputs
    candidates: tuple[Consumer, ...] = ()
    target_sharing: float = 0.95
    max_added: int = 500
    prices_file: Path | None = None
    tariffs: dict[Any, Any] = field(default_factory=dict)
    external_producers: tuple[dict[str, Any], ...] = ()


def _plant(raw: object, where: str, base_dir: Path | None) -> PlannedPlant:
    raw = mapping(raw, where)
    known_keys(raw, PLANT_KEYS, where)
    for key in ("id", "owner", "kwp", "cost_eur"):
        if key not in raw:
            raise PlanError(f"{where}.{key}: missing")
    weather = None
    if raw.get("pvgis_file") is not None:
        weather = Path(str(raw["pvgis_file"]))
        if not weather.is_absolute() and base_dir is not None:
            weather = base_dir / weather
        if not weather.exists():
            raise PlanError(
                f"{where}.pvgis_file: {str(raw['pvgis_file'])!r} not found (relative to the plan)"
            )
    monthly = None
    if raw.get("monthly_kwh") is not None:
        values = raw["monthly_kwh"]
        if not isinstance(values, list) or len(values) != 12:
            raise PlanError(f"{where}.monthly_kwh: expected 12 monthly energies, kWh")
        monthly = tuple(number(v, f"{where}.monthly_kwh[{m}]", 0) for m, v in enumerate(values))
    if weather is None and monthly is None:
        raise PlanError(f"{where}.monthly_kwh: missing (or give pvgis_file)")
    commissioning = raw.get("commissioning")
    if commissioning is not None and not isinstance(commissioning, dt.date):
        try:
            commissioning = dt.date.fromisoformat(str(commissioning))
        except ValueError:
            raise PlanError(f"{where}.commissioning: {commissioning!r} is not a date (YYYY-MM-DD)") from None
    voltage = str(raw.get("voltage", "BT"))
    if voltage not in ("BT", "MT"):
        raise PlanError(f"{where}.voltage: {voltage!r} is not one of BT, MT")
    maintenance = raw.get("maintenance_eur_per_year")
    return PlannedPlant(
        id=ident(raw["id"], f"{where}.id"),
        owner=str(raw["owner"]),
        kwp=number(raw["kwp"], f"{where}.kwp", 0.1, 1000),
        tilt_deg=number(raw.get("tilt_deg", 30), f"{where}.tilt_deg", 0, 90),
        azimuth_deg=number(raw.get("azimuth_deg", 0), f"{where}.azimuth_deg", -180, 180),
        cost_eur=number(raw["cost_eur"], f"{where}.cost_eur", 0),
        grant_fraction=number(raw.get("grant_fraction", 0), f"{where}.grant_fraction", 0, MAX_GRANT_FRACTION),
        pvgis_file=weather,
        monthly_kwh=monthly,
        commissioning=commissioning,
        system_losses_pct=number(raw.get("system_losses_pct", 14), f"{where}.system_losses_pct", 0, 99),
        maintenance_eur_per_year=None
        if maintenance is None
        else number(maintenance, f"{where}.maintenance_eur_per_year", 0),
        voltage=voltage,
    )


def _location(raw: object) -> dict[str, Any]:
    loc = mapping(raw, "location")
    known_keys(loc, LOCATION_KEYS, "location")
    region, zone, municipality = loc.get("region"), loc.get("market_zone"), None
    if loc.get("municipality") is not None:
        try:
            found = find_municipality(loc["municipality"])
        except MunicipalityError as exc:
            raise PlanError(f"location.municipality: {exc}") from None
        municipality, region, zone = found.name, region or found.region, zone or found.market_zone
    if region is None or zone is None:
        raise PlanError("location.municipality: missing (or give location.region and location.market_zone)")
    return {
        "municipality": municipality,
        "region": str(region),
        "market_zone": str(zone).upper(),
        "latitude": number(loc.get("latitude"), "location.latitude", -90, 90),
        "longitude": number(loc.get("longitude"), "location.longitude", -180, 180),
        "elevation_m": number(loc.get("elevation_m", 0), "location.elevation_m", -500, 9000),
    }


def _economics(raw: object) -> EconomicsInputs:
    eco = mapping(raw or {}, "economics")
    known_keys(eco, ECONOMICS_KEYS, "economics")
    d = EconomicsInputs()
    return EconomicsInputs(
        horizon_years=int(
            number(eco.get("horizon_years", d.horizon_years), "economics.horizon_years", 1, 40)
        ),
        discount_rate=number(eco.get("discount_rate", d.discount_rate), "economics.discount_rate", -0.5, 1),
        maintenance_eur_per_kwp_year=number(
            eco.get("maintenance_eur_per_kwp_year", d.maintenance_eur_per_kwp_year),
            "economics.maintenance_eur_per_kwp_year",
            0,
        ),
        degradation_per_year=number(
            eco.get("degradation_per_year", d.degradation_per_year), "economics.degradation_per_year", 0, 0.2
        ),
    )


def _check_ids(members: tuple[Consumer, ...], plants: tuple[PlannedPlant, ...], producers: set[str]) -> None:
    ids = [i for m in members for i in m.member_ids]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PlanError(f"members: duplicate id(s) {', '.join(dup)}")
    plant_ids = [p.id for p in plants]
    dup = sorted({i for i in plant_ids if plant_ids.count(i) > 1})
    if dup:
        raise PlanError(f"plants: duplicate id(s) {', '.join(dup)}")
    owners = set(ids) | producers | {COMMUNITY_OWNER}
    for k, p in enumerate(plants):
        if p.owner not in owners:
            close = difflib.get_close_matches(p.owner, sorted(owners), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PlanError(
                f"plants[{k}].owner: {p.owner!r} is not a member, 'community' or one of external_producers{hint}"
            )


def plan_from_dict(raw: object, base_dir: Path | None = None) -> Plan:
    """Build and check a :class:`Plan` from the parsed YAML; ``base_dir`` resolves ``pvgis_file`` and
    ``prices_file``. The ``rules:`` and ``tariffs:`` are checked by the community file's parser
    (:func:`condivisa.domain.config.community_from_dict`), so they accept exactly what ``community.yaml`` does."""
    raw = mapping(raw, "plan")
    known_keys(raw, TOP_KEYS, "")
    for key in ("name", "location", "members", "plants"):
        if key not in raw:
            raise PlanError(f"{key}: missing")
    if not isinstance(raw["members"], list) or not raw["members"]:
        raise PlanError("members: expected a non-empty list")
    if not isinstance(raw["plants"], list) or not raw["plants"]:
        raise PlanError("plants: expected a non-empty list")
    loc = _location(raw["location"])
    members = tuple(consumer_from_dict(m, f"members[{i}]") for i, m in enumerate(raw["members"]))
    plants = tuple(_plant(p, f"plants[{k}]", base_dir) for k, p in enumerate(raw["plants"]))
    candidates = tuple(
        consumer_from_dict(c, f"candidates[{i}]", candidate=True)
        for i, c in enumerate(raw.get("candidates") or [])
    )
    producers_raw = raw.get("external_producers") or []
    if not isinstance(producers_raw, list):
        raise PlanError("external_producers: expected a list of {id: ID, name: NAME}")
    producers = tuple(mapping(p, f"external_producers[{i}]") for i, p in enumerate(producers_raw))
    _check_ids(members, plants, {str(p.get("id")) for p in producers})
    configuration = str(raw.get("configuration", "CER"))
    rules = mapping(raw.get("rules") or {}, "rules")
    tariffs = mapping(raw.get("tariffs") or {}, "tariffs")
    year = int(number(raw.get("year", 2023), "year", 2000, 2100))
    try:  # the rules, tariffs, configuration and external producers as community.yaml checks them
        community_from_dict(
            {
                "name": str(raw["name"]),
                "configuration": configuration,
                "constituted": f"{year}-01-01",
                "zone": "north",
                "rules": rules,
                "tariffs": tariffs,
                "external_producers": list(producers) or None,
            },
            check_perimeter=False,
        )
    except ConfigError as exc:
        raise PlanError(str(exc)) from None
    absorption = mapping(raw.get("absorption") or {}, "absorption")
    known_keys(absorption, ABSORPTION_KEYS, "absorption")
    prices = raw.get("prices_file")
    prices_file = None
    if prices is not None:
        prices_file = Path(str(prices))
        if not prices_file.is_absolute() and base_dir is not None:
            prices_file = base_dir / prices_file
        if not prices_file.exists():
            raise PlanError(f"prices_file: {str(prices)!r} not found (relative to the plan)")
    elif year != 2023:
        raise PlanError(
            f"year: {year} has no shipped GME prices (2023 has): give prices_file (a GME download)"
        )
    return Plan(
        name=str(raw["name"]),
        configuration=configuration,
        year=year,
        members=members,
        plants=plants,
        rules=rules,
        economics=_economics(raw.get("economics")),
        candidates=candidates,
        target_sharing=number(absorption.get("target_sharing", 0.95), "absorption.target_sharing", 0.01, 1),
        max_added=int(number(absorption.get("max_added", 500), "absorption.max_added", 1, 100000)),
        prices_file=prices_file,
        tariffs=tariffs,
        external_producers=producers,
        **loc,
    )


def load_plan(path: str | Path) -> Plan:
    """Read and check the plan at ``path``; errors are prefixed with the file."""
    path = Path(path)
    raw = read_yaml_file(path, PlanError)
    try:
        return plan_from_dict(raw, base_dir=path.parent)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from None
