"""ARERA's F1/F2/F3 time bands, quarter hour by quarter hour, as shipped in a table.

The file ``data/italy/arera_time_bands_quarter_hour.csv`` has 96 rows, ``Hour,Lav,Sab,Dom``: a ``HH:MM``
label and the band number (1, 2, 3) for weekdays (``Lav``, lavorativo), Saturdays (``Sab``) and Sundays and
national holidays (``Dom``). The rule itself is in :mod:`condivisa.domain.time_bands`.

Warning: in the shipped file the bands change at the rows labelled 07:15, 08:15, 18:15 and 22:15, i.e. the
labels read as quarter *ends* put the morning changes at 07:00 and 08:00, as ARERA 181/06 does, but the evening
ones at 18:00 and 22:00, one hour earlier than ARERA 181/06 (19:00 and 23:00). The loader returns the file as
it is; ``tests/test_time_bands.py`` pins the difference.

References
----------
.. [1] ARERA, delibera 181/06 (fasce orarie F1, F2, F3), as tabulated in RSE's CACER simulator,
   github.com/RSE-CoLabs/CACER_Simulator, ``files/`` (BSD 3-Clause, (c) 2025 Aleotti F., Rollo A. / RSE).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pandas as pd

#: the day-type columns of the table: weekday, Saturday, Sunday or national holiday
BAND_COLUMNS: tuple[str, ...] = ("Lav", "Sab", "Dom")


def _default_path() -> Path:
    resource = importlib.resources.files("condivisa.formats").joinpath(
        "data/italy/arera_time_bands_quarter_hour.csv"
    )
    return Path(str(resource))


def load_time_bands(path: str | Path | None = None) -> pd.DataFrame:
    """Read the 96 × 3 table of ARERA time bands.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file (``Hour,Lav,Sab,Dom``). Default: the copy shipped as package data.

    Returns
    -------
    pandas.DataFrame
        96 rows in file order, indexed by the file's ``Hour`` label (str, ``HH:MM``), columns ``Lav``, ``Sab``,
        ``Dom`` (int band numbers 1, 2, 3).

    Raises
    ------
    ValueError
        Not 96 rows, a missing column, a duplicated label, or a band outside 1-3.

    References
    ----------
    .. [1] ARERA, delibera 181/06, via RSE's CACER simulator (BSD 3-Clause).
    """
    source = Path(path) if path is not None else _default_path()
    raw = pd.read_csv(source, dtype={"Hour": str})
    missing = [c for c in ("Hour", *BAND_COLUMNS) if c not in raw.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}")
    if len(raw) != 96 or raw["Hour"].duplicated().any():
        raise ValueError(f"{source}: expected 96 distinct quarter-hour rows, got {len(raw)}")
    table = raw.set_index("Hour")[list(BAND_COLUMNS)].astype(int)
    if not table.isin([1, 2, 3]).all().all():
        raise ValueError(f"{source}: a band outside 1-3")
    return table
