"""Load a :class:`~condivisa.domain.community.Community` from ``community.yaml``.

Errors name the key and the offending value, e.g. ``members[2].category: 'corp' is not one of ...``;
an unknown key is an error with the closest known one (``members[0].contract_power: unknown key (did you
mean contract_power_kw?)``), so a typo never silently drops a setting; ids (members, PODs, DUs, plants) must
match :data:`~condivisa.domain.community.ID_PATTERN`. ``municipality:`` gives the zones; a file
(:func:`load_community`) also has its POD codes and plant owners checked (:mod:`condivisa.domain.community_file`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from condivisa.domain import plants as plant_rules
from condivisa.domain.community import (
    Beneficiary,
    Community,
    ConfigurationType,
    ConsumersBy,
    Device,
    GseFeesBorneBy,
    LegalForm,
    Member,
    MemberCategory,
    Plant,
    Pod,
    PodKind,
    ReadingLimits,
    Rules,
    ThresholdSurplusTo,
    Voltage,
    id_problem,
)
from condivisa.domain.community_file import check_owners, check_pod_codes, external_producers, place_of
from condivisa.domain.strict_keys import unknown_key
from condivisa.domain.tariffs import parse_tariffs

_log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """``community.yaml`` is malformed; the message names the key."""


E = TypeVar("E", bound=StrEnum)

TOP_KEYS = (
    "name",
    "configuration",
    "zone",
    "constituted",
    "primary_substation",
    "building",
    "market_zone",
    "members",
    "plants",
    "rules",
    "tariffs",
    "devices",
    "readings",
    "legal_form",
    "municipality",
    "external_producers",
)
MEMBER_KEYS = ("id", "name", "email", "category", "founder", "millesimi", "joined", "left", "pods")
POD_KEYS = ("pod", "kind", "primary_substation", "building", "voltage", "contract_power_kw")
PLANT_KEYS = (
    "id",
    "pod",
    "owner",
    "power_kw",
    "source",
    "commissioning",
    "grant_fraction",
    "voltage",
    "primary_substation",
    "building",
    "injection_limit_kw",
    "joined",
    "built_for_community",
    "sections",
    "rid_minimum_price",
)
RULES_KEYS = (
    "premium",
    "sale",
    "valorisation",
    "enterprise_cap",
    "later_members",
    "shared_energy_attribution",
    "threshold_surplus_to",
    "gse_fees",
    "flexibility_bonus",
)
FLEX_BONUS_KEYS = ("share",)
PREMIUM_KEYS = ("producers", "community", "consumers", "consumers_by")
LATER_KEYS = ("annual_fee_eur", "exit_penalty_eur", "min_shared_consumption_kwh_per_year", "min_years")
READINGS_KEYS = ("default_contract_power_kw",)
DEVICE_KEYS = ("id", "pod")


def _known_keys(raw: dict[Any, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a key of ``raw`` that is not in ``allowed``, naming the closest allowed one."""
    problem = unknown_key(raw, allowed, f"{where}." if where else "")
    if problem:
        raise ConfigError(problem)


def _id(value: object, where: str) -> str:
    """``value`` as an id, or a :class:`ConfigError` saying what an id may contain."""
    text = str(value)
    problem = id_problem(text)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return text


def _enum(cls: type[E], value: object, where: str) -> E:
    try:
        return cls(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _date(value: object, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _float(value: object, where: str, default: float | None = None) -> float:
    if value is None:
        if default is None:
            raise ConfigError(f"{where}: missing")
        return default
    if isinstance(value, (int, float, str)):  # YAML scalars (a bool is an int)
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: {value!r} is not a number")


def _positive(value: object, where: str) -> float | None:
    """An optional power, kW: absent, or a finite number > 0."""
    if value is None:
        return None
    number = _float(value, where)
    if not 0 < number < float("inf"):
        raise ConfigError(f"{where}: must be a number > 0, got {value!r}")
    return number


def _pod(raw: object, where: str) -> Pod:
    if isinstance(raw, str):
        return Pod(code=_id(raw, where))
    if not isinstance(raw, dict) or "pod" not in raw:
        raise ConfigError(f"{where}: expected {{pod: CODE, kind: consumption|production}}")
    _known_keys(raw, POD_KEYS, where)
    return Pod(
        code=_id(raw["pod"], f"{where}.pod"),
        kind=_enum(PodKind, raw.get("kind", "consumption"), f"{where}.kind"),
        primary_substation=raw.get("primary_substation"),
        building=raw.get("building"),
        voltage=_enum(Voltage, raw.get("voltage", "BT"), f"{where}.voltage"),
        contract_power_kw=_positive(raw.get("contract_power_kw"), f"{where}.contract_power_kw"),
    )


def _member(raw: object, i: int) -> Member:
    where = f"members[{i}]"
    if not isinstance(raw, dict) or "id" not in raw:
        raise ConfigError(f"{where}: expected a mapping with an id")
    _known_keys(raw, MEMBER_KEYS, where)
    return Member(
        id=_id(raw["id"], f"{where}.id"),
        category=_enum(MemberCategory, raw.get("category", "private"), f"{where}.category"),
        founder=bool(raw.get("founder", False)),
        millesimi=_float(raw.get("millesimi"), f"{where}.millesimi", 0.0),
        joined=_date(raw.get("joined"), f"{where}.joined"),
        left=_date(raw.get("left"), f"{where}.left"),
        pods=tuple(_pod(p, f"{where}.pods[{j}]") for j, p in enumerate(raw.get("pods") or [])),
        name=raw.get("name"),
        email=raw.get("email"),
    )


def _plant(raw: object, i: int) -> Plant:
    where = f"plants[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for key in ("id", "pod", "power_kw"):
        if key not in raw:
            raise ConfigError(f"{where}.{key}: missing")
    _known_keys(raw, PLANT_KEYS, where)
    try:
        return Plant(
            id=_id(raw["id"], f"{where}.id"),
            pod=_id(raw["pod"], f"{where}.pod"),
            owner=str(raw.get("owner", "community")),
            power_kw=_float(raw["power_kw"], f"{where}.power_kw"),
            source=str(raw.get("source", "pv")),
            commissioning=_date(raw.get("commissioning"), f"{where}.commissioning") or dt.date(2024, 1, 1),
            grant_fraction=_float(raw.get("grant_fraction"), f"{where}.grant_fraction", 0.0),
            voltage=_enum(Voltage, raw.get("voltage", "BT"), f"{where}.voltage"),
            primary_substation=raw.get("primary_substation"),
            building=raw.get("building"),
            injection_limit_kw=_positive(raw.get("injection_limit_kw"), f"{where}.injection_limit_kw"),
            rid_minimum_price=_flag(raw.get("rid_minimum_price", False), f"{where}.rid_minimum_price"),
            joined=_date(raw.get("joined"), f"{where}.joined"),
            built_for_community=plant_rules.parse_bool(
                raw.get("built_for_community"), f"{where}.built_for_community"
            ),
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from None


def _section_fields(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields an upgrade section (``plants[i].sections[j]``) sets; the rest comes from its plant."""
    _known_keys(raw, plant_rules.SECTION_KEYS, where)  # first: a typo is named, not reported missing
    for key in ("pod", "power_kw"):
        if key not in raw:
            raise ConfigError(f"{where}.{key}: missing")
    fields: dict[str, Any] = {
        "pod": _id(raw["pod"], f"{where}.pod"),
        "power_kw": _float(raw["power_kw"], f"{where}.power_kw"),
        "joined": _date(raw.get("joined"), f"{where}.joined"),
        "built_for_community": plant_rules.parse_bool(
            raw.get("built_for_community"), f"{where}.built_for_community"
        ),
        "injection_limit_kw": _positive(raw.get("injection_limit_kw"), f"{where}.injection_limit_kw"),
    }
    if "id" in raw:
        fields["id"] = _id(raw["id"], f"{where}.id")
    if raw.get("commissioning") is not None:
        fields["commissioning"] = _date(raw["commissioning"], f"{where}.commissioning")
    if "grant_fraction" in raw:
        fields["grant_fraction"] = _float(raw["grant_fraction"], f"{where}.grant_fraction")
    if "voltage" in raw:
        fields["voltage"] = _enum(Voltage, raw["voltage"], f"{where}.voltage")
    return fields


def _plant_units(raw: object, i: int) -> list[Plant]:
    """The plant at ``plants[i]`` and its upgrade sections, each a plant unit of its own."""
    plant = _plant(raw, i)
    assert isinstance(raw, dict)
    try:
        return plant_rules.expand_sections(plant, raw.get("sections"), f"plants[{i}]", _section_fields)
    except plant_rules.PlantRuleError as exc:
        raise ConfigError(str(exc)) from None


def _readings(raw: object) -> ReadingLimits:
    """The ``readings:`` section: ``default_contract_power_kw`` (a number > 0, or ``null`` for none)."""
    if raw is None:
        return ReadingLimits()
    if not isinstance(raw, dict):
        raise ConfigError("readings: expected a mapping")
    _known_keys(raw, READINGS_KEYS, "readings")
    if "default_contract_power_kw" not in raw:
        return ReadingLimits()
    where = "readings.default_contract_power_kw"
    return ReadingLimits(default_contract_power_kw=_positive(raw["default_contract_power_kw"], where))


def _rules(raw: object) -> Rules:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError("rules: expected a mapping")
    premium = raw.get("premium") or {}
    later = raw.get("later_members") or {}
    bonus = raw.get("flexibility_bonus") or {}
    _known_keys(raw, RULES_KEYS, "rules")
    for section, keys, name in (
        (premium, PREMIUM_KEYS, "premium"),
        (later, LATER_KEYS, "later_members"),
        (bonus, FLEX_BONUS_KEYS, "flexibility_bonus"),
    ):
        if not isinstance(section, dict):
            raise ConfigError(f"rules.{name}: expected a mapping")
        _known_keys(section, keys, f"rules.{name}")
    try:
        return Rules(
            premium_producers=_float(premium.get("producers"), "rules.premium.producers", 0.10),
            premium_community=_float(premium.get("community"), "rules.premium.community", 0.15),
            premium_consumers=_float(premium.get("consumers"), "rules.premium.consumers", 0.75),
            consumers_by=_enum(
                ConsumersBy, premium.get("consumers_by", "consumption"), "rules.premium.consumers_by"
            ),
            sale=_enum(Beneficiary, raw.get("sale", "producers"), "rules.sale"),
            valorisation=_enum(Beneficiary, raw.get("valorisation", "consumers"), "rules.valorisation"),
            enterprise_cap=bool(raw.get("enterprise_cap", True)),
            annual_fee_eur=_float(later.get("annual_fee_eur"), "rules.later_members.annual_fee_eur", 0.0),
            exit_penalty_eur=_float(
                later.get("exit_penalty_eur"), "rules.later_members.exit_penalty_eur", 0.0
            ),
            shared_energy_attribution=plant_rules.attribution(
                raw.get("shared_energy_attribution", "seniority"), "rules.shared_energy_attribution"
            ),
            min_shared_consumption_kwh_per_year=_float(
                later.get("min_shared_consumption_kwh_per_year"),
                "rules.later_members.min_shared_consumption_kwh_per_year",
                0.0,
            ),
            threshold_surplus_to=_enum(
                ThresholdSurplusTo, raw.get("threshold_surplus_to", "consumers"), "rules.threshold_surplus_to"
            ),
            gse_fees=_enum(GseFeesBorneBy, raw.get("gse_fees", "community"), "rules.gse_fees"),
            exit_min_years=_positive(later.get("min_years"), "rules.later_members.min_years"),
            flexibility_bonus_share=_float(bonus.get("share"), "rules.flexibility_bonus.share", 0.0),
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"rules: {exc}") from None


def _tariffs(raw: object) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """The ``tariffs:`` section (:func:`condivisa.domain.tariffs.parse_tariffs`)."""
    try:
        return parse_tariffs(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _flag(value: object, where: str) -> bool:
    """A yes/no key: ``true`` or ``false``, nothing else."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def community_from_dict(
    raw: dict[str, Any], check_perimeter: bool = True, *, strict: bool = False
) -> Community:
    """Build and check a community from the parsed YAML mapping.

    ``strict`` (what :func:`load_community` does with a file) also refuses a POD code that is not one
    (:data:`~condivisa.domain.community_file.POD_PATTERN`) and a plant owner that is neither a member,
    ``community`` nor a declared ``external_producers`` entry (:mod:`condivisa.domain.community_file`)."""
    if not isinstance(raw, dict):
        raise ConfigError("community file: expected a mapping at the top level")
    for key in ("name", "configuration", "constituted"):  # zone: or municipality: (place_of)
        if key not in raw:
            raise ConfigError(f"{key}: missing")
    _known_keys(raw, TOP_KEYS, "")
    members = tuple(_member(m, i) for i, m in enumerate(raw.get("members") or []))
    plants = tuple(u for i, p in enumerate(raw.get("plants") or []) for u in _plant_units(p, i))
    ids = [m.id for m in members]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise ConfigError(f"members: duplicate id(s) {', '.join(sorted(dup))}")
    codes = [c for m in members for c in m.consumption_pods]
    dup = {x for x in codes if codes.count(x) > 1}
    if dup:
        raise ConfigError(f"members: POD(s) listed twice: {', '.join(sorted(dup))}")
    producers = external_producers(raw.get("external_producers"), ids, ConfigError)
    if strict:
        check_pod_codes(raw, ConfigError)
        check_owners(raw.get("plants"), ids, producers, ConfigError)
    place = place_of(raw, ConfigError)
    for warning in place.warnings:
        _log.warning("%s", warning)
    constituted = _date(raw["constituted"], "constituted")
    if constituted is None:
        raise ConfigError("constituted: missing")
    community = Community(
        name=str(raw["name"]),
        configuration=_enum(ConfigurationType, raw["configuration"], "configuration"),
        zone=place.zone,
        constituted=constituted,
        primary_substation=raw.get("primary_substation"),
        building=raw.get("building"),
        market_zone=place.market_zone,
        members=members,
        plants=plants,
        rules=_rules(raw.get("rules")),
        tariff_overrides=_tariffs(raw.get("tariffs"))[0],
        tariff_overrides_by_year=_tariffs(raw.get("tariffs"))[1],
        readings=_readings(raw.get("readings")),
        legal_form=_enum(LegalForm, raw.get("legal_form", "non_commercial"), "legal_form"),
        municipality=place.municipality.istat_code if place.municipality else None,
        region=place.municipality.region if place.municipality else None,
        external_producers=producers,
        warnings=place.warnings,
    )
    known = community.all_pods
    devices = []
    for i, d in enumerate(raw.get("devices") or []):
        if not isinstance(d, dict) or "id" not in d or "pod" not in d:
            raise ConfigError(f"devices[{i}]: expected {{id: DU-ID, pod: POD}}")
        _known_keys(d, DEVICE_KEYS, f"devices[{i}]")
        if str(d["pod"]) not in known:
            raise ConfigError(f"devices[{i}].pod: {d['pod']!r} is not a POD of this community")
        devices.append(Device(id=_id(d["id"], f"devices[{i}].id"), pod=str(d["pod"])))
    community = replace(community, devices=tuple(devices))
    try:
        plant_warnings = plant_rules.check_plants(community)
    except plant_rules.PlantRuleError as exc:
        raise ConfigError(str(exc)) from None
    for warning in plant_warnings:
        _log.warning("%s", warning)
    community = replace(community, warnings=community.warnings + tuple(plant_warnings))
    if check_perimeter:
        community.check_perimeter()
    return community


def read_yaml_file(path: Path, error: type[ValueError] = ConfigError) -> Any:
    """Parse the YAML file at ``path`` (any YAML document: the caller checks its shape); a missing or
    malformed file raises ``error`` naming the path."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None


def load_community(path: str | Path) -> Community:
    """Read ``community.yaml`` at ``path`` (strictly: :func:`community_from_dict` with ``strict=True``)."""
    path = Path(path)
    raw = read_yaml_file(path)
    try:
        return community_from_dict(raw, strict=True)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
