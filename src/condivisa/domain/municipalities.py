"""Italian municipalities (ISTAT): region, geographic zone of the PV correction and GME market zone.

``municipality:`` in ``community.yaml`` names the community's municipality by its ISTAT name or code;
this module finds it in the ISTAT list shipped as package data (``data/istat_municipalities.csv``, a
cleaned copy of the list RSE's CACER simulator redistributes, see ``tools/clean_istat.py``) and gives:

- the **region**;
- the **geographic zone** of the PV premium's correction (DM 414/2023, Allegato 1): North (+10 €/MWh)
  for Emilia-Romagna, Friuli-Venezia Giulia, Liguria, Lombardia, Piemonte, Trentino-Alto Adige,
  Valle d'Aosta and Veneto; Centre (+4 €/MWh) for Lazio, Marche, Toscana, Umbria and Abruzzo; South (0)
  for the others, the islands included. ISTAT's own *ripartizione geografica* (which puts Abruzzo in the
  South) is not the decree's split and is not used;
- the GME **market zone** (``NORD``, ``CNOR``, ``CSUD``, ``SUD``, ``CALA``, ``SICI``, ``SARD``).

A name is matched whole, ignoring case, accents, apostrophes, spaces and hyphens (``"ACI SANT’ANTONIO"``
and ``"aci santantonio"`` both find ``Aci Sant'Antonio``); a name several
municipalities share is refused with their codes (write the code, or the province in brackets:
``Livo (TN)``). A code is matched exactly, its leading zeros optional (``1001`` is ``001001``).
"""

from __future__ import annotations

import csv
import difflib
import functools
import importlib.resources
import io
import re
import unicodedata
from dataclasses import dataclass, replace

from condivisa.domain.tariffs import Zone

#: the columns of the shipped list
COLUMNS = ("istat_code", "name", "names", "region", "province", "province_code", "market_zone")

#: the regions of each geographic zone of DM 414/2023 (South: every other region)
NORTH_REGIONS = (
    "Emilia-Romagna",
    "Friuli-Venezia Giulia",
    "Liguria",
    "Lombardia",
    "Piemonte",
    "Trentino-Alto Adige",
    "Valle d'Aosta",
    "Veneto",
)
CENTRE_REGIONS = ("Lazio", "Marche", "Toscana", "Umbria", "Abruzzo")

_CODE = re.compile(r"\d{1,6}")
_QUALIFIED = re.compile(r"(?P<name>.+?)\s*\((?P<province>[^()]+)\)\s*")


class MunicipalityError(ValueError):
    """A municipality name or ISTAT code that the ISTAT list does not know, or that is ambiguous."""


def fold(text: str) -> str:
    """``text`` without case, accents and punctuation: only letters and digits (and the ``?`` the source
    list writes for a lost accented letter)."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return "".join(c for c in plain if c.isalnum() or c == "?")


_NORTH = frozenset(fold(r) for r in NORTH_REGIONS)
_CENTRE = frozenset(fold(r) for r in CENTRE_REGIONS)


def zone_of_region(region: str) -> Zone:
    """The geographic zone of the PV correction (DM 414/2023) of an Italian region.

    Parameters
    ----------
    region : str
        The region's name, as ISTAT writes it (``"Emilia Romagna"`` and ``"Emilia-Romagna"`` are the same).

    Returns
    -------
    Zone
        ``NORTH``, ``CENTRE`` or ``SOUTH``.
    """
    key = fold(region)
    if key in _NORTH:
        return Zone.NORTH
    if key in _CENTRE:
        return Zone.CENTRE
    return Zone.SOUTH


@dataclass(frozen=True)
class Municipality:
    """One row of the ISTAT list."""

    istat_code: str  # six digits, e.g. "058091"
    name: str  # Italian name; a "?" is an accented letter the source list lost
    names: str  # Italian and foreign names, e.g. "Bolzano/Bozen"
    region: str
    province: str
    province_code: str  # car plate code, e.g. "RM"
    market_zone: str  # GME zone, e.g. "CSUD"

    @property
    def zone(self) -> Zone:
        """The geographic zone of the PV correction (:func:`zone_of_region`)."""
        return zone_of_region(self.region)

    def label(self) -> str:
        """``Name (XX, ISTAT 012345)``: what an error or a warning shows."""
        return f"{self.name} ({self.province_code}, ISTAT {self.istat_code})"


@dataclass(frozen=True)
class _Index:
    by_code: dict[str, Municipality]
    by_key: dict[str, tuple[Municipality, ...]]  # folded names without "?"
    wild: tuple[tuple[str, Municipality], ...]  # folded names with "?" (any one letter)
    keys: tuple[str, ...]  # every folded name, for "did you mean"
    shown: dict[str, str]  # folded name -> a name to show


@functools.cache
def municipalities() -> tuple[Municipality, ...]:
    """Every municipality of the shipped ISTAT list, by ISTAT code."""
    resource = importlib.resources.files("condivisa.domain").joinpath("data/istat_municipalities.csv")
    reader = csv.DictReader(io.StringIO(resource.read_text(encoding="utf-8"), newline=""))
    return tuple(Municipality(**{c: row[c] for c in COLUMNS}) for row in reader)


def _names(m: Municipality) -> set[str]:
    return {fold(m.name), fold(m.names)} | {fold(part) for part in m.names.split("/")}


@functools.cache
def _index() -> _Index:
    by_key: dict[str, list[Municipality]] = {}
    wild: list[tuple[str, Municipality]] = []
    shown: dict[str, str] = {}
    for m in municipalities():
        for key in _names(m) - {""}:
            shown.setdefault(key, m.name)
            if "?" in key:
                wild.append((key, m))
            else:
                by_key.setdefault(key, []).append(m)
    return _Index(
        by_code={m.istat_code: m for m in municipalities()},
        by_key={k: tuple(v) for k, v in by_key.items()},
        wild=tuple(wild),
        keys=tuple(shown),
        shown=shown,
    )


def _wild_match(pattern: str, key: str) -> bool:
    return len(pattern) == len(key) and all(p in ("?", k) for p, k in zip(pattern, key))


def _by_name(key: str) -> list[Municipality]:
    index = _index()
    found = list(index.by_key.get(key, ()))
    found += [m for pattern, m in index.wild if _wild_match(pattern, key)]
    return list({m.istat_code: m for m in found}.values())


def _by_code(value: str, from_number: bool) -> Municipality:
    code = value.zfill(6)
    found = _index().by_code.get(code)
    if found is not None:
        return found
    hint = (
        " (write the code in quotes, e.g. municipality: '001001': YAML reads a number starting with 0 "
        "as another number)"
        if from_number
        else ""
    )
    raise MunicipalityError(
        f"{value!r}: no municipality has ISTAT code {code}{hint}; write the six-digit ISTAT code "
        "(e.g. '058091' for Roma) or the municipality's name"
    )


def _spelled(m: Municipality, name: str) -> Municipality:
    """``m`` with the name as written when the list lost one of its accented letters (``Cant?``)."""
    if "?" in m.name and _wild_match(fold(m.name), fold(name)):
        return replace(m, name=name.strip())
    return m


def find_municipality(value: str | int) -> Municipality:
    """The municipality an ISTAT code or name designates.

    Parameters
    ----------
    value : str or int
        A six-digit ISTAT code (leading zeros optional) or a name, case, accents and punctuation ignored;
        ``"Name (XX)"`` picks the province (car plate code or name) among municipalities sharing a name.

    Returns
    -------
    Municipality

    Raises
    ------
    MunicipalityError
        No municipality has this code or name (the message suggests close names), or several share the
        name (the message lists them with their codes).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MunicipalityError(f"{value!r} is not a municipality name or ISTAT code")
    text = str(value).strip()
    if _CODE.fullmatch(text):
        return _by_code(text, from_number=isinstance(value, int))
    qualified = _QUALIFIED.fullmatch(text)
    name, province = (qualified["name"], qualified["province"]) if qualified else (text, None)
    found = _by_name(fold(name))
    if province is not None:
        wanted = fold(province)
        found = [m for m in found if wanted in (fold(m.province_code), fold(m.province))]
    if len(found) == 1:
        return _spelled(found[0], name)
    if found:
        listed = "; ".join(m.label() for m in found)
        raise MunicipalityError(
            f"{text!r} is the name of {len(found)} municipalities: {listed}; write the ISTAT code "
            f"(e.g. '{found[0].istat_code}') or the province: '{found[0].name} ({found[0].province_code})'"
        )
    index = _index()
    close = difflib.get_close_matches(fold(name), index.keys, n=3, cutoff=0.75)
    hint = f" (did you mean {' or '.join(index.shown[k] for k in close)}?)" if close else ""
    where = f" in province {province}" if province else ""
    raise MunicipalityError(
        f"{text!r}: no Italian municipality of this name{where}{hint}; write the name as ISTAT does "
        "or the six-digit ISTAT code"
    )
