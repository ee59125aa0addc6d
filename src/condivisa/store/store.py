"""``Store(url)``: the durable store of measurements, devices and dead letters.

Back-ends: SQLite (the embedded default, ``sqlite:///./var/condivisa.db``) in WAL mode with
``synchronous=FULL`` so a committed transaction survives a power cut, and every transaction started with
``BEGIN IMMEDIATE`` so concurrent writers wait for each other (busy timeout) instead of failing;
PostgreSQL by URL (``postgresql+psycopg://...``; ``postgresql://`` is read as psycopg 3). The URL comes from
the argument, else ``CONDIVISA_DATABASE_URL``, else the default (the engine: :mod:`condivisa.store.engine`).
The schema is managed by Alembic (:meth:`Store.upgrade`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from condivisa.domain.community import Community
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, to_utc
from condivisa.store.communities import wanted_pods
from condivisa.store.dead_letters import dead_letter_values, select_dead_letters
from condivisa.store.engine import dialect_insert, open_engine
from condivisa.store.models import DeadLetter, Device, DeviceActivity, Measurement, MeasurementRevision, Pod
from condivisa.store.rows import IncomingReading, _pg_cursor
from condivisa.store.writer import RegistryCache, WriteOutcome, write_readings

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///./var/condivisa.db"  # one default for every command (store/location.py)
MEASUREMENT_COLUMNS = ["pod", "start", "withdrawn_kwh", "injected_kwh"]
#: a bound of a time range: a date, a datetime (pandas ``Timestamp`` too) or ISO text; naive values are
#: Europe/Rome civil time; ``None``: unbounded
TimeBound = dt.date | str | None


def database_url(url: str | None = None) -> str:
    """The database URL: ``url``, else ``$CONDIVISA_DATABASE_URL``, else :data:`DEFAULT_URL`."""
    url = url or os.environ.get("CONDIVISA_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Store:
    """The store at ``url`` (see the module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, url: str | None = None, *, echo: bool = False, busy_timeout_s: float = 60.0):
        self.url = database_url(url)
        self.engine = open_engine(self.url, echo=echo, busy_timeout_s=busy_timeout_s)
        self.dialect = self.engine.dialect.name
        self.registry = RegistryCache()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def read(self) -> sa.Connection:
        """A connection for reading. On SQLite its transaction is DEFERRED (readers never wait for writers
        in WAL mode); every other transaction begins IMMEDIATE, taking the write lock up front."""
        return self.engine.connect().execution_options(sqlite_begin="DEFERRED")

    # ------------------------------------------------------------------------------------------ schema

    def alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("condivisa.store") / "migrations"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision`` (idempotent; PostgreSQL: under an advisory lock,
        so several processes starting at once do not race), then on PostgreSQL create the monthly
        partitions of ``measurements`` missing through 24 months ahead (:mod:`condivisa.store.partitions`)."""
        from alembic import command

        from condivisa.store.partitions import ensure_ahead

        cfg = self.alembic_config()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7341190)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if self.dialect == "postgresql":
                ensure_ahead(conn)

    def revision(self) -> str | None:
        """The schema revision the database is at (``None``: not initialised)."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # ------------------------------------------------------------------------------------------ registry

    def register_devices(self, community: Community) -> dict[str, int]:
        """Register (insert or update) every POD of ``community`` with its member and every chain-2 device
        (DU -> POD -> member). Returns counts ``{"pods": n, "devices": m}``."""
        owner = {code: (member, kind) for code, (member, kind, _, _) in wanted_pods(community).items()}
        pods = [(code, member, kind) for code, (member, kind) in owner.items()]
        devices = [(d.id, d.pod, owner[d.pod][0] if d.pod in owner else None) for d in community.devices]
        return self.register(pods=pods, devices=devices)

    def register(
        self,
        pods: Iterable[tuple[str, str | None, str | None]] = (),
        devices: Iterable[tuple[str, str, str | None]] = (),
    ) -> dict[str, int]:
        """Upsert PODs ``(code, member_id, kind)`` and devices ``(du_id, pod, member_id)``."""
        now = clock.now()
        pod_rows, device_rows = list(pods), list(devices)
        insert = dialect_insert(self.dialect)
        with self.engine.begin() as conn:
            for code, member, kind in pod_rows:
                stmt = insert(Pod.__table__).values(
                    code=code, member_id=member, kind=kind or "consumption", registered_at=now
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["code"], set_={"member_id": member, "kind": stmt.excluded.kind}
                    )
                )
            for du_id, pod, member in device_rows:
                stmt = insert(Device.__table__).values(
                    du_id=du_id, pod=pod, member_id=member, registered_at=now
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["du_id"], set_={"pod": pod, "member_id": member}
                    )
                )
        self.registry.clear()
        return {"pods": len(pod_rows), "devices": len(device_rows)}

    def known_pods(self) -> set[str]:
        with self.read() as conn:
            return set(conn.scalars(sa.select(Pod.code)))

    def devices(self) -> list[dict[str, Any]]:
        """Registered devices: ``du_id``, ``pod``, ``member_id``, ``registered_at``."""
        with self.read() as conn:
            rows = conn.execute(sa.select(Device.__table__).order_by(Device.du_id))
            return [dict(r._mapping) for r in rows]

    # ------------------------------------------------------------------------------------------ writes

    def ingest_records(
        self,
        readings: Sequence[IncomingReading],
        *,
        source: str,
        received_at: dt.datetime | None = None,
        device_id: str | None = None,
        check_pods: bool = True,
        cross_check: bool = True,
    ) -> WriteOutcome:
        """Store one message's readings in **one transaction** (committed when this returns).

        Idempotent: the same readings again are counted as duplicates; a quarter hour re-sent with other
        values replaces the stored one and the old value is kept in ``measurement_revisions``. With
        ``check_pods`` a reading for a POD that is not registered aborts the whole message
        (``WriteOutcome.unknown_pods``) and nothing is written.
        """
        received_at = received_at or clock.now()
        with self.engine.begin() as conn:
            out = write_readings(
                conn,
                readings,
                source=source,
                received_at=received_at,
                device_id=device_id,
                check_pods=check_pods,
                cross_check=cross_check,
                registry=self.registry,
            )
            if out.unknown_pods:
                conn.rollback()
        return out

    def add_dead_letter(
        self,
        payload: bytes,
        reasons: list[dict],
        *,
        source: str,
        device_id: str | None = None,
        received_at: dt.datetime | None = None,
        conn: sa.Connection | None = None,
        community: str | None = None,
    ) -> int:
        """Keep a rejected payload with its reasons; returns its id. At most its first
        :data:`~condivisa.store.dead_letters.MAX_DEAD_LETTER_BYTES` are stored, with its size and a reason
        saying it was cut. Committed at once, unless ``conn`` (a transaction of the caller) is given.
        ``community``: the sender's community (its MQTT topic's), None when unknown."""
        row = dead_letter_values(
            payload,
            reasons,
            source=source,
            device_id=device_id,
            received_at=received_at or clock.now(),
            community=community,
        )
        with contextlib.nullcontext(conn) if conn is not None else self.engine.begin() as conn:
            result = conn.execute(
                sa.insert(DeadLetter.__table__).values(**row).returning(DeadLetter.__table__.c.id)
            )
            return int(result.scalar_one())

    # ------------------------------------------------------------------------------------------ reads

    def _select_measurements(
        self,
        pods: str | Iterable[str] | None,
        start: TimeBound,
        end: TimeBound,
        meter: str | None,
        columns: list[str] | None = None,
    ) -> sa.Select:
        t = Measurement.__table__
        raw_type = sa.String if self.dialect == "sqlite" else sa.DateTime(timezone=True)
        # the start column raw (no per-row TypeDecorator): converted once, vectorised, in _frame
        cols = [
            sa.type_coerce(c, raw_type).label(c.name) if c.name in ("start_utc", "received_at") else c
            for c in ([t.c[c] for c in columns] if columns else list(t.c))
        ]
        q = sa.select(*cols).order_by(t.c.pod, t.c.start_utc)
        if meter is not None:
            q = q.where(t.c.meter == meter)
        if pods is not None:
            q = q.where(t.c.pod.in_([pods] if isinstance(pods, str) else list(pods)))
        if start is not None:
            q = q.where(t.c.start_utc >= to_utc(start, naive_is="rome", name="start"))
        if end is not None:
            q = q.where(t.c.start_utc < to_utc(end, naive_is="rome", name="end"))
        return q

    def measurements_frame(
        self,
        pods: Iterable[str] | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
        *,
        meter: str = "M1",
    ) -> pd.DataFrame:
        """The measurements table contract: columns ``pod``, ``start`` (aware, Europe/Rome),
        ``withdrawn_kwh``,
        ``injected_kwh``; one row per POD and interval in ``[start, end)``, exchange meter (M1) rows.
        On PostgreSQL read with a binary ``COPY`` (:func:`_pg_frame`)."""
        if self.dialect == "postgresql":
            with self.read().execution_options(isolation_level="REPEATABLE READ") as conn:
                return _pg_frame(conn, pods, start, end, meter)
        with self.read() as conn:
            rows = conn.execute(
                self._select_measurements(
                    pods, start, end, meter, ["pod", "start_utc", "withdrawn_kwh", "injected_kwh"]
                )
            ).all()
        return _frame(rows, MEASUREMENT_COLUMNS)

    def measurements(
        self,
        pod: str | Iterable[str] | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
        *,
        meter: str | None = None,
    ) -> pd.DataFrame:
        """Every stored column of a POD's readings (all PODs if ``pod`` is None) in ``[start, end)``:
        the contract columns plus ``meter``, totalizers, ``du_id``, ``received_at``, ``source``, ``revision``,
        ``flags``."""
        with self.read() as conn:
            rows = conn.execute(self._select_measurements(pod, start, end, meter)).all()
        return _frame(
            rows,
            MEASUREMENT_COLUMNS
            + [
                "meter",
                "withdrawn_total_kwh",
                "injected_total_kwh",
                "du_id",
                "received_at",
                "source",
                "revision",
                "flags",
            ],
        )

    def revisions(self, pod: str | None = None) -> pd.DataFrame:
        """Superseded values (audit trail), oldest first."""
        t = MeasurementRevision.__table__
        q = sa.select(t).order_by(t.c.id)
        if pod is not None:
            q = q.where(t.c.pod == pod)
        with self.read() as conn:
            rows = conn.execute(q).all()
        df = pd.DataFrame([dict(r._mapping) for r in rows], columns=[c.name for c in t.columns])
        for col in ("start_utc", "received_at", "superseded_at"):
            df[col] = pd.to_datetime(df[col], utc=True)
        return df

    def device_last_seen(self) -> list[dict[str, Any]]:
        """One row per DU (registered or seen): ``du_id``, ``pod`` (registered POD, else the one it last
        sent),
        ``member_id``, ``registered``, ``last_received_at`` (its latest accepted message, UTC; ``None``:
        never)
        and ``last_start`` (its latest quarter hour). A lookup in ``device_activity``, not a scan."""
        with self.read() as conn:
            registered = {r.du_id: r for r in conn.execute(sa.select(Device.__table__))}
            seen = {r.du_id: r for r in conn.execute(sa.select(DeviceActivity.__table__))}
        out = []
        for du in sorted(set(registered) | set(seen)):
            reg, act = registered.get(du), seen.get(du)
            out.append(
                {
                    "du_id": du,
                    "pod": reg.pod if reg is not None else seen[du].pod,  # registered, else seen
                    "member_id": reg.member_id if reg else None,
                    "registered": reg is not None,
                    "last_received_at": act.last_received_at if act else None,
                    "last_start": act.last_start if act else None,
                }
            )
        return out

    def dead_letters(
        self,
        limit: int = 100,
        *,
        with_payload: bool = True,
        before_id: int | None = None,
        payload_max: int | None = None,
        communities: tuple[str | None, ...] | None = None,
    ) -> list[dict[str, Any]]:
        """A page of dead letters, newest first, ids below ``before_id``: ``id``, ``received_at``, ``source``,
        ``device_id``, ``reasons``, ``payload_bytes`` (original size), ``stored_bytes`` and ``payload`` (its
        first ``payload_max`` bytes, 64 KiB at most: :func:`~condivisa.store.dead_letters.select_dead_letters`);
        only those of ``communities`` when given (``None`` in it: the letters without a community)."""
        q = select_dead_letters(
            limit, before_id=before_id, with_payload=with_payload, payload_max=payload_max
        )
        if communities is not None:
            column = DeadLetter.__table__.c.community
            named = [c for c in communities if c is not None]
            q = q.where(sa.or_(column.in_(named), *([column.is_(None)] if None in communities else [])))
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def dead_letter(self, letter_id: int) -> dict[str, Any] | None:
        t = DeadLetter.__table__
        with self.read() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == letter_id)).first()
            return dict(row._mapping) if row else None

    def counts(self) -> dict[str, int]:
        """Rows per table (for status pages and tests)."""
        tables = {
            "pods": Pod,
            "devices": Device,
            "device_activity": DeviceActivity,
            "measurements": Measurement,
            "measurement_revisions": MeasurementRevision,
            "dead_letters": DeadLetter,
        }
        with self.read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(m.__table__)).scalar_one()
                for name, m in tables.items()
            }


#: a row of ``COPY (SELECT start_utc, withdrawn_kwh, injected_kwh ...) TO STDOUT (FORMAT binary)``: the field
#: count, then each field's length and value (big-endian; timestamptz: microseconds since 2000-01-01 UTC)
_PG_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("t", ">i8"), ("l2", ">i4"), ("w", ">f8"), ("l3", ">i4"), ("i", ">f8")]
)
_PG_HEADER, _PG_TRAILER = 19, 2  # signature, flags, header extension length; the -1 field count
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01


def _pg_frame(
    conn: sa.Connection, pods: Iterable[str] | None, start: TimeBound, end: TimeBound, meter: str
) -> pd.DataFrame:
    """:meth:`Store.measurements_frame` on PostgreSQL: the rows per POD (one GROUP BY), then the values
    as a binary COPY of fixed-width rows read by numpy in one go (no Python object per row), both in the
    caller's REPEATABLE READ transaction (one snapshot, so the counts match the rows)."""
    where = ["meter = %s"]
    params: list[Any] = [meter]
    if pods is not None:
        where.append("pod = ANY(%s)")
        params.append([pods] if isinstance(pods, str) else list(pods))
    if start is not None:
        where.append("start_utc >= %s")
        params.append(to_utc(start, naive_is="rome", name="start"))
    if end is not None:
        where.append("start_utc < %s")
        params.append(to_utc(end, naive_is="rome", name="end"))
    cond = " AND ".join(where)
    with _pg_cursor(conn) as cur:
        cur.execute(f"SELECT pod, count(*) FROM measurements WHERE {cond} GROUP BY pod ORDER BY pod", params)
        groups = cur.fetchall()
        if not groups:
            return _frame([], MEASUREMENT_COLUMNS)
        sql = (
            f"COPY (SELECT start_utc, withdrawn_kwh, injected_kwh FROM measurements WHERE {cond} "
            "ORDER BY pod, start_utc) TO STDOUT (FORMAT binary)"
        )
        with cur.copy(sql, params) as copy:
            data = b"".join(bytes(block) for block in copy)
    body = memoryview(data)[_PG_HEADER : len(data) - _PG_TRAILER]
    counts = np.array([n for _, n in groups], dtype=np.int64)
    rows = np.frombuffer(body, dtype=_PG_ROW) if len(body) % _PG_ROW.itemsize == 0 else None
    if rows is None or len(rows) != counts.sum() or (rows["n"] != 3).any():
        raise RuntimeError("measurements: unexpected binary COPY layout from PostgreSQL")
    names = np.empty(len(groups), dtype=object)
    names[:] = [p for p, _ in groups]
    stamps = pd.to_datetime(rows["t"].astype(np.int64) + _PG_EPOCH_US, unit="us", utc=True)
    return pd.DataFrame(
        {
            "pod": pd.array(np.repeat(names, counts), dtype=str),
            "start": stamps.tz_convert(ROME),
            "withdrawn_kwh": rows["w"].astype(float),
            "injected_kwh": rows["i"].astype(float),
        }
    )


def _frame(rows: Sequence[sa.Row], columns: list[str]) -> pd.DataFrame:
    """DataFrame of measurement rows; ``start_utc`` becomes ``start`` in Europe/Rome (stored naive UTC on SQLite)."""
    names = list(rows[0]._fields) if rows else ["start_utc"]
    # plain tuples: pandas probing SQLAlchemy Row objects attribute by attribute is 5x slower
    df = (
        pd.DataFrame.from_records([tuple(r) for r in rows], columns=names)
        if rows
        else pd.DataFrame(columns=names)
    )
    df = df.rename(columns={"start_utc": "start"}).reindex(columns=columns)
    df["start"] = pd.to_datetime(df["start"], utc=True, format="ISO8601").dt.tz_convert(ROME)
    for col in ("withdrawn_kwh", "injected_kwh"):
        df[col] = df[col].astype(float)
    if "received_at" in df:
        df["received_at"] = pd.to_datetime(df["received_at"], utc=True, format="ISO8601")
    df["pod"] = df["pod"].astype(str) if len(df) else df["pod"].astype(object)
    return df.reset_index(drop=True)
