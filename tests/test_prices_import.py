"""``condivisa prices import``: GME's price files into ``start,zonal_price_eur_per_mwh``, DST days included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.formats.csv_io import read_prices

runner = CliRunner()
HEADER = "Data;Ora;PUN;CALA;CNOR;CSUD;NORD;SARD;SICI;SUD"


def _price(day: dt.date, hour: int) -> str:
    """A distinct SUD price, decimal comma, two decimals (the prices CSV keeps cents of €/MWh)."""
    return f"{100 + day.day + hour / 100:.2f}".replace(".", ",")


def _rows(day: dt.date, n_hours: int) -> list[str]:
    return [f"{day:%Y%m%d};{h};90,5;91;92;93;94;95;96;{_price(day, h)}" for h in range(1, n_hours + 1)]


def _write(tmp_path: Path, lines: list[str], name: str = "gme.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _convert(tmp_path: Path, source: Path, zone: str = "SUD"):
    out = tmp_path / "prices.csv"
    result = runner.invoke(app, ["prices", "import", str(source), "--zone", zone, "--out", str(out)])
    return result, out


def _at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("Europe/Rome")


def test_normal_day(tmp_path: Path) -> None:
    day = dt.date(2024, 3, 15)
    result, out = _convert(tmp_path, _write(tmp_path, [HEADER, *_rows(day, 24)]))
    assert result.exit_code == 0, result.output
    prices = read_prices(out)
    assert len(prices) == 24
    assert prices[_at("2024-03-15T00:00:00+01:00")] == pytest.approx(115.01)
    assert prices[_at("2024-03-15T23:00:00+01:00")] == pytest.approx(115.24)


def test_zones_in_any_order_and_extra_columns(tmp_path: Path) -> None:
    lines = ["Data;Ora;SUD;NORD;PUN"] + [f"20240315;{h};120,25;1;2" for h in range(1, 25)]
    result, out = _convert(tmp_path, _write(tmp_path, lines), zone="sud")
    assert result.exit_code == 0, result.output
    assert (read_prices(out) == 120.25).all()


def test_spring_dst_day_has_23_hours(tmp_path: Path) -> None:
    day = dt.date(2024, 3, 31)
    result, out = _convert(tmp_path, _write(tmp_path, [HEADER, *_rows(day, 23)]))
    assert result.exit_code == 0, result.output
    prices = read_prices(out)
    assert len(prices) == 23
    assert prices[_at("2024-03-31T01:00:00+01:00")] == pytest.approx(131.02)  # hour 2
    assert prices[_at("2024-03-31T03:00:00+02:00")] == pytest.approx(131.03)  # hour 3: 02:00 does not exist
    assert prices[_at("2024-03-31T23:00:00+02:00")] == pytest.approx(131.23)


def test_autumn_dst_day_has_25_hours_and_two_0200s(tmp_path: Path) -> None:
    day = dt.date(2024, 10, 27)
    result, out = _convert(tmp_path, _write(tmp_path, [HEADER, *_rows(day, 25)]))
    assert result.exit_code == 0, result.output
    prices = read_prices(out)
    assert len(prices) == 25
    assert prices[_at("2024-10-27T02:00:00+02:00")] == pytest.approx(127.03)  # first 02:00 (CEST)
    assert prices[_at("2024-10-27T02:00:00+01:00")] == pytest.approx(127.04)  # second 02:00 (CET)
    assert prices[_at("2024-10-27T23:00:00+01:00")] == pytest.approx(127.25)
    text = out.read_text()
    assert "2024-10-27T02:00:00+02:00" in text and "2024-10-27T02:00:00+01:00" in text


def test_shipped_2023_file(tmp_path: Path) -> None:
    from condivisa.formats.gme_prices import _default_path

    result, out = _convert(tmp_path, _default_path())
    assert result.exit_code == 0, result.output
    prices = read_prices(out)
    assert len(prices) == 8760
    assert prices.index[0] == _at("2023-01-01T00:00:00+01:00")


def _error(tmp_path: Path, lines: list[str], zone: str = "SUD") -> str:
    result, out = _convert(tmp_path, _write(tmp_path, lines), zone=zone)
    assert result.exit_code != 0
    assert not out.exists()
    return " ".join(result.output.split())


NORMAL = _rows(dt.date(2024, 3, 15), 24)


def test_missing_zone_did_you_mean(tmp_path: Path) -> None:
    message = _error(tmp_path, [HEADER, *NORMAL], zone="SUDD")
    assert "line 1" in message and "'SUDD'" in message and "did you mean 'SUD'" in message


def test_decimal_point(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[3] = lines[3].rsplit(";", 1)[0] + ";112.456"
    message = _error(tmp_path, lines)
    assert "line 4" in message and "'SUD'" in message and "decimal point" in message
    assert "use GME's export unchanged" in message


def test_not_a_number(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[5] = lines[5].rsplit(";", 1)[0] + ";n/d"
    message = _error(tmp_path, lines)
    assert "line 6" in message and "'SUD'" in message and "not a number" in message


def test_24_rows_on_the_spring_dst_day(tmp_path: Path) -> None:
    message = _error(tmp_path, [HEADER, *_rows(dt.date(2024, 3, 31), 24)])
    assert "line 2" in message and "'Ora'" in message
    assert "2024-03-31 has 24 rows but 23 hours in Italy" in message


def test_hour_out_of_range(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[24] = lines[24].replace("20240315;24;", "20240315;26;")
    message = _error(tmp_path, lines)
    assert "line 25" in message and "'Ora'" in message and "hour '26' is out of range" in message


def test_hour_25_on_a_24_hour_day(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[24] = lines[24].replace("20240315;24;", "20240315;25;")
    message = _error(tmp_path, lines)
    assert "line 25" in message and "hour 25 is out of range" in message and "24 hours" in message


def test_duplicated_date_hour(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[3] = lines[3].replace("20240315;3;", "20240315;2;")
    message = _error(tmp_path, lines)
    assert "line 4" in message and "'Ora'" in message and "hour 2 is duplicated (first on line 3)" in message


def test_bad_date(tmp_path: Path) -> None:
    lines = [HEADER, *NORMAL]
    lines[1] = lines[1].replace("20240315;", "15/03/2024;", 1)
    message = _error(tmp_path, lines)
    assert "line 2" in message and "'Data'" in message and "YYYYMMDD" in message


def test_unknown_header(tmp_path: Path) -> None:
    message = _error(tmp_path, ["Giorno;Ora;SUD", "20240315;1;100,0"])
    assert "line 1" in message and "unknown header" in message and "Data;Ora;PUN" in message
