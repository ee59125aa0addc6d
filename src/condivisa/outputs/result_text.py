"""A settlement result document (``result.json``) for people and programs: the JSON text, a CSV of the
payees and the Rich tables a referente reads first.

Everything here formats what :class:`condivisa.engines.settlement_result.SettlementResult` computed
(:meth:`~condivisa.engines.settlement_result.SettlementResult.to_dict`); no number is recomputed. A member's
statement is :mod:`condivisa.outputs.statement`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from condivisa.formats.csv_safe import safe_dict
from condivisa.outputs.terminal import cli_number, fit_table

MEMBER_CSV_COLUMNS = (
    "id",
    "name",
    "category",
    "founder",
    "withdrawn_kwh",
    "injected_kwh",
    "consumption_in_shared_kwh",
    "shared_kwh",
    "premium_eur",
    "valorisation_eur",
    "sale_eur",
    "fees_eur",
    "gse_fees_eur",
    "total_eur",
)


def to_json(doc: dict[str, Any]) -> str:
    """The result document as indented JSON text."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_csv(doc: dict[str, Any]) -> str:
    """One line per payee: the members, then the community account and any external producer. Text cells
    that a spreadsheet would run as a formula are neutralised (:mod:`condivisa.formats.csv_safe`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MEMBER_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    gse = (doc.get("gse_fees") or {}).get("by_payee_eur", {})
    for row in doc["members"]:
        writer.writerow(safe_dict({**row, "gse_fees_eur": gse.get(row["id"], 0.0)}))
    acc = doc["community_account"]
    writer.writerow(
        safe_dict(
            {"id": "community", "name": doc["community"], **acc, "gse_fees_eur": gse.get("community", 0.0)}
        )
    )
    if "social_fund" in doc:
        writer.writerow(safe_dict({"id": "social_fund", "name": "social fund", **doc["social_fund"]}))
    for row in doc.get("external_producers", []):
        writer.writerow(
            safe_dict({"category": "external producer", **row, "gse_fees_eur": gse.get(row["id"], 0.0)})
        )
    return buf.getvalue()


def _kwh(x: float) -> str:
    return cli_number(x, 1)  # the user's locale: 1.234,5 (it) or 1,234.5


def _eur(x: float) -> str:
    return cli_number(x, 2)


def _words(value: str) -> str:
    """A code as words for the table (``public_body`` -> ``public body``)."""
    return str(value).replace("_", " ")


def summary_table(doc: dict[str, Any]) -> Table:
    """The community's months and totals (energy in kWh, money in €)."""
    p = doc["period"]
    t = Table(
        title=f"{doc['community']} ({doc['configuration']}) — {p['from']} to {p['to']}, by {p['interval']}",
        title_justify="left",
    )
    for head in (
        "Month",
        "Injected kWh",
        "Withdrawn kWh",
        "Shared kWh",
        "Incentivised kWh",
        "Premium €",
        "Valorisation €",
        "Sale €",
    ):
        t.add_column(head, justify="left" if head == "Month" else "right")

    def row(label: str, r: dict[str, Any], **kw: Any) -> None:
        t.add_row(
            label,
            _kwh(r["injected_kwh"]),
            _kwh(r["withdrawn_kwh"]),
            _kwh(r["shared_kwh"]),
            _kwh(r["incentivised_shared_kwh"]),
            _eur(r["premium_eur"]),
            _eur(r["valorisation_eur"]),
            _eur(r["sale_eur"]),
            **kw,
        )

    for m in doc["months"]:
        row(m["month"], m)
    row("Total", doc["totals"], style="bold", end_section=True)
    return t


MONEY_COLUMNS = ("premium_eur", "valorisation_eur", "sale_eur", "fees_eur", "gse_fees_eur", "total_eur")


def _money_cells(row: dict[str, Any]) -> list[str]:
    """A payee's money cells; no fees (of members or of the GSE), an empty cell."""
    return [
        _eur(row.get(k, 0.0)) if row.get(k, 0.0) or k not in ("fees_eur", "gse_fees_eur") else ""
        for k in MONEY_COLUMNS
    ]


def members_table(doc: dict[str, Any]) -> Table:
    """Who receives what: members, the community account and external producers; the last line adds up."""
    t = Table(title="Allocation", title_justify="left")
    for head in (
        "Member",
        "Category",
        "Withdrawn kWh",
        "Shared kWh",
        "Premium €",
        "Valorisation €",
        "Sale €",
        "Fees €",
        "GSE fees €",
        "Total €",
    ):
        t.add_column(
            head, justify="left" if head in ("Member", "Category") else "right", no_wrap=head == "Member"
        )
    rows = [
        (
            [
                m["id"] + (f" {m['name']}" if m.get("name") else "") + ("" if m["founder"] else " *"),
                _words(m["category"]),
                _kwh(m["withdrawn_kwh"]),
                _kwh(m["shared_kwh"]),
            ],
            m,
        )
        for m in doc["members"]
    ]
    rows.append((["community account", "", "", ""], {**doc["community_account"], "id": "community"}))
    if "social_fund" in doc:
        rows.append((["social fund", "social purposes", "", ""], {**doc["social_fund"], "id": "social_fund"}))
    gse = (doc.get("gse_fees") or {}).get("by_payee_eur", {})
    rows = [(cells, {**money, "gse_fees_eur": gse.get(money.get("id", ""), 0.0)}) for cells, money in rows]
    rows += [([e["id"], "external producer", "", ""], e) for e in doc.get("external_producers", [])]
    sums = dict.fromkeys(MONEY_COLUMNS, 0.0)
    for cells, money in rows:
        t.add_row(*cells, *_money_cells(money))
        for k in sums:
            sums[k] += money.get(k, 0.0)
    t.add_row(
        "Total", "", "", "", *(_eur(round(sums[k], 2) + 0.0) for k in sums), style="bold", end_section=True
    )
    t.caption = (
        "* later member (annual fee, exit penalty and minimum shared consumption apply); "
        "money is what each payee receives: fees paid are negative, the community account receives them; "
        "GSE fees (DM 106/2024) are kept by the GSE off who bears them" + _provisional_note(doc)
    )
    return t


def _provisional_note(doc: dict[str, Any]) -> str:
    """The caption's note on the figures the GSE decides on the year (threshold rule, minimum)."""
    th = doc.get("threshold") or {}
    if not th.get("provisional"):
        return ""
    moved = (doc.get("enterprise_cap") or {}).get("moved_eur", 0.0)
    return (
        f". PROVISIONAL: the premium above the threshold ({_eur(moved)} € moved from enterprises, on "
        f"{th['basis']}) and the later members' minimum shared consumption are decided at the yearly close"
    )


def quality_table(doc: dict[str, Any]) -> Table | None:
    """PODs with missing or duplicate readings, or None when the data was complete."""
    dq = doc["data_quality"]
    rows = [q for q in dq["pods"] if q["missing_intervals"] or q["duplicate_rows_dropped"]]
    if not rows:
        return None
    t = Table(title=f"Data quality (fill: {dq['fill'] or 'none'})", title_justify="left")
    for head in ("POD", "Expected", "Missing", "Filled", "Duplicates dropped"):
        t.add_column(head, justify="left" if head == "POD" else "right")
    for q in rows:
        t.add_row(
            q["pod"],
            str(q["expected_intervals"]),
            str(q["missing_intervals"]),
            str(q["filled_intervals"]),
            str(q["duplicate_rows_dropped"]),
        )
    return t


def configurations_table(doc: dict[str, Any]) -> Table | None:
    """One row per configuration (primary substation) above the community total, or None for one: the
    GSE settles the points under each primary substation on their own (TIAD art. 1 and 3)."""
    confs = doc.get("configurations") or []
    if len(confs) <= 1:
        return None
    t = Table(title="Configurations (one per primary substation)", title_justify="left")
    heads = ("Substation", "Injected kWh", "Withdrawn kWh", "Shared kWh", "Premium €", "Valorisation €")
    for head in heads + ("Sale €", "Threshold surplus €"):
        t.add_column(head, justify="left" if head == "Substation" else "right")
    for c in confs:
        t.add_row(
            c["primary_substation"] or "-",
            _kwh(c["injected_kwh"]),
            _kwh(c["withdrawn_kwh"]),
            _kwh(c["shared_kwh"]),
            _eur(c["premium_eur"]),
            _eur(c["valorisation_eur"]),
            _eur(c["sale_eur"]),
            _eur(c["threshold_surplus_eur"]),
        )
    tot = doc["totals"]
    t.add_row(
        "Total",
        _kwh(tot["injected_kwh"]),
        _kwh(tot["withdrawn_kwh"]),
        _kwh(tot["shared_kwh"]),
        _eur(tot["premium_eur"]),
        _eur(tot["valorisation_eur"]),
        _eur(tot["sale_eur"]),
        _eur(sum(c["threshold_surplus_eur"] for c in confs)),
        style="bold",
    )
    return t


def balance_table(doc: dict[str, Any]) -> Table | None:
    """For a period of several months: each payee's sum of monthly statements, the period's allocation and the
    balance between them (``result.json``'s ``monthly_statements``); None for one month."""
    ms = doc.get("monthly_statements")
    if not ms:
        return None
    t = Table(
        title=f"Monthly statements {ms['months'][0]} to {ms['months'][-1]} and the balance to this period's split",
        title_justify="left",
    )
    for head in ("Payee", "Σ monthly totals €", "Balance €", "Period total €"):
        t.add_column(head, justify="left" if head == "Payee" else "right")
    period = {
        r["id"]: r
        for r in [
            *doc["members"],
            {"id": "community", **doc["community_account"]},
            *doc.get("external_producers", []),
        ]
    }
    for r in ms["payees"]:
        t.add_row(
            r["id"],
            _eur(r["sum_of_months"]["total_eur"]),
            _eur(r["balance"]["total_eur"]),
            _eur(period[r["id"]]["total_eur"]),
        )
    t.caption = ms["rule"]
    return t


def yearly_close_table(doc: dict[str, Any]) -> Table | None:
    """The yearly close (``result.json``'s ``yearly_close``): per payee the provisional figures (sum of the
    monthly settlements), the closed ones and the balance (conguaglio); None when the year was not closed."""
    yc = doc.get("yearly_close")
    if not yc:
        return None
    label = "partial year" if yc["partial_year"] else "whole year"
    t = Table(
        title=f"Yearly close {yc['year']} ({label}: {yc['from']} to {yc['to']}, months {', '.join(yc['months'])})",
        title_justify="left",
    )
    for head in (
        "Payee",
        "Provisional €",
        "Closed premium €",
        "Closed fees €",
        "Closed GSE fees €",
        "Closed total €",
        "Balance €",
    ):
        t.add_column(head, justify="left" if head == "Payee" else "right")
    sums = [0.0] * 6
    for p in yc["payees"]:
        c = p["closed"]
        cells = [
            p["provisional"]["total_eur"],
            c["premium_eur"],
            c["fees_eur"],
            c["gse_fees_eur"],
            c["total_eur"],
            p["balance"]["total_eur"],
        ]
        sums = [x + y for x, y in zip(sums, cells, strict=True)]
        t.add_row(p["id"], *(_eur(x) for x in cells))
    t.add_row("Total", *(_eur(round(x, 2) + 0.0) for x in sums), style="bold", end_section=True)
    th, mn, gf = yc["threshold"], yc["minimum_shared_consumption"], yc["gse_fees"]
    ratios = "; ".join(
        f"{s['set']} {s['ratio']:.1%} vs {s['threshold']:.0%}: surplus {_eur(s['surplus_eur'])} €"
        for s in th["sets"]
    )
    below = ", ".join(mn["closed_below"]) or "none"
    t.caption = (
        f"Premium above the threshold moved off enterprises: provisional {_eur(th['provisional_moved_eur'])} €, "
        f"closed {_eur(th['closed_moved_eur'])} € ({ratios}). Later members below the yearly minimum shared "
        f"consumption: {below}. GSE fees (DM 106/2024): provisional {_eur(gf['provisional_eur'])} €, closed "
        f"{_eur(gf['closed_eur'])} €. Balance = closed − provisional: what the yearly balance (conguaglio) adds."
    )
    return t


def result_tables(doc: dict[str, Any], width: int | None = None) -> Group:
    """Everything a referente reads first: months, allocation, monthly statements, yearly close, data
    quality. With ``width`` (the terminal's columns), a table wider than that is folded into one block per
    row (:func:`condivisa.outputs.terminal.fit_table`)."""
    parts: list[Any] = [summary_table(doc)]
    c = configurations_table(doc)
    if c is not None:
        parts.append(c)
    parts.append(members_table(doc))
    b = balance_table(doc)
    if b is not None:
        parts.append(b)
    y = yearly_close_table(doc)
    if y is not None:
        parts.append(y)
    q = quality_table(doc)
    if q is not None:
        parts.append(q)
    if width is not None:
        parts = [fit_table(p, width) if isinstance(p, Table) else p for p in parts]
    parts.extend(Text(f"PROVVISORIO / provisional: {r}") for r in doc.get("provisional_reasons", []))
    return Group(*parts)
