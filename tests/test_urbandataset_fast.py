"""The parser's fast path (``_fast_lines``) against the reference line parser: on any document, the fast path
either declines (``None``) or returns exactly the readings the reference returns."""

from __future__ import annotations

import copy
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.formats.urbandataset import parse as ud
from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.formats.urbandataset.fast import fast_lines

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def base_document(n: int) -> dict:
    readings = [
        {
            "du_id": f"DU-{i % 3:04d}",
            "pod": f"IT001E0000000{i % 3}",
            "start": T0 + dt.timedelta(minutes=15 * (i // 3)),
            "withdrawn_kwh": 0.25 * i,
            "injected_kwh": 0.0,
            "withdrawn_total_kwh": 1000 + i,
            "injected_total_kwh": 5.0,
        }
        for i in range(n)
    ]
    return build_m1_dataset(readings, producer_id="maker", timestamp=T0 + dt.timedelta(days=1))


#: (line index, property index or None for the period, what to do)
edits = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.one_of(st.none(), st.integers(0, 7)),
        st.sampled_from(
            [
                "1,5",
                " 0.5",
                "0.5 ",
                "-1",
                "-0.0",
                "1e999",
                "nan",
                "inf",
                "1e3",
                ".5",
                "5.",
                "+2",
                "٣",
                "",
                " ",
                "DU\x00",
                "x" * 70,
                "drop",
                "dup",
                "rename",
                "noval",
                "2025-06-01T08:07:00",
                "2025-06-01T08:00:00",
                "2025-13-01T08:00:00",
                7,
            ]
        ),
    ),
    max_size=4,
)


def reference(doc: dict) -> list | str:
    """The slow path's readings, or 'error' when it rejects the document."""
    spec, ctx, lines = (
        doc["UrbanDataset"]["specification"],
        doc["UrbanDataset"]["context"],
        doc["UrbanDataset"]["values"]["line"],
    )
    profile = prof.PROFILES[spec["id"]["value"]]
    tz = prof.parse_timezone(ctx["timeZone"])
    errors, ignored, out, where = [], set(), [], {}
    factors = ud._unit_factors(spec, profile, "", errors)
    for i, line in enumerate(lines):
        r = ud._parse_line(line, i, f"l[{i}]", profile, tz, factors, errors, ignored)
        if r is None:
            continue
        key = (r.pod, r.start)
        if key in where:
            if out[where[key]] != r:
                errors.append("dup")
            continue
        where[key] = len(out)
        out.append(r)
    return "error" if errors else out


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 6), changes=edits)
def test_fast_path_agrees_with_the_reference(n, changes):
    doc = base_document(n)
    lines = doc["UrbanDataset"]["values"]["line"]
    for li, pi, what in changes:
        line = lines[li % len(lines)]
        if pi is None:
            if isinstance(what, str) and what.startswith("2025") and "period" in line:
                line["period"]["start_ts"] = what
            elif what == "drop":
                line.pop("period", None)
            continue
        props = line["property"]
        item = props[pi % len(props)]
        if what == "drop":
            props.remove(item)
        elif what == "dup":
            props.append(copy.deepcopy(item))
        elif what == "rename":
            item["name"] = "SomethingElse"
        elif what == "noval":
            item.pop("val", None)
        else:
            item["val"] = what
    if ud.validate_schema(doc):
        return  # refused by the schema: neither path ever sees it
    ud_profile = prof.PROFILES[doc["UrbanDataset"]["specification"]["id"]["value"]]
    tz = prof.parse_timezone(doc["UrbanDataset"]["context"]["timeZone"])
    fast = fast_lines(lines, ud_profile, tz, {})
    ref = reference(doc)
    if fast is not None:
        assert ref != "error" and fast == ref
        assert [r.line for r in fast] == [r.line for r in ref]


def test_fast_path_takes_the_plain_case():
    doc = base_document(6)
    profile = prof.PROFILES[doc["UrbanDataset"]["specification"]["id"]["value"]]
    tz = prof.parse_timezone(doc["UrbanDataset"]["context"]["timeZone"])
    fast = fast_lines(doc["UrbanDataset"]["values"]["line"], profile, tz, {})
    assert fast is not None and fast == reference(doc) and fast[5].withdrawn_kwh == 1.25
    assert hash(fast[0]) == hash(reference(doc)[0])
    assert ud.parse_urbandataset(doc).readings == tuple(fast)


def test_a_reading_without_du_is_emitted_without_user_device_id():
    """A stored row with no DU (imported from CSV) has no UserDeviceID in the document, not the text "None"."""
    doc = build_m1_dataset(
        [{"pod": "IT001E00000001", "start": T0, "withdrawn_kwh": 0.25, "injected_kwh": 0.0}],
        producer_id="maker",
    )
    names = [p["name"] for p in doc["UrbanDataset"]["values"]["line"][0]["property"]]
    assert "UserDeviceID" not in names and "PODID" in names
