"""``condivisa serve``: the platform in one process — HTTP API (uvicorn) + MQTT ingest worker + embedded
broker.

Shutdown (Ctrl-C / SIGINT / SIGTERM): uvicorn stops taking requests and finishes the running ones; then the
MQTT worker stops taking messages, stores and acknowledges those already received (``--drain`` seconds at
most; any left are not acknowledged and the broker resends them at the next start), and the embedded broker
stops last. The members' Home Assistant publishing (:mod:`condivisa.app.ha_runtime`, every
``ha_publish_interval_s``) runs beside the worker and stops first.

The HTTP side is closed by default: ``/api/v1`` wants a token (``--insecure-no-auth`` opens it, for trials
on this machine only), it answers only to the ``Host`` names of ``allowed_hosts`` (plus loopback and
``--host``), and speaks HTTPS itself with ``--tls-cert``/``--tls-key`` (or sits behind a reverse proxy listed
in ``trusted_proxies``, whose ``X-Forwarded-For``/``-Proto`` are then believed; nobody else's are).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from condivisa.app.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:  # the runtime loads FastAPI, uvicorn, paho and SQLAlchemy: imported when `serve` runs
    from condivisa.app.ha_runtime import HaRuntime
    from condivisa.app.worker_pool import WorkerProcesses
    from condivisa.store.store import Store
    from condivisa.transports.mqtt.broker import EmbeddedBroker
    from condivisa.transports.mqtt.worker import IngestWorker

console = Console(stderr=True, soft_wrap=True)


def _settings(**kw: Any) -> Settings:
    try:
        return load_settings(kw.pop("settings_file"), **kw)
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def serve(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="community.yaml; its DUs and PODs are registered")
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option("--settings", help="settings file (TOML or YAML); env CONDIVISA_* override it"),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="SQLAlchemy URL (default: env, else sqlite:///./var/condivisa.db)"),
    ] = None,
    mqtt_url: Annotated[
        str | None,
        typer.Option("--mqtt-url", help="external broker mqtt://HOST:PORT; default: start the embedded one"),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="HTTP address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="HTTP port (default 8000)")] = None,
    community: Annotated[
        str | None,
        typer.Option(
            "--community", help="serve only this community's MQTT topics (default: every community's)"
        ),
    ] = None,
    api: Annotated[bool, typer.Option("--api/--no-api", help="serve the HTTP API")] = True,
    mqtt: Annotated[
        bool, typer.Option("--mqtt/--no-mqtt", help="run the MQTT ingest worker (and the embedded broker)")
    ] = True,
    drain_s: Annotated[
        float, typer.Option("--drain", help="seconds to finish in-flight MQTT messages at shutdown")
    ] = 10.0,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")] = "info",
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="serve /api/v1 without authentication: anyone who reaches the port reads every POD and "
            "writes readings (trials on 127.0.0.1 and tests only)",
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS (with --tls-key)")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert")] = None,
) -> None:
    """Run the platform: API + MQTT ingest (+ embedded MQTT broker unless a broker URL is set)."""
    from condivisa.app.http_app import create_app, open_store
    from condivisa.auth.rules_audit import record_rules
    from condivisa.domain.config import ConfigError, load_community

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("amqtt", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    settings = _settings(
        settings_file=settings_file,
        community_file=config,
        database_url=database,
        mqtt_url=mqtt_url,
        http_host=host,
        http_port=port,
        community=community,
        api_auth_required=False if insecure_no_auth else None,
        http_tls_cert_file=tls_cert,
        http_tls_key_file=tls_key,
    )
    _check_http(settings, api)
    try:
        community_obj = load_community(settings.community_file) if settings.community_file else None
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    store = open_store(settings)
    if community_obj is not None:
        counts = store.register_devices(community_obj)
        console.print(
            f"community [bold]{community_obj.name}[/]: {counts['pods']} PODs, {counts['devices']} DUs registered"
        )
        # audit: "rules_changed" when community.yaml's rules changed
        rules = record_rules(
            store, community_obj, actor="condivisa serve", source=str(settings.community_file)
        )
        if rules.status == "changed":
            console.print(f"[yellow]allocation rules changed[/] since they were last recorded: {rules.diff}")
        _store_community(store, settings)
    from condivisa.store.communities import list_communities

    served = [r.slug for r in list_communities(store.engine)]
    if served:
        console.print(
            f"communities served: {len(served)} ({', '.join(served[:10])}{' …' if len(served) > 10 else ''})"
        )
    from condivisa.store.location import describe_database

    console.print(f"database: {describe_database(store.url)}  (users, tokens, devices and readings)")

    broker = worker = extra = ha = None
    try:
        if mqtt:
            broker, worker, extra = _start_mqtt(settings, store)
            ha = _start_ha(settings, store, broker)
        if api:
            _run_http(
                create_app(settings, store=store, community=community_obj, mqtt_worker=worker),
                settings,
                log_level,
            )
        else:
            _wait_for_signal()
    finally:
        if ha is not None:
            ha.stop()
        if worker is not None:
            console.print(f"stopping MQTT worker (draining up to {drain_s:g} s) …")
            worker.stop(drain_timeout_s=drain_s)
            console.print(f"MQTT worker: {worker.stats.as_dict()}")
        if extra is not None:
            extra.stop()
            console.print(f"other MQTT workers: {extra.stats()}")
        if broker is not None:
            broker.stop()
        store.close()
        console.print("stopped.")


def _start_mqtt(settings: Settings, store: Store) -> tuple[EmbeddedBroker | None, IngestWorker, Any]:
    """Start the embedded broker (unless an external one is set), the ingest worker(s), then drain the sessions
    of workers this run no longer uses; "MQTT worker connected" (what scripts wait for) is printed last."""
    if settings.mqtt_ingest_workers > 1 and settings.embedded_broker:  # refused before anything is started
        console.print(
            "[red]error:[/] the embedded broker (amqtt) has no shared subscriptions: use one ingest worker, "
            "or an external broker (CONDIVISA_MQTT_URL)"
        )
        raise typer.Exit(2)
    broker = _start_embedded_broker(settings) if settings.embedded_broker else None
    if broker is not None:
        settings = settings.model_copy(update={"mqtt_embedded_port": broker.port})
    worker, extra = _start_workers(settings, store)
    if not (worker.wait_connected(10) and (extra is None or extra.wait_connected(30))):
        console.print(
            f"[yellow]MQTT broker {worker.host}:{worker.port} not reachable yet; retrying in the background[/]"
        )
        return broker, worker, extra
    if broker is None:
        # only now that this run's workers are subscribed, so that no message meanwhile finds the uplink
        # without a subscriber (the broker would drop it)
        _drain_orphans(settings, store)
    console.print(
        f"MQTT worker connected to {worker.host}:{worker.port} "
        f"(MQTT {'5' if worker.mqtt5 else '3.1.1'}), subscribed to {', '.join(worker.filters())}"
        + (f"; {settings.mqtt_ingest_workers} worker processes" if extra is not None else "")
    )
    if settings.strict_devices():
        console.print(
            "strict device scope: a DU may write only the POD it is registered to, on its community's topics"
        )
    return broker, worker, extra


def _start_ha(settings: Settings, store: Store, broker: EmbeddedBroker | None) -> HaRuntime | None:
    """The members' Home Assistant publishing (:mod:`condivisa.app.ha_runtime`), unless its interval is 0."""
    if settings.ha_publish_interval_s <= 0:
        return None
    from condivisa.app.ha_runtime import ha_runtime_from_settings

    if broker is not None:
        settings = settings.model_copy(update={"mqtt_embedded_port": broker.port})
    console.print(
        f"Home Assistant: members' sensors published every {settings.ha_publish_interval_s} s "
        "(members with a `devices add-member` credential)"
    )
    return ha_runtime_from_settings(settings, store).start()


def _start_embedded_broker(settings: Settings) -> EmbeddedBroker:
    """The in-process amqtt broker, enforcing ``condivisa mqtt-acl``'s files when they are configured."""
    from condivisa.auth.mqtt_acl import embedded_broker_plugins
    from condivisa.transports.mqtt.broker import EmbeddedBroker

    plugins = None
    if settings.mqtt_embedded_acl_dir is not None:
        plugins = embedded_broker_plugins(settings.mqtt_embedded_acl_dir)
        console.print(f"embedded broker: passwords and ACL from {settings.mqtt_embedded_acl_dir}")
    try:
        broker = EmbeddedBroker(
            settings.mqtt_embedded_host,
            settings.mqtt_embedded_port,
            plugins=plugins,
            session_expiry_s=settings.mqtt_session_expiry_s,
        ).start()
    except RuntimeError as exc:
        console.print(f"[red]error:[/] {exc} (set CONDIVISA_MQTT_EMBEDDED_PORT or CONDIVISA_MQTT_URL)")
        raise typer.Exit(1) from None
    console.print(f"embedded MQTT broker (amqtt, MQTT 3.1.1): [bold]{broker.url}[/]")
    console.print(
        "[bold red]WARNING: the embedded MQTT broker is for trials only.[/] It keeps messages in memory and "
        "acknowledges them before they are stored: if this process is killed, what devices were told was "
        "received is lost (89 of 373 in bench/embedded_broker_kill.py). With real devices use Mosquitto and "
        "the configuration of `condivisa mqtt-acl` (docs/mqtt.md)."
        + (
            f" Devices log in here ({settings.mqtt_embedded_acl_dir}): that is a real deployment."
            if settings.mqtt_embedded_acl_dir is not None
            else ""
        )
    )
    return broker


def _start_workers(settings: Settings, store: Store) -> tuple[IngestWorker, WorkerProcesses | None]:
    """This process's ingest worker and, for N > 1 workers, N - 1 worker processes on a shared subscription."""
    from condivisa.app.runtime import worker_from_settings
    from condivisa.app.worker_pool import SHARED_GROUP, WorkerProcesses

    if settings.mqtt_ingest_workers <= 1:
        return worker_from_settings(settings, store).start(), None
    try:
        extra = WorkerProcesses(settings, settings.mqtt_ingest_workers - 1, first_index=1).start()
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    client_id = f"{settings.mqtt_client_id}-0"
    return worker_from_settings(
        settings, store, client_id=client_id, shared_group=SHARED_GROUP
    ).start(), extra


def _drain_orphans(settings: Settings, store: Store) -> None:
    """Store what the sessions of workers this run no longer uses (fewer workers, another client id) hold, and
    delete them (:func:`~condivisa.app.worker_pool.drain_orphan_sessions`)."""
    from condivisa.app.worker_pool import drain_orphan_sessions, orphan_candidates

    n, cid = settings.mqtt_ingest_workers, settings.mqtt_client_id
    keep = [f"{cid}-{k}" for k in range(n)] if n > 1 else [cid]
    report = drain_orphan_sessions(settings, store, keep_ids=keep)
    for client_id, drained in report.items():
        console.print(
            f"orphaned MQTT session [bold]{client_id}[/]: {drained} message(s) stored, session deleted"
        )
    for client_id, reason in report.failed.items():
        if reason != "not reachable":
            console.print(f"[yellow]orphaned MQTT session {client_id} left at the broker: {reason}[/]")
    if "not reachable" in report.failed.values():
        console.print("[yellow]MQTT broker not reachable: some orphaned worker sessions not looked at[/]")
    looked = len(set(orphan_candidates(cid)) - set(keep))
    console.print(
        f"orphaned worker sessions: {len(report)} drained ({sum(report.values())} messages), "
        f"{looked} session names looked at in {report.seconds:.2f} s"
    )


def _store_community(store, settings) -> None:
    """The community file of ``--config`` is the version served: stored in the platform's communities (a new
    version when it changed since the last start); a POD another community holds stops the start."""
    from condivisa.auth.communities import ensure_community
    from condivisa.store.communities import CommunityStoreError

    try:
        change = ensure_community(
            store, settings.community_file, actor="condivisa serve", slug=settings.community_slug()
        )
    except CommunityStoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if change.changed:
        console.print(f"community file stored as version {change.record.version} of {change.record.slug}")


def _check_http(settings: Settings, api: bool) -> None:
    """Refuse TLS files that are not there; say loudly when the API is open and which names it answers to."""
    if not api:
        return
    for path in (settings.http_tls_cert_file, settings.http_tls_key_file):
        if path is not None and not Path(path).is_file():
            console.print(f"[red]error:[/] TLS file {path}: no such file")
            raise typer.Exit(2)
    if not settings.api_auth_required:
        console.print(
            "[bold red]WARNING: /api/v1 without authentication[/] (--insecure-no-auth or "
            "api_auth_required=false): whoever reaches this port reads every POD and writes readings. "
            "For trials on this machine only."
        )
    console.print(f"HTTP answers to the Host names: {', '.join(settings.http_allowed_hosts())}")
    if settings.http_host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        console.print(
            "[yellow]listening on every interface, but only loopback names are allowed: set allowed_hosts "
            "(e.g. CONDIVISA_ALLOWED_HOSTS='[\"energia.example.org\"]') to the name clients use[/]"
        )
    if not settings.http_tls and settings.http_host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            "[yellow]plain HTTP on a network address: passwords and tokens travel in clear; use --tls-cert/"
            "--tls-key or a reverse proxy with HTTPS (docs/serve.md)[/]"
        )


def uvicorn_config(app: Any, settings: Settings, log_level: str = "info") -> Any:
    """uvicorn's configuration for the platform's app: ``settings``' address, HTTPS when its TLS files are
    set, and uvicorn's own proxy headers off (the app believes forwarded headers only from
    ``trusted_proxies``: :func:`condivisa.app.http_app.install_front_door`)."""
    import uvicorn

    tls: dict[str, Any] = {}
    if settings.http_tls:
        tls = {
            "ssl_certfile": str(settings.http_tls_cert_file),
            "ssl_keyfile": str(settings.http_tls_key_file),
        }
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        server_header=False,
        **tls,
    )


def _run_http(app: Any, settings: Settings, log_level: str) -> None:
    import uvicorn

    config = uvicorn_config(app, settings, log_level)
    scheme = "https" if settings.http_tls else "http"
    console.print(
        f"HTTP API on [bold]{scheme}://{settings.http_host}:{settings.http_port}[/] (docs: /docs) — Ctrl-C to stop"
    )
    # uvicorn handles SIGINT/SIGTERM (stops accepting, finishes running requests) and then re-raises the
    # signal to the previous handler; a no-op one lets us drain the MQTT worker instead of dying there.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config).run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_for_signal() -> None:
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    console.print("running without HTTP API — Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
