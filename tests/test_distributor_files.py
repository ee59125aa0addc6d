"""e-distribuzione's quarter-hour portal export, read on the real instants its local labels name."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.formats.csv_io import InputError, read_measurements
from condivisa.formats.distributor import (
    LABELS,
    DistributorFileError,
    read_portal_export,
    write_portal_export,
)
from condivisa.kernel.timegrid import ROME, quarter_hours

POD = "IT001E12345678"
HEADER = "Giorno;" + ";".join(LABELS)


def _row(day: str, values: list[str]) -> str:
    return f'"{day}";' + ";".join(f'"{v}"' for v in values)


def _file(tmp_path, *rows: str, header: str = HEADER, name: str = "export.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode(encoding))
    return path


def test_labels_are_the_portal_header():
    assert LABELS[0] == "00:00-00:15" and LABELS[1] == "00:15-00:30" and LABELS[-1] == "23:45-00:00"
    assert len(LABELS) == 96 and LABELS[8] == "02:00-02:15"


def test_an_ordinary_day_lands_on_local_time_not_utc(tmp_path):
    values = [f"0,{q:03d}" for q in range(96)]  # 0,000 0,001 ... 0,095 kWh
    curve = read_portal_export(_file(tmp_path, _row("01/06/2024", values)), POD, "withdrawal")
    f = curve.frame
    assert len(f) == 96 and curve.days == (dt.date(2024, 6, 1),) and curve.missing == 0
    # "00:00-00:15" is local midnight (22:00 UTC the day before), not 00:00 UTC
    assert f["start"].iloc[0] == pd.Timestamp("2024-06-01 00:00", tz=ROME)
    assert f["start"].iloc[0].tz_convert("UTC") == pd.Timestamp("2024-05-31 22:00", tz="UTC")
    assert f["energy_kwh"].iloc[37] == pytest.approx(0.037)  # 09:15-09:30
    assert f["start"].iloc[37] == pd.Timestamp("2024-06-01 09:15", tz=ROME)
    assert (f["flag"] == "").all()


def test_spring_dst_day_drops_the_hour_that_does_not_exist(tmp_path):
    values = ["0,100"] * 96
    values[8:12] = ["", "", "", ""]  # the portal leaves 02:00-03:00 empty on 31 March 2024
    curve = read_portal_export(
        _file(tmp_path, _row("30/03/2024", ["0,100"] * 96), _row("31/03/2024", values)), POD, "injection"
    )
    day = curve.frame[curve.frame["start"].dt.date == dt.date(2024, 3, 31)]
    assert len(day) == 92 and day["energy_kwh"].sum() == pytest.approx(9.2)
    assert pd.Timestamp("2024-03-31 03:00", tz=ROME) in set(day["start"])
    assert curve.missing == 0  # the four empty cells are no quarter hours at all, not missing ones


def test_spring_dst_day_with_values_in_the_missing_hour_is_refused(tmp_path):
    values = ["0,100"] * 96
    values[8:12] = ["0,000", "0,050", "", ""]
    with pytest.raises(
        DistributorFileError, match=r"line 2, column 02:15-02:30: 31/03/2024 has no 02:00-03:00"
    ):
        read_portal_export(_file(tmp_path, _row("31/03/2024", values)), POD, "withdrawal")


def test_autumn_dst_day_splits_each_0200_value_between_the_two_real_quarter_hours(tmp_path):
    values = ["0,100"] * 96
    values[8:12] = ["0,200", "0,220", "0,240", "0,260"]
    curve = read_portal_export(_file(tmp_path, _row("27/10/2024", values)), POD, "withdrawal")
    f = curve.frame
    assert len(f) == 100
    assert f["energy_kwh"].sum() == pytest.approx(92 * 0.1 + 0.92)  # energy kept
    two = f[(f["start"].dt.hour == 2)]
    assert len(two) == 8 and (two["flag"] == "dst_split").all()
    assert two["energy_kwh"].tolist() == pytest.approx([0.1, 0.11, 0.12, 0.13] * 2)
    offsets = {ts.utcoffset() for ts in two["start"]}
    assert offsets == {dt.timedelta(hours=2), dt.timedelta(hours=1)}  # both 02:00s, CEST then CET
    assert curve.notes


def test_autumn_dst_day_with_100_columns_maps_one_to_one(tmp_path):
    header = "Giorno;" + ";".join(LABELS[:12] + LABELS[8:12] + LABELS[12:])
    values = [f"{q},000" for q in range(100)]
    curve = read_portal_export(_file(tmp_path, _row("27/10/2024", values), header=header), POD, "injection")
    f = curve.frame
    assert f["energy_kwh"].tolist() == list(range(100))
    assert f["start"].iloc[8].utcoffset() == dt.timedelta(hours=2)
    assert f["start"].iloc[12].utcoffset() == dt.timedelta(hours=1)
    assert (f["flag"] == "").all()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "0.123",
            r"line 2, column 05:00-05:15: '0.123' has a decimal point.*use the portal's export unchanged",
        ),
        ("-0,1", r"line 2, column 05:00-05:15: '-0,1' is negative"),
        ("n/d", r"line 2, column 05:00-05:15: 'n/d' is not a number"),
        ("20000,0", r"more than any connection can carry.*in Wh\?"),
    ],
)
def test_bad_values_name_file_line_column_and_fix(tmp_path, cell, message):
    values = ["0,100"] * 96
    values[20] = cell
    path = _file(tmp_path, _row("01/06/2024", values))
    with pytest.raises(DistributorFileError, match=message) as err:
        read_portal_export(path, POD, "withdrawal")
    assert str(path) in str(err.value)


def test_thousands_dots_with_a_decimal_comma_are_read(tmp_path):
    values = ["0,100"] * 96
    values[50] = "1.234,5"
    curve = read_portal_export(_file(tmp_path, _row("01/06/2024", values)), POD, "injection")
    assert curve.frame["energy_kwh"].iloc[50] == pytest.approx(1234.5)


def test_empty_values_are_missing_not_zero(tmp_path):
    values = ["0,100"] * 96
    values[0] = ""
    curve = read_portal_export(_file(tmp_path, _row("01/06/2024", values)), POD, "withdrawal")
    assert curve.missing == 1 and len(curve.frame) == 95
    assert curve.frame["start"].iloc[0] == pd.Timestamp("2024-06-01 00:15", tz=ROME)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([_row("01/06/2024", ["0,1"] * 95)], HEADER, r"line 2: 95 values, expected 96"),
        (
            [_row("2024-06-01", ["0,1"] * 96)],
            HEADER,
            r"line 2, column Giorno: '2024-06-01' is not a date dd/mm/yyyy",
        ),
        ([_row("31/06/2024", ["0,1"] * 96)], HEADER, r"'31/06/2024' is not a real date"),
        (
            [_row("01/06/2024", ["0,1"] * 96), _row("01/06/2024", ["0,1"] * 96)],
            HEADER,
            r"line 3, column Giorno: 01/06/2024 already on line 2",
        ),
        ([], "Data;" + ";".join(LABELS), r"line 1: the header must start with 'Giorno'"),
        ([], HEADER.replace("00:15-00:30", "00:15-00:29"), r"line 1, column 3: column label '00:15-00:29'"),
        ([], "Giorno;" + ";".join(LABELS[:48]), r"48 quarter-hour columns, expected 96"),
    ],
)
def test_malformed_files_are_refused_with_where_and_why(tmp_path, rows, header, message):
    with pytest.raises(DistributorFileError, match=message):
        read_portal_export(_file(tmp_path, *rows, header=header), POD, "withdrawal")


def test_bom_trailing_semicolons_and_windows_encoding_are_accepted(tmp_path):
    row = _row("01/06/2024", ["0,100"] * 96) + ";"
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + ";\r\n" + row + "\r\n").encode())
    assert len(read_portal_export(path, POD, "withdrawal").frame) == 96
    latin = _file(tmp_path, _row("01/06/2024", ["0,100"] * 96), name="latin.csv", encoding="cp1252")
    assert len(read_portal_export(latin, POD, "withdrawal").frame) == 96


def test_direction_and_missing_file(tmp_path):
    with pytest.raises(DistributorFileError, match="withdrawal or injection"):
        read_portal_export(tmp_path / "x.csv", POD, "prelievo")
    with pytest.raises(DistributorFileError, match="no such file"):
        read_portal_export(tmp_path / "x.csv", POD, "withdrawal")


def test_a_whole_dst_month_round_trips_through_the_portal_layout(tmp_path):
    index = quarter_hours(dt.date(2024, 10, 1), dt.date(2024, 11, 1))
    rng = np.random.default_rng(3)
    energy = pd.Series(np.round(rng.uniform(0, 0.5, len(index)), 3), index=index)
    write_portal_export(energy, tmp_path / "oct.csv")
    text = (tmp_path / "oct.csv").read_text()
    assert text.startswith('"Giorno";"00:00-00:15"') and '"27/10/2024";' in text
    curve = read_portal_export(tmp_path / "oct.csv", POD, "withdrawal")
    got = curve.frame.set_index("start")["energy_kwh"]
    assert len(got) == len(index) == 31 * 96 + 4
    ordinary = got.index.date != dt.date(2024, 10, 27)
    assert np.allclose(
        got[ordinary].to_numpy(), energy[energy.index.date != dt.date(2024, 10, 27)].to_numpy()
    )
    day = energy.index.date == dt.date(2024, 10, 27)
    assert got[~ordinary].sum() == pytest.approx(energy[day].sum(), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=99_999), min_size=96, max_size=96))
def test_any_values_of_an_ordinary_day_read_back_exactly(tmp_path_factory, milli_kwh):
    tmp = tmp_path_factory.mktemp("p")
    values = [f"{m // 1000},{m % 1000:03d}" for m in milli_kwh]
    curve = read_portal_export(_file(tmp, _row("15/01/2025", values)), POD, "withdrawal")
    assert np.allclose(curve.frame["energy_kwh"].to_numpy(), np.array(milli_kwh) / 1000)


def test_excel_with_the_long_csv_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "pod": [POD, POD],
            "start": ["2024-06-01T00:00:00+02:00", "2024-06-01T00:15:00+02:00"],
            "withdrawn_kwh": ["0.1", "0.2"],
            "injected_kwh": ["0", "0"],
        }
    )
    frame.to_excel(tmp_path / "m.xlsx", index=False)
    got = read_measurements(tmp_path / "m.xlsx")
    assert got["withdrawn_kwh"].tolist() == [0.1, 0.2]
    assert got["start"].iloc[1] == pd.Timestamp("2024-06-01 00:15", tz=ROME)
    frame.loc[1, "start"] = "2024-06-01 00:15:00"  # an Excel date: no time zone
    frame.to_excel(tmp_path / "naive.xlsx", index=False)
    with pytest.raises(
        InputError, match=r"naive.xlsx, line 3: start '2024-06-01 00:15:00' has no UTC offset"
    ):
        read_measurements(tmp_path / "naive.xlsx")
    (tmp_path / "bad.xlsx").write_text("not a workbook")
    with pytest.raises(InputError, match="not a readable Excel"):
        read_measurements(tmp_path / "bad.xlsx")
