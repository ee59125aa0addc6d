"""Readings are bounded by what a meter can read (``condivisa.domain.plausibility``).

Rules under test:

- hard cap at parse time: an energy is a finite number within 0 and 1e6 kWh per quarter hour, whatever the
  POD (UrbanDataset reference and fast parsers, CSV loader): ``1.7e308`` is refused with its reason;
- each POD's bound, contract power × 4/3 (the meter's overload margin) × 0.25 h: a stored quarter hour above
  it stays in the store but is left out of the money, its newest plausible superseded value counting
  instead; the referente sees the readings on the community page; a CSV file with such a line is refused;
- ids in ``community.yaml`` are letters, digits, ``-``, ``_``, ``.``; unknown keys are refused with the
  closest known one.

The attack of issue #13 (finding 6): +2 kWh per quarter hour on one member's DU from 10:00 to 16:00 for a
month raised that member's money and the community's premium. Here the same attack, through the real
ingestion path and store, leaves both exactly as with the honest data.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from condivisa.domain.config import ConfigError, community_from_dict, load_community
from condivisa.domain.plausibility import MAX_ENERGY_KWH_PER_QUARTER_HOUR, METER_OVERLOAD_FACTOR, pod_bounds
from condivisa.formats.csv_io import InputError, read_measurements, write_measurements
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.pipeline import ingest_payload
from condivisa.ingest.tables import ingest_frame
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.sources import inputs_from_files, stored_months
from condivisa.store.checks import above_bounds, interval_minutes
from condivisa.store.store import Store
from conftest import EXAMPLE_COMMUNITY
from test_web import login
from web_helpers import PASSWORD, synthetic_measurements, synthetic_prices

M1_POD = "IT001E00000001"
JUNE = tuple(dt.date(2024, 6, d) for d in range(1, 31))
RECEIVED = dt.datetime(2024, 7, 1, 12, 0, tzinfo=ROME)


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE_COMMUNITY.read_text(encoding="utf-8"))


def _with_contract_power(tmp_path, kw: float | None = 3.0):
    """The example community with m1's POD on a 3 kW contract (a household), as a file and an object."""
    raw = _raw()
    if kw is not None:
        raw["members"][0]["pods"] = [{"pod": M1_POD, "kind": "consumption", "contract_power_kw": kw}]
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path, load_community(path)


def _store(tmp_path, community, name: str) -> Store:
    store = Store(f"sqlite:///{tmp_path / name}")
    store.upgrade()
    store.register_devices(community)
    return store


def _inflated(frame: pd.DataFrame) -> pd.DataFrame:
    """m1's quarter hours from 10:00 to 16:00 with 2 kWh more each: the attack."""
    local = frame["start"].dt.tz_convert(ROME)
    hit = (frame["pod"] == M1_POD) & (local.dt.hour >= 10) & (local.dt.hour < 16)
    out = frame[hit].copy()
    out["withdrawn_kwh"] = out["withdrawn_kwh"] + 2.0
    return out.reset_index(drop=True)


def _send_as_du(store: Store, rows: pd.DataFrame) -> list:
    """``rows`` sent by m1's DU as UrbanDataset messages, one per day, through the ingestion pipeline."""
    results = []
    for _, day in rows.groupby(rows["start"].dt.tz_convert(ROME).dt.date):
        readings = [
            {
                "du_id": "DU-0001",
                "pod": M1_POD,
                "start": r.start.to_pydatetime(),
                "withdrawn_kwh": r.withdrawn_kwh,
                "injected_kwh": r.injected_kwh,
            }
            for r in day.itertuples()
        ]
        raw = json.dumps(build_m1_dataset(readings, producer_id="DU-0001")).encode()
        results.append(
            ingest_payload(store, raw, source="mqtt:test", device_id="DU-0001", received_at=RECEIVED)
        )
    return results


def _money(store: Store, community, prices_csv) -> tuple[float, float, list]:
    book = stored_months(store, community, prices_csv, as_of=dt.date(2024, 7, 1))
    month = book.month("2024-06")
    return (
        month.statement("m1").money.total_eur,
        month.totals["premium_eur"],
        book.excluded_readings("2024-06"),
    )


@pytest.fixture(scope="module")
def june(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("june")
    community = load_community(EXAMPLE_COMMUNITY)
    frame = synthetic_measurements(community, JUNE)
    prices = tmp / "prices.csv"
    from condivisa.formats.csv_io import write_prices

    write_prices(synthetic_prices(JUNE), prices)
    return tmp, frame, prices


def test_the_attack_pays_without_a_contract_power(june, tmp_path):
    """The attack reproduced: without a contract power (only the 100 kW connection bound) it pays."""
    _, frame, prices = june
    path, community = _with_contract_power(tmp_path, kw=None)
    store = _store(tmp_path, community, "open.db")
    ingest_frame(store, frame, source="test")
    honest_m1, honest_premium, _ = _money(store, community, prices)
    assert all(r.accepted for r in _send_as_du(store, _inflated(frame)))
    m1, premium, excluded = _money(store, community, prices)
    assert m1 > honest_m1 + 1.0 and premium > honest_premium + 1.0 and excluded == []


def test_inflated_revisions_leave_the_money_unchanged(june, tmp_path):
    """Honest data stored, then the DU revises m1's 10:00-16:00 with +2 kWh each: the member's money and the
    premium are those of the honest data, to the cent; the referente sees every excluded reading."""
    _, frame, prices = june
    path, community = _with_contract_power(tmp_path)
    store = _store(tmp_path, community, "bounded.db")
    ingest_frame(store, frame, source="test")
    honest_m1, honest_premium, none = _money(store, community, prices)
    assert none == []
    attack = _inflated(frame)
    results = _send_as_du(store, attack)
    assert all(r.accepted for r in results) and sum(r.revised for r in results) == len(attack) == 30 * 24
    m1, premium, excluded = _money(store, community, prices)
    assert (m1, premium) == (honest_m1, honest_premium)
    bound = 3.0 * METER_OVERLOAD_FACTOR * 0.25
    assert excluded == [
        {
            "pod": M1_POD,
            "member_id": "m1",
            "count": 720,
            "replaced": 720,
            "max_kwh": pytest.approx(attack["withdrawn_kwh"].max()),
            "bound_kwh": pytest.approx(bound),
            "basis": "contract_power_kw 3 kW",
            "first": pd.Timestamp("2024-06-01 10:00", tz=ROME),
            "last": pd.Timestamp("2024-06-30 15:45", tz=ROME),
        }
    ]
    # the stored values are the attacker's (kept for the referente): only the money leaves them out
    stored = store.measurements(M1_POD, "2024-06-01T10:00+02:00", "2024-06-01T10:15+02:00")
    assert stored["withdrawn_kwh"].iloc[0] > bound


def test_inflated_from_the_start_is_left_out_and_shown_to_the_referente(june, tmp_path):
    """A fresh store where the DU sends the inflated series first: those quarter hours are missing for the
    money (never more money than honest data), and the community page says so."""
    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings

    _, frame, prices = june
    path, community = _with_contract_power(tmp_path)
    honest_store = _store(tmp_path, community, "honest.db")
    ingest_frame(honest_store, frame, source="test")
    honest_m1, honest_premium, _ = _money(honest_store, community, prices)

    store = _store(tmp_path, community, "attacked.db")
    attack = _inflated(frame)
    _send_as_du(store, attack)
    key = frame[["pod", "start"]].apply(tuple, axis=1)
    hit = set(attack[["pod", "start"]].apply(tuple, axis=1))
    ingest_frame(store, frame[~key.isin(hit)].reset_index(drop=True), source="test")
    m1, premium, excluded = _money(store, community, prices)
    assert m1 < honest_m1 and premium < honest_premium
    assert excluded[0]["count"] == 720 and excluded[0]["replaced"] == 0

    settings_ = load_settings(
        database_url=store.url,
        community_file=str(path),
        prices_file=str(prices),
        allowed_hosts=["testserver"],
    )
    app = create_app(settings_, store=store, community=community)
    app.state.auth.create_user("ref", PASSWORD, "referente")
    c = TestClient(app)
    assert login(c, "ref").status_code == 303
    html = c.get("/community?month=2024-06&lang=it").text
    assert 'data-testid="implausible-count">720<' in html
    assert f"720 letture oltre la potenza impegnata di POD {M1_POD}, escluse dal riparto" in html
    en = c.get("/community?month=2024-06&lang=en").text
    assert f"720 readings above the contract power of POD {M1_POD}, left out of the allocation" in en


def test_a_csv_file_above_the_bound_is_refused_with_its_line(june, tmp_path):
    _, frame, prices = june
    path, community = _with_contract_power(tmp_path)
    csv = tmp_path / "m.csv"
    bad = pd.concat([frame[frame["pod"] != M1_POD], _inflated(frame).iloc[:1]], ignore_index=True)
    write_measurements(bad, csv)
    with pytest.raises(
        InputError,
        match=r"line \d+: withdrawn_kwh 2\.\d+ is above what POD IT001E00000001 can "
        r"read in 15 minutes \(1\.000 kWh, contract_power_kw 3 kW\)",
    ):
        inputs_from_files(path, csv, prices)


@pytest.mark.parametrize("text", ["1.7e308", "1e7"])
def test_absurd_energy_refused_with_a_reason(store, text):
    doc = build_m1_dataset(
        [
            {
                "du_id": "DU-0001",
                "pod": M1_POD,
                "start": dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC),
                "withdrawn_kwh": 0.1,
                "injected_kwh": 0.0,
            }
        ],
        producer_id="DU-0001",
    )
    line = doc["UrbanDataset"]["values"]["line"][0]
    next(p for p in line["property"] if p["name"] == "WithdrawnActiveEnergy")["val"] = text
    r = ingest_payload(store, json.dumps(doc).encode(), source="test", received_at=RECEIVED)
    assert not r.accepted and r.dead_letter_id is not None
    assert [x.reason for x in r.rejected] == [
        f"WithdrawnActiveEnergy: '{text}' is above 1e+06 kilowattHour, more than any meter can read"
    ]
    assert store.counts()["measurements"] == 0


@pytest.mark.parametrize("text", ["1.7e308", "inf", "nan", "-0.5", "4000001"])
def test_csv_refuses_non_finite_negative_and_absurd(tmp_path, text):
    csv = tmp_path / "m.csv"
    csv.write_text(f"pod,start,withdrawn_kwh,injected_kwh\n{M1_POD},2024-06-01T00:00:00+02:00,{text},0\n")
    with pytest.raises(InputError, match="line 2: withdrawn_kwh"):
        read_measurements(csv)


def test_a_wh_unit_is_capped_after_conversion(store):
    """1e9 Wh is 1e6 kWh (the cap itself, accepted); 1.1e9 Wh is above it."""
    for value, ok in (("1000000000", True), ("1100000000", False)):
        doc = build_m1_dataset(
            [
                {
                    "du_id": "DU-0001",
                    "pod": M1_POD,
                    "start": dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC),
                    "withdrawn_kwh": 0.1,
                    "injected_kwh": 0.0,
                }
            ],
            producer_id="DU-0001",
        )
        for d in doc["UrbanDataset"]["specification"]["properties"]["propertyDefinition"]:
            if d["propertyName"] == "WithdrawnActiveEnergy":
                d["unitOfMeasure"] = "wattHour"
        line = doc["UrbanDataset"]["values"]["line"][0]
        next(p for p in line["property"] if p["name"] == "WithdrawnActiveEnergy")["val"] = value
        r = ingest_payload(store, json.dumps(doc).encode(), source="test", received_at=RECEIVED)
        assert r.accepted is ok, r.rejected


# ---------------------------------------------------------------------------------------------- invariants


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kw=st.floats(0.5, 200.0),
    values=st.lists(st.floats(0.0, 1e7, allow_nan=False), min_size=1, max_size=40),
    first=st.sampled_from(["2024-06-01 00:00", "2024-06-01 00:15", "2024-03-31 01:45"]),
)
def test_no_kept_reading_exceeds_its_bound(kw, values, first):
    """Whatever the contract power and the readings, every reading the money keeps is within its bound, and
    every reading left out is above it (nothing plausible is dropped)."""
    raw = _raw()
    raw["members"][0]["pods"] = [{"pod": M1_POD, "kind": "consumption", "contract_power_kw": kw}]
    community = community_from_dict(raw)
    bounds = pod_bounds(community)
    starts = pd.date_range(first, periods=len(values), freq="15min", tz=ROME)
    frame = pd.DataFrame({"pod": M1_POD, "start": starts, "withdrawn_kwh": values, "injected_kwh": 0.0})
    mask, rows = above_bounds(frame, bounds)
    minutes = interval_minutes(frame)  # as the settlement reads the table: all on the hour = hourly
    limit = bounds[M1_POD].max_kwh("withdrawn", minutes)
    assert limit == pytest.approx(kw * METER_OVERLOAD_FACTOR * minutes / 60)
    assert (frame.loc[~mask, "withdrawn_kwh"] <= limit + 1e-9).all()
    assert (frame.loc[mask, "withdrawn_kwh"] > limit).all() and len(rows) == int(mask.sum())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(0.0, 1e300, allow_nan=False, allow_infinity=False), min_size=1, max_size=8))
def test_no_accepted_reading_exceeds_the_hard_cap(values):
    """The UrbanDataset parser (fast and reference paths) accepts a message only when every energy is within
    the hard cap, and then keeps the values as sent."""
    from condivisa.formats.urbandataset.parse import parse_urbandataset
    from condivisa.formats.urbandataset.types import UrbanDatasetError

    t0 = dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC)
    doc = build_m1_dataset(
        [
            {
                "du_id": "DU-0001",
                "pod": M1_POD,
                "start": t0 + dt.timedelta(minutes=15 * i),
                "withdrawn_kwh": 0.0,
                "injected_kwh": 0.0,
            }
            for i in range(len(values))
        ],
        producer_id="DU-0001",
    )
    for line, v in zip(doc["UrbanDataset"]["values"]["line"], values):
        next(p for p in line["property"] if p["name"] == "WithdrawnActiveEnergy")["val"] = repr(v)
    try:
        parsed = parse_urbandataset(doc)
    except UrbanDatasetError as exc:
        assert max(values) > MAX_ENERGY_KWH_PER_QUARTER_HOUR
        assert all("more than any meter can read" in e.reason for e in exc.errors)
        return
    got = np.array([r.withdrawn_kwh for r in parsed.readings])
    assert max(values) <= MAX_ENERGY_KWH_PER_QUARTER_HOUR and np.array_equal(got, np.array(values))


# ---------------------------------------------------------------------------------------------- community.yaml


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["members"][0].update(id="m1/evil"), r"members\[0\]\.id: 'm1/evil' is not a valid id"),
        (lambda r: r["members"][1].update(id="due soci"), r"members\[1\]\.id: 'due soci' is not a valid id"),
        (
            lambda r: r["members"][0].update(pods=[{"pod": "IT001/E1"}]),
            r"members\[0\]\.pods\[0\]\.pod: 'IT001/E1'",
        ),
        (lambda r: r["devices"][0].update(id="DU 1"), r"devices\[0\]\.id: 'DU 1' is not a valid id"),
        (lambda r: r["plants"][0].update(id="../pv"), r"plants\[0\]\.id: '../pv' is not a valid id"),
    ],
)
def test_ids_are_validated_at_load(tmp_path, edit, message):
    raw = _raw()
    edit(raw)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_community(path)
    assert str(path) in str(info.value) and "letters, digits, '-', '_' and '.'" in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["members"][0]["pods"][0].update(contract_power=3),
            r"members\[0\]\.pods\[0\]\.contract_power: unknown key \(did you mean contract_power_kw\?\)",
        ),
        (
            lambda r: r.update(reading={"default_contract_power_kw": 6}),
            r"reading: unknown key \(did you mean readings\?\)",
        ),
        (
            lambda r: r["members"][0]["pods"][0].update(contract_power_kw=0),
            r"contract_power_kw: must be a number > 0",
        ),
        (
            lambda r: r["members"][0]["pods"][0].update(contract_power_kw=float("inf")),
            r"contract_power_kw: must be a number > 0",
        ),
        (
            lambda r: r["rules"]["premium"].update(consumer=0.75),
            r"rules\.premium\.consumer: unknown key \(did you mean consumers\?\)",
        ),
    ],
)
def test_unknown_keys_and_bad_powers_are_refused(edit, message):
    raw = _raw()
    edit(raw)
    with pytest.raises(ConfigError, match=message):
        community_from_dict(raw)


def test_default_contract_power_and_plant_bounds():
    raw = _raw()
    raw["readings"] = {"default_contract_power_kw": 6}
    raw["plants"][0]["injection_limit_kw"] = 15
    b = pod_bounds(community_from_dict(raw))
    assert b["IT001E00000002"].max_kwh("withdrawn") == pytest.approx(2.0)  # 6 kW · 4/3 · 0.25 h
    assert b["IT001E00000002"].withdrawn_basis == "default_contract_power_kw 6 kW"
    assert b["IT001E00000100"].max_kwh("injected") == pytest.approx(15 * 1.1 * 0.25)
    assert b["IT001E00000101"].max_kwh("injected") == pytest.approx(250 * 1.1 * 0.25)
    assert b["IT001E00000101"].max_kwh("injected", 60) == pytest.approx(250 * 1.1)
    # without any contract power: the connection's maximum (BT 100 kW, MT 10 MW)
    plain = pod_bounds(load_community(EXAMPLE_COMMUNITY))
    assert plain["IT001E00000001"].max_kwh("withdrawn") == pytest.approx(100 * 4 / 3 * 0.25)
