"""Read a production forecast file: a power forecast CSV, or an irradiance forecast (Open-Meteo, PVGIS).

Three shapes, told apart by the content (:func:`read_forecast_file`):

- **power CSV** ``start,production_kw`` — the community's PV production forecast, one row per hour or
  per quarter hour; ``start`` is the interval start in ISO 8601 *with* its UTC offset
  (``2026-06-20T12:00:00+02:00``), ``production_kw`` the mean power over the interval, kW (≥ 0).
  **This shape is invented by condivisa**: there is no Italian standard for a PV production forecast file
  (the GSE and the distributors publish none); it mirrors condivisa's measurement CSV.
- **Open-Meteo forecast JSON** — the documented response of the public Open-Meteo forecast API
  (https://open-meteo.com/en/docs), asked with ``hourly=global_tilted_irradiance&tilt=…&azimuth=…`` (or
  ``minutely_15=``): ``{"utc_offset_seconds": 7200, "timezone": "Europe/Rome", "hourly": {"time":
  ["2026-06-20T00:00", …], "global_tilted_irradiance": [0.0, …]}}``. Two documented facts shape the reading:
  (1) the times are local times *without* offset, all shifted by the one ``utc_offset_seconds`` of the
  moment of the request — no DST change inside the series (Open-Meteo issues #261, #1255), so
  ``UTC = time − utc_offset_seconds``; with ``timeformat=unixtime`` they are UNIX seconds, UTC;
  (2) radiation is "averaged over the past hour" (past 15 minutes for ``minutely_15``), so the value
  labelled ``T`` is the mean over ``[T − step, T)``: the interval *starts* at ``T − step``.
  ``global_tilted_irradiance`` (GTI) is the plane-of-array irradiance, W/m². ``shortwave_radiation`` (GHI,
  horizontal) is refused with a hint: turning it into plane-of-array irradiance needs a decomposition
  model this reader does not apply. The loader is tested on files written to that documented shape, not
  on a downloaded response.
- **PVGIS "hourly radiation" export** (CSV or JSON, EU JRC), read by
  :func:`condivisa.formats.pvgis.read_pvgis_hourly` (pvlib's reader): ``G_poa = Gb(i) + Gd(i) + Gr(i)``,
  W/m², hour starting at the UTC full hour. PVGIS gives *past* years, not forecasts: useful for a "what
  if that day's weather came back" run on the same calendar day of a past year only after shifting it,
  which this reader does not do.

Every value comes back as a :class:`ForecastFile`: the series indexed by the interval start (aware,
Europe/Rome), its step, and whether it is power (kW) or irradiance (W/m²). Errors are
:class:`~condivisa.formats.csv_io.InputError` naming the file, the line (CSV; the header is line 1) or the
JSON field, and the value; a misspelt column or key gets "did you mean".
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from condivisa.formats.csv_io import InputError
from condivisa.formats.pvgis import read_pvgis_hourly
from condivisa.kernel.timegrid import ROME

POWER_COLUMNS = ("start", "production_kw")
#: the Open-Meteo variable read (plane-of-array irradiance), and the blocks it may come in
OPEN_METEO_VARIABLE = "global_tilted_irradiance"
_OPEN_METEO_BLOCKS = {"minutely_15": pd.Timedelta(minutes=15), "hourly": pd.Timedelta(hours=1)}
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class ForecastFile:
    """A production forecast read from a file.

    Attributes
    ----------
    kind : {"power", "irradiance"}
        ``power``: ``values`` are the community's mean PV power per interval, kW; ``irradiance``: mean
        plane-of-array irradiance per interval, W/m².
    values : pandas.Series
        Indexed by the interval start (aware, Europe/Rome), sorted, no duplicates.
    step : pandas.Timedelta
        The interval, 15 min or 1 h.
    source : str
        ``power CSV``, ``Open-Meteo`` or ``PVGIS``.
    path : str
        The file read.
    """

    kind: Literal["power", "irradiance"]
    values: pd.Series
    step: pd.Timedelta
    source: str
    path: str


def _hint(wanted: str, present: list[str]) -> str:
    close = difflib.get_close_matches(wanted, present, n=1, cutoff=0.6)
    return f" ({close[0]!r}: did you mean {wanted!r}?)" if close else ""


def _line(i: int) -> int:
    return int(i) + 2


def read_forecast_file(path: str | Path) -> ForecastFile:
    """Read a power forecast CSV, an Open-Meteo forecast JSON or a PVGIS hourly export.

    A ``.json`` file holding ``hourly``/``minutely_15`` is Open-Meteo; one holding ``outputs`` is PVGIS; a
    CSV whose head names a plane-of-array column (``Gb(i)``…) is PVGIS; any other CSV is a power CSV.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    ForecastFile

    Raises
    ------
    InputError
        A missing file, a missing or misspelt column/key ("did you mean"), a time without UTC offset, off
        the grid or repeated, a value that is not a number or is negative.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from None
        if isinstance(doc, dict) and "outputs" in doc:
            return _read_pvgis(path)
        if not isinstance(doc, dict):
            raise InputError(f"{path}: not an Open-Meteo response (a JSON object was expected)")
        return _read_open_meteo(path, doc)
    if "(i)" in text[:4000]:
        return _read_pvgis(path)
    return _read_power_csv(path)


def _read_power_csv(path: Path) -> ForecastFile:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    present = list(raw.columns)
    for col in POWER_COLUMNS:
        if col not in present:
            raise InputError(
                f"{path}, line 1: no column {col!r}{_hint(col, present)}; "
                f"expected header {','.join(POWER_COLUMNS)}, found {','.join(present)}"
            )
    if raw.empty:
        raise InputError(f"{path}: no rows")
    for col in POWER_COLUMNS:
        empty = np.flatnonzero((raw[col].str.strip() == "").to_numpy())
        if empty.size:
            raise InputError(f"{path}, line {_line(empty[0])}: field {col} is empty")
    text = raw["start"].str.strip()
    naive = np.flatnonzero(~text.str.contains(_OFFSET, regex=True).to_numpy())
    if naive.size:
        i = naive[0]
        raise InputError(
            f"{path}, line {_line(i)}: start {text.iloc[i]!r} has no UTC offset (write e.g. +02:00): "
            "a local time is ambiguous on the DST days"
        )
    utc = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(utc.isna().to_numpy())
    if bad.size:
        i = bad[0]
        raise InputError(f"{path}, line {_line(i)}: start {text.iloc[i]!r} is not an ISO 8601 timestamp")
    kw = pd.to_numeric(raw["production_kw"].str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(kw))
    if bad.size:
        i = bad[0]
        raise InputError(
            f"{path}, line {_line(i)}: production_kw {raw['production_kw'].iloc[i]!r} is not a number"
        )
    negative = np.flatnonzero(kw < 0)
    if negative.size:
        i = negative[0]
        raise InputError(f"{path}, line {_line(i)}: production_kw {kw[i]:g} is below zero")
    index = pd.DatetimeIndex(utc)
    step = _step(path, index, lambda i: f"line {_line(i)}", text.tolist())
    return ForecastFile("power", _series(path, index, kw, "production_kw"), step, "power CSV", str(path))


def _step(
    path: Path,
    index: pd.DatetimeIndex,
    where: Callable[[int], str],
    labels: list[str],
    step: pd.Timedelta | None = None,
) -> pd.Timedelta:
    """The step (given, or 15 min when any start is off the full hour, else 1 h); every start on that
    grid, none repeated."""
    ns = index.as_unit("ns").asi8
    hour = 3600 * 10**9
    if step is None:
        step = pd.Timedelta(minutes=15) if (ns % hour).any() else pd.Timedelta(hours=1)
    off = np.flatnonzero(ns % step.value)
    if off.size:
        i = off[0]
        grid = "hourly" if step == pd.Timedelta(hours=1) else "quarter-hour"
        raise InputError(f"{path}, {where(i)}: start {labels[i]!r} is off the {grid} grid")
    seen = pd.Index(ns).duplicated()
    if seen.any():
        i = int(np.flatnonzero(seen)[0])
        raise InputError(f"{path}, {where(i)}: start {labels[i]!r} is repeated")
    return step


def _series(path: Path, index: pd.DatetimeIndex, values: np.ndarray, name: str) -> pd.Series:
    series = pd.Series(values, index=index.tz_convert(ROME), name=name).sort_index()
    series.index.name = "start"
    return series


def _read_open_meteo(path: Path, doc: dict[str, Any]) -> ForecastFile:
    blocks = [b for b in _OPEN_METEO_BLOCKS if isinstance(doc.get(b), dict)]
    if not blocks:
        keys = [str(k) for k in doc]
        hints = "".join(_hint(b, keys) for b in _OPEN_METEO_BLOCKS)
        raise InputError(f"{path}: not an Open-Meteo response: no 'hourly' or 'minutely_15' block{hints}")
    chosen = [b for b in blocks if OPEN_METEO_VARIABLE in doc[b]]
    name = chosen[0] if chosen else blocks[0]
    block: dict[str, Any] = doc[name]
    if OPEN_METEO_VARIABLE not in block:
        keys = [str(k) for k in block]
        if "shortwave_radiation" in block:
            raise InputError(
                f"{path}: field {name}.shortwave_radiation is horizontal irradiance (GHI), not on the "
                f"panels' plane; ask Open-Meteo for {name}={OPEN_METEO_VARIABLE}&tilt=…&azimuth=…"
            )
        raise InputError(f"{path}: no field {name}.{OPEN_METEO_VARIABLE}{_hint(OPEN_METEO_VARIABLE, keys)}")
    if "time" not in block:
        raise InputError(f"{path}: no field {name}.time{_hint('time', [str(k) for k in block])}")
    times, values = block["time"], block[OPEN_METEO_VARIABLE]
    if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
        raise InputError(
            f"{path}: {name}.time and {name}.{OPEN_METEO_VARIABLE} must be lists of equal length"
        )
    if not times:
        raise InputError(f"{path}: {name}.time is empty")
    step = _OPEN_METEO_BLOCKS[name]
    if all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        ends_utc = pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True))
    else:
        offset = doc.get("utc_offset_seconds")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise InputError(
                f"{path}: field utc_offset_seconds is missing or not an integer, so the local times of "
                f"{name}.time have no UTC offset{_hint('utc_offset_seconds', [str(k) for k in doc])}"
            )
        ends_utc = _naive_times(path, name, times) - pd.Timedelta(seconds=offset)
        ends_utc = ends_utc.tz_localize("UTC")
    numbers = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise InputError(f"{path}: field {name}.{OPEN_METEO_VARIABLE}[{i}]: {v!r} is not a number")
        numbers[i] = float(v)
    starts = ends_utc - step  # radiation is the mean of the preceding interval
    labels = [str(t) for t in times]
    _step(path, starts, lambda i: f"field {name}.time[{i}]", labels, step)
    series = _series(path, starts, numbers, "poa_global_w_per_m2")
    return ForecastFile("irradiance", series, step, "Open-Meteo", str(path))


def _naive_times(path: Path, name: str, times: list[Any]) -> pd.DatetimeIndex:
    out = []
    for i, t in enumerate(times):
        try:
            value = dt.datetime.fromisoformat(str(t))
        except ValueError:
            raise InputError(f"{path}: field {name}.time[{i}]: {t!r} is not an ISO 8601 time") from None
        if value.tzinfo is not None:
            raise InputError(
                f"{path}: field {name}.time[{i}]: {t!r} carries an offset; Open-Meteo writes local times "
                "without one (the offset is utc_offset_seconds)"
            )
        out.append(value)
    return pd.DatetimeIndex(out)


def _read_pvgis(path: Path) -> ForecastFile:
    try:
        data, _ = read_pvgis_hourly(path)
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a readable PVGIS hourly export: {exc}") from None
    parts = ("poa_direct", "poa_sky_diffuse", "poa_ground_diffuse")
    missing = [p for p in parts if p not in data.columns]
    if missing:
        raise InputError(f"{path}: PVGIS export without plane-of-array columns Gb(i), Gd(i), Gr(i)")
    poa = data[list(parts)].astype(float).sum(axis=1).to_numpy()
    index = pd.DatetimeIndex(data.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    labels = [str(t) for t in index]
    step = _step(path, index, lambda i: f"row {i + 1}", labels, pd.Timedelta(hours=1))
    return ForecastFile(
        "irradiance", _series(path, index, poa, "poa_global_w_per_m2"), step, "PVGIS", str(path)
    )
