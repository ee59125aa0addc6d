"""Parse, validate and emit UrbanDatasets of the chain-2 user-device profile (SCPS Information 2.0).

Validation has two layers, both reporting every problem as ``(path, reason)`` with a JSON path such as
``UrbanDataset.values.line[3].property[2].val``:

1. the public SCPS UrbanDataset JSON Schema 2.0 (draft-07, shipped in ``condivisa/data``): structure,
   no unknown keys, every ``val`` a string;
2. the profile (:mod:`condivisa.edges.ud_profile`): a known dataset id, a readable ``timeZone``, every line
   with a ``period`` of exactly 15 minutes on the quarter-hour grid, ``UserDeviceID`` and ``PODID``, energies
   that are finite numbers >= 0 written with a ``.`` decimal point, converted to kWh from the declared unit.

Timestamps in the document are local times of ``context.timeZone`` (a fixed offset); readings carry aware
UTC datetimes, so the two 02:xx hours of the autumn DST night stay distinct.

This module is the reading half (types, schema, parse); the writing half — :func:`emit_urbandataset`,
:func:`build_dataset`, :func:`build_m1_dataset`, :func:`format_value` — lives in :mod:`condivisa.edges.ud_emit`
and is re-exported here, so ``from condivisa.edges.urbandataset import build_m1_dataset`` keeps working
(``parse(emit(parse(doc))) == parse(doc)``). Plainly valid lines are read by the fast path of
:mod:`condivisa.edges.ud_fast`; anything else by the reference line parser here, which reports every problem.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from condivisa.edges import ud_profile as prof

UTC = dt.timezone.utc
_BY_NAME = {pid: p.by_name() for pid, p in prof.PROFILES.items()}
QUARTER = dt.timedelta(minutes=15)
SCHEMA_FILE = "urbandataset-schema-2.0.json"
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class FieldError:
    """One problem in a document: where (JSON path) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class UrbanDatasetError(ValueError):
    """The document is not a valid UrbanDataset of the profile; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(shown + more)


@dataclass(frozen=True)
class Reading:
    """One quarter hour of one POD as a user device reported it (energy in kWh, power in kW, UTC times)."""

    pod: str
    start: dt.datetime
    withdrawn_kwh: float = 0.0
    injected_kwh: float = 0.0
    du_id: str | None = None
    withdrawn_total_kwh: float | None = None
    injected_total_kwh: float | None = None
    withdrawn_kw: float | None = None
    injected_kw: float | None = None
    meter: str = "M1"
    meter_id: str | None = None
    line: int | None = field(default=None, compare=False)  # index of the line it came from

    @property
    def end(self) -> dt.datetime:
        return self.start + QUARTER


@dataclass(frozen=True)
class ParsedDataset:
    """An UrbanDataset reduced to what condivisa keeps; ``readings`` in line order."""

    profile_id: str
    producer_id: str
    timestamp: dt.datetime  # aware
    timezone: dt.timezone
    readings: tuple[Reading, ...]
    producer_scheme: str | None = None
    language: str | None = None
    latitude: float = 0.0
    longitude: float = 0.0
    ignored_properties: tuple[str, ...] = field(default=(), compare=False)


# ---------------------------------------------------------------------------------------------- schema


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(resources.files("condivisa").joinpath("data", SCHEMA_FILE).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


@lru_cache(maxsize=1)
def _fast_validator():
    """The same schema in jsonschema-rs (~200x faster), used only to let valid documents through quickly;
    formats are not checked, as jsonschema's Draft7Validator does not check them by default."""
    import jsonschema_rs

    schema = json.loads(resources.files("condivisa").joinpath("data", SCHEMA_FILE).read_text(encoding="utf-8"))
    return jsonschema_rs.Draft7Validator(schema, validate_formats=False)


def json_path(parts: Iterable[Any], root: str = "") -> str:
    """``['UrbanDataset','values','line',3]`` -> ``UrbanDataset.values.line[3]``."""
    out = root
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "$"


def _schema_reason(err) -> str:
    if err.validator == "enum" and err.validator_value == [False]:
        return "key not allowed by the UrbanDataset schema"
    if err.validator == "oneOf":
        return "must have exactly one of the alternatives (e.g. 'val' or 'property'; 'dataType' or 'subProperties')"
    if err.validator == "not":
        return "'subProperties' cannot be combined with codeList/unitOfMeasure/measurementType"
    msg = err.message
    return msg if len(msg) <= 200 else msg[:197] + "..."


def validate_schema(doc: Any, root: str = "") -> list[FieldError]:
    """Errors of ``doc`` against the SCPS UrbanDataset JSON Schema 2.0 (``context.note`` is tolerated)."""
    if not isinstance(doc, dict):  # the schema has no top-level "type": say it here
        return [FieldError(root.rstrip(".") or "$", f"expected a JSON object with an 'UrbanDataset' key, got {type(doc).__name__}")]
    if isinstance(doc, dict) and isinstance(doc.get("UrbanDataset"), dict):
        ctx = doc["UrbanDataset"].get("context")
        if isinstance(ctx, dict) and isinstance(ctx.get("note"), str):  # in the 2024 OpenAPI model, not the schema
            doc = {**doc, "UrbanDataset": {**doc["UrbanDataset"], "context": {k: v for k, v in ctx.items() if k != "note"}}}
    if _fast_validator().is_valid(doc):  # fast path (Rust); jsonschema below gives every error with its path
        return []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [FieldError(json_path(e.absolute_path, root), _schema_reason(e)) for e in errors[:100]]


# ---------------------------------------------------------------------------------------------- parse


def parse_local_timestamp(text: Any, tz: dt.timezone) -> dt.datetime:
    """``YYYY-MM-DDThh:mm:ss`` in the fixed offset ``tz`` -> aware UTC datetime (``ValueError`` otherwise)."""
    if not isinstance(text, str) or not prof.TIMESTAMP_RE.match(text):
        raise ValueError(f"{text!r} is not a timestamp YYYY-MM-DDThh:mm:ss")
    try:
        local = dt.datetime.fromisoformat(text)  # the regex above guarantees the exact shape
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date and time") from None
    return local.replace(tzinfo=tz).astimezone(UTC)


#: :func:`parse_local_timestamp` remembered: devices sending at the same quarter hour share the instant
_context_instant = lru_cache(maxsize=4096)(parse_local_timestamp)

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _number(text: str) -> float:
    s = text.strip()
    if "," in s:
        raise ValueError(f"{text!r}: the decimal separator must be '.'")
    if not _DECIMAL_RE.match(s):
        raise ValueError(f"{text!r} is not a number")
    value = float(s)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _unit_factors(spec: dict, profile: prof.Profile, root: str, errors: list[FieldError]) -> dict[str, float]:
    """Factor from each double property's declared unit to the profile's (e.g. Wh -> kWh: 0.001); a unit that
    cannot be converted is an error at its ``propertyDefinition``. Read-only result (shared between messages
    declaring the same units)."""
    defs = ((spec.get("properties") or {}).get("propertyDefinition")) or []
    try:
        key = tuple((d.get("propertyName"), d.get("unitOfMeasure")) for d in defs)
        hash(key)
    except (AttributeError, TypeError):  # not a list of objects of strings: the schema reported it already
        key = None
    factors, problems = _factors_of(profile.id, key) if key is not None else _factors_of.__wrapped__(profile.id, ())
    errors += [FieldError(f"{root}UrbanDataset.specification.properties.propertyDefinition[{i}].unitOfMeasure", text)
               for i, text in problems]
    return factors


@lru_cache(maxsize=256)
def _factors_of(profile_id: str, defs: tuple) -> tuple[dict[str, float], tuple[tuple[int, str], ...]]:
    """:func:`_unit_factors` of ``((propertyName, unitOfMeasure), ...)``: ``(factors, ((index, error), ...))``."""
    factors: dict[str, float] = {}
    problems = []
    known = _BY_NAME[profile_id]
    for i, (name, unit) in enumerate(defs):
        p = known.get(name)
        if p is None or p.data_type != "double":
            continue
        try:
            factors[p.name] = prof.unit_factor(unit, p.unit)
        except ValueError as exc:
            problems.append((i, str(exc)))
    return factors, tuple(problems)


def _parse_line(line: dict, index: int, path: str, profile: prof.Profile, tz: dt.timezone, factors: dict[str, float],
                errors: list[FieldError], ignored: set[str]) -> Reading | None:
    """One line -> a :class:`Reading`, or ``None`` with its problems appended to ``errors``. JSON paths are
    built only for errors (a valid line costs no string formatting)."""
    n0 = len(errors)
    known = _BY_NAME[profile.id]
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for k, item in enumerate(line.get("property") or []):
        name = item.get("name")
        spec = known.get(name)
        if spec is None:
            ignored.add(str(name))
            continue
        if name in seen:
            errors.append(FieldError(f"{path}.property[{k}].name", f"property {name!r} appears twice in the line"))
            continue
        seen.add(name)
        if "val" not in item:
            errors.append(FieldError(f"{path}.property[{k}]", f"property {name!r} must have a 'val', not nested properties"))
            continue
        val = item["val"]
        if spec.field is None:
            continue
        if spec.data_type == "string":
            s = val.strip()
            if not s or len(s) > MAX_ID_LENGTH or not s.isprintable():
                errors.append(FieldError(f"{path}.property[{k}].val", f"{name} must be 1-{MAX_ID_LENGTH} printable characters, got {val[:80]!r}"))
            else:
                values[spec.field] = s
            continue
        try:
            number = _number(val) * factors.get(name, 1.0)
        except ValueError as exc:
            errors.append(FieldError(f"{path}.property[{k}].val", f"{name}: {exc}" if "'" in str(exc) else f"{name}: {val!r} is not a number"))
            continue
        if number < 0:
            errors.append(FieldError(f"{path}.property[{k}].val", f"{name} must be >= 0, got {val!r}"))
            continue
        values[spec.field] = number
    if len(seen) < len(profile.properties):
        for spec in profile.properties:
            if spec.required and spec.name not in seen:
                errors.append(FieldError(f"{path}.property", f"missing required property {spec.name!r}"))
    period = line.get("period")
    start = None
    if not isinstance(period, dict):
        errors.append(FieldError(f"{path}.period", "missing: every line needs a period (start_ts, end_ts)"))
    else:
        start, problem = _period(period, tz)
        if problem is not None:
            errors.append(FieldError(f"{path}.period{problem[0]}", problem[1]))
            start = None
    if len(errors) > n0 or start is None:
        return None
    return Reading(meter=profile.meter, start=start, line=index, **values)


def _period(period: dict, tz: dt.timezone) -> tuple[dt.datetime | None, tuple[str, str] | None]:
    """``(start, None)`` of a valid 15-minute period on the quarter-hour grid, else ``(None, (subpath, reason))``."""
    start_ts, end_ts = period.get("start_ts"), period.get("end_ts")
    if isinstance(start_ts, str) and isinstance(end_ts, str):
        return _period_of(start_ts, end_ts, tz)  # the same quarter hours come in every message: remembered
    return _period_of.__wrapped__(start_ts, end_ts, tz)


@lru_cache(maxsize=8192)
def _period_of(start_ts: Any, end_ts: Any, tz: dt.timezone) -> tuple[dt.datetime | None, tuple[str, str] | None]:
    try:
        start = parse_local_timestamp(start_ts, tz)
        end = parse_local_timestamp(end_ts, tz)
    except ValueError as exc:
        return None, ("", str(exc))
    if end - start != QUARTER:
        minutes = (end - start).total_seconds() / 60
        return None, ("", f"period is {minutes:g} minutes, expected 15")
    if start.minute % 15 or start.second:
        return None, (".start_ts", f"{start_ts!r} is not on the quarter-hour grid")
    return start, None


def _fast_lines(lines: list, profile: prof.Profile, tz: dt.timezone, factors: dict[str, float]) -> list[Reading] | None:
    """The fast path of valid lines (:func:`condivisa.edges.ud_fast.fast_lines`), imported on first use: that
    module builds on this one."""
    from condivisa.edges.ud_fast import fast_lines

    return fast_lines(lines, profile, tz, factors)


def parse_urbandataset(doc: Any, *, root: str = "") -> ParsedDataset:
    """Validate ``doc`` (the parsed JSON ``{"UrbanDataset": ...}``) and return its readings.

    Raises :class:`UrbanDatasetError` listing every schema and profile error; ``root`` prefixes the
    paths (``"dataset."`` for an SCPS ``/push`` body).
    """
    errors = validate_schema(doc, root)
    if errors:
        raise UrbanDatasetError(errors)
    ud = doc["UrbanDataset"]
    spec, ctx = ud["specification"], ud["context"]
    profile = prof.PROFILES.get(spec["id"]["value"])
    if profile is None:
        raise UrbanDatasetError([FieldError(f"{root}UrbanDataset.specification.id.value",
                                            f"{spec['id']['value']!r} is not one of {', '.join(prof.PROFILES)}")])
    try:
        tz = prof.parse_timezone(ctx["timeZone"])
    except ValueError as exc:
        raise UrbanDatasetError([FieldError(f"{root}UrbanDataset.context.timeZone", str(exc))]) from None
    try:
        timestamp = _context_instant(ctx["timestamp"], tz) if isinstance(ctx["timestamp"], str) else \
            parse_local_timestamp(ctx["timestamp"], tz)
    except ValueError as exc:
        errors.append(FieldError(f"{root}UrbanDataset.context.timestamp", str(exc)))
        timestamp = None
    factors = _unit_factors(spec, profile, root, errors)
    readings: list[Reading] = []
    where: dict[tuple[str, dt.datetime], int] = {}
    ignored: set[str] = set()
    prefix = f"{root}UrbanDataset.values.line["
    fast = _fast_lines(ud["values"]["line"], profile, tz, factors) if not errors else None
    for i, line in enumerate(ud["values"]["line"] if fast is None else ()):
        path = f"{prefix}{i}]"
        r = _parse_line(line, i, path, profile, tz, factors, errors, ignored)
        if r is None:
            continue
        key = (r.pod, r.start)
        if key in where:
            if readings[where[key]] != r:
                errors.append(FieldError(path, f"POD {r.pod} at {r.start.isoformat()} already given with other values in line[{where[key]}]"))
            continue
        where[key] = len(readings)
        readings.append(r)
    if errors:
        raise UrbanDatasetError(errors)
    if fast is not None:
        readings = fast
    coords = ctx["coordinates"]
    return ParsedDataset(
        profile_id=profile.id, producer_id=ctx["producer"]["id"], producer_scheme=ctx["producer"].get("schemeID"),
        timestamp=timestamp, timezone=tz, readings=tuple(readings), language=ctx.get("language"),
        latitude=float(coords["latitude"]), longitude=float(coords["longitude"]), ignored_properties=tuple(sorted(ignored)),
    )


# ---------------------------------------------------------------------------------------------- emit (re-export)

#: the writing half, in :mod:`condivisa.edges.ud_emit` (which imports this module's types, so it is loaded on
#: first use rather than at import time: either module may be imported first)
_EMIT_NAMES = ("format_value", "emit_urbandataset", "build_dataset", "build_m1_dataset", "ROME")


def __getattr__(name: str) -> Any:
    """PEP 562: ``urbandataset.build_m1_dataset`` etc. come from :mod:`condivisa.edges.ud_emit`."""
    if name in _EMIT_NAMES:
        from condivisa.edges import ud_emit

        value = getattr(ud_emit, name)
        globals()[name] = value  # next time a plain module attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EMIT_NAMES))
