"""UrbanDataset format: schema and profile validation with JSON paths, units, time zones, emit and round trip."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import (
    build_dataset,
    build_m1_dataset,
    emit_urbandataset,
    format_value,
)
from condivisa.formats.urbandataset.parse import json_path, parse_urbandataset, validate_schema
from condivisa.formats.urbandataset.types import Reading, UrbanDatasetError

UTC = dt.timezone.utc
JUNE = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Rome (UTC+2)
JAN = dt.datetime(2025, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 in Rome (UTC+1)


def one(start=JUNE, **kw) -> dict:
    r = {
        "du_id": "DU-0001",
        "pod": "IT001E00000001",
        "start": start,
        "withdrawn_kwh": 0.061,
        "injected_kwh": 0.0,
        "withdrawn_total_kwh": 1234.567,
        "injected_total_kwh": 210.004,
    }
    r.update(kw)
    return r


def doc(readings=None, **kw) -> dict:
    return build_m1_dataset(
        readings or [one()], producer_id="DU-maker", timestamp=kw.pop("timestamp", JUNE), **kw
    )


def errors_of(d) -> list[tuple[str, str]]:
    with pytest.raises(UrbanDatasetError) as exc:
        parse_urbandataset(d)
    return [(e.path, e.reason) for e in exc.value.errors]


# ------------------------------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("UTC+1", 60),
        ("UTC+01:00", 60),
        ("+01:00", 60),
        ("UTC", 0),
        ("UTC+2", 120),
        ("+02:00", 120),
        ("UTC+5:30", 330),
        ("UTC-3", -180),
        ("-03:00", -180),
        ("Z", 0),
        ("UTC+0100", 60),
    ],
)
def test_parse_timezone_spellings(text, minutes):
    assert prof.parse_timezone(text).utcoffset(None) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["Europe/Rome", "UTC+25", "+1:60", "CET", "", "1", "UTC+1:5"])
def test_parse_timezone_rejects(text):
    with pytest.raises(ValueError):
        prof.parse_timezone(text)


@pytest.mark.parametrize(
    "minutes, text", [(60, "UTC+1"), (120, "UTC+2"), (0, "UTC"), (330, "UTC+5:30"), (-180, "UTC-3")]
)
def test_format_timezone_template_spelling(minutes, text):
    assert prof.format_timezone(dt.timedelta(minutes=minutes)) == text


def test_emit_uses_rome_offset_utc2_in_summer_utc1_in_winter():
    summer = doc(timestamp=JUNE)["UrbanDataset"]
    assert summer["context"]["timeZone"] == "UTC+2"
    # 08:00 UTC + 2 h = 10:00 local; the quarter ends at 10:15
    assert summer["values"]["line"][0]["period"] == {
        "start_ts": "2025-06-01T10:00:00",
        "end_ts": "2025-06-01T10:15:00",
    }
    winter = doc([one(start=JAN)], timestamp=JAN)["UrbanDataset"]
    assert winter["context"]["timeZone"] == "UTC+1"
    assert winter["values"]["line"][0]["period"]["start_ts"] == "2025-01-15T09:00:00"  # 08:00 UTC + 1 h


@pytest.mark.parametrize("tz", ["UTC+2", "UTC+02:00", "+02:00"])
def test_local_times_read_in_context_timezone(tz):
    d = doc()
    d["UrbanDataset"]["context"]["timeZone"] = tz
    assert parse_urbandataset(d).readings[0].start == JUNE  # 10:00 at +02:00 = 08:00 UTC


def test_utc_timezone():
    d = doc()
    d["UrbanDataset"]["context"]["timeZone"] = "UTC"
    # the same local text 10:00 is now 10:00 UTC
    assert parse_urbandataset(d).readings[0].start == dt.datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- values and units


def test_values_and_fields():
    r = parse_urbandataset(doc()).readings[0]
    assert (r.du_id, r.pod, r.meter) == ("DU-0001", "IT001E00000001", "M1")
    assert (r.withdrawn_kwh, r.injected_kwh, r.withdrawn_total_kwh, r.injected_total_kwh) == (
        0.061,
        0.0,
        1234.567,
        210.004,
    )
    assert r.end - r.start == dt.timedelta(minutes=15)


def test_declared_watt_hours_are_converted_to_kwh():
    d = doc()
    ud = d["UrbanDataset"]
    for pd_ in ud["specification"]["properties"]["propertyDefinition"]:
        if pd_["propertyName"] in ("WithdrawnActiveEnergy", "WithdrawnActiveEnergyReading"):
            pd_["unitOfMeasure"] = "wattHour"
    props = ud["values"]["line"][0]["property"]
    props[2]["val"] = "61"  # WithdrawnActiveEnergy: 61 Wh = 61 / 1000 = 0.061 kWh
    props[3]["val"] = "1234567"  # WithdrawnActiveEnergyReading: 1,234,567 Wh = 1234.567 kWh
    r = parse_urbandataset(d).readings[0]
    assert r.withdrawn_kwh == pytest.approx(0.061) and r.withdrawn_total_kwh == pytest.approx(1234.567)
    assert r.injected_total_kwh == 210.004  # still declared kilowattHour


def test_unit_of_another_quantity_is_an_error():
    d = doc()
    defs = d["UrbanDataset"]["specification"]["properties"]["propertyDefinition"]
    i = next(k for k, p in enumerate(defs) if p["propertyName"] == "FeedInActiveEnergy")
    defs[i]["unitOfMeasure"] = "kilowatt"
    assert errors_of(d) == [
        (
            f"UrbanDataset.specification.properties.propertyDefinition[{i}].unitOfMeasure",
            "unitOfMeasure 'kilowatt' is not a unit of kilowattHour",
        )
    ]


@pytest.mark.parametrize(
    "val, reason",
    [
        ("-0.1", ">= 0"),
        ("0,061", "decimal separator"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("1e400", "finite"),
        ("1_000", "not a number"),
        ("", "not a number"),
    ],
)
def test_bad_numbers_name_the_path(val, reason):
    d = doc(
        [
            one(),
            one(start=JUNE + dt.timedelta(minutes=15)),
            one(start=JUNE + dt.timedelta(minutes=30)),
            one(start=JUNE + dt.timedelta(minutes=45)),
        ]
    )
    d["UrbanDataset"]["values"]["line"][3]["property"][2]["val"] = val
    [(path, why)] = errors_of(d)
    assert path == "UrbanDataset.values.line[3].property[2].val" and reason in why


def test_format_value_round_trips_without_exponent():
    for v in (0.061, 1.0, 0.0, 1e-7, 123456789.123, 0.1 + 0.2):
        s = format_value(v)
        assert "e" not in s and float(s) == v


# ------------------------------------------------------------------------------------------- structure


def test_schema_error_paths():
    assert (
        json_path(["UrbanDataset", "values", "line", 3, "property", 2, "val"])
        == "UrbanDataset.values.line[3].property[2].val"
    )
    d = doc()
    d["UrbanDataset"]["values"]["line"][0]["property"][2]["val"] = 0.061  # a number, not a string
    d["UrbanDataset"]["context"]["colour"] = "red"
    del d["UrbanDataset"]["context"]["timestamp"]
    errs = errors_of(d)
    paths = [p for p, _ in errs]
    assert "UrbanDataset.values.line[0].property[2].val" in paths
    assert ("UrbanDataset.context.colour", "key not allowed by the UrbanDataset schema") in errs
    assert any(p == "UrbanDataset.context" and "timestamp" in r for p, r in errs)


def test_reference_template_is_schema_valid_but_not_the_profile(shared_dir):
    path = (
        shared_dir / "reference" / "urbandataset-example-ElectricMeterReading-2.0-template-TriggerAction.json"
    )
    if not path.exists():
        pytest.skip("shared reference template not present")
    template = json.loads(path.read_text(encoding="utf-8"))
    assert validate_schema(template) == []
    assert errors_of(template) == [
        (
            "UrbanDataset.specification.id.value",
            "'ElectricMeterReading-2.0' is not one of M1ElectricUserDevice-2.0, M2ElectricUserDevice-2.0",
        )
    ]


def test_emitted_documents_are_schema_valid():
    assert validate_schema(doc()) == []
    assert validate_schema(json.loads(json.dumps(doc()))) == []


def test_not_an_object():
    assert errors_of([1, 2])[0][0] == "$"
    assert errors_of("x")[0][0] == "$"


def test_context_note_is_accepted():
    d = doc()
    d["UrbanDataset"]["context"]["note"] = "from the 2024 OpenAPI model"
    assert len(parse_urbandataset(d).readings) == 1


def test_profile_errors():
    d = doc([one(), one(start=JUNE + dt.timedelta(minutes=15))])
    line0, line1 = d["UrbanDataset"]["values"]["line"]
    del line0["period"]
    line1["property"] = [p for p in line1["property"] if p["name"] != "PODID"]
    errs = errors_of(d)
    assert (
        "UrbanDataset.values.line[0].period",
        "missing: every line needs a period (start_ts, end_ts)",
    ) in errs
    assert ("UrbanDataset.values.line[1].property", "missing required property 'PODID'") in errs


def test_period_checks():
    d = doc()
    d["UrbanDataset"]["values"]["line"][0]["period"] = {
        "start_ts": "2025-06-01T10:00:00",
        "end_ts": "2025-06-01T11:00:00",
    }
    assert errors_of(d) == [("UrbanDataset.values.line[0].period", "period is 60 minutes, expected 15")]
    d["UrbanDataset"]["values"]["line"][0]["period"] = {
        "start_ts": "2025-06-01T10:05:00",
        "end_ts": "2025-06-01T10:20:00",
    }
    assert errors_of(d) == [
        (
            "UrbanDataset.values.line[0].period.start_ts",
            "'2025-06-01T10:05:00' is not on the quarter-hour grid",
        )
    ]
    d["UrbanDataset"]["values"]["line"][0]["period"] = {
        "start_ts": "2025-06-01 10:00",
        "end_ts": "2025-06-01T10:15:00",
    }
    assert "YYYY-MM-DDThh:mm:ss" in errors_of(d)[0][1]


def test_duplicate_and_unknown_properties():
    d = doc()
    props = d["UrbanDataset"]["values"]["line"][0]["property"]
    props.append({"name": "TownCode", "val": "092009"})
    props.append({"name": "SomethingNew", "val": "x"})
    parsed = parse_urbandataset(d)
    assert parsed.ignored_properties == ("SomethingNew",)
    props.append({"name": "PODID", "val": "IT001E00000002"})
    assert errors_of(d) == [
        ("UrbanDataset.values.line[0].property[8].name", "property 'PODID' appears twice in the line")
    ]


def test_same_quarter_twice_in_one_message():
    same = doc([one(), one()])
    assert len(parse_urbandataset(same).readings) == 1  # exact repeat: kept once
    clash = doc([one(), one(withdrawn_kwh=0.5)])
    [(path, reason)] = errors_of(clash)
    assert path == "UrbanDataset.values.line[1]" and "already given with other values in line[0]" in reason


def test_m2_production_meter():
    d = build_dataset(
        [
            {
                "du_id": "DU-0100",
                "pod": "IT001E00000100",
                "start": JUNE,
                "injected_kwh": 2.5,
                "injected_total_kwh": 4000.0,
            }
        ],
        producer_id="p",
        profile_id="M2ElectricUserDevice-2.0",
        timestamp=JUNE,
    )
    names = [p["name"] for p in d["UrbanDataset"]["values"]["line"][0]["property"]]
    assert "ProducedActiveEnergy" in names and "FeedInActiveEnergy" not in names
    r = parse_urbandataset(d).readings[0]
    assert (r.meter, r.injected_kwh, r.injected_total_kwh, r.withdrawn_kwh) == ("M2", 2.5, 4000.0, 0.0)


def test_build_is_deterministic_by_default():
    # no timestamp given: context.timestamp = end of the latest quarter (10:15 + 15 min = 10:30 local, UTC+2)
    a = build_m1_dataset([one(), one(start=JUNE + dt.timedelta(minutes=15))], producer_id="p")
    assert a["UrbanDataset"]["context"]["timestamp"] == "2025-06-01T10:30:00"
    assert a == build_m1_dataset([one(), one(start=JUNE + dt.timedelta(minutes=15))], producer_id="p")


def test_build_needs_aware_start():
    with pytest.raises(ValueError, match="aware"):
        build_m1_dataset([one(start=dt.datetime(2025, 6, 1, 10))], producer_id="p")


# ------------------------------------------------------------------------------------------- round trip

pods = st.sampled_from(["IT001E00000001", "IT001E00000002", "IT002E12345678"])
quarters = st.integers(min_value=0, max_value=4 * 24 * 365 * 3).map(
    lambda q: dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=15 * q)
)
kwh = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
offsets = st.sampled_from([0, 60, 120, -180, 330]).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
readings = st.builds(
    Reading,
    pod=pods,
    start=quarters,
    withdrawn_kwh=kwh,
    injected_kwh=kwh,
    du_id=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20),
    withdrawn_total_kwh=st.none() | kwh,
    injected_total_kwh=st.none() | kwh,
    withdrawn_kw=st.none() | kwh,
    meter_id=st.none() | st.text(alphabet="0123456789ABC", min_size=1, max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(readings, min_size=1, max_size=8, unique_by=lambda r: (r.pod, r.start)), offsets)
def test_round_trip_parse_emit_parse(rs, tz):
    first = parse_urbandataset(build_m1_dataset(rs, producer_id="p", timestamp=JUNE, timezone=tz))
    assert first.readings == tuple(rs)  # nothing lost or rounded on the way out
    text = json.dumps(emit_urbandataset(first))
    again = parse_urbandataset(json.loads(text))
    assert again == first
    assert emit_urbandataset(again) == emit_urbandataset(first)


def test_round_trip_of_a_hand_written_document():
    d = doc()
    d["UrbanDataset"]["context"]["timeZone"] = "+02:00"
    d2 = copy.deepcopy(d)
    first = parse_urbandataset(d2)
    assert parse_urbandataset(emit_urbandataset(first)) == first
    assert emit_urbandataset(first)["UrbanDataset"]["context"]["timeZone"] == "UTC+2"


# ------------------------------------------------------------------------------------------- the two
# validators agree

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


def _leaf_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, prefix + (i,))


_DOC = doc([one(), one(start=JUNE + dt.timedelta(minutes=15))])
_PATHS = [p for p in _leaf_paths(_DOC) if p]


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_json, delete=st.booleans())
def test_fast_and_reporting_validators_agree(path, value, delete):
    """The jsonschema-rs fast path lets a document through exactly when jsonschema finds no error."""
    from condivisa.formats.urbandataset import parse as ud

    d = copy.deepcopy(_DOC)
    node = d
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    assert ud._fast_validator().is_valid(d) == (not list(ud._validator().iter_errors(d)))
