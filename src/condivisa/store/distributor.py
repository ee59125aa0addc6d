"""Import the distributor's validated quarter hours, version by version, and read the current values.

An import of one file (one POD, one direction) runs in the caller's transaction and decides for each
quarter hour:

* no current value yet → version 1 (``new``);
* a current value within half a watt-hour of the file's (the portal's resolution is 1 Wh) → ``unchanged``;
* a different current value → a **restatement**: the old version stays, marked not current, and the file's
  value becomes version n+1 (``restated``). The months it touched are reported.

The same bytes imported twice change nothing (the file's SHA-256 is unique). A malformed file never gets
here: :mod:`condivisa.formats.distributor` refuses it before anything is written.

References
----------
.. [1] D.Lgs. 199/2021, art. 36: the distributor may correct past data (two years for new plants, five for
   existing ones); the GSE's money follows the corrected data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from condivisa.kernel.timegrid import ROME, UTC
from condivisa.store.distributor_tables import DistributorFile, DistributorReading

#: two values closer than this are the same reading, kWh (the portal writes whole watt-hours)
SAME_KWH = 0.0005
_CHUNK = 5000


@dataclass
class ImportOutcome:
    """What one file changed."""

    name: str
    pod: str
    direction: str
    file_id: int | None = None
    already_imported_at: dt.datetime | None = None
    values_read: int = 0
    new: int = 0
    unchanged: int = 0
    restated: int = 0
    restated_months: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.restated)


def _current(
    conn: Connection, pod: str, direction: str, first: dt.datetime, last: dt.datetime
) -> pd.DataFrame:
    t = DistributorReading.__table__
    rows = conn.execute(
        sa.select(t.c.id, t.c.start_utc, t.c.energy_kwh, t.c.version).where(
            t.c.pod == pod,
            t.c.direction == direction,
            t.c.current.is_(True),
            t.c.start_utc >= first,
            t.c.start_utc <= last,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["id", "start_utc", "energy_kwh", "version"])
    frame["start_utc"] = pd.to_datetime(frame["start_utc"], utc=True)
    return frame


def import_curve(
    conn: Connection,
    *,
    pod: str,
    direction: str,
    frame: pd.DataFrame,
    sha256: str,
    name: str,
    imported_by: str,
    now: dt.datetime,
) -> ImportOutcome:
    """Store one file's quarter hours (``frame``: ``start`` aware, ``energy_kwh``, ``flag``) as versions.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        The caller's transaction (one for all the files of an import: all or nothing).
    pod, direction : str
        The POD and ``withdrawal``/``injection`` the file is about.
    frame : pandas.DataFrame
        The file's values (:class:`condivisa.formats.distributor.DistributorCurve` ``frame``).
    sha256, name : str
        The file's hash (idempotence) and name (shown in the history).
    imported_by : str
        Who imported it.
    now : datetime.datetime
        The import time (aware).

    Returns
    -------
    ImportOutcome
        The counts of new, unchanged and restated quarter hours and the restated months (``YYYY-MM``).
    """
    out = ImportOutcome(name, pod, direction, values_read=len(frame))
    files = DistributorFile.__table__
    seen = conn.execute(sa.select(files.c.id, files.c.imported_at).where(files.c.sha256 == sha256)).first()
    if seen is not None:
        out.file_id, out.already_imported_at = int(seen.id), seen.imported_at
        return out
    starts = pd.DatetimeIndex(frame["start"]).tz_convert(UTC)
    days = pd.DatetimeIndex(frame["start"]).tz_convert(ROME).date
    file_id = _file_row(conn, out, sha256, name, min(days), max(days), imported_by, now)
    current = _current(conn, pod, direction, starts.min().to_pydatetime(), starts.max().to_pydatetime())
    merged = pd.DataFrame(
        {"start_utc": starts, "energy_kwh": frame["energy_kwh"].to_numpy(), "flag": frame["flag"].to_numpy()}
    )
    merged = merged.merge(current, on="start_utc", how="left", suffixes=("", "_old"))
    is_new = merged["id"].isna().to_numpy()
    old = merged["energy_kwh_old"].fillna(merged["energy_kwh"]).to_numpy()
    differs = ~is_new & (np.abs(merged["energy_kwh"].to_numpy() - old) > SAME_KWH)
    out.new, out.restated = int(is_new.sum()), int(differs.sum())
    out.unchanged = len(merged) - out.new - out.restated
    if out.restated:
        old_ids = merged.loc[differs, "id"].astype("int64").tolist()
        t = DistributorReading.__table__
        for c in range(0, len(old_ids), _CHUNK):
            conn.execute(sa.update(t).where(t.c.id.in_(old_ids[c : c + _CHUNK])).values(current=False))
        out.restated_months = sorted(
            {ts.tz_convert(ROME).strftime("%Y-%m") for ts in merged.loc[differs, "start_utc"]}
        )
    version = np.where(is_new, 1, merged["version"].fillna(0).to_numpy() + 1).astype(int)
    write = is_new | differs
    _insert(conn, pod, direction, merged.loc[write], version[write], file_id)
    conn.execute(
        sa.update(files)
        .where(files.c.id == file_id)
        .values(new_values=out.new, unchanged_values=out.unchanged, restated_values=out.restated)
    )
    out.file_id = file_id
    return out


def _file_row(
    conn: Connection,
    out: ImportOutcome,
    sha256: str,
    name: str,
    first: dt.date,
    last: dt.date,
    imported_by: str,
    now: dt.datetime,
) -> int:
    files = DistributorFile.__table__
    result = conn.execute(
        sa.insert(files)
        .values(
            sha256=sha256,
            name=name[:300],
            pod=out.pod,
            direction=out.direction,
            first_day=first,
            last_day=last,
            values_read=out.values_read,
            new_values=0,
            unchanged_values=0,
            restated_values=0,
            imported_at=now,
            imported_by=imported_by[:128],
        )
        .returning(files.c.id)
    )
    return int(result.scalar_one())


def _insert(
    conn: Connection, pod: str, direction: str, rows: pd.DataFrame, versions: np.ndarray, file_id: int
) -> None:
    """Insert the written versions as current values: ``COPY`` on PostgreSQL (the rows formatted array-wise
    into COPY's text format), an executemany on SQLite."""
    if conn.dialect.name == "postgresql":
        _pg_copy(conn, pod, direction, rows, versions, file_id)
        return
    starts = [ts.to_pydatetime() for ts in rows["start_utc"]]
    energy = rows["energy_kwh"].to_numpy(dtype=float).tolist()
    flags = [f or None for f in rows["flag"]]
    t = DistributorReading.__table__
    params = [
        {
            "pod": pod,
            "direction": direction,
            "start_utc": ts,
            "energy_kwh": e,
            "version": v,
            "current": True,
            "flag": f,
            "file_id": file_id,
        }
        for ts, e, f, v in zip(starts, energy, flags, versions.tolist(), strict=True)
    ]
    for c in range(0, len(params), _CHUNK):
        conn.execute(sa.insert(t), params[c : c + _CHUNK])


def _pg_copy(
    conn: Connection, pod: str, direction: str, rows: pd.DataFrame, versions: np.ndarray, file_id: int
) -> None:
    """``COPY ... FROM STDIN`` in text format: one tab-separated line per row, built with numpy."""
    utc = pd.DatetimeIndex(rows["start_utc"]).tz_convert(UTC).tz_localize(None).to_numpy("datetime64[s]")
    stamps = np.char.add(np.datetime_as_string(utc, unit="s"), "+00")
    energy = rows["energy_kwh"].to_numpy(dtype=float).astype(str)  # shortest exact repr
    flag = np.where(rows["flag"].to_numpy(dtype=str) == "", "\\N", rows["flag"].to_numpy(dtype=str))
    head = f"{pod}\t{direction}\t"
    tail = f"\t{file_id}\n"
    lines = [
        f"{head}{t}\t{e}\t{v}\tt\t{f}{tail}"
        for t, e, v, f in zip(stamps.tolist(), energy.tolist(), versions.tolist(), flag.tolist(), strict=True)
    ]
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:
        copy.write("".join(lines))


_PG_COPY = (
    "COPY distributor_readings (pod, direction, start_utc, energy_kwh, version, current, flag, file_id) "
    "FROM STDIN"
)


def current_values(
    conn: Connection, pods: Iterable[str] | None, start: dt.datetime | None, end: dt.datetime | None
) -> pd.DataFrame:
    """The current distributor values: ``pod``, ``start`` (aware, Europe/Rome), ``withdrawn_kwh``,
    ``injected_kwh`` (NaN where that direction has no distributor value), ``versions`` (the higher version
    of the two directions: > 1 means restated)."""
    t = DistributorReading.__table__
    q = sa.select(t.c.pod, t.c.direction, t.c.start_utc, t.c.energy_kwh, t.c.version).where(
        t.c.current.is_(True)
    )
    if pods is not None:
        q = q.where(t.c.pod.in_(list(pods)))
    if start is not None:
        q = q.where(t.c.start_utc >= start)
    if end is not None:
        q = q.where(t.c.start_utc < end)
    rows = conn.execute(q).all()
    long = pd.DataFrame(rows, columns=["pod", "direction", "start_utc", "energy_kwh", "version"])
    if long.empty:
        return pd.DataFrame(
            {
                "pod": pd.Series(dtype=str),
                "start": pd.Series(dtype="datetime64[ns, Europe/Rome]"),
                "withdrawn_kwh": pd.Series(dtype=float),
                "injected_kwh": pd.Series(dtype=float),
                "version": pd.Series(dtype=int),
            }
        )
    long["start"] = pd.to_datetime(long["start_utc"], utc=True).dt.tz_convert(ROME)
    wide = long.pivot_table(index=["pod", "start"], columns="direction", values="energy_kwh", aggfunc="first")
    version = long.groupby(["pod", "start"])["version"].max()
    out = pd.DataFrame(
        {
            "withdrawn_kwh": wide.get("withdrawal", pd.Series(np.nan, index=wide.index)),
            "injected_kwh": wide.get("injection", pd.Series(np.nan, index=wide.index)),
            "version": version,
        }
    ).reset_index()
    return out.sort_values(["pod", "start"], ignore_index=True)


def versions_of(conn: Connection, pod: str, start: dt.datetime, direction: str) -> list[dict]:
    """Every version of one quarter hour, oldest first (for the referente's history view)."""
    t = DistributorReading.__table__
    f = DistributorFile.__table__
    rows = conn.execute(
        sa.select(t.c.version, t.c.energy_kwh, t.c.current, t.c.flag, f.c.name, f.c.imported_at)
        .join(f, f.c.id == t.c.file_id)
        .where(t.c.pod == pod, t.c.direction == direction, t.c.start_utc == start)
        .order_by(t.c.version)
    ).all()
    return [dict(r._mapping) for r in rows]


def imported_files(conn: Connection, pod: str | None = None) -> list[dict]:
    """The imported files, newest first."""
    f = DistributorFile.__table__
    q = sa.select(f).order_by(f.c.id.desc())
    if pod is not None:
        q = q.where(f.c.pod == pod)
    return [dict(r._mapping) for r in conn.execute(q).all()]


def import_marker(conn: Connection) -> int:
    """The id of the latest imported file (0: none): changes with every import that stores something, so a
    cache of settled figures knows to rebuild."""
    f = DistributorFile.__table__
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(f.c.id), 0))).scalar_one())
