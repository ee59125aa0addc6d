"""Every number from one place: the settlement result against every output that shows it.

A community with a member joining mid-month (a later member who pays the annual fee), a member leaving
mid-month (who pays the exit penalty), the autumn DST day (100 quarter hours) and one missing quarter hour (in
the hour that comes twice). September and October 2026 are settled as of 5 November. The test compares, to the
cent, the month's settlement document with: the engine run directly, the dashboard's community page (every
payee row, the total row, the tiles), every member's page and statement (HTML and CSV, month and year), the
community report, ``condivisa settle`` (CSV and the member's table) and ``condivisa report member --format
csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import numpy as np
import pandas as pd
import pytest
import time_machine
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from condivisa.cli import app as cli
from condivisa.engines.settlement import settle
from condivisa.kernel.timegrid import ROME, hours, quarter_hours
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import SettledMonths, month_bounds
from condivisa.outputs.statement import MONEY_KEYS

AS_OF = dt.datetime(2026, 11, 5, 9, 30, tzinfo=ROME)
MONTHS = ("2026-09", "2026-10")
PASSWORD = "one-source-42"
RAW = {
    "name": "CER Una Fonte",
    "configuration": "CER",
    "zone": "centre",
    "constituted": "2025-01-01",
    "primary_substation": "AC001E00777",
    "members": [
        {"id": "a", "name": "Famiglia Uno", "founder": True, "pods": [{"pod": "IT001E00000011"}]},
        {"id": "b", "name": "Famiglia Due", "founder": True, "pods": [{"pod": "IT001E00000012"}]},
        {
            "id": "c",
            "name": "Bar Tre",
            "category": "sme",
            "founder": False,
            "joined": "2026-10-16",
            "pods": [{"pod": "IT001E00000013"}],
        },
        {
            "id": "d",
            "name": "Famiglia Quattro",
            "founder": False,
            "joined": "2025-06-01",
            "left": "2026-10-20",
            "pods": [{"pod": "IT001E00000014"}],
        },
    ],
    "plants": [
        {"id": "pv-a", "pod": "IT001E00000111", "owner": "a", "power_kw": 30, "commissioning": "2025-02-01"},
        {
            "id": "pv-c",
            "pod": "IT001E00000112",
            "owner": "community",
            "power_kw": 20,
            "commissioning": "2025-03-01",
        },
    ],
    "rules": {
        "premium": {"producers": 0.10, "community": 0.15, "consumers": 0.75, "consumers_by": "consumption"},
        "sale": "producers",
        "valorisation": "consumers",
        "later_members": {
            "annual_fee_eur": 24,
            "exit_penalty_eur": 50,
            "min_shared_consumption_kwh_per_year": 0,
        },
    },
    "devices": [{"id": f"DU-{k}", "pod": f"IT001E0000{k:04d}"} for k in (11, 12, 13, 14, 111, 112)],
}
#: the quarter hour that is missing: the second 02:15 of the autumn DST day (02:15 CET = 01:15 UTC)
MISSING = ("IT001E00000011", pd.Timestamp("2026-10-25 01:15", tz="UTC"))


# the result document (``result.json``) read on its own, independently of the typed statement model
def payee_rows(doc: dict) -> list[dict]:
    """Every payee of a result document with its money: the members, the community account, externals."""
    account = {"id": "community", "name": doc["community"], **doc["community_account"]}
    return [*doc["members"], account, *doc["external_producers"]]


def sum_money(rows: list) -> dict[str, float]:
    """Column sums of the money keys, in whole cents."""
    return {k: sum(round(float(r.get(k, 0.0)) * 100) for r in rows) / 100 + 0.0 for k in MONEY_KEYS}


def allocation_total(doc: dict) -> dict[str, float]:
    return sum_money(payee_rows(doc))


def _measurements(community) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    idx = quarter_hours(dt.date(2026, 9, 1), dt.date(2026, 11, 1))
    h = np.asarray(idx.hour + idx.minute / 60.0)
    bell = np.clip(np.sin((h - 6.5) / 13.0 * np.pi), 0.0, None) ** 1.3
    frames = []
    for k, pod in enumerate(community.consumption_pods):
        wd = np.round(
            (0.1 + 0.05 * k + 0.2 * np.exp(-((h - 13) ** 2) / 8)) * rng.uniform(0.7, 1.3, len(idx)), 4
        )
        frames.append(pd.DataFrame({"pod": pod, "start": idx, "withdrawn_kwh": wd, "injected_kwh": 0.0}))
    for p in community.plants:
        inj = np.round(p.power_kw * 0.25 * 0.7 * bell * rng.uniform(0.5, 1.0, len(idx)), 4)
        frames.append(pd.DataFrame({"pod": p.pod, "start": idx, "withdrawn_kwh": 0.0, "injected_kwh": inj}))
    m = pd.concat(frames, ignore_index=True)
    drop = (m["pod"] == MISSING[0]) & (m["start"] == MISSING[1])
    assert drop.sum() == 1
    return m[~drop].reset_index(drop=True)


def _build_world(tmp, raw: dict, frame_of, prices: pd.Series, as_of: dt.datetime, fill: str | None = "zero"):
    """The dashboard (app with its store), the files the CLI reads and the settled months of ``raw``."""
    import yaml

    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings
    from condivisa.domain.config import load_community
    from condivisa.formats.csv_io import write_prices
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    config = tmp / "community.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    community = load_community(config)
    write_prices(prices, tmp / "prices.csv")
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    frame = frame_of(community)
    with time_machine.travel(as_of, tick=True):
        store = Store(url)
        store.upgrade()
        store.register_devices(community)
        ingest_frame(store, frame, source="test")
        settings = load_settings(
            database_url=url,
            community_file=str(config),
            prices_file=str(tmp / "prices.csv"),
            allowed_hosts=["testserver"],
        )
        app = create_app(settings, store=store, community=community)
        app.state.auth.create_user("ref", PASSWORD, "referente")
        for m in community.members:
            app.state.auth.create_user(m.id, PASSWORD, "member", m.id)
    book = SettledMonths(community, frame, prices, fill=fill, as_of=as_of.date())
    return {
        "community": community,
        "frame": frame,
        "prices": prices,
        "app": app,
        "url": url,
        "config": config,
        "prices_file": tmp / "prices.csv",
        "book": book,
        "as_of": as_of,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    idx = hours(dt.date(2026, 9, 1), dt.date(2026, 11, 1))
    prices = pd.Series(
        np.round(95 + 35 * np.cos((idx.hour - 20) / 24 * 2 * np.pi), 2),
        index=idx,
        name="zonal_price_eur_per_mwh",
    )
    return _build_world(tmp_path_factory.mktemp("one-source"), RAW, _measurements, prices, AS_OF)


def _client(world, user: str) -> TestClient:
    c = TestClient(world["app"], headers={"accept-language": "en"})
    token = re.search(r'name="csrf_token" value="([^"]*)"', c.get("/login").text).group(1)
    assert (
        c.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        ).status_code
        == 303
    )
    return c


def eur(x: float) -> str:
    return fmt_number(x, "en")


def cell(key: str, x: float) -> str:
    """A money cell of the allocation and trend tables: the GSE fees are an empty cell when none are borne."""
    return "" if key == "gse_fees_eur" and not x else eur(x)


def keyed(fragment: str, key: str) -> list[str]:
    return [v.replace(" €", "").strip() for v in re.findall(rf'data-key="{key}">([^<]*)<', fragment)]


def payee_row(html: str, payee: str) -> str:
    m = re.search(rf'<tr data-(?:member="[^"]*" data-)?payee="{re.escape(payee)}".*?</tr>', html, re.S)
    assert m, payee
    return m.group(0)


def test_the_case_has_what_it_claims(world):
    doc = world["book"].result("2026-10")
    q = {p["pod"]: p for p in doc["data_quality"]["pods"]}
    assert q[MISSING[0]]["missing_intervals"] == 1 and q[MISSING[0]]["expected_intervals"] == 31 * 96 + 4
    fees = {m["id"]: m["fees_eur"] for m in doc["members"]}
    # c: 16 days of 2026 · 24 € / 365 = 1.05 €; d: 19 days · 24 / 365 + 50 € exit penalty (capped at what d
    # receives)
    assert fees["c"] < 0 and fees["d"] < 0 and fees["a"] == fees["b"] == 0.0
    assert doc["community_account"]["fees_eur"] == pytest.approx(-(fees["c"] + fees["d"]))


def test_the_month_equals_the_engine_run_directly(world):
    lo, hi = month_bounds("2026-10")
    m = world["frame"]
    direct = settle(
        world["community"],
        m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True),
        world["prices"],
        fill="zero",
    ).to_dict()
    doc = world["book"].result("2026-10")
    assert direct["totals"] == doc["totals"] and direct["members"] == doc["members"]
    assert direct["community_account"] == doc["community_account"]


@pytest.mark.parametrize("month", MONTHS)
def test_community_page_and_report_rows_add_up_to_the_tiles(world, month):
    doc = world["book"].result(month)
    total = allocation_total(doc)
    with time_machine.travel(AS_OF, tick=True):
        ref = _client(world, "ref")
        page = ref.get(f"/community?month={month}").text
        report = ref.get(f"/community/report.html?month={month}").text
    for html in (page, report):
        for row in payee_rows(doc):
            cells = payee_row(html, row["id"])
            for k in MONEY_KEYS:
                assert keyed(cells, k) == [cell(k, row[k])], (row["id"], k)
        foot = re.search(r'data-testid="allocation-total".*?</tr>', html, re.S).group(0)
        tiles = html.split('data-testid="community-money"')[1].split("</section>")[0]
        for k in ("premium_eur", "valorisation_eur", "sale_eur"):
            assert keyed(foot, k) == [eur(total[k])] == [eur(doc["totals"][k])] == keyed(tiles, k)[:1], k
        assert keyed(foot, "fees_eur") == [eur(0.0)]
        kpis = html.split('data-testid="kpis"')[1].split("</div>\n</div>")[0]
        assert keyed(kpis, "injected_kwh") == [fmt_number(doc["totals"]["injected_kwh"], "en", 0) + " kWh"]
        assert keyed(kpis, "shared_kwh") == [fmt_number(doc["totals"]["shared_kwh"], "en", 0) + " kWh"]


@pytest.mark.parametrize("member", ["a", "b", "c", "d"])
def test_member_page_statement_and_csv_agree_with_the_settlement(world, member):
    book = world["book"]
    with time_machine.travel(AS_OF, tick=True):
        c = _client(world, member)
        page = c.get("/members/{}?month=2026-10".format(member)).text
        statement = c.get(f"/members/{member}/statement.html?month=2026-10").text
        csv_text = c.get(f"/members/{member}/statement.csv?month=2026-10").text
    oct_ = next(e for e in book.result("2026-10")["members"] if e["id"] == member)
    year = sum_money([e for m in MONTHS for e in book.result(m)["members"] if e["id"] == member])
    typed = book.statement(member, "2026-10")
    assert typed.money.as_dict() == {k: oct_[k] for k in MONEY_KEYS}
    assert typed.year_total.as_dict() == year and typed.year_balance is None
    for html in (page, statement):
        month_tiles = html.split('data-testid="money-month"')[1].split('data-testid="money-year"')[0]
        year_tiles = html.split('data-testid="money-year"')[1].split("</section>")[0]
        for k in MONEY_KEYS:
            assert keyed(month_tiles, k) == [eur(oct_[k])], k
            assert keyed(year_tiles, k)[:1] == [eur(year[k])], k
        assert keyed(html, "member_withdrawn_kwh") == [fmt_number(oct_["withdrawn_kwh"], "en", 1) + " kWh"]
        assert keyed(html, "member_shared_kwh") == [fmt_number(oct_["shared_kwh"], "en", 1) + " kWh"]
    rows = {r["month"]: r for r in csv.DictReader(io.StringIO(csv_text))}
    for k in MONEY_KEYS:
        assert rows["2026-10"][k] == f"{oct_[k]:.2f}" and rows["2026"][k] == f"{year[k]:.2f}"
        assert float(rows["2026"][k]) == pytest.approx(
            float(rows["2026-09"][k]) + float(rows["2026-10"][k]), abs=1e-9
        )
    assert rows["2026-10"]["withdrawn_kwh"] == f"{oct_['withdrawn_kwh']:.3f}"


def test_settle_and_report_commands_agree_with_the_dashboard(world, tmp_path):
    doc = world["book"].result("2026-10")
    with time_machine.travel(AS_OF, tick=True):
        res = CliRunner().invoke(
            cli,
            [
                "settle",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--fill",
                "zero",
                "--format",
                "csv",
            ],
        )
        assert res.exit_code == 0, res.output
        settled = {r["id"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
        for row in payee_rows(doc):
            for k in MONEY_KEYS:
                assert float(settled[row["id"]][k]) == row[k], (row["id"], k)
        table = CliRunner().invoke(
            cli,
            [
                "settle",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--fill",
                "zero",
                "--member",
                "d",
            ],
        )
        d = next(m for m in doc["members"] if m["id"] == "d")
        assert f"{d['fees_eur']:,.2f} €" in table.stdout and f"{d['total_eur']:,.2f} €" in table.stdout
        out = tmp_path / "c.csv"
        res = CliRunner().invoke(
            cli,
            [
                "report",
                "member",
                "c",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--fill",
                "zero",
                "--format",
                "csv",
                "--out",
                str(out),
            ],
        )
        assert res.exit_code == 0, res.output
        assert "reporting 2026-10 (the last complete month" in res.output
    rows = {r["month"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    c = next(m for m in doc["members"] if m["id"] == "c")
    assert all(rows["2026-10"][k] == f"{c[k]:.2f}" for k in MONEY_KEYS)
    assert rows["2026-09"]["total_eur"] == "0.00"  # not a member before 16 October


def test_the_yearly_balance_closes_the_year(world):
    """As of 2 January 2027 the year 2026 is closed: Σ monthly statements + balance = the year's allocation,
    for
    every payee, and the balances add up to zero in every column."""
    c, frame, prices = world["community"], world["frame"], world["prices"]
    book = SettledMonths(c, frame, prices, fill="zero", as_of=dt.date(2027, 1, 2))
    whole = {r["id"]: r for r in payee_rows(settle(c, frame, prices, fill="zero").to_dict())}
    balances = []
    for payee, row in whole.items():
        balance = book.year_balance(2026, payee).as_dict()
        months = sum_money([r for m in MONTHS for r in payee_rows(book.result(m)) if r["id"] == payee])
        assert sum_money([months, balance]) == {k: row[k] for k in MONEY_KEYS}, payee
        balances.append(balance)
    assert sum_money(balances) == {k: 0.0 for k in MONEY_KEYS}
    # the member's year shown in October is the sum of the months; the balance appears with December only
    assert book.statement("a", "2026-10").year_balance is None
    assert world["book"].year_balance(2026, "a") is None  # as of 5 November the year is open


def test_settle_over_two_months_shows_the_monthly_statements_and_the_balance(world):
    """`condivisa settle` over September and October: each payee's Σ of monthly statements equals the year the
    dashboard shows, and Σ months + balance equals the two-month allocation."""
    import json

    book = world["book"]
    with time_machine.travel(AS_OF, tick=True):
        res = CliRunner().invoke(
            cli,
            [
                "settle",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--fill",
                "zero",
                "--from",
                "2026-09-01",
                "--to",
                "2026-10-31",
            ],
        )
        table = CliRunner().invoke(
            cli,
            [
                "settle",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--fill",
                "zero",
                "--format",
                "table",
                "--from",
                "2026-09-01",
                "--to",
                "2026-10-31",
            ],
        )
    assert res.exit_code == 0 and table.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    period = {r["id"]: r for r in payee_rows(doc)}
    ms = {r["id"]: r for r in doc["monthly_statements"]["payees"]}
    assert doc["monthly_statements"]["months"] == list(MONTHS)
    for member in ("a", "b", "c", "d"):
        assert ms[member]["sum_of_months"] == book.statement(member, "2026-10").year_total.as_dict()
    for pid, row in period.items():
        assert sum_money([ms[pid]["sum_of_months"], ms[pid]["balance"]]) == {k: row[k] for k in MONEY_KEYS}
    assert "Monthly statements 2026-09 to 2026-10" in " ".join(table.stdout.split())


def _tax(row: dict) -> dict[str, float]:
    """The tax view of a result document's member row, read on its own (non-commercial community): the
    sale is income; premium + valorisation, in whole cents, are passed on (Ris. AdE 37/E/2024)."""
    passed_on = (round(row["premium_eur"] * 100) + round(row["valorisation_eur"] * 100)) / 100 + 0.0
    return {
        "tax_income_eur": row["sale_eur"],
        "tax_passed_on_eur": passed_on,
        "tax_fees_eur": row["fees_eur"],
        "tax_gse_fees_eur": row["gse_fees_eur"],
        "tax_total_eur": row["total_eur"],
    }


@pytest.mark.parametrize("member", ["a", "b", "c", "d"])
def test_the_tax_view_agrees_everywhere(world, member):
    """Rule 12 of #14: the tax view on the dashboard, the HTML statement, the CSV and ``condivisa settle
    --member`` equals the settlement result to the cent (month and year)."""
    book = world["book"]
    oct_ = next(e for e in book.result("2026-10")["members"] if e["id"] == member)
    year = sum_money([e for m in MONTHS for e in book.result(m)["members"] if e["id"] == member])
    month_tax, year_tax = _tax(oct_), _tax(year)
    if member == "a":  # the producer: pv-a's sale goes to a (rules.sale: producers)
        assert month_tax["tax_income_eur"] > 0
    with time_machine.travel(AS_OF, tick=True):
        c = _client(world, member)
        page = c.get(f"/members/{member}?month=2026-10").text
        statement = c.get(f"/members/{member}/statement.html?month=2026-10").text
        csv_text = c.get(f"/members/{member}/statement.csv?month=2026-10").text
        table = CliRunner().invoke(
            cli,
            [
                "settle",
                "--config",
                str(world["config"]),
                "--database",
                world["url"],
                "--prices",
                str(world["prices_file"]),
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--fill",
                "zero",
                "--member",
                member,
            ],
            env={"COLUMNS": "200"},
        )
    assert book.statement(member, "2026-10").tax_month.amounts() == {
        **month_tax,
        "tax_community_income_eur": 0.0,
    }
    for html in (page, statement):
        box = html.split('data-testid="tax-view"')[1].split("</section>")[0]
        for k in month_tax:
            if k == "tax_gse_fees_eur" and not (month_tax[k] or year_tax[k]):
                assert keyed(box, k) == [], k  # no GSE fees borne: no line
                continue
            assert keyed(box, k) == [eur(month_tax[k]), eur(year_tax[k])], k
        assert "Risoluzione n. 37/E del 22/07/2024" in box and "not tax advice" in box
    rows = {r["month"]: r for r in csv.DictReader(io.StringIO(csv_text))}
    for k in ("tax_income_eur", "tax_passed_on_eur"):
        assert rows["2026-10"][k] == f"{month_tax[k]:.2f}" and rows["2026"][k] == f"{year_tax[k]:.2f}", k
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    for label, k in (
        ("Sale of energy: income", "tax_income_eur"),
        ("valorisation passed on", "tax_passed_on_eur"),
    ):
        line = next(x for x in lines if label in x)
        assert f"{month_tax[k]:,.2f} €" in line, (label, line)


# ---- GSE fees (DM 106/2024): a line of their own wherever money is shown -----------------------------------
JUNE_2024_AS_OF = dt.datetime(2024, 7, 5, 9, 0, tzinfo=ROME)


def amount(text: str) -> int:
    """A shown amount (English format) in cents; an empty cell is 0."""
    text = text.replace(",", "").replace("−", "-").strip()
    return round(float(text) * 100) if text else 0


def adds_up(row: dict) -> bool:
    """The money lines of a row add up to its total, to the cent."""
    return sum(round(float(row[k]) * 100) for k in MONEY_KEYS[:-1]) == round(float(row["total_eur"]) * 100)


@pytest.fixture(scope="module", params=["community", "producers"])
def example(request, tmp_path_factory):
    """The example community in June 2024: the GSE fees (pv1 18 kW 1.23 €, pv2 250 kW 20.08 €) borne by the
    community account (default) or by the plants' owners (m3 owns pv1, m4 owns pv2; rules.gse_fees:
    producers)."""
    import yaml

    from condivisa.formats.csv_io import read_measurements, read_prices

    raw = yaml.safe_load(open("examples/community.yaml", encoding="utf-8"))
    if request.param == "producers":
        raw["rules"] = {**raw["rules"], "gse_fees": "producers"}
    frame = read_measurements("examples/measurements-2024-06.csv")
    prices = read_prices("examples/prices-2024-06.csv")
    w = _build_world(
        tmp_path_factory.mktemp(f"gse-{request.param}"), raw, lambda c: frame, prices, JUNE_2024_AS_OF, None
    )
    w["bearers"] = {"community": -21.31} if request.param == "community" else {"m3": -1.23, "m4": -20.08}
    return w


def _cli(world, *args: str, env: dict | None = None):
    base = [
        "--config",
        str(world["config"]),
        "--database",
        world["url"],
        "--prices",
        str(world["prices_file"]),
    ]
    return CliRunner().invoke(
        cli, [*args[:1], *base, "--from", "2024-06-01", "--to", "2024-06-30", *args[1:]], env=env
    )


def test_the_gse_fees_and_totals_agree_on_every_output(example):
    import json

    doc = example["book"].result("2024-06")
    assert doc["gse_fees"]["by_payee_eur"] == example["bearers"]
    rows = {r["id"]: r for r in payee_rows(doc)}
    for pid, gse in example["bearers"].items():
        assert rows[pid]["gse_fees_eur"] == gse, pid
    for row in rows.values():  # result.json: every payee's lines add up to its total
        assert adds_up(row), row["id"]
    with time_machine.travel(JUNE_2024_AS_OF, tick=True):
        ref = _client(example, "ref")
        page = ref.get("/community?month=2024-06").text
        report = ref.get("/community/report.html?month=2024-06").text
        settled_csv = _cli(example, "settle", "--format", "csv")
        settled_json = _cli(example, "settle")
    # the dashboard and the community report: every row shows the GSE fees and adds up to its total
    total = allocation_total(doc)
    assert total["gse_fees_eur"] == -21.31
    for html in (page, report):
        assert "GSE fees (€)" in html
        for pid, row in rows.items():
            cells = payee_row(html, pid)
            for k in MONEY_KEYS:
                assert keyed(cells, k) == [cell(k, row[k])], (pid, k)
            shown = [amount(keyed(cells, k)[0]) for k in MONEY_KEYS]
            assert sum(shown[:-1]) == shown[-1], pid
        foot = re.search(r'data-testid="allocation-total".*?</tr>', html, re.S).group(0)
        assert keyed(foot, "gse_fees_eur") == [eur(-21.31)] and keyed(foot, "total_eur") == [
            eur(total["total_eur"])
        ]
        shown = [amount(keyed(foot, k)[0]) for k in MONEY_KEYS]
        assert sum(shown[:-1]) == shown[-1]
    # the CLI: `condivisa settle --format csv` and result.json
    assert settled_csv.exit_code == 0 and settled_json.exit_code == 0, settled_csv.output
    by_id = {r["id"]: r for r in csv.DictReader(io.StringIO(settled_csv.stdout))}
    result_json = {r["id"]: r for r in payee_rows(json.loads(settled_json.stdout))}
    for pid, row in rows.items():
        assert float(by_id[pid]["gse_fees_eur"] or 0) == row["gse_fees_eur"], pid
        assert float(by_id[pid]["total_eur"]) == row["total_eur"], pid
        assert {k: result_json[pid][k] for k in MONEY_KEYS} == {k: row[k] for k in MONEY_KEYS}, pid


@pytest.mark.parametrize("example", ["producers"], indirect=True)
def test_a_producer_bearing_the_gse_fees_sees_them_on_every_statement(example):
    book = example["book"]
    doc = book.result("2024-06")
    for member, gse in example["bearers"].items():
        row = next(m for m in doc["members"] if m["id"] == member)
        assert row["gse_fees_eur"] == gse and adds_up(row)
        with time_machine.travel(JUNE_2024_AS_OF, tick=True):
            c = _client(example, member)
            page = c.get(f"/members/{member}?month=2024-06").text
            statement = c.get(f"/members/{member}/statement.html?month=2024-06").text
            csv_text = c.get(f"/members/{member}/statement.csv?month=2024-06").text
            table = _cli(example, "settle", "--member", member, env={"COLUMNS": "200"})
        for html in (page, statement):
            tiles = html.split('data-testid="money-month"')[1].split('data-testid="money-year"')[0]
            for k in MONEY_KEYS:
                assert keyed(tiles, k) == [eur(row[k])], (member, k)
            box = html.split('data-testid="tax-view"')[1].split("</section>")[0]
            assert keyed(box, "tax_gse_fees_eur") == [eur(gse), eur(gse)]
            lines = [k for k in re.findall(r'data-period="month" data-key="([^"]*)"', box)]
            month = {k: amount(keyed(box, k)[0]) for k in lines}
            assert sum(v for k, v in month.items() if k != "tax_total_eur") == month["tax_total_eur"]
            assert month["tax_total_eur"] == round(row["total_eur"] * 100)
            trend = html.split('data-testid="trend-table"')[1].split("</table>")[0]
            assert eur(gse) in trend
        reader = csv.reader(io.StringIO(csv_text))
        header = next(reader)
        assert header[-1] == "total_eur" and "gse_fees_eur" in header
        for r in reader:
            values = dict(zip(header, r, strict=True))
            assert adds_up(values), r
        month_row = next(r for r in csv.DictReader(io.StringIO(csv_text)) if r["month"] == "2024-06")
        assert (
            month_row["gse_fees_eur"] == f"{gse:.2f}" and month_row["total_eur"] == f"{row['total_eur']:.2f}"
        )
        assert table.exit_code == 0, table.output
        gse_line = next(x for x in table.stdout.splitlines() if "GSE fees (DM 106/2024)" in x)
        assert f"{gse:,.2f} €" in gse_line and f"{row['total_eur']:,.2f} €" in table.stdout


def test_the_social_fund_is_a_line_and_an_sme_gets_the_cap_note(tmp_path):
    """rules.threshold_surplus_to: social_fund: the premium above the threshold taken from the SME goes to the
    social fund, a row of its own in the allocation table; the SME's statement explains the cap."""
    from condivisa.outputs import report
    from condivisa.outputs.statement import payee_lines
    from settlement_helpers import community, flat_prices, hourly_frame

    day = dt.date(2024, 6, 3)
    # one hour, injected 10 kWh, withdrawn sme 7 + private 1 → shared 8, ratio 80 %: premium 0.96 €,
    # R = 96 × (0.80 − 0.55) / 0.80 = 30 cents → the sme gets at most 66 of its 84: 18 cents to the fund
    members = [
        {"id": "s", "name": "Bar Esse", "category": "sme", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "q", "founder": True, "pods": [{"pod": "C2"}]},
    ]
    rules = {
        "premium": {"producers": 0, "community": 0, "consumers": 1},
        "threshold_surplus_to": "social_fund",
    }
    plants = [{"id": "p", "pod": "P1", "owner": "q", "power_kw": 10, "commissioning": "2024-01-01"}]
    c = community(members=members, plants=plants, rules=rules)
    m = hourly_frame(
        day, {"C1": ({12: 7.0}, "withdrawn"), "C2": ({12: 1.0}, "withdrawn"), "P1": ({12: 10.0}, "injected")}
    )
    book = SettledMonths(c, m, flat_prices(day, 100.0), as_of=dt.date(2024, 6, 4))
    ms = book.month("2024-06")
    lines = payee_lines(c, ms.result)
    assert [(p.id, p.kind) for p in lines] == [
        ("s", "member"),
        ("q", "member"),
        ("community", "community"),
        ("social_fund", "social_fund"),
    ]
    fund = lines[-1].money
    assert fund.premium_eur == fund.total_eur == ms.document["social_fund"]["total_eur"] == 0.18
    for lang, label in (("en", "Social fund"), ("it", "Fondo sociale")):
        html = report.community_report_html(book, "2024-06", lang)
        cells = payee_row(html, "social_fund")
        assert label in cells and keyed(cells, "premium_eur") == [fmt_number(0.18, lang)]
        foot = re.search(r'data-testid="allocation-total".*?</tr>', html, re.S).group(0)
        assert keyed(foot, "premium_eur") == [fmt_number(0.96, lang)]  # the fund's line makes the total
    st = book.statement("s", "2024-06")
    assert st.money.premium_eur == 0.66
    note = next(n for n in st.notes if "Enterprise cap" in n)
    assert "premium above the threshold" in note and "SMEs included" in note
    from rich.console import Console

    from condivisa.outputs.statement import statement_table

    console = Console(width=400, record=True)
    console.print(statement_table(st))  # `condivisa settle --member s`
    assert note in console.export_text()
    assert not any("Enterprise cap" in n for n in book.statement("q", "2024-06").notes)


@pytest.mark.parametrize("member", ["a", "b", "c", "d"])
def test_the_member_pages_new_figures_come_from_the_settlement(world, member):
    """Income and costs tiles (month and year), the comparison with the month before, a producer's plant and
    the overlap of the overlay chart: each from the months' settlement documents, to the cent."""
    book = world["book"]
    with time_machine.travel(AS_OF, tick=True):
        c = _client(world, member)
        page = c.get(f"/members/{member}?month=2026-10").text
        statement = c.get(f"/members/{member}/statement.html?month=2026-10").text
    row = {m: next(e for e in book.result(m)["members"] if e["id"] == member) for m in MONTHS}
    cents = lambda rows, keys: sum(round(r[k] * 100) for r in rows for k in keys)  # noqa: E731
    income, costs = ("premium_eur", "valorisation_eur", "sale_eur"), ("fees_eur", "gse_fees_eur")
    for html in (page, statement):
        month_tiles = html.split('data-testid="money-month"')[1].split('data-testid="money-year"')[0]
        year_tiles = html.split('data-testid="money-year"')[1].split("</section>")[0]
        assert keyed(month_tiles, "income_eur") == [eur(cents([row["2026-10"]], income) / 100)]
        assert keyed(month_tiles, "costs_eur") == [eur(cents([row["2026-10"]], costs) / 100 + 0.0)]
        assert keyed(year_tiles, "income_eur") == [eur(cents(row.values(), income) / 100)]
        assert keyed(year_tiles, "costs_eur") == [eur(cents(row.values(), costs) / 100 + 0.0)]
        cmp = html.split('data-testid="compare"')[1].split("</table>")[0]
        for key, r in (("total_eur", "total_eur"), ("withdrawn_kwh", "withdrawn_kwh")):
            tr = re.search(rf'<tr data-compare="{key}">.*?</tr>', cmp, re.S).group(0)
            dec = 1 if key.endswith("_kwh") else 2
            for period, month in (("this", "2026-10"), ("prev", "2026-09")):
                cell_text = re.search(rf'data-period="{period}">([^<]*)<', tr).group(1).strip()
                assert cell_text.split(" ")[0] == fmt_number(row[month][r], "en", dec), (key, period)
        pct = fmt_number(100 * row["2026-10"]["shared_kwh"] / row["2026-10"]["withdrawn_kwh"], "en", 0)
        assert f"{pct} % of your consumption was covered by the community" in html
        plants = [p for p in book.result("2026-10")["plants"] if p["owner"] == member]
        assert ('data-testid="producer"' in html) == bool(plants)
        for p in plants:
            tr = re.search(rf'<tr data-plant="{p["id"]}">.*?</tr>', html, re.S).group(0)
            for key, dec in (("injected_kwh", 1), ("shared_kwh", 1), ("sale_eur", 2)):
                got = re.search(rf'data-plant-key="{key}">([^<]*)<', tr).group(1)
                assert got == fmt_number(p[key], "en", dec), (p["id"], key)
