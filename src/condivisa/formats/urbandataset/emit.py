"""Emit UrbanDatasets of the chain-2 user-device profile (SCPS Information 2.0): the writing half of
:mod:`condivisa.formats.urbandataset.parse` (which re-exports everything here).

- :func:`emit_urbandataset` writes a :class:`~condivisa.formats.urbandataset.parse.ParsedDataset` back as a
  schema-valid ``{"UrbanDataset": ...}`` document: every value a string in kWh/kW with a ``.`` decimal point
  (:func:`format_value`), timestamps as local times of ``context.timeZone`` in the template spelling
  (``UTC+1``/``UTC+2``), so ``parse(emit(parse(doc))) == parse(doc)``;
- :func:`build_dataset` / :func:`build_m1_dataset` make a document from readings (dicts or objects), the way
  the simulator, the SCPS gateway and the tests build messages; the same readings always give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.types import ParsedDataset, Reading
from condivisa.kernel.timegrid import ROME, UTC

__all__ = ["format_value", "emit_urbandataset", "build_dataset", "build_m1_dataset"]


def format_value(value: float) -> str:
    """Shortest positional decimal that reads back to the same float, ``.`` separator (``0.061``, ``12.0``)."""
    return np.format_float_positional(float(value), unique=True, trim="0")


def _local(ts: dt.datetime, tz: dt.timezone) -> str:
    return ts.astimezone(tz).strftime(prof.TIMESTAMP_FORMAT)


def emit_urbandataset(parsed: ParsedDataset) -> dict:
    """The ``{"UrbanDataset": ...}`` document of ``parsed`` (schema-valid; values as strings, kWh)."""
    profile = prof.PROFILES[parsed.profile_id]
    by_field = {p.field: p for p in profile.properties if p.field}
    lines = []
    used: set[str] = set()
    for i, r in enumerate(parsed.readings):
        props = []
        for fld, spec in by_field.items():
            value = getattr(r, fld, None)
            if value is None:
                continue
            props.append(
                {"name": spec.name, "val": value if spec.data_type == "string" else format_value(value)}
            )
            used.add(spec.name)
        lines.append(
            {
                "id": i + 1,
                "period": {
                    "start_ts": _local(r.start, parsed.timezone),
                    "end_ts": _local(r.end, parsed.timezone),
                },
                "property": props,
            }
        )
    producer = {"id": parsed.producer_id}
    if parsed.producer_scheme is not None:
        producer["schemeID"] = parsed.producer_scheme
    context = {
        "producer": producer,
        "timeZone": prof.format_timezone(parsed.timezone.utcoffset(None)),
        "timestamp": _local(parsed.timestamp, parsed.timezone),
        "coordinates": {
            "format": "WGS84-DD",
            "latitude": parsed.latitude,
            "longitude": parsed.longitude,
            "height": 0.0,
        },
    }
    if parsed.language is not None:
        context["language"] = parsed.language
    return {
        "UrbanDataset": {
            "specification": {
                "version": "2.0",
                "id": {"value": profile.id, "schemeID": "SCPS"},
                "name": profile.title,
                "uri": profile.uri,
                "properties": {"propertyDefinition": prof.property_definitions(profile, used)},
            },
            "context": context,
            "values": {"line": lines},
        }
    }


def _reading(obj: object, meter: str) -> Reading:
    """A :class:`Reading` of ``obj``: a reading, a mapping or any object with the reading's attributes."""
    if isinstance(obj, Reading):
        return replace(obj, meter=meter)
    # the values are the caller's (checked or converted below)
    get: Callable[..., Any] = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
    start = get("start")
    if not isinstance(start, dt.datetime) or start.tzinfo is None:
        raise ValueError(f"reading start must be a time-zone aware datetime, got {start!r}")
    fields = {
        k: get(k)
        for k in ("withdrawn_total_kwh", "injected_total_kwh", "withdrawn_kw", "injected_kw", "meter_id")
    }
    du_id = get("du_id")  # None (e.g. a row imported from CSV): no UserDeviceID, never the text "None"
    return Reading(
        pod=str(get("pod")),
        du_id=None if du_id is None else str(du_id),
        start=start.astimezone(UTC),
        withdrawn_kwh=float(get("withdrawn_kwh", 0.0) or 0.0),
        injected_kwh=float(get("injected_kwh", 0.0) or 0.0),
        meter=meter,
        **{k: v for k, v in fields.items() if v is not None},
    )


def build_dataset(
    readings: Iterable[object],
    *,
    producer_id: str,
    profile_id: str = prof.M1.id,
    timestamp: dt.datetime | None = None,
    timezone: dt.timezone | None = None,
) -> dict:
    """A valid UrbanDataset document carrying ``readings`` (dicts or objects with ``du_id``, ``pod``, aware
    ``start``, ``withdrawn_kwh``, ``injected_kwh`` and optionally
    ``withdrawn_total_kwh``/``injected_total_kwh``).

    ``timestamp`` (``context.timestamp``) defaults to the end of the latest quarter hour carried, so the same
    readings always give the same document (a re-sent message is byte-identical). ``timezone`` defaults to
    Europe/Rome's offset at ``timestamp``, i.e. ``UTC+1``/``UTC+2``; every line is written in that one offset.
    """
    profile = prof.PROFILES[profile_id]
    rows = tuple(_reading(r, profile.meter) for r in readings)
    if not rows:
        raise ValueError("an UrbanDataset needs at least one reading")
    timestamp = (timestamp or max(r.end for r in rows)).replace(microsecond=0)
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be time-zone aware")
    tz = timezone or _rome_offset(timestamp)
    parsed = ParsedDataset(
        profile_id=profile.id,
        producer_id=producer_id,
        timestamp=timestamp.astimezone(UTC),
        timezone=tz,
        readings=rows,
        language="IT",
    )
    return emit_urbandataset(parsed)


def _rome_offset(timestamp: dt.datetime) -> dt.timezone:
    """Europe/Rome's fixed offset at the aware ``timestamp`` (``UTC+1`` or ``UTC+2``)."""
    offset = timestamp.astimezone(ROME).utcoffset()
    assert offset is not None  # a time in a ZoneInfo zone always has an offset
    return dt.timezone(offset)


def build_m1_dataset(
    readings: Iterable[object],
    *,
    producer_id: str,
    timestamp: dt.datetime | None = None,
    timezone: dt.timezone | None = None,
) -> dict:
    """:func:`build_dataset` for ``M1ElectricUserDevice-2.0`` (the exchange meter at a member's POD)."""
    return build_dataset(
        readings, producer_id=producer_id, profile_id=prof.M1.id, timestamp=timestamp, timezone=timezone
    )
