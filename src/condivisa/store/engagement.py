"""Who appears in a community's engagement ranking, under which pseudonym (``engagement_optins``, issue #19).

Rules (docs/engagement.md):

- **opt-in, never opt-out**: a member is in the ranking only after asking (:func:`opt_in`); no row, not in
  it; :func:`opt_out` deletes the row (nothing of it is kept);
- **pseudonym**: the member's choice or, without one, a generated friendly one (``"Girasole 17"``: a word of
  :data:`WORDS` and a number from 1 to 99); unique per community ignoring case (the table's constraint
  ``uq_engagement_pseudonym``, and a case-insensitive check before writing);
- **a chosen pseudonym** is 3–32 characters after trimming (runs of spaces count as one), only letters,
  digits, spaces and ``-``, and must not be any member's id or name in the community (ignoring case), so
  that it neither names the member nor passes for somebody else.

The community is keyed by its **name** (as billing runs and ledger entries are). Instants are UTC, from
:mod:`condivisa.kernel.clock`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import sqlalchemy as sa

from condivisa.domain.community import Community
from condivisa.kernel import clock
from condivisa.store.flex_tables import EngagementOptIn

MIN_LENGTH, MAX_LENGTH = 3, 32
#: the words of generated pseudonyms (sun and summer things, Italian)
WORDS = (
    "Girasole",
    "Raggio",
    "Meriggio",
    "Aurora",
    "Zenit",
    "Solstizio",
    "Lucciola",
    "Papavero",
    "Cicala",
    "Fotone",
    "Riverbero",
    "Limone",
)
#: numbers of generated pseudonyms: 1 to this
MAX_NUMBER = 99
_ATTEMPTS = 200


class PseudonymError(ValueError):
    """A chosen pseudonym is refused; ``code`` says why (``length``, ``chars``, ``identifying``, ``taken``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OptIn:
    """A member in the ranking: id, pseudonym and since when (UTC)."""

    member_id: str
    pseudonym: str
    opted_in_at: dt.datetime


def normalise(pseudonym: str) -> str:
    """Trimmed, with every run of whitespace as one space."""
    return " ".join(pseudonym.split())


def validate(pseudonym: str, community: Community) -> str:
    """The chosen pseudonym, normalised (:func:`normalise`); :class:`PseudonymError` when refused (module
    docstring)."""
    name = normalise(pseudonym)
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise PseudonymError("length", f"a pseudonym has {MIN_LENGTH} to {MAX_LENGTH} characters")
    if not all(c.isalnum() or c in " -" for c in name):
        raise PseudonymError("chars", "a pseudonym has only letters, digits, spaces and '-'")
    own = {normalise(s).casefold() for m in community.members for s in (m.id, m.name or "") if s}
    if name.casefold() in own:
        raise PseudonymError("identifying", "a pseudonym must not be a member's id or name")
    return name


def _table() -> sa.Table:
    return EngagementOptIn.__table__


def list_optins(engine: sa.Engine, community: str) -> dict[str, OptIn]:
    """The opted-in members of community ``community`` (its name), by member id."""
    t = _table()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.community == community).order_by(t.c.member_id))
        return {r.member_id: OptIn(r.member_id, r.pseudonym, r.opted_in_at) for r in rows}


def pseudonyms(engine: sa.Engine, community: str) -> dict[str, str]:
    """Member id → pseudonym of the opted-in members (what the ranking needs)."""
    return {k: v.pseudonym for k, v in list_optins(engine, community).items()}


def optin_of(engine: sa.Engine, community: str, member_id: str) -> OptIn | None:
    """The member's opt-in, or ``None``."""
    return list_optins(engine, community).get(member_id)


def _generated(taken: set[str], rng: random.Random) -> str:
    for _ in range(_ATTEMPTS):
        name = f"{rng.choice(WORDS)} {rng.randint(1, MAX_NUMBER)}"
        if name.casefold() not in taken:
            return name
    for word in WORDS:  # a crowded community: the first free name in order, numbers past MAX_NUMBER too
        for n in range(1, 10 * MAX_NUMBER + len(taken) + 2):
            if f"{word} {n}".casefold() not in taken:
                return f"{word} {n}"
    raise RuntimeError("no free pseudonym")  # pragma: no cover - more names than any community has


def opt_in(
    engine: sa.Engine,
    community: Community,
    member_id: str,
    pseudonym: str | None = None,
    *,
    rng: random.Random | None = None,
) -> OptIn:
    """Put ``member_id`` in the ranking of ``community`` under ``pseudonym`` (validated, :func:`validate`) or,
    when empty, a generated one; already in: the chosen pseudonym replaces theirs (without one, theirs is
    kept). Raises :class:`PseudonymError` (``taken``: another member's pseudonym) or :class:`KeyError` for a
    member not in the community."""
    community.member(member_id)  # KeyError for a stranger
    chosen = validate(pseudonym, community) if pseudonym and pseudonym.strip() else None
    rng = rng or random.Random()
    t = _table()
    for _ in range(3):  # a concurrent opt-in may take the generated name: draw again
        try:
            with engine.begin() as conn:
                rows = conn.execute(
                    sa.select(t.c.member_id, t.c.pseudonym).where(t.c.community == community.name)
                ).all()
                mine = next((r.pseudonym for r in rows if r.member_id == member_id), None)
                taken = {r.pseudonym.casefold() for r in rows if r.member_id != member_id}
                if chosen is not None and chosen.casefold() in taken:
                    raise PseudonymError("taken", "another member already uses this pseudonym")
                name = chosen or mine or _generated(taken, rng)
                now = clock.now()
                conn.execute(sa.delete(t).where(t.c.community == community.name, t.c.member_id == member_id))
                conn.execute(
                    sa.insert(t).values(
                        community=community.name, member_id=member_id, pseudonym=name, opted_in_at=now
                    )
                )
            return OptIn(member_id, name, now)
        except sa.exc.IntegrityError:
            if chosen is not None:
                raise PseudonymError("taken", "another member already uses this pseudonym") from None
    raise PseudonymError("taken", "could not find a free pseudonym; try again")


def opt_out(engine: sa.Engine, community: str, member_id: str) -> bool:
    """Take ``member_id`` out of the ranking of community ``community`` (its name): the row is deleted.
    ``True`` when they were in it."""
    t = _table()
    with engine.begin() as conn:
        res = conn.execute(sa.delete(t).where(t.c.community == community, t.c.member_id == member_id))
    return bool(res.rowcount)
