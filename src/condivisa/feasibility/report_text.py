"""The words of the feasibility report, in Italian and English (same keys in both)."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "it": {
        "lang_other": "English version",
        "title": "Studio di fattibilità",
        "place": "Comune",
        "region": "Regione",
        "zone": "Zona di mercato",
        "year": "Anno di riferimento",
        "members": "Membri",
        "plants": "Impianti",
        "brief": "La risposta in breve",
        "brief_text": "Con i membri, gli impianti e le regole proposti, in un anno come il {year} la comunità "
        "condividerebbe {shared} kWh su {production} kWh prodotti ({pct_prod} della produzione, {pct_cons} dei "
        "consumi) e riceverebbe in tutto {total}.",
        "production_kwh": "Produzione (kWh)",
        "consumption_kwh": "Consumo dei membri (kWh)",
        "shared_kwh": "Energia condivisa (kWh)",
        "sharing_of_production": "Condivisa / produzione",
        "sharing_of_consumption": "Condivisa / consumo",
        "premium_eur": "Premio (tariffa incentivante)",
        "valorisation_eur": "Valorizzazione ARERA",
        "sale_eur": "Vendita dell'energia (RID)",
        "fees_eur": "Quote",
        "gse_fees_eur": "Corrispettivi GSE",
        "total_eur": "Totale",
        "energy": "Energia",
        "money_members": "Quanto riceve ciascun membro, con le regole proposte (€/anno)",
        "member": "Membro",
        "name": "Nome",
        "category": "Categoria",
        "withdrawn_kwh": "Prelievo (kWh)",
        "member_shared_kwh": "Condivisa attribuita (kWh)",
        "community_account": "Conto della comunità",
        "plants_title": "Impianti (primo anno)",
        "plant": "Impianto",
        "owner": "Proprietario",
        "kwp": "kWp",
        "economics": "Convenienza in {years} anni (tasso di sconto {rate})",
        "economics_text": "Per ogni proprietario: costo meno contributo, contro ciò che le regole danno al "
        "produttore (vendita, quota produttori del premio, valorizzazione se spetta ai produttori) meno la "
        "manutenzione; per la comunità: tutti gli impianti contro il denaro di tutti.",
        "investment_eur": "Investimento netto",
        "grant_eur": "Contributo",
        "year1_net_income_eur": "Entrata netta 1° anno",
        "npv_eur": "VAN",
        "payback_years": "Rientro (anni)",
        "irr": "TIR",
        "as_consumer": "In più come consumatore (1° anno)",
        "never": "mai",
        "absorption": "Quanti consumatori in più assorbirebbero l'eccedenza",
        "absorption_text": "L'eccedenza è assorbita quando almeno il {target} della produzione è condiviso. "
        "Per ogni tipo di consumatore: quanti ne servono, la quota raggiunta e quanto guadagnerebbe in più la "
        "comunità all'anno se entrassero (ricalcolato con il regolamento proposto).",
        "kind": "Tipo",
        "yearly_kwh": "Consumo annuo (kWh)",
        "needed": "Quanti",
        "not_reached": "non raggiunto con {n}",
        "sharing_after": "Quota raggiunta",
        "extra_income_eur": "Entrata in più della comunità",
        "newcomer_eur": "A ciascun nuovo membro",
        "join": "Se entra {who}",
        "join_text": "Energia condivisa da {before} a {after} kWh ({pb} → {pa} della produzione); entrate della "
        "comunità {change} all'anno. Il nuovo membro riceverebbe {total} all'anno:",
        "payee": "Chi",
        "before_eur": "Prima",
        "after_eur": "Dopo",
        "change_eur": "Differenza",
        "plots": "Grafici",
        "notes": "Metodo, ipotesi e limiti",
        "method": "Profili di consumo dalle bollette (forma ARERA per i domestici; per gli altri una forma "
        "semplice dichiarata, corretta dalle fasce F1/F2/F3); produzione con pvlib (dati PVGIS o energie mensili); "
        "anno liquidato ora per ora dal motore di liquidazione di condivisa con i prezzi zonali GME reali; "
        "anni successivi con il degrado dei moduli, prezzi e membri invariati. Gli impianti immettono tutta la "
        "produzione (l'autoconsumo dietro il contatore non è modellato). Le cifre sono stime, non una promessa.",
    },
    "en": {
        "lang_other": "Versione italiana",
        "title": "Feasibility study",
        "place": "Municipality",
        "region": "Region",
        "zone": "Market zone",
        "year": "Reference year",
        "members": "Members",
        "plants": "Plants",
        "brief": "The answer in brief",
        "brief_text": "With the proposed members, plants and rules, in a year like {year} the community would "
        "share {shared} kWh of the {production} kWh produced ({pct_prod} of production, {pct_cons} of "
        "consumption) and receive {total} in all.",
        "production_kwh": "Production (kWh)",
        "consumption_kwh": "Members' consumption (kWh)",
        "shared_kwh": "Shared energy (kWh)",
        "sharing_of_production": "Shared / production",
        "sharing_of_consumption": "Shared / consumption",
        "premium_eur": "Premium (incentive tariff)",
        "valorisation_eur": "ARERA valorisation",
        "sale_eur": "Energy sale (RID)",
        "fees_eur": "Fees",
        "gse_fees_eur": "GSE fees",
        "total_eur": "Total",
        "energy": "Energy",
        "money_members": "What each member receives under the proposed rules (€/year)",
        "member": "Member",
        "name": "Name",
        "category": "Category",
        "withdrawn_kwh": "Withdrawal (kWh)",
        "member_shared_kwh": "Shared attributed (kWh)",
        "community_account": "Community account",
        "plants_title": "Plants (first year)",
        "plant": "Plant",
        "owner": "Owner",
        "kwp": "kWp",
        "economics": "Is it worth it over {years} years (discount rate {rate})",
        "economics_text": "For each owner: cost less grant, against what the rules give the producer (sale, "
        "producers' part of the premium, valorisation when it goes to producers) less maintenance; for the "
        "community: every plant against everybody's money.",
        "investment_eur": "Net investment",
        "grant_eur": "Grant",
        "year1_net_income_eur": "Year-1 net income",
        "npv_eur": "NPV",
        "payback_years": "Payback (years)",
        "irr": "IRR",
        "as_consumer": "Also as a consumer (year 1)",
        "never": "never",
        "absorption": "How many more consumers would absorb the surplus",
        "absorption_text": "The surplus is absorbed when at least {target} of production is shared. For each "
        "kind of consumer: how many are needed, the share reached and the community's extra income per year "
        "if they joined (settled again with the proposed rules).",
        "kind": "Kind",
        "yearly_kwh": "Yearly consumption (kWh)",
        "needed": "How many",
        "not_reached": "not reached with {n}",
        "sharing_after": "Share reached",
        "extra_income_eur": "Community's extra income",
        "newcomer_eur": "To each newcomer",
        "join": "If {who} joins",
        "join_text": "Shared energy from {before} to {after} kWh ({pb} → {pa} of production); the community's "
        "income changes by {change} a year. The newcomer would receive {total} a year:",
        "payee": "Who",
        "before_eur": "Before",
        "after_eur": "After",
        "change_eur": "Change",
        "plots": "Plots",
        "notes": "Method, assumptions and limits",
        "method": "Load profiles from the bills (ARERA's shape for households; for others a stated simple "
        "shape, corrected by the F1/F2/F3 bands); production with pvlib (PVGIS data or monthly energies); the "
        "year settled hour by hour by condivisa's settlement engine at the real GME zonal prices; later years "
        "with module degradation, prices and members unchanged. Plants inject all their production (no "
        "self-consumption behind a meter is modelled). The figures are estimates, not a promise.",
    },
}
