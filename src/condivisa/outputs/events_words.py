"""The words of the demand-response event pages (the referente's ``/community/events`` and the member's
panel; :mod:`condivisa.outputs.events`), Italian and English, kept apart from :mod:`condivisa.outputs.i18n`.
``words(lang)`` is a ``t(key, **fmt)`` like :func:`condivisa.outputs.i18n.translator`: English, then the
key, when a message is missing."""

from __future__ import annotations

from collections.abc import Callable

from condivisa.outputs.i18n import translator_of

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"it": "Eventi della comunità", "en": "Community events"},
    "link_intro": {
        "it": "chiedi ai membri di consumare di più nelle ore di sole",
        "en": "ask the members to consume more in the sunny hours",
    },
    "intro": {
        "it": "Un evento chiede ai membri invitati di consumare di più in una finestra di un giorno (a quarti "
        "d'ora): l'energia spostata in quelle ore diventa energia condivisa. Dopo il giorno, la liquidazione "
        "misura quanto ha spostato ciascuno rispetto alla sua linea di base e il bonus che gli spetta: le "
        "stesse cifre dei rendiconti.",
        "en": "An event asks the invited members to consume more in a window of one day (in quarter hours): "
        "energy moved into those hours becomes shared energy. After the day, the settlement measures how "
        "much each one shifted against their baseline and the bonus they earn: the same figures as the "
        "statements.",
    },
    "new": {"it": "Nuovo evento", "en": "New event"},
    "day": {"it": "Giorno", "en": "Day"},
    "from": {"it": "Dalle", "en": "From"},
    "to": {"it": "Alle", "en": "To"},
    "target_kw": {"it": "Obiettivo (kW in più)", "en": "Target (kW more)"},
    "target_kwh": {"it": "oppure (kWh in più)", "en": "or (kWh more)"},
    "optional": {"it": "facoltativo", "en": "optional"},
    "invite": {"it": "Invitati", "en": "Invited"},
    "invite_all": {"it": "tutti i membri", "en": "every member"},
    "invite_some": {"it": "solo quelli scelti:", "en": "only those chosen:"},
    "note": {"it": "Nota (nell'e-mail)", "en": "Note (in the e-mail)"},
    "create": {"it": "Crea e invia", "en": "Create and send"},
    "mqtt_on": {
        "it": "L'evento parte subito verso i dispositivi (DU) dei membri invitati, via MQTT.",
        "en": "The event goes at once to the invited members' devices (DU), over MQTT.",
    },
    "mqtt_off": {
        "it": "Questo processo non ha il collegamento MQTT: l'evento viene salvato ma non inviato ai "
        "dispositivi; invialo con «condivisa events send».",
        "en": "This process has no MQTT connection: the event is saved but not sent to the devices; send it "
        "with `condivisa events send`.",
    },
    "email_note": {
        "it": "Le e-mail di invito non partono da questa pagina: le manda «condivisa events send». I membri "
        "vedono l'evento anche nella loro pagina.",
        "en": "The invitation e-mails are not sent from this page: `condivisa events send` sends them. The "
        "members also see the event on their page.",
    },
    "error": {"it": "Evento non salvato", "en": "Event not saved"},
    "cancel_error": {"it": "Evento non annullato", "en": "Event not cancelled"},
    "created": {"it": "Evento {id} creato.", "en": "Event {id} created."},
    "sent": {
        "it": "Inviato a {n} dispositivi via MQTT.",
        "en": "Sent to {n} devices over MQTT.",
    },
    "not_sent": {
        "it": "Non inviato ai dispositivi (nessun collegamento MQTT o nessun DU invitato).",
        "en": "Not sent to the devices (no MQTT connection or no DU invited).",
    },
    "send_failed": {"it": "Invio MQTT non riuscito: {error}", "en": "MQTT send failed: {error}"},
    "cancelled_ok": {"it": "Evento {id} annullato.", "en": "Event {id} cancelled."},
    "list": {"it": "Gli eventi", "en": "The events"},
    "none": {"it": "Nessun evento.", "en": "No events."},
    "window": {"it": "Finestra", "en": "Window"},
    "invited": {"it": "Invitati", "en": "Invited"},
    "replies": {"it": "Risposte dei DU", "en": "DU replies"},
    "accepted": {"it": "accettato", "en": "accepted"},
    "declined": {"it": "rifiutato", "en": "declined"},
    "no reply": {"it": "nessuna risposta", "en": "no reply"},
    "shifted": {"it": "kWh spostati", "en": "kWh shifted"},
    "extra_shared": {"it": "Condivisa in più (kWh)", "en": "Extra shared (kWh)"},
    "extra_premium": {"it": "Incentivo in più (€)", "en": "Extra premium (€)"},
    "bonus": {"it": "Bonus del mese (€)", "en": "Month's bonus (€)"},
    "bonus_help": {
        "it": "Il bonus è quello del mese dell'evento (tutti gli eventi del mese), come nei rendiconti.",
        "en": "The bonus is that of the event's month (every event of the month), as in the statements.",
    },
    "state": {"it": "Stato", "en": "State"},
    "not_settled": {"it": "non ancora liquidato", "en": "not settled yet"},
    "ahead": {"it": "in programma", "en": "ahead"},
    "cancelled": {"it": "annullato", "en": "cancelled"},
    "sent_at": {"it": "inviato", "en": "sent"},
    "cancel": {"it": "Annulla", "en": "Cancel"},
    "settled": {"it": "liquidato", "en": "settled"},
    # form errors
    "bad_day": {"it": "{value!r} non è un giorno (AAAA-MM-GG)", "en": "{value!r} is not a day (YYYY-MM-DD)"},
    "bad_time": {
        "it": "{value!r} non è un'ora a quarti d'ora (HH:MM)",
        "en": "{value!r} is not a quarter-hour time (HH:MM)",
    },
    "bad_number": {"it": "{value!r} non è un numero", "en": "{value!r} is not a number"},
    "past": {
        "it": "la finestra è già iniziata: un evento si crea prima del suo inizio",
        "en": "the window has already begun: an event is created before it starts",
    },
    "over": {
        "it": "l'evento {id} si è già svolto: le sue cifre sono nella liquidazione",
        "en": "event {id} has already taken place: its figures are in the settlement",
    },
    # the member's panel
    "mine": {"it": "I tuoi eventi", "en": "Your events"},
    "mine_upcoming": {"it": "In programma", "en": "Ahead"},
    "mine_past": {"it": "Passati", "en": "Past"},
    "mine_shifted": {
        "it": "hai spostato {kwh} kWh nella finestra; il tuo bonus di {month}: {eur} €",
        "en": "you shifted {kwh} kWh into the window; your bonus of {month}: {eur} €",
    },
    "mine_not_settled": {
        "it": "le cifre arrivano quando il giorno è liquidato",
        "en": "the figures come once the day is settled",
    },
}


def words(lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` in ``lang`` (``it`` or ``en``)."""
    return translator_of(MESSAGES, lang)
