"""GDPR: a member's data export (access/portability), erasure with pseudonymisation, aggregate exports,
and the retention purge.

Rules implemented (Regulation (EU) 2016/679):
- **Art. 15 and 20, access and portability**: :func:`member_export` gathers everything condivisa holds about
  one member — their personal fields, PODs, devices, every stored reading and superseded revision of their
  PODs, their statements (when a settlement result is given), their user accounts, their bank details
  (``member_bank_accounts``) and their audit entries —
  as JSON, or CSV for the readings (:func:`write_member_export`).
- **Art. 17, erasure, limited by Art. 17(3)(b)**: the settlement of incentives must stay verifiable for the
  retention period (see ``docs/privacy.md``), so readings are *kept but pseudonymised*: every POD code and DU
  id of the member is replaced by ``HMAC-SHA256(key, code)`` (truncated, prefixed ``PSEUDO-``/``PSEUDU-``);
  only whoever holds the community's pseudonymisation key and the original code can link them again (Art.
  4(5)).
  The member's user accounts, tokens and bank details are deleted, audit entries name a pseudonym, their
  DUs' registrations, activity and MQTT credentials and every dead letter mentioning them are deleted
  (:func:`erase_member`).
- **Art. 5(1)(c), data minimisation**: :func:`aggregate_export` sums readings per interval with no POD codes,
  DU ids or names, and suppresses any interval with fewer than ``min_pods`` reporting PODs (so a single
  household's profile cannot be read off the total).
- **Art. 5(1)(e), storage limitation**: :func:`purge_expired` deletes dead letters, expired tokens and audit
  entries past their retention period (:data:`RETENTION`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from condivisa.auth.audit import pseudonymise_entries
from condivisa.auth.database import Database, engine_of
from condivisa.auth.erasure_traces import (
    billing_lines_kept,
    drop_broker_clients,
    member_dus,
    scrub_dead_letters,
    scrub_distributor,
    scrub_registry,
    sqlite_checkpoint,
    sqlite_secure_delete,
)
from condivisa.auth.mqtt_acl import member_username
from condivisa.auth.service import AuthService
from condivisa.domain.community import Community
from condivisa.engines.sharing import shared_energy_kwh
from condivisa.formats.csv_safe import safe_frame
from condivisa.kernel import clock
from condivisa.store.auth_tables import AuditAction, AuditEntry, DeviceCredential, Token, User
from condivisa.store.billing_tables import MemberBankAccount
from condivisa.store.communities import community_slug
from condivisa.store.distributor_tables import DistributorReading
from condivisa.store.flex_tables import EngagementOptIn, FlexInvitation
from condivisa.store.store import Store, TimeBound

#: how long each kind of record is kept (docs/privacy.md explains each choice)
RETENTION = {
    "measurements_years": 10,  # settlement evidence: Codice civile art. 2220 (ten years for accounting records)
    "dead_letters_days": 90,  # rejected raw payloads: long enough to diagnose and re-send, then deleted
    "tokens_days_after_expiry": 30,  # expired/revoked tokens
    "audit_log_years": 2,  # logins, exports, erasures
}
KEY_ENV = "CONDIVISA_PSEUDONYM_KEY"


def pseudonym(code: str, key: bytes, prefix: str = "PSEUDO-") -> str:
    """Keyed pseudonym of a POD code or DU id: ``prefix`` + first 24 hex digits of HMAC-SHA256(key, code)
    (RFC 2104). Deterministic for one key, so the same POD always gets the same pseudonym."""
    if len(key) < 16:
        raise ValueError("the pseudonymisation key must have at least 16 bytes")
    return prefix + hmac.new(key, code.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def load_key(key_file: str | Path | None = None) -> bytes:
    """The community's pseudonymisation key: from ``key_file`` or ``$CONDIVISA_PSEUDONYM_KEY`` (hex)."""
    text = Path(key_file).read_text().strip() if key_file else os.environ.get(KEY_ENV, "").strip()
    if not text:
        raise ValueError(
            f"no pseudonymisation key: give --key-file or set {KEY_ENV} "
            "(create one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(
            f"pseudonymisation key{' in ' + str(key_file) if key_file else ''}: not hexadecimal"
        ) from None
    if len(key) < 16:
        raise ValueError("the pseudonymisation key must have at least 16 bytes (32 hex digits)")
    return key


def _tables() -> dict[str, sa.Table]:
    from condivisa.store.models import Base

    return Base.metadata.tables


def member_pods(community: Community, member_id: str) -> list[str]:
    """The member's own PODs and the PODs of the plants they own. ``KeyError`` if there is no such member."""
    member = community.member(member_id)
    pods = [p.code for p in member.pods]
    pods += [pl.pod for pl in community.plants if pl.owner == member_id and pl.pod not in pods]
    return pods


# ------------------------------------------------------------------------------------------ export
def member_export(
    store: Database, community: Community, member_id: str, *, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything held about ``member_id`` (Art. 15/20). ``result`` is a settlement ``result.json`` document."""
    member = community.member(member_id)
    pods = member_pods(community, member_id)
    t = _tables()
    engine = engine_of(store)
    with engine.connect() as conn:
        devices = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(t["devices"]).where(t["devices"].c.pod.in_(pods)).order_by(t["devices"].c.du_id)
            )
        ]
        meas = t["measurements"]
        readings = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(meas)
                .where(meas.c.pod.in_(pods))
                .order_by(meas.c.pod, meas.c.start_utc, meas.c.meter)
            )
        ]
        rev = t["measurement_revisions"]
        revisions = [
            dict(r._mapping)
            for r in conn.execute(sa.select(rev).where(rev.c.pod.in_(pods)).order_by(rev.c.id))
        ]
        users = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(User.username, User.role, User.created_at, User.disabled).where(
                    User.member_id == member_id
                )
            )
        ]
        names = [u["username"] for u in users]
        dist = DistributorReading.__table__
        distributor = [
            {k: v for k, v in r._mapping.items() if k != "id"}
            for r in conn.execute(
                sa.select(dist)
                .where(dist.c.pod.in_(pods))
                .order_by(dist.c.pod, dist.c.start_utc, dist.c.version)
            )
        ]
        bank = MemberBankAccount.__table__
        bank_accounts = [
            {k: v for k, v in r._mapping.items() if k != "community"}
            for r in conn.execute(
                sa.select(bank).where(bank.c.community == community.name, bank.c.member_id == member_id)
            )
        ]
        audit = (
            [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(
                        AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.ip
                    )
                    .where(AuditEntry.actor.in_(names))
                    .order_by(AuditEntry.id)
                )
            ]
            if names
            else []
        )
    statements = []
    if result is not None:
        statements = [
            dict(row, period=result.get("period"))
            for row in result.get("members", [])
            if row.get("id") == member_id
        ]
    for row in readings:
        row.pop("id", None)
    return {
        "generated_at": clock.now().isoformat(),
        "community": community.name,
        "member": {
            "id": member.id,
            "name": member.name,
            "email": member.email,
            "category": member.category.value,
            "founder": member.founder,
            "joined": member.joined,
            "left": member.left,
            "pods": [{"code": p.code, "kind": p.kind.value} for p in member.pods],
            "plants": [
                {"id": pl.id, "pod": pl.pod, "power_kw": pl.power_kw}
                for pl in community.plants
                if pl.owner == member_id
            ],
        },
        "devices": devices,
        "measurements": readings,
        "measurement_revisions": revisions,
        "distributor_readings": distributor,  # the distributor's validated values, every version
        "statements": statements,
        "accounts": users,
        "bank_accounts": bank_accounts,
        "audit_log": audit,
        "retention": RETENTION,
    }


def _jsonable(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def write_member_export(export: dict[str, Any], out: str | Path, fmt: str = "json") -> list[Path]:
    """Write an export as one JSON file (``fmt="json"``, ``out`` is the file) or, for ``fmt="csv"``, a
    directory ``out`` with ``member.json`` (everything but the readings), ``measurements.csv`` and
    ``statements.csv``. Returns the files written."""
    out = Path(out)
    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(export, default=_jsonable, indent=2, ensure_ascii=False), encoding="utf-8")
        return [out]
    if fmt != "csv":
        raise ValueError(f"format {fmt!r}: use json or csv")
    out.mkdir(parents=True, exist_ok=True)
    readings = pd.DataFrame(export["measurements"])
    if not readings.empty:
        readings = readings.rename(columns={"start_utc": "start"})
        readings["start"] = pd.to_datetime(readings["start"], utc=True).dt.tz_convert("Europe/Rome")
        readings["flags"] = readings["flags"].map(lambda f: json.dumps(f) if f else "")
    paths = [out / "member.json", out / "measurements.csv", out / "statements.csv"]
    rest = {k: v for k, v in export.items() if k not in ("measurements", "statements")}
    paths[0].write_text(json.dumps(rest, default=_jsonable, indent=2, ensure_ascii=False), encoding="utf-8")
    safe_frame(readings).to_csv(paths[1], index=False)  # text cells cannot run as formulas (#13, 12)
    statements = pd.DataFrame([{k: v for k, v in s.items() if k != "period"} for s in export["statements"]])
    safe_frame(statements).to_csv(paths[2], index=False)
    return paths


# ------------------------------------------------------------------------------------------ erasure
@dataclass
class ErasureReport:
    member_id: str
    pods: dict[str, str] = field(default_factory=dict)  # code -> pseudonym
    devices: dict[str, str] = field(default_factory=dict)  # DU id -> pseudonym
    measurements: int = 0
    revisions: int = 0
    dead_letters_deleted: int = 0
    dead_letters_uninspectable: int = 0  # of those deleted: too large to read whole, deleted to be safe
    users_deleted: int = 0
    bank_accounts_deleted: int = 0
    distributor_values: int = (
        0  # the distributor's quarter hours of their PODs, pseudonymised (every version)
    )
    distributor_files: int = 0  # imported files about their PODs: POD pseudonymised, file name dropped
    billing_lines_kept: int = (
        0  # lines of final billing runs naming them: kept (Art. 17(3)(b), art. 2220 c.c.)
    )
    audit_entries_pseudonymised: int = 0
    registry: dict[str, int] = field(default_factory=dict)  # devices, activity, credentials, tokens
    broker_clients_removed: int | None = None  # None: no broker files given
    sqlite_checkpoint: str | None = None  # "complete" | "busy" | None (PostgreSQL)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def erase_member(
    store: Database,
    community: Community,
    member_id: str,
    *,
    key: bytes,
    actor: str = "system",
    broker_dir: str | Path | None = None,
) -> ErasureReport:
    """Erase ``member_id`` (Art. 17 within 17(3)(b)): one transaction that pseudonymises their PODs and DUs
    in ``pods``, ``measurements`` and ``measurement_revisions``, deletes their DU registrations, device
    activity, MQTT credentials, dead letters (:mod:`condivisa.auth.erasure_traces`), user accounts and
    tokens, pseudonymises every audit entry naming them (:func:`condivisa.auth.audit.pseudonymise_entries`),
    and records the erasure (:mod:`condivisa.auth.erased`). With ``broker_dir`` their DUs leave the broker's
    files too. On SQLite, deleted bytes are zeroed and the write-ahead log truncated. Their name and email
    live in ``community.yaml``: the referente removes them there (``docs/privacy.md``)."""
    member = community.member(member_id)
    pods = member_pods(community, member_id)
    t = _tables()
    rep = ErasureReport(member_id, pods={p: pseudonym(p, key) for p in pods})
    engine = engine_of(store)
    with engine.begin() as conn:
        sqlite_secure_delete(conn)
        meas, rev = t["measurements"], t["measurement_revisions"]
        dus = member_dus(conn, pods) | {d.id for d in community.devices if d.pod in pods}
        rep.devices = {d: pseudonym(d, key, "PSEUDU-") for d in sorted(dus)}
        for code, alias in rep.pods.items():
            rep.measurements += conn.execute(
                sa.update(meas)
                .where(meas.c.pod == code)
                .values(pod=alias, du_id=None, source="pseudonymised")
            ).rowcount
            rep.revisions += conn.execute(
                sa.update(rev).where(rev.c.pod == code).values(pod=alias, du_id=None, source="pseudonymised")
            ).rowcount
            pod_t = t["pods"]
            if conn.execute(sa.select(pod_t.c.code).where(pod_t.c.code == alias)).first():
                conn.execute(sa.delete(pod_t).where(pod_t.c.code == code))  # erased before: keep one
            else:
                conn.execute(sa.update(pod_t).where(pod_t.c.code == code).values(code=alias, member_id=None))
        users = list(conn.execute(sa.select(User.id, User.username).where(User.member_id == member_id)))
        names = [u for _, u in users]
        rep.registry = scrub_registry(conn, rep.pods, rep.devices, names)
        personal = [v for v in (member.name, member.email) if v]
        rep.dead_letters_deleted, rep.dead_letters_uninspectable = scrub_dead_letters(
            conn, sorted(dus), pods + sorted(dus) + personal
        )
        member_alias = pseudonym(member_id, key, "PSEUDM-")
        swaps = {**rep.pods, **rep.devices, member_id: member_alias}
        swaps |= {u: pseudonym(u, key, "erased-") for u in names} | {v: "(erased)" for v in personal}
        rep.audit_entries_pseudonymised = pseudonymise_entries(conn, swaps, own_actors=frozenset(names))
        for uid, _ in users:
            conn.execute(sa.delete(Token).where(Token.user_id == uid))
            conn.execute(sa.delete(User).where(User.id == uid))
        rep.users_deleted = len(users)
        rep.distributor_values, rep.distributor_files = scrub_distributor(conn, rep.pods)
        rep.billing_lines_kept = billing_lines_kept(conn, community.name, member_id)
        bank = MemberBankAccount.__table__
        rep.bank_accounts_deleted = conn.execute(
            sa.delete(bank).where(bank.c.community == community.name, bank.c.member_id == member_id)
        ).rowcount
        optins = EngagementOptIn.__table__
        conn.execute(  # the ranking's pseudonym goes (issue #19); the events keep only the alias
            sa.delete(optins).where(optins.c.community == community.name, optins.c.member_id == member_id)
        )
        creds = DeviceCredential.__table__  # the member's Home Assistant credential (issue #19)
        conn.execute(
            sa.delete(creds).where(
                creds.c.kind == "member",
                creds.c.du_id == member_username(community_slug(community.name), member_id),
            )
        )
        invites = FlexInvitation.__table__
        conn.execute(
            sa.update(invites).where(invites.c.member_id == member_id).values(member_id=member_alias)
        )
        for du, du_alias in rep.devices.items():
            conn.execute(sa.update(invites).where(invites.c.du_id == du).values(du_id=du_alias))
        if broker_dir is not None:
            rep.broker_clients_removed = drop_broker_clients(broker_dir, sorted(dus))
        counts = {k: v for k, v in rep.to_dict().items() if k not in ("pods", "devices", "member_id")}
        conn.execute(
            sa.insert(AuditEntry).values(
                at=clock.now(),
                actor=actor,
                action=AuditAction.ERASURE.value,
                target=f"member:{member_id}",
                detail={**counts, "member_alias": member_alias, "pod_aliases": list(rep.pods.values())},
            )
        )
    rep.sqlite_checkpoint = sqlite_checkpoint(engine)
    return rep


# ------------------------------------------------------------------------------------------ aggregates
def aggregate_export(
    store: Store, *, start: TimeBound = None, end: TimeBound = None, freq: str = "h", min_pods: int = 3
) -> pd.DataFrame:
    """Community totals per interval with no POD codes, DU ids or names (for GSE, municipalities,
    researchers): ``start`` (Europe/Rome), ``pods_reporting``, ``withdrawn_kwh``, ``injected_kwh``,
    ``shared_kwh``. Shared energy is computed hour by hour, shared_h = min(Σ injected_h, Σ withdrawn_h) (TIAD
    Art. 1, :func:`condivisa.engines.sharing.shared_energy_kwh`), then summed to ``freq`` (``h``, ``D``,
    ``MS``). Intervals with fewer than ``min_pods`` reporting PODs are dropped (small-count suppression)."""
    if freq not in ("h", "D", "MS"):
        raise ValueError(f"freq {freq!r}: use h (hour), D (day) or MS (month)")
    frame = store.measurements_frame(start=start, end=end)
    cols = ["start", "pods_reporting", "withdrawn_kwh", "injected_kwh", "shared_kwh"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame = frame.assign(hour=frame["start"].dt.tz_convert("UTC").dt.floor("h"))
    hourly = frame.groupby("hour").agg(
        withdrawn_kwh=("withdrawn_kwh", "sum"), injected_kwh=("injected_kwh", "sum")
    )
    hourly["shared_kwh"] = shared_energy_kwh(
        hourly["injected_kwh"].to_numpy(), hourly["withdrawn_kwh"].to_numpy()
    )
    local = hourly.index.tz_convert("Europe/Rome")
    frame["bucket"] = _bucket(frame["hour"].dt.tz_convert("Europe/Rome"), freq)
    hourly["bucket"] = _bucket(pd.Series(local, index=hourly.index), freq)
    out = hourly.groupby("bucket")[["withdrawn_kwh", "injected_kwh", "shared_kwh"]].sum()
    out.insert(0, "pods_reporting", frame.groupby("bucket")["pod"].nunique())
    out = out[out["pods_reporting"] >= min_pods].reset_index().rename(columns={"bucket": "start"})
    out[["withdrawn_kwh", "injected_kwh", "shared_kwh"]] = out[
        ["withdrawn_kwh", "injected_kwh", "shared_kwh"]
    ].round(6)
    return out[cols]


def _bucket(local: pd.Series, freq: str) -> pd.Series:
    if freq == "h":
        return local
    if freq == "D":
        return local.dt.normalize()
    return local.dt.normalize() - pd.to_timedelta(local.dt.day - 1, unit="D")


# ------------------------------------------------------------------------------------------ retention
def purge_expired(
    store: Database, *, now: dt.datetime | None = None, actor: str = "system"
) -> dict[str, int]:
    """Delete what is past its retention (:data:`RETENTION`): dead letters, expired or revoked tokens, old
    audit entries. Measurements are never purged here (the settlement evidence outlives them; delete a
    closed year with the store's tools after ``measurements_years``)."""
    now = now or clock.now()
    t = _tables()
    token_cut = now - dt.timedelta(days=RETENTION["tokens_days_after_expiry"])
    with engine_of(store).begin() as conn:
        counts = {
            "dead_letters": conn.execute(
                sa.delete(t["dead_letters"]).where(
                    t["dead_letters"].c.received_at < now - dt.timedelta(days=RETENTION["dead_letters_days"])
                )
            ).rowcount,
            "tokens": conn.execute(
                sa.delete(Token).where(sa.or_(Token.expires_at < token_cut, Token.revoked_at < token_cut))
            ).rowcount,
            "audit_log": conn.execute(
                sa.delete(AuditEntry).where(
                    AuditEntry.at < now - dt.timedelta(days=365 * RETENTION["audit_log_years"])
                )
            ).rowcount,
        }
    AuthService(store).audit(actor, AuditAction.PURGE, None, counts)
    return counts
