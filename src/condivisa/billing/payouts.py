"""Payouts: the SEPA credit-transfer file (ISO 20022 pain.001.001.03) that pays the members of a stored run.

From a stored run (a final run, or a correction of one: its notes are paid on their own), each member and
external producer is paid the total of its lines over the run's months — after the GSE's actual payment is
distributed when it is given (:mod:`condivisa.billing.distribution`) and, with ``exclude_sale``, without the
RID sale (when the producers receive it directly from the GSE under their own RID convention). One transfer
per payee with a positive amount and a valid bank account (:mod:`condivisa.billing.bank_accounts`); the
others are listed as skipped with the reason: no bank account, nothing to pay, a negative balance (a debit
note: offset it on the next payment or ask for it back), or the community's own account.

The file is built with ``sepaxml`` (``SepaTransfer``) and validated by it against the pain.001.001.03 XSD
(with ``xmlschema``); IBANs (debtor and creditors) are checked again with ``schwifty`` before, so that a
wrong one is an error naming its member rather than a rejected file at the bank. Amounts are whole cents.

References
----------
.. [1] ISO 20022, Customer Credit Transfer Initiation, pain.001.001.03.
.. [2] EPC, SEPA Credit Transfer Rulebook; CBI (Italy): banks accept pain.001.001.03 "SEPA" in their
   corporate banking upload.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from sepaxml import SepaTransfer

from condivisa.billing.bank_accounts import (
    BankAccount,
    BankAccountError,
    accounts,
    validate_bic,
    validate_iban,
)
from condivisa.billing.distribution import Distribution, distribute
from condivisa.billing.run_lines import RunLine, per_payee
from condivisa.billing.run_records import StoredRun
from condivisa.domain.community import Community
from condivisa.store.store import Store

SCHEMA = "pain.001.001.03"
#: the characters SEPA guarantees in identifiers (EPC: the Latin subset), the rest becomes ``-``
_ID_CHARS = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


class PayoutError(ValueError):
    """The payouts file cannot be made (the message names the member or the option)."""


@dataclass(frozen=True)
class Transfer:
    member_id: str
    account: BankAccount
    amount_cents: int
    description: str
    end_to_end_id: str


@dataclass(frozen=True)
class Skipped:
    member_id: str
    amount_cents: int
    reason: str


@dataclass(frozen=True)
class PayoutPlan:
    """What the file pays and what it leaves out."""

    run: StoredRun
    transfers: tuple[Transfer, ...]
    skipped: tuple[Skipped, ...]
    distribution: Distribution | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def total_cents(self) -> int:
        return sum(t.amount_cents for t in self.transfers)


def _sepa_id(text: str, limit: int = 35) -> str:
    return _ID_CHARS.sub("-", text)[:limit]


def _amounts(lines: list[RunLine], exclude_sale: bool) -> dict[str, tuple[str, int]]:
    return {
        pid: (line.kind, line.total_cents - (line.sale_cents if exclude_sale else 0))
        for pid, line in per_payee(lines).items()
    }


def payout_plan(
    store: Store,
    community: Community,
    run: StoredRun,
    lines: list[RunLine] | None = None,
    *,
    gse_paid_cents: int | None = None,
    rid_paid_cents: int | None = None,
    exclude_sale: bool = False,
) -> PayoutPlan:
    """Who is paid how much for ``run``, and who is skipped and why.

    Parameters
    ----------
    store : Store
        Where the bank accounts are.
    community : Community
        The run's community (names, members).
    run : StoredRun
        The run paid.
    lines : list of RunLine, optional
        The lines to pay (default: the run's own); for a distribution, the final run's lines in force.
    gse_paid_cents, rid_paid_cents : int, optional
        What the GSE actually paid (CACER contribution; RID sale), cents: distributed by the run's keys.
    exclude_sale : bool, default False
        Leave the RID sale out (the producers get it from the GSE directly).

    Returns
    -------
    PayoutPlan

    Raises
    ------
    PayoutError
        A stored IBAN or BIC is not valid (naming the member).
    """
    lines = list(lines if lines is not None else run.lines)
    distribution = None
    if gse_paid_cents is not None:
        distribution = distribute(lines, gse_paid_cents, rid_paid_cents)
        lines = list(distribution.lines)
    bank = accounts(store, community)
    names = {m.id: m.name or m.id for m in community.members}
    transfers, skipped = [], []
    for pid, (kind, cents) in _amounts(lines, exclude_sale).items():
        if kind in ("community", "social_fund"):
            skipped.append(Skipped(pid, cents, "the community's own money: not transferred"))
        elif cents == 0:
            skipped.append(Skipped(pid, cents, "nothing to pay"))
        elif cents < 0:
            skipped.append(Skipped(pid, cents, "negative balance (debit note): offset it or ask for it back"))
        elif pid not in bank:
            skipped.append(Skipped(pid, cents, f"no bank account (condivisa members bank set {pid} ...)"))
        else:
            acc = bank[pid]
            try:
                acc = BankAccount(pid, acc.holder, validate_iban(acc.iban, pid), validate_bic(acc.bic, pid))
            except BankAccountError as exc:
                raise PayoutError(str(exc)) from None
            what = {"correction": "rettifica", "yearly_balance": "conguaglio"}.get(run.kind, "rendiconto")
            period = run.months[0] if len(run.months) == 1 else f"{run.months[0]}..{run.months[-1]}"
            period = run.months[0][:4] if run.kind == "yearly_balance" else period
            description = f"{community.name} {what} n. {run.number}-{pid} {period} {names.get(pid, pid)}"
            transfers.append(
                Transfer(pid, acc, cents, description[:140], _sepa_id(f"CER-R{run.number}-{pid}"))
            )
    return PayoutPlan(run, tuple(transfers), tuple(skipped), distribution)


def sepa_xml(
    plan: PayoutPlan,
    *,
    debtor_name: str,
    debtor_iban: str,
    debtor_bic: str | None = None,
    execution_date: dt.date,
    created_at: dt.datetime | None = None,
) -> bytes:
    """The pain.001.001.03 file of ``plan``, validated against its XSD (by ``sepaxml`` with ``xmlschema``).

    Parameters
    ----------
    plan : PayoutPlan
        The transfers (at least one).
    debtor_name, debtor_iban, debtor_bic : str
        The community's account the money leaves from (BIC optional).
    execution_date : datetime.date
        The requested execution date.
    created_at : datetime.datetime, optional
        The file's creation time (``MsgId`` and ``CreDtTm``), default now.

    Returns
    -------
    bytes
        UTF-8 XML.

    Raises
    ------
    PayoutError
        No transfer, an invalid debtor IBAN or BIC, or a file the schema refuses.
    """
    if not plan.transfers:
        raise PayoutError(f"run n. {plan.run.number}: nobody to pay (see the skipped payees)")
    if not debtor_name.strip():
        raise PayoutError("--debtor-name: the community's account holder is empty")
    try:
        config = {
            "name": debtor_name.strip(),
            "IBAN": validate_iban(debtor_iban, "debtor (--debtor-iban)"),
            "batch": True,
            "currency": "EUR",
        }
        bic = validate_bic(debtor_bic, "debtor (--debtor-bic)")
    except BankAccountError as exc:
        raise PayoutError(str(exc)) from None
    if bic:
        config["BIC"] = bic
    sepa = SepaTransfer(config, schema=SCHEMA, clean=True)
    when = (created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    header = sepa._xml.find("CstmrCdtTrfInitn/GrpHdr")  # a reproducible id instead of sepaxml's random one
    assert header is not None
    msg_id = _sepa_id(f"CONDIVISA-R{plan.run.number}-{when:%Y%m%d%H%M%S}")
    sepa.msg_id = msg_id
    _set(header, "MsgId", msg_id)
    _set(header, "CreDtTm", when.strftime("%Y-%m-%dT%H:%M:%S"))
    for t in plan.transfers:
        payment = {
            "name": t.account.holder,
            "IBAN": t.account.iban,
            "amount": int(t.amount_cents),
            "execution_date": execution_date,
            "description": t.description,
            "endtoend_id": t.end_to_end_id,
        }
        if t.account.bic:
            payment["BIC"] = t.account.bic
        sepa.add_payment(payment)
    try:
        return bytes(sepa.export(validate=True, pretty_print=True))
    except Exception as exc:  # sepaxml.validation.ValidationError and what xmlschema raises under it
        raise PayoutError(f"the pain.001 file does not validate against {SCHEMA}.xsd: {exc}") from exc


def _set(node: ET.Element, tag: str, text: str) -> None:
    child = node.find(tag)
    if child is not None:
        child.text = text
