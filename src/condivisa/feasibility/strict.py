"""The strict reading of a plan's values: unknown keys refused with "did you mean", numbers within bounds,
every error naming its key by its path (``members[2].yearly_kwh``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from condivisa.domain.community import id_problem
from condivisa.domain.strict_keys import unknown_key


class PlanError(ValueError):
    """The plan is malformed; the message names the key by its path."""


def known_keys(raw: dict[Any, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a key of ``raw`` not in ``allowed``, naming the closest allowed one ("did you mean")."""
    problem = unknown_key(raw, allowed, f"{where}." if where else "")
    if problem:
        raise PlanError(problem)


def mapping(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a mapping")
    return raw


def number(value: object, where: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number within ``[lo, hi]``; the error names the key and the bounds."""
    if value is None:
        raise PlanError(f"{where}: missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PlanError(f"{where}: {value!r} is not a number")
    try:
        x = float(value)
    except ValueError:
        raise PlanError(f"{where}: {value!r} is not a number") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise PlanError(f"{where}: {value!r} is not a finite number")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise PlanError(
            f"{where}: {x:g} is outside {'' if lo is None else f'{lo:g}'}–{'' if hi is None else f'{hi:g}'}"
        )
    return x


def ident(value: object, where: str) -> str:
    text = str(value)
    problem = id_problem(text)
    if problem:
        raise PlanError(f"{where}: {problem}")
    return text
