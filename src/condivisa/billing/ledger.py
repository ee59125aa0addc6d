"""The GSE ledger: what the GSE communicated and paid to the community, recorded by the referente.

Rules implemented:

- an entry is one figure of the GSE for one period (:class:`LedgerEntry`): a monthly **advance** (acconto,
  period ``YYYY-MM``), the **yearly balance** (conguaglio, period ``YYYY``) or a **correction** (rettifica of
  a month already paid, e.g. after the distributor corrected its data; it may be negative);
- its **status** is ``communicated`` (the GSE announced the amount: a notice, a statement on its portal,
  ``communicated_on``) or ``paid`` (the money reached the community's account, ``paid_on``); by default
  ``paid`` when ``paid_on`` is given, else ``communicated``;
- amounts are whole cents: at most 2 decimals, ``.`` or ``,`` as the decimal mark, no thousands separator;
  an advance is never negative (a sum claimed back is a correction or the yearly balance);
- dates are civil dates (Europe/Rome), never in the future (:mod:`condivisa.kernel.clock`) nor before the
  period starts;
- the attached **document** (the GSE's statement, the bank receipt) is stored in the database with its name,
  content type and SHA-256, at most :data:`MAX_DOCUMENT_BYTES`, of the types of :data:`DOCUMENT_TYPES`;
- **idempotent**: the natural key is community + period + kind + status + reference + amount + date; the
  same figure recorded again changes nothing (:attr:`RecordOutcome.created` is ``False``); the same GSE
  reference with another amount is refused (record a correction instead);
- **one transaction**: the entry and its audit line (``gse_ledger_recorded``) are written together or not at
  all; a malformed entry raises :class:`LedgerError` (the field and the fix) before anything is written.

References
----------
.. [1] GSE, Regole operative per l'accesso al servizio per l'autoconsumo diffuso (CACER), 2024: monthly
   payments of the incentive, the yearly balance (conguaglio), corrections of past data.
.. [2] DM MASE 414/2023 (the CACER incentive) and DM MASE 106/2024 (the GSE fees).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from condivisa.kernel import clock
from condivisa.kernel.money import to_euros
from condivisa.store.auth_tables import AuditEntry
from condivisa.store.ledger_tables import GseLedgerEntry
from condivisa.store.store import Store

KINDS = ("advance", "yearly_balance", "correction")
STATUSES = ("communicated", "paid")
#: Italian names a referente may type for the kinds
KIND_ALIASES = {"acconto": "advance", "conguaglio": "yearly_balance", "rettifica": "correction"}
#: the largest document kept with an entry, bytes (5 MiB)
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
#: the documents accepted, by file extension
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".p7m": "application/pkcs7-mime",
    ".xml": "application/xml",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
AUDIT_ACTION = "gse_ledger_recorded"


class LedgerError(ValueError):
    """A malformed ledger entry: ``field`` names what is wrong, the message says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Document:
    """A file attached to an entry: its name, content type and bytes."""

    name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size_bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class LedgerEntry:
    """One figure of the GSE (see the module docstring); ``amount_cents`` is what the community receives."""

    community: str
    period: str
    kind: str
    status: str
    amount_cents: int
    communicated_on: dt.date | None = None
    paid_on: dt.date | None = None
    due_on: dt.date | None = None
    reference: str | None = None
    note: str | None = None
    document_name: str | None = None
    document_content_type: str | None = None
    document_sha256: str | None = None
    document_bytes: int | None = None
    id: int | None = None
    created_at: dt.datetime | None = field(default=None, compare=False)
    created_by: str | None = field(default=None, compare=False)

    @property
    def amount_eur(self) -> float:
        return to_euros(self.amount_cents)

    @property
    def year(self) -> int:
        return int(self.period[:4])

    @property
    def day(self) -> dt.date | None:
        """The date of the figure: ``paid_on`` for a payment, ``communicated_on`` for a notice."""
        return self.paid_on if self.status == "paid" else self.communicated_on

    @property
    def natural_key(self) -> str:
        """SHA-256 of what makes two records the same figure (community, period, kind, status, reference,
        amount, date)."""
        parts = (
            self.community,
            self.period,
            self.kind,
            self.status,
            self.reference or "",
            str(self.amount_cents),
            self.day.isoformat() if self.day else "",
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class RecordOutcome:
    """What :func:`record_entry` did: the entry's id and whether it was new (``False``: already recorded)."""

    entry_id: int
    created: bool


# ---------------------------------------------------------------------------------------------- parsing


def parse_kind(text: str) -> str:
    """``advance``, ``yearly_balance`` or ``correction`` (or their Italian names); else "did you mean"."""
    value = (text or "").strip().lower().replace("-", "_").replace(" ", "_")
    value = KIND_ALIASES.get(value, value)
    if value in KINDS:
        return value
    close = difflib.get_close_matches(value, [*KINDS, *KIND_ALIASES], n=1, cutoff=0.5)
    hint = f" (did you mean {KIND_ALIASES.get(close[0], close[0])}?)" if close else ""
    raise LedgerError("kind", f"{text!r} is not a kind{hint}; use one of {', '.join(KINDS)}")


def parse_amount_cents(text: str | float | int) -> int:
    """An amount in € as whole cents: ``"312.40"`` or ``"312,40"`` → 31240; at most 2 decimals."""
    raw = str(text).strip().replace("€", "").strip()
    if "." in raw and "," in raw or raw.count(".") > 1 or raw.count(",") > 1:
        raise LedgerError("amount", f"{text!r}: write the euros without a thousands separator, e.g. 1234.56")
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise LedgerError("amount", f"{text!r} is not an amount in euros; write e.g. 312.40") from None
    if not value.is_finite():
        raise LedgerError("amount", f"{text!r} is not an amount in euros; write e.g. 312.40")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise LedgerError(
            "amount",
            f"{text!r} has more than 2 decimals: the GSE pays whole cents; write it as on the GSE's "
            f"document, e.g. {value.quantize(Decimal('0.01'))}",
        )
    return int(value * 100)


def parse_day(value: str | dt.date | None, name: str) -> dt.date | None:
    """A civil date from ``YYYY-MM-DD`` (or a date); ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise LedgerError(name, f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-08-30") from None


def _period(kind: str, month: str | None, year: int | str | None) -> str:
    if kind == "yearly_balance":
        if month:
            raise LedgerError(
                "month", f"a yearly balance is for a year: give the year (e.g. {month[:4]}), not a month"
            )
        text = str(year or "").strip()
        if len(text) != 4 or not text.isdigit() or not 2000 <= int(text) <= 2100:
            raise LedgerError("year", f"{year!r}: give the year the balance closes, e.g. 2024")
        return text
    if year is not None and not month:
        raise LedgerError("month", f"a {kind} is for a month: give the month as YYYY-MM, e.g. {year}-06")
    text = (month or "").strip()
    try:
        ok = len(text) == 7 and dt.date.fromisoformat(text + "-01").year >= 2000
    except ValueError:
        ok = False
    if not ok:
        raise LedgerError("month", f"{month!r} is not a month; write it as YYYY-MM, e.g. 2024-06")
    return text


def period_start(period: str) -> dt.date:
    """The first day of a period ``YYYY-MM`` or ``YYYY``."""
    return dt.date(int(period[:4]), int(period[5:7]) if len(period) == 7 else 1, 1)


def read_document(name: str, data: bytes, content_type: str | None = None) -> Document:
    """A document to attach, checked: a known type (by extension), not empty, at most 5 MiB."""
    base = PurePath(name.replace("\\", "/")).name.strip()
    ext = PurePath(base).suffix.lower()
    if ext not in DOCUMENT_TYPES:
        raise LedgerError("document", f"{base or name!r}: attach a {', '.join(sorted(DOCUMENT_TYPES))} file")
    if not data:
        raise LedgerError("document", f"{base!r} is empty; attach the GSE's document itself")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise LedgerError(
            "document",
            f"{base!r} is {len(data) / 2**20:.1f} MiB, more than {MAX_DOCUMENT_BYTES // 2**20} MiB; "
            "attach a smaller scan or the GSE's PDF",
        )
    return Document(base[:255], DOCUMENT_TYPES[ext], bytes(data))


def make_entry(
    community: str,
    *,
    kind: str,
    amount: str | float | int,
    month: str | None = None,
    year: int | str | None = None,
    status: str | None = None,
    paid_on: str | dt.date | None = None,
    communicated_on: str | dt.date | None = None,
    due_on: str | dt.date | None = None,
    reference: str | None = None,
    note: str | None = None,
    document: Document | None = None,
    today: dt.date | None = None,
) -> LedgerEntry:
    """A checked :class:`LedgerEntry` (see the module docstring), or :class:`LedgerError`."""
    kind = parse_kind(kind)
    period = _period(kind, month, year)
    cents = parse_amount_cents(amount)
    if kind == "advance" and cents < 0:
        raise LedgerError("amount", f"{amount!r}: an advance is not negative; record it as a correction")
    paid, told, due = (
        parse_day(paid_on, "paid_on"),
        parse_day(communicated_on, "communicated_on"),
        parse_day(due_on, "due_on"),
    )
    if status is None:
        status = "paid" if paid else "communicated" if told else ""
    if status not in STATUSES:
        close = difflib.get_close_matches(str(status).lower(), STATUSES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise LedgerError(
            "status",
            f"{status!r} is not a status{hint}: give paid_on (the day the money arrived) or "
            "communicated_on (the day of the GSE's notice)",
        )
    if status == "paid" and paid is None:
        raise LedgerError("paid_on", "a payment needs the day the money arrived, YYYY-MM-DD")
    if status == "communicated" and told is None:
        raise LedgerError("communicated_on", "a communication needs the day of the GSE's notice, YYYY-MM-DD")
    today = today or clock.today()
    first = period_start(period)
    for name, day in (("paid_on", paid), ("communicated_on", told)):
        if day is not None and day > today:
            raise LedgerError(name, f"{day} is after today ({today}); record it once it has happened")
        if day is not None and day < first:
            raise LedgerError(
                name, f"{day} is before the period {period} starts; check the period or the date"
            )
    if due is not None and due < first:
        raise LedgerError("due_on", f"{due} is before the period {period} starts")
    ref = (reference or "").strip() or None
    if ref is not None and len(ref) > 128:
        raise LedgerError("reference", "at most 128 characters (the GSE's document number)")
    return LedgerEntry(
        community=community,
        period=period,
        kind=kind,
        status=status,
        amount_cents=cents,
        communicated_on=told,
        paid_on=paid,
        due_on=due,
        reference=ref,
        note=(note or "").strip() or None,
        document_name=document.name if document else None,
        document_content_type=document.content_type if document else None,
        document_sha256=document.sha256 if document else None,
        document_bytes=document.size_bytes if document else None,
    )


# ---------------------------------------------------------------------------------------------- the store

_T = GseLedgerEntry.__table__
_COLUMNS = [c for c in _T.c if c.name not in ("document", "natural_key")]


def _entry(row: sa.Row) -> LedgerEntry:
    return LedgerEntry(**{c.name: row._mapping[c.name] for c in _COLUMNS})


def record_entry(
    store: Store, entry: LedgerEntry, document: Document | None = None, *, actor: str = "cli"
) -> RecordOutcome:
    """Record ``entry`` (and its ``document``) with its audit line in **one transaction**; the same figure
    again changes nothing; the same GSE reference with other figures raises :class:`LedgerError`."""
    if (document.sha256 if document is not None else None) != entry.document_sha256:
        raise LedgerError("document", "the document is not the one the entry was made with")
    key = entry.natural_key
    try:
        with store.engine.begin() as conn:
            found = conn.execute(sa.select(_T.c.id).where(_T.c.natural_key == key)).scalar()
            if found is not None:
                return RecordOutcome(int(found), False)
            _refuse_reused_reference(conn, entry)
            values = {c.name: getattr(entry, c.name) for c in _COLUMNS if c.name != "id"}
            values.update(
                natural_key=key,
                document=document.data if document else None,
                created_at=clock.now(),
                created_by=actor[:128],
            )
            new_id = int(conn.execute(sa.insert(_T).values(**values).returning(_T.c.id)).scalar_one())
            conn.execute(
                sa.insert(AuditEntry.__table__).values(
                    at=clock.now(),
                    actor=actor[:128],
                    action=AUDIT_ACTION,
                    target=f"{entry.community}:{entry.period}"[:256],
                    detail={
                        "id": new_id,
                        "kind": entry.kind,
                        "status": entry.status,
                        "amount_eur": entry.amount_eur,
                        "reference": entry.reference,
                        "document_sha256": entry.document_sha256,
                    },
                )
            )
            return RecordOutcome(new_id, True)
    except IntegrityError:  # the same figure recorded at the same moment by another process
        with store.read() as conn:
            found = conn.execute(sa.select(_T.c.id).where(_T.c.natural_key == key)).scalar()
        if found is None:
            raise
        return RecordOutcome(int(found), False)


def _refuse_reused_reference(conn: sa.Connection, entry: LedgerEntry) -> None:
    if entry.reference is None:
        return
    other = conn.execute(
        sa.select(_T.c.period, _T.c.kind, _T.c.amount_cents).where(
            _T.c.community == entry.community,
            _T.c.reference == entry.reference,
            _T.c.status == entry.status,
        )
    ).first()
    if other is not None:
        raise LedgerError(
            "reference",
            f"{entry.reference!r} is already recorded ({other.kind} {other.period}, "
            f"{to_euros(other.amount_cents):.2f} €); a changed figure is a new entry of kind correction "
            "with its own reference",
        )


def list_entries(store: Store, community: str, year: int | None = None) -> list[LedgerEntry]:
    """The community's entries (of ``year`` only, when given), by period, then date, then id."""
    q = sa.select(*_COLUMNS).where(_T.c.community == community)
    if year is not None:
        q = q.where(_T.c.period.like(f"{year:04d}%"))
    q = q.order_by(_T.c.period, _T.c.id)
    with store.read() as conn:
        return [_entry(r) for r in conn.execute(q)]


def entry_document(store: Store, community: str, entry_id: int) -> Document | None:
    """The document attached to entry ``entry_id`` of ``community`` (``None``: no such entry, another
    community's, or no document)."""
    q = sa.select(_T.c.document, _T.c.document_name, _T.c.document_content_type).where(
        _T.c.id == entry_id, _T.c.community == community
    )
    with store.read() as conn:
        row = conn.execute(q).first()
    if row is None or row.document is None:
        return None
    return Document(row.document_name or "document", row.document_content_type or "", bytes(row.document))
