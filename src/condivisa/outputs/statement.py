"""A member's statement: the one model through which every output shows a member's figures.

:func:`member_statement` builds a :class:`MemberStatement` from a settlement
(:class:`~condivisa.engines.settlement_result.SettlementResult`): the member, the settled days, the energy
(kWh, rounded to the Wh), the money (€; what the member receives, so fees paid are negative) and the notes
that explain it. ``condivisa settle --member`` prints it (:func:`statement_table`); the dashboard, the HTML/PDF
statement and the statement CSV show the monthly statements of
:class:`~condivisa.outputs.monthly.SettledMonths`, which add the year so far: the months up to this one and,
for December of a closed year, the yearly balance.

The allocation table's rows are :class:`PayeeLine` (:func:`payee_lines`): every member, the community account,
the social fund (``rules.threshold_surplus_to: social_fund``) and any external producer; :func:`balances`
compares the sum of a payee's monthly statements with the allocation of a longer period. The money lines
include the GSE fees (DM 106/2024) of whoever bears them, so that they add up to the total. No figure is
computed here: energies and money are the settlement result's, and sums over months are taken in whole cents
so that they are exact. The tax view
(:meth:`MemberStatement.tax_view`, :mod:`condivisa.outputs.tax_view`) regroups the same money lines: the sale
of energy (income) apart from the premium and valorisation passed on (Agenzia delle Entrate, Ris. 37/E of
22/07/2024), by the community's ``legal_form``; a label with its source, not tax advice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from rich.table import Table

from condivisa.domain.community import Community, LegalForm, Member
from condivisa.engines.allocation import COMMUNITY, SOCIAL_FUND
from condivisa.engines.settlement_result import SettlementResult
from condivisa.kernel.money import to_cents, to_euros
from condivisa.outputs.bands import BandEnergy, member_band_energy
from condivisa.outputs.i18n import translator
from condivisa.outputs.tax_view import TaxView
from condivisa.outputs.terminal import cli_number

MONEY_KEYS = ("premium_eur", "valorisation_eur", "sale_eur", "fees_eur", "gse_fees_eur", "total_eur")
MEMBER_ENERGY_KEYS = ("withdrawn_kwh", "injected_kwh", "consumption_in_shared_kwh", "shared_kwh")


@dataclass(frozen=True)
class Money:
    """One payee's money lines, € with 2 decimals: what the payee receives (fees paid are negative). The GSE
    fees (DM 106/2024, ≤ 0) are what the GSE keeps off the payee that bears them; the lines add up to
    ``total_eur``."""

    premium_eur: float = 0.0
    valorisation_eur: float = 0.0
    sale_eur: float = 0.0
    fees_eur: float = 0.0
    gse_fees_eur: float = 0.0
    total_eur: float = 0.0

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Money:
        """The money keys of ``row`` (a payee's entry of a settlement); a missing key is 0."""
        return cls(**{k: float(row.get(k, 0.0) or 0.0) for k in MONEY_KEYS})

    @classmethod
    def sum(cls, lines: Iterable[Money]) -> Money:
        """Line by line sum of ``lines``, added in whole cents (exact)."""
        rows = list(lines)
        return cls(**{k: to_euros(sum(to_cents(getattr(r, k)) for r in rows)) for k in MONEY_KEYS})

    def minus(self, other: Money) -> Money:
        """``self − other`` line by line, in whole cents."""
        return Money(
            **{k: to_euros(to_cents(getattr(self, k)) - to_cents(getattr(other, k))) for k in MONEY_KEYS}
        )

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in MONEY_KEYS}


@dataclass(frozen=True)
class Energy:
    """A member's energy over the settled days, kWh: withdrawn, injected by the member's own plants, withdrawn
    in hours with shared energy, and the member's part of the shared energy (pro rata to withdrawal)."""

    withdrawn_kwh: float = 0.0
    injected_kwh: float = 0.0
    consumption_in_shared_kwh: float = 0.0
    shared_kwh: float = 0.0

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Energy:
        """The energy keys of ``row`` (a member's entry of a settlement); a missing key is 0."""
        return cls(**{k: float(row.get(k, 0.0) or 0.0) for k in MEMBER_ENERGY_KEYS})

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class StatementMonth:
    """One month of a member's statement, the month settled on its own."""

    month: str
    energy: Energy
    money: Money

    def as_dict(self) -> dict[str, Any]:
        """``month`` and every energy and money key (the rows of the trend table, chart and CSV)."""
        return {"month": self.month, **self.energy.as_dict(), **self.money.as_dict()}


@dataclass(frozen=True)
class MemberStatement:
    """A member's statement of one settlement (see the module docstring).

    ``first_day``/``last_day`` are the settled days the figures cover (``None`` when no day of the month is
    settled yet: every figure is then 0). A monthly statement also has its ``month`` (``YYYY-MM``), the
    ``months`` of its year up to and including it, and, for December of a closed year, the ``year_balance``.
    ``legal_form`` is the community's: it chooses the groups of the tax view (:mod:`condivisa.outputs.tax_view`).
    ``bands`` splits the withdrawn and shared energy by time band F1/F2/F3 (:mod:`condivisa.outputs.bands`).
    """

    community: str
    member: Member
    plants: tuple[str, ...]
    first_day: dt.date | None
    last_day: dt.date | None
    energy: Energy
    money: Money
    notes: tuple[str, ...] = ()
    month: str | None = None
    months: tuple[StatementMonth, ...] = ()
    year_balance: Money | None = None
    legal_form: LegalForm = LegalForm.NON_COMMERCIAL
    bands: tuple[BandEnergy, ...] = ()

    def tax_view(self, money: Money | None = None) -> TaxView:
        """The tax view of ``money`` (default: this statement's), for this member and community: the sale
        apart from the premium and valorisation passed on (Ris. AdE 37/E/2024); information, not tax advice."""
        return TaxView.of(self.money if money is None else money, self.legal_form, self.member.category)

    @property
    def tax_month(self) -> TaxView:
        """The tax view of this statement's money."""
        return self.tax_view()

    @property
    def tax_year(self) -> TaxView:
        """The tax view of the year so far (:attr:`year_total`)."""
        return self.tax_view(self.year_total)

    @property
    def year_months(self) -> Money:
        """The sum of the year's monthly statements up to this one."""
        return Money.sum(m.money for m in self.months)

    @property
    def year_total(self) -> Money:
        """The year so far: the sum of the monthly statements plus, once drawn, the yearly balance."""
        if self.year_balance is None:
            return self.year_months
        return Money.sum([self.year_months, self.year_balance])

    def row(self) -> dict[str, Any]:
        """The member's row of the allocation table: who, then every energy and money key."""
        m = self.member
        who = {"id": m.id, "name": m.name or m.id, "category": m.category.value, "founder": m.founder}
        return {**who, **self.energy.as_dict(), **self.money.as_dict()}

    def as_dict(self) -> dict[str, Any]:
        """The statement as a JSON-ready document."""
        m = self.member
        day = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "community": self.community,
            "month": self.month,
            "period": {"from": day(self.first_day), "to": day(self.last_day)},
            "member": {
                "id": m.id,
                "name": m.name,
                "category": m.category.value,
                "founder": m.founder,
                "joined": day(m.joined),
                "left": day(m.left),
                "pods": list(m.consumption_pods),
                "plants": list(self.plants),
            },
            "energy": self.energy.as_dict(),
            "money": self.money.as_dict(),
            "months": [line.as_dict() for line in self.months],
            "year_balance": self.year_balance.as_dict() if self.year_balance is not None else None,
            "notes": list(self.notes),
            "tax_view": self.tax_month.as_dict(),
        }


def _notes(result: SettlementResult, member: Member) -> tuple[str, ...]:
    """What explains the member's money: the minimum shared consumption of later members, the enterprise
    cap (an ``sme`` is an enterprise too), the fees due and collected, the GSE fees borne."""
    a = result.allocation
    notes = []
    if member.id in a.below_minimum:
        notes.append(
            "Consumption in shared hours was below the yearly minimum for later members: "
            "the consumers' premium share went back to the other members."
        )
    if a.enterprise_cap.get("moved_cents") and member.category.is_enterprise:
        notes.append(
            "Enterprise cap (rule 3): the premium above the threshold (shared energy above 55 % of the "
            "injected, 45 % with a PNRR grant) may not go to enterprises, SMEs included; this member's "
            "premium was reduced accordingly (see docs/settlement.md)."
        )
    due = result.fees_due_eur(member.id)
    if due is not None:
        collected = -result.payee_money(member.id)["fees_eur"] + 0.0
        notes.append(f"Fees due {due:.2f} €, collected {collected:.2f} €.")
    gse = result.gse_fees_eur(member.id)
    if gse:
        notes.append(f"GSE fees (DM 106/2024) of this member's plants: {gse:.2f} €, kept off the premium.")
    return tuple(notes)


def member_statement(
    community: Community,
    member_id: str,
    result: SettlementResult | None,
    *,
    month: str | None = None,
    months: Iterable[StatementMonth] = (),
    year_balance: Money | None = None,
) -> MemberStatement:
    """The statement of ``member_id`` in ``result`` — the one place a member's figures are read.

    Parameters
    ----------
    community : Community
        The settled community.
    member_id : str
        The member's id in ``community.yaml``.
    result : SettlementResult or None
        The settlement; ``None`` for a month with no settled day yet (every figure 0).
    month : str, optional
        ``YYYY-MM`` of a monthly statement.
    months : iterable of StatementMonth, optional
        The year's monthly statements up to and including this one.
    year_balance : Money, optional
        The yearly balance (December of a closed year).

    Returns
    -------
    MemberStatement

    Raises
    ------
    KeyError
        ``member_id`` is not a member of the community (the message says so).
    """
    try:
        member = community.member(member_id)
    except KeyError:
        raise KeyError(f"no member {member_id!r} in {community.name}") from None
    energy, money = Energy(), Money()
    notes: tuple[str, ...] = ()
    bands: tuple[BandEnergy, ...] = ()
    days: tuple[dt.date | None, dt.date | None] = (None, None)
    if result is not None:
        row = result.member_row(member_id)
        energy, money, notes = Energy.of(row), Money.of(row), _notes(result, member)
        days = (result.first_day, result.last_day)
        bands = member_band_energy(result, member_id)
    return MemberStatement(
        community=community.name,
        member=member,
        plants=tuple(p.id for p in community.plants if p.owner == member.id),
        first_day=days[0],
        last_day=days[1],
        energy=energy,
        money=money,
        notes=notes,
        month=month,
        months=tuple(months),
        year_balance=year_balance,
        legal_form=community.legal_form,
        bands=bands,
    )


@dataclass(frozen=True)
class PayeeLine:
    """One row of the allocation table: a member, the community account, the social fund or an external
    producer."""

    id: str
    name: str
    kind: str  # "member", "community", "social_fund" or "external"
    money: Money

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, **self.money.as_dict()}


def payee_lines(community: Community, result: SettlementResult | None) -> list[PayeeLine]:
    """Every payee of ``result`` with its money: the members (in ``community.yaml`` order), the community
    account, the social fund (when the rules send the premium above the threshold to it:
    ``rules.threshold_surplus_to: social_fund``), then the external producers; zeros for every member and the
    account when ``result`` is None."""

    def money(payee: str) -> Money:
        return Money.of(result.payee_money(payee)) if result is not None else Money()

    lines = [PayeeLine(m.id, m.name or m.id, "member", money(m.id)) for m in community.members]
    lines.append(PayeeLine(COMMUNITY, community.name, "community", money(COMMUNITY)))
    if result is not None and SOCIAL_FUND in result.allocation.premium:
        lines.append(PayeeLine(SOCIAL_FUND, SOCIAL_FUND, "social_fund", money(SOCIAL_FUND)))
    externals = result.external_payees if result is not None else []
    return lines + [PayeeLine(p, p, "external", money(p)) for p in externals]


class Balance(NamedTuple):
    """A payee's sum of monthly statements and the balance that brings it to a longer period's allocation."""

    sum_of_months: Money
    balance: Money


def balances(whole: list[PayeeLine], months: list[list[PayeeLine]]) -> dict[str, Balance]:
    """Per payee id: the sum of its monthly statements (``months``: each month's allocation rows) and the
    balance that brings it to the allocation of the whole period (``whole``), in whole cents:
    ``balance = whole − Σ months``. Payees in the order of ``whole``, then any found only in the months."""
    target = {p.id: p.money for p in whole}
    by_payee: dict[str, list[Money]] = {}
    for lines in months:
        for p in lines:
            by_payee.setdefault(p.id, []).append(p.money)
    out = {}
    for pid in dict.fromkeys([*target, *by_payee]):
        summed = Money.sum(by_payee.get(pid, []))
        out[pid] = Balance(summed, target.get(pid, Money()).minus(summed))
    return out


def _kwh(x: float) -> str:
    return cli_number(x, 1)  # the terminal's table: the user's locale (condivisa.outputs.terminal)


def _eur(x: float) -> str:
    return cli_number(x, 2)


def statement_table(statement: MemberStatement) -> Table:
    """The member's statement as a two-column Rich table (``condivisa settle --member``)."""
    m = statement.member
    period = f"{statement.first_day} to {statement.last_day}"
    t = Table(
        title=f"Statement of {m.id} {m.name or ''} — {statement.community}, {period}",
        title_justify="left",
        show_header=False,
    )
    t.add_column("item")
    t.add_column("value", justify="right")
    e, money = statement.energy, statement.money
    t.add_row("Energy withdrawn", f"{_kwh(e.withdrawn_kwh)} kWh")
    t.add_row("…in hours with shared energy", f"{_kwh(e.consumption_in_shared_kwh)} kWh")
    t.add_row("Your part of the shared energy", f"{_kwh(e.shared_kwh)} kWh")
    for b in statement.bands:
        t.add_row(f"  {b.band}: withdrawn / shared", f"{_kwh(b.withdrawn_kwh)} / {_kwh(b.shared_kwh)} kWh")
    if e.injected_kwh:
        t.add_row("Energy injected by your plants", f"{_kwh(e.injected_kwh)} kWh")
    t.add_row("Premium (incentive)", f"{_eur(money.premium_eur)} €")
    t.add_row("ARERA valorisation", f"{_eur(money.valorisation_eur)} €")
    if money.sale_eur:
        t.add_row("Sale of injected energy", f"{_eur(money.sale_eur)} €")
    if money.fees_eur:
        t.add_row("Fees (paid: negative)", f"{_eur(money.fees_eur)} €")
    if money.gse_fees_eur:
        t.add_row("GSE fees (DM 106/2024)", f"{_eur(money.gse_fees_eur)} €")
    t.add_row("Total", f"{_eur(money.total_eur)} €", style="bold", end_section=True)
    for note in statement.notes:
        t.add_row(note, "")
    _tax_rows(t, statement.tax_month)
    return t


def _tax_rows(t: Table, view: TaxView) -> None:
    """The tax view under the money (English labels, with the Italian terms and the source)."""
    tr = translator("en")
    t.add_section()
    t.add_row(tr("tax_view"), "", style="bold")
    for key in view.line_keys:
        style = "bold" if key == "tax_total_eur" else None
        t.add_row(tr(key), f"{_eur(getattr(view, key))} €", style=style)
    for key in view.note_keys:
        t.add_row(tr(key), "")
    t.add_row(f"{tr('tax_source')}: {view.source}", "")
