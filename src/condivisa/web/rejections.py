"""A rejected message (dead letter) in words a referente can act on: one line saying who sent it, what is
wrong and what to do, above the technical reasons (which stay, for the installer).

The kinds, from the reasons :mod:`condivisa.ingest.pipeline` records: a POD not in ``community.yaml``
(add it, then replay the message), a sender writing for a POD that is not its own (check the device's
configuration), a reading dated in the future or too far in the past (the device's clock), anything else (an
unreadable or malformed message: no action; if it repeats, call the installer).
"""

from __future__ import annotations

import re
from typing import Any

_POD = re.compile(r"POD (\S+)")

ACTIONS = {
    "it": {
        "unknown_pod": (
            "{who} ha inviato letture per il POD {pod}, che non è nel file della comunità: se è di un socio, "
            "aggiungerlo a community.yaml e poi recuperare il messaggio (condivisa db replay {id})"
        ),
        "not_authorised": (
            "{who} ha inviato letture per un POD che non è il suo ({pod}): messaggio scartato; far "
            "controllare all'installatore la configurazione del dispositivo"
        ),
        "clock": (
            "{who} ha inviato letture con una data sbagliata (orologio del dispositivo): nessuna azione, se si "
            "ripete contattare l'installatore"
        ),
        "invalid": (
            "{who} ha inviato un messaggio non valido: nessuna azione, se si ripete contattare l'installatore"
        ),
        "device": "il dispositivo {device}",
        "someone": "un dispositivo non identificato",
    },
    "en": {
        "unknown_pod": (
            "{who} sent readings for POD {pod}, which is not in the community file: if it is a member's, add "
            "it to community.yaml, then recover the message (condivisa db replay {id})"
        ),
        "not_authorised": (
            "{who} sent readings for a POD that is not its own ({pod}): message discarded; have the installer "
            "check the device's configuration"
        ),
        "clock": (
            "{who} sent readings with a wrong date (the device's clock): no action; if it repeats, call the "
            "installer"
        ),
        "invalid": "{who} sent an invalid message: no action; if it repeats, call the installer",
        "device": "device {device}",
        "someone": "an unidentified device",
    },
}


def rejection_kind(reasons: list[dict[str, Any]]) -> tuple[str, str]:
    """``(kind, pod)`` of a dead letter's reasons (module docstring); ``pod`` is ``""`` when none is named."""
    texts = [str(r.get("reason", "")) for r in reasons or []]
    for kind, marker in (
        ("unknown_pod", "is not registered in this community"),
        ("not_authorised", "not authorised"),
        ("clock", "a future reading"),
        ("clock", "is before"),
    ):
        for text in texts:
            if marker in text:
                found = _POD.search(text)
                return kind, found.group(1) if found else ""
    return "invalid", ""


def rejection_action(letter: dict[str, Any], lang: str = "it") -> str:
    """The action line of a dead letter (``device_id``, ``reasons``, ``id``) in ``lang``: e.g. ``il dispositivo
    DU-0103 ha inviato un messaggio non valido: nessuna azione, se si ripete contattare l'installatore``."""
    words = ACTIONS.get(lang, ACTIONS["en"])
    device = letter.get("device_id")
    who = words["device"].format(device=device) if device else words["someone"]
    kind, pod = rejection_kind(letter.get("reasons") or [])
    text = words[kind].format(who=who, pod=pod or "?", id=letter.get("id", ""))
    return text[0].upper() + text[1:]
