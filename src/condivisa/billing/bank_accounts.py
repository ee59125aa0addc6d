"""The members' bank accounts (IBAN, holder, BIC), on which payouts are sent.

IBANs are validated with ``schwifty`` (ISO 13616: country format, bank registry where known, and the mod-97
check digits); a wrong IBAN is refused with the member it belongs to. They are stored compact and upper case;
lists show them masked (:func:`mask_iban`). Bank details are personal data (GDPR): they are in the member's
export and deleted by the erasure (:mod:`condivisa.auth.privacy`).

References
----------
.. [1] ISO 13616-1:2020, IBAN; ISO 9362, BIC.
.. [2] EPC, SEPA Credit Transfer Rulebook: the IBAN identifies the account, the BIC is optional in SEPA.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from condivisa.domain.community import Community
from condivisa.kernel import clock
from condivisa.store.billing_tables import MemberBankAccount
from condivisa.store.engine import dialect_insert
from condivisa.store.store import Store


class BankAccountError(ValueError):
    """A bank detail is not valid (the message names the member)."""


@dataclass(frozen=True)
class BankAccount:
    member_id: str
    holder: str
    iban: str
    bic: str | None

    @property
    def masked(self) -> str:
        return mask_iban(self.iban)


def validate_iban(value: str, who: str) -> str:
    """``value`` as a valid compact IBAN; :class:`BankAccountError` naming ``who`` otherwise."""
    try:
        return str(IBAN(value).compact)
    except (SchwiftyException, ValueError) as exc:
        raise BankAccountError(f"{who}: IBAN {mask_iban(value)} is not valid: {exc}") from None


def validate_bic(value: str | None, who: str) -> str | None:
    """``value`` as a valid BIC (8 or 11 characters) or ``None``; :class:`BankAccountError` otherwise."""
    if not value:
        return None
    try:
        return str(BIC(value).compact)
    except (SchwiftyException, ValueError) as exc:
        raise BankAccountError(f"{who}: BIC {value!r} is not valid: {exc}") from None


def mask_iban(iban: str) -> str:
    """``IT60 X054 **** **** **** **** 456``-style: country, check digits and the last 3 characters shown."""
    compact = "".join(str(iban).split()).upper()
    if len(compact) <= 8:
        return "*" * len(compact)
    shown = compact[:4] + "*" * (len(compact) - 7) + compact[-3:]
    return " ".join(shown[i : i + 4] for i in range(0, len(shown), 4))


def payee_ids(community: Community) -> set[str]:
    """Who may have a bank account: the members and the external producers."""
    return {m.id for m in community.members} | {p.id for p in community.external_producers}


def set_account(
    store: Store, community: Community, member_id: str, *, iban: str, holder: str, bic: str | None = None
) -> BankAccount:
    """Store (or replace) the bank account of ``member_id``, validated.

    Raises
    ------
    BankAccountError
        Unknown member, empty holder, invalid IBAN or BIC.
    """
    if member_id not in payee_ids(community):
        raise BankAccountError(f"{member_id}: not a member or external producer of {community.name}")
    if not holder.strip():
        raise BankAccountError(f"{member_id}: the account holder's name is empty")
    account = BankAccount(
        member_id, holder.strip()[:140], validate_iban(iban, member_id), validate_bic(bic, member_id)
    )
    t = MemberBankAccount.__table__
    values = {"holder": account.holder, "iban": account.iban, "bic": account.bic, "updated_at": clock.now()}
    stmt = dialect_insert(store.dialect)(t).values(community=community.name, member_id=member_id, **values)
    with store.engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["community", "member_id"], set_=values))
    return account


def remove_account(store: Store, community: Community, member_id: str) -> bool:
    """Delete the bank account of ``member_id``; whether there was one."""
    t = MemberBankAccount.__table__
    with store.engine.begin() as conn:
        gone = conn.execute(
            sa.delete(t).where(t.c.community == community.name, t.c.member_id == member_id)
        ).rowcount
    return bool(gone)


def accounts(store: Store, community: Community) -> dict[str, BankAccount]:
    """The stored bank accounts of ``community``'s payees, by id."""
    t = MemberBankAccount.__table__
    with store.read() as conn:
        rows = conn.execute(sa.select(t).where(t.c.community == community.name).order_by(t.c.member_id)).all()
    return {r.member_id: BankAccount(r.member_id, r.holder, r.iban, r.bic) for r in rows}
