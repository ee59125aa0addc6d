"""The platform's mail server, from the settings: one :class:`Mailer` for every e-mail condivisa sends (the
members' advice, demand-response events).

Settings (:class:`condivisa.app.settings.Settings`, environment ``CONDIVISA_SMTP_*``):

- ``smtp_url``: ``smtp://HOST[:PORT]`` (port 25; 587 with ``smtp_starttls``) or ``smtps://HOST[:PORT]``
  (TLS from the start, port 465); empty: no e-mail (:func:`mailer_from_settings` gives ``None``). A login
  in the URL (``smtp://USER:PASSWORD@HOST``) is used when ``smtp_username`` is not set;
- ``smtp_starttls``: upgrade ``smtp://`` with STARTTLS, required (never falls back to clear text);
- ``smtp_username``, ``smtp_password``: the login, if the server wants one;
- ``smtp_from``: the sender address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.transports.email import Security, SendResult, send_messages

if TYPE_CHECKING:
    from condivisa.app.settings import Settings

#: default ports: plain SMTP, submission with STARTTLS, SMTPS
PORT_PLAIN, PORT_STARTTLS, PORT_SSL = 25, 587, 465


def build_message(to: str, subject: str, body: str, sender: str) -> EmailMessage:
    """A plain-text UTF-8 e-mail from ``sender`` to ``to``, dated now (the injectable clock, Europe/Rome)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now().astimezone(ROME))
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("condivisa", domain=domain)
    message.set_content(body)
    return message


@dataclass(frozen=True)
class Mailer:
    """A mail server to send through (:func:`condivisa.transports.email.send_messages`)."""

    host: str
    port: int
    security: Security = "plain"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "condivisa@localhost"
    timeout_s: float = 30.0

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        """:func:`build_message` from this mailer's sender."""
        return build_message(to, subject, body, self.sender)

    def send(self, messages: Iterable[EmailMessage]) -> list[SendResult]:
        """Send ``messages`` on one connection; a result per recipient (a refused one is reported there).

        Raises :class:`condivisa.transports.email.MailServerError` when the server cannot be used.
        """
        return send_messages(
            messages,
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self.password,
            timeout_s=self.timeout_s,
        )


def mailer_from_settings(settings: Settings) -> Mailer | None:
    """The :class:`Mailer` of ``settings`` (module docstring), or ``None`` when ``smtp_url`` is empty."""
    if not settings.smtp_url:
        return None
    parts = urlsplit(settings.smtp_url)
    security: Security
    if parts.scheme == "smtps":
        security, default_port = "ssl", PORT_SSL
    elif settings.smtp_starttls:
        security, default_port = "starttls", PORT_STARTTLS
    else:
        security, default_port = "plain", PORT_PLAIN
    username = settings.smtp_username or (unquote(parts.username) if parts.username else None)
    password = settings.smtp_password
    if password is None and not settings.smtp_username and parts.password:
        password = unquote(parts.password)
    return Mailer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or default_port,
        security=security,
        username=username,
        password=password,
        sender=settings.smtp_from,
    )
