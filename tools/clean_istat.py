"""Write the cleaned ISTAT municipality list that ships as package data.

Source: ``/work/shared/reference/italy/istat_municipalities_market_zone.csv`` (RSE CACER simulator,
BSD 3-Clause; ISTAT and GME data), Latin-1 with a few mis-encoded letters. The copy
(``src/condivisa/domain/data/istat_municipalities.csv``) is UTF-8 with the columns of
:data:`condivisa.domain.municipalities.COLUMNS`:

- ``istat_code``: the six-digit ISTAT code, leading zeros restored (the source drops them: ``1001``);
- ``name`` (Italian), ``names`` (Italian and foreign, e.g. ``Bolzano/Bozen``);
- ``region``, ``province``, ``province_code`` (the car plate code, e.g. ``TO``), ``market_zone`` (GME).

Three bytes the source mis-encodes are repaired (``\\x8d`` is ``ì``, ``\\x9f`` ``â``, ``\\xa0`` ``ß``, as in
Forlì, Châtillon, Weinstraße); a ``?`` stands for an accented letter the source lost (``Cant?``: Cantù)
and is kept: the loader matches it with any one letter.

Usage: ``python tools/clean_istat.py [SOURCE] [TARGET]``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

SOURCE = Path("/work/shared/reference/italy/istat_municipalities_market_zone.csv")
TARGET = Path(__file__).resolve().parents[1] / "src/condivisa/domain/data/istat_municipalities.csv"
REPAIRS = {"\x8d": "ì", "\x9f": "â", "\xa0": "ß"}
COLUMNS = ("istat_code", "name", "names", "region", "province", "province_code", "market_zone")


def _repair(text: str) -> str:
    for bad, good in REPAIRS.items():
        text = text.replace(bad, good)
    return text.strip()


def clean(source: Path = SOURCE, target: Path = TARGET) -> int:
    """Write the cleaned copy of ``source`` to ``target``; return the number of municipalities."""
    with source.open(encoding="latin-1", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = {name: header.index(name) for name in header}
    province = next(h for h in header if h.startswith("Denominazione dell'Unit"))
    out = []
    for row in body:
        out.append(
            (
                row[col["Codice Comune formato alfanumerico"]].strip().zfill(6),
                _repair(row[col["Denominazione in italiano"]]),
                _repair(row[col["Denominazione (Italiana e straniera)"]]),
                _repair(row[col["Denominazione Regione"]]),
                _repair(row[col[province]]),
                row[col["Sigla automobilistica"]].strip(),
                row[col["Zona di mercato"]].strip(),
            )
        )
    out.sort(key=lambda r: r[0])
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(out)
    return len(out)


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    print(clean(*args), "municipalities written")
