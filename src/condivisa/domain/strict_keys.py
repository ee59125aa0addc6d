"""Strict reading of configuration files: a key that is not allowed is an error naming its path and the
closest allowed key ("did you mean"), never silently ignored — an ignored key can move people's money.

Used by the community file (:mod:`condivisa.domain.config`), the case file
(:mod:`condivisa.casestudy.casefile`) and the feasibility plan (:mod:`condivisa.feasibility.strict`), each
raising its own error type with the message returned here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def unknown_key(raw: dict[Any, Any], allowed: Iterable[str], prefix: str = "") -> str | None:
    """The message for the first key of ``raw`` not in ``allowed`` (``None`` when every key is allowed).

    Parameters
    ----------
    raw : dict
        A mapping read from the file.
    allowed : iterable of str
        The keys it may have.
    prefix : str
        The mapping's path with its trailing dot (``"rules."``; empty at the top).

    Returns
    -------
    str or None
        ``"<prefix><key>: unknown key (did you mean <closest>?)"``, or ``(allowed: …)`` when nothing is close
        (:func:`difflib.get_close_matches`, cutoff 0.6).
    """
    allowed = tuple(allowed)
    for key in raw:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else f" (allowed: {', '.join(allowed)})"
        return f"{prefix}{key}: unknown key{hint}"
    return None
