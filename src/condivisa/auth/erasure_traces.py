"""The traces an erasure must also reach, beyond the measurements (issue #13, finding 9).

Each function runs inside the erasure's transaction (:func:`condivisa.auth.privacy.erase_member`) unless
said otherwise:

- :func:`scrub_dead_letters`: every dead letter whose device, source, reasons or payload mentions an
  erased code — the payload inflated and decoded every way :mod:`condivisa.auth.erasure_scan` knows — is
  deleted; so is every letter that cannot be read whole within the scan's bound (it *could* mention them);
- :func:`scrub_registry`: the DU registrations, their ``device_activity`` (last POD and readings seen), their
  MQTT credentials (deleted: refused by both brokers once their files are regenerated), and the erased
  codes inside API tokens' write scopes (replaced by the pseudonyms, so no token may write them again);
- :func:`scrub_distributor`: the distributor's quarter hours of the erased PODs (every version) and the
  imported files about them get the pseudonyms, the files lose their names;
- :func:`billing_lines_kept`: the lines of final billing runs paying the member are *kept* — accounting
  records the community must keep (art. 2220 c.c., ten years; GDPR Art. 17(3)(b)), immutable — and counted;
- :func:`drop_broker_clients`: the erased DUs out of the broker's ``passwd`` and ``acl`` files;
- :func:`sqlite_secure_delete` and :func:`sqlite_checkpoint`: on SQLite, ``PRAGMA secure_delete`` during the
  erasure (what it deletes or overwrites is zeroed) and ``wal_checkpoint(TRUNCATE)`` after it (the
  write-ahead log no longer holds the old pages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import sqlalchemy as sa

from condivisa.auth.erasure_scan import Uninspectable, mentions, needle_pattern, text_mentions
from condivisa.auth.mqtt_acl import acl_text, parse_acl, parse_password_file
from condivisa.store.auth_tables import DeviceCredential, LoginThrottle, Token
from condivisa.store.billing_tables import BillingRun, BillingRunLine
from condivisa.store.distributor_tables import DistributorFile, DistributorReading
from condivisa.store.models import DeadLetter, Device, DeviceActivity, Measurement

#: shorter needles are not searched in dead letters (a two-letter member id is in every payload)
MIN_NEEDLE_CHARS = 5


def member_dus(conn: sa.Connection, pods: Sequence[str]) -> set[str]:
    """Every DU the store links to ``pods``: registered to one, last seen on one, or named by a reading."""
    meas, act = Measurement.__table__, DeviceActivity.__table__
    dus = set(conn.scalars(sa.select(Device.du_id).where(Device.pod.in_(list(pods)))))
    dus |= set(conn.scalars(sa.select(act.c.du_id).where(act.c.pod.in_(list(pods)))))
    q = sa.select(meas.c.du_id).where(meas.c.pod.in_(list(pods)), meas.c.du_id.is_not(None)).distinct()
    return dus | set(conn.scalars(q))


def scrub_dead_letters(conn: sa.Connection, dus: Sequence[str], needles: Sequence[str]) -> tuple[int, int]:
    """Delete the dead letters of ``dus`` and those mentioning any of ``needles`` (POD codes, DU ids, name,
    e-mail). Payloads are read one at a time, so memory stays bounded. Returns ``(deleted, of which
    uninspectable)``."""
    t = DeadLetter.__table__
    pattern = needle_pattern(n for n in needles if n and len(n) >= MIN_NEEDLE_CHARS)
    doomed: list[int] = []
    uninspectable = 0
    rows = list(conn.execute(sa.select(t.c.id, t.c.device_id, t.c.source, t.c.reasons).order_by(t.c.id)))
    for letter_id, device_id, source, reasons in rows:
        if device_id in dus:
            doomed.append(letter_id)
            continue
        if pattern is not None:
            text = f"{device_id or ''}\n{source or ''}\n{json.dumps(reasons, ensure_ascii=False)}"
            if text_mentions(text, pattern):
                doomed.append(letter_id)
                continue
        payload = conn.execute(sa.select(t.c.payload).where(t.c.id == letter_id)).scalar_one()
        try:
            if mentions(bytes(payload or b""), pattern):
                doomed.append(letter_id)
        except Uninspectable:  # too big to read whole: it could mention them, so it goes
            doomed.append(letter_id)
            uninspectable += 1
        del payload
    for i in range(0, len(doomed), 500):
        conn.execute(sa.delete(t).where(t.c.id.in_(doomed[i : i + 500])))
    return len(doomed), uninspectable


def scrub_registry(
    conn: sa.Connection,
    pods: Mapping[str, str],
    dus: Mapping[str, str],
    usernames: Sequence[str],
) -> dict[str, int]:
    """Delete the registrations, activity and MQTT credentials of the DUs ``dus`` (id -> pseudonym) and of
    any DU last seen on the PODs ``pods`` (code -> pseudonym), the login throttle rows of ``usernames``, and
    replace the codes in API tokens' scopes by their pseudonyms. Returns counts."""
    act = DeviceActivity.__table__
    du_ids = list(dus)
    out = {
        "devices_deleted": conn.execute(sa.delete(Device.__table__).where(Device.du_id.in_(du_ids))).rowcount,
        "device_activity_deleted": conn.execute(
            sa.delete(act).where(sa.or_(act.c.du_id.in_(du_ids), act.c.pod.in_(list(pods))))
        ).rowcount,
        "device_credentials_revoked": conn.execute(
            sa.delete(DeviceCredential.__table__).where(DeviceCredential.du_id.in_(du_ids))
        ).rowcount,
        "tokens_rescoped": 0,
    }
    if usernames:
        conn.execute(sa.delete(LoginThrottle.__table__).where(LoginThrottle.username.in_(list(usernames))))
    tokens = Token.__table__
    for tid, scope_pods, scope_dus in conn.execute(
        sa.select(tokens.c.id, tokens.c.scope_pods, tokens.c.scope_dus)
    ).all():
        new_pods = [pods.get(p, p) for p in scope_pods] if scope_pods else scope_pods
        new_dus = [dus.get(d, d) for d in scope_dus] if scope_dus else scope_dus
        if new_pods != scope_pods or new_dus != scope_dus:
            conn.execute(
                sa.update(tokens).where(tokens.c.id == tid).values(scope_pods=new_pods, scope_dus=new_dus)
            )
            out["tokens_rescoped"] += 1
    return out


def drop_broker_clients(directory: str | Path, du_ids: Sequence[str]) -> int:
    """Remove ``du_ids`` from the broker files ``passwd``, ``passwd-platform`` and ``acl`` in ``directory``
    (as ``condivisa mqtt-acl`` wrote them), keeping everyone else; returns how many clients were removed.
    Mosquitto reads the files again on ``SIGHUP``; the embedded broker when ``serve`` restarts."""
    d = Path(directory)
    gone = set(du_ids)
    removed: set[str] = set()
    for name in ("passwd", "passwd-platform"):
        path = d / name
        if path.is_file():
            users = parse_password_file(path.read_text(encoding="utf-8"))
            removed |= gone & set(users)
            text = "".join(f"{u}:{h}\n" for u, h in sorted(users.items()) if u not in gone)
            path.write_bytes(text.encode("utf-8"))
    acl_path = d / "acl"
    if acl_path.is_file():
        acl = parse_acl(acl_path.read_text(encoding="utf-8"))
        removed |= gone & set(acl)
        acl_path.write_bytes(acl_text({u: g for u, g in acl.items() if u not in gone}).encode("utf-8"))
    return len(removed)


def sqlite_secure_delete(conn: sa.Connection) -> None:
    """On SQLite, zero what this connection deletes or overwrites from now on (``PRAGMA secure_delete``)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")


def sqlite_checkpoint(engine: sa.Engine) -> str | None:
    """After the erasure committed, on SQLite: copy the write-ahead log into the database and truncate it
    (``PRAGMA wal_checkpoint(TRUNCATE)``), so the old pages are no longer in ``-wal``. ``"complete"``, or
    ``"busy"`` when a reader kept it from finishing (run ``condivisa privacy erase`` again, or stop the
    platform); ``None`` on PostgreSQL (see ``docs/privacy.md``: ``VACUUM``)."""
    if engine.dialect.name != "sqlite":
        return None
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        cur.close()
    finally:
        raw.close()
    return "busy" if busy else "complete"


def scrub_distributor(conn: sa.Connection, pods: Mapping[str, str]) -> tuple[int, int]:
    """Pseudonymise the distributor's data of ``pods`` (code → pseudonym): (values, files) changed."""
    readings, files = DistributorReading.__table__, DistributorFile.__table__
    values = changed = 0
    for code, alias in pods.items():
        values += conn.execute(sa.update(readings).where(readings.c.pod == code).values(pod=alias)).rowcount
        changed += conn.execute(
            sa.update(files).where(files.c.pod == code).values(pod=alias, name="(pseudonymised)")
        ).rowcount
    return values, changed


def billing_lines_kept(conn: sa.Connection, community: str, member_id: str) -> int:
    """How many lines of final billing runs of ``community`` pay ``member_id`` (kept: module docstring)."""
    lines, runs = BillingRunLine.__table__, BillingRun.__table__
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(lines.join(runs, runs.c.id == lines.c.run_id))
            .where(runs.c.community == community, lines.c.payee_id == member_id)
        ).scalar_one()
    )
