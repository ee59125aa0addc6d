"""How the MQTT ingest worker reaches its broker: address, credentials, protocol and persistent session.

A :class:`BrokerConnection` makes the paho client (acknowledging manually: the worker acknowledges a message
only after its commit) and connects it so that the broker resumes the session it keeps for the client id:
MQTT 5 ``clean_start=False`` with a session expiry, MQTT 3.1.1 ``clean_session=False`` (brokers without MQTT
5, e.g. the embedded amqtt). A broker that is down is retried in the background, backoff 1 s .. 60 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: seconds a broker keeps a disconnected worker's session (MQTT 5), by default: a week
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class BrokerConnection:
    """The broker at ``host``:``port`` and the worker's session there.

    Parameters
    ----------
    host, port : str, int
        The broker.
    client_id : str
        The client id, i.e. the name of the persistent session the broker keeps.
    mqtt5 : bool
        MQTT 5 (session expiry, response topics); False for MQTT 3.1.1.
    session_expiry_s : int
        MQTT 5: how long the broker keeps the session after a disconnection.
    username, password : str, optional
        The worker's credentials (the password is not shown in the ``repr``).
    tls : bool
        Connect with TLS (the system's CA certificates).
    receive_maximum : int, optional
        MQTT 5: unacknowledged messages the broker may send at once (unset: the broker's own, 20 on
        Mosquitto).
    """

    host: str
    port: int
    client_id: str = "condivisa-ingest"
    mqtt5: bool = True
    session_expiry_s: int = SESSION_EXPIRY_S
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    receive_maximum: int | None = None

    def new_client(self) -> mqtt.Client:
        """A paho client for this connection, with manual acknowledgements, reconnecting by itself; the
        caller binds its callbacks."""
        if self.mqtt5:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                manual_ack=True,
                protocol=mqtt.MQTTv5,
            )
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                manual_ack=True,
                protocol=mqtt.MQTTv311,
                clean_session=False,
            )
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        return client

    def connect_async(self, client: mqtt.Client) -> None:
        """Connect ``client`` in the background, resuming the session (see the module docstring)."""
        if not self.mqtt5:
            client.connect_async(self.host, self.port, keepalive=30)
            return
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        if self.receive_maximum:
            props.ReceiveMaximum = self.receive_maximum
        client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
