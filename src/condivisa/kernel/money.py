"""Euro amounts and whole cents: every money figure condivisa shows is a sum of whole cents.

The settlement rounds money once per month and plant (:mod:`condivisa.engines.settlement_money`) and
allocates integer cents (:func:`condivisa.engines.allocation.split_cents`); the outputs add and subtract
those amounts in cents again, so that a statement's lines and its total agree to the cent everywhere.
"""

from __future__ import annotations


def to_cents(eur: float) -> int:
    """An amount in € (2 decimals) as whole cents; halves go to the even cent (Python's ``round``)."""
    return int(round(float(eur) * 100))


def to_euros(cents: int) -> float:
    """Whole cents as €, with 2 decimals; never ``-0.0``."""
    return round(int(cents) / 100.0, 2) + 0.0
