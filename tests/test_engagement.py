"""Energy in the sun (issue #19, item 4): the share of a member's consumption in the community's sunny hours
and its trend, read from the settlement result; an opt-in, pseudonymous ranking and monthly recognitions
(k-anonymity: none with fewer than 3 opted in); opting in and out on SQLite and PostgreSQL; and privacy:
a member's page never shows another member's id, name, POD or figures unless that member opted in, and then
only their pseudonym and share."""

from __future__ import annotations

import datetime as dt
import random
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.config import load_community
from condivisa.engines.settlement import settle
from condivisa.kernel.timegrid import hours, quarter_hours
from condivisa.outputs import engagement as eng
from condivisa.outputs.engagement import MonthShare
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import month_bounds
from condivisa.store import engagement as optins
from condivisa.web import pages_member
from conftest import EXAMPLE_COMMUNITY
from test_web import client, form_token
from web_helpers import build_platform

DAY = dt.date(2024, 6, 3)


# ---------------------------------------------------------------------------------- a tiny settlement
def tiny_result():
    """One day of the example community, by hand: pv1 injects 1 kWh per quarter hour 10:00–14:00 (4 kWh/h),
    0.5 at 09 and 14 (2 kWh/h), 0.2 at 08 and 15 (0.8 kWh/h); m1 withdraws 0.1 kWh every quarter hour
    (0.4 kWh/h), m2 0.1 per quarter hour at 12, 20 and 21 only; the others nothing."""
    community = load_community(EXAMPLE_COMMUNITY)
    idx = quarter_hours(DAY, DAY + dt.timedelta(days=1))
    h = np.asarray(idx.hour)
    inj = np.select([(h >= 10) & (h <= 13), (h == 9) | (h == 14), (h == 8) | (h == 15)], [1.0, 0.5, 0.2], 0.0)
    by_pod = {
        "IT001E00000001": np.full(len(idx), 0.1),
        "IT001E00000002": np.where(np.isin(h, (12, 20, 21)), 0.1, 0.0),
    }
    frames = [
        pd.DataFrame({"pod": pod, "start": idx, "withdrawn_kwh": by_pod.get(pod, 0.0), "injected_kwh": 0.0})
        for pod in community.consumption_pods
    ]
    frames += [
        pd.DataFrame(
            {
                "pod": p.pod,
                "start": idx,
                "withdrawn_kwh": 0.0,
                "injected_kwh": inj if p.id == "pv1" else 0.0,
            }
        )
        for p in community.plants
    ]
    prices = pd.Series(100.0, index=hours(DAY, DAY + dt.timedelta(days=1)))
    return settle(community, pd.concat(frames, ignore_index=True), prices)


def test_sunny_share_by_hand():
    """Peak hour 4 kWh, so sunny means ≥ 1 kWh: 09–14 (6 hours; 08 and 15 at 0.8 kWh are not).
    m1: 6 × 0.4 = 2.4 kWh of 24 × 0.4 = 9.6 kWh → 25 %; m2: 0.4 of 1.2 kWh (12:00 of 12, 20, 21) → 33.3 %.
    Shared, hour by hour min(injection, withdrawal) split by withdrawal: m1 0.4 kWh in each of 08–15 = 3.2
    of 9.6 → 33.3 % covered; m2 0.4 (at 12:00) of 1.2 → 33.3 %. m3–m5 consumed nothing: no share."""
    shares = eng.result_shares(tiny_result(), "2024-06")
    m1, m2 = shares["m1"], shares["m2"]
    assert m1.sunny_intervals == 6
    assert (m1.consumption_kwh, m1.sunny_consumption_kwh, m1.shared_kwh) == (9.6, 2.4, 3.2)
    assert m1.sunny_share == pytest.approx(0.25) and m1.sunny_pct == 25.0
    assert m1.covered_share == pytest.approx(1 / 3) and m1.covered_pct == 33.3
    assert m2.sunny_share == pytest.approx(1 / 3) and m2.sunny_pct == 33.3
    assert m2.covered_pct == 33.3
    assert all(shares[m].sunny_share is None and shares[m].covered_share is None for m in ("m3", "m4", "m5"))


def test_the_trend_compares_with_the_calendar_month_before():
    """Same figures every month: a change of 0 points against May, none for March (February has no data)."""
    result = tiny_result()

    def book(months):
        return SimpleNamespace(months=months, month=lambda m: SimpleNamespace(result=result))

    rows = eng.trend(book(["2024-03", "2024-05", "2024-06"]), "m1", "2024-06")  # type: ignore[arg-type]
    assert [(r["month"], r["share"].sunny_pct, r["change_pp"]) for r in rows] == [
        ("2024-03", 25.0, None),
        ("2024-05", 25.0, None),  # April has no data: no change against March
        ("2024-06", 25.0, 0.0),
    ]
    assert len(eng.trend(book([f"2024-0{k}" for k in range(1, 10)]), "m1", "2024-09")) == eng.TREND_MONTHS
    view = eng.member_view(book(["2024-05", "2024-06"]), "m3", "2024-06", {})  # type: ignore[arg-type]
    assert view["share"].sunny_share is None and view["change_pp"] is None and view["ranking"] == []


def test_sunny_mask_rule():
    assert eng.sunny_mask(np.array([0.0, 0.8, 1.0, 4.0, 0.99])).tolist() == [False, False, True, True, False]
    assert not eng.sunny_mask(np.zeros(5)).any()  # no injection, no sunny hour
    assert eng.sunny_mask(np.array([])).size == 0


def test_previous_month():
    assert eng.previous_month("2024-01") == "2023-12"
    assert eng.previous_month("2024-03") == "2024-02"
    assert eng.previous_month("2024-12") == "2024-11"


# ---------------------------------------------------------------------------------- ranking, recognitions
def share(pct: float | None, month: str = "2024-06") -> MonthShare:
    s = None if pct is None else pct / 100
    return MonthShare(month, 10.0, 0.0, 0.0, 6, s, None)


def test_ranking_ties_share_a_rank_and_list_by_pseudonym():
    shares = {"a": share(40), "b": share(55), "c": share(40), "d": share(10), "e": share(None)}
    names = {"a": "Zenit 3", "b": "Raggio 1", "c": "alba 9", "d": "Meriggio 2", "e": "Aurora 4"}
    rows = eng.ranking(shares, names)
    assert [(r.pseudonym, r.sunny_pct, r.rank) for r in rows] == [
        ("Raggio 1", 55.0, 1),
        ("alba 9", 40.0, 2),  # a tie: listed by pseudonym ignoring case, same rank
        ("Zenit 3", 40.0, 2),
        ("Meriggio 2", 10.0, 4),  # competition ranking: 1, 2, 2, 4
    ]  # "e" consumed nothing this month: not ranked
    assert set(vars(rows[0])) == {"pseudonym", "sunny_pct", "rank"}  # nothing else about anybody


def test_shares_are_ranked_as_shown():
    """41.23 % and 41.24 % both show as 41,2 %: the same rank."""
    shares = {"a": share(41.23), "b": share(41.24), "c": share(12)}
    rows = eng.ranking(shares, {"a": "Alfa", "b": "Beta", "c": "Gamma"})
    assert [r.rank for r in rows] == [1, 1, 3]


def test_fewer_than_three_opted_in_no_ranking_no_recognition():
    shares = {"a": share(40), "b": share(55), "c": share(20)}
    prev = {"a": share(10), "b": share(50), "c": share(20)}
    two = {"a": "Alfa", "b": "Beta"}  # c did not opt in
    assert eng.ranking(shares, two) == []
    assert eng.recognitions(shares, prev, two) == []
    # three opted in, but one without consumption this month: still only two with a share
    assert eng.recognitions({**shares, "c": share(None)}, prev, {**two, "c": "Gamma"}) == []


def test_recognitions_with_ties():
    shares = {"a": share(50), "b": share(50), "c": share(30), "d": share(45), "x": share(99)}
    prev = {"a": share(40), "b": share(40), "c": share(20), "d": share(44), "x": share(1)}
    names = {"a": "Zenit", "b": "Aurora", "c": "Cicala", "d": "Limone"}  # x did not opt in
    got = {r.kind: (r.pseudonym, r.value) for r in eng.recognitions(shares, prev, names)}
    # most solar: a and b tie at 50 % → the pseudonym first in alphabetical order; x (99 %) is not in it
    assert got[eng.MOST_SOLAR] == ("Aurora", 50.0)
    # most improved: a, b and c all rose 10 points → the higher share now (a, b), then the pseudonym
    assert got[eng.MOST_IMPROVED] == ("Aurora", 10.0)


def test_no_most_improved_when_nobody_rose():
    shares = {"a": share(50), "b": share(40), "c": share(30)}
    prev = {"a": share(60), "b": share(40)}  # c has no month before
    got = eng.recognitions(shares, prev, {"a": "A1a", "b": "B2b", "c": "C3c"})
    assert [r.kind for r in got] == [eng.MOST_SOLAR]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 5, allow_nan=False),
            st.floats(0, 5, allow_nan=False),
            st.floats(0, 3, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 4),
)
def test_shares_within_bounds_and_ranking_follows_shares(hours_rows, n_opted):
    """For any hourly consumption and injection: 0 ≤ share ≤ 1, and the ranking lists shares from highest
    to lowest with ranks that rise exactly when the share falls."""
    c = np.array([[r[0] for r in hours_rows], [r[1] for r in hours_rows]])
    inj = np.array([r[2] for r in hours_rows])
    members = [SimpleNamespace(id=f"m{i}") for i in range(4)]
    fake = SimpleNamespace(
        community=SimpleNamespace(members=members),
        injected_kwh=inj,
        consumption_rows=np.vstack([c, c[::-1] * 0.5]),
        consumption_row_member=np.array([0, 1, 2, 3]),
        member_withdrawn_kwh=np.vstack([c, c[::-1] * 0.5]).sum(axis=1),
        member_shared_kwh=np.minimum(np.vstack([c, c[::-1] * 0.5]).sum(axis=1), inj.sum()),
    )
    shares = eng.result_shares(fake, "2024-06")  # type: ignore[arg-type]
    for s in shares.values():
        assert s.sunny_share is None or 0.0 <= s.sunny_share <= 1.0
        assert s.covered_share is None or 0.0 <= s.covered_share <= 1.0
    rows = eng.ranking(shares, {f"m{i}": f"P{i}" for i in range(n_opted)})
    for a, b in zip(rows, rows[1:], strict=False):
        assert a.sunny_pct >= b.sunny_pct
        assert (a.rank == b.rank) == (a.sunny_pct == b.sunny_pct)
        assert a.rank <= b.rank
    assert not rows or rows[0].rank == 1


# ---------------------------------------------------------------------------------- the store
def test_opt_in_and_out(db_store):
    engine, community = db_store.engine, load_community(EXAMPLE_COMMUNITY)
    name = community.name
    a = optins.opt_in(engine, community, "m1", rng=random.Random(1))
    assert re.fullmatch(r"[A-Z][a-z]+ \d{1,2}", a.pseudonym) and a.pseudonym.split()[0] in optins.WORDS
    assert a.opted_in_at.tzinfo is not None
    b = optins.opt_in(engine, community, "m2", "  Sole   di Bari ")
    assert b.pseudonym == "Sole di Bari"  # normalised
    assert optins.pseudonyms(engine, name) == {"m1": a.pseudonym, "m2": "Sole di Bari"}
    # the same pseudonym, even in another case, is taken
    with pytest.raises(optins.PseudonymError) as err:
        optins.opt_in(engine, community, "m3", "SOLE DI BARI")
    assert err.value.code == "taken"
    # opting in again without a name keeps the pseudonym; with one, it replaces it
    assert optins.opt_in(engine, community, "m1").pseudonym == a.pseudonym
    assert optins.opt_in(engine, community, "m1", "Girasole-Uno").pseudonym == "Girasole-Uno"
    assert optins.optin_of(engine, name, "m1").pseudonym == "Girasole-Uno"
    # another community's opt-ins are its own
    assert optins.pseudonyms(engine, "Altra CER") == {}
    assert optins.opt_out(engine, name, "m1") is True
    assert optins.opt_out(engine, name, "m1") is False
    assert optins.optin_of(engine, name, "m1") is None
    assert list(optins.list_optins(engine, name)) == ["m2"]
    with pytest.raises(KeyError):
        optins.opt_in(engine, community, "nobody")


@pytest.mark.parametrize(
    ("chosen", "code"),
    [
        ("ab", "length"),
        ("x" * 33, "length"),
        ("Sole<script>", "chars"),
        ("sole@casa", "chars"),
        ("m1", "length"),  # the example's ids are too short anyway
        ("famiglia rossi", "identifying"),  # any member's name, ignoring case
        ("Famiglia  Bianchi", "identifying"),
    ],
)
def test_a_chosen_pseudonym_is_checked(chosen, code):
    with pytest.raises(optins.PseudonymError) as err:
        optins.validate(chosen, load_community(EXAMPLE_COMMUNITY))
    assert err.value.code == code


def test_a_pseudonym_is_not_a_members_id():
    community = SimpleNamespace(members=[SimpleNamespace(id="socio-17", name=None)])
    with pytest.raises(optins.PseudonymError) as err:
        optins.validate("Socio-17", community)  # type: ignore[arg-type]
    assert err.value.code == "identifying"


def test_chosen_pseudonyms_that_pass():
    community = load_community(EXAMPLE_COMMUNITY)
    assert optins.validate("Girasole 17", community) == "Girasole 17"
    assert optins.validate("Città-del-Sole", community) == "Città-del-Sole"  # letters with accents


def test_generated_pseudonyms_in_a_crowded_community():
    taken = {f"{w} {n}".casefold() for w in optins.WORDS for n in range(1, optins.MAX_NUMBER + 1)}
    assert optins._generated(taken, random.Random(0)) == f"{optins.WORDS[0]} {optins.MAX_NUMBER + 1}"


# ---------------------------------------------------------------------------------- the member page
RANKING = "/member/ranking"
A_NAME, A_POD = "Famiglia Rossi", "IT001E00000001"


@pytest.fixture
def platform(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    if not any(getattr(r, "path", None) == RANKING for r in p.app.routes):  # until routes.py registers it
        p.app.router.add_api_route(RANKING, pages_member.ranking_post, methods=["POST"])
    return p


def panel(html: str) -> str:
    m = re.search(r'<section class="card" data-testid="sun-panel">.*?</section>', html, re.S)
    assert m, "no sun panel"
    return m.group(0)


def settled_share(p, member_id: str, month: str) -> MonthShare:
    """The member's share computed straight from the month's settlement result (the dashboard zero-fills)."""
    lo, hi = month_bounds(month)
    m = p.measurements
    part = m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True)
    return eng.result_shares(settle(p.community, part, p.prices, fill="zero"), month)[member_id]


def post(c, action: str, pseudonym: str = "", month: str = "2024-06", token: str | None = None):
    """The panel's form of m2's page (bianchi's), as a browser posts it."""
    if token is None:
        token = form_token(c.get(f"/members/m2?month={month}").text)
    return c.post(
        RANKING,
        data={"action": action, "pseudonym": pseudonym, "month": month, "csrf_token": token},
        follow_redirects=False,
    )


def test_the_page_shows_the_share_from_the_settlement(platform):
    c = client(platform, "rossi")
    html = c.get("/members/m1?month=2024-06").text
    want = settled_share(platform, "m1", "2024-06")
    before = settled_share(platform, "m1", "2024-05")
    box = panel(html)
    assert f"il {fmt_number(want.sunny_pct, 'it', 1)} % dei tuoi consumi" in box
    assert f'data-pct="{want.sunny_pct}"' in box
    assert f"{fmt_number(want.covered_pct, 'it', 1)} % dei tuoi consumi è stato coperto" in box
    pp = round(want.sunny_pct - before.sunny_pct, 1)
    assert f'data-pp="{pp}"' in box
    assert re.search(
        r'<tr data-month="2024-05"><td>maggio 2024</td><td class="n">'
        + re.escape(fmt_number(before.sunny_pct, "it", 1)),
        box,
    )
    en = panel(client(platform, "rossi", lang="en").get("/members/m1?month=2024-06&lang=en").text)
    assert "Your energy in the sun" in en and f"{fmt_number(want.sunny_pct, 'en', 1)} % of your" in en


def test_opt_in_and_out_through_the_form(platform):
    c = client(platform, "bianchi")
    box = panel(c.get("/members/m2?month=2024-06").text)
    assert 'data-testid="sun-join"' in box and "sun-ranking" not in box
    r = post(c, "in", "Sole di Bari")
    assert r.status_code == 303 and r.headers["location"] == "/members/m2?engagement=saved_in&month=2024-06"
    assert optins.pseudonyms(platform.store.engine, platform.community.name) == {"m2": "Sole di Bari"}
    box = panel(c.get(r.headers["location"]).text)
    assert "Sei in classifica come «Sole di Bari»" in box and 'data-testid="sun-too-few"' in box
    assert 'data-testid="sun-leave"' in box
    # a refused pseudonym: said, nothing changed
    r = post(c, "in", A_NAME)
    assert r.headers["location"].startswith("/members/m2?engagement=err_identifying")
    assert 'data-notice="err_identifying"' in c.get(r.headers["location"]).text
    assert optins.pseudonyms(platform.store.engine, platform.community.name) == {"m2": "Sole di Bari"}
    r = post(c, "out")
    assert r.headers["location"] == "/members/m2?engagement=saved_out&month=2024-06"
    assert optins.pseudonyms(platform.store.engine, platform.community.name) == {}


def test_the_form_needs_the_csrf_token_and_a_member(platform):
    c = client(platform, "bianchi")
    assert post(c, "in", token="forged").status_code == 403
    assert optins.pseudonyms(platform.store.engine, platform.community.name) == {}
    ref = client(platform, "ref")
    html = ref.get("/members/m2?month=2024-06").text
    assert 'data-testid="sun-panel"' in html and 'data-testid="sun-form"' not in html  # staff: no form
    r = ref.post(RANKING, data={"action": "in", "csrf_token": form_token(html)}, follow_redirects=False)
    assert r.status_code == 404
    assert optins.pseudonyms(platform.store.engine, platform.community.name) == {}


def test_another_members_data_never_shows_unless_they_opted_in(platform):
    """B (m2) opted in with m3 and m4: B sees the ranking of three pseudonyms. A (m1) has not opted in:
    nothing of A is on B's page. Once A opts in, A appears under the pseudonym with the share, nothing
    else."""
    engine, community = platform.store.engine, platform.community
    optins.opt_in(engine, community, "m2", "Sole di Bari")
    optins.opt_in(engine, community, "m3", "Cicala 7")
    optins.opt_in(engine, community, "m4", "Zenit 12")
    b = client(platform, "bianchi")
    a_share = settled_share(platform, "m1", "2024-06")
    a_kwh = fmt_number(a_share.consumption_kwh, "it", 1)
    html = b.get("/members/m2?month=2024-06").text
    for secret in (A_NAME, A_POD, "/members/m1", a_kwh):
        assert secret not in html
    box = panel(html)
    rows = re.findall(
        r'<tr data-rank="(\d+)" data-pct="([\d.]+)"[^>]*><td class="n">\d+</td>'
        r'<td data-key="pseudonym">([^<]*)</td><td class="n">[^<]*</td></tr>',
        box,
    )
    want = {
        n: settled_share(platform, m, "2024-06").sunny_pct
        for m, n in (("m2", "Sole di Bari"), ("m3", "Cicala 7"), ("m4", "Zenit 12"))
    }
    assert {name: float(pct) for _, pct, name in rows} == want
    assert ">m1<" not in box and "m1" not in re.sub(r"<[^>]*>", "", box)

    optins.opt_in(engine, community, "m1", "Raggio Nord")
    html = b.get("/members/m2?month=2024-06").text
    for secret in (A_NAME, A_POD, "/members/m1", a_kwh):
        assert secret not in html
    box = panel(html)
    assert f'data-pct="{a_share.sunny_pct}"><td class="n">' in box and ">Raggio Nord<" in box
    # a member who did not opt in (m5 has no login; the referente looks at the community page) ...
    ref = client(platform, "ref").get("/community?month=2024-06").text
    sun = re.search(r'<section class="card" data-testid="sun-community">.*?</section>', ref, re.S).group(0)
    for m in community.members:
        assert m.name not in sun and f">{m.id}<" not in sun
    assert ">Raggio Nord<" in sun and "Soci che partecipano: 4." in sun
    assert 'data-testid="sun-recognitions"' in sun


def test_a_member_out_of_the_ranking_does_not_see_it(platform):
    engine, community = platform.store.engine, platform.community
    for m, n in (("m2", "Sole di Bari"), ("m3", "Cicala 7"), ("m4", "Zenit 12")):
        optins.opt_in(engine, community, m, n)
    box = panel(client(platform, "rossi").get("/members/m1?month=2024-06").text)
    assert "sun-ranking" not in box
    for n in ("Sole di Bari", "Cicala 7", "Zenit 12"):
        assert n not in box
