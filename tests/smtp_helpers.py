"""A real local SMTP server for the e-mail tests (aiosmtpd): it refuses ``@refused.example`` and keeps the
rest as ``(sender, recipients, message)`` (not a test module)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from condivisa.transports.mqtt.broker import free_port


class Inbox:
    """An aiosmtpd handler: refuses ``@refused.example``, keeps the rest."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """``(port, inbox)`` of an SMTP server on 127.0.0.1, stopped on exit."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()
