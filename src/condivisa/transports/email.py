"""Send e-mails over SMTP (standard library ``smtplib``): many messages on one connection, a result per
recipient.

- ``security``: ``"plain"`` (no encryption: a mail relay on the same machine or network), ``"starttls"``
  (connect in clear, then upgrade with STARTTLS; refused if the server does not offer it, never sent in
  clear instead) or ``"ssl"`` (TLS from the first byte, "SMTPS", usually port 465);
- a recipient the server refuses (e.g. ``550 no such user``) is reported in its :class:`SendResult`, and
  the other messages still go;
- a server that cannot be reached, refuses the login, or does not offer STARTTLS raises
  :class:`MailServerError`, whose message names ``host:port``.

References
----------
.. [1] J. Klensin, "Simple Mail Transfer Protocol", RFC 5321 (2008): reply codes 2xx accepted, 4xx
   temporary, 5xx permanent failure.
.. [2] P. Hoffman, "SMTP Service Extension for Secure SMTP over Transport Layer Security", RFC 3207 (2002).
.. [3] Python ``smtplib``, https://docs.python.org/3/library/smtplib.html
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

Security = Literal["plain", "starttls", "ssl"]
SECURITIES: tuple[Security, ...] = ("plain", "starttls", "ssl")


class MailServerError(ConnectionError):
    """The mail server cannot be used at all (down, login refused, no STARTTLS); the message names it."""


@dataclass(frozen=True)
class SendResult:
    """What happened to one recipient of one message.

    Attributes
    ----------
    recipient : str
        The address (``To``, ``Cc`` or ``Bcc``).
    accepted : bool
        The server took the message for this recipient (it may still bounce later).
    error : str or None
        Why not: the server's code and text (``"550 no such user"``), or what went wrong.
    subject : str
        The message's subject, to tell the messages apart in a report.
    """

    recipient: str
    accepted: bool
    error: str | None = None
    subject: str = ""


def recipients(message: EmailMessage) -> list[str]:
    """The addresses of ``To``, ``Cc`` and ``Bcc`` of ``message``, in that order."""
    fields = [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]
    return [address for _, address in getaddresses(fields) if address]


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {words}".strip()


def _connect(
    host: str,
    port: int,
    security: Security,
    username: str | None,
    password: str | None,
    timeout_s: float,
    context: ssl.SSLContext | None,
) -> smtplib.SMTP:
    where = f"{host}:{port}"
    if security not in SECURITIES:
        raise ValueError(f"security must be one of {SECURITIES}, got {security!r}")
    try:
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout_s, context=context or ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout_s)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailServerError(f"mail server {where} is not reachable: {exc}") from None
    try:
        smtp.ehlo()
        if security == "starttls":
            if not smtp.has_extn("starttls"):
                raise MailServerError(f"mail server {where} does not offer STARTTLS (security 'starttls')")
            smtp.starttls(context=context or ssl.create_default_context())
            smtp.ehlo()
        if username:
            smtp.login(username, password or "")
    except smtplib.SMTPAuthenticationError as exc:
        smtp.close()
        raise MailServerError(
            f"mail server {where} refused the login of {username!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
        ) from None
    except MailServerError:
        smtp.close()
        raise
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        raise MailServerError(f"mail server {where}: {exc}") from None
    return smtp


def send_messages(
    messages: Iterable[EmailMessage],
    *,
    host: str,
    port: int,
    security: Security = "plain",
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[SendResult]:
    """Send ``messages`` on one SMTP connection.

    Parameters
    ----------
    messages : iterable of email.message.EmailMessage
        Each with ``From`` and at least one of ``To``, ``Cc``, ``Bcc``.
    host : str
        The mail server.
    port : int
        Its port (usually 25 plain, 587 STARTTLS, 465 SSL).
    security : {"plain", "starttls", "ssl"}, default "plain"
        Module docstring.
    username, password : str, optional
        Login (``AUTH``); none when ``username`` is empty.
    timeout_s : float, default 30.0
        Timeout of each network operation, s.
    ssl_context : ssl.SSLContext, optional
        For ``starttls`` and ``ssl``; default the system's trusted certificates.

    Returns
    -------
    list of SendResult
        One per recipient of each message, in order. Nothing is sent for an empty ``messages`` (and no
        connection is opened).

    Raises
    ------
    MailServerError
        The server is down or unreachable, refuses the login, or does not offer STARTTLS.
    """
    batch = list(messages)
    if not batch:
        return []
    results: list[SendResult] = []
    smtp: smtplib.SMTP | None = _connect(host, port, security, username, password, timeout_s, ssl_context)
    try:
        for message in batch:
            subject = str(message.get("Subject", ""))
            to = recipients(message)
            if smtp is None:
                lost = f"not sent: the connection to {host}:{port} was lost"
                results += [SendResult(r, False, lost, subject) for r in to]
                continue
            try:
                refused = smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
                refused = exc.recipients
            except smtplib.SMTPSenderRefused as exc:
                why = f"sender {exc.sender!r} refused: {_reply(exc.smtp_code, exc.smtp_error)}"
                results += [SendResult(r, False, why, subject) for r in to]
                continue
            except smtplib.SMTPDataError as exc:
                why = _reply(exc.smtp_code, exc.smtp_error)
                results += [SendResult(r, False, why, subject) for r in to]
                continue
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                results += [SendResult(r, False, f"connection lost: {exc}", subject) for r in to]
                smtp.close()
                smtp = None
                continue
            except ValueError as exc:  # no recipient, or no sender
                results.append(SendResult("", False, str(exc), subject))
                continue
            for r in to:
                if r in refused:
                    code, text = refused[r]
                    results.append(SendResult(r, False, _reply(code, text), subject))
                else:
                    results.append(SendResult(r, True, None, subject))
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    return results
