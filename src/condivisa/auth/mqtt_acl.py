"""Device access control on the MQTT broker: Mosquitto password + ACL files, and the same rules in the
embedded amqtt broker.

Rules (topic layout of :mod:`condivisa.transports.mqtt.worker`, ``<root>/<community>/<kind>/<id>/<leaf>``):

- a DU (``du``) or a gateway (``gw``) may **publish** only on its own ``.../<id>/up`` and **read** (subscribe
  and receive) only its own ``.../<id>/cmd`` and ``.../<id>/ack``, all under its **own community**; a DU
  also publishes its replies to commands on its own ``.../du/<id>/reply`` (issue #19)
  (``<root>/<community>/...``, the ``community`` of its credential): a DU belongs to one community, and
  cannot publish on another community's topics (issue #18);
- the ingest worker serves every community of the platform: it may read every ``<root>/+/+/+/up`` (and the
  DUs' ``<root>/+/du/+/reply``) and
  publish every ``<root>/+/+/+/ack`` and ``<root>/+/+/+/cmd``, whatever the ``community`` of its credential;
  it also publishes the members' Home Assistant topics, ``<root>/+/member/+/#`` (issue #19, item 5);
- a member (``member``, username ``member@<community>@<member_id>``, :func:`member_username`) may only
  **read** its own ``<root>/<community>/member/<member_id>/#`` (its Home Assistant discovery configs and
  states, :mod:`condivisa.transports.mqtt.ha_discovery`), and publish nothing;
- anyone else, and anything not granted, is denied (Mosquitto: ``allow_anonymous false`` + ``acl_file``).

Files written by :func:`write_mosquitto_files` (``condivisa mqtt-acl --out DIR``):

- ``passwd``: ``username:$7$...`` lines, the format of ``mosquitto_passwd`` (PBKDF2-SHA512), from the hashes
in
  the credentials table — the clear passwords are never needed again;
- ``acl``: Mosquitto ACL file, one ``user`` block per client with ``topic read|write`` lines;
- ``passwd-platform``: the same lines for the platform's own clients only (the ingest workers);
- ``mosquitto.conf``: a production configuration (:func:`mosquitto_conf_text`); retained messages are
  accepted exactly when a ``member`` credential exists (:func:`write_mosquitto_files`, "Retained messages").

Client ids (issue #13, finding 3): the broker keeps a session per client id, and a client connecting with a
client id in use takes that session over. A device therefore never chooses its client id: it is its username
(Mosquitto's ``use_username_as_clientid true`` on the device listeners; on the embedded broker
:class:`AmqttPasswordAuthPlugin` does the same). Only the platform's users (``passwd-platform``) choose
theirs (``condivisa-ingest``, ``condivisa-ingest-0`` …), and on Mosquitto only on the platform listener,
bound to 127.0.0.1, which knows no device password.

The embedded broker loads :class:`AmqttPasswordAuthPlugin` and :class:`AmqttAclPlugin` reading *the same
files* (``embedded_broker_plugins(dir)``), so both brokers enforce identical rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from paho.mqtt.client import topic_matches_sub

from condivisa.auth.hashing import verify_mosquitto_hash
from condivisa.auth.tls import CertFiles, mosquitto_tls_listener

READ, WRITE = "read", "write"


@dataclass(frozen=True)
class Grant:
    access: str  # "read" (subscribe + receive) or "write" (publish)
    topic: str  # a topic or a topic filter with + / #


def member_username(community: str, member_id: str) -> str:
    """The MQTT username of a member's credential (kind ``member``): ``member@<community>@<member_id>``."""
    return f"member@{community}@{member_id}"


def client_grants(client_id: str, kind: str, *, community: str, root: str = "condivisa") -> list[Grant]:
    """What one broker client may do (see the module docstring): a device or a member, within its
    ``community``; the worker, in every community."""
    if kind == "worker":
        every = f"{root}/+"
        return [
            Grant(READ, f"{every}/+/+/up"),
            Grant(READ, f"{every}/du/+/reply"),
            Grant(WRITE, f"{every}/+/+/ack"),
            Grant(WRITE, f"{every}/+/+/cmd"),
            Grant(WRITE, f"{every}/member/+/#"),
        ]
    if not community or any(c in community for c in "/+#") or any(c.isspace() for c in community):
        raise ValueError(f"client {client_id}: community {community!r} cannot be one MQTT topic level")
    base = f"{root}/{community}"
    if kind == "member":
        prefix = member_username(community, "")
        member_id = client_id[len(prefix) :] if client_id.startswith(prefix) else ""
        if not member_id or any(c in member_id for c in "/+#") or any(c.isspace() for c in member_id):
            raise ValueError(f"member credential {client_id!r}: expected {prefix}<member_id>")
        return [Grant(READ, f"{base}/member/{member_id}/#")]
    if kind not in ("du", "gw"):
        raise ValueError(f"client {client_id}: unknown kind {kind!r}")
    if not client_id or any(c in client_id for c in "/+#") or any(c.isspace() for c in client_id):
        raise ValueError(f"client id {client_id!r} cannot be one MQTT topic level")
    own = f"{base}/{kind}/{client_id}"
    grants = [Grant(WRITE, f"{own}/up"), Grant(READ, f"{own}/cmd"), Grant(READ, f"{own}/ack")]
    return grants + [Grant(WRITE, f"{own}/reply")] if kind == "du" else grants


def acl_for(credentials: Iterable[dict], *, root: str = "condivisa") -> dict[str, list[Grant]]:
    """``username -> grants`` for the credentials of :meth:`AuthService.device_credentials`. A device named
    like a platform user's client ids (``<worker>`` or ``<worker>-<n>``) is refused: its client id is its
    name, and it would take over that session."""
    credentials = list(credentials)
    workers = [c["du_id"] for c in credentials if c.get("kind") == "worker"]
    for c in credentials:
        if c.get("kind", "du") != "worker" and any(
            c["du_id"] == w or c["du_id"].startswith(f"{w}-") for w in workers
        ):
            raise ValueError(f"device {c['du_id']!r} is named like the platform's client ids: rename it")
    return {
        c["du_id"]: client_grants(c["du_id"], c.get("kind", "du"), community=c["community"], root=root)
        for c in credentials
    }


def acl_text(acl: dict[str, list[Grant]]) -> str:
    """Mosquitto ACL file (``acl_file``): one ``user`` block per client."""
    lines = ["# generated by `condivisa mqtt-acl`; do not edit, regenerate instead", ""]
    for user in sorted(acl):
        lines.append(f"user {user}")
        lines += [f"topic {g.access} {g.topic}" for g in acl[user]]
        lines.append("")
    return "\n".join(lines)


def password_file_text(credentials: Iterable[dict]) -> str:
    """Mosquitto password file: ``username:$7$...`` per line (as ``mosquitto_passwd`` writes it)."""
    return "".join(
        f"{c['du_id']}:{c['password_hash']}\n" for c in sorted(credentials, key=lambda c: c["du_id"])
    )


#: largest MQTT payload the generated Mosquitto configuration accepts, bytes (``message_size_limit``)
MESSAGE_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
#: clients at once on each device listener
MAX_DEVICE_CONNECTIONS = 10_000


@dataclass(frozen=True)
class TlsListener:
    """The TLS listener for devices: port, CA certificate and the server's certificate and key."""

    cafile: Path
    certfile: Path
    keyfile: Path
    port: int = 8883
    host: str | None = None


def mosquitto_conf_text(
    directory: Path,
    *,
    port: int = 1883,
    host: str | None = None,
    run_as: str | None = None,
    platform_port: int | None = None,
    tls: TlsListener | None = None,
    message_size_limit_bytes: int = MESSAGE_SIZE_LIMIT_BYTES,
    retain_available: bool = False,
) -> str:
    """A production Mosquitto 2 configuration using the files in ``directory``.

    Parameters
    ----------
    directory : Path
        Where ``passwd``, ``passwd-platform`` and ``acl`` are; persistence goes to ``directory/data``.
    port, host : int, str
        The plain (unencrypted) device listener, on 127.0.0.1 unless ``host`` says otherwise (a trial on a
        closed network); devices from outside use the TLS listener.
    run_as : str, optional
        Mosquitto started as root drops to user ``mosquitto``, which must be able to read the files: name
        the files' owner instead (``user`` option).
    platform_port : int, optional
        The listener of the platform's ingest workers, always on 127.0.0.1 (default ``port + 2``): only
        ``passwd-platform``'s users, who choose their client ids.
    tls : TlsListener, optional
        The devices' TLS listener (all interfaces unless it names a host).
    message_size_limit_bytes : int
        Largest payload; a larger one is dropped by Mosquitto (MQTT 5 senders get an error reason code).
    retain_available : bool
        ``True`` lets clients publish retained messages, which Home Assistant discovery needs
        (:mod:`condivisa.app.ha_publisher`); off by default (see the Notes).

    Notes
    -----
    Persistence is on (a broker restart keeps the sessions and the QoS 1 messages queued for a stopped
    worker; saved every 10 s and at shutdown, so a ``kill -9`` of Mosquitto itself can lose the last 10 s).
    ``max_queued_messages 1000000`` keeps Mosquitto from dropping the QoS 1 messages queued for an ingest
    worker that falls behind (its default keeps 1000; 0, "no limit", made Mosquitto 2.0.11 stop delivering
    in our tests). Without ``retain_available`` retained messages are refused (``retain_available false``: a
    client publishing one is disconnected); with it, a client may leave one on the topics its ACL lets it
    write (:func:`write_mosquitto_files` says who and why).
    """
    platform_port = platform_port or port + 2
    device_rules = [
        "allow_anonymous false",
        f"password_file {directory / 'passwd'}",
        f"acl_file {directory / 'acl'}",
        "use_username_as_clientid true",  # a device cannot take over another client's session
        f"max_connections {MAX_DEVICE_CONNECTIONS}",
    ]
    lines = [
        "# generated by `condivisa mqtt-acl`; do not edit, regenerate instead",
        *([f"user {run_as}"] if run_as else []),
        "per_listener_settings true",
        "persistence true",
        f"persistence_location {directory / 'data'}/",
        "autosave_interval 10",
        "max_queued_messages 1000000",
        "max_inflight_messages 100",
        f"message_size_limit {message_size_limit_bytes}",
        f"retain_available {'true' if retain_available else 'false'}",
        "",
        "# devices, plain MQTT: this host only (devices from outside use TLS)",
        f"listener {port} {host or '127.0.0.1'}",
        *device_rules,
        "",
        "# the platform's ingest workers: this host only, platform users only",
        f"listener {platform_port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {directory / 'passwd-platform'}",
        f"acl_file {directory / 'acl'}",
        "",
    ]
    if tls is not None:
        lines += [
            "# devices, MQTT over TLS",
            mosquitto_tls_listener(
                tls.cafile, CertFiles(tls.certfile, tls.keyfile), port=tls.port, host=tls.host
            ).rstrip("\n"),
            *device_rules,
            "",
        ]
    return "\n".join(lines)


def write_mosquitto_files(
    credentials: list[dict],
    out_dir: Path | str,
    *,
    root: str = "condivisa",
    port: int = 1883,
    host: str | None = None,
    run_as: str | None = None,
    platform_port: int | None = None,
    tls: TlsListener | None = None,
    message_size_limit_bytes: int = MESSAGE_SIZE_LIMIT_BYTES,
    retain_available: bool | None = None,
) -> dict[str, Path]:
    """Write ``passwd``, ``passwd-platform``, ``acl`` and ``mosquitto.conf`` into ``out_dir`` (created;
    files mode 0600, LF line endings) and the persistence folder ``out_dir/data`` (mode 0700).

    Parameters
    ----------
    credentials : list of dict
        The active credentials (:meth:`AuthService.device_credentials`).
    out_dir : Path or str
        Where the files go.
    retain_available : bool, optional
        Whether Mosquitto accepts retained messages; default (``None``): exactly when ``credentials`` hold a
        ``member`` credential (see the Notes).
    root, port, host, run_as, platform_port, tls, message_size_limit_bytes
        As :func:`mosquitto_conf_text` and :func:`acl_for`.

    Returns
    -------
    dict
        ``file name -> path``.

    Notes
    -----
    Retained messages (issue #13 finding 10 refused them; issue #19 item 5 needs them). Home Assistant
    learns a member's sensors from *retained* discovery configs, and shows the last value at once only if
    the state is retained, so a platform with members on Home Assistant must accept them. Mosquitto's
    ``retain_available`` is one switch for the whole broker, but the ACL already confines who writes where,
    and a retained message can only be left on a topic its sender may write:

    - on the members' topics ``<root>/<community>/member/<id>/#`` only the platform's worker writes (a
      member reads only its own, :func:`client_grants`): the retained configs and states are the platform's;
    - a DU or gateway may leave at most one retained message on each of its own ``up`` and ``reply``
      topics (``message_size_limit`` each). Only the worker reads those; it gets such a message again when
      it subscribes, and a re-delivered uplink is stored once (the store is idempotent: a duplicate), so the
      worst case is a bounded amount of broker disk per device and a duplicate ``ack``;
    - nobody else receives anything the ACL denies, retained or not (the ACL is checked on delivery).

    So retain is on only where it is needed: with no member credential the configuration stays as issue
    #13 left it (``retain_available false``); the first ``member`` credential turns it on at the next
    ``condivisa mqtt-acl`` (then ``SIGHUP`` Mosquitto: ``retain_available`` is reloaded with the files).
    ``retain_available`` forces either choice.
    """
    if retain_available is None:
        retain_available = any(c.get("kind") == "member" for c in credentials)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(mode=0o700, exist_ok=True)
    platform = [c for c in credentials if c.get("kind") == "worker"]
    conf = mosquitto_conf_text(
        out,
        port=port,
        host=host,
        run_as=run_as,
        platform_port=platform_port,
        tls=tls,
        message_size_limit_bytes=message_size_limit_bytes,
        retain_available=retain_available,
    )
    files = {
        "passwd": password_file_text(credentials),
        "passwd-platform": password_file_text(platform),
        "acl": acl_text(acl_for(credentials, root=root)),
        "mosquitto.conf": conf,
    }
    paths = {}
    for name, text in files.items():
        path = out / name
        path.write_bytes(text.encode("utf-8"))
        path.chmod(0o600)
        paths[name] = path
    return paths


# ------------------------------------------------------------------ reading the files back (embedded broker)
def parse_password_file(text: str) -> dict[str, str]:
    users = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$7$"):
            raise ValueError(f"password file line {n}: expected 'username:$7$...', got {line[:40]!r}")
        users[user] = hashed
    return users


def parse_acl(text: str) -> dict[str, list[Grant]]:
    """Parse the subset of Mosquitto's ACL syntax that :func:`acl_text` writes (``user``, ``topic``)."""
    acl: dict[str, list[Grant]] = {}
    user = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=2)
        if parts[0] == "user" and len(parts) == 2:
            user = parts[1]
            acl.setdefault(user, [])
        elif parts[0] == "topic" and len(parts) == 3 and parts[1] in (READ, WRITE, "readwrite") and user:
            accesses = (READ, WRITE) if parts[1] == "readwrite" else (parts[1],)
            acl[user] += [Grant(a, parts[2]) for a in accesses]
        else:
            raise ValueError(f"acl file line {n}: unsupported {line[:60]!r}")
    return acl


def filter_within(sub: str, allowed: str) -> bool:
    """True when every topic matched by subscription filter ``sub`` is matched by ``allowed`` (MQTT 3.1.1
    §4.7 wildcards: ``+`` one level, ``#`` the rest)."""
    s, a = sub.split("/"), allowed.split("/")
    for i, level in enumerate(a):
        if level == "#":
            return True
        if i >= len(s) or s[i] == "#":
            return False
        if level != "+" and (s[i] == "+" or s[i] != level):
            return False
    return len(s) == len(a)


def is_allowed(
    acl: dict[str, list[Grant]], user: str | None, access: str, topic: str, *, subscribe: bool = False
) -> bool:
    """The ACL decision: ``write`` a topic, ``read`` (receive) a topic, or subscribe (``subscribe=True``,
    ``topic`` is then a filter that must lie within one read grant)."""
    if not user or not topic:
        return False
    for g in acl.get(user, ()):
        if g.access != access:
            continue
        if subscribe and filter_within(topic, g.topic):
            return True
        if not subscribe and topic_matches_sub(g.topic, topic):
            return True
    return False


class AmqttPasswordAuthPlugin(BaseAuthPlugin):
    """amqtt plugin: accept a client only with a username and password matching the Mosquitto ``passwd``
    file (``$7$`` PBKDF2-SHA512). Authenticated sessions are named (not anonymous), so persistent sessions
    keep their queued QoS 1 messages (see :mod:`condivisa.transports.mqtt.broker`).

    A client that is not a platform user (``platform_password_file``, by default ``passwd-platform`` next to
    ``password_file``) gets its username as client id, whatever it sent (Mosquitto's
    ``use_username_as_clientid``): the embedded broker authenticates the CONNECT before it looks up the
    session (:class:`condivisa.transports.mqtt.broker.EmbeddedBroker`), so a device reaches only its own."""

    @dataclass
    class Config:
        password_file: str = ""
        platform_password_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        path = Path(self.config.password_file)
        self._users = parse_password_file(path.read_text(encoding="utf-8"))
        platform = Path(self.config.platform_password_file or path.with_name("passwd-platform"))
        self._platform = (
            set(parse_password_file(platform.read_text(encoding="utf-8"))) if platform.exists() else set()
        )

    async def authenticate(self, *, session: Session) -> bool:
        user, password = getattr(session, "username", None), getattr(session, "password", None)
        hashed = self._users.get(user or "")
        if hashed is None or password is None:
            return False
        if isinstance(password, bytes):
            password = password.decode("utf-8", "replace")
        if not verify_mosquitto_hash(password, hashed):
            return False
        if user not in self._platform:
            session.client_id = user  # a device's session is named after it (use_username_as_clientid)
        session.is_anonymous = False
        return True


class AmqttAclPlugin(BaseTopicPlugin):
    """amqtt plugin enforcing the Mosquitto ``acl`` file on publish, subscribe and receive."""

    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._acl = parse_acl(Path(self.config.acl_file).read_text(encoding="utf-8"))

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        user = getattr(session, "username", None) if session is not None else None
        if action == Action.PUBLISH:
            return is_allowed(self._acl, user, WRITE, topic or "")
        if action == Action.SUBSCRIBE:
            return is_allowed(self._acl, user, READ, topic or "", subscribe=True)
        if action == Action.RECEIVE:
            return is_allowed(self._acl, user, READ, topic or "")
        return False


def embedded_broker_plugins(directory: Path | str) -> dict[str, dict]:
    """``plugins=`` for :class:`condivisa.transports.mqtt.broker.EmbeddedBroker` enforcing the files "
    "in ``directory``."""
    d = Path(directory).resolve()
    return {
        "condivisa.auth.mqtt_acl.AmqttPasswordAuthPlugin": {
            "password_file": str(d / "passwd"),
            "platform_password_file": str(d / "passwd-platform"),
        },
        "condivisa.auth.mqtt_acl.AmqttAclPlugin": {"acl_file": str(d / "acl")},
    }
