"""``ingest_payload``: the one path every transport (MQTT, REST, SCPS gateway, files) calls.

One payload = one message = one transaction. Steps:

1. decode (:mod:`condivisa.ingest.decode`): gzip is inflated, at most
   :data:`~condivisa.ingest.decode.MAX_PAYLOAD_BYTES`; UTF-8 JSON, ``NaN``/``Infinity`` refused;
2. unwrap (the same module): a bare ``{"UrbanDataset": ...}`` or an SCPS ``/push`` body
   ``{"resource_id", "dataset"}``;
3. parse and validate (:mod:`condivisa.formats.urbandataset.parse`: schema, profile, units, time zone,
   15-minute grid, every energy a finite number within 0 and the hard cap of
   :mod:`condivisa.domain.plausibility`: ``1.7e308`` kWh is refused with its reason);
4. plausibility: no quarter hour ending more than :data:`FUTURE_TOLERANCE` after reception or starting before
   :data:`EARLIEST_START`; every POD registered (:meth:`Store.register_devices`);
5. store (:meth:`Store.ingest_records`): new quarter hours stored, identical ones counted as duplicates,
   changed ones revised (newest wins, old kept); cross-checks **flag** but never drop. A quarter hour above
   its POD's contract power is stored too; the settlement leaves it out of the money
   (:func:`condivisa.outputs.stored.within_bounds`), since only the community knows the contract powers.

The message is accepted or rejected as a whole: any error rejects it, nothing of it is stored, and the raw
bytes go to the dead-letter table with every reason. Input problems never raise; database problems do
(so a transport does not acknowledge what was not committed). A measurements table (a CSV import) is
stored by :func:`condivisa.ingest.tables.ingest_frame`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.formats.urbandataset.types import FieldError, ParsedDataset, UrbanDatasetError
from condivisa.ingest.decode import PayloadError, clean_text, decode_payload
from condivisa.ingest.scope import WriteScope
from condivisa.kernel import clock
from condivisa.kernel.timegrid import QUARTER, UTC
from condivisa.store.batch import BatchItem, write_batch
from condivisa.store.checks import Flag
from condivisa.store.store import Store

#: A quarter hour may end at most this long after the message was received (device clocks drift).
FUTURE_TOLERANCE = dt.timedelta(days=1)
#: No chain-2 reading can be older than this (the second-generation meters' roll-out began in 2017).
EARLIEST_START = dt.datetime(2015, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rejection:
    """Why (part of) a payload was refused: ``path`` is a JSON path (``$`` for the whole payload)."""

    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class IngestResult:
    """What :func:`ingest_payload` did. ``accepted`` is True when the message was stored (fully)."""

    accepted: bool
    stored: int = 0
    duplicates: int = 0
    revised: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    dead_letter_id: int | None = None
    readings: int = 0
    dataset_id: str | None = None
    producer_id: str | None = None
    resource_id: str | None = None

    def to_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "revised": self.revised,
            "rejected": [r.to_dict() for r in self.rejected],
            "flags": [f.to_dict() for f in self.flags],
            "dead_letter_id": self.dead_letter_id,
            "readings": self.readings,
            "dataset_id": self.dataset_id,
            "producer_id": self.producer_id,
            "resource_id": self.resource_id,
        }


def _plausibility(parsed: ParsedDataset, root: str, received_at: dt.datetime) -> list[FieldError]:
    errors: list[FieldError] = []
    starts = [r.start for r in parsed.readings]
    if not starts or (
        max(starts) + QUARTER <= received_at + FUTURE_TOLERANCE and min(starts) >= EARLIEST_START
    ):
        return errors  # the usual case, without a look at each line
    for r in parsed.readings:
        where = f"{root}UrbanDataset.values.line[{r.line}].period"
        if r.end > received_at + FUTURE_TOLERANCE:
            errors.append(
                FieldError(
                    where,
                    f"quarter hour {r.start.isoformat()} ends after the message was received "
                    f"({received_at.replace(microsecond=0).isoformat()}): a future reading",
                )
            )
        elif r.start < EARLIEST_START:
            errors.append(
                FieldError(where, f"quarter hour {r.start.isoformat()} is before {EARLIEST_START.date()}")
            )
    return errors


def _authorisation(parsed: ParsedDataset, root: str, may_write: WriteScope) -> list[FieldError]:
    """An authenticated sender writes only within its scope (``may_write(pod=..., du=...)``: a platform
    token's PODs/DUs, a DU's own POD), line by line: a line outside it rejects the message."""
    return [
        FieldError(
            f"{root}UrbanDataset.values.line[{r.line}]",
            f"the sender is not authorised to write POD {r.pod}"
            + (f" read by DU {r.du_id}" if r.du_id else ""),
        )
        for r in parsed.readings
        if not may_write(pod=r.pod, du=r.du_id)
    ]


@dataclass
class PreparedMessage:
    """One payload after the steps that need no database (decode, parse, validate, plausibility, sender's
    scope), ready for :func:`store_prepared`. ``errors`` are those found so far; ``result`` holds what is
    known
    before storing (dataset/producer/resource ids, number of lines); ``community`` is the sender's (its MQTT
    topic's), None when unknown: its dead letter carries it, and a DU registered elsewhere is flagged."""

    raw: bytes
    source: str
    device_id: str | None
    received_at: dt.datetime
    result: IngestResult
    root: str = ""
    parsed: ParsedDataset | None = None
    errors: list[FieldError] = field(default_factory=list)
    community: str | None = None

    @property
    def valid(self) -> bool:
        return not self.errors and self.parsed is not None


def prepare_payload(
    raw: bytes | str,
    *,
    source: str,
    device_id: str | None = None,
    received_at: dt.datetime | None = None,
    may_write: WriteScope | None = None,
    community: str | None = None,
) -> PreparedMessage:
    """Steps 1-4 of the module docstring, without the database (PODs are checked when storing). Never raises
    for bad input: the problems are in ``errors``. Safe to call from any thread. ``community``: the sender's
    (:class:`PreparedMessage`)."""
    received_at = received_at or clock.now()
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    m = PreparedMessage(
        raw_bytes,
        clean_text(source, 200),
        device_id,
        received_at,
        IngestResult(accepted=False),
        community=community,
    )
    try:
        doc, m.root, m.result.resource_id = decode_payload(raw_bytes)
        m.parsed = parse_urbandataset(doc, root=m.root)
        m.result.dataset_id, m.result.producer_id = m.parsed.profile_id, m.parsed.producer_id
        m.result.readings = len(m.parsed.readings)
        m.errors = _plausibility(m.parsed, m.root, received_at)
        if may_write is not None:  # an authenticated sender: a platform token's PODs/DUs, a DU's own POD
            m.errors += _authorisation(m.parsed, m.root, may_write)
    except (PayloadError, UrbanDatasetError) as exc:
        m.errors = exc.errors
    except (
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        KeyError,
        AttributeError,
    ) as exc:  # safety net
        m.errors = [FieldError("$", f"unreadable payload ({type(exc).__name__}: {clean_text(exc, 200)})")]
    return m


def _unknown_pod_errors(root: str, parsed: ParsedDataset, unknown_pods: Sequence[str]) -> list[FieldError]:
    unknown = set(unknown_pods)
    return [
        FieldError(
            f"{root}UrbanDataset.values.line[{r.line}]", f"POD {r.pod} is not registered in this community"
        )
        for r in parsed.readings
        if r.pod in unknown
    ]


def store_prepared(
    store: Store, prepared: Sequence[PreparedMessage], *, keep_dead_letter: bool = True
) -> list[IngestResult]:
    """Step 5 for prepared messages, all in **one transaction**: the valid ones are written together by
    :func:`condivisa.store.batch.write_batch` (set-based, with the results of writing them in order: a
    later message sees the earlier ones' rows, as it would after their commits); a message naming an
    unregistered POD writes nothing (the check precedes any write) and is rejected like an invalid one; the
    rejected ones' dead letters are inserted in the same transaction (unless ``keep_dead_letter`` is False).

    Returns one **new** :class:`IngestResult` per message, in order; ``prepared`` is not modified, so after a
    database error (which rolls the whole transaction back and is raised: acknowledge nothing) the same
    messages can be stored again, together or one by one."""
    results: list[IngestResult] = []
    errors: list[list[FieldError]] = []
    for m in prepared:
        base = (
            m.result
        )  # what preparing found; a new result each time (plain construction: replace() is slow)
        results.append(
            IngestResult(
                False,
                readings=base.readings,
                dataset_id=base.dataset_id,
                producer_id=base.producer_id,
                resource_id=base.resource_id,
            )
        )
        errors.append(list(m.errors))
    valid = [(k, m, m.parsed) for k, m in enumerate(prepared) if not m.errors and m.parsed is not None]
    with store.engine.begin() as conn:
        if valid:
            outs = write_batch(
                conn,
                [
                    BatchItem(parsed.readings, m.source, m.received_at, m.device_id, m.community)
                    for _, m, parsed in valid
                ],
                registry=store.registry,
            )
            for (k, m, parsed), out in zip(valid, outs):
                if out.unknown_pods:
                    errors[k] = _unknown_pod_errors(m.root, parsed, out.unknown_pods)
                    continue
                r = results[k]
                r.accepted = True
                r.stored, r.duplicates, r.revised, r.flags = (
                    out.stored,
                    out.duplicates,
                    out.revised,
                    list(out.flags),
                )
        for m, r, errs in zip(prepared, results, errors):
            if r.accepted:
                continue
            r.rejected = [Rejection(clean_text(e.path, 300), clean_text(e.reason)) for e in errs]
            if keep_dead_letter:
                r.dead_letter_id = store.add_dead_letter(
                    m.raw,
                    [x.to_dict() for x in r.rejected],
                    source=m.source,
                    device_id=clean_text(m.device_id, 64) if m.device_id else None,
                    received_at=m.received_at,
                    conn=conn,
                    community=m.community,
                )
    return results


def ingest_payload(
    store: Store,
    raw: bytes,
    *,
    source: str,
    device_id: str | None = None,
    received_at: dt.datetime | None = None,
    may_write: WriteScope | None = None,
    keep_dead_letter: bool = True,
    community: str | None = None,
) -> IngestResult:
    """Parse, validate, cross-check and store one UrbanDataset message (see the module docstring).

    ``source`` says where it came from (e.g. ``mqtt:condivisa/cer1/du/DU-0001/up``, ``rest:1.2.3.4``);
    ``device_id`` is the DU the transport authenticated, if any (a line read by another DU is flagged).
    ``may_write(pod=, du=)``, if given, is the sender's write scope
    (:meth:`condivisa.auth.principal.Principal.may_write`):
    a line outside it rejects the message.
    Returns an :class:`IngestResult` for any input; raises only if the database fails.
    ``keep_dead_letter=False``
    (replays) reports a rejection without storing the payload again. ``community``: the sender's
    (:class:`PreparedMessage`).
    """
    m = prepare_payload(
        raw,
        source=source,
        device_id=device_id,
        received_at=received_at,
        may_write=may_write,
        community=community,
    )
    return store_prepared(store, [m], keep_dead_letter=keep_dead_letter)[0]


class PayloadArgs(TypedDict):
    """One message of :func:`ingest_payloads`: :func:`ingest_payload`'s arguments."""

    raw: bytes | str
    source: str
    device_id: NotRequired[str | None]
    received_at: NotRequired[dt.datetime | None]
    may_write: NotRequired[WriteScope | None]


def ingest_payloads(store: Store, messages: Sequence[PayloadArgs]) -> list[IngestResult]:
    """Group commit: ingest several messages in **one transaction**, with exactly the results
    :func:`ingest_payload` would give them one after the other, in order.

    ``messages`` are dicts of :func:`ingest_payload`'s arguments (``raw``, ``source``, optional ``device_id``,
    ``received_at``, ``may_write``). Every message is prepared first (:func:`prepare_payload`, no database),
    then all are stored by :func:`store_prepared`. Nothing is visible until the commit; a database error rolls
    back the whole batch and raises (acknowledge nothing; the caller may retry the messages one by one).
    """
    prepared = [
        prepare_payload(
            d["raw"],
            source=d["source"],
            device_id=d.get("device_id"),
            received_at=d.get("received_at"),
            may_write=d.get("may_write"),
        )
        for d in messages
    ]
    return store_prepared(store, prepared)


def _unauthorised(reason: str) -> bool:
    """A reason saying the sender was not authorised: outside its scope, or a DU of another community."""
    return "not authorised" in reason or "is registered in community" in reason


def replay_dead_letter(store: Store, letter_id: int, *, force: bool = False) -> IngestResult:
    """Ingest a dead letter's payload again (e.g. after registering the POD it was refused for), with its
    original reception time and device; a payload refused again is not stored a second time. Re-running a
    replay is harmless: what was stored counts as duplicates. A payload refused because its sender was not
    authorised is replayed only with ``force`` (the replay has no sender to check)."""
    letter = store.dead_letter(letter_id)
    if letter is None:
        raise KeyError(f"no dead letter {letter_id}")
    if not force and any(_unauthorised(r.get("reason", "")) for r in letter["reasons"]):
        return IngestResult(
            accepted=False,
            rejected=[
                Rejection(
                    "$", "refused because the sender was not authorised: replay it only deliberately (force)"
                )
            ],
        )
    return ingest_payload(
        store,
        letter["payload"],
        source=f"replay:{letter['source']}"[:200],
        device_id=letter["device_id"],
        received_at=letter["received_at"],
        keep_dead_letter=False,
        community=letter.get("community"),
    )
