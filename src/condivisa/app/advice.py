"""Send tomorrow's good hours to the members (issue #19, item 2): an e-mail to each member with an address,
and the ``advice`` command to each member's DUs over MQTT.

Steps:

1. :func:`prepare`: the forecast of the day (default tomorrow, by the injectable clock, Europe/Rome;
   :func:`condivisa.outputs.forecast.community_forecast`), the ``advice``
   (:func:`condivisa.outputs.advice.build_advice`) and, per member active on that day, the e-mail text and
   the cmd topics of the member's DUs (``<root>/<community>/du/<du_id>/cmd``, the community level being
   the setting ``community`` or the slug of the community's name). Nothing is sent: this is the dry run;
2. :func:`deliver`: the e-mails on one SMTP connection (:func:`condivisa.app.mail.mailer_from_settings`),
   then the ``advice`` command, QoS 1, not retained, waiting for the broker's PUBACKs. A failure of one
   channel (mail server down, broker down) is recorded in the :class:`AdviceSummary` and does not stop the
   other.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from condivisa.app.downlink import publish_commands
from condivisa.app.mail import Mailer, mailer_from_settings
from condivisa.formats.flex_messages import Advice, advice_command
from condivisa.kernel import clock
from condivisa.outputs.advice import (
    GOOD_HOUR_MIN_SPARE_KW,
    AdviceEmail,
    active_members,
    build_advice,
    member_devices,
    member_email,
)
from condivisa.outputs.forecast import Forecast, community_forecast
from condivisa.store.communities import community_slug
from condivisa.transports.email import MailServerError, SendResult
from condivisa.transports.mqtt.topics import TopicLayout

if TYPE_CHECKING:
    from condivisa.app.settings import Settings
    from condivisa.domain.community import Community
    from condivisa.store.store import Store


@dataclass(frozen=True)
class MemberDelivery:
    """What one member gets: the e-mail (``email.to`` is ``None`` without an address) and the DUs' topics."""

    member_id: str
    name: str | None
    email: AdviceEmail
    du_topics: dict[str, str]  # DU id -> cmd topic


@dataclass(frozen=True)
class AdvicePlan:
    """Everything that would be sent for one day (:func:`prepare`)."""

    today: dt.date
    community: str  # the community level of the topics
    forecast: Forecast
    advice: Advice
    payload: bytes  # the ``advice`` command, JSON
    deliveries: tuple[MemberDelivery, ...]


@dataclass
class AdviceSummary:
    """What :func:`deliver` did."""

    day: dt.date
    emails_sent: list[str] = field(default_factory=list)  # addresses accepted by the mail server
    emails_refused: list[SendResult] = field(default_factory=list)
    members_without_email: list[str] = field(default_factory=list)
    du_published: list[str] = field(default_factory=list)  # cmd topics acknowledged by the broker
    email_error: str | None = None  # the mail server could not be used (or is not configured)
    mqtt_error: str | None = None  # the broker could not be used

    @property
    def ok(self) -> bool:
        """Nothing refused and no channel failed."""
        return not (self.emails_refused or self.email_error or self.mqtt_error)


def topic_community_of(settings: Settings, community: Community) -> str:
    """The community level of the topics: the setting ``community``, else the slug of the community's name
    (:func:`condivisa.store.communities.community_slug`)."""
    return settings.community or community_slug(community.name)


def plan_advice(
    forecast: Forecast,
    community: Community,
    *,
    today: dt.date,
    topic_community: str,
    root: str = "condivisa",
    min_spare_kw: float = GOOD_HOUR_MIN_SPARE_KW,
) -> AdvicePlan:
    """The :class:`AdvicePlan` of ``forecast`` (pure: no store, no network)."""
    advice = build_advice(forecast, today, min_spare_kw)
    layout = TopicLayout(topic_community, root)
    deliveries = tuple(
        MemberDelivery(
            m.id,
            m.name,
            member_email(advice, m, community.name),
            {du: layout.cmd(du) for du in member_devices(community, m)},
        )
        for m in active_members(community, forecast.day)
    )
    payload = json.dumps(advice_command(advice), ensure_ascii=False).encode()
    return AdvicePlan(today, topic_community, forecast, advice, payload, deliveries)


def prepare(store: Store, community: Community, settings: Settings, day: dt.date | None = None) -> AdvicePlan:
    """The plan of ``day`` (default: tomorrow by :func:`condivisa.kernel.clock.today`, Europe/Rome).

    Raises
    ------
    ValueError
        When the store has no production of the days before ``day`` (no forecast).
    """
    today = clock.today()
    target = day or today + dt.timedelta(days=1)
    forecast = community_forecast(store, community, target)
    return plan_advice(
        forecast,
        community,
        today=today,
        topic_community=topic_community_of(settings, community),
        root=settings.mqtt_topic_root,
    )


def publish_advice(plan: AdvicePlan, settings: Settings, *, timeout_s: float = 10.0) -> list[str]:
    """Publish the ``advice`` command on every DU's cmd topic of ``plan`` (QoS 1, not retained, every PUBACK
    awaited: :func:`condivisa.app.downlink.publish_commands`); returns the topics acknowledged.

    Raises ``ConnectionError`` (naming ``host:port``) when the broker cannot be used, ``TimeoutError`` when a
    message is not acknowledged within ``timeout_s``.
    """
    topics = [t for d in plan.deliveries for t in d.du_topics.values()]
    return publish_commands(settings, dict.fromkeys(topics, plan.payload), timeout_s=timeout_s)


def deliver(
    plan: AdvicePlan,
    settings: Settings,
    *,
    email: bool = True,
    mqtt: bool = True,
    mailer: Mailer | None = None,
) -> AdviceSummary:
    """Send the e-mails (``email``) and publish the ``advice`` command (``mqtt``) of ``plan``.

    Parameters
    ----------
    plan : AdvicePlan
        :func:`prepare`.
    settings : Settings
        The mail server (``smtp_*``) and the broker (:meth:`Settings.broker_address`, ``mqtt_username``,
        ``mqtt_password``).
    email, mqtt : bool, default True
        The channels to use.
    mailer : Mailer, optional
        Instead of :func:`condivisa.app.mail.mailer_from_settings`.

    Returns
    -------
    AdviceSummary
        A channel that failed has its error there; the other was still used.
    """
    summary = AdviceSummary(plan.advice.day)
    summary.members_without_email = [d.member_id for d in plan.deliveries if not d.email.to]
    if email:
        _send_emails(plan, mailer or mailer_from_settings(settings), summary)
    if mqtt:
        try:
            summary.du_published = publish_advice(plan, settings)
        except (ConnectionError, TimeoutError) as exc:
            summary.mqtt_error = str(exc)
    return summary


def _send_emails(plan: AdvicePlan, mailer: Mailer | None, summary: AdviceSummary) -> None:
    with_address = [d for d in plan.deliveries if d.email.to]
    if not with_address:
        return
    if mailer is None:
        summary.email_error = "no mail server configured (CONDIVISA_SMTP_URL): no e-mail sent"
        return
    messages = [mailer.message(str(d.email.to), d.email.subject, d.email.body) for d in with_address]
    try:
        results = mailer.send(messages)
    except MailServerError as exc:
        summary.email_error = str(exc)
        return
    summary.emails_sent = [r.recipient for r in results if r.accepted]
    summary.emails_refused = [r for r in results if not r.accepted]
