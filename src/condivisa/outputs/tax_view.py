"""The tax view of a member's statement: which part of the money is taxable income and which is not.

A label with its source, **not tax advice** ("informazione, non consulenza fiscale"). The amounts are the
statement's own money lines regrouped in whole cents, so the groups add up to the statement's total to the
cent; no figure is computed anew.

How the groups are chosen (``legal_form:`` of ``community.yaml``, then the member's ``category``):

- a **non-commercial** community (ente non commerciale: association, foundation, third-sector entity),
  Agenzia delle Entrate, Risoluzione n. 37/E of 22/07/2024: the premium (tariffa premio) and the ARERA
  valorisation the community passes on to its members are not profits distributed but a return of what the
  members' shared consumption earned, and are not the member's income; only the **sale of energy**
  (corrispettivo per la vendita, ritiro dedicato), when passed on to the member, is income. For a member that
  is an enterprise (``sme``, ``enterprise``) what it receives in its business goes into its business income
  (reddito d'impresa): the view says so next to the premium and valorisation;
- a **commercial** community (ente commerciale: company, cooperative): everything the GSE pays is income of
  the community (TUIR, DPR 917/1986, art. 81: whatever its source, the income of a commercial entity is
  business income); the view labels premium, valorisation and sale together as such.

Fees paid to the community (annual fee, exit penalty) are shown on their own line, and so are the GSE fees
(corrispettivi GSE, DM 106/2024) the GSE keeps off the incentive of whoever bears them (the community account
by default, the plants' owners with ``rules.gse_fees: producers``): neither is income, and with their own
lines the view adds up to the statement's total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from condivisa.domain.community import LegalForm, MemberCategory
from condivisa.kernel.money import to_cents, to_euros


class Money(Protocol):
    """The money lines a tax view regroups (a statement's :class:`~condivisa.outputs.statement.Money`), €."""

    premium_eur: float
    valorisation_eur: float
    sale_eur: float
    fees_eur: float
    gse_fees_eur: float


#: the keys of a tax view, in the order the lines are shown; each is also its ``data-key`` and CSV column
TAX_KEYS = (
    "tax_income_eur",
    "tax_passed_on_eur",
    "tax_community_income_eur",
    "tax_fees_eur",
    "tax_gse_fees_eur",
    "tax_total_eur",
)
SOURCE_NON_COMMERCIAL = "Agenzia delle Entrate, Risoluzione n. 37/E del 22/07/2024"
SOURCE_COMMERCIAL = "TUIR (DPR 917/1986), art. 81; Agenzia delle Entrate, Ris. n. 37/E del 22/07/2024"


@dataclass(frozen=True)
class TaxView:
    """A statement's money regrouped for income tax (see the module docstring), € with 2 decimals.

    ``tax_income_eur`` is the sale of energy passed on to the member (non-commercial community);
    ``tax_passed_on_eur`` the premium and valorisation passed on (non-commercial community);
    ``tax_community_income_eur`` everything, as income of a commercial community; ``tax_fees_eur`` the fees
    paid (negative); ``tax_gse_fees_eur`` the GSE fees withheld (DM 106/2024, negative); ``tax_total_eur``
    their sum, equal to the statement's total.
    """

    legal_form: LegalForm
    enterprise: bool
    tax_income_eur: float = 0.0
    tax_passed_on_eur: float = 0.0
    tax_community_income_eur: float = 0.0
    tax_fees_eur: float = 0.0
    tax_gse_fees_eur: float = 0.0
    tax_total_eur: float = 0.0

    @classmethod
    def of(cls, money: Money, legal_form: LegalForm, category: MemberCategory) -> TaxView:
        """The tax view of ``money`` (a :class:`~condivisa.outputs.statement.Money`), sums in whole cents.

        Parameters
        ----------
        money : Money
            The statement's money lines (premium, valorisation, sale, fees, GSE fees, total).
        legal_form : LegalForm
            The community's legal form (``legal_form:`` of ``community.yaml``).
        category : MemberCategory
            The member's category: an ``sme`` or ``enterprise`` gets the business-income note.

        Returns
        -------
        TaxView
        """
        premium, valorisation = to_cents(money.premium_eur), to_cents(money.valorisation_eur)
        sale, fees = to_cents(money.sale_eur), to_cents(money.fees_eur)
        gse = to_cents(getattr(money, "gse_fees_eur", 0.0))
        groups = {
            "tax_fees_eur": fees,
            "tax_gse_fees_eur": gse,
            "tax_total_eur": premium + valorisation + sale + fees + gse,
        }
        if legal_form is LegalForm.COMMERCIAL:
            groups["tax_community_income_eur"] = premium + valorisation + sale
        else:
            groups["tax_income_eur"] = sale
            groups["tax_passed_on_eur"] = premium + valorisation
        return cls(
            legal_form=legal_form,
            enterprise=category.is_enterprise,
            **{k: to_euros(v) for k, v in groups.items()},
        )

    @property
    def commercial(self) -> bool:
        return self.legal_form is LegalForm.COMMERCIAL

    @property
    def line_keys(self) -> tuple[str, ...]:
        """The lines this view shows (the others are 0 by construction; the GSE fees only when borne), the
        total last."""
        gse = ("tax_gse_fees_eur",) if self.tax_gse_fees_eur else ()
        if self.commercial:
            return ("tax_community_income_eur", "tax_fees_eur", *gse, "tax_total_eur")
        return ("tax_income_eur", "tax_passed_on_eur", "tax_fees_eur", *gse, "tax_total_eur")

    def line_keys_with(self, *others: TaxView) -> tuple[str, ...]:
        """The lines shown by this view or any of ``others`` (the month and the year side by side: a GSE fee
        line borne in one is shown in both), in the order of :data:`TAX_KEYS`."""
        shown = {k for v in (self, *others) for k in v.line_keys}
        return tuple(k for k in TAX_KEYS if k in shown)

    @property
    def source(self) -> str:
        """The source of the labels, as cited on every output."""
        return SOURCE_COMMERCIAL if self.commercial else SOURCE_NON_COMMERCIAL

    @property
    def note_keys(self) -> tuple[str, ...]:
        """The message keys (:mod:`condivisa.outputs.i18n`) of the notes under the lines: the enterprise
        note when it applies, then the disclaimer."""
        extra = ("tax_enterprise_note",) if self.enterprise and not self.commercial else ()
        return (*extra, "tax_disclaimer")

    def amounts(self) -> dict[str, float]:
        """Every key of :data:`TAX_KEYS` with its amount."""
        return {k: getattr(self, k) for k in TAX_KEYS}

    def as_dict(self) -> dict[str, Any]:
        """The view as a JSON-ready document: form, lines, source and disclaimer."""
        return {
            "legal_form": self.legal_form.value,
            "enterprise_member": self.enterprise,
            "lines": {k: getattr(self, k) for k in self.line_keys},
            "source": self.source,
            "disclaimer": "informazione, non consulenza fiscale",
        }
