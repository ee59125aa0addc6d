"""The checks that make ``community.yaml`` refuse the mistakes that would silently move money.

:mod:`condivisa.domain.config` calls these while loading; each rejection names the key (with its path,
e.g. ``members[1].pods[0].pod``), the value and the fix; :func:`condivisa.domain.config.load_community`
prefixes the file.

- **POD codes** (:data:`POD_PATTERN`): ``IT``, the distributor's three-digit code, ``E``, then 8 or 9
  digits, upper case (``IT001E12345678``), checked where they are written: ``members[i].pods[j].pod``,
  ``plants[k].pod``, ``devices[n].pod``.
- **Plant owners**: a member id, ``community``, or a producer outside the community declared in the
  top-level ``external_producers:`` list (``{id, name}``): a typo such as ``owner: m33`` for ``m3`` no
  longer creates an external producer who receives the sale.
- **Zone from the municipality** (:mod:`condivisa.domain.municipalities`): ``municipality:`` (ISTAT name or
  code) gives the geographic zone and the market zone; an explicit ``zone:`` or ``market_zone:`` still wins,
  with a warning when it disagrees.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from condivisa.domain.community import ExternalProducer, id_problem
from condivisa.domain.municipalities import Municipality, MunicipalityError, find_municipality
from condivisa.domain.tariffs import Zone

#: a POD code as Italian distributors assign it (on the bill): IT + distributor code + E + 8-9 digits
POD_PATTERN = re.compile(r"IT\d{3}E\d{8,9}")
POD_RULE = "'IT', the distributor's 3-digit code, 'E' and 8 or 9 digits, upper case, e.g. IT001E12345678"
#: the owner of a plant that belongs to the community itself
COMMUNITY_OWNER = "community"
EXTERNAL_PRODUCER_KEYS = ("id", "name")


def pod_problem(code: str) -> str | None:
    """Why ``code`` is not a POD code (:data:`POD_PATTERN`), or ``None`` when it is."""
    if POD_PATTERN.fullmatch(code):
        return None
    fix = ""
    if POD_PATTERN.fullmatch(code.strip().upper()):
        fix = f" (write it in upper case without spaces: {code.strip().upper()})"
    elif re.fullmatch(r"IT\d{3}E\d+", code):
        digits = len(code) - 6
        fix = f" (it has {digits} digit{'s' if digits != 1 else ''} after the E: copy it again from the bill)"
    return f"{code!r} is not a POD code: write {POD_RULE}{fix}"


def _pod_paths(raw: Mapping[str, Any]) -> Iterable[tuple[str, object]]:
    """Every POD code ``raw`` writes, with the key where it is written."""
    for i, member in enumerate(raw.get("members") or []):
        pods = member.get("pods") if isinstance(member, dict) else None
        for j, pod in enumerate(pods or []):
            yield (
                f"members[{i}].pods[{j}]" + ("" if isinstance(pod, str) else ".pod"),
                (pod if isinstance(pod, str) else pod.get("pod") if isinstance(pod, dict) else pod),
            )
    for k, plant in enumerate(raw.get("plants") or []):
        if isinstance(plant, dict) and "pod" in plant:
            yield f"plants[{k}].pod", plant["pod"]
    for n, device in enumerate(raw.get("devices") or []):
        if isinstance(device, dict) and "pod" in device:
            yield f"devices[{n}].pod", device["pod"]


def check_pod_codes(raw: Mapping[str, Any], error: type[ValueError]) -> None:
    """Refuse the first POD code of ``raw`` (the parsed ``community.yaml``) outside :data:`POD_PATTERN`.

    Parameters
    ----------
    raw : Mapping
        The parsed community file.
    error : type of ValueError
        The exception to raise (``ConfigError``).

    Raises
    ------
    error
        ``members[0].pods[0].pod: 'IT001E0000001' is not a POD code: write ...``.
    """
    for where, value in _pod_paths(raw):
        problem = pod_problem(str(value))
        if problem:
            raise error(f"{where}: {problem}")


def external_producers(
    raw: object, member_ids: Iterable[str], error: type[ValueError]
) -> tuple[ExternalProducer, ...]:
    """The ``external_producers:`` list: ``[{id, name}]``, ids valid and distinct from the members'.

    Parameters
    ----------
    raw : object
        The value of ``external_producers:`` (``None``: none).
    member_ids : iterable of str
        The members' ids (an external producer is not a member).
    error : type of ValueError
        The exception to raise (``ConfigError``).

    Returns
    -------
    tuple of ExternalProducer
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise error("external_producers: expected a list of {id: ID, name: NAME}")
    members = set(member_ids)
    out: list[ExternalProducer] = []
    for i, item in enumerate(raw):
        where = f"external_producers[{i}]"
        if not isinstance(item, dict) or "id" not in item:
            raise error(f"{where}: expected {{id: ID, name: NAME}}")
        for key in item:
            if key not in EXTERNAL_PRODUCER_KEYS:
                close = difflib.get_close_matches(str(key), EXTERNAL_PRODUCER_KEYS, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else "allowed: id, name"
                raise error(f"{where}.{key}: unknown key ({hint})")
        ident = str(item["id"])
        problem = id_problem(ident)
        if problem:
            raise error(f"{where}.id: {problem}")
        if ident in members or ident == COMMUNITY_OWNER:
            raise error(
                f"{where}.id: {ident!r} is a member (or the community): an external producer is outside the "
                "community; remove it from external_producers"
            )
        if any(p.id == ident for p in out):
            raise error(f"{where}.id: {ident!r} is listed twice")
        out.append(ExternalProducer(id=ident, name=None if item.get("name") is None else str(item["name"])))
    return tuple(out)


def check_owners(
    raw_plants: object,
    member_ids: Iterable[str],
    producers: Iterable[ExternalProducer],
    error: type[ValueError],
) -> None:
    """Refuse a plant whose ``owner`` is neither a member, ``community``, nor a declared external producer.

    Parameters
    ----------
    raw_plants : object
        The value of ``plants:`` (a list of mappings; other shapes are the loader's to refuse).
    member_ids : iterable of str
        The members' ids.
    producers : iterable of ExternalProducer
        The declared ``external_producers``.
    error : type of ValueError
        The exception to raise (``ConfigError``).

    Raises
    ------
    error
        ``plants[0].owner: 'm33' is not a member (did you mean m3?) ...``.
    """
    known = [*member_ids, COMMUNITY_OWNER, *(p.id for p in producers)]
    for k, plant in enumerate(raw_plants if isinstance(raw_plants, list) else []):
        owner = str(plant.get("owner", COMMUNITY_OWNER)) if isinstance(plant, dict) else COMMUNITY_OWNER
        if owner in known:
            continue
        close = difflib.get_close_matches(owner, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise error(
            f"plants[{k}].owner: {owner!r} is not a member{hint}: write a member's id, "
            f"'{COMMUNITY_OWNER}' for a plant of the community, or declare a producer outside the community "
            f"under external_producers: [{{id: {owner}, name: ...}}]"
        )


@dataclass(frozen=True)
class Place:
    """Where the community is: the zones the money uses, and what the file says about them."""

    zone: Zone
    market_zone: str | None
    municipality: Municipality | None = None
    warnings: tuple[str, ...] = ()


def _zone(value: object, error: type[ValueError]) -> Zone:
    try:
        return Zone(str(value))
    except ValueError:
        allowed = ", ".join(z.value for z in Zone)
        raise error(f"zone: {value!r} is not one of {allowed}") from None


def place_of(raw: Mapping[str, Any], error: type[ValueError]) -> Place:
    """The geographic and market zones of ``raw`` (the parsed ``community.yaml``).

    ``municipality:`` gives both (:func:`~condivisa.domain.municipalities.find_municipality`); an explicit
    ``zone:`` or ``market_zone:`` wins, with a warning when it disagrees with the municipality's.

    Parameters
    ----------
    raw : Mapping
        The parsed community file.
    error : type of ValueError
        The exception to raise (``ConfigError``).

    Returns
    -------
    Place

    Raises
    ------
    error
        Neither ``zone`` nor ``municipality``; an unknown or ambiguous municipality; a zone not in
        :class:`~condivisa.domain.tariffs.Zone`.
    """
    market = raw.get("market_zone")
    market_zone = None if market is None else str(market)
    if raw.get("municipality") is None:
        if "zone" not in raw:
            raise error("zone: missing (write zone: north|centre|south, or municipality: NAME or ISTAT code)")
        return Place(zone=_zone(raw["zone"], error), market_zone=market_zone)
    try:
        town = find_municipality(raw["municipality"])
    except MunicipalityError as exc:
        raise error(f"municipality: {exc}") from None
    warnings: list[str] = []
    zone = town.zone
    if "zone" in raw:
        zone = _zone(raw["zone"], error)
        if zone is not town.zone:
            warnings.append(
                f"zone: {zone.value} disagrees with municipality {town.label()}, in {town.region}: zone "
                f"{town.zone.value} (DM 414/2023); the explicit zone {zone.value} is used (remove zone: to "
                "use the municipality's)"
            )
    if market_zone is None:
        market_zone = town.market_zone
    elif market_zone != town.market_zone:
        warnings.append(
            f"market_zone: {market_zone} disagrees with municipality {town.label()}, in GME market zone "
            f"{town.market_zone}; the explicit {market_zone} is used (remove market_zone: to use the "
            "municipality's)"
        )
    return Place(zone=zone, market_zone=market_zone, municipality=town, warnings=tuple(warnings))
