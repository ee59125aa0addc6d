"""CSV reading: every bad input is an error naming file, line and value; exact duplicates are dropped and counted."""

import pandas as pd
import pytest

from condivisa.formats.csv_io import (
    InputError,
    read_measurements,
    read_prices,
    write_measurements,
    write_prices,
)

HEAD = "pod,start,withdrawn_kwh,injected_kwh\n"


def _write(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_quarter_hours_with_offsets_into_rome_time(tmp_path):
    p = _write(tmp_path, HEAD + "C1,2024-06-01T00:00:00+02:00,0.5,0\nC1,2024-05-31T22:15:00Z,0.25,0\n")
    m = read_measurements(p)
    assert list(m.columns) == ["pod", "start", "withdrawn_kwh", "injected_kwh"]
    assert str(m["start"].dt.tz) == "Europe/Rome"
    assert m["start"][1] == pd.Timestamp("2024-06-01T00:15:00+02:00")
    assert m.attrs["interval_minutes"] == 15 and m.attrs["duplicates_dropped"] == {}


def test_hourly_file_is_recognised(tmp_path):
    p = _write(tmp_path, HEAD + "C1,2024-06-01T00:00:00+02:00,1,0\nC1,2024-06-01T01:00:00+02:00,1,0\n")
    assert read_measurements(p).attrs["interval_minutes"] == 60


def test_exact_duplicates_dropped_and_counted(tmp_path):
    row = "C1,2024-06-01T00:00:00+02:00,0.5,0\n"
    p = _write(tmp_path, HEAD + row + row + row + "C2,2024-06-01T00:00:00+02:00,0.5,0\n")
    m = read_measurements(p)
    assert len(m) == 2 and m.attrs["duplicates_dropped"] == {"C1": 2}


@pytest.mark.parametrize(
    "body,match",
    [
        (
            "C1,2024-06-01T00:00:00+02:00,0.5,0\nC1,2024-06-01T00:00:00+02:00,0.7,0\n",
            r"m\.csv, lines 2, 3: conflicting rows.*C1",
        ),
        ("C1,2024-06-01T00:00:00+02:00,-0.5,0\n", r"m\.csv, line 2: withdrawn_kwh '-0\.5' is negative"),
        ("C1,2024-06-01T00:00:00+02:00,0.5,abc\n", r"line 2: injected_kwh 'abc' is not a number"),
        ("C1,2024-06-01T00:00:00,0.5,0\n", r"line 2: start '2024-06-01T00:00:00' has no UTC offset"),
        (
            "C1,2024-06-01T00:00:00+02:00,0.5,0\nC1,2024-06-01T00:10:00+02:00,0.5,0\n",
            r"line 3: start '2024-06-01T00:10:00\+02:00' is off the quarter-hour grid",
        ),
        ("C1,yesterday+02:00,0.5,0\n", r"line 2: start 'yesterday\+02:00' is not an ISO 8601"),
        ("C1,2024-06-01T00:00:00+02:00,,0\n", r"line 2: field withdrawn_kwh is empty"),
    ],
)
def test_bad_rows_name_file_line_and_value(tmp_path, body, match):
    with pytest.raises(InputError, match=match):
        read_measurements(_write(tmp_path, HEAD + body))


def test_unknown_pod_and_missing_column(tmp_path):
    p = _write(tmp_path, HEAD + "C1,2024-06-01T00:00:00+02:00,0.5,0\nZZ9,2024-06-01T00:00:00+02:00,0.5,0\n")
    with pytest.raises(InputError, match=r"line 3: pod 'ZZ9' is not a POD of this community"):
        read_measurements(p, known_pods={"C1"})
    q = _write(tmp_path, "pod,start,withdrawn_kwh\nC1,2024-06-01T00:00:00+02:00,1\n", "bad.csv")
    with pytest.raises(InputError, match=r"bad\.csv: missing column\(s\) injected_kwh"):
        read_measurements(q)
    with pytest.raises(InputError, match="no such file"):
        read_measurements(tmp_path / "absent.csv")


def test_prices(tmp_path):
    p = _write(
        tmp_path,
        "start,zonal_price_eur_per_mwh\n2024-06-01T01:00:00+02:00,90\n2024-06-01T00:00:00+02:00,100.5\n",
        "p.csv",
    )
    s = read_prices(p)
    assert s.tolist() == [100.5, 90.0]  # sorted by hour
    off = _write(tmp_path, "start,zonal_price_eur_per_mwh\n2024-06-01T00:15:00+02:00,90\n", "p2.csv")
    with pytest.raises(InputError, match=r"p2\.csv, line 2: .* off the hourly grid"):
        read_prices(off)
    clash = _write(
        tmp_path,
        "start,zonal_price_eur_per_mwh\n2024-06-01T00:00:00+02:00,90\n2024-06-01T00:00:00+02:00,91\n",
        "p3.csv",
    )
    with pytest.raises(InputError, match=r"p3\.csv, lines 2, 3: conflicting"):
        read_prices(clash)


def test_round_trip_across_dst(tmp_path):
    # the autumn DST night: 02:00-03:00 happens twice (+02:00 then +01:00); the offset keeps them apart
    starts = pd.date_range("2024-10-27T00:00:00Z", periods=8, freq="15min").tz_convert("Europe/Rome")
    m = pd.DataFrame(
        {"pod": "C1", "start": starts, "withdrawn_kwh": [0.1 * i for i in range(8)], "injected_kwh": 0.0}
    )
    write_measurements(m, tmp_path / "rt.csv")
    text = (tmp_path / "rt.csv").read_text()
    assert "2024-10-27T02:00:00+02:00" in text and "2024-10-27T02:00:00+01:00" in text
    back = read_measurements(tmp_path / "rt.csv")
    assert back["start"].tolist() == m["start"].tolist()
    assert back["withdrawn_kwh"].tolist() == pytest.approx(m["withdrawn_kwh"].tolist())
    prices = pd.Series(
        [100.0, 101.0],
        index=pd.date_range("2024-10-27T00:00:00Z", periods=2, freq="h").tz_convert("Europe/Rome"),
    )
    write_prices(prices, tmp_path / "p.csv")
    assert read_prices(tmp_path / "p.csv").tolist() == [100.0, 101.0]
