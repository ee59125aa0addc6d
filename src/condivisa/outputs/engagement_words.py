"""The words of the engagement panel (:mod:`condivisa.outputs.engagement`), Italian and English, kept apart
from :mod:`condivisa.outputs.i18n`. ``words(lang)`` is a ``t(key, **fmt)`` like
:func:`condivisa.outputs.i18n.translator`: English, then the key, when a message is missing."""

from __future__ import annotations

from collections.abc import Callable

from condivisa.outputs.i18n import translator_of

MESSAGES: dict[str, dict[str, str]] = {
    "heading": {"it": "La tua energia al sole", "en": "Your energy in the sun"},
    "share": {
        "it": "{month}: il {pct} % dei tuoi consumi è caduto nelle ore di sole della comunità.",
        "en": "{month}: {pct} % of your consumption fell in the community's sunny hours.",
    },
    "no_share": {
        "it": "Nessun consumo registrato in questo mese.",
        "en": "No consumption recorded this month.",
    },
    "change_up": {"it": "+{pp} punti sul mese prima", "en": "+{pp} points on the month before"},
    "change_down": {"it": "{pp} punti sul mese prima", "en": "{pp} points on the month before"},
    "change_same": {"it": "come il mese prima", "en": "same as the month before"},
    "covered": {
        "it": "Il {pct} % dei tuoi consumi è stato coperto dall'energia condivisa.",
        "en": "{pct} % of your consumption was covered by shared energy.",
    },
    "rule": {
        "it": "Ore di sole: le ore in cui gli impianti della comunità immettono almeno il {pct} % dell'ora "
        "migliore del mese. Spostare lavatrice, lavastoviglie e forno in quelle ore fa crescere l'energia "
        "condivisa e l'incentivo.",
        "en": "Sunny hours: the hours in which the community's plants inject at least {pct} % of the "
        "month's best hour. Moving the washing machine, dishwasher and oven into those hours raises the "
        "shared energy and the incentive.",
    },
    "trend": {"it": "Gli ultimi mesi", "en": "The last months"},
    "month": {"it": "Mese", "en": "Month"},
    "sunny_share": {"it": "Consumi al sole", "en": "Consumption in the sun"},
    "change": {"it": "Variazione (punti)", "en": "Change (points)"},
    "ranking": {"it": "La classifica della comunità", "en": "The community ranking"},
    "pseudonym": {"it": "Pseudonimo", "en": "Pseudonym"},
    "rank": {"it": "Posizione", "en": "Rank"},
    "your_rank": {
        "it": "Sei in classifica come «{pseudonym}»: posizione {rank} su {n}.",
        "en": "You are in the ranking as “{pseudonym}”: rank {rank} of {n}.",
    },
    "you_in_no_rank": {
        "it": "Sei in classifica come «{pseudonym}».",
        "en": "You are in the ranking as “{pseudonym}”.",
    },
    "too_few": {
        "it": "La classifica compare quando almeno {k} soci hanno scelto di partecipare: con meno, i "
        "numeri di ciascuno si potrebbero indovinare.",
        "en": "The ranking appears once at least {k} members have chosen to take part: with fewer, "
        "each one's figures could be guessed.",
    },
    "recognitions": {"it": "Riconoscimenti del mese", "en": "This month's recognitions"},
    "most_solar": {"it": "Più solare: {pseudonym} ({value} %)", "en": "Most solar: {pseudonym} ({value} %)"},
    "most_improved": {
        "it": "Più migliorato: {pseudonym} (+{value} punti)",
        "en": "Most improved: {pseudonym} (+{value} points)",
    },
    "join_hint": {
        "it": "Vuoi entrare nella classifica? Comparirai solo con uno pseudonimo e la tua percentuale al "
        "sole: mai il tuo nome, il tuo POD o i tuoi kWh. Puoi uscire quando vuoi.",
        "en": "Want to join the ranking? You will appear only with a pseudonym and your share in the sun: "
        "never your name, your POD or your kWh. You can leave whenever you like.",
    },
    "pseudonym_field": {
        "it": "Pseudonimo (facoltativo: 3–32 lettere, cifre, spazi o '-'; vuoto = ne scegliamo uno noi)",
        "en": "Pseudonym (optional: 3–32 letters, digits, spaces or '-'; empty = we pick one)",
    },
    "join": {"it": "Partecipa alla classifica", "en": "Join the ranking"},
    "rename": {"it": "Cambia pseudonimo", "en": "Change pseudonym"},
    "leave": {"it": "Esci dalla classifica", "en": "Leave the ranking"},
    "saved_in": {"it": "Ora sei in classifica.", "en": "You are now in the ranking."},
    "saved_out": {
        "it": "Sei uscito dalla classifica: il tuo pseudonimo è stato cancellato.",
        "en": "You left the ranking: your pseudonym was deleted.",
    },
    "err_length": {
        "it": "Lo pseudonimo deve avere da 3 a 32 caratteri.",
        "en": "The pseudonym must have 3 to 32 characters.",
    },
    "err_chars": {
        "it": "Lo pseudonimo può contenere solo lettere, cifre, spazi e '-'.",
        "en": "The pseudonym may contain only letters, digits, spaces and '-'.",
    },
    "err_identifying": {
        "it": "Lo pseudonimo non può essere il nome o il codice di un socio.",
        "en": "The pseudonym cannot be a member's name or id.",
    },
    "err_taken": {
        "it": "Questo pseudonimo è già usato da un altro socio.",
        "en": "Another member already uses this pseudonym.",
    },
    "community_heading": {
        "it": "Energia al sole: classifica (solo pseudonimi)",
        "en": "Energy in the sun: ranking (pseudonyms only)",
    },
    "community_opted_in": {
        "it": "Soci che partecipano: {n}.",
        "en": "Members taking part: {n}.",
    },
}

#: the result codes a redirect after the form may carry (anything else is ignored)
NOTICES = ("saved_in", "saved_out", "err_length", "err_chars", "err_identifying", "err_taken")


def words(lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` in ``lang`` (``it`` or ``en``)."""
    return translator_of(MESSAGES, lang)
