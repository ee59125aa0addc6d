"""Parse, validate and emit UrbanDatasets of the chain-2 user-device profile (SCPS Information 2.0).

Validation has two layers, both reporting every problem as ``(path, reason)`` with a JSON path such as
``UrbanDataset.values.line[3].property[2].val``:

1. the public SCPS UrbanDataset JSON Schema 2.0 (draft-07, shipped in ``formats/urbandataset/data``):
structure,
   no unknown keys, every ``val`` a string;
2. the profile (:mod:`.profile`): a known dataset id, a readable ``timeZone``, every line
   with a ``period`` of exactly 15 minutes on the quarter-hour grid, ``UserDeviceID`` and ``PODID``, energies
   that are finite numbers >= 0 written with a ``.`` decimal point, converted to kWh from the declared unit,
   and at most the hard cap of :func:`condivisa.domain.plausibility.hard_cap` once converted (1e6 kWh in a
   quarter hour: ``1.7e308`` is refused with its reason, never summed into ``inf``).

Timestamps in the document are local times of ``context.timeZone`` (a fixed offset); readings carry aware
UTC datetimes, so the two 02:xx hours of the autumn DST night stay distinct.

This module is the reading half: schema and parse. The types are in :mod:`.types`, the times in
:mod:`.timestamps`; the writing half (:func:`~condivisa.formats.urbandataset.emit.emit_urbandataset`,
``build_dataset``, ``build_m1_dataset``) is :mod:`.emit`, and ``parse(emit(parse(doc))) == parse(doc)``.
Plainly valid lines are read by the fast path of :mod:`.fast`; anything else by the reference line parser
here, which reports every problem.

References
----------
.. [1] ENEA, Smart City Platform Specification (SCPS), Information 2.0 and Communication 2.0.
.. [2] JSON Schema draft-07, https://json-schema.org/draft-07.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from condivisa.domain.plausibility import hard_cap
from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.fast import fast_lines
from condivisa.formats.urbandataset.timestamps import context_instant, parse_local_timestamp, period_start
from condivisa.formats.urbandataset.types import (
    MAX_ID_LENGTH,
    FieldError,
    ParsedDataset,
    Reading,
    UrbanDatasetError,
)

if TYPE_CHECKING:
    import jsonschema
    import jsonschema_rs

SCHEMA_FILE = "urbandataset-schema-2.0.json"


# ---------------------------------------------------------------------------------------------- schema


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft7Validator:
    import jsonschema

    schema = json.loads(
        resources.files("condivisa.formats.urbandataset")
        .joinpath("data", SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    return jsonschema.Draft7Validator(schema)


@lru_cache(maxsize=1)
def _fast_validator() -> jsonschema_rs.Draft7Validator:
    """The same schema in jsonschema-rs (~200x faster), used only to let valid documents through quickly;
    formats are not checked, as jsonschema's Draft7Validator does not check them by default."""
    import jsonschema_rs

    schema = json.loads(
        resources.files("condivisa.formats.urbandataset")
        .joinpath("data", SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    return jsonschema_rs.Draft7Validator(schema, validate_formats=False)


def json_path(parts: Iterable[str | int], root: str = "") -> str:
    """``['UrbanDataset','values','line',3]`` -> ``UrbanDataset.values.line[3]``."""
    out = root
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "$"


def _schema_reason(err: jsonschema.ValidationError) -> str:
    if err.validator == "enum" and err.validator_value == [False]:
        return "key not allowed by the UrbanDataset schema"
    if err.validator == "oneOf":
        return "must have exactly one of the alternatives (e.g. 'val' or 'property'; 'dataType' or 'subProperties')"
    if err.validator == "not":
        return "'subProperties' cannot be combined with codeList/unitOfMeasure/measurementType"
    msg = err.message
    return msg if len(msg) <= 200 else msg[:197] + "..."


def validate_schema(doc: object, root: str = "") -> list[FieldError]:
    """Errors of ``doc`` against the SCPS UrbanDataset JSON Schema 2.0 (``context.note`` is tolerated)."""
    if not isinstance(doc, dict):  # the schema has no top-level "type": say it here
        return [
            FieldError(
                root.rstrip(".") or "$",
                f"expected a JSON object with an 'UrbanDataset' key, got {type(doc).__name__}",
            )
        ]
    if isinstance(doc, dict) and isinstance(doc.get("UrbanDataset"), dict):
        ctx = doc["UrbanDataset"].get("context")
        if isinstance(ctx, dict) and isinstance(
            ctx.get("note"), str
        ):  # in the 2024 OpenAPI model, not the schema
            doc = {
                **doc,
                "UrbanDataset": {
                    **doc["UrbanDataset"],
                    "context": {k: v for k, v in ctx.items() if k != "note"},
                },
            }
    if _fast_validator().is_valid(doc):  # fast path (Rust); jsonschema below gives every error with its path
        return []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [FieldError(json_path(e.absolute_path, root), _schema_reason(e)) for e in errors[:100]]


# ---------------------------------------------------------------------------------------------- parse


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
    factors, problems = (
        _factors_of(profile.id, key) if key is not None else _factors_of.__wrapped__(profile.id, ())
    )
    errors += [
        FieldError(f"{root}UrbanDataset.specification.properties.propertyDefinition[{i}].unitOfMeasure", text)
        for i, text in problems
    ]
    return factors


@lru_cache(maxsize=256)
def _factors_of(profile_id: str, defs: tuple) -> tuple[dict[str, float], tuple[tuple[int, str], ...]]:
    """:func:`_unit_factors` of ``((propertyName, unitOfMeasure), ...)``: ``(factors, ((index, error), ...))``."""
    factors: dict[str, float] = {}
    problems = []
    known = prof.PROPERTIES_BY_NAME[profile_id]
    for i, (name, unit) in enumerate(defs):
        p = known.get(name)
        if p is None or p.data_type != "double":
            continue
        try:
            factors[p.name] = prof.unit_factor(unit, p.unit)
        except ValueError as exc:
            problems.append((i, str(exc)))
    return factors, tuple(problems)


def _parse_line(
    line: dict,
    index: int,
    path: str,
    profile: prof.Profile,
    tz: dt.timezone,
    factors: dict[str, float],
    errors: list[FieldError],
    ignored: set[str],
) -> Reading | None:
    """One line -> a :class:`Reading`, or ``None`` with its problems appended to ``errors``. JSON paths are
    built only for errors (a valid line costs no string formatting)."""
    n0 = len(errors)
    known = prof.PROPERTIES_BY_NAME[profile.id]
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for k, item in enumerate(line.get("property") or []):
        name = item.get("name")
        spec = known.get(name)
        if spec is None:
            ignored.add(str(name))
            continue
        if name in seen:
            errors.append(
                FieldError(f"{path}.property[{k}].name", f"property {name!r} appears twice in the line")
            )
            continue
        seen.add(name)
        if "val" not in item:
            errors.append(
                FieldError(
                    f"{path}.property[{k}]", f"property {name!r} must have a 'val', not nested properties"
                )
            )
            continue
        val = item["val"]
        if spec.field is None:
            continue
        if spec.data_type == "string":
            s = val.strip()
            if not s or len(s) > MAX_ID_LENGTH or not s.isprintable():
                errors.append(
                    FieldError(
                        f"{path}.property[{k}].val",
                        f"{name} must be 1-{MAX_ID_LENGTH} printable characters, got {val[:80]!r}",
                    )
                )
            else:
                values[spec.field] = s
            continue
        try:
            number = _number(val) * factors.get(name, 1.0)
        except ValueError as exc:
            errors.append(
                FieldError(
                    f"{path}.property[{k}].val",
                    f"{name}: {exc}" if "'" in str(exc) else f"{name}: {val!r} is not a number",
                )
            )
            continue
        if number < 0:
            errors.append(FieldError(f"{path}.property[{k}].val", f"{name} must be >= 0, got {val!r}"))
            continue
        cap = hard_cap(spec.field)
        if number > cap:
            errors.append(
                FieldError(
                    f"{path}.property[{k}].val",
                    f"{name}: {val[:40]!r} is above {cap:g} {spec.unit}, more than any meter can read",
                )
            )
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
        start, problem = period_start(period, tz)
        if problem is not None:
            errors.append(FieldError(f"{path}.period{problem[0]}", problem[1]))
            start = None
    if len(errors) > n0 or start is None:
        return None
    return Reading(meter=profile.meter, start=start, line=index, **values)


def parse_urbandataset(doc: object, *, root: str = "") -> ParsedDataset:
    """Validate ``doc`` (the parsed JSON ``{"UrbanDataset": ...}``) and return its readings.

    Raises :class:`UrbanDatasetError` listing every schema and profile error; ``root`` prefixes the
    paths (``"dataset."`` for an SCPS ``/push`` body).
    """
    errors = validate_schema(doc, root)
    if errors or not isinstance(doc, dict):  # validate_schema reports a document that is not an object
        raise UrbanDatasetError(errors)
    ud = doc["UrbanDataset"]
    spec, ctx = ud["specification"], ud["context"]
    profile = prof.PROFILES.get(spec["id"]["value"])
    if profile is None:
        raise UrbanDatasetError(
            [
                FieldError(
                    f"{root}UrbanDataset.specification.id.value",
                    f"{spec['id']['value']!r} is not one of {', '.join(prof.PROFILES)}",
                )
            ]
        )
    try:
        tz = prof.parse_timezone(ctx["timeZone"])
    except ValueError as exc:
        raise UrbanDatasetError([FieldError(f"{root}UrbanDataset.context.timeZone", str(exc))]) from None
    timestamp: dt.datetime | None
    try:
        timestamp = (
            context_instant(ctx["timestamp"], tz)
            if isinstance(ctx["timestamp"], str)
            else parse_local_timestamp(ctx["timestamp"], tz)
        )
    except ValueError as exc:
        errors.append(FieldError(f"{root}UrbanDataset.context.timestamp", str(exc)))
        timestamp = None
    factors = _unit_factors(spec, profile, root, errors)
    readings: list[Reading] = []
    where: dict[tuple[str, dt.datetime], int] = {}
    ignored: set[str] = set()
    prefix = f"{root}UrbanDataset.values.line["
    fast = fast_lines(ud["values"]["line"], profile, tz, factors) if not errors else None
    for i, line in enumerate(ud["values"]["line"] if fast is None else ()):
        path = f"{prefix}{i}]"
        r = _parse_line(line, i, path, profile, tz, factors, errors, ignored)
        if r is None:
            continue
        key = (r.pod, r.start)
        if key in where:
            if readings[where[key]] != r:
                errors.append(
                    FieldError(
                        path,
                        f"POD {r.pod} at {r.start.isoformat()} already given with other values in line[{where[key]}]",
                    )
                )
            continue
        where[key] = len(readings)
        readings.append(r)
    if errors or timestamp is None:  # an unreadable timestamp is one of the errors
        raise UrbanDatasetError(errors)
    if fast is not None:
        readings = fast
    coords = ctx["coordinates"]
    return ParsedDataset(
        profile_id=profile.id,
        producer_id=ctx["producer"]["id"],
        producer_scheme=ctx["producer"].get("schemeID"),
        timestamp=timestamp,
        timezone=tz,
        readings=tuple(readings),
        language=ctx.get("language"),
        latitude=float(coords["latitude"]),
        longitude=float(coords["longitude"]),
        ignored_properties=tuple(sorted(ignored)),
    )
