"""Load a :class:`~condivisa.domain.community.Community` from ``community.yaml``.

Errors name the key and the offending value, e.g. ``members[2].category: 'corp' is not one of ...``;
an unknown key is an error with the closest known one (``members[0].contract_power: unknown key (did you
mean contract_power_kw?)``), so a typo never silently drops a setting; ids (members, PODs, DUs, plants) must
match :data:`~condivisa.domain.community.ID_PATTERN`.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from condivisa.domain.community import (
    Beneficiary,
    Community,
    ConfigurationType,
    ConsumersBy,
    Device,
    Member,
    MemberCategory,
    Plant,
    Pod,
    PodKind,
    ReadingLimits,
    Rules,
    Voltage,
    id_problem,
)
from condivisa.domain.tariffs import Zone


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
)
RULES_KEYS = ("premium", "sale", "valorisation", "enterprise_cap", "later_members")
PREMIUM_KEYS = ("producers", "community", "consumers", "consumers_by")
LATER_KEYS = ("annual_fee_eur", "exit_penalty_eur", "min_shared_consumption_kwh_per_year")
READINGS_KEYS = ("default_contract_power_kw",)
DEVICE_KEYS = ("id", "pod")


def _known_keys(raw: dict[Any, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a key of ``raw`` that is not in ``allowed``, naming the closest allowed one."""
    allowed = tuple(allowed)
    for key in raw:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else f" (allowed: {', '.join(allowed)})"
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{key}: unknown key{hint}")


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
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from None


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
    _known_keys(raw, RULES_KEYS, "rules")
    for section, keys, name in ((premium, PREMIUM_KEYS, "premium"), (later, LATER_KEYS, "later_members")):
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
            min_shared_consumption_kwh_per_year=_float(
                later.get("min_shared_consumption_kwh_per_year"),
                "rules.later_members.min_shared_consumption_kwh_per_year",
                0.0,
            ),
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"rules: {exc}") from None


def community_from_dict(raw: dict[str, Any], check_perimeter: bool = True) -> Community:
    """Build and check a community from the parsed YAML mapping."""
    if not isinstance(raw, dict):
        raise ConfigError("community file: expected a mapping at the top level")
    for key in ("name", "configuration", "zone", "constituted"):
        if key not in raw:
            raise ConfigError(f"{key}: missing")
    _known_keys(raw, TOP_KEYS, "")
    members = tuple(_member(m, i) for i, m in enumerate(raw.get("members") or []))
    plants = tuple(_plant(p, i) for i, p in enumerate(raw.get("plants") or []))
    ids = [m.id for m in members]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise ConfigError(f"members: duplicate id(s) {', '.join(sorted(dup))}")
    codes = [c for m in members for c in m.consumption_pods]
    dup = {x for x in codes if codes.count(x) > 1}
    if dup:
        raise ConfigError(f"members: POD(s) listed twice: {', '.join(sorted(dup))}")
    constituted = _date(raw["constituted"], "constituted")
    if constituted is None:
        raise ConfigError("constituted: missing")
    community = Community(
        name=str(raw["name"]),
        configuration=_enum(ConfigurationType, raw["configuration"], "configuration"),
        zone=_enum(Zone, raw["zone"], "zone"),
        constituted=constituted,
        primary_substation=raw.get("primary_substation"),
        building=raw.get("building"),
        market_zone=raw.get("market_zone"),
        members=members,
        plants=plants,
        rules=_rules(raw.get("rules")),
        tariff_overrides={str(k): _float(v, f"tariffs.{k}") for k, v in (raw.get("tariffs") or {}).items()},
        readings=_readings(raw.get("readings")),
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
    """Read ``community.yaml`` at ``path``."""
    path = Path(path)
    raw = read_yaml_file(path)
    try:
        return community_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
