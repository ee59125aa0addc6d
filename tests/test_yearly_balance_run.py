"""The yearly balance run (conguaglio, issue #16): ``runs close-year`` stores an immutable run of kind
``yearly_balance`` whose lines bring the year's final runs and corrections to the yearly close, to the cent.

The community is small and synthetic (a year of three months, June to August 2024, hourly data): an SME
``s`` and a private member ``q`` share a 10 kW plant. June shares 8 of 10 kWh at noon (80 % > 55 %: June's
premium above the threshold is moved off the SME), July and August 1 of 10 kWh: on the year
(240 + 31 + 31) / (300 + 310 + 310) = 32.8 % ≤ 55 %, no surplus, so at the close the SME gets back what
June's provisional rule took (the balance of its premium is positive, the private member's negative)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from condivisa.billing import runs
from condivisa.billing.distribution import distribute
from condivisa.billing.run_lines import PARTS
from condivisa.billing.run_records import RunError, get_run, list_runs
from condivisa.billing.statements import run_statement_html
from condivisa.billing.yearly_balance import close_year_run, draft_year
from condivisa.billing.yearly_summary import summary_csv, yearly_summary
from condivisa.cli import app
from condivisa.engines.settlement import settle
from condivisa.engines.yearly_close import COMPONENTS, close_year, payee_cents
from condivisa.outputs.sources import inputs_from_files
from condivisa.store.store import Store
from settlement_helpers import flat_prices, hourly_frame

NAME = "CER Anno"
MONTHS = (("2024-06", dt.date(2024, 6, 1), 30), ("2024-07", dt.date(2024, 7, 1), 31))
MONTHS += (("2024-08", dt.date(2024, 8, 1), 31),)
runner = CliRunner()

COMMUNITY = {
    "name": NAME,
    "configuration": "CER",
    "zone": "south",
    "constituted": "2024-01-01",
    "primary_substation": "AC1",
    "members": [
        {
            "id": "s",
            "name": "Officina",
            "category": "sme",
            "founder": True,
            "pods": [{"pod": "IT001E00000101"}],
        },
        {"id": "q", "name": "Famiglia", "founder": True, "pods": [{"pod": "IT001E00000102"}]},
    ],
    "plants": [
        {"id": "p", "pod": "IT001E00000201", "owner": "q", "power_kw": 10, "commissioning": "2024-01-01"}
    ],
    "rules": {"premium": {"producers": 0, "community": 0, "consumers": 1}},
}


def _month(first: dt.date, days: int, s_kwh: float, q_kwh: float) -> pd.DataFrame:
    values = {
        "IT001E00000101": ({12 + 24 * d: s_kwh for d in range(days)}, "withdrawn"),
        "IT001E00000102": ({12 + 24 * d: q_kwh for d in range(days)}, "withdrawn"),
        "IT001E00000201": ({12 + 24 * d: 10.0 for d in range(days)}, "injected"),
    }
    return hourly_frame(first, values, days)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """community.yaml, the measurements CSV and the prices CSV of the year."""
    d = tmp_path_factory.mktemp("year")
    (d / "community.yaml").write_text(yaml.safe_dump(COMMUNITY, sort_keys=False), encoding="utf-8")
    frames = [
        _month(MONTHS[0][1], 30, 7.0, 1.0),
        _month(MONTHS[1][1], 31, 0.5, 0.5),
        _month(MONTHS[2][1], 31, 0.5, 0.5),
    ]
    m = pd.concat(frames, ignore_index=True)
    m["start"] = m["start"].map(lambda t: t.isoformat())
    m.to_csv(d / "measurements.csv", index=False)
    p = flat_prices(dt.date(2024, 6, 1), 100.0, 92)
    pd.DataFrame({"start": [t.isoformat() for t in p.index], "zonal_price_eur_per_mwh": p.values}).to_csv(
        d / "prices.csv", index=False
    )
    return d


@pytest.fixture(scope="module")
def inputs(files):
    return inputs_from_files(files / "community.yaml", files / "measurements.csv", files / "prices.csv")


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.upgrade()
    yield s
    s.close()


def _yearly_close(inputs):
    """``close_year`` of the months settled each on its own (what ``condivisa settle --year`` closes)."""
    m = inputs.measurements
    months = []
    for _, first, days in MONTHS:
        lo = pd.Timestamp(first, tz="Europe/Rome")
        hi = lo + pd.Timedelta(days=days)
        part = m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True)
        months.append(settle(inputs.community, part, inputs.prices, period=(first, first.replace(day=days))))
    return close_year(months)


def _finalize_all(store, inputs):
    return [runs.finalize(store, inputs, (month,), created_by="test") for month, _, _ in MONTHS]


def _year_in_force(store, year=2024):
    """Per payee and money kind: every line of every stored run of the year (months and yearly balance)."""
    out: dict[str, dict[str, int]] = {}
    for run in list_runs(store, NAME):
        for line in run.lines:
            if line.month.startswith(f"{year}"):
                acc = out.setdefault(line.payee_id, dict.fromkeys(PARTS, 0))
                for p in PARTS:
                    acc[p] += getattr(line, p)
    return out


def _closed(close):
    return {
        p.id: {part: payee_cents(close.closed, p.id)[c] for part, c in zip(PARTS, COMPONENTS)}
        for p in close.payees
    }


# ------------------------------------------------------------------------------------------ the close
def test_the_year_in_force_adds_up_to_the_yearly_close_to_the_cent(store, inputs, monkeypatch):
    from condivisa.kernel import clock

    monkeypatch.setattr(clock, "today", lambda: dt.date(2024, 12, 20))
    with pytest.raises(RunError, match="2024 is not over yet"):
        close_year_run(store, inputs, 2024)
    monkeypatch.undo()

    runs.finalize(store, inputs, ("2024-06",))
    runs.finalize(store, inputs, ("2024-07",))
    with pytest.raises(RunError, match=r"2024-08 of 2024 not in a final run: finalize 2024-08 first"):
        close_year_run(store, inputs, 2024)
    runs.finalize(store, inputs, ("2024-08",))

    run = close_year_run(store, inputs, 2024, created_by="referente")
    assert (run.number, run.kind, run.months, run.created_by) == (
        4,
        "yearly_balance",
        ("2024-06", "2024-07", "2024-08"),
        "referente",
    )
    assert "yearly balance 2024" in run.label
    assert {line.month for line in run.lines} == {"2024"}
    assert run.inputs["month_runs"] == [1, 2, 3] and run.inputs["kind"] == "yearly_balance"

    close = _yearly_close(inputs)
    assert not close.closed.enterprise_cap.get("moved_cents")  # no surplus on the year
    assert _year_in_force(store) == _closed(close)  # every payee, every kind, to the cent
    balance = {line.payee_id: line for line in run.lines}
    for p in close.payees:  # the inputs did not change: the run's lines are the close's balances
        got = {
            c: getattr(balance[p.id], part) if p.id in balance else 0 for part, c in zip(PARTS, COMPONENTS)
        }
        assert got == {c: p.balance[c] for c in COMPONENTS[:-1]}, p.id
        assert (balance[p.id].total_cents if p.id in balance else 0) == p.balance["total"]
    assert balance["s"].premium_cents > 0 > balance["q"].premium_cents  # June's cap given back to the SME
    assert sum(x.total_cents for x in run.lines) == sum(p.balance["total"] for p in close.payees)

    with pytest.raises(RunError, match=r"2024 already closed by yearly balance run n\. 4.*runs correct 4"):
        close_year_run(store, inputs, 2024)
    assert runs.correct(store, inputs, 4).run is None  # nothing changed: nothing to correct
    with pytest.raises(RunError, match="yearly balance"):
        run_statement_html(store, inputs, run, "s", "2024-06")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing_runs SET kind = 'final' WHERE kind = 'yearly_balance'",
        "DELETE FROM billing_runs WHERE kind = 'yearly_balance'",
        "UPDATE billing_run_lines SET premium_cents = premium_cents + 1, total_cents = total_cents + 1 "
        "WHERE month = '2024'",
        "DELETE FROM billing_run_lines WHERE month = '2024'",
        "INSERT INTO billing_run_lines (run_id, payee_id, kind, month, premium_cents, valorisation_cents, "
        "sale_cents, fees_cents, gse_fees_cents, total_cents) "
        "SELECT id, 'x', 'member', '2024', 100, 0, 0, 0, 0, 100 FROM billing_runs WHERE kind = 'yearly_balance'",
    ],
)
def test_the_database_refuses_to_change_a_yearly_balance_run(store, inputs, statement):
    _finalize_all(store, inputs)
    run = close_year_run(store, inputs, 2024)
    with pytest.raises(sa.exc.DBAPIError, match="final billing run"):
        with store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert get_run(store, NAME, run.number) == run


def test_a_kind_outside_the_list_is_still_refused(store):
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO billing_runs (community, number, kind, period_start, period_end, created_at, "
                    "created_by, inputs_sha256, inputs, rules, tariffs, status, line_count, condivisa_version) "
                    "VALUES ('c', 1, 'bogus', '2024-01', '2024-12', '2025-01-02 00:00:00', 't', 'x', '{}', "
                    "'{}', '{}', 'issued', 0, '1')"
                )
            )


# ------------------------------------------------------------------------------------------ corrections
def _more_in_june(inputs, extra_kwh=2.0):
    """June 10th at noon: the SME withdraws ``extra_kwh`` more, so June shares all the plant's 10 kWh: June's
    provisional cap moves more premium off the SME, the year's close (still below 55 %) none."""
    m = inputs.measurements.copy()
    at = (m["pod"] == "IT001E00000101") & (m["start"] == pd.Timestamp("2024-06-10T12:00:00+02:00"))
    assert at.sum() == 1
    m.loc[at, "withdrawn_kwh"] += extra_kwh
    return dataclasses.replace(inputs, measurements=m)


def test_a_month_corrected_after_the_close_needs_the_yearly_run_corrected(store, inputs):
    _finalize_all(store, inputs)
    close_year_run(store, inputs, 2024)
    changed = _more_in_june(inputs)
    with pytest.raises(RunError, match=r"run n\. 1 .*measurements changed.*runs correct 1"):
        runs.correct(store, changed, 4)  # the month first
    month = runs.correct(store, changed, 1)
    assert month.run is not None and month.run.number == 5
    assert "closed by yearly balance run n. 4" in month.message and "runs correct 4" in month.message
    # now the months in force are the new data's, the yearly balance still the old one's
    assert _year_in_force(store) != _closed(_yearly_close(changed))

    year = runs.correct(store, changed, 4)
    assert year.run is not None and (year.run.kind, year.run.number) == ("correction", 6)
    assert year.run.corrects_number == 4 and {x.month for x in year.run.lines} == {"2024"}
    assert "months' runs" in year.changed
    assert _year_in_force(store) == _closed(_yearly_close(changed))  # again the close, to the cent
    assert runs.correct(store, changed, 6).run is None  # via the correction: the yearly run; nothing left


# ------------------------------------------------------------------------------------------ summary, CLI
def test_yearly_summary_shows_the_balance_on_its_own(store, inputs):
    _finalize_all(store, inputs)
    before = {r.member_id: r for r in yearly_summary(store, inputs.community, 2024)}
    assert all(r.balance is None for r in before.values())
    run = close_year_run(store, inputs, 2024)
    rows = {r.member_id: r for r in yearly_summary(store, inputs.community, 2024)}
    lines = {x.payee_id: x for x in run.lines}
    for mid, r in rows.items():
        assert r.balance is not None and r.balance.total_cents == lines[mid].total_cents
        assert r.line.total_cents == before[mid].line.total_cents + lines[mid].total_cents
        assert r.runs == (*before[mid].runs, run.number)
        assert r.months == ("2024-06", "2024-07", "2024-08")
    closed = _closed(_yearly_close(inputs))
    assert {m: sum(v.values()) for m, v in closed.items() if m in rows} == {
        m: r.line.total_cents for m, r in rows.items()
    }
    text = summary_csv(list(rows.values()))
    assert "yearly_balance_eur" in text.splitlines()[0]
    assert f"{lines['s'].total_cents / 100:.2f}" in text.splitlines()[1]


def test_distributing_the_yearly_balance_uses_the_closed_keys(store, inputs):
    _finalize_all(store, inputs)
    run = close_year_run(store, inputs, 2024)
    keys = [x for r in list_runs(store, NAME) for x in r.lines]
    expected = sum(x.premium_cents + x.valorisation_cents + x.gse_fees_cents for x in run.lines)
    d = distribute(run.lines, expected + 100, keys=keys)  # the GSE paid 1 € more than the balance
    assert d.difference_cents == 100
    assert sum(x.premium_cents + x.valorisation_cents + x.gse_fees_cents for x in d.lines) == expected + 100
    assert {x.payee_id for x in d.lines} >= {x.payee_id for x in run.lines}


def _cli(*args):
    r = runner.invoke(app, ["runs", *map(str, args)])
    return r, r.output


def test_cli_close_year_summary_and_distribute(files, tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    base = ["-c", files / "community.yaml", "-p", files / "prices.csv", "-m", files / "measurements.csv"]
    base += ["--database", db]
    for month, _, _ in MONTHS[:2]:
        assert _cli("finalize", "--month", month, *base)[0].exit_code == 0
    r, out = _cli("close-year", "--year", "2024", *base)
    assert r.exit_code == 2 and "finalize 2024-08 first" in out
    assert _cli("finalize", "--month", "2024-08", *base)[0].exit_code == 0
    r, out = _cli("close-year", "--year", "2024", *base)
    assert r.exit_code == 0, out
    assert "stored yearly balance run n. 4 of 2024" in out
    r, out = _cli("close-year", "--year", "2024", *base)
    assert r.exit_code == 2 and "runs correct 4" in out

    # the yearly close of `condivisa settle --year`, in €: the year's money as summarised, to the cent
    settled = runner.invoke(
        app,
        [
            "settle",
            "--config",
            str(files / "community.yaml"),
            "--measurements",
            str(files / "measurements.csv"),
        ]
        + ["--prices", str(files / "prices.csv"), "--year", "2024", "--out", str(tmp_path / "r.json")],
    )
    assert settled.exit_code == 0, settled.output
    closed = {
        p["id"]: p["closed"] for p in json.loads((tmp_path / "r.json").read_text())["yearly_close"]["payees"]
    }
    r, out = _cli(
        "yearly-summary", "--year", "2024", "-c", files / "community.yaml", "--database", db, "-f", "json"
    )
    assert r.exit_code == 0, out
    for row in json.loads(out):
        assert row["total_eur"] == closed[row["member"]]["total_eur"], row["member"]
        assert row["premium_eur"] == closed[row["member"]]["premium_eur"], row["member"]
        assert row["yearly_balance"] is not None
    r, out = _cli("yearly-summary", "--year", "2024", "-c", files / "community.yaml", "--database", db)
    assert r.exit_code == 0 and "of which the yearly balance (conguaglio) of 2024" in out

    dist = ["distribute", "4", "-c", files / "community.yaml", "--database", db]
    r, out = _cli(*dist)
    assert r.exit_code == 2 and "ledger add --kind yearly_balance --year 2024" in out
    r, out = _cli(*dist, "--gse-paid", "1.00", "-f", "json")
    assert r.exit_code == 0, out
    assert json.loads(out)["paid_cents"] == 100
    r, out = _cli("list", "-c", files / "community.yaml", "--database", db)
    assert r.exit_code == 0 and "yearly_balance" in out


def test_the_draft_covers_only_the_year(store, inputs):
    _finalize_all(store, inputs)
    draft = draft_year(store, inputs, 2024)
    assert draft.months == ("2024-06", "2024-07", "2024-08") and draft.month_runs == (1, 2, 3)
    with pytest.raises(RunError, match="nothing to close"):
        draft_year(store, inputs, 2023)


# ------------------------------------------------------------------------------------------ migration
def test_migration_from_0920_keeps_the_runs_and_allows_the_new_kind(db_url, inputs):
    from alembic import command

    s = Store(db_url)
    try:
        s.upgrade("0920_distributor_data")
        with pytest.raises(sa.exc.IntegrityError):  # before 0930 the kind is refused
            with s.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO billing_runs (community, number, kind, period_start, period_end, "
                        "created_at, created_by, inputs_sha256, inputs, rules, tariffs, status, line_count, "
                        "condivisa_version) VALUES ('c', 1, 'yearly_balance', '2024-01', '2024-12', "
                        "'2025-01-02 00:00:00', 't', 'x', '{}', '{}', '{}', 'issued', 0, '1')"
                    )
                )
        _finalize_all(s, inputs)  # final runs stored at 0920
        before = list_runs(s, NAME)
        s.upgrade("0930_yearly_balance_runs")
        assert s.revision() == "0930_yearly_balance_runs"
        assert list_runs(s, NAME) == before
        run = close_year_run(s, inputs, 2024)
        with pytest.raises(sa.exc.DBAPIError, match="final billing run"):  # the triggers are still there
            with s.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM billing_runs"))
        cfg = s.alembic_config()
        with pytest.raises(RuntimeError, match="cannot downgrade"):
            with s.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0920_distributor_data")
        assert get_run(s, NAME, run.number) == run
    finally:
        s.close()


def test_migration_downgrades_without_yearly_runs(db_url):
    from alembic import command

    s = Store(db_url)
    try:
        s.upgrade()
        cfg = s.alembic_config()
        with s.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0920_distributor_data")
        assert s.revision() == "0920_distributor_data"
        s.upgrade("0930_yearly_balance_runs")
        assert s.revision() == "0930_yearly_balance_runs"
    finally:
        s.close()
