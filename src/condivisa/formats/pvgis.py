"""Read PVGIS weather exports (EU JRC) into pvlib's column names, for :mod:`condivisa.engines.pv`.

- "hourly radiation" series (CSV/JSON): ``pvlib.iotools.read_pvgis_hourly``; plane-of-array irradiance
  ``poa_direct``, ``poa_sky_diffuse``, ``poa_ground_diffuse`` for the slope/azimuth PVGIS was asked for;
- typical meteorological year (CSV/JSON/EPW): ``pvlib.iotools.read_pvgis_tmy``; ``ghi``, ``dni``, ``dhi``…
  A TMY CSV whose PVGIS header and footer lines were stripped (only the ``time(UTC),T2m,…`` table is left)
  makes pvlib's reader fail, so it is read with pandas into the same names.

Timestamps are UTC hours (PVGIS labels hourly series at HH:10: floored to the full hour).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

_TMY_COLUMNS = {
    "T2m": "temp_air",
    "RH": "relative_humidity",
    "G(h)": "ghi",
    "Gb(n)": "dni",
    "Gd(h)": "dhi",
    "IR(h)": "ghi_infrared",
    "WS10m": "wind_speed",
    "WD10m": "wind_direction",
    "SP": "pressure",
}


def read_pvgis_hourly(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read a PVGIS "hourly radiation" export (CSV or JSON) with ``pvlib.iotools.read_pvgis_hourly``.

    Returns the data (pvlib names: ``poa_direct``, ``poa_sky_diffuse``, ``poa_ground_diffuse``,
    ``temp_air``, ``wind_speed``…) re-indexed to the UTC full hour, and pvlib's metadata.
    """
    data, meta = pvlib.iotools.read_pvgis_hourly(str(path), map_variables=True)
    data.index = data.index.floor("h")
    return data, meta


def read_pvgis_tmy(path: str | Path) -> pd.DataFrame:
    """Read a PVGIS typical meteorological year (CSV/JSON/EPW) into pvlib names (``ghi``, ``dni``,
    ``dhi``, ``temp_air``, ``wind_speed``…), indexed by the UTC hour.

    ``pvlib.iotools.read_pvgis_tmy`` needs PVGIS's original header and footer lines; a CSV whose
    header/footer were stripped (only the ``time(UTC),T2m,…`` table is left, as in
    ``shared/reference/pvgis/``) is read with pandas instead, with the same column names.
    """
    path = Path(path)
    try:
        result = pvlib.iotools.read_pvgis_tmy(str(path), map_variables=True)
        data = result[0] if isinstance(result, tuple) else result
    except (IndexError, ValueError, KeyError):
        data = _read_stripped_tmy_csv(path)
    data = data.copy()
    data.index = (
        pd.DatetimeIndex(data.index).tz_convert("UTC") if data.index.tz else data.index.tz_localize("UTC")
    )
    return data


def _read_stripped_tmy_csv(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    if "time(UTC)" not in raw.columns:
        raise ValueError(
            f"{path}: not a PVGIS TMY table (no 'time(UTC)' column; columns {list(raw.columns)[:5]})"
        )
    try:
        index = pd.to_datetime(raw["time(UTC)"], format="%Y%m%d:%H%M", utc=True)
    except ValueError as exc:
        raise ValueError(f"{path}: column time(UTC): {exc}") from None
    data = raw.drop(columns=["time(UTC)"]).rename(columns=_TMY_COLUMNS)
    data.index = pd.DatetimeIndex(index, name="time(UTC)")
    bad = data[["ghi", "dni", "dhi"]].isna().any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # +1 header, +1 one-based
        raise ValueError(f"{path}: row {row}: missing irradiance value")
    return data


def read_pvgis_weather(path: str | Path) -> pd.DataFrame:
    """The weather of any PVGIS export condivisa reads: an "hourly radiation" series (plane-of-array columns
    ``Gb(i)``, ``Gd(i)``…: :func:`read_pvgis_hourly`) or a typical meteorological year
    (:func:`read_pvgis_tmy`), told apart by the header."""
    head = Path(path).read_text(encoding="utf-8", errors="replace")[:4000]
    if "(i)" in head:
        weather, _ = read_pvgis_hourly(path)
        return weather
    return read_pvgis_tmy(path)
