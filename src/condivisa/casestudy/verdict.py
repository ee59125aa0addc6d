"""The case study's answer in words: **is a battery worth it?** One sentence with the figures behind it,
computed from ``summary.json`` alone (so ``condivisa case run`` and the referente's page say the same), the
case and scenario names and the economic indicators in words a referente knows, and why the bills rise with
batteries in a virtual self-consumption scheme.

The verdict compares, under the first price scenario of the case file (the year's own prices), the plant alone
(the case without batteries) with the battery case of the highest net present value: the battery is worth it
when that value is higher with it than without. The kit price at which it would pay is ``ideal_kit_cost``:
the kit price (VAT excluded, per flat) at which the battery case pays back as fast as the plant alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def fmt_number(value: float | None, lang: str, decimals: int = 2) -> str:
    """``1234.5`` -> ``1.234,50`` (it) or ``1,234.50`` (en), as :func:`condivisa.outputs.i18n.fmt_number`
    (which this floor may not import); ``None`` -> ``—``."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".") if lang == "it" else text


#: the economic indicators of ``economics``: a name a referente knows and one line of explanation
INDICATORS: dict[str, dict[str, tuple[str, str]]] = {
    "it": {
        "investment_eur": ("Investimento (€)", "quanto si spende all'inizio: impianto e, se c'è, batterie"),
        "npv_eur": (
            "Guadagno netto in 20 anni (€)",
            "valore attuale netto (VAN): ciò che resta dopo aver ripagato l'investimento, in euro di oggi",
        ),
        "dpbt_years": ("Anni per ripagarsi", "tempo di ritorno attualizzato: dopo quanti anni si rientra"),
        "irr": ("Rendimento annuo (%)", "tasso interno di rendimento (TIR): come un interesse annuo"),
        "sharing_income_share": (
            "Dalla condivisione (%)",
            "parte delle entrate dovuta all'energia condivisa",
        ),
    },
    "en": {
        "investment_eur": ("Investment (€)", "what is spent at the start: the plant and any batteries"),
        "npv_eur": (
            "Net gain over 20 years (€)",
            "net present value (NPV): what is left after paying back the investment, in today's euros",
        ),
        "dpbt_years": ("Years to pay back", "discounted payback time: after how many years it is paid back"),
        "irr": ("Yearly return (%)", "internal rate of return (IRR): like a yearly interest rate"),
        "sharing_income_share": ("From sharing (%)", "the part of the income due to the shared energy"),
    },
}

_SCENARIO = {
    "it": {"low": "prezzi bassi", "medium": "prezzi medi", "high": "prezzi alti"},
    "en": {"low": "low prices", "medium": "medium prices", "high": "high prices"},
}

WHY_BILLS_RISE = {
    "it": (
        "Perché le bollette salgono con le batterie: nell'autoconsumo virtuale l'energia dell'impianto va in "
        "rete e ogni appartamento continua a comprare dal proprio fornitore tutta l'energia che usa; la "
        "batteria si carica quindi con energia comprata (e ne perde circa il 10 % tra carica e scarica). "
        "Il guadagno della batteria è solo l'incentivo sull'energia condivisa in più."
    ),
    "en": (
        "Why the bills rise with batteries: in virtual self-consumption the plant's energy goes to the grid "
        "and every flat keeps buying all the energy it uses from its supplier; a battery is charged with "
        "bought energy (and loses about 10 % of it between charge and discharge). What a battery earns is "
        "only the premium on the extra shared energy."
    ),
}


def scenario_label(name: str, lang: str = "it") -> str:
    """``medium`` -> ``prezzi medi`` (a scenario of the case file keeps its own name otherwise)."""
    return _SCENARIO.get(lang, _SCENARIO["en"]).get(str(name), str(name))


def _capacity(name: str, entry: dict[str, Any] | None) -> float:
    if entry and entry.get("capacity_kwh_per_flat") is not None:
        return float(entry["capacity_kwh_per_flat"])
    digits = "".join(ch if ch.isdigit() or ch == "." else " " for ch in name).split()
    return float(digits[0]) if digits else 0.0


def case_label(name: str, lang: str = "it", entry: dict[str, Any] | None = None) -> str:
    """A case name of ``summary.json`` in words: ``base`` -> ``solo impianto, senza batteria``,
    ``battery_3kwh`` -> ``batteria da 3 kWh per appartamento``, ``optimal_5kwh`` -> ``... , gestione
    ottimizzata``. ``entry`` is the case's ``cases`` entry (capacity, controller) when at hand."""
    it = lang == "it"
    capacity = _capacity(name, entry)
    controller = (entry or {}).get("controller") or ("optimal" if name.startswith("optimal") else None)
    if capacity <= 0 or name == "base":
        return "solo impianto, senza batteria" if it else "plant only, no battery"
    size = fmt_number(capacity, lang, 0 if capacity == int(capacity) else 1)
    text = f"batteria da {size} kWh per appartamento" if it else f"{size} kWh battery per flat"
    if controller == "optimal":
        text += ", gestione ottimizzata" if it else ", optimised control"
    return text


@dataclass(frozen=True)
class Verdict:
    """The answer and the figures behind it (``None`` where the summary does not have them)."""

    worth_it: bool
    scenario: str
    base_case: str
    battery_case: str
    npv_without_eur: float
    npv_with_eur: float
    payback_without_years: float | None
    payback_with_years: float | None
    kit_cost_eur: float | None
    ideal_kit_cost_eur: float | None

    def sentence(self, lang: str = "it") -> str:
        """One sentence: the question, the answer and the figures."""
        n = lambda x, d=0: fmt_number(x, lang, d)  # noqa: E731
        years = lambda y: n(y, 1) if y is not None else ("mai" if lang == "it" else "never")  # noqa: E731
        scen = scenario_label(self.scenario, lang)
        battery = case_label(self.battery_case, lang)
        if lang == "it":
            answer = "Sì" if self.worth_it else "No"
            text = (
                f"La batteria conviene? {answer}: con {scen}, in 20 anni il solo impianto rende "
                f"{n(self.npv_without_eur)} € netti e si ripaga in {years(self.payback_without_years)} anni; "
                f"con la {battery} rende {n(self.npv_with_eur)} € e si ripaga in "
                f"{years(self.payback_with_years)} anni"
            )
            if not self.worth_it and self.ideal_kit_cost_eur is not None:
                text += (
                    f". Converrebbe se il kit costasse al massimo {n(self.ideal_kit_cost_eur)} € per "
                    f"appartamento (IVA esclusa) invece di {n(self.kit_cost_eur)} €"
                )
            elif not self.worth_it:
                text += ". Non si ripaga come il solo impianto a nessun prezzo del kit"
            return text + "."
        answer = "Yes" if self.worth_it else "No"
        text = (
            f"Is a battery worth it? {answer}: with {scen}, over 20 years the plant alone nets "
            f"{n(self.npv_without_eur)} € and pays back in {years(self.payback_without_years)} years; with a "
            f"{battery} it nets {n(self.npv_with_eur)} € and pays back in {years(self.payback_with_years)} years"
        )
        if not self.worth_it and self.ideal_kit_cost_eur is not None:
            text += (
                f". It would be if a kit cost at most {n(self.ideal_kit_cost_eur)} € per flat (VAT excluded) "
                f"instead of {n(self.kit_cost_eur)} €"
            )
        elif not self.worth_it:
            text += ". It pays back as fast as the plant alone at no kit price"
        return text + "."


def battery_verdict(summary: dict[str, Any] | None) -> Verdict | None:
    """The verdict of a ``summary.json`` (module docstring), or None without a base case, a battery case or
    their economics."""
    if not summary:
        return None
    cases = summary.get("cases") or []
    if isinstance(cases, dict):
        cases = [{"name": k, **v} for k, v in cases.items()]
    by_name = {c.get("name"): c for c in cases}
    economics = summary.get("economics") or []
    if not economics:
        return None
    scenario = economics[0].get("scenario")
    rows = [e for e in economics if e.get("scenario") == scenario]
    base = [e for e in rows if _capacity(str(e["case"]), by_name.get(e["case"])) <= 0]
    batteries = [e for e in rows if _capacity(str(e["case"]), by_name.get(e["case"])) > 0]
    if not base or not batteries:
        return None
    without, best = base[0], max(batteries, key=lambda e: e["npv_eur"])
    kit: dict[str, Any] = next(
        (
            k
            for k in summary.get("ideal_kit_cost") or []
            if k.get("case") == best["case"] and k.get("scenario") == scenario
        ),
        {},
    )
    return Verdict(
        worth_it=best["npv_eur"] > without["npv_eur"],
        scenario=str(scenario),
        base_case=str(without["case"]),
        battery_case=str(best["case"]),
        npv_without_eur=float(without["npv_eur"]),
        npv_with_eur=float(best["npv_eur"]),
        payback_without_years=without.get("dpbt_years"),
        payback_with_years=best.get("dpbt_years"),
        kit_cost_eur=kit.get("kit_cost_eur"),
        ideal_kit_cost_eur=kit.get("ideal_kit_cost_eur"),
    )


def case_panel(summary: dict[str, Any] | None, lang: str = "it") -> dict[str, Any]:
    """What the referente's page shows beside a case ``summary.json``: ``verdict`` (the sentence, or None),
    ``why_bills`` (when there is a battery case), ``labels`` (case name -> words), ``scenarios`` (scenario
    name -> words) and ``indicators`` (key -> (name, one-line explanation))."""
    cases = (summary or {}).get("cases") or []
    if isinstance(cases, dict):
        cases = [{"name": k, **v} for k, v in cases.items()]
    verdict = battery_verdict(summary)
    return {
        "verdict": verdict.sentence(lang) if verdict else None,
        "worth_it": verdict.worth_it if verdict else None,
        "why_bills": WHY_BILLS_RISE.get(lang, WHY_BILLS_RISE["en"]) if verdict else None,
        "labels": {str(c.get("name")): case_label(str(c.get("name")), lang, c) for c in cases},
        "scenarios": {
            str(e.get("scenario")): scenario_label(str(e.get("scenario")), lang)
            for e in (summary or {}).get("economics") or []
        },
        "indicators": INDICATORS.get(lang, INDICATORS["en"]),
    }
