"""The chain-2 user-device profile of the UrbanDataset: one table from property name to internal field.

ENEA's ontology defines ``M1ElectricUserDevice-2.0`` (exchange meter M1 at the POD, chain-2 frames CF1-CF4)
and ``M2ElectricUserDevice-2.0`` (production meter M2, frames CF101/CF103). The property names and OBIS
codes below are the ontology's; units and data types were not published, so they follow the
``ElectricMeterReading-2.0`` template (energy ``kilowattHour``, power ``kilowatt``, IDs ``string``).
The Osservatorio's official template (WP132-008) can replace :data:`PROFILES` without touching the parser.

Also here: the ``timeZone`` spellings seen in the wild (``UTC+1``, ``UTC+01:00``, ``+01:00``, ``UTC``) and
the unit conversions a producer may declare in ``propertyDefinition.unitOfMeasure`` (e.g. ``wattHour``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

#: ``specification.uri`` prefix of the SCPS 2.0 ontology; a dataset's uri is this + its name.
ONTOLOGY_URI = "https://smartcityplatform.enea.it/specification/semantic/2.0/ontology/scps-ontology-2.0.owl#"

#: Timestamps inside an UrbanDataset: local time of ``context.timeZone``, no offset, no fraction.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class PropertySpec:
    """One line property: SCPS name, the internal field it fills, its canonical unit and OBIS code."""

    name: str
    field: str | None  # None: carried by the format but not stored
    unit: str  # canonical unitOfMeasure (what the internal field is in)
    data_type: str = "double"
    obis: str | None = None
    measurement_type: str | None = None
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Profile:
    """An UrbanDataset type of the profile: its id (``<Name>-2.0``), meter (M1/M2) and properties."""

    id: str
    name: str
    meter: str
    title: str
    properties: tuple[PropertySpec, ...]

    @property
    def uri(self) -> str:
        return ONTOLOGY_URI + self.name

    def by_name(self) -> dict[str, PropertySpec]:
        return {p.name: p for p in self.properties}


def _id(name: str, field: str | None, description: str, required: bool = False) -> PropertySpec:
    return PropertySpec(name, field, "dimensionless", "string", None, "static", description, required)


_COMMON_IDS = (
    _id("UserDeviceID", "du_id", "identifier of the chain-2 user device (DU)", required=True),
    _id("PODID", "pod", "POD code of the point of delivery the meter measures", required=True),
    _id("MeterID", "meter_id", "identifier of the meter"),
    _id("MeterSchemeID", None, "scheme of MeterID"),
    _id("PrimarySubstationID", None, "primary substation (cabina primaria) code"),
    _id("EnergyCommunityID", None, "energy community identifier"),
    _id("TownCode", None, "ISTAT municipality code (TownCode.gc)"),
    _id("Chain2WeaveCode", None, "chain-2 frame implemented (Chain2WeaveCode.gc)"),
    _id("ElectricityEndUseCode", None, "end use of the energy (ElectricityEndUseCode.gc)"),
)

M1 = Profile(
    id="M1ElectricUserDevice-2.0",
    name="M1ElectricUserDevice",
    meter="M1",
    title="M1 Electric User Device",
    properties=_COMMON_IDS
    + (
        PropertySpec(
            "WithdrawnActiveEnergy",
            "withdrawn_kwh",
            "kilowattHour",
            obis="1-0:99.1.0.255",
            measurement_type="total",
            description="active energy withdrawn in the period",
            required=True,
        ),
        PropertySpec(
            "WithdrawnActiveEnergyReading",
            "withdrawn_total_kwh",
            "kilowattHour",
            obis="1-0:1.8.0.255",
            measurement_type="instantaneous",
            description="import totalizer at the end of the period",
        ),
        PropertySpec(
            "WithdrawnActivePower",
            "withdrawn_kw",
            "kilowatt",
            obis="1-0:1.27.0.255",
            measurement_type="average",
            description="average power withdrawn in the period",
        ),
        PropertySpec(
            "FeedInActiveEnergy",
            "injected_kwh",
            "kilowattHour",
            obis="1-0:99.1.1.255",
            measurement_type="total",
            description="active energy fed into the grid in the period",
            required=True,
        ),
        PropertySpec(
            "FeedInActiveEnergyReading",
            "injected_total_kwh",
            "kilowattHour",
            obis="1-0:2.8.0.255",
            measurement_type="instantaneous",
            description="export totalizer at the end of the period",
        ),
        PropertySpec(
            "FeedInActivePower",
            "injected_kw",
            "kilowatt",
            obis="1-0:2.27.0.255",
            measurement_type="average",
            description="average power fed in in the period",
        ),
    ),
)

#: M2 measures a plant's gross production; condivisa keeps it in the injected_* fields of meter "M2" rows,
#: apart from the M1 exchange rows the settlement reads (see docs/urbandataset.md).
M2 = Profile(
    id="M2ElectricUserDevice-2.0",
    name="M2ElectricUserDevice",
    meter="M2",
    title="M2 Electric User Device",
    properties=_COMMON_IDS
    + (
        PropertySpec(
            "ProducedActiveEnergy",
            "injected_kwh",
            "kilowattHour",
            obis="1-0:99.1.1.255",
            measurement_type="total",
            description="active energy produced in the period",
            required=True,
        ),
        PropertySpec(
            "ProducedActiveEnergyReading",
            "injected_total_kwh",
            "kilowattHour",
            obis="1-0:2.8.0.255",
            measurement_type="instantaneous",
            description="production totalizer at the end of the period",
        ),
        PropertySpec(
            "ProducedActivePower",
            "injected_kw",
            "kilowatt",
            obis="1-0:2.27.0.255",
            measurement_type="average",
            description="average power produced in the period",
        ),
    ),
)

PROFILES: dict[str, Profile] = {p.id: p for p in (M1, M2)}

#: Numeric fields a Reading carries from a line (energy in kWh, power in kW).
NUMERIC_FIELDS = (
    "withdrawn_kwh",
    "injected_kwh",
    "withdrawn_total_kwh",
    "injected_total_kwh",
    "withdrawn_kw",
    "injected_kw",
)

#: Declared unit -> (canonical unit, factor to multiply by). Chain-2 devices count Wh/W; the ontology kWh/kW.
UNIT_FACTORS: dict[str, tuple[str, float]] = {
    "kilowattHour": ("kilowattHour", 1.0),
    "wattHour": ("kilowattHour", 1e-3),
    "megawattHour": ("kilowattHour", 1e3),
    "kilowatt": ("kilowatt", 1.0),
    "watt": ("kilowatt", 1e-3),
    "megawatt": ("kilowatt", 1e3),
    "dimensionless": ("dimensionless", 1.0),
}


def unit_factor(declared: str | None, canonical: str) -> float:
    """Factor turning a value in ``declared`` unit into ``canonical`` (``None`` declared = canonical).

    Raises ``ValueError`` naming the unit when it is unknown or measures another quantity.
    """
    if declared is None or declared == canonical:
        return 1.0
    target = UNIT_FACTORS.get(declared)
    if target is None:
        raise ValueError(
            f"unknown unitOfMeasure {declared!r} (expected {canonical} or one of {', '.join(UNIT_FACTORS)})"
        )
    if target[0] != canonical:
        raise ValueError(f"unitOfMeasure {declared!r} is not a unit of {canonical}")
    return target[1]


_TZ_RE = re.compile(r"^(?:UTC|GMT)?\s*(?:(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?$")


def parse_timezone(text: str) -> dt.timezone:
    """Fixed UTC offset of a ``context.timeZone``: ``UTC+1``, ``UTC+01:00``, ``+01:00``, ``UTC``,
    ``UTC+5:30``, ``Z``.

    SCPS templates write ``UTC+1``, the 2025 ontology asks for ISO 8601 ``+hh:mm``; both are read.
    Raises ``ValueError`` for anything else or an offset beyond +/-14:00.
    """
    if isinstance(text, str):
        return _parse_timezone(text)
    return _parse_timezone.__wrapped__(text)


@functools.lru_cache(maxsize=256)
def _parse_timezone(text: str) -> dt.timezone:
    """Memoised body of :func:`parse_timezone`."""
    s = str(text).strip()
    if s in ("Z", "UTC", "GMT"):
        return dt.timezone.utc
    m = _TZ_RE.match(s)
    if not m or not m.group("sign") or not (s.startswith(("UTC", "GMT")) or s[0] in "+-"):
        raise ValueError(f"timeZone {text!r} is not one of UTC, UTC+h, UTC+hh:mm, +hh:mm")
    minutes = int(m.group("h")) * 60 + int(m.group("m") or 0)
    if minutes > 14 * 60 or int(m.group("m") or 0) >= 60:
        raise ValueError(f"timeZone {text!r}: offset out of range")
    return dt.timezone(dt.timedelta(minutes=minutes if m.group("sign") == "+" else -minutes))


def format_timezone(offset: dt.timedelta) -> str:
    """The template spelling of an offset: ``UTC``, ``UTC+1``, ``UTC+2``, ``UTC-3``, ``UTC+5:30``."""
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def property_definitions(profile: Profile, names: set[str] | None = None) -> list[dict]:
    """``specification.properties.propertyDefinition`` for an emitted dataset of ``profile`` (only the
    properties in ``names`` when given, to keep messages small), plus ``period``/``start_ts``/``end_ts``."""
    defs: list[dict] = []
    for p in profile.properties:
        if names is not None and p.name not in names:
            continue
        d = {
            "propertyName": p.name,
            "propertyDescription": p.description,
            "dataType": p.data_type,
            "unitOfMeasure": p.unit,
        }
        if p.measurement_type:
            d["measurementType"] = p.measurement_type
        defs.append(d)
    defs.append(
        {
            "propertyName": "period",
            "propertyDescription": "period the line's values refer to",
            "subProperties": {"propertyName": ["start_ts", "end_ts"]},
        }
    )
    for ts in ("start_ts", "end_ts"):
        defs.append(
            {
                "propertyName": ts,
                "propertyDescription": f"{ts} of the period (local time of context.timeZone)",
                "dataType": "dateTime",
                "unitOfMeasure": "dimensionless",
            }
        )
    return defs


#: each profile's properties by name
PROPERTIES_BY_NAME = {pid: p.by_name() for pid, p in PROFILES.items()}
