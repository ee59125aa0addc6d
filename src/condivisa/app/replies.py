"""The DUs' replies to commands, as the ingest worker receives them (issue #19): an event's
acknowledgement is recorded (:func:`condivisa.store.flex_events.record_reply`); an invalid reply is refused
with its reason and kept in the dead letters. Light on purpose: every ingest worker process imports it.
"""

from __future__ import annotations

from collections.abc import Callable

from condivisa.formats.flex_messages import MessageError, parse_reply
from condivisa.store import flex_events
from condivisa.store.flex_events import EventError
from condivisa.store.store import Store


def reply_handler(store: Store) -> Callable[[str, str, bytes], str | None]:
    """``on_reply`` of the ingest worker: record a DU's reply to an event; returns the reason when it is
    refused (kept in the dead letters too), None when recorded or a repeat. A reply to a command other than
    an event (e.g. an ``advice`` a DU chose to acknowledge) is accepted and ignored."""

    def handle(community: str, du_id: str, payload: bytes) -> str | None:
        try:
            reply = parse_reply(payload)
            if reply.cmd != "event":
                return None
            flex_events.record_reply(
                store.engine, community=community, du_id=du_id, event_id=reply.command_id,
                status=reply.status, at=reply.at,
            )  # fmt: skip
            return None
        except (MessageError, EventError) as exc:
            store.add_dead_letter(
                payload, [{"path": "$", "reason": str(exc)}], source=f"mqtt-reply:{du_id}", device_id=du_id,
                community=community,
            )  # fmt: skip
            return str(exc)

    return handle
