"""The community model: configurations of the TIAD, members, PODs, plants and allocation rules.

Pure dataclasses; ``condivisa.domain.config`` loads them from ``community.yaml``.
Rules implemented here:
- configuration types and their perimeter (TIAD, ARERA 727/2022, Art. 1 and 3): AID and CAD points lie
  under one primary substation; a CER or CEC may span several of one market zone, each settled as its own
  configuration (:meth:`Community.substations`); AUC and GCA points lie in one building;
- premium eligibility of a plant (D.Lgs. 199/2021 Art. 8, DM 414/2023 Art. 3): commissioned on or
  after 2021-12-16, up to 1 MW, for its first 20 years; commissioned before the community was constituted
  only when documented as built for it (required before 2024-01-24); existing plants get valorisation only;
- plant seniority (:meth:`Community.plant_seniority`): the order in which the GSE attributes shared energy;
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

    @property
    def is_enterprise(self) -> bool:
        """An enterprise of any size (``sme`` included): barred from the premium above the threshold (GSE,
        Regole operative CACER 2024)."""
        return self in (MemberCategory.SME, MemberCategory.ENTERPRISE)


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

#: the premium is for plants (or upgrade sections) up to 1 MW each (DM MASE 414/2023, art. 3), kW
PREMIUM_MAX_POWER_KW = 1000.0
#: DM MASE 414/2023 in force: plants commissioned before it and before the community need documents
CACER_DECREE_IN_FORCE = dt.date(2024, 1, 24)
#: existing plants (before 2021-12-16) may be at most this share of the configuration's power
EXISTING_PLANTS_MAX_POWER_SHARE = 0.30


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
    joined: dt.date | None = None  # joined the configuration; None: later of commissioning, constitution
    built_for_community: bool | None = None  # documented as built for the CER (pre-constitution plants)
    section_of: str | None = None  # an upgrade section (potenziamento): the id of its plant
    rid_minimum_price: bool = False  # the GSE applies the RID minimum guaranteed prices (ARERA 280/07)

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

    @property
    def is_existing(self) -> bool:
        """Commissioned before 2021-12-16 (D.Lgs. 199/2021): valorisation only, never the premium."""
        return self.commissioning < dt.date.fromisoformat(PREMIUM_EARLIEST_COMMISSIONING)

    def joined_on(self, constituted: dt.date) -> dt.date:
        """The day the plant joined the configuration: ``joined``, or the later of its commissioning and
        the community's constitution."""
        return self.joined or max(self.commissioning, constituted)

    def premium_exclusion(self, constituted: dt.date) -> str | None:
        """Why the plant never earns the premium, or ``None`` when it may (within its 20 years).

        DM MASE 414/2023 art. 3: plants up to 1 MW (:data:`PREMIUM_MAX_POWER_KW`), commissioned on or
        after 2021-12-16; a plant commissioned before the community was constituted only when documented
        as built for it (``built_for_community``), which is required before 2024-01-24
        (:data:`CACER_DECREE_IN_FORCE`) and assumed from then on unless set to false.
        """
        if self.power_kw > PREMIUM_MAX_POWER_KW:
            return (
                f"over {PREMIUM_MAX_POWER_KW:,.0f} kW ({self.power_kw:,.0f} kW): valorisation and sale only"
            )
        if self.is_existing:
            return f"existing plant (commissioned {self.commissioning}, before 2021-12-16): valorisation only"
        if self.commissioning < constituted:
            documented = self.built_for_community
            if documented is None:
                documented = self.commissioning >= CACER_DECREE_IN_FORCE
            if not documented:
                return (
                    f"commissioned {self.commissioning}, before the community was constituted ({constituted}), "
                    "and not documented as built for it (built_for_community: true)"
                )
        return None

    def premium_eligible_on(self, day: dt.date, constituted: dt.date) -> bool:
        """The premium applies on ``day``: the plant is not excluded (:meth:`premium_exclusion`: over 1 MW,
        existing, or pre-constitution without documents) and ``day`` is within the first 20 years from
        commissioning (DM MASE 414/2023 art. 3 and 4)."""
        if self.premium_exclusion(constituted) is not None:
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


class LegalForm(StrEnum):
    """The community's legal form for income tax (``legal_form:``; Agenzia delle Entrate, Ris. 37/E/2024)."""

    NON_COMMERCIAL = "non_commercial"  # ente non commerciale (association, foundation, ETS)
    COMMERCIAL = "commercial"  # ente commerciale (company, cooperative): TUIR art. 81


class SharedEnergyAttribution(StrEnum):
    """How each hour's shared energy is attributed to the plants (each part earns its plant's TIP)."""

    SENIORITY = "seniority"  # GSE practice: the oldest plant first
    PRO_RATA = "pro_rata"  # pro rata to each plant's injection


class Beneficiary(StrEnum):
    PRODUCERS = "producers"
    COMMUNITY = "community"
    CONSUMERS = "consumers"


class ThresholdSurplusTo(StrEnum):
    """Who receives the premium above the threshold taken from enterprises (GSE, Regole operative CACER)."""

    CONSUMERS = "consumers"  # the consumer members that are not enterprises
    SOCIAL_FUND = "social_fund"  # a social purpose in the plants' territory: a payee of its own


class GseFeesBorneBy(StrEnum):
    """Who bears the GSE fees of the CACER incentive (DM 106/2024)."""

    COMMUNITY = "community"
    PRODUCERS = "producers"


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
    shared_energy_attribution: SharedEnergyAttribution = SharedEnergyAttribution.SENIORITY
    threshold_surplus_to: ThresholdSurplusTo = ThresholdSurplusTo.CONSUMERS
    gse_fees: GseFeesBorneBy = GseFeesBorneBy.COMMUNITY
    exit_min_years: float | None = None  # exit penalty only before joined + min_years; None: any exit
    #: share of the extra premium earned by demand-response events paid to the members who shifted, by kWh
    #: shifted (``rules.flexibility_bonus.share``, :mod:`condivisa.engines.flexibility`); 0: no bonus
    flexibility_bonus_share: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.premium_producers, self.premium_community, self.premium_consumers)
        if any(s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"premium shares must be >= 0 and sum to 1, got {shares}")
        if not 0.0 <= self.flexibility_bonus_share <= 1.0:
            raise ValueError(
                f"flexibility_bonus.share must be between 0 and 1, got {self.flexibility_bonus_share}"
            )


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
    warnings: tuple[str, ...] = ()  # what the loader noticed but accepted (e.g. a plant over 1 MW)
    legal_form: LegalForm = LegalForm.NON_COMMERCIAL
    tariff_overrides_by_year: dict[int, dict[str, float]] = field(
        default_factory=dict
    )  # tariffs: {YEAR: {..}}
    municipality: str | None = None  # ISTAT code of ``municipality:`` (condivisa.domain.municipalities)
    region: str | None = None  # the municipality's region
    external_producers: tuple[ExternalProducer, ...] = ()  # plant owners outside the community

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise KeyError(member_id)

    @property
    def consumption_pods(self) -> tuple[str, ...]:
        """Every consumption POD, in member order."""
        return tuple(code for m in self.members for code in m.consumption_pods)

    def plant_seniority(self) -> list[int]:
        """Indices of the plants, oldest first: by commissioning, then the day the plant joined the
        configuration (:meth:`Plant.joined_on`), then file order (GSE Regole operative CACER 2024)."""
        return sorted(
            range(len(self.plants)),
            key=lambda k: (
                self.plants[k].commissioning,
                self.plants[k].joined_on(self.constituted),
                k,
            ),
        )

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
        """Raise :class:`PerimeterError` naming the first POD outside the configuration's perimeter.

        A CER or CEC may have points under several primary substations (of its one market zone, TIAD art.
        1 and 3: each is settled as its own configuration, :func:`condivisa.domain.substations.substations`);
        an AID, CAD, AUC or GCA lies under one primary substation; AUC and GCA in one building.
        """
        points: list[tuple[str, str | None, str | None]] = [
            (p.code, p.primary_substation, p.building) for m in self.members for p in m.pods
        ] + [(pl.pod, pl.primary_substation, pl.building) for pl in self.plants]
        several = self.configuration in (ConfigurationType.CER, ConfigurationType.CEC)
        for code, substation, _building in points:
            sub = substation or self.primary_substation
            if not several and self.primary_substation and sub != self.primary_substation:
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


@dataclass(frozen=True)
class ExternalProducer:
    """A plant owner outside the community (``external_producers:``): receives what the rules give producers."""

    id: str
    name: str | None = None
