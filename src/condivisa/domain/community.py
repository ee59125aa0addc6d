"""The community model: configurations of the TIAD, members, PODs, plants and allocation rules.

Pure dataclasses; ``condivisa.domain.config`` loads them from ``community.yaml``.
Rules implemented here:
- configuration types and their perimeter (TIAD, ARERA 727/2022, Art. 1 and 3): CER, CEC, AID and CAD
  points lie under one primary substation; AUC and GCA points lie in one building;
- premium eligibility of a plant (D.Lgs. 199/2021 Art. 8, DM 414/2023 Art. 3): commissioned on or
  after 2021-12-16, not before the community was constituted, and for its first 20 years;
- identifiers (members, PODs, DUs, plants) are :data:`ID_PATTERN`: they name pages, topics and files, so
  a ``/`` or a space would make them unreachable;
- each POD's contract power (potenza impegnata, ``contract_power_kw``) bounds what its meter can read in a
  quarter hour (:mod:`condivisa.domain.plausibility`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from condivisa.domain.tariffs import (
    ENTERPRISE_CAP_SHARE,
    ENTERPRISE_CAP_SHARE_WITH_GRANT,
    MAX_GRANT_FRACTION,
    PREMIUM_EARLIEST_COMMISSIONING,
    PREMIUM_YEARS,
    Zone,
)


class ConfigurationType(StrEnum):
    """The energy-sharing configurations of the TIAD."""

    CER = "CER"  # comunità energetica rinnovabile
    AUC = "AUC"  # autoconsumatori che agiscono collettivamente (same building)
    AID = "AID"  # autoconsumatore individuale a distanza che utilizza la rete
    CEC = "CEC"  # comunità energetica dei cittadini
    GCA = "GCA"  # gruppo di clienti attivi che agiscono collettivamente (same building)
    CAD = "CAD"  # cliente attivo a distanza

    @property
    def same_building(self) -> bool:
        """AUC and GCA: all points in one building or condominium."""
        return self in (ConfigurationType.AUC, ConfigurationType.GCA)


class MemberCategory(StrEnum):
    PRIVATE = "private"
    SME = "sme"
    ENTERPRISE = "enterprise"
    PUBLIC_BODY = "public_body"
    NONPROFIT = "nonprofit"
    RESEARCH = "research"


class PodKind(StrEnum):
    CONSUMPTION = "consumption"
    PRODUCTION = "production"


class Voltage(StrEnum):
    BT = "BT"  # low voltage
    MT = "MT"  # medium voltage


class PerimeterError(ValueError):
    """A point of delivery lies outside the configuration's perimeter."""


#: what a member, POD, DU or plant id may be: 1-64 letters, digits, ``-``, ``_`` or ``.``, starting with a
#: letter or a digit (it is a path segment of the dashboard and of MQTT topics)
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ID_RULE = "1-64 characters among letters, digits, '-', '_' and '.', starting with a letter or a digit"


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid id (:data:`ID_PATTERN`), or ``None`` when it is."""
    if ID_PATTERN.fullmatch(value):
        return None
    return f"{value!r} is not a valid id: use {ID_RULE}"


@dataclass(frozen=True)
class Pod:
    """A point of delivery (POD code, e.g. ``IT001E00000001``) belonging to a member."""

    code: str
    kind: PodKind = PodKind.CONSUMPTION
    primary_substation: str | None = None  # None: the community's
    building: str | None = None  # None: the community's
    voltage: Voltage = Voltage.BT
    contract_power_kw: float | None = None  # potenza impegnata; None: the community's default

    def __post_init__(self) -> None:
        if self.contract_power_kw is not None and not 0 < self.contract_power_kw < float("inf"):
            raise ValueError(f"POD {self.code}: contract_power_kw must be > 0, got {self.contract_power_kw}")


@dataclass(frozen=True)
class Member:
    id: str
    category: MemberCategory = MemberCategory.PRIVATE
    founder: bool = False
    millesimi: float = 0.0
    joined: dt.date | None = None
    left: dt.date | None = None
    pods: tuple[Pod, ...] = ()
    name: str | None = None
    email: str | None = None

    @property
    def consumption_pods(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.pods if p.kind is PodKind.CONSUMPTION)


@dataclass(frozen=True)
class Plant:
    """A renewable plant injecting through ``pod``; ``owner`` is a member id or an external producer."""

    id: str
    pod: str
    owner: str
    power_kw: float
    source: str = "pv"
    commissioning: dt.date = dt.date(2024, 1, 1)
    grant_fraction: float = 0.0
    voltage: Voltage = Voltage.BT
    primary_substation: str | None = None
    building: str | None = None
    injection_limit_kw: float | None = None  # the connection's injection limit; None: ``power_kw``

    def __post_init__(self) -> None:
        if not 0 < self.power_kw < float("inf"):
            raise ValueError(f"plant {self.id}: power_kw must be > 0, got {self.power_kw}")
        if self.injection_limit_kw is not None and not 0 < self.injection_limit_kw < float("inf"):
            raise ValueError(
                f"plant {self.id}: injection_limit_kw must be > 0, got {self.injection_limit_kw}"
            )
        if not 0.0 <= self.grant_fraction <= MAX_GRANT_FRACTION:
            raise ValueError(
                f"plant {self.id}: grant_fraction must be within 0-{MAX_GRANT_FRACTION}, got {self.grant_fraction}"
            )

    @property
    def is_pv(self) -> bool:
        return self.source.lower() in ("pv", "photovoltaic", "fotovoltaico", "solar")

    @property
    def enterprise_cap_share(self) -> float:
        """55 % of injected energy, 45 % for a plant with a PNRR grant (GSE rules, Feb 2024)."""
        return ENTERPRISE_CAP_SHARE_WITH_GRANT if self.grant_fraction > 0 else ENTERPRISE_CAP_SHARE

    def premium_eligible_on(self, day: dt.date, constituted: dt.date) -> bool:
        """The premium applies on ``day``: commissioned on/after 2021-12-16 and on/after the community's
        constitution, and ``day`` within the first 20 years from commissioning."""
        earliest = dt.date.fromisoformat(PREMIUM_EARLIEST_COMMISSIONING)
        if self.commissioning < earliest or self.commissioning < constituted:
            return False
        if day < self.commissioning:
            return False
        try:
            end = self.commissioning.replace(year=self.commissioning.year + PREMIUM_YEARS)
        except ValueError:  # 29 February
            end = self.commissioning.replace(year=self.commissioning.year + PREMIUM_YEARS, day=28)
        return day < end


@dataclass(frozen=True)
class Device:
    """A chain-2 user device (DU) registered to read the meter at ``pod``."""

    id: str
    pod: str


class ConsumersBy(StrEnum):
    UNIFORM = "uniform"
    CONSUMPTION = "consumption"
    MILLESIMI = "millesimi"


class Beneficiary(StrEnum):
    PRODUCERS = "producers"
    COMMUNITY = "community"
    CONSUMERS = "consumers"


@dataclass(frozen=True)
class Rules:
    """The community's allocation regulation (regolamento di riparto)."""

    premium_producers: float = 0.10
    premium_community: float = 0.15
    premium_consumers: float = 0.75
    consumers_by: ConsumersBy = ConsumersBy.CONSUMPTION
    sale: Beneficiary = Beneficiary.PRODUCERS
    valorisation: Beneficiary = Beneficiary.CONSUMERS
    enterprise_cap: bool = True
    # later (non-founder) members
    annual_fee_eur: float = 0.0
    exit_penalty_eur: float = 0.0
    min_shared_consumption_kwh_per_year: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.premium_producers, self.premium_community, self.premium_consumers)
        if any(s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"premium shares must be >= 0 and sum to 1, got {shares}")


@dataclass(frozen=True)
class ReadingLimits:
    """How readings are bounded (the ``readings:`` section of ``community.yaml``; not an allocation rule).

    ``default_contract_power_kw`` is the contract power assumed for a POD without its own
    ``contract_power_kw``; ``None`` (the default): the most its connection can carry
    (:data:`condivisa.domain.plausibility.CONNECTION_MAX_KW`: 100 kW in BT, 10 MW in MT).
    """

    default_contract_power_kw: float | None = None

    def __post_init__(self) -> None:
        value = self.default_contract_power_kw
        if value is not None and not 0 < value < float("inf"):
            raise ValueError(f"default_contract_power_kw must be > 0, got {value}")


@dataclass(frozen=True)
class Community:
    name: str
    configuration: ConfigurationType
    zone: Zone
    constituted: dt.date
    primary_substation: str | None = None
    building: str | None = None
    market_zone: str | None = None
    members: tuple[Member, ...] = ()
    plants: tuple[Plant, ...] = ()
    rules: Rules = field(default_factory=Rules)
    tariff_overrides: dict[str, float] = field(default_factory=dict)
    devices: tuple[Device, ...] = ()
    readings: ReadingLimits = field(default_factory=ReadingLimits)

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise KeyError(member_id)

    @property
    def consumption_pods(self) -> tuple[str, ...]:
        """Every consumption POD, in member order."""
        return tuple(code for m in self.members for code in m.consumption_pods)

    @property
    def plant_pods(self) -> tuple[str, ...]:
        return tuple(p.pod for p in self.plants)

    def pod_owner(self) -> dict[str, str]:
        """Consumption POD code -> member id."""
        return {code: m.id for m in self.members for code in m.consumption_pods}

    @property
    def all_pods(self) -> frozenset[str]:
        return (
            frozenset(self.consumption_pods)
            | frozenset(self.plant_pods)
            | frozenset(p.code for m in self.members for p in m.pods)
        )

    def check_perimeter(self) -> None:
        """Raise :class:`PerimeterError` naming the first POD outside the configuration's perimeter."""
        points: list[tuple[str, str | None, str | None]] = [
            (p.code, p.primary_substation, p.building) for m in self.members for p in m.pods
        ] + [(pl.pod, pl.primary_substation, pl.building) for pl in self.plants]
        for code, substation, _building in points:
            sub = substation or self.primary_substation
            if self.primary_substation and sub != self.primary_substation:
                raise PerimeterError(
                    f"POD {code} is under primary substation {sub}, outside the configuration's "
                    f"{self.primary_substation}"
                )
        if self.configuration.same_building:
            plant_pods = set(self.plant_pods)
            for m in self.members:
                for p in m.pods:
                    if p.code in plant_pods:
                        continue  # an AUC plant may sit elsewhere under the same substation
                    b = p.building or self.building
                    if self.building and b != self.building:
                        raise PerimeterError(
                            f"POD {p.code} is in building {b}, but a {self.configuration.value} must "
                            f"be in one building ({self.building})"
                        )
