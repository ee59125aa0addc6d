"""The member statement model: one typed statement from the settlement result, for every output."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from rich.console import Console

from condivisa.engines.settlement import settle
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import (
    MONEY_KEYS,
    Money,
    balances,
    member_statement,
    payee_lines,
    statement_table,
)
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


@pytest.fixture(scope="module")
def community():
    from condivisa.domain.config import load_community

    return load_community(EXAMPLE_COMMUNITY)


@pytest.fixture(scope="module")
def result(community):
    return settle(community, read_measurements(MEAS, known_pods=community.all_pods), read_prices(PRICES))


def test_money_adds_and_subtracts_in_whole_cents():
    lines = [Money(premium_eur=0.1, total_eur=0.1)] * 3
    # 0.1 + 0.1 + 0.1 in floats is 0.30000000000000004; in cents it is 30
    assert Money.sum(lines) == Money(premium_eur=0.3, total_eur=0.3)
    assert Money.sum([]) == Money()
    assert Money(fees_eur=-1.05).minus(Money(fees_eur=-1.05)).as_dict() == dict.fromkeys(MONEY_KEYS, 0.0)
    assert str(Money().minus(Money()).fees_eur) == "0.0"  # never "-0.0"
    assert list(Money().as_dict()) == list(MONEY_KEYS)


def test_statement_is_the_settlement_result(community, result):
    doc = result.to_dict()
    for entry in doc["members"]:
        st = member_statement(community, entry["id"], result)
        assert st.member.id == entry["id"] and st.community == community.name
        assert st.money.as_dict() == {k: entry[k] for k in MONEY_KEYS}
        assert st.energy.as_dict() == {
            k: entry[k] for k in ("withdrawn_kwh", "injected_kwh", "consumption_in_shared_kwh", "shared_kwh")
        }
        assert (st.first_day, st.last_day) == (dt.date(2024, 6, 1), dt.date(2024, 6, 30))
        assert st.row() == {**entry, "name": entry["name"] or entry["id"]}
    # a statement of one settlement has no year: its year is empty
    assert st.months == () and st.year_balance is None and st.year_total == Money()


def test_notes_explain_the_later_members_fees(community, result):
    m5 = member_statement(community, "m5", result)
    due = result.to_dict()["later_members"]["fees_due_eur"]["m5"]
    assert m5.money.fees_eur < 0
    assert f"Fees due {due:.2f} €, collected {-m5.money.fees_eur:.2f} €." in m5.notes
    assert member_statement(community, "m1", result).notes == ()
    doc = m5.as_dict()
    assert doc["member"]["pods"] == ["IT001E00000005"] and doc["money"]["fees_eur"] == m5.money.fees_eur
    assert doc["period"] == {"from": "2024-06-01", "to": "2024-06-30"} and doc["notes"] == list(m5.notes)


def test_an_unknown_member_and_an_empty_month(community):
    with pytest.raises(KeyError, match="no member 'zz' in"):
        member_statement(community, "zz", None)
    st = member_statement(community, "m1", None, month="2024-07")
    assert st.money == Money() and st.energy.shared_kwh == 0.0 and st.first_day is None and st.notes == ()


def test_payee_lines_add_up_to_the_totals(community, result):
    doc = result.to_dict()
    lines = payee_lines(community, result)
    assert [p.id for p in lines] == [m["id"] for m in doc["members"]] + ["community"]
    assert next(p for p in lines if p.kind == "community").money.as_dict() == doc["community_account"]
    total = Money.sum(p.money for p in lines)
    for k in ("premium_eur", "valorisation_eur", "sale_eur"):
        assert getattr(total, k) == doc["totals"][k]
    assert total.fees_eur == 0.0
    empty = payee_lines(community, None)
    assert [p.kind for p in empty][-1] == "community" and Money.sum(p.money for p in empty) == Money()


def test_balances_bring_the_months_to_the_whole(community, result):
    whole = payee_lines(community, result)
    cent = Money(total_eur=0.01)
    months = [[dataclasses.replace(p, money=p.money.minus(cent)) for p in whole]]
    b = balances(whole, months)
    assert list(b) == [p.id for p in whole]
    assert all(
        x.balance == cent and Money.sum([x.sum_of_months, cent]).total_eur == w.money.total_eur
        for x, w in zip(b.values(), whole, strict=True)
    )


def test_monthly_statement_carries_the_year(community):
    book = SettledMonths(
        community, read_measurements(MEAS, known_pods=community.all_pods), read_prices(PRICES)
    )
    st = book.statement("m3", "2024-06")
    assert st.month == "2024-06" and [m.month for m in st.months] == ["2024-06"]
    assert st.months[0].money == st.money == st.year_total == st.year_months
    assert book.member_months("m3")[0].as_dict()["total_eur"] == st.money.total_eur


def test_statement_table_prints_the_statement(community, result):
    console = Console(width=120, record=True)
    console.print(statement_table(member_statement(community, "m5", result)))
    text = console.export_text()
    assert "Statement of m5 Officina Neri srl" in text and "2024-06-01 to 2024-06-30" in text
    assert "Fees (paid: negative)" in text and "Fees due" in text
