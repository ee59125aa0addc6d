"""Read, validate and write the measurement and price CSV files.

Measurements: ``pod,start,withdrawn_kwh,injected_kwh`` — one row per POD and quarter hour (or hour);
``start`` is the interval start in ISO 8601 *with* its UTC offset (``2024-06-01T00:15:00+02:00``). The same
columns may come as the first sheet of an Excel workbook (``.xlsx``; ``start`` as text with its offset, not
an Excel date: Excel dates have no time zone).
Prices: ``start,zonal_price_eur_per_mwh`` — one row per hour.

Checks, each failing with an :class:`InputError` that names the file, the line (the
header is line 1), the field and the value:
- a missing or empty field, a number that is not one (``NaN``, ``inf``), energy or price below zero, an
  energy above the hard cap (:data:`~condivisa.domain.plausibility.MAX_ENERGY_KWH_PER_QUARTER_HOUR` per
  quarter hour, four times that per hour);
- when the PODs' bounds are given (:func:`condivisa.domain.plausibility.pod_bounds`), an energy above what
  the POD's meter can read in the interval (contract power × overload factor × duration);
- a timestamp without UTC offset, or off the quarter-hour grid (prices: off the hour);
- prices whose mean is below 1 or above 5,000 €/MWh (:data:`PLAUSIBLE_MEAN_PRICE_EUR_PER_MWH`: €/kWh
  written for €/MWh), unless ``allow_unusual``;
- a POD not in the community (when ``known_pods`` is given);
- two rows for the same POD and interval with *different* values. Rows repeated *exactly* are dropped
  and counted per POD (``frame.attrs["duplicates_dropped"]``).
Timestamps come back tz-aware in Europe/Rome.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from condivisa.domain.plausibility import MAX_ENERGY_KWH_PER_QUARTER_HOUR, PodBound
from condivisa.kernel.timegrid import ROME

MEASUREMENT_COLUMNS = ("pod", "start", "withdrawn_kwh", "injected_kwh")
PRICE_COLUMNS = ("start", "zonal_price_eur_per_mwh")
#: the mean hourly zonal price a prices file may have, €/MWh (outside: refused unless allowed)
PLAUSIBLE_MEAN_PRICE_EUR_PER_MWH = (1.0, 5000.0)
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


class InputError(ValueError):
    """A CSV file is malformed; the message names file, line, field and value."""


def _line(i: int) -> int:
    """File line of data row ``i`` (0-based), the header being line 1."""
    return int(i) + 2


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of an Excel workbook as text cells (row 1 the header, like a CSV's line 1)."""
    try:
        raw = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # not a zip / not a workbook
        raise InputError(f"{path}: not a readable Excel (.xlsx) file: {exc}") from None
    return raw.astype(str)


def _read(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The file's columns as text: a CSV, or the first sheet of an ``.xlsx`` workbook with the same header."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raw = _read_excel(path)
    else:
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable CSV file: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (expected header {','.join(columns)})"
        )
    raw = raw[list(columns)]
    for col in columns:
        empty = np.flatnonzero((raw[col].str.strip() == "").to_numpy())
        if empty.size:
            raise InputError(f"{path}, line {_line(empty[0])}: field {col} is empty")
    return raw


def _times(path: Path, raw: pd.Series, step_minutes: int) -> pd.Series:
    text = raw.str.strip()
    naive = np.flatnonzero(~text.str.contains(_OFFSET, regex=True).to_numpy())
    if naive.size:
        i = naive[0]
        raise InputError(
            f"{path}, line {_line(i)}: start {text.iloc[i]!r} has no UTC offset (write e.g. +01:00)"
        )
    ts = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(ts.isna().to_numpy())
    if bad.size:
        i = bad[0]
        raise InputError(f"{path}, line {_line(i)}: start {text.iloc[i]!r} is not an ISO 8601 timestamp")
    ns = pd.DatetimeIndex(ts).as_unit("ns").asi8
    off = np.flatnonzero(ns % (step_minutes * 60 * 10**9))
    if off.size:
        i = off[0]
        grid = "quarter-hour" if step_minutes == 15 else "hourly"
        raise InputError(f"{path}, line {_line(i)}: start {text.iloc[i]!r} is off the {grid} grid")
    return ts.dt.tz_convert(ROME)


def _numbers(path: Path, raw: pd.Series, field: str) -> np.ndarray:
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = bad[0]
        raise InputError(f"{path}, line {_line(i)}: {field} {raw.iloc[i]!r} is not a number")
    neg = np.flatnonzero(values < 0)
    if neg.size:
        i = neg[0]
        raise InputError(f"{path}, line {_line(i)}: {field} {raw.iloc[i]!r} is negative (must be >= 0)")
    return values


def _dedupe(path: Path, frame: pd.DataFrame, key: list[str], what: str) -> tuple[pd.DataFrame, pd.Series]:
    """Drop exact duplicate rows (returning how many per first key), refuse conflicting ones."""
    exact = frame.duplicated(keep="first")
    dropped = frame.loc[exact, key[0]].value_counts() if exact.any() else pd.Series(dtype="int64")
    frame = frame.loc[~exact]
    clash = frame.duplicated(subset=key, keep=False)
    if clash.any():
        rows = np.flatnonzero(clash.to_numpy())
        first = frame.iloc[rows[0]]
        same = frame.iloc[rows][(frame.iloc[rows][key] == first[key]).all(axis=1)]
        lines = ", ".join(str(_line(i)) for i in same.index[:2])
        raise InputError(
            f"{path}, lines {lines}: conflicting rows for {what} {' '.join(str(first[k]) for k in key)}: "
            f"same interval, different values"
        )
    return frame, dropped


def _check_bounds(
    path: Path, frame: pd.DataFrame, minutes: int, bounds: Mapping[str, PodBound] | None
) -> None:
    """Refuse the first energy above the hard cap or, with ``bounds``, above its POD's bound for an
    interval of ``minutes`` (the line, the value, the bound and what it is based on)."""
    hard = MAX_ENERGY_KWH_PER_QUARTER_HOUR * minutes / 15
    for col in ("withdrawn_kwh", "injected_kwh"):
        values = frame[col].to_numpy(dtype=float)
        over = np.flatnonzero(values > hard)
        if over.size:
            i = frame.index[over[0]]
            raise InputError(
                f"{path}, line {_line(i)}: {col} {values[over[0]]:g} is above {hard:g} kWh, "
                "more than any meter can read"
            )
        if bounds is None:
            continue
        direction = col.split("_")[0]
        limit = (
            frame["pod"]
            .map({pod: b.max_kwh(direction, minutes) for pod, b in bounds.items()})
            .to_numpy(dtype=float)
        )
        over = np.flatnonzero(values > limit + 1e-9)  # NaN limit (no bound) compares False
        if over.size:
            k = over[0]
            b = bounds[str(frame["pod"].iloc[k])]
            basis = b.withdrawn_basis if direction == "withdrawn" else b.injected_basis
            raise InputError(
                f"{path}, line {_line(frame.index[k])}: {col} {values[k]:g} is above what POD "
                f"{b.pod} can read in {minutes} minutes ({limit[k]:.3f} kWh, {basis}): fix the line or "
                "the POD's contract_power_kw in community.yaml"
            )


def read_measurements(
    path: str | Path,
    known_pods: Iterable[str] | None = None,
    bounds: Mapping[str, PodBound] | None = None,
) -> pd.DataFrame:
    """Read and validate a measurements CSV into the measurements table (see the module docstring).

    ``bounds`` (POD -> :class:`~condivisa.domain.plausibility.PodBound`), when given, refuses a line above
    what its POD's meter can read. ``frame.attrs``: ``duplicates_dropped`` (POD -> rows),
    ``interval_minutes`` (15 or 60), ``source``.
    """
    path = Path(path)
    raw = _read(path, MEASUREMENT_COLUMNS)
    pods = raw["pod"].str.strip()
    if known_pods is not None:
        known = set(known_pods)
        unknown = np.flatnonzero(~pods.isin(known).to_numpy())
        if unknown.size:
            i = unknown[0]
            raise InputError(f"{path}, line {_line(i)}: pod {pods.iloc[i]!r} is not a POD of this community")
    frame = pd.DataFrame(
        {
            "pod": pods,
            "start": _times(path, raw["start"], 15),
            "withdrawn_kwh": _numbers(path, raw["withdrawn_kwh"], "withdrawn_kwh"),
            "injected_kwh": _numbers(path, raw["injected_kwh"], "injected_kwh"),
        }
    )
    frame, dropped = _dedupe(path, frame, ["pod", "start"], "pod and start")
    minutes = pd.DatetimeIndex(frame["start"]).minute
    interval = 15 if (len(frame) == 0 or np.any(minutes != 0)) else 60
    _check_bounds(path, frame, interval, bounds)
    frame = frame.reset_index(drop=True)
    frame.attrs["duplicates_dropped"] = {str(k): int(v) for k, v in dropped.items()}
    frame.attrs["interval_minutes"] = interval
    frame.attrs["source"] = str(path)
    return frame


def _check_price_level(path: Path, raw: pd.Series, values: np.ndarray) -> None:
    """Refuse prices whose mean is outside :data:`PLAUSIBLE_MEAN_PRICE_EUR_PER_MWH` (€/kWh, c€/kWh...)."""
    if not values.size:
        return
    low, high = PLAUSIBLE_MEAN_PRICE_EUR_PER_MWH
    mean = float(values.mean())
    if low <= mean <= high:
        return
    first = f"line 2: {raw.iloc[0].strip()!r}"
    if mean < low:
        why = f"below {low:g} €/MWh: the prices look like €/kWh"
        fix = f"write them in €/MWh (multiply by 1,000: {raw.iloc[0].strip()} €/kWh is {values[0] * 1000:g} €/MWh)"
    else:
        why = f"above {high:,.0f} €/MWh: the prices are not in €/MWh"
        fix = "write them in €/MWh (zonal prices average 50-300 €/MWh)"
    raise InputError(
        f"{path}: zonal_price_eur_per_mwh averages {mean:g} €/MWh ({first}), {why}; {fix}, or pass "
        "--allow-unusual-prices if they are right"
    )


def read_prices(path: str | Path, allow_unusual: bool = False) -> pd.Series:
    """Read hourly zonal prices into a Series ``zonal_price_eur_per_mwh`` indexed by hour start (Europe/Rome).

    Parameters
    ----------
    path : str or Path
        ``start,zonal_price_eur_per_mwh``, one row per hour.
    allow_unusual : bool, default False
        Accept prices whose mean is outside :data:`PLAUSIBLE_MEAN_PRICE_EUR_PER_MWH` (below 1 or above
        5,000 €/MWh): by default such a file is refused, since prices in €/kWh (0.098 for 98) would make the
        sale 1,000 times smaller.

    Returns
    -------
    pandas.Series

    Raises
    ------
    InputError
        A malformed file, or (without ``allow_unusual``) an implausible mean price.
    """
    path = Path(path)
    raw = _read(path, PRICE_COLUMNS)
    frame = pd.DataFrame(
        {
            "start": _times(path, raw["start"], 60),
            "zonal_price_eur_per_mwh": _numbers(
                path, raw["zonal_price_eur_per_mwh"], "zonal_price_eur_per_mwh"
            ),
        }
    )
    if not allow_unusual:
        _check_price_level(path, raw["zonal_price_eur_per_mwh"], frame["zonal_price_eur_per_mwh"].to_numpy())
    frame, _ = _dedupe(path, frame, ["start"], "hour")
    series = frame.set_index("start")["zonal_price_eur_per_mwh"].sort_index()
    series.attrs["source"] = str(path)
    return series


def _iso(ts: pd.Series) -> pd.Series:
    """ISO 8601 with the ``+HH:MM`` offset of Europe/Rome."""
    local = pd.DatetimeIndex(ts).tz_convert(ROME)
    text = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    return pd.Series(text.str[:-2] + ":" + text.str[-2:], index=ts.index if hasattr(ts, "index") else None)


def write_measurements(frame: pd.DataFrame, path: str | Path) -> None:
    """Write the measurements table as CSV (start in Europe/Rome with its offset)."""
    out = frame.loc[:, list(MEASUREMENT_COLUMNS)].copy()
    out["start"] = _iso(out["start"]).to_numpy()
    out.to_csv(path, index=False, float_format="%.4f")


def write_prices(prices: pd.Series, path: str | Path) -> None:
    """Write hourly prices as ``start,zonal_price_eur_per_mwh``."""
    out = pd.DataFrame(
        {
            "start": _iso(pd.Series(prices.index)).to_numpy(),
            "zonal_price_eur_per_mwh": prices.to_numpy(dtype=float),
        }
    )
    out.to_csv(path, index=False, float_format="%.2f")
