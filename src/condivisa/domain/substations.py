"""The configurations the GSE settles inside one community: its points grouped by primary substation
(issue #14, rule 11; docs/dev/substations.md)."""

from __future__ import annotations

from dataclasses import dataclass

from condivisa.domain.community import Community


@dataclass(frozen=True)
class Substation:
    """The points of a community under one primary substation: one configuration for the GSE."""

    code: str  # the primary substation ("" when the community declares none)
    consumption_pods: tuple[str, ...] = ()  # in member order
    plants: tuple[str, ...] = ()  # plant ids, in file order


def substations(community: Community) -> dict[str, Substation]:
    """The configurations the GSE settles: consumption PODs and plants grouped by primary substation.

    A point's substation is its own ``primary_substation`` (on the POD, or on the plant), else the
    POD's or the plant's on the same POD, else the community's top-level one (``""`` when none is
    declared). Keys are sorted; one key for a community under one substation. A CER or CEC may span
    several primary substations of one market zone, each settled as its own configuration (TIAD,
    ARERA 727/2022, art. 1 and 3; GSE, Regole operative CACER 2024).
    """
    declared: dict[str, str] = {}
    for pl in community.plants:
        if pl.primary_substation:
            declared[pl.pod] = pl.primary_substation
    for m in community.members:
        for p in m.pods:
            if p.primary_substation:
                declared[p.code] = p.primary_substation
    default = community.primary_substation or ""
    cons: dict[str, list[str]] = {}
    plants: dict[str, list[str]] = {}
    for code in community.consumption_pods:
        cons.setdefault(declared.get(code, default), []).append(code)
    for pl in community.plants:
        sub = pl.primary_substation or declared.get(pl.pod, default)
        plants.setdefault(sub, []).append(pl.id)
    codes = sorted(set(cons) | set(plants)) or [default]
    return {c: Substation(c, tuple(cons.get(c, ())), tuple(plants.get(c, ()))) for c in codes}
