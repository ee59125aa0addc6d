"""ARERA's mean hourly withdrawal of a domestic customer, by region, contract power class, month and day type.

The shipped table (``data/italy/arera_hourly_withdrawal_by_region_class_month_daytype.csv``, 79,344 rows) gives,
for each month (1-12), region, contract power class, day type and hour (0-23), the mean energy a domestic
customer withdraws in that hour, in kWh. :func:`load_arera_table` reads it into tidy columns with condivisa's
labels; :func:`arera_shape` and :func:`arera_shape_source` pick one 24-hour shape, with a documented fallback
for the combinations the file does not have.

Combinations missing from the shipped file: Valle d'Aosta entirely (19 regions of 20); Trentino-Alto Adige for
the classes 0-1.5, 4.5-6 and >6 kW; Umbria and Veneto for >6 kW in December.

References
----------
.. [1] ARERA, profili di prelievo medi orari dei clienti domestici (mean hourly withdrawal of domestic
   customers by region, contract power class, month and day type), as redistributed by RSE's CACER simulator,
   github.com/RSE-CoLabs/CACER_Simulator, ``files/`` (BSD 3-Clause, (c) 2025 Aleotti F., Rollo A. / RSE).
"""

from __future__ import annotations

import difflib
import importlib.resources
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

#: condivisa's contract power classes, kW, in increasing order
POWER_CLASSES: tuple[str, ...] = ("0-1.5", "1.5-3", "3-4.5", "4.5-6", ">6")
#: condivisa's day types
DAY_TYPES: tuple[str, ...] = ("weekday", "saturday", "holiday")
#: the 20 Italian regions, spelled as in the ARERA file (Valle d'Aosta is not in the file)
REGIONS: tuple[str, ...] = (
    "Abruzzo",
    "Basilicata",
    "Calabria",
    "Campania",
    "Emilia-Romagna",
    "Friuli-Venezia Giulia",
    "Lazio",
    "Liguria",
    "Lombardia",
    "Marche",
    "Molise",
    "Piemonte",
    "Puglia",
    "Sardegna",
    "Sicilia",
    "Toscana",
    "Trentino-Alto Adige",
    "Umbria",
    "Valle d'Aosta",
    "Veneto",
)

_CLASS_LABELS = {
    "0<P<=1.5": "0-1.5",
    "1.5<P<=3": "1.5-3",
    "3<P<=4.5": "3-4.5",
    "4.5<P<=6": "4.5-6",
    "P>6": ">6",
}
_DAY_LABELS = {"Giorno feriale": "weekday", "Sabato": "saturday", "Domenica": "holiday"}
_COLUMNS = {
    "Mese": "month",
    "Regione": "region",
    "Classe potenza": "power_class",
    "Working day": "day_type",
    "Ora": "hour",
    "Prelievo medio Orario Regionale (kWh)": "withdrawal_kwh",
}


def _default_path() -> Path:
    resource = importlib.resources.files("condivisa.formats").joinpath(
        "data/italy/arera_hourly_withdrawal_by_region_class_month_daytype.csv"
    )
    return Path(str(resource))


def load_arera_table(path: str | Path | None = None) -> pd.DataFrame:
    """Read the ARERA table of mean hourly domestic withdrawals.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file (header ``Mese,Regione,Classe potenza,Working day,Ora,Prelievo medio Orario Regionale
        (kWh)``). Default: the copy shipped as package data.

    Returns
    -------
    pandas.DataFrame
        One row per file row, columns ``month`` (int, 1-12), ``region`` (str, as in the file),
        ``power_class`` (one of :data:`POWER_CLASSES`, kW: the file's ``0<P<=1.5`` becomes ``"0-1.5"``,
        ``P>6`` becomes ``">6"``), ``day_type`` (``"weekday"``, ``"saturday"`` or ``"holiday"``: the file's
        ``Domenica`` covers Sundays and national holidays), ``hour`` (int, 0-23, local civil hour start) and
        ``withdrawal_kwh`` (float, kWh withdrawn in that hour).

    Raises
    ------
    ValueError
        A column is missing, or a power class, day type, month or hour is not one the table can have.

    References
    ----------
    .. [1] ARERA, mean hourly withdrawal profiles of domestic customers, via RSE's CACER simulator (BSD 3-Clause).
    """
    source = Path(path) if path is not None else _default_path()
    raw = pd.read_csv(source, dtype={"Regione": str, "Classe potenza": str, "Working day": str})
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {list(_COLUMNS)}")
    table = raw[list(_COLUMNS)].rename(columns=_COLUMNS)
    classes = table["power_class"].map(_CLASS_LABELS)
    if classes.isna().any():
        bad = sorted(set(table.loc[classes.isna(), "power_class"]))
        raise ValueError(f"{source}: unknown power class(es) {bad}; expected {list(_CLASS_LABELS)}")
    days = table["day_type"].map(_DAY_LABELS)
    if days.isna().any():
        bad = sorted(set(table.loc[days.isna(), "day_type"]))
        raise ValueError(f"{source}: unknown day type(s) {bad}; expected {list(_DAY_LABELS)}")
    table["power_class"] = classes.astype(str)
    table["day_type"] = days.astype(str)
    table["region"] = table["region"].astype(str)
    table["month"] = table["month"].astype(int)
    table["hour"] = table["hour"].astype(int)
    table["withdrawal_kwh"] = table["withdrawal_kwh"].astype(float)
    if not table["month"].between(1, 12).all() or not table["hour"].between(0, 23).all():
        raise ValueError(f"{source}: a month outside 1-12 or an hour outside 0-23")
    return table.reset_index(drop=True)


def _fold(name: str) -> str:
    """A region name without case, accents, spaces, hyphens or apostrophes ("Valle d’Aosta" → "valledaosta")."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed.casefold() if c.isalnum())


def match_region(region: str, known: tuple[str, ...] | list[str] = REGIONS) -> str:
    """The region of ``known`` that ``region`` names, ignoring case, accents, spaces, hyphens and apostrophes.

    Raises
    ------
    ValueError
        No region matches; the message suggests the closest ones ("did you mean ...?").
    """
    folded = {_fold(k): k for k in known}
    hit = folded.get(_fold(region))
    if hit is not None:
        return hit
    close = difflib.get_close_matches(_fold(region), list(folded), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(folded[c]) for c in close)}?" if close else ""
    raise ValueError(f"unknown region {region!r}{hint} (the regions: {', '.join(known)})")


def _shape(table: pd.DataFrame, mask: pd.Series) -> np.ndarray | None:
    rows = table.loc[mask, ["hour", "withdrawal_kwh"]]
    if rows.empty:
        return None
    by_hour = rows.groupby("hour")["withdrawal_kwh"].mean().reindex(range(24))
    if by_hour.isna().any():
        return None
    return by_hour.to_numpy(dtype=float)


def arera_shape_source(
    table: pd.DataFrame, region: str, power_class: str, month: int, day_type: str
) -> tuple[np.ndarray, str]:
    """The 24 hourly withdrawals (kWh) of one ARERA customer, and which fallback gave them.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`load_arera_table`.
    region : str
        An Italian region, matched case- and accent-insensitively against :data:`REGIONS`.
    power_class : str
        One of :data:`POWER_CLASSES` (contract power, kW).
    month : int
        1-12.
    day_type : str
        ``"weekday"``, ``"saturday"`` or ``"holiday"`` (Sundays and national holidays).

    Returns
    -------
    shape_kwh : numpy.ndarray
        24 floats, kWh withdrawn in each local hour 0-23.
    source : str
        How it was found, in this order of preference:

        1. ``"exact"``: the file's row for that region, class, month and day type;
        2. ``"nearest power class <c>"``: same region, month and day type, the nearest class ``c`` the file
           has for them (the lower one on a tie);
        3. ``"national mean"``: the mean, hour by hour, of that class, month and day type over the regions
           the file has it for (used for Valle d'Aosta, which the file lacks).

    Raises
    ------
    ValueError
        Unknown region (with "did you mean"), power class, month or day type, or no data for that class,
        month and day type anywhere.

    References
    ----------
    .. [1] ARERA, mean hourly withdrawal profiles of domestic customers, via RSE's CACER simulator (BSD 3-Clause).
    """
    name = match_region(region)
    if power_class not in POWER_CLASSES:
        raise ValueError(f"unknown power class {power_class!r}; expected one of {list(POWER_CLASSES)}")
    if day_type not in DAY_TYPES:
        raise ValueError(f"unknown day type {day_type!r}; expected one of {list(DAY_TYPES)}")
    if not 1 <= int(month) <= 12:
        raise ValueError(f"month must be 1-12, got {month!r}")
    base = (table["month"] == int(month)) & (table["day_type"] == day_type)
    in_region = base & (table["region"] == name)
    exact = _shape(table, in_region & (table["power_class"] == power_class))
    if exact is not None:
        return exact, "exact"
    wanted = POWER_CLASSES.index(power_class)
    order = sorted(range(len(POWER_CLASSES)), key=lambda i: (abs(i - wanted), i))
    for i in order[1:]:
        near = _shape(table, in_region & (table["power_class"] == POWER_CLASSES[i]))
        if near is not None:
            return near, f"nearest power class {POWER_CLASSES[i]}"
    national = _shape(table, base & (table["power_class"] == power_class))
    if national is not None:
        return national, "national mean"
    raise ValueError(f"no ARERA data for class {power_class}, month {month}, {day_type} in any region")


def arera_shape(table: pd.DataFrame, region: str, power_class: str, month: int, day_type: str) -> np.ndarray:
    """The 24 hourly withdrawals (kWh) of one ARERA customer; see :func:`arera_shape_source` for the fallback.

    References
    ----------
    .. [1] ARERA, mean hourly withdrawal profiles of domestic customers, via RSE's CACER simulator (BSD 3-Clause).
    """
    return arera_shape_source(table, region, power_class, month, day_type)[0]
