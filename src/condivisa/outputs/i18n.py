"""The small message catalogue of the dashboard, the charts and the reports (Italian and English).

``translator(lang)`` returns ``t(key, **fmt)``; an unknown key falls back to English, then to the key itself,
so a missing translation shows up as readable text rather than an error. Numbers are formatted per language
by :func:`fmt_number` (Italian: ``1.234,56``; English: ``1,234.56``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

LANGUAGES = ("it", "en")
DEFAULT_LANGUAGE = "it"

MESSAGES: dict[str, dict[str, str]] = {
    "app_title": {"it": "condivisa", "en": "condivisa"},
    "login": {"it": "Accedi", "en": "Sign in"},
    "logout": {"it": "Esci", "en": "Sign out"},
    "username": {"it": "Utente", "en": "Username"},
    "password": {"it": "Password", "en": "Password"},
    "login_failed": {"it": "Utente o password non validi.", "en": "Wrong username or password."},
    "not_found": {"it": "Pagina non trovata.", "en": "Page not found."},
    "fc_title": {"it": "Domani: le ore di sole in più", "en": "Tomorrow: the spare sunny hours"},
    "fc_errors_intro": {
        "it": "Quanto hanno sbagliato le previsioni degli ultimi giorni (produzione in più, kWh):",
        "en": "How wrong the forecasts of the last days were (spare production, kWh):",
    },
    "fc_day": {"it": "Giorno", "en": "Day"},
    "fc_forecast": {"it": "Prevista", "en": "Forecast"},
    "fc_measured": {"it": "Misurata", "en": "Measured"},
    "fc_mae": {"it": "Errore medio per ora", "en": "Mean error per hour"},
    "fc_total_error": {"it": "Errore sul giorno", "en": "Error on the day"},
    "fc_no_errors": {
        "it": "Non ci sono ancora giorni da confrontare con la previsione.",
        "en": "There are no days to compare with the forecast yet.",
    },
    "fc_how": {
        "it": "La previsione usa il sole a cielo sereno degli impianti per quanto è stato limpido negli ultimi "
        "3 giorni, e i consumi dello stesso tipo di giorno nelle ultime 4 settimane (docs/forecast.md).",
        "en": "The forecast takes the plants' clear-sky sun times how clear the last 3 days were, and the "
        "consumption of the same kind of day over the last 4 weeks (docs/forecast.md).",
    },
    "pf_title": {"it": "Comunità della piattaforma", "en": "Communities of the platform"},
    "pf_intro": {
        "it": "La piattaforma serve {n} comunità. Scegli quella da aprire.",
        "en": "The platform serves {n} communities. Choose the one to open.",
    },
    "pf_name": {"it": "Nome", "en": "Name"},
    "pf_slug": {"it": "Codice", "en": "Id"},
    "pf_open": {"it": "Apri", "en": "Open"},
    "pf_shown": {"it": "Aperta", "en": "Open now"},
    "pf_none": {
        "it": "Nessuna comunità: aggiungine una con «condivisa communities add community.yaml».",
        "en": "No communities yet: add one with “condivisa communities add community.yaml”.",
    },
    "member": {"it": "Socio", "en": "Member"},
    "members": {"it": "Soci", "en": "Members"},
    "plants": {"it": "Impianti", "en": "Plants"},
    "community": {"it": "Comunità", "en": "Community"},
    "month": {"it": "Mese", "en": "Month"},
    "year": {"it": "Anno", "en": "Year"},
    "day": {"it": "Giorno", "en": "Day"},
    "today": {"it": "Oggi", "en": "Today"},
    "this_month": {"it": "Questo mese", "en": "This month"},
    "prev": {"it": "‹ precedente", "en": "‹ previous"},
    "next": {"it": "successivo ›", "en": "next ›"},
    "hour": {"it": "Ora", "en": "Hour"},
    "energy_kwh": {"it": "Energia (kWh)", "en": "Energy (kWh)"},
    "money_eur": {"it": "Importo (€)", "en": "Amount (€)"},
    "withdrawn": {"it": "Prelievo", "en": "Withdrawal"},
    "your_withdrawal": {"it": "Il tuo prelievo", "en": "Your withdrawal"},
    "your_shared": {"it": "Tua energia condivisa", "en": "Your shared energy"},
    "production": {"it": "Produzione della comunità", "en": "Community production"},
    "community_withdrawal": {"it": "Prelievo della comunità", "en": "Community withdrawal"},
    "injected": {"it": "Immessa", "en": "Injected"},
    "shared": {"it": "Energia condivisa", "en": "Shared energy"},
    "incentivised_shared": {"it": "Condivisa incentivata", "en": "Incentivised shared"},
    "spare": {"it": "Produzione non usata", "en": "Unused production"},
    "premium": {"it": "Premio (TIP)", "en": "Premium (TIP)"},
    "valorisation": {"it": "Valorizzazione ARERA", "en": "ARERA valorisation"},
    "sale": {"it": "Vendita (RID)", "en": "Sale (RID)"},
    "fees": {"it": "Quote", "en": "Fees"},
    "gse_fees": {"it": "Corrispettivi GSE", "en": "GSE fees"},
    "total": {"it": "Totale", "en": "Total"},
    "sharing_pct": {"it": "Condivisione", "en": "Sharing"},
    "self_consumption_pct": {"it": "Autoconsumo", "en": "Self-consumption"},
    "self_sufficiency_pct": {"it": "Autosufficienza", "en": "Self-sufficiency"},
    "member_share_pct": {
        "it": "Quota del tuo consumo condivisa",
        "en": "Share of your consumption that was shared",
    },
    "sharing_pct_short": {"it": "Condivisione", "en": "Sharing"},
    "self_sufficiency_pct_short": {"it": "Autosufficienza", "en": "Self-sufficiency"},
    "member_share_pct_short": {"it": "Tuo consumo condiviso", "en": "Yours shared"},
    "kpis": {"it": "Indicatori", "en": "Indicators"},
    "trend": {"it": "Andamento mese per mese", "en": "Month by month"},
    "money": {"it": "I tuoi importi", "en": "Your money"},
    "best_hours": {"it": "Ore migliori per spostare i consumi", "en": "Best hours to shift your consumption"},
    "best_hours_hint": {
        "it": "Lavatrice, lavastoviglie, ricarica dell'auto: in queste fasce i nostri impianti "
        "producono energia che nessuno usa.",
        "en": "Washing machine, dishwasher, car charging: in these hours our plants produce energy nobody uses.",
    },
    "no_advice": {"it": "Nessuna produzione in eccesso prevista.", "en": "No spare production expected."},
    "best_hours_f1": {
        "it": "Sono ore F1: con una tariffa a fasce la rete costa un po' di più, ma consumando quando i nostri "
        "impianti producono fai crescere l'energia condivisa e l'incentivo della comunità.",
        "en": "These are F1 hours: on a time-of-use tariff the grid costs a little more, but using energy while "
        "our plants produce raises the shared energy and the community's premium.",
    },
    "advice_f3": {
        "it": "Con una tariffa a fasce, i consumi che puoi spostare costano meno in F3: dalle 23 alle 7, "
        "la domenica e i festivi.",
        "en": "On a time-of-use tariff, what you can move costs less in F3: 23:00 to 07:00, Sundays and holidays.",
    },
    "by_band": {"it": "La tua energia per fascia oraria", "en": "Your energy by time band"},
    "band": {"it": "Fascia", "en": "Band"},
    "band_hours": {"it": "Quando", "en": "When"},
    "band_F1": {"it": "lun–ven 8–19", "en": "Mon–Fri 8–19"},
    "band_F2": {"it": "lun–ven 7–8 e 19–23, sabato 7–23", "en": "Mon–Fri 7–8 and 19–23, Saturday 7–23"},
    "band_F3": {"it": "23–7, domenica e festivi", "en": "23–7, Sundays and holidays"},
    "bands_hint": {
        "it": "Fasce ARERA (delibera 181/06) come nella tua bolletta, festività nazionali comprese.",
        "en": "ARERA bands (resolution 181/06) as on your bill, national holidays included.",
    },
    "coming_days": {
        "it": "nei prossimi giorni (profilo degli ultimi 7 giorni)",
        "en": "in the coming days (profile of the last 7 days)",
    },
    "settlement": {"it": "Ripartizione mensile", "en": "Monthly settlement and allocation"},
    "statements": {"it": "Rendiconti dei soci", "en": "Member statements"},
    "statement": {"it": "Rendiconto", "en": "Statement"},
    "report": {"it": "Relazione mensile", "en": "Monthly report"},
    "download": {"it": "Scarica", "en": "Download"},
    "data_quality": {"it": "Qualità dei dati", "en": "Data quality"},
    "silent_devices": {
        "it": "Dispositivi silenziosi da più di un'ora",
        "en": "Devices silent for over an hour",
    },
    "device": {"it": "Dispositivo", "en": "Device"},
    "last_seen": {"it": "Ultimo messaggio", "en": "Last seen"},
    "last_reading": {"it": "Fine ultima lettura", "en": "Latest reading ends"},
    "never": {"it": "mai", "en": "never"},
    "gaps": {"it": "Quarti d'ora mancanti", "en": "Missing quarter hours"},
    "duplicates": {"it": "Duplicati", "en": "Duplicates"},
    "dead_letters": {"it": "Messaggi rifiutati", "en": "Rejected messages"},
    "reason": {"it": "Motivo", "en": "Reason"},
    "received": {"it": "Ricevuto", "en": "Received"},
    "source": {"it": "Origine", "en": "Source"},
    "all_good": {"it": "Nessun problema.", "en": "No problems."},
    "simulation": {"it": "Simulazioni e casi studio", "en": "Simulations and case study"},
    "case": {"it": "Caso", "en": "Case"},
    "no_data": {"it": "Nessun dato per questo periodo.", "en": "No data for this period."},
    "prices_assumed": {
        "it": "Prezzi zonali non caricati: gli importi assumono {price} €/MWh.",
        "en": "Zonal prices not loaded: amounts assume {price} €/MWh.",
    },
    "settled_empty": {
        "it": "Nessun giorno concluso ancora in {month}: i dati arrivano fino a ieri ({day}). Gli importi sono zero.",
        "en": "No day of {month} has ended yet: the data go up to yesterday ({day}). The amounts are zero.",
    },
    "settled_partial": {
        "it": "Mese in corso: importi provvisori, calcolati sui giorni fino al {day} compreso.",
        "en": "Month in progress: provisional amounts, for the days up to and including {day}.",
    },
    "settled_complete": {
        "it": "Mese concluso: importi calcolati sui giorni dal {first} al {last}.",
        "en": "Month complete: amounts for the days from {first} to {last}.",
    },
    "showing_latest": {
        "it": "{current}: nessun giorno concluso ancora. Qui sotto l'ultimo mese con dati, {shown}.",
        "en": "{current}: no day has ended yet. Below, the latest month with data, {shown}.",
    },
    "year_balance": {"it": "Conguaglio annuale", "en": "Yearly balance"},
    "year_balance_note": {
        "it": "Totale dell'anno = somma dei rendiconti mensili + conguaglio annuale (riparto "
        "dell'anno intero meno la somma dei mesi).",
        "en": "Year total = sum of the monthly statements + yearly balance (the whole year's "
        "allocation minus the sum of the months).",
    },
    "year_open_note": {
        "it": "Anno in corso: somma dei rendiconti mensili fino a questo mese; a fine anno si "
        "aggiunge il conguaglio annuale.",
        "en": "Year in progress: the sum of the monthly statements up to this month; the yearly "
        "balance is added when the year closes.",
    },
    "community_account": {"it": "Conto della comunità", "en": "Community account"},
    "external_producer": {"it": "Produttore esterno", "en": "External producer"},
    "social_fund": {"it": "Fondo sociale", "en": "Social fund"},
    "social_fund_hint": {
        "it": "premio oltre la soglia (rules.threshold_surplus_to)",
        "en": "premium above the threshold (rules.threshold_surplus_to)",
    },
    "gse_fees_sign": {
        "it": "I corrispettivi GSE (DM 106/2024) sono trattenuti dal GSE sull'incentivo a chi li sostiene "
        "(il conto della comunità, o i produttori con rules.gse_fees: producers): sono negativi.",
        "en": "GSE fees (DM 106/2024) are kept by the GSE off the incentive of whoever bears them (the "
        "community account, or the producers with rules.gse_fees: producers): they are negative.",
    },
    "fees_sign": {
        "it": "Gli importi sono quanto ciascuno riceve: le quote pagate sono negative, la comunità le riceve.",
        "en": "Amounts are what each payee receives: fees paid are negative, the community account receives them.",
    },
    "category": {"it": "Categoria", "en": "Category"},
    "pods": {"it": "POD", "en": "PODs"},
    "power_kw": {"it": "Potenza (kW)", "en": "Power (kW)"},
    "owner": {"it": "Titolare", "en": "Owner"},
    "commissioning": {"it": "Entrata in esercizio", "en": "Commissioning"},
    "language": {"it": "Lingua", "en": "Language"},
    "generated": {"it": "Generato il", "en": "Generated on"},
    "period": {"it": "Periodo", "en": "Period"},
    "founder": {"it": "fondatore", "en": "founder"},
    "footnote_shared": {
        "it": "Energia condivisa: in ogni ora il minimo tra l'energia immessa dagli impianti e "
        "quella prelevata dai soci. "
        "La tua parte è proporzionale al tuo prelievo in quell'ora.",
        "en": "Shared energy: each hour, the lesser of the energy the plants injected and the energy "
        "the members withdrew. "
        "Your part is proportional to your withdrawal in that hour.",
    },
    "implausible_title": {
        "it": "Letture oltre la potenza impegnata",
        "en": "Readings above the contract power",
    },
    "implausible_notice": {
        "it": "{count} letture oltre la potenza impegnata di POD {pod}, escluse dal riparto",
        "en": "{count} readings above the contract power of POD {pod}, left out of the allocation",
    },
    "implausible_detail": {
        "it": "al massimo {bound} kWh al quarto d'ora ({basis}); lettura più alta {max} kWh; dal {first} al {last}",
        "en": "at most {bound} kWh per quarter hour ({basis}); highest reading {max} kWh; from {first} to {last}",
    },
    "implausible_replaced": {
        "it": "per {replaced} di esse vale il valore precedente, plausibile",
        "en": "for {replaced} of them the earlier, plausible value counts",
    },
    "implausible_help": {
        "it": "Restano nel database ma non contano per i soldi. Se la potenza impegnata è sbagliata, "
        "correggi contract_power_kw in community.yaml; se la lettura è sbagliata, fai reinviare il dato "
        "o importa quello del distributore.",
        "en": "They stay in the database but do not count for the money. If the contract power is wrong, "
        "correct contract_power_kw in community.yaml; if the reading is wrong, have it sent again or "
        "import the distributor's data.",
    },
    # the tax view of a member's statement (outputs/tax_view.py): labels with their source, not tax advice
    "tax_view": {"it": "Vista fiscale", "en": "Tax view"},
    "tax_income_eur": {
        "it": "Corrispettivo per la vendita di energia (reddito)",
        "en": "Sale of energy: income (corrispettivo per la vendita di energia, reddito)",
    },
    "tax_passed_on_eur": {
        "it": "Premio e valorizzazione restituiti (Ris. AdE 37/E/2024)",
        "en": "Premium and valorisation passed on (premio e valorizzazione restituiti, Ris. AdE 37/E/2024)",
    },
    "tax_community_income_eur": {
        "it": "Premio, valorizzazione e vendita: reddito della comunità (ente commerciale)",
        "en": "Premium, valorisation and sale: income of the community (commercial entity)",
    },
    "tax_fees_eur": {"it": "Quote versate alla comunità", "en": "Fees paid to the community"},
    "tax_gse_fees_eur": {
        "it": "Corrispettivi trattenuti dal GSE (DM 106/2024)",
        "en": "GSE fees withheld by the GSE (corrispettivi GSE, DM 106/2024)",
    },
    "tax_total_eur": {"it": "Totale", "en": "Total"},
    "tax_enterprise_note": {
        "it": "Socio impresa: ciò che riceve nell'esercizio dell'impresa entra nel suo reddito d'impresa.",
        "en": "Enterprise member: what it receives in its business goes into its business income "
        "(reddito d'impresa).",
    },
    "tax_disclaimer": {
        "it": "Informazione, non consulenza fiscale.",
        "en": "Information, not tax advice (informazione, non consulenza fiscale).",
    },
    "tax_source": {"it": "Fonte", "en": "Source"},
    "tax_hint": {
        "it": "Per una comunità ente non commerciale solo la vendita di energia passata al socio è reddito; "
        "il premio e la valorizzazione restituiti non lo sono.",
        "en": "For a non-commercial community only the sale of energy passed on to the member is income; "
        "the premium and valorisation passed on are not.",
    },
    "tax_hint_commercial": {
        "it": "Per una comunità ente commerciale ciò che il GSE paga è reddito della comunità.",
        "en": "For a commercial community what the GSE pays is income of the community.",
    },
    # distributor data and reconciliation (condivisa.outputs.reconciliation, docs/distributor-data.md)
    "dist_title": {"it": "Dati del distributore", "en": "Distributor data"},
    "dist_intro": {
        "it": "Il GSE paga sui dati validati del distributore, non su quelli dei dispositivi: caricateli qui "
        "(l'esportazione a quarti d'ora del portale, un file per POD e verso). Contano per gli importi al "
        "posto dei dati dei dispositivi; un file successivo per un mese passato è una rettifica, e i valori "
        "precedenti restano conservati.",
        "en": "The GSE pays on the distributor's validated data, not on the devices': upload them here (the "
        "portal's quarter-hour export, one file per POD and direction). They count for the money instead of "
        "the devices' data; a later file for a past month is a restatement, and the earlier values are kept.",
    },
    "dist_imported": {
        "it": "Importati: {n} quarti d'ora nuovi o rettificati.",
        "en": "Imported: {n} new or restated quarter hours.",
    },
    "dist_error": {"it": "Non importato", "en": "Not imported"},
    "dist_mix": {"it": "Dati usati per gli importi", "en": "Data the money is computed on"},
    "dist_todo": {"it": "Da fare questo mese", "en": "To do this month"},
    "dist_nothing_to_do": {"it": "Niente da segnalare.", "en": "Nothing to report."},
    "dist_reconciliation": {
        "it": "Dispositivi e distributore a confronto",
        "en": "Devices against the distributor",
    },
    "dist_direction": {"it": "Verso", "en": "Direction"},
    "dist_withdrawal": {"it": "prelievo", "en": "withdrawal"},
    "dist_injection": {"it": "immissione", "en": "injection"},
    "dist_du_kwh": {"it": "Dispositivo (kWh)", "en": "Device (kWh)"},
    "dist_dist_kwh": {"it": "Distributore (kWh)", "en": "Distributor (kWh)"},
    "dist_missing": {"it": "Mancanti disp. / distr.", "en": "Missing dev. / distr."},
    "dist_drift": {"it": "Scarto disp. %", "en": "Device drift %"},
    "dist_money": {"it": "Effetto sul socio (€)", "en": "Effect on the member (€)"},
    "dist_rule": {
        "it": "Scarto: quanto legge il dispositivo rispetto al distributore nei quarti d'ora che hanno entrambi; "
        "oltre il 2 % il dispositivo va controllato. Effetto: importo del socio calcolato con i dati del "
        "distributore meno lo stesso con i soli dati dei dispositivi.",
        "en": "Drift: how much the device reads against the distributor over the quarter hours both have; "
        "beyond 2 % the device should be checked. Effect: the member's money computed on the distributor's data "
        "minus the same on the devices' data alone.",
    },
    "dist_none": {
        "it": "Nessun dato del distributore per questo mese: caricate l'esportazione del portale qui sotto.",
        "en": "No distributor data for this month: upload the portal's export below.",
    },
    "dist_files": {"it": "File importati", "en": "Imported files"},
    "dist_file": {"it": "File", "en": "File"},
    "dist_new": {"it": "Nuovi", "en": "New"},
    "dist_restated": {"it": "Rettificati", "en": "Restated"},
    "dist_imported_at": {"it": "Importato", "en": "Imported"},
    "dist_no_files": {"it": "Nessun file importato.", "en": "No file imported yet."},
    "dist_upload": {"it": "Carica i dati del distributore", "en": "Upload the distributor's data"},
    "dist_upload_help": {
        "it": "Esportazione a quarti d'ora del portale e-distribuzione così com'è (Giorno;00:00-00:15;…, "
        "virgola decimale), oppure il CSV o l'Excel con pod,start,withdrawn_kwh,injected_kwh; al massimo {n} "
        "file. Un file con un errore non importa nulla e indica riga e colonna; ricaricare lo stesso file non "
        "cambia nulla.",
        "en": "The e-distribuzione portal's quarter-hour export as it is (Giorno;00:00-00:15;…, decimal comma), "
        "or the CSV or Excel with pod,start,withdrawn_kwh,injected_kwh; at most {n} files. A file with an error "
        "imports nothing and names the line and column; uploading the same file again changes nothing.",
    },
    "dist_import": {"it": "Importa", "en": "Import"},
    # the GSE ledger (condivisa.billing.ledger, docs/gse-ledger.md)
    "ledger_title": {"it": "Registro GSE", "en": "GSE ledger"},
    "ledger_intro": {
        "it": "Ciò che il GSE ha comunicato e pagato, mese per mese, confrontato con il calcolo di condivisa.",
        "en": "What the GSE communicated and paid, month by month, against condivisa's own settlement.",
    },
    "ledger_rule": {
        "it": "Atteso = premio (TIP) + valorizzazione ARERA − corrispettivi GSE (DM 106/2024), pagati dal GSE "
        "alla comunità. La vendita dell'energia (ritiro dedicato) è a parte: il GSE la paga al titolare del "
        "contratto RID di ciascun impianto. Un mese è in ritardo se {days} giorni dopo la sua fine non è "
        "arrivato nulla. Tutto è provvisorio fino alla chiusura dell'anno (conguaglio).",
        "en": "Expected = premium (TIP) + ARERA valorisation − GSE fees (DM 106/2024), paid by the GSE to the "
        "community. The sale of the energy (ritiro dedicato) is apart: the GSE pays it to the holder of each "
        "plant's RID contract. A month is overdue when nothing has arrived {days} days after its end. "
        "Everything is provisional until the year is closed (conguaglio).",
    },
    "ledger_period": {"it": "Periodo", "en": "Period"},
    "ledger_expected": {"it": "Atteso (€)", "en": "Expected (€)"},
    "ledger_sale": {"it": "Vendita RID (€)", "en": "RID sale (€)"},
    "ledger_communicated": {"it": "Comunicato (€)", "en": "Communicated (€)"},
    "ledger_received": {"it": "Ricevuto (€)", "en": "Received (€)"},
    "ledger_variance": {"it": "Differenza (€)", "en": "Variance (€)"},
    "ledger_due": {"it": "Scadenza", "en": "Due"},
    "ledger_state": {"it": "Stato", "en": "State"},
    "ledger_overdue": {"it": "in ritardo", "en": "overdue"},
    "ledger_provisional": {"it": "provvisorio", "en": "provisional"},
    "ledger_final": {"it": "definitivo", "en": "final"},
    "ledger_total": {"it": "Totale", "en": "Total"},
    "ledger_yearly_balance": {"it": "Conguaglio {year}", "en": "Yearly balance {year}"},
    "ledger_entries": {"it": "Registrazioni", "en": "Entries"},
    "ledger_no_entries": {"it": "Nessuna registrazione.", "en": "No entries yet."},
    "ledger_kind": {"it": "Tipo", "en": "Kind"},
    "ledger_status": {"it": "Stato", "en": "Status"},
    "ledger_amount": {"it": "Importo (€)", "en": "Amount (€)"},
    "ledger_reference": {"it": "Riferimento GSE", "en": "GSE reference"},
    "ledger_document": {"it": "Documento", "en": "Document"},
    "ledger_note": {"it": "Nota", "en": "Note"},
    "ledger_month": {"it": "Mese (AAAA-MM)", "en": "Month (YYYY-MM)"},
    "ledger_year": {"it": "Anno (conguaglio)", "en": "Year (yearly balance)"},
    "ledger_paid_on": {"it": "Pagato il", "en": "Paid on"},
    "ledger_communicated_on": {"it": "Comunicato il", "en": "Communicated on"},
    "ledger_due_on": {"it": "Scadenza indicata dal GSE", "en": "Due date given by the GSE"},
    "ledger_add": {"it": "Registra un importo del GSE", "en": "Record a GSE figure"},
    "ledger_add_help": {
        "it": 'Indica "pagato il" per un pagamento ricevuto, "comunicato il" per un importo annunciato. '
        "Registrare due volte lo stesso importo non cambia nulla. Documento: PDF, immagine, XML o CSV, "
        "al massimo {mib} MiB.",
        "en": 'Give "paid on" for money received, "communicated on" for an amount announced. Recording '
        "the same figure twice changes nothing. Document: PDF, image, XML or CSV, at most {mib} MiB.",
    },
    "ledger_record": {"it": "Registra", "en": "Record"},
    "ledger_recorded": {"it": "Registrato (n. {id}).", "en": "Recorded (no. {id})."},
    "ledger_error": {"it": "Non registrato", "en": "Not recorded"},
    "kind_advance": {"it": "acconto", "en": "advance"},
    "kind_yearly_balance": {"it": "conguaglio", "en": "yearly balance"},
    "kind_correction": {"it": "rettifica", "en": "correction"},
    "status_paid": {"it": "pagato", "en": "paid"},
    "status_communicated": {"it": "comunicato", "en": "communicated"},
    # adding a member from the dashboard (web/pages_members.py, page_member_new.html)
    "am_title": {"it": "Aggiungi un socio", "en": "Add a member"},
    "am_intro": {
        "it": "Il socio viene scritto nel file della comunità (la versione precedente resta nella cartella "
        "history/), con gli stessi controlli del file; riceve le sue credenziali di accesso.",
        "en": "The member is written into the community file (the previous version stays in the history/ "
        "folder), with the same checks as the file; they get their login.",
    },
    "am_link": {"it": "Aggiungi un socio", "en": "Add a member"},
    "am_id": {"it": "Codice socio", "en": "Member id"},
    "am_id_help": {"it": "es. m21: lettere, cifre, - _ .", "en": "e.g. m21: letters, digits, - _ ."},
    "am_name": {"it": "Nome o ragione sociale", "en": "Name"},
    "am_category": {"it": "Categoria", "en": "Category"},
    "am_cat_private": {"it": "Privato (persona fisica)", "en": "Private person"},
    "am_cat_sme": {"it": "PMI", "en": "SME"},
    "am_cat_enterprise": {"it": "Impresa (non PMI)", "en": "Enterprise (not an SME)"},
    "am_cat_public_body": {"it": "Ente pubblico o locale", "en": "Public or local body"},
    "am_cat_nonprofit": {"it": "Ente del terzo settore", "en": "Non-profit body"},
    "am_cat_research": {"it": "Ente di ricerca", "en": "Research body"},
    "am_founder": {"it": "Socio fondatore", "en": "Founder"},
    "am_yes": {"it": "sì", "en": "yes"},
    "am_no": {"it": "no", "en": "no"},
    "am_joined": {"it": "Data di adesione", "en": "Joined on"},
    "am_joined_help": {
        "it": "obbligatoria per chi non è fondatore",
        "en": "required for a member who is not a founder",
    },
    "am_pod": {"it": "Codice POD", "en": "POD code"},
    "am_pod_help": {"it": "dalla bolletta, es. IT001E12345678", "en": "from the bill, e.g. IT001E12345678"},
    "am_power": {"it": "Potenza impegnata (kW)", "en": "Contract power (kW)"},
    "am_device": {"it": "Dispositivo DU (chain 2)", "en": "Chain-2 device (DU)"},
    "am_device_help": {"it": "facoltativo, es. DU-0021", "en": "optional, e.g. DU-0021"},
    "am_email": {"it": "E-mail", "en": "E-mail"},
    "am_username": {"it": "Nome utente", "en": "Username"},
    "am_username_help": {"it": "vuoto: il codice socio", "en": "empty: the member id"},
    "am_optional": {"it": "facoltativo", "en": "optional"},
    "am_submit": {"it": "Aggiungi il socio", "en": "Add the member"},
    "am_error": {"it": "Socio non aggiunto", "en": "Member not added"},
    "am_not_number": {"it": "non è un numero", "en": "is not a number"},
    "am_not_date": {"it": "non è una data (AAAA-MM-GG)", "en": "is not a date (YYYY-MM-DD)"},
    "am_no_file": {
        "it": "la piattaforma è avviata senza il percorso del file della comunità: aggiungi il socio nel "
        "file e riavvia",
        "en": "the platform runs without the community file's path: add the member in the file and restart",
    },
    "am_added": {"it": "Socio {id} aggiunto.", "en": "Member {id} added."},
    "am_login": {"it": "Credenziali di accesso", "en": "Login"},
    "am_password_once": {
        "it": "Password iniziale, mostrata solo ora e non conservata in chiaro: consegnala al socio in modo "
        "riservato; potrà cambiarla da /account/password.",
        "en": "Initial password, shown only now and not kept in clear: give it to the member privately; they "
        "can change it at /account/password.",
    },
    "am_login_failed": {
        "it": "Il socio è nel file, ma l'utente non è stato creato ({error}): usa condivisa users add.",
        "en": "The member is in the file, but the login was not created ({error}): use condivisa users add.",
    },
    "am_backup": {"it": "Versione precedente del file", "en": "Previous version of the file"},
    "am_rewritten": {
        "it": "Il file è stato riscritto per intero: i commenti sono solo nella versione precedente.",
        "en": "The file was written again in full: its comments are only in the previous version.",
    },
    "am_to_member": {"it": "Pagina del socio", "en": "The member's page"},
    "am_another": {"it": "Aggiungi un altro socio", "en": "Add another member"},
    "am_history_added": {"it": "socio {member} aggiunto", "en": "member {member} added"},
    "am_history_file": {"it": "file della comunità", "en": "community file"},
    # the member page and statement (outputs/member_page.py, _member_body.html, web/pages_account.py)
    "mp_incomplete": {
        "it": "Dati incompleti: {missing} quarti d'ora mancanti su {expected}",
        "en": "Incomplete data: {missing} quarter hours missing out of {expected}",
    },
    "mp_incomplete_effect": {
        "it": "qui contano come zero, quindi i tuoi importi potrebbero cambiare quando i dati arrivano "
        "(dal dispositivo o dal distributore).",
        "en": "here they count as zero, so your amounts may change when the data arrive (from the device or "
        "the distributor).",
    },
    "mp_silent_hours": {
        "it": "Il tuo dispositivo {du} non invia dati da {hours} ore",
        "en": "Your device {du} has sent no data for {hours} hours",
    },
    "mp_silent_hour": {
        "it": "Il tuo dispositivo {du} non invia dati da più di un'ora",
        "en": "Your device {du} has sent no data for over an hour",
    },
    "mp_silent_days": {
        "it": "Il tuo dispositivo {du} non invia dati da {days} giorni",
        "en": "Your device {du} has sent no data for {days} days",
    },
    "mp_silent_never": {
        "it": "Il tuo dispositivo {du} non ha ancora inviato dati",
        "en": "Your device {du} has not sent any data yet",
    },
    "mp_silent_todo": {
        "it": "cosa fare: controlla che il dispositivo sia acceso e collegato al Wi-Fi (spegnilo e "
        "riaccendilo); se il problema continua, avvisa il referente della comunità o l'installatore.",
        "en": "what to do: check that the device is powered and connected to the Wi-Fi (switch it off and on "
        "again); if the problem persists, tell the community's referente or the installer.",
    },
    "mp_provisional": {
        "it": "Importi provvisori fino al conguaglio",
        "en": "Provisional amounts until the yearly balance",
    },
    "mp_provisional_when": {
        "it": "il GSE paga di solito gli acconti circa due mesi dopo la fine del mese (per questo mese "
        "indicativamente verso il {day}) e il conguaglio dopo la chiusura dell'anno {year}; i tempi "
        "dipendono dal GSE e gli importi possono cambiare se il distributore corregge i dati.",
        "en": "the GSE usually pays the advances about two months after the month ends (for this month "
        "roughly around {day}) and the yearly balance after the year {year} is closed; the timing is the "
        "GSE's, and the amounts may change if the distributor corrects its data.",
    },
    "mp_closed": {"it": "Anno {year} chiuso", "en": "Year {year} closed"},
    "mp_closed_when": {
        "it": "il conguaglio annuale è calcolato; il GSE lo paga dopo la chiusura dell'anno e può ancora "
        "rettificare dei mesi se il distributore corregge i dati.",
        "en": "the yearly balance is computed; the GSE pays it after the year is closed and may still "
        "correct months if the distributor corrects its data.",
    },
    "mp_income": {"it": "Entrate", "en": "Income"},
    "mp_costs": {"it": "Costi", "en": "Costs"},
    "mp_income_costs_hint": {
        "it": "Entrate: premio, valorizzazione e vendita. Costi: quote e corrispettivi GSE. Totale = entrate + costi.",
        "en": "Income: premium, valorisation and sale. Costs: fees and GSE fees. Total = income + costs.",
    },
    "mp_compare": {"it": "Questo mese a confronto", "en": "This month compared"},
    "mp_prev_month": {"it": "Mese precedente", "en": "Previous month"},
    "mp_last_year": {"it": "Stesso mese dell'anno scorso", "en": "Same month last year"},
    "mp_cmp_withdrawn_kwh": {"it": "Il tuo prelievo", "en": "Your withdrawal"},
    "mp_cmp_shared_kwh": {"it": "Tua energia condivisa", "en": "Your shared energy"},
    "mp_cmp_income_eur": {"it": "Entrate", "en": "Income"},
    "mp_cmp_costs_eur": {"it": "Costi", "en": "Costs"},
    "mp_cmp_total_eur": {"it": "Totale", "en": "Total"},
    "mp_compare_hint": {
        "it": "Ogni mese dal suo rendiconto; tra parentesi quanto questo mese è cambiato rispetto a quel "
        "mese; — dove non ci sono dati.",
        "en": "Each month from its own statement; in brackets how this month changed against that month; — "
        "where there are no data.",
    },
    "mp_your_plants": {"it": "I tuoi impianti", "en": "Your plants"},
    "mp_plant_production": {"it": "Produzione immessa", "en": "Production injected"},
    "mp_plant_shared": {"it": "Di cui condivisa", "en": "Of which shared"},
    "mp_plant_sale": {"it": "Vendita (RID)", "en": "Sale (RID)"},
    "mp_plant_hint": {
        "it": "Produzione immessa in rete dall'impianto, parte condivisa con la comunità e valore della "
        "vendita dell'energia (ritiro dedicato) del mese, come nel riparto.",
        "en": "The energy the plant injected, the part shared with the community and the value of the energy "
        "sold (ritiro dedicato) in the month, as in the settlement.",
    },
    "mp_your_consumption": {"it": "Il tuo consumo", "en": "Your consumption"},
    "mp_covered": {"it": "Coperto dalla comunità", "en": "Covered by the community"},
    "mp_overlay_heading": {
        "it": "Il tuo consumo e la produzione della comunità",
        "en": "Your consumption and the community's production",
    },
    "mp_overlay_title": {
        "it": "il {pct} % del tuo consumo era coperto dalla produzione della comunità",
        "en": "{pct} % of your consumption was covered by the community's production",
    },
    "mp_overlay_hint": {
        "it": "Giornata tipo del mese (media per ora). La produzione della comunità ha la sua scala, a destra; "
        "la parte verde è la tua energia condivisa.",
        "en": "Typical day of the month (mean per hour). The community's production has its own scale, on "
        "the right; the green part is your shared energy.",
    },
    "mp_advice_days": {
        "it": "dagli ultimi 7 giorni ({first} – {last}), qualunque mese tu stia guardando",
        "en": "from the last 7 days ({first} – {last}), whatever month you are looking at",
    },
    "mp_window": {
        "it": "tra le {start} e le {end} la comunità ha circa {kw} kW in più",
        "en": "between {start}:00 and {end}:00 the community has about {kw} kW to spare",
    },
    "mp_appliances": {"it": "{n} elettrodomestici", "en": "{n} appliances"},
    "mp_appliances_0": {"it": "un piccolo consumo", "en": "a small load"},
    "mp_appliance_rule": {
        "it": "Un elettrodomestico (lavatrice, lavastoviglie, forno) assorbe circa 2 kW; con un contratto da "
        "3 kW una famiglia ne accende al massimo 1–2 insieme.",
        "en": "An appliance (washing machine, dishwasher, oven) draws about 2 kW; on a 3 kW contract a family "
        "runs at most 1–2 at once.",
    },
    "mp_account": {"it": "Cambia password", "en": "Change password"},
    "mp_current_password": {"it": "Password attuale", "en": "Current password"},
    "mp_new_password": {"it": "Nuova password", "en": "New password"},
    "mp_repeat_password": {"it": "Ripeti la nuova password", "en": "Repeat the new password"},
    "mp_password_rule": {
        "it": "Almeno {n} caratteri. Le altre sessioni aperte vengono chiuse.",
        "en": "At least {n} characters. Your other open sessions are signed out.",
    },
    "mp_password_changed": {"it": "Password cambiata.", "en": "Password changed."},
    "mp_password_wrong": {
        "it": "La password attuale non è corretta.",
        "en": "The current password is wrong.",
    },
    "mp_password_short": {
        "it": "La nuova password deve avere almeno {n} caratteri.",
        "en": "The new password must have at least {n} characters.",
    },
    "mp_password_mismatch": {
        "it": "Le due nuove password non coincidono.",
        "en": "The two new passwords differ.",
    },
    # --- issue #17 items 5, 7, 9: words, roles, month selector, case study (prefix w_) ---
    "w_role_admin": {"it": "amministratore", "en": "administrator"},
    "w_role_referente": {"it": "referente", "en": "referente (community manager)"},
    "w_role_member": {"it": "socio", "en": "member"},
    "w_plant_source_pv": {"it": "fotovoltaico", "en": "photovoltaic"},
    "w_plant_source_photovoltaic": {"it": "fotovoltaico", "en": "photovoltaic"},
    "w_plant_source_solar": {"it": "fotovoltaico", "en": "photovoltaic"},
    "w_plant_source_wind": {"it": "eolico", "en": "wind"},
    "w_plant_source_hydro": {"it": "idroelettrico", "en": "hydro"},
    "w_plant_source_biomass": {"it": "biomasse", "en": "biomass"},
    "w_external_producer": {"it": "produttore esterno", "en": "external producer"},
    "w_technical_detail": {"it": "dettaglio tecnico", "en": "technical detail"},
    "w_month_invalid": {
        "it": "«{asked}» non è un mese (si scrive AAAA-MM, per esempio 2024-06): è mostrato {shown}.",
        "en": "'{asked}' is not a month (write YYYY-MM, e.g. 2024-06): showing {shown}.",
    },
    "w_month_no_data": {"it": "nessun dato", "en": "no data"},
    "w_case_bills": {"it": "Bollette degli appartamenti", "en": "Flats' bills"},
    "w_case_prices": {"it": "Prezzi dell'energia", "en": "Energy prices"},
    # --- issue #16: billing runs on the dashboard (prefix br_) ---
    "br_statement_final": {
        "it": "Rendiconto n. {number} · definitivo",
        "en": "Statement no. {number} · final",
    },
    "br_statement_numbered": {
        "it": "il rendiconto scaricato è quello numerato del run",
        "en": "the statement downloaded is the run's numbered one",
    },
    "br_provisional": {
        "it": "importi provvisori: non ancora chiusi in un run definitivo",
        "en": "provisional amounts: not yet closed in a final run",
    },
    "br_runs_title": {"it": "Run di fatturazione", "en": "Billing runs"},
    "br_runs_intro": {
        "it": "Sola lettura: i run si registrano con condivisa runs finalize, close-year e correct.",
        "en": "Read-only: runs are stored with condivisa runs finalize, close-year and correct.",
    },
    "br_runs_none": {"it": "Nessun run definitivo registrato.", "en": "No final run stored yet."},
    "br_run_number": {"it": "N.", "en": "No."},
    "br_run_kind": {"it": "Tipo", "en": "Kind"},
    "br_run_months": {"it": "Mesi", "en": "Months"},
    "br_run_created": {"it": "Creato", "en": "Created"},
    "br_run_by": {"it": "Da", "en": "By"},
    "br_kind_final": {"it": "definitivo", "en": "final"},
    "br_kind_correction": {"it": "rettifica di n. {n}", "en": "correction of no. {n}"},
    "br_kind_yearly_balance": {"it": "conguaglio annuale", "en": "yearly balance"},
}


def translator_of(messages: dict[str, dict[str, str]], lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` over ``messages`` (key -> language -> text) in ``lang`` (``it`` or ``en``); English,
    then the key, when a message is missing. The features with words of their own (engagement, events) use
    it on their tables."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def t(key: str, **fmt: object) -> str:
        entry = messages.get(key, {})
        text = entry.get(lang) or entry.get("en") or key
        return text.format(**fmt) if fmt else text

    return t


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` in ``lang`` (``it`` or ``en``); English, then the key, when a message is missing."""
    return translator_of(MESSAGES, lang)


def fmt_number(value: float | None, lang: str, decimals: int = 2) -> str:
    """``1234.5`` -> ``1.234,50`` (it) or ``1,234.50`` (en); ``None``/``nan`` -> ``—``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:,.{decimals}f}"
    if lang == "it":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


MONTH_NAMES = {
    "it": [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def month_label(month: str, lang: str) -> str:
    """``2024-06`` -> ``giugno 2024`` / ``June 2024``."""
    year, mon = month.split("-")
    return f"{MONTH_NAMES.get(lang, MONTH_NAMES['en'])[int(mon) - 1]} {year}"
