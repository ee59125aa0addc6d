"""The distributor's validated quarter-hour curves: e-distribuzione's portal export, read exactly.

The portal (Portale Produttori / area clienti) exports one file per POD and direction (withdrawal or
injection), often a month per file::

    Giorno;00:00-00:15;00:15-00:30;...;23:45-00:00
    "01/06/2024";"0,123";"0,118";...;"0,207"

``;``-separated, the day quoted as ``dd/mm/yyyy``, 96 quoted values in kWh per quarter hour with a decimal
comma. The column labels are **local wall-clock** quarter hours (Europe/Rome), never UTC: public parsers
that read them as UTC shift every reading by one or two hours; condivisa places each value on the real
instant its label names. On the two DST days:

* last Sunday of March (92 real quarter hours): the four ``02:xx`` columns name times that do not exist;
  they must be empty or zero and are dropped; a non-zero value there is refused (the file is not the
  portal's export, or it was shifted);
* last Sunday of October (100 real quarter hours): a 96-column row gives one value for each ``02:xx``
  label, which covers both real quarter hours of that label; condivisa splits it in half between them
  (energy kept) and flags both ``dst_split``. A file whose header repeats the four ``02:xx`` labels (100
  columns) is mapped one to one, in order.

An empty value is a missing quarter hour (not stored), never a zero. Every refusal names the file, the line
(the header is line 1), the column label and the fix.

References
----------
.. [1] ARERA, TIS (Testo integrato settlement) and delibera 646/2015 (TIME): quarter-hour measurement
   data made available by the distributor.
.. [2] D.Lgs. 199/2021, art. 36: the GSE's CACER incentive on the distributor's measured data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from condivisa.kernel.timegrid import ROME, quarter_hours

DIRECTIONS = ("withdrawal", "injection")
#: the 96 column labels of a portal row, ``00:00-00:15`` … ``23:45-00:00``
LABELS = tuple(
    f"{q // 4:02d}:{q % 4 * 15:02d}-{(q + 1) // 4 % 24:02d}:{(q + 1) % 4 * 15:02d}" for q in range(96)
)
_DST_LABELS = LABELS[8:12]  # 02:00-02:15 … 02:45-03:00
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
#: a decimal-comma number; thousands dots only with a decimal part ("1.234,5"): a bare "1.234" or "0.123"
#: is refused, never read as 1234 or 123
_COMMA_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{3})+,\d+$|^\d+(?:,\d+)?$")
#: largest value a quarter hour of a portal export may hold, kWh (a 40 MW connection at full power)
MAX_KWH_PER_QUARTER_HOUR = 10_000.0


class DistributorFileError(ValueError):
    """A distributor file is not the portal's export; the message names file, line, column and the fix."""


@dataclass(frozen=True)
class DistributorCurve:
    """One POD's quarter hours in one direction, from one file.

    ``frame`` has ``start`` (aware, Europe/Rome), ``energy_kwh`` and ``flag`` (``""`` or ``"dst_split"``);
    ``missing`` counts the empty values; ``days`` the days the file covers.
    """

    source: str
    pod: str
    direction: str
    frame: pd.DataFrame
    days: tuple[dt.date, ...]
    missing: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _where(path: Path, line: int, column: str | None = None) -> str:
    return f"{path}, line {line}" + (f", column {column}" if column else "")


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DistributorFileError(f"{path}: no such file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")  # the portal's Windows exports


def _header(path: Path, row: list[str]) -> tuple[str, ...]:
    """The value labels of the header, checked against the portal's 96 (or 100, DST-repeated) labels."""
    cells = [c.strip() for c in row]
    while cells and cells[-1] == "":  # a trailing ';'
        cells.pop()
    if not cells or cells[0].lower() != "giorno":
        got = cells[0] if cells else ""
        raise DistributorFileError(
            f"{_where(path, 1)}: the header must start with 'Giorno' (got {got!r}); "
            "use the portal's quarter-hour export unchanged (Giorno;00:00-00:15;...;23:45-00:00)"
        )
    labels = tuple(cells[1:])
    dst = LABELS[:12] + _DST_LABELS + LABELS[12:]
    for expected in (LABELS, dst):
        if labels == expected:
            return labels
    reference = dst if len(labels) == 100 else LABELS
    for k, (got, want) in enumerate(zip(labels, reference, strict=False)):
        if got != want:
            raise DistributorFileError(
                f"{_where(path, 1, str(k + 2))}: column label {got!r}, expected {want!r} "
                "(96 quarter hours 00:00-00:15 ... 23:45-00:00, local time)"
            )
    raise DistributorFileError(
        f"{_where(path, 1)}: {len(labels)} quarter-hour columns, expected 96 (or 100 with the repeated "
        "02:00-03:00 of the October DST day)"
    )


def _value(path: Path, line: int, label: str, text: str) -> float:
    """A portal value: decimal comma (optional thousands dots); empty = missing (NaN)."""
    t = text.strip()
    if t == "":
        return float("nan")
    if not _COMMA_NUMBER.match(t):
        if re.match(r"^-", t):
            raise DistributorFileError(f"{_where(path, line, label)}: {t!r} is negative; energy is >= 0 kWh")
        if re.match(r"^\d+(?:\.\d+)+$", t):
            raise DistributorFileError(
                f"{_where(path, line, label)}: {t!r} has a decimal point; the portal writes a decimal comma "
                "(0,123): use the portal's export unchanged (a spreadsheet re-saved it in another locale)"
            )
        raise DistributorFileError(f"{_where(path, line, label)}: {t!r} is not a number in kWh (e.g. 0,123)")
    value = float(t.replace(".", "").replace(",", "."))
    if value > MAX_KWH_PER_QUARTER_HOUR:
        raise DistributorFileError(
            f"{_where(path, line, label)}: {t} kWh in a quarter hour is more than any connection can carry "
            f"({MAX_KWH_PER_QUARTER_HOUR:,.0f} kWh); is the file in Wh?"
        )
    return value


def _values(path: Path, line: int, labels: tuple[str, ...], cells: list[str]) -> np.ndarray:
    """One row's values, kWh (NaN: empty). The common case — plain decimal-comma numbers — is checked and
    converted array-wise; anything else goes cell by cell through :func:`_value`, which names the cell."""
    text = np.char.strip(np.asarray(cells, dtype=str))
    empty = text == ""
    digits = np.char.replace(text, ",", "")
    plain = (np.char.isdigit(digits) & (np.char.count(text, ",") <= 1)) | empty
    if plain.all():
        values = np.where(empty, "nan", np.char.replace(text, ",", ".")).astype(float)
        if not (values[~empty] > MAX_KWH_PER_QUARTER_HOUR).any():
            return values
    return np.array([_value(path, line, lab, c) for lab, c in zip(labels, cells, strict=True)])


def _day(path: Path, line: int, text: str) -> dt.date:
    m = _DATE.match(text.strip())
    if not m:
        raise DistributorFileError(f"{_where(path, line, 'Giorno')}: {text!r} is not a date dd/mm/yyyy")
    try:
        return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        raise DistributorFileError(f"{_where(path, line, 'Giorno')}: {text!r} is not a real date") from None


def _day_grids(days: tuple[dt.date, ...]) -> dict[dt.date, pd.DatetimeIndex]:
    """Each day's real quarter hours (92, 96 or 100), cut from one grid over the whole span."""
    grid = quarter_hours(min(days), max(days) + dt.timedelta(days=1))
    dates = np.asarray(grid.date)
    bounds = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1], True])
    return {dates[a]: grid[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)}


def _block_values(
    path: Path, labels: tuple[str, ...], cells: list[list[str]], lines: list[int]
) -> np.ndarray:
    """Every row's values at once (days × columns, kWh, NaN: empty); a row that is not plain goes through
    :func:`_values` so the message names its first bad cell."""
    text = np.char.strip(np.asarray(cells, dtype=str))
    empty = text == ""
    plain = (np.char.isdigit(np.char.replace(text, ",", "")) & (np.char.count(text, ",") <= 1)) | empty
    if plain.all():
        values = np.where(empty, "nan", np.char.replace(text, ",", ".")).astype(float)
        if not (np.nan_to_num(values) > MAX_KWH_PER_QUARTER_HOUR).any():
            return values
    return np.vstack([_values(path, line, labels, row) for line, row in zip(lines, cells, strict=True)])


def _place_day(
    path: Path,
    line: int,
    day: dt.date,
    labels: tuple[str, ...],
    values: np.ndarray,
    starts: pd.DatetimeIndex,
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Put one row's values on the day's real quarter hours ``starts`` (module docstring: the DST rules)."""
    n = len(starts)
    flags = np.zeros(n, dtype=bool)
    if n == 96:
        if len(labels) != 96:
            raise DistributorFileError(
                f"{_where(path, line)}: {day:%d/%m/%Y} has 96 quarter hours; a 100-column file is only for the "
                "October DST day: export that day in its own file"
            )
        return starts, values, flags
    if n == 92:
        if len(labels) != 96:
            raise DistributorFileError(
                f"{_where(path, line)}: {day:%d/%m/%Y} has 92 quarter hours: 96 columns expected"
            )
        gap = values[8:12]
        bad = np.flatnonzero(np.nan_to_num(gap) != 0)
        if bad.size:
            k = int(bad[0])
            raise DistributorFileError(
                f"{_where(path, line, _DST_LABELS[k])}: {day:%d/%m/%Y} has no 02:00-03:00 in Italy (clocks go "
                f"forward), yet the file gives {gap[k]:g} kWh there: the values are shifted; export the day "
                "again from the portal"
            )
        return starts, np.concatenate([values[:8], values[12:]]), flags
    # 100 quarter hours: 02:00-03:00 twice
    if len(labels) == 100:
        return starts, values, flags
    doubled = values[8:12] / 2.0
    out = np.concatenate([values[:8], doubled, doubled, values[12:]])
    flags[8:16] = True
    return starts, out, flags


def read_portal_export(path: str | Path, pod: str, direction: str) -> DistributorCurve:
    """Read an e-distribuzione quarter-hour export of one POD and direction (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The file as downloaded from the portal.
    pod : str
        The POD the file is about (the export does not say it).
    direction : {"withdrawal", "injection"}
        Energy withdrawn from or injected into the grid.

    Returns
    -------
    DistributorCurve
        The quarter hours on their real instants, kWh, with the DST flags and the count of empty values.

    Raises
    ------
    DistributorFileError
        Anything that is not the portal's layout: header, date, value (decimal point, negative, text),
        number of values, a repeated day, a value in the missing spring hour.
    """
    path = Path(path)
    if direction not in DIRECTIONS:
        raise DistributorFileError(f"direction must be withdrawal or injection, got {direction!r}")
    rows = list(csv.reader(io.StringIO(_decode(path)), delimiter=";", quotechar='"'))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DistributorFileError(f"{path}: the file is empty")
    labels = _header(path, rows[0])
    seen: dict[dt.date, int] = {}
    cells: list[list[str]] = []
    for line, row in enumerate(rows[1:], start=2):
        row = list(row)
        while len(row) > len(labels) + 1 and row[-1].strip() == "":
            row.pop()
        if len(row) != len(labels) + 1:
            raise DistributorFileError(
                f"{_where(path, line)}: {len(row) - 1} values, expected {len(labels)} (one per quarter-hour column)"
            )
        day = _day(path, line, row[0])
        if day in seen:
            raise DistributorFileError(
                f"{_where(path, line, 'Giorno')}: {day:%d/%m/%Y} already on line {seen[day]}"
            )
        seen[day] = line
        cells.append(row[1:])
    if not cells:
        raise DistributorFileError(f"{path}: a header and no day")
    values = _block_values(path, labels, cells, list(seen.values()))
    days = tuple(seen)
    grid = _day_grids(days)
    starts: list[pd.DatetimeIndex] = []
    energy: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    for k, day in enumerate(days):
        s, v, f = _place_day(path, seen[day], day, labels, values[k], grid[day])
        starts.append(s)
        energy.append(v)
        flags.append(f)
    return _curve(path, pod, direction, starts, energy, flags, days)


def _curve(
    path: Path,
    pod: str,
    direction: str,
    starts: list[pd.DatetimeIndex],
    energy: list[np.ndarray],
    flags: list[np.ndarray],
    days: tuple[dt.date, ...],
) -> DistributorCurve:
    """Assemble the placed days into a curve, dropping (and counting) the empty values."""
    if not starts:
        raise DistributorFileError(f"{path}: a header and no day")
    index = starts[0].append(starts[1:]) if len(starts) > 1 else starts[0]
    values = np.concatenate(energy)
    flag = np.concatenate(flags)
    present = ~np.isnan(values)
    frame = pd.DataFrame(
        {
            "start": index[present].tz_convert(ROME),
            "energy_kwh": values[present],
            "flag": np.where(flag[present], "dst_split", ""),
        }
    )
    notes = []
    if flag.any():
        notes.append("October DST day: each 02:xx value split in half between the two real quarter hours")
    return DistributorCurve(str(path), pod, direction, frame, days, int((~present).sum()), tuple(notes))


def _comma(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3f}".replace(".", ",")


def write_portal_export(energy_kwh: pd.Series, path: str | Path) -> None:
    """Write quarter-hour energies in the portal's export layout (the inverse of :func:`read_portal_export`).

    Parameters
    ----------
    energy_kwh : pandas.Series
        kWh on aware quarter-hour starts covering whole local days (missing quarter hours: NaN).
    path : str or Path
        Where to write (``;``-separated, quoted, decimal comma, 3 decimals, 96 columns a day; on the October
        DST day each ``02:xx`` column holds the sum of its two real quarter hours, on the March day the four
        ``02:xx`` columns are empty).
    """
    local = energy_kwh.tz_convert(ROME) if energy_kwh.index.tz is not None else energy_kwh
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", quotechar='"', quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(["Giorno", *LABELS])
    dates = np.asarray(local.index.date)
    for day in dict.fromkeys(dates):
        rows = local[dates == day]
        slot = np.asarray(rows.index.hour) * 4 + np.asarray(rows.index.minute) // 15
        cells = np.full(96, np.nan)
        for k, v in zip(slot, rows.to_numpy(dtype=float), strict=True):
            cells[k] = v if np.isnan(cells[k]) else cells[k] + v
        w.writerow([f"{day:%d/%m/%Y}", *(_comma(v) for v in cells)])
    Path(path).write_text(out.getvalue(), encoding="utf-8")
