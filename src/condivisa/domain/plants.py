"""Plant rules checked when ``community.yaml`` is loaded: upgrade sections, 1 MW, existing plants, seniority.

:mod:`condivisa.domain.config` calls these; a violation raises :class:`PlantRuleError` (turned into a
``ConfigError`` naming the key there), an accepted oddity is returned as a warning.

- **Upgrades** (potenziamento, GSE Regole operative CACER 2024): a plant may list ``sections:``, each with
  its own POD (or meter), power and commissioning date, so its own premium class and 20-year window.
  Each section becomes a plant unit of its own (id ``<plant>.s<N>`` unless it has an ``id``) with
  ``section_of`` set to the plant; owner, source, voltage, grant and perimeter are inherited.
- **1 MW** (DM MASE 414/2023, art. 3): a plant or section over 1 MW earns no premium, only valorisation
  and sale; accepted with a warning.
- **Existing plants** (commissioned before 2021-12-16, D.Lgs. 199/2021 art. 31 and DM 414/2023 art. 3):
  valorisation only, and at most 30 % of the configuration's total power (an error naming the plants
  and the share).
- **Pre-constitution plants** commissioned before 2024-01-24 without ``built_for_community: true`` earn
  no premium; accepted with a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from condivisa.domain.community import (
    CACER_DECREE_IN_FORCE,
    EXISTING_PLANTS_MAX_POWER_SHARE,
    PREMIUM_MAX_POWER_KW,
    Community,
    Plant,
    SharedEnergyAttribution,
)

#: keys of one entry of a plant's ``sections:``
SECTION_KEYS = (
    "id",
    "pod",
    "power_kw",
    "commissioning",
    "grant_fraction",
    "joined",
    "built_for_community",
    "injection_limit_kw",
    "voltage",
)


class PlantRuleError(ValueError):
    """A plant breaks a rule of the configuration; the message names the key or the plants."""


def attribution(value: object, where: str) -> SharedEnergyAttribution:
    """``rules.shared_energy_attribution``: ``seniority`` or ``pro_rata``, with a "did you mean" hint.

    Raises
    ------
    PlantRuleError
        For any other value.
    """
    allowed = [a.value for a in SharedEnergyAttribution]
    text = str(value)
    if text in allowed:
        return SharedEnergyAttribution(text)
    close = difflib.get_close_matches(text.replace("-", "_").replace(" ", "_"), allowed, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise PlantRuleError(f"{where}: {value!r} is not one of {', '.join(allowed)}{hint}")


def expand_sections(
    plant: Plant,
    sections: object,
    where: str,
    parse: Callable[[dict[str, Any], str], dict[str, Any]],
) -> list[Plant]:
    """The plant followed by one plant unit per upgrade section.

    Parameters
    ----------
    plant : Plant
        The plant as written (its own POD, power and commissioning: the original section).
    sections : object
        The ``sections:`` value: ``None`` or a list of mappings with :data:`SECTION_KEYS`.
    where : str
        The plant's path in the file, e.g. ``plants[0]``.
    parse : callable
        ``parse(raw_section, where)`` -> the :class:`Plant` fields the section sets (the loader's
        parsing of ids, numbers, dates and enums, with its errors: unknown keys, then a missing pod or
        power_kw).

    Returns
    -------
    list of Plant
        ``[plant, section 1, section 2, …]``; each section has ``section_of = plant.id``.

    Raises
    ------
    PlantRuleError
        When ``sections`` is not a list of mappings with ``pod`` and ``power_kw``.
    """
    if sections is None:
        return [plant]
    if not isinstance(sections, list):
        raise PlantRuleError(f"{where}.sections: expected a list of {{pod, power_kw, commissioning}}")
    units = [plant]
    for j, raw in enumerate(sections):
        here = f"{where}.sections[{j}]"
        if not isinstance(raw, dict):
            raise PlantRuleError(f"{here}: expected a mapping with pod, power_kw and commissioning")
        fields = parse(raw, here)  # checks the keys: unknown ones, then pod and power_kw present
        fields.setdefault("id", f"{plant.id}.s{j + 1}")
        fields.setdefault("commissioning", plant.commissioning)
        try:
            units.append(
                Plant(
                    pod=fields.pop("pod"),
                    owner=plant.owner,
                    source=plant.source,
                    grant_fraction=fields.pop("grant_fraction", plant.grant_fraction),
                    voltage=fields.pop("voltage", plant.voltage),
                    primary_substation=plant.primary_substation,
                    building=plant.building,
                    rid_minimum_price=plant.rid_minimum_price,
                    section_of=plant.id,
                    **fields,
                )
            )
        except (TypeError, ValueError) as exc:
            raise PlantRuleError(f"{here}: {exc}") from None
    return units


def check_plants(community: Community) -> list[str]:
    """Check the plant rules of a loaded community; return the warnings.

    Returns
    -------
    list of str
        One warning per plant unit that never earns the premium for a reason the file may not intend:
        over 1 MW, or commissioned before the constitution without ``built_for_community: true``.

    Raises
    ------
    PlantRuleError
        When two plant units share an id, or existing plants (before 2021-12-16) exceed 30 % of the
        configuration's power (DM MASE 414/2023, art. 3), naming them and the share.
    """
    plants = community.plants
    ids = [p.id for p in plants]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise PlantRuleError(f"plants: duplicate id(s) {', '.join(dup)} (sections included)")
    total_kw = sum(p.power_kw for p in plants)
    existing = [p for p in plants if p.is_existing]
    existing_kw = sum(p.power_kw for p in existing)
    if total_kw and existing_kw / total_kw > EXISTING_PLANTS_MAX_POWER_SHARE + 1e-12:
        names = ", ".join(f"{p.id} ({p.power_kw:g} kW, {p.commissioning})" for p in existing)
        raise PlantRuleError(
            f"plants: existing plants (commissioned before 2021-12-16) {names} are "
            f"{existing_kw / total_kw:.1%} of the configuration's {total_kw:g} kW; at most "
            f"{EXISTING_PLANTS_MAX_POWER_SHARE:.0%} is allowed (DM MASE 414/2023, art. 3)"
        )
    warnings: list[str] = []
    for p in plants:
        if p.power_kw > PREMIUM_MAX_POWER_KW:
            warnings.append(
                f"plant {p.id}: {p.power_kw:g} kW is over {PREMIUM_MAX_POWER_KW:g} kW, so it earns no premium "
                "(DM MASE 414/2023, art. 3: plants up to 1 MW each); only valorisation and sale"
            )
        elif (
            not p.is_existing
            and p.commissioning < community.constituted
            and p.commissioning < CACER_DECREE_IN_FORCE
            and p.built_for_community is None
        ):
            warnings.append(
                f"plant {p.id}: commissioned {p.commissioning}, before the community was constituted "
                f"({community.constituted}) and before {CACER_DECREE_IN_FORCE}: it earns no premium unless "
                "documented as built for the community (set built_for_community: true)"
            )
    return warnings


def parse_bool(value: object, where: str) -> bool | None:
    """An optional YAML boolean (``true``/``false``), or a :class:`PlantRuleError`."""
    if value is None or isinstance(value, bool):
        return value
    raise PlantRuleError(f"{where}: {value!r} is not true or false")
