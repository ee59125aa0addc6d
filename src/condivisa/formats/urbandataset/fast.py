"""The parser's fast path: the readings of a list of UrbanDataset lines when every line is plainly valid.

:func:`fast_lines` returns exactly what the reference line parser of
:mod:`condivisa.formats.urbandataset.parse`
would return, or ``None`` — and then the reference reads the lines again and reports every problem with its
JSON path. It exists for speed only (one regular expression and one ``map(float)`` for all the numbers of a
message, readings built without the frozen dataclass ``__init__``); ``tests/test_urbandataset_fast.py`` checks
with hypothesis that it never disagrees with the reference.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from functools import lru_cache

from condivisa.domain.plausibility import hard_cap
from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.timestamps import period_start
from condivisa.formats.urbandataset.types import MAX_ID_LENGTH, Reading

#: every number of a message, one per line of the joined text, in the exact syntax :func:`_number` accepts
_NUMBERS_RE = re.compile(r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\n)*")
_READING_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Reading)}


def _new_reading(values: dict[str, object]) -> Reading:
    """A :class:`Reading` from a complete field dict without the frozen dataclass ``__init__`` (12
    ``object.__setattr__`` calls, a third of the cost of a line): the same object, equal and hashable
    alike."""
    r = object.__new__(Reading)
    object.__setattr__(r, "__dict__", values)
    return r


@lru_cache(maxsize=None)
def _plan(profile_id: str) -> tuple[dict, list, list, frozenset]:
    """What :func:`fast_lines` needs of a profile: properties by name, string and number fields, required names."""
    profile = prof.PROFILES[profile_id]
    return (
        prof.PROPERTIES_BY_NAME[profile_id],
        [(s.name, s.field) for s in profile.properties if s.field is not None and s.data_type == "string"],
        [(s.name, s.field) for s in profile.properties if s.field is not None and s.data_type != "string"],
        frozenset(s.name for s in profile.properties if s.required),
    )


def fast_lines(
    lines: list, profile: prof.Profile, tz: dt.timezone, factors: dict[str, float]
) -> list[Reading] | None:
    """The readings of ``lines`` when every line is plainly valid, else ``None`` — then :func:`_parse_line`
    (the reference) reads them again and reports every problem with its path. Returns readings only where
    the reference would return the same ones: unknown or repeated properties, padded strings or numbers,
    any number the reference might refuse, a bad period or a POD/quarter given twice all fall back."""
    known, strings, plain, required = _plan(profile.id)
    numbers = [(name, fld, factors.get(name, 1.0), hard_cap(fld)) for name, fld in plain]
    texts: list[str] = []
    rows: list[tuple[dict[str, object], dict[str, str]]] = []  # (reading fields, property values)
    keys: set[tuple[object, dt.datetime | None]] = set()
    try:
        for index, line in enumerate(lines):
            props = line["property"]
            vals = {item["name"]: item["val"] for item in props}
            if len(vals) != len(props) or not vals.keys() <= known.keys() or not required <= vals.keys():
                return None
            values: dict[str, object] = dict(_READING_DEFAULTS)
            values["meter"], values["line"] = profile.meter, index
            for name, fld in strings:
                s = vals.get(name)
                if s is not None:
                    if not (0 < len(s) <= MAX_ID_LENGTH and s.isprintable() and s == s.strip()):
                        return None
                    values[fld] = s
            for name, _fld, _, _ in numbers:
                s = vals.get(name)
                if s is not None:
                    texts.append(s)
            hit = period_start(line["period"], tz)
            if hit[1] is not None:
                return None
            values["start"] = hit[0]
            if (values["pod"], hit[0]) in keys:
                return None
            keys.add((values["pod"], hit[0]))
            rows.append((values, vals))
    except (KeyError, TypeError, AttributeError):
        return None
    joined = "\n".join(texts) + "\n" if texts else ""
    if not _NUMBERS_RE.fullmatch(joined):
        return None
    parsed = list(map(float, texts))
    if parsed and (min(parsed) < 0 or not math.isfinite(sum(parsed))):
        return None
    it = iter(parsed)
    out = []
    for values, vals in rows:
        for name, fld, factor, cap in numbers:
            if name in vals:
                number = next(it) * factor
                if number > cap:  # above the hard cap: the reference reports it
                    return None
                values[fld] = number
        out.append(_new_reading(values))
    return out
