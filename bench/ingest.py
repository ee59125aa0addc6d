"""Benchmark of the data path: MQTT and REST ingestion against the raw transport rate.

    python bench/ingest.py [--n 100000] [--dus 1000] [--group 1] [--rest-group 100]
                           [--broker auto|embedded|mosquitto|URL] [--communities 1]
                           [--targets sqlite,postgres,rest] [--workers 1,2] [--rest-clients 1,8]

Builds ``n`` quarter-hour measurements of ``dus`` simulated DUs (``n / dus`` quarter hours each; the
simulator's household/PV profiles): over MQTT each DU publishes its own message on its topic
``.../du/<id>/up`` (``--group 1``; more packs that many DUs per message on a gateway topic ``.../gw/<id>/up``),
over REST a platform pushes ``--rest-group`` DUs per request; and measures in the same run, in measurements
per second:

The publisher stays at most 200 messages ahead of what the workers acknowledged (Mosquitto's default
per-client queue is 1000 messages; beyond it QoS 1 messages are dropped — see docs/mqtt.md; with a 500-message
window a slow single worker still saw Mosquitto 2.0.11 log "Outgoing messages are being dropped" once, and the
benchmark counted those messages as lost).

- ``raw MQTT``: the same payloads published with QoS 1 to a subscriber (QoS 1) that only counts them;
- ``MQTT -> SQLite xN`` / ``MQTT -> PostgreSQL xN``: the same payloads through N ingest worker processes
  (:class:`condivisa.app.worker_pool.WorkerProcesses`, as ``condivisa serve`` runs them: parse, validate,
  group commit, acknowledge after commit; N > 1 share the uplink by an MQTT shared subscription), timed from
  the first publish to the last acknowledgement;
- ``raw HTTP``: the REST payloads gzipped and POSTed over ``--rest-clients`` connections at once (each
  sending one request after the other, as a platform's uploader threads do) to a uvicorn server in its own
  process that only reads the body; ``REST -> SQLite/PostgreSQL cN``: the same, with the same connections, to
  ``POST /api/v1/urbandatasets`` of the platform's app in its own process (as ``condivisa serve`` runs it:
  parse and validate, group commit across concurrent requests, answer after the commit).

Batched payloads (REST's 100 DUs a request, MQTT's ``--group 100``) stay far below 0.5: the raw transport's
cost per measurement shrinks with the batch, the platform's (parse, validate, cross-check, store durably:
~0.1 ms of CPU per measurement on this machine) does not — see docs/serve.md, "Speed".

``--communities K`` (K > 1; issue #18: one platform serving many communities): the DUs are spread over K
communities (``cer-00`` … round robin, each DU registered in its own: ``devices.community``), and each DU
publishes on its own community's topic ``<root>/<community>/du/<id>/up`` (``--group 1`` only). The raw
subscriber then subscribes to ``<root>/+/du/+/up`` (every community, as the worker does), and the ingest
workers serve every community at once (the default layout of :func:`condivisa.app.runtime.topic_layout`,
no ``community`` setting), e.g. 10 communities, 10,000 DUs, 10 quarter hours each, 2 worker processes into
PostgreSQL::

    python bench/ingest.py --communities 10 --dus 10000 --n 100000 --workers 2 --targets postgres

For each ingest it prints the rate, the **ratio to the raw rate (goal >= 0.5)**, and sent / stored / lost
measurements (goal: lost = 0). Every scenario uses a fresh database. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import shutil
import socket
import tempfile
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from fastapi import FastAPI, Request

from condivisa.domain.config import community_from_dict
from condivisa.sim import devices as sim
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import EmbeddedBroker, free_port
from condivisa.transports.mqtt.topics import TopicLayout

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def build(n: int, dus: int, group: int, seed: int = 7):
    devices = sim.synthetic_devices(dus, seed=seed)
    quarters = max(1, n // dus)
    fleet = sim.build_fleet(
        devices,
        dt.date(2025, 6, 1),
        quarters // 96 + 1,
        seed=seed,
        until=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    msgs = [m for q in range(quarters) for m in sim.messages(fleet, q, group=group)]
    return devices, msgs


def mqtt_client(host: str, port: int, name: str) -> mqtt.Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311
    )
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    return c


#: messages the publisher may be ahead of the receiver: Mosquitto drops QoS 1 messages beyond
#: ``max_queued_messages`` (1000 by default) queued for one client, so the benchmark keeps well below it
WINDOW = 200


class Topics:
    """Where each message goes: one community (``communities`` None), or every DU on its own community's
    topic (``communities``: DU id -> community slug) under a root of this run's own."""

    def __init__(self, name: str, communities: dict[str, str] | None = None):
        self.communities = communities
        if communities is None:
            self.layout, self.community = TopicLayout(name), name
        else:
            self.layout, self.community = TopicLayout.every_community(name), None

    def up(self, m) -> str:
        if self.communities is None:
            return self.layout.up(m.sender_id, m.kind)
        return self.layout.up(m.sender_id, m.kind, self.communities[m.sender_id])


def spread(devices, k: int) -> dict[str, str] | None:
    """DU id -> its community (``cer-00`` …, round robin) when ``k`` > 1, else None (one community)."""
    if k <= 1:
        return None
    return {d.du_id: f"cer-{i % k:02d}" for i, d in enumerate(devices)}


def publish_all(host: str, port: int, topics: Topics, msgs, consumed) -> mqtt.Client:
    """Publish every message with QoS 1, staying at most :data:`WINDOW` messages ahead of ``consumed()``."""
    pub = mqtt_client(host, port, "bench-pub")
    for i, m in enumerate(msgs):
        while i - consumed() >= WINDOW:
            time.sleep(0.001)
        pub.publish(topics.up(m), m.payload, qos=1)
    return pub


def raw_mqtt(host: str, port: int, msgs, communities: dict[str, str] | None = None) -> float:
    """Measurements/s to a subscriber that only counts (every community's uplink with ``communities``)."""
    topics = Topics(f"raw-{uuid.uuid4().hex[:6]}", communities)
    layout = topics.layout
    got, done, ready = [0], threading.Event(), threading.Event()
    sub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv311,
    )

    def on_message(c, u, m):
        got[0] += 1
        if got[0] == len(msgs):
            done.set()

    sub.on_connect = lambda c, *a: c.subscribe([(f, 1) for f in layout.uplink_filters()])
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = on_message
    sub.connect(host, port)
    sub.loop_start()
    ready.wait(10)
    t0 = time.perf_counter()
    pub = publish_all(host, port, topics, msgs, lambda: got[0])
    done.wait(600)
    elapsed = time.perf_counter() - t0
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return sum(m.readings for m in msgs[: got[0]]) / elapsed


def fresh_store(kind: str, devices, communities: dict[str, str] | None = None):
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-")
        url = f"sqlite:///{folder}/ingest.db"

        def cleanup():
            shutil.rmtree(folder, ignore_errors=True)
    else:
        import sqlalchemy as sa

        name = f"condivisa_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

        def cleanup():
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    store = Store(url)
    store.upgrade()
    store.register_devices(community_from_dict(sim.example_community_yaml(devices)))
    if communities:  # each DU registered in its own community
        import sqlalchemy as sa

        from condivisa.store.models import Device

        t = Device.__table__
        with store.engine.begin() as conn:
            for slug in sorted(set(communities.values())):
                dus = [du for du, c in communities.items() if c == slug]
                conn.execute(sa.update(t).where(t.c.du_id.in_(dus)).values(community=slug))
        store.registry.clear()
    return store, cleanup


def mqtt_ingest(
    host: str, port: int, mqtt5: bool, store, msgs, workers: int, communities: dict[str, str] | None = None
) -> tuple[float, int]:
    """The same payloads through ``workers`` ingest worker processes (as ``condivisa serve`` runs them; several
    share the uplink by an MQTT shared subscription), timed from the first publish to the last acknowledgement.
    With ``communities`` the workers serve every community (no ``community`` setting)."""
    from condivisa.app.settings import Settings
    from condivisa.app.worker_pool import WorkerProcesses

    topics = Topics(f"bench-{uuid.uuid4().hex[:6]}", communities)
    settings = Settings(
        database_url=store.url,
        mqtt_url=f"mqtt://{host}:{port}",
        community=topics.community or "",
        mqtt_topic_root=topics.layout.root,
        mqtt_protocol="5" if mqtt5 else "3.1.1",
        mqtt_client_id=f"bench-w-{uuid.uuid4().hex[:6]}",
        mqtt_session_expiry_s=300,
    )
    pool = WorkerProcesses(
        settings, workers, shared_group="bench" if workers > 1 else None, drain_timeout_s=5
    ).start()
    try:
        if not pool.wait_connected(60):
            raise SystemExit("ingest workers did not connect")
        t0 = time.perf_counter()
        pub = publish_all(host, port, topics, msgs, lambda: pool.stats()["acked"])
        last, since = -1, time.monotonic()
        while pool.stats()["acked"] < len(msgs) and time.monotonic() - since < 60:
            if pool.stats()["acked"] != last:
                last, since = pool.stats()["acked"], time.monotonic()
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        pub.disconnect()
        pub.loop_stop()
    finally:
        pool.stop()
    stored = pool.stats()["stored"]
    return stored / elapsed, stored


def _serve(target: str, database_url: str | None, port: int) -> None:
    """Child process: a uvicorn server, as ``condivisa serve`` runs the API — ``sink`` only reads bodies,
    ``api`` is the platform's app on ``database_url``."""
    import uvicorn

    if target == "sink":
        app = FastAPI()

        @app.post("/sink")
        async def sink(request: Request) -> dict:
            return {"bytes": len(await request.body())}
    else:
        from condivisa.app.http_app import create_app
        from condivisa.app.settings import Settings

        # the push path's speed, not authentication's (on by default since #13)
        app = create_app(Settings(database_url=database_url, api_auth_required=False))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_in_process(target: str, database_url: str | None = None):
    """Start :func:`_serve` in a child process; ``(process, base_url)`` once it answers."""
    import multiprocessing

    import httpx

    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(target, database_url, port), daemon=True
    )
    proc.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the {target} server did not start")


def post_all(url: str, msgs, clients: int) -> tuple[float, int]:
    """POST every message gzipped, over ``clients`` connections at once (each sends its share one request at
    a time, waiting for the answer, as a platform's uploader threads do); ``(seconds, answers < 300)``."""
    import httpx

    bodies = [gzip.compress(m.payload, compresslevel=5) for m in msgs]
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    ok = [0] * clients

    def send(k: int) -> None:
        with httpx.Client(timeout=120) as client:
            for body in bodies[k::clients]:
                ok[k] += client.post(url, content=body, headers=headers).status_code < 300

    threads = [threading.Thread(target=send, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sum(ok)


def raw_http(msgs, clients: int) -> float:
    """Measurements/s to a server (own process) that only reads the body."""
    proc, base = serve_in_process("sink")
    try:
        elapsed, _ = post_all(base + "/sink", msgs, clients)
    finally:
        proc.terminate()
        proc.join(10)
    return sum(m.readings for m in msgs) / elapsed


def rest_ingest(store, msgs, clients: int) -> tuple[float, int]:
    """The same to ``POST /api/v1/urbandatasets`` of the platform's app (own process), timed to the last answer
    (each answer comes after the commit)."""
    proc, base = serve_in_process("api", store.url)
    try:
        elapsed, _ = post_all(base + "/api/v1/urbandatasets", msgs, clients)
    finally:
        proc.terminate()
        proc.join(10)
    stored = store.counts()["measurements"]
    return stored / elapsed, stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="measurements (quarter hours x DUs)")
    ap.add_argument("--dus", type=int, default=1000)
    ap.add_argument(
        "--group",
        type=int,
        default=1,
        help="DUs per MQTT message (1: each DU publishes its own, on its du topic)",
    )
    ap.add_argument(
        "--rest-group", type=int, default=100, help="DUs per REST request (a platform pushing in batches)"
    )
    ap.add_argument(
        "--broker",
        default="auto",
        help="auto (Mosquitto if up, else embedded), embedded, mosquitto or mqtt://HOST:PORT",
    )
    ap.add_argument(
        "--communities",
        type=int,
        default=1,
        help="communities the DUs are spread over, each DU on its own community's topic (needs --group 1)",
    )
    ap.add_argument("--targets", default="sqlite,postgres,rest")
    ap.add_argument(
        "--workers", default="1,2", help="numbers of ingest worker processes to try (comma-separated)"
    )
    ap.add_argument(
        "--rest-clients",
        default="1,8",
        help="numbers of concurrent REST connections to try (comma-separated)",
    )
    args = ap.parse_args()
    workers = [int(x) for x in args.workers.split(",") if x.strip()]
    rest_clients = [int(x) for x in args.rest_clients.split(",") if x.strip()]

    if args.communities > 1 and args.group != 1:
        raise SystemExit("--communities needs --group 1: each DU publishes on its own community's topic")
    t = time.perf_counter()
    devices, msgs = build(args.n, args.dus, args.group)
    communities = spread(devices, args.communities)
    rest_msgs = msgs if args.rest_group == args.group else build(args.n, args.dus, args.rest_group)[1]
    sent = sum(m.readings for m in msgs)
    print(
        f"{sent} measurements from {args.dus} DUs; MQTT: {len(msgs)} messages of {args.group} DU(s), "
        f"REST: {len(rest_msgs)} requests of {args.rest_group} DUs "
        f"(built in {time.perf_counter() - t:.1f} s)"
    )
    if communities is not None:
        sizes = sorted(collections.Counter(communities.values()).values())
        print(
            f"{args.communities} communities of {sizes[0]}-{sizes[-1]} DUs, each DU on its own community's "
            "topic; one subscription <root>/+/du/+/up"
        )

    embedded = None
    if args.broker == "auto":
        args.broker = "mosquitto" if reachable("127.0.0.1", 1883) else "embedded"
    if args.broker == "embedded":
        embedded = EmbeddedBroker(port=0).start()
        host, port, mqtt5, label = embedded.host, embedded.port, False, "embedded amqtt (MQTT 3.1.1)"
    elif args.broker == "mosquitto":
        host, port, mqtt5, label = "127.0.0.1", 1883, True, "Mosquitto (MQTT 5)"
    else:
        from urllib.parse import urlsplit

        u = urlsplit(args.broker)
        host, port, mqtt5, label = u.hostname, u.port or 1883, True, args.broker
    targets = [x.strip() for x in args.targets.split(",") if x.strip()]
    rows = []
    try:
        if any(x in targets for x in ("sqlite", "postgres")):
            raw = raw_mqtt(host, port, msgs, communities)
            print(f"raw MQTT via {label}: {raw:,.0f} measurements/s")
            for kind in ("sqlite", "postgres"):
                if kind not in targets:
                    continue
                if kind == "postgres" and not reachable("127.0.0.1", 5432):
                    print("PostgreSQL not reachable: skipped")
                    continue
                for n in workers:
                    if n > 1 and embedded is not None:
                        print("the embedded broker has no shared subscriptions: several workers skipped")
                        continue
                    store, cleanup = fresh_store(kind, devices, communities)
                    try:
                        rate, stored = mqtt_ingest(host, port, mqtt5, store, msgs, n, communities)
                        rows.append((f"MQTT -> {kind} x{n}", rate, raw, stored))
                    finally:
                        store.close()
                        cleanup()
        if "rest" in targets:
            for clients in rest_clients:
                raw = raw_http(rest_msgs, clients)
                print(
                    f"raw HTTP (gzip POST, body read only, {clients} connection(s)): {raw:,.0f} measurements/s"
                )
                for kind in ("sqlite", "postgres"):
                    if kind == "postgres" and not reachable("127.0.0.1", 5432):
                        continue
                    store, cleanup = fresh_store(kind, devices)
                    try:
                        rate, stored = rest_ingest(store, rest_msgs, clients)
                        rows.append((f"REST -> {kind} c{clients}", rate, raw, stored))
                    finally:
                        store.close()
                        cleanup()
    finally:
        if embedded is not None:
            embedded.stop()
    print(
        f"\n{'path':<22}{'ingest/s':>12}{'raw/s':>12}{'ratio':>8}  (goal >= 0.5){'sent':>9}{'stored':>9}{'lost':>7}"
    )
    for name, rate, raw, stored in rows:
        print(
            f"{name:<22}{rate:>12,.0f}{raw:>12,.0f}{rate / raw if raw else float('nan'):>8.3f}{'':14}"
            f"{sent:>9}{stored:>9}{sent - stored:>7}"
        )
    print("raw/s: the raw broker rate for MQTT rows, the raw HTTP rate (same connections) for REST rows")


if __name__ == "__main__":
    main()
