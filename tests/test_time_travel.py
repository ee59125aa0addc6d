"""Time travel: every page, download and report command on the critical instants of the calendar.

The machine's clock is moved with ``time-machine`` (which patches ``time.time`` and ``datetime.now``, so it
reaches :mod:`condivisa.kernel.clock`); the platform is built at that instant with the readings the devices
could have
sent by then (ten days back, up to the last quarter hour that has ended). No test here depends on the day it
runs.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from condivisa.cli import app as cli
from condivisa.kernel import clock
from condivisa.outputs.i18n import fmt_number
from conftest import EXAMPLE_COMMUNITY
from web_helpers import PASSWORD, build_platform

#: (name, instant): the 1st of a month just after midnight, late on the 1st, the last evening of a month,
#: 1 January, 29 February, both DST changeovers around the changed hour (the autumn 02:30 comes twice)
CRITICAL = [
    ("1st-00:10", "2026-12-01T00:10:00+01:00"),
    ("1st-08:53", "2026-12-01T08:53:00+01:00"),
    ("1st-23:50", "2026-12-01T23:50:00+01:00"),
    ("last-day-23:50", "2026-11-30T23:50:00+01:00"),
    ("1-january", "2027-01-01T00:10:00+01:00"),
    ("29-february", "2028-02-29T12:00:00+01:00"),
    ("spring-dst-01:50", "2026-03-29T01:50:00+01:00"),
    ("spring-dst-03:10", "2026-03-29T03:10:00+02:00"),
    ("autumn-dst-02:30-summer", "2026-10-25T02:30:00+02:00"),
    ("autumn-dst-02:30-winter", "2026-10-25T02:30:00+01:00"),
]


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _days_before(at: dt.datetime, n: int = 10) -> tuple[dt.date, ...]:
    today = at.astimezone(clock.ROME).date()
    return tuple(today - dt.timedelta(days=k) for k in range(n, -1, -1))


@pytest.fixture(scope="module", params=CRITICAL, ids=[c[0] for c in CRITICAL])
def at(request, tmp_path_factory):
    """(instant, platform) for one critical instant: the platform built at that instant."""
    when = instant(request.param[1])
    with time_machine.travel(when, tick=True):
        platform = build_platform(tmp_path_factory.mktemp("travel"), days=_days_before(when), until=when)
    return when, platform


def login(c: TestClient, user: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]*)"', c.get("/login").text).group(1)
    r = c.post(
        "/login", data={"username": user, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def _client(platform, user: str) -> TestClient:
    c = TestClient(platform.app, headers={"accept-language": "en"})
    login(c, user)
    return c


def _state(html: str) -> str | None:
    m = re.search(r'data-testid="settled-note" data-state="(\w+)"', html)
    return m.group(1) if m else None


def test_clock_follows_the_time_machine(at):
    when, _ = at
    with time_machine.travel(when, tick=False):
        assert clock.now() == when.astimezone(dt.UTC)
        assert clock.today() == when.astimezone(clock.ROME).date()


def test_every_page_and_download_answers_on_the_critical_instant(at):
    when, platform = at
    local = when.astimezone(clock.ROME)
    this_month = f"{local.year:04d}-{local.month:02d}"
    with time_machine.travel(when, tick=True):
        ref, member = _client(platform, "ref"), _client(platform, "rossi")
        home = ref.get("/community")
        assert home.status_code == 200, home.text
        book = platform.app.state.dashboard.book()
        assert book.as_of == local.date()
        months = book.months
        assert months and months[-1] <= this_month
        # the default month has a settled day; on the 1st (data of today only) the page says what it shows
        # instead
        default = book.latest_settled_month
        assert f'<option value="{default}" selected' in home.text
        assert ('data-testid="month-note"' in home.text) == (months[-1] != default)
        for month in months:
            pages = {
                "community": ref.get(f"/community?month={month}"),
                "report": ref.get(f"/community/report.html?month={month}"),
                "member": member.get(f"/members/m1?month={month}"),
                "statement": member.get(f"/members/m1/statement.html?month={month}"),
                "csv": member.get(f"/members/m1/statement.csv?month={month}"),
            }
            for name, r in pages.items():
                assert r.status_code == 200, (name, month, r.text[:500])
            ms = book.month(month)
            expected = "empty" if ms.empty else ("complete" if ms.complete else "partial")
            for name in ("community", "report", "member", "statement"):
                assert _state(pages[name].text) == expected, (name, month)
            # the month in progress is never complete; an earlier month always is
            assert ms.complete == (month < this_month)
            # the money shown is the settlement's, to the cent
            m1 = next(e for e in book.result(month)["members"] if e["id"] == "m1")
            assert f'data-key="total_eur">{fmt_number(m1["total_eur"], "en")} €' in pages["member"].text
            assert any(line.split(",")[1] == month for line in pages["csv"].text.splitlines()[1:]), pages[
                "csv"
            ].text
        # a month with no data at all answers with a page that says so, never a 500
        assert ref.get("/community?month=1999-01").status_code == 200
        assert member.get("/members/m1?month=1999-01").status_code == 200
        assert member.get("/members/m1/statement.csv?month=1999-01").status_code == 404


def test_today_is_never_settled(at):
    when, platform = at
    with time_machine.travel(when, tick=True):
        _client(platform, "ref").get("/community")
        book = platform.app.state.dashboard.book()
        today = when.astimezone(clock.ROME).date()
        for month in book.months:
            ms = book.month(month)
            assert ms.empty or ms.settled_to < today
            flows = ms.flows()
            assert flows.empty or flows.index.max().date() < today


def test_report_command_uses_the_last_complete_month(at, tmp_path):
    when, platform = at
    local = when.astimezone(clock.ROME)
    with time_machine.travel(when, tick=True):
        out = tmp_path / "report.html"
        res = CliRunner().invoke(
            cli,
            [
                "report",
                "community",
                "--config",
                str(EXAMPLE_COMMUNITY),
                "--database",
                platform.settings.database_url,
                "--prices",
                platform.settings.prices_file,
                "--out",
                str(out),
            ],
        )
        assert res.exit_code == 0, res.output
        chosen = re.search(r"reporting (\d{4}-\d{2})", res.output).group(1)
        # the month before today's (its days are all past) unless the ten days of data lie within this month
        first = _days_before(when)[0]
        expected = f"{first.year:04d}-{first.month:02d}"
        if expected == f"{local.year:04d}-{local.month:02d}":
            assert "provisional" in res.output
        else:
            assert "last complete month" in res.output
        assert chosen == expected
        assert out.is_file() and 'data-testid="settled-note"' in out.read_text(encoding="utf-8")
        # and with --as-of the same report is made as if on another day
        res = CliRunner().invoke(
            cli,
            [
                "report",
                "member",
                "m1",
                "--config",
                str(EXAMPLE_COMMUNITY),
                "--database",
                platform.settings.database_url,
                "--format",
                "csv",
                "--prices",
                platform.settings.prices_file,
                "--out",
                str(tmp_path / "m1.csv"),
                "--as-of",
                (first + dt.timedelta(days=3)).isoformat(),
            ],
        )
        assert res.exit_code == 0, res.output
        rows = (tmp_path / "m1.csv").read_text(encoding="utf-8").splitlines()
        assert rows[1].split(",")[1] == expected


def test_a_month_without_any_data(tmp_path):
    """Devices silent since April: in mid-June the pages show April, June answers 'no data', the report picks April."""
    when = instant("2026-06-15T12:00:00+02:00")
    days = tuple(dt.date(2026, 4, 20) + dt.timedelta(days=k) for k in range(11))
    with time_machine.travel(when, tick=True):
        platform = build_platform(tmp_path, days=days)
        ref = _client(platform, "ref")
        home = ref.get("/community")
        assert home.status_code == 200 and '<option value="2026-04" selected' in home.text
        june = ref.get("/community?month=2026-06")
        assert june.status_code == 200 and "No data for this period." in june.text
        assert _client(platform, "rossi").get("/members/m1?month=2026-05").status_code == 200
        res = CliRunner().invoke(
            cli,
            [
                "report",
                "community",
                "--config",
                str(EXAMPLE_COMMUNITY),
                "--database",
                platform.settings.database_url,
                "--prices",
                platform.settings.prices_file,
                "--out",
                str(tmp_path / "r.html"),
                "--fill",
                "zero",
            ],
        )
        assert res.exit_code == 0 and "reporting 2026-04 (the last complete month" in res.output, res.output


def test_no_data_at_all(tmp_path):
    when = instant("2026-12-01T00:10:00+01:00")
    with time_machine.travel(when, tick=True):
        platform = build_platform(
            tmp_path, days=_days_before(when), until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        )
        ref = _client(platform, "ref")
        page = ref.get("/community")
        assert page.status_code == 200 and "No data for this period." in page.text
        assert _client(platform, "rossi").get("/members/m1").status_code == 200
        res = CliRunner().invoke(
            cli,
            [
                "report",
                "community",
                "--config",
                str(EXAMPLE_COMMUNITY),
                "--database",
                platform.settings.database_url,
                "--prices",
                platform.settings.prices_file,
                "--out",
                str(tmp_path / "r.html"),
            ],
        )
        assert res.exit_code != 0 and "nothing to report" in res.output


DEMO_INSTANTS = [
    ("1st-00:10", "2026-12-01T00:10:00+01:00"),
    ("29-february-23:50", "2028-02-29T23:50:00+01:00"),
    ("spring-dst-03:10", "2026-03-29T03:10:00+02:00"),
    ("1-january-00:10", "2027-01-01T00:10:00+01:00"),
]


@pytest.mark.slow
@pytest.mark.parametrize("when", [d[1] for d in DEMO_INSTANTS], ids=[d[0] for d in DEMO_INSTANTS])
def test_demo_without_serving_on_critical_days(when, tmp_path):
    at_ = instant(when)
    local = at_.astimezone(clock.ROME)
    with time_machine.travel(at_, tick=True):
        res = CliRunner().invoke(
            cli, ["demo", "--weeks", "1", "--no-serve", "--dir", str(tmp_path / "demo"), "--lang", "en"]
        )
    assert res.exit_code == 0, res.output
    yesterday = local.date() - dt.timedelta(days=1)
    month = f"{yesterday.year:04d}-{yesterday.month:02d}"  # the newest month with a finished day
    reports = {p.name for p in (tmp_path / "demo" / "reports").iterdir()}
    assert f"report-{month}.html" in reports and f"statement-m1-{month}.html" in reports
    assert re.search(
        rf"{month} \(settled \d{{4}}-\d{{2}}-\d{{2}} to {yesterday.isoformat()}\)",
        " ".join(res.output.split()),
    ), res.output


@pytest.mark.slow
def test_demo_today_option_sets_the_clock(tmp_path):
    try:
        res = CliRunner().invoke(
            cli,
            [
                "demo",
                "--weeks",
                "1",
                "--no-serve",
                "--dir",
                str(tmp_path / "demo"),
                "--community",
                "is-corrias",
                "--today",
                "2024-06-20",
            ],
        )
        assert res.exit_code == 0, res.output
        assert "today is 2024-06-20" in res.output
        assert "(settled 2024-06-13 to 2024-06-19)" in " ".join(res.output.split())
    finally:
        clock.reset()


@pytest.mark.browser
def test_pdf_downloads_on_the_first_of_the_month(tmp_path):
    """On the 1st at 00:10 (no day of the month finished) the PDFs of the new, empty month and of the month
    before both print."""
    from condivisa.outputs.report import chromium_available

    if not chromium_available():
        pytest.skip("Chromium is not installed")
    when = instant("2026-12-01T00:10:00+01:00")
    with time_machine.travel(when, tick=True):
        platform = build_platform(tmp_path, days=_days_before(when), until=when + dt.timedelta(minutes=20))
        ref = _client(platform, "ref")
        for month in ("2026-11", "2026-12"):
            for path in (f"/community/report.pdf?month={month}", f"/members/m1/statement.pdf?month={month}"):
                r = ref.get(path)
                assert r.status_code == 200 and r.content.startswith(b"%PDF"), (path, r.text[:300])
