"""Credit and debit notes: what a correction run posts to each payee.

A final run never changes (:mod:`condivisa.billing.runs`). When the data, the rules or the regulated values
change after it, the settlement of its months is computed again and the difference is posted as a new run, a
*correction*, whose lines are per payee and month ``new − current``, where *current* is the final run plus
every correction already posted to it. A positive line is a credit note (the payee receives more), a negative
one a debit note (the payee received too much: it is offset on the next payment or paid back). Every money
kind is differenced on its own, in whole cents, so

- each payee's lines of the final run plus its corrections equal the settlement on the current data exactly;
- the notes of a correction add up to the cent to (new total − current total).

Lines that do not change are not posted.
"""

from __future__ import annotations

from collections.abc import Iterable

from condivisa.billing.run_lines import RunLine, combine


def credit_notes(current: Iterable[RunLine], new: Iterable[RunLine]) -> list[RunLine]:
    """The notes that bring ``current`` to ``new``, per payee and month (zero lines left out).

    Parameters
    ----------
    current : iterable of RunLine
        The lines in force: the final run and the corrections already posted to it.
    new : iterable of RunLine
        The months settled again on the current inputs.

    Returns
    -------
    list of RunLine
        ``new − current`` per (payee, month), in the order of ``new`` then of payees found only in
        ``current`` (those go to zero: a payee no longer in the settlement gets a debit note of all it had).
    """
    before, now = combine(current), combine(new)  # what is in force, and the recomputation
    out = []
    for key in dict.fromkeys([*now, *before]):
        old = before.get(key)
        fresh = now.get(key)
        if fresh is None:
            assert old is not None
            fresh = RunLine(old.payee_id, old.kind, old.month)  # every part 0
        diff = fresh.minus(old) if old is not None else fresh
        if not diff.is_zero:
            out.append(diff)
    return out
