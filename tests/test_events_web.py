"""Demand-response events on the dashboard (issue #19, item 3): the referente creates one with the form
(anti-CSRF token) and it is sent over MQTT through the app's worker; an overlapping window is refused in the
page (400); a member reaches neither the page nor the form; after the day is settled the page shows the
figures of the dashboard's own settlement (the bonus equal to ``result.allocation.flexibility_bonus`` of the
month, to the cent); a member's panel shows only their own figures; a referente of another community can
neither see nor cancel the event."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import time_machine
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import load_settings
from condivisa.domain.config import load_community
from condivisa.formats.csv_io import write_prices
from condivisa.ingest.tables import ingest_frame
from condivisa.kernel.money import to_euros
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.sources import stored_months
from condivisa.store import flex_events
from condivisa.store.store import Store
from conftest import EXAMPLE_COMMUNITY
from test_tenancy import build_two
from test_web import form_token, login
from web_helpers import PASSWORD, USERS, synthetic_measurements, synthetic_prices

UTC = dt.timezone.utc
#: five weeks of flat days before the event (the baseline's similar days) and two after
DAYS = tuple(dt.date(2024, 4, 29) + dt.timedelta(days=k) for k in range(38))  # .. 2024-06-05
EVENT_DAY = dt.date(2024, 6, 4)  # a Tuesday
BEFORE = dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC)  # the referente creates the event
AFTER = dt.datetime(2024, 6, 10, 12, 0, tzinfo=UTC)  # the day is settled
M1_POD = "IT001E00000001"
EXTRA_KWH = 0.5  # m1's extra consumption in each quarter hour of the window


class FakeWorker:
    """The app's MQTT worker, as far as the page uses it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str | None]] = []

    def send_command(self, du_id: str, command: dict, kind: str = "du", community: str | None = None) -> None:
        self.sent.append((du_id, command, community))


@dataclass
class World:
    app: object
    store: Store
    community: object
    prices_file: Path
    worker: FakeWorker
    created: dict = field(default_factory=dict)


def measurements(community) -> pd.DataFrame:
    """The synthetic days; on the event day m1 consumes ``EXTRA_KWH`` more in each quarter hour of 11–14."""
    frame = synthetic_measurements(community, DAYS)
    local = pd.DatetimeIndex(frame["start"]).tz_convert(ROME)
    window = (frame["pod"] == M1_POD) & (local.date == EVENT_DAY) & (local.hour >= 11) & (local.hour < 14)
    frame.loc[window, "withdrawn_kwh"] += EXTRA_KWH
    return frame


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("events")
    text = EXAMPLE_COMMUNITY.read_text(encoding="utf-8")
    text = text.replace(
        "  enterprise_cap: true\n", "  enterprise_cap: true\n  flexibility_bonus: {share: 0.5}\n"
    )
    path = tmp / "community.yaml"
    path.write_text(text, encoding="utf-8")
    community = load_community(path)
    assert community.rules.flexibility_bonus_share == 0.5
    url = f"sqlite:///{tmp / 'condivisa.db'}"
    store = Store(url)
    store.upgrade()
    store.register_devices(community)
    ingest_frame(store, measurements(community), source="test")
    write_prices(synthetic_prices(DAYS), tmp / "prices.csv")
    settings = load_settings(
        database_url=url,
        community_file=str(path),
        prices_file=str(tmp / "prices.csv"),
        allowed_hosts=["testserver"],
    )
    worker = FakeWorker()
    app = create_app(settings, store=store, community=community, mqtt_worker=worker)
    for username, (role, member) in USERS.items():
        app.state.auth.create_user(username, PASSWORD, role, member)
    w = World(app, store, community, tmp / "prices.csv", worker)
    with time_machine.travel(BEFORE, tick=False):
        c = client(w, "ref")
        page = c.get("/community/events")
        assert page.status_code == 200, page.text
        r = c.post(
            "/community/events",
            data={
                "csrf_token": form_token(page.text),
                "day": EVENT_DAY.isoformat(),
                "start": "11:00",
                "end": "14:00",
                "target_kw": "5",
                "invite": "some",
                "member": ["m1", "m2"],
                "note": "",
            },
            follow_redirects=False,
        )
        w.created = {"status": r.status_code, "location": r.headers.get("location", "")}
    yield w
    store.close()


def client(w: World, user: str | None = None, lang: str = "it") -> TestClient:
    c = TestClient(w.app, headers={"accept-language": lang})
    if user:
        r = login(c, user)
        assert r.status_code == 303, r.text
    return c


EVENT_ID = f"ev-{EVENT_DAY:%Y%m%d}-1100"


# ------------------------------------------------------------------------------------------ the form
def test_the_form_creates_the_event_and_sends_it_over_mqtt(world):
    assert world.created["status"] == 303
    assert f"created={EVENT_ID}" in world.created["location"] and "sent=2" in world.created["location"]
    record = flex_events.get_event(world.store.engine, EVENT_ID)
    assert record.members == ["m1", "m2"] and record.target_kw == 5.0 and record.created_by == "ref"
    assert record.starts_at == dt.datetime(2024, 6, 4, 9, 0, tzinfo=UTC)  # 11:00 in Rome (CEST)
    assert record.sent_at is not None and all(i.sent_at is not None for i in record.invitations)
    # the documented `event` command, on each invited DU's topic
    assert sorted(du for du, _, _ in world.worker.sent) == ["DU-0001", "DU-0002"]
    command = world.worker.sent[0][1]
    assert command["cmd"] == "event" and command["id"] == EVENT_ID
    assert command["from"] == "2024-06-04T11:00:00+02:00" and command["to"] == "2024-06-04T14:00:00+02:00"
    assert command["target_kw"] == 5.0 and "11:00" in command["text"]["it"]
    with time_machine.travel(BEFORE, tick=False):
        c = client(world, "ref")
        page = c.get(world.created["location"])
        assert page.status_code == 200
        assert 'data-testid="event-created"' in page.text and "Inviato a 2 dispositivi" in page.text
        row = re.search(rf'<tr data-event="{EVENT_ID}" data-settled="false">.*?</tr>', page.text, re.S)
        assert row and "in programma" in row.group(0) and "0 accettato" in row.group(0)
        assert 'data-testid="event-cancel"' in row.group(0)
        # the community page links to it
        assert 'href="/community/events"' in c.get("/community").text


def test_an_overlapping_window_is_refused_in_the_page(world):
    with time_machine.travel(BEFORE, tick=False):
        c = client(world, "ref", lang="en")
        token = form_token(c.get("/community/events").text)
        before = len(
            flex_events.list_events(
                world.store.engine, world.app.state.tenants.pinned_slug, include_cancelled=True
            )
        )
        r = c.post(
            "/community/events",
            data={"csrf_token": token, "day": EVENT_DAY.isoformat(), "start": "13:00", "end": "15:00",
                  "invite": "all"},
        )  # fmt: skip
        assert r.status_code == 400
        assert (
            'data-testid="event-error"' in r.text
            and f"overlaps event {EVENT_ID!r}".replace("'", "&#39;") in r.text
        )
        assert 'value="13:00" ' not in r.text and "<option selected>13:00</option>" in r.text  # the form kept
        for bad, why in (
            ({"start": "13:10", "end": "14:00"}, "quarter-hour"),
            ({"start": "15:00", "end": "14:00"}, "must end after it starts"),
            ({"day": "2024-06-02"}, "already begun"),
            ({"day": "yesterday"}, "is not a day"),
            ({"invite": "some"}, "invite at least one member"),
            ({"target_kwh": "lots"}, "is not a number"),
            ({"target_kw": "inf"}, "is not a number"),
            ({"target_kw": "-2"}, "target_kw must be > 0"),
            ({"invite": "some", "member": ["m9"]}, "not members of"),
        ):
            data = {
                "csrf_token": token,
                "day": "2024-06-06",
                "start": "11:00",
                "end": "12:00",
                "invite": "all",
            }
            r = c.post("/community/events", data={**data, **bad})
            assert r.status_code == 400 and why in html.unescape(r.text), (bad, r.text[-2000:])
        after = len(
            flex_events.list_events(
                world.store.engine, world.app.state.tenants.pinned_slug, include_cancelled=True
            )
        )
        assert after == before


def test_the_form_needs_its_csrf_token(world):
    with time_machine.travel(BEFORE, tick=False):
        c = client(world, "ref")
        data = {"day": "2024-06-06", "start": "11:00", "end": "12:00", "invite": "all"}
        assert c.post("/community/events", data=data).status_code == 403
        assert c.post("/community/events", data={**data, "csrf_token": "0" * 64}).status_code == 403
        assert c.post("/community/events/cancel", data={"event_id": EVENT_ID}).status_code == 403
    assert flex_events.get_event(world.store.engine, EVENT_ID).cancelled_at is None


def test_a_member_cannot_reach_the_referente_page(world):
    with time_machine.travel(BEFORE, tick=False):
        c = client(world, "rossi")
        assert c.get("/community/events").status_code == 404
        token = form_token(c.get("/members/m1").text)  # the member's own session token
        data = {"csrf_token": token, "day": "2024-06-06", "start": "11:00", "end": "12:00", "invite": "all"}
        assert c.post("/community/events", data=data).status_code == 404
        assert (
            c.post("/community/events/cancel", data={"csrf_token": token, "event_id": EVENT_ID}).status_code
            == 404
        )
        assert TestClient(world.app).get("/community/events", follow_redirects=False).status_code == 303
    assert flex_events.get_event(world.store.engine, EVENT_ID).cancelled_at is None
    assert not [
        r
        for r in flex_events.list_events(world.store.engine, world.app.state.tenants.pinned_slug)
        if r.id.startswith("ev-20240606")
    ]


def test_cancel_an_event_ahead_not_one_over(world):
    with time_machine.travel(BEFORE, tick=False):
        c = client(world, "ref")
        token = form_token(c.get("/community/events").text)
        r = c.post(
            "/community/events",
            data={
                "csrf_token": token,
                "day": "2024-07-01",
                "start": "12:00",
                "end": "13:00",
                "invite": "all",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = c.post("/community/events/cancel", data={"csrf_token": token, "event_id": "ev-20240701-1200"},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303 and "cancelled=ev-20240701-1200" in r.headers["location"]
        assert flex_events.get_event(world.store.engine, "ev-20240701-1200").cancelled_at is not None
        page = c.get(r.headers["location"])
        assert 'data-testid="event-cancelled"' in page.text and "annullato" in page.text
        absent = c.post("/community/events/cancel", data={"csrf_token": token, "event_id": "ev-nope"})
        assert absent.status_code == 400 and "no event" in absent.text
    with time_machine.travel(AFTER, tick=False):
        c = client(world, "ref")
        token = form_token(c.get("/community/events").text)
        over = c.post("/community/events/cancel", data={"csrf_token": token, "event_id": EVENT_ID})
        assert over.status_code == 400 and "si è già svolto" in over.text
    assert flex_events.get_event(world.store.engine, EVENT_ID).cancelled_at is None


# ------------------------------------------------------------------------------------- the settled figures
def june_result(world):
    book = stored_months(world.store, world.community, world.prices_file, as_of=AFTER.date())
    return book.month("2024-06").result


def test_a_settled_event_shows_the_settlements_figures(world):
    result = june_result(world)
    figures = next(e for e in result.flexibility.events if e.event_id == EVENT_ID)
    bonus = result.allocation.flexibility_bonus
    assert figures.shifted_kwh["m1"] > 4.0 and bonus.get("m1", 0) > 0  # the data make a real response
    with time_machine.travel(AFTER, tick=False):
        page = client(world, "ref").get("/community/events")
    row = re.search(rf'<tr data-event="{EVENT_ID}" data-settled="true">.*?</tr>', page.text, re.S)
    assert row, page.text[-3000:]
    cells = row.group(0)
    for member, cents in bonus.items():
        shown = re.search(rf'data-bonus="{member}">{member}: ([^ <]+) €', cells).group(1)
        assert shown == fmt_number(to_euros(cents), "it", 2)
    assert "m1" in bonus
    shifted = re.search(r'data-shifted="m1">m1: ([^ <]+) kWh', cells).group(1)
    assert shifted == fmt_number(round(figures.shifted_kwh["m1"], 3), "it", 3)
    extra = re.search(r'data-key="extra_premium_eur">([^<]+)<', cells).group(1)
    assert extra == fmt_number(round(figures.extra_premium_eur, 2), "it", 2)
    assert re.search(r'data-key="extra_shared_kwh">([^<]+)<', cells).group(1) == fmt_number(
        round(figures.extra_shared_kwh, 3), "it", 3
    )
    assert "0 accettato" in cells and "2 nessuna risposta" in cells
    assert ">liquidato<" in cells and 'data-testid="event-cancel"' not in cells  # over: no cancel button


def test_a_members_panel_shows_their_own_figures_only(world):
    result = june_result(world)
    figures = next(e for e in result.flexibility.events if e.event_id == EVENT_ID)
    bonus = result.allocation.flexibility_bonus
    m1_shifted = fmt_number(round(figures.shifted_kwh["m1"], 3), "it", 3)
    m1_bonus = fmt_number(to_euros(bonus["m1"]), "it", 2)
    with time_machine.travel(AFTER, tick=False):
        own = client(world, "rossi").get("/members/m1")
        other = client(world, "bianchi").get("/members/m2")
    assert own.status_code == 200 and other.status_code == 200
    panel = re.search(r'<section class="card" data-testid="my-events">.*?</section>', own.text, re.S).group(0)
    assert f"hai spostato {m1_shifted} kWh" in panel and f"{m1_bonus} €" in panel
    theirs = re.search(
        r'<section class="card" data-testid="my-events">.*?</section>', other.text, re.S
    ).group(0)
    m2_shifted = fmt_number(round(figures.shifted_kwh.get("m2", 0.0), 3), "it", 3)
    assert f"hai spostato {m2_shifted} kWh" in theirs
    assert m1_shifted not in other.text and str(round(figures.shifted_kwh["m1"], 3)) not in other.text
    assert m1_bonus not in theirs and "Famiglia Rossi" not in other.text
    # before the event: the invitation's sentence
    with time_machine.travel(BEFORE, tick=False):
        ahead = client(world, "rossi").get("/members/m1")
    assert 'data-upcoming="true"' in ahead.text and "tra le 11:00 e le 14:00" in ahead.text
    # a member not invited has no panel
    with time_machine.travel(AFTER, tick=False):
        world.app.state.auth.create_user("verdi", PASSWORD, "member", "m3")
        assert 'data-testid="my-events"' not in client(world, "verdi").get("/members/m3").text


# ---------------------------------------------------------------------------------- two communities
@pytest.fixture
def two(tmp_path):
    w = build_two(tmp_path, f"sqlite:///{tmp_path / 'condivisa.db'}")
    with TestClient(w.app) as c:
        c.world = w
        yield c
    w.store.close()


def test_a_referente_of_another_community_can_neither_see_nor_cancel(two):
    w = two.world
    with time_machine.travel(dt.datetime(2024, 6, 2, 12, 0, tzinfo=UTC), tick=False):
        ref_a = TestClient(w.app)
        assert login(ref_a, "ref-a").status_code == 303
        token = form_token(ref_a.get("/community/events").text)
        r = ref_a.post(
            "/community/events",
            data={
                "csrf_token": token,
                "day": "2024-06-10",
                "start": "12:00",
                "end": "13:00",
                "invite": "all",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        event_id = "ev-20240610-1200"
        record = flex_events.get_event(w.store.engine, event_id)
        assert record.community == "a" and record.members == sorted(m.id for m in w.a.members)
        assert event_id in ref_a.get("/community/events").text

        ref_b = TestClient(w.app)
        assert login(ref_b, "ref-b").status_code == 303
        page = ref_b.get("/community/events?community=a")
        assert page.status_code == 200 and event_id not in page.text and w.a.name not in page.text
        token_b = form_token(page.text)
        theirs = ref_b.post(
            "/community/events/cancel?community=a", data={"csrf_token": token_b, "event_id": event_id}
        )
        absent = ref_b.post("/community/events/cancel?community=a",
                            data={"csrf_token": token_b, "event_id": "ev-20240610-1300"})  # fmt: skip
        assert theirs.status_code == absent.status_code == 400
        assert theirs.text.replace(event_id, "ev-20240610-1300") == absent.text
        assert flex_events.get_event(w.store.engine, event_id).cancelled_at is None
        # B's member with the same id sees nothing of A's event
        m1_b = TestClient(w.app)
        assert login(m1_b, "m1-b").status_code == 303
        assert 'data-testid="my-events"' not in m1_b.get("/members/m1").text
        m1_a = TestClient(w.app)
        assert login(m1_a, "m1-a").status_code == 303
        assert f'data-event="{event_id}"' in m1_a.get("/members/m1").text
        # the platform admin of A sees it
        admin = TestClient(w.app)
        assert login(admin, "admin").status_code == 303
        assert event_id in admin.get("/community/events?community=a").text
        assert event_id not in admin.get("/community/events?community=b").text


def test_an_event_stored_after_its_day_shows_at_once(world):
    """The dashboard caches its settlement until new data arrive; creating (or cancelling) an event changes
    the money, so it refreshes the cache too (``events_marker`` in the cache key)."""
    with time_machine.travel(AFTER, tick=False):
        c = client(world, "ref")
        c.get("/community/events")  # the settlement is cached now
        start = dt.datetime(2024, 6, 5, 11, 0, tzinfo=ROME)
        slug = flex_events.events_slug(world.store.engine, world.community.name)
        flex_events.create_event(
            world.store.engine, event_id="ev-late", community=slug, starts_at=start,
            ends_at=start + dt.timedelta(hours=1), invitations=[("m2", "DU-0002")], created_by="cli",
        )  # fmt: skip
        try:
            page = c.get("/community/events").text
            assert '<tr data-event="ev-late" data-settled="true">' in page
        finally:
            flex_events.cancel_event(world.store.engine, "ev-late", slug)
        page = c.get("/community/events").text
        assert '<tr data-event="ev-late" data-settled="false">' in page  # cancelled: no longer settled
