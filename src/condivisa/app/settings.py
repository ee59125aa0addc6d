"""Settings of the running platform (``condivisa serve``, the MQTT worker, the REST app).

Sources, highest priority first (pydantic-settings):

1. keyword arguments (what a command-line option sets),
2. environment variables ``CONDIVISA_<FIELD>`` (e.g. ``CONDIVISA_DATABASE_URL``, ``CONDIVISA_MQTT_URL``),
3. an optional settings file, TOML or YAML, named by ``CONDIVISA_SETTINGS_FILE`` or passed to
   :func:`load_settings`; its keys are the field names below (``database_url = "..."``),
4. the defaults below, which run everything embedded: SQLite in ``./var``, an in-process MQTT broker.

Nested mappings (``gateway_users``) can be given in the environment as JSON:
``CONDIVISA_GATEWAY_USERS='{"scps": "secret"}'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from condivisa.store.communities import community_slug

#: env var naming the settings file
SETTINGS_FILE_ENV = "CONDIVISA_SETTINGS_FILE"


class SettingsError(ValueError):
    """A settings value or the settings file is invalid; the message names it."""


class Settings(BaseSettings):
    """Everything the platform process needs to know. Units are in the names (``_s`` seconds)."""

    model_config = SettingsConfigDict(env_prefix="CONDIVISA_", extra="forbid", validate_default=True)

    database_url: str = Field("sqlite:///./var/condivisa.db", description="SQLAlchemy URL of the store")
    mqtt_url: str = Field(
        "", description="external broker, e.g. mqtt://127.0.0.1:1883; empty = embedded broker"
    )
    mqtt_username: str | None = Field(
        None, description="username for the broker (also sent to the embedded one)"
    )
    mqtt_password: str | None = Field(None, description="password for the broker")
    mqtt_embedded_host: str = Field("127.0.0.1", description="address the embedded broker listens on")
    mqtt_embedded_port: int = Field(
        1884, ge=0, le=65535, description="port of the embedded broker (0 = any free)"
    )
    mqtt_embedded_acl_dir: Path | None = Field(
        None,
        description="folder with passwd + acl from `condivisa mqtt-acl`: the embedded broker enforces them",
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field("5", description="protocol towards an external broker")
    mqtt_client_id: str = Field(
        "condivisa-ingest", description="client id of the ingest worker (its session)"
    )
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=0, description="MQTT 5 session expiry of the worker")
    mqtt_topic_root: str = Field("condivisa", description="first level of every topic")
    mqtt_strict_devices: bool | None = Field(
        None,
        description="a DU may write only the POD it is registered to (else rejected, not just flagged); "
        "empty = on when the embedded broker enforces DU passwords (mqtt_embedded_acl_dir)",
    )
    mqtt_ingest_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="ingest worker processes sharing the uplink "
        "(MQTT shared subscription; external broker only)",
    )
    community: str = Field(
        "", description="community slug in topics; empty = from the community file, or 'default'"
    )
    http_host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    http_port: int = Field(8000, ge=0, le=65535, description="port of the HTTP API")
    community_file: Path | None = Field(
        None, description="community.yaml: DUs are registered from it at start"
    )
    prices_file: Path | None = Field(
        None, description="hourly zonal prices CSV (start,zonal_price_eur_per_mwh) for the dashboard"
    )
    case_summary_file: Path | None = Field(
        None, description="summary.json of `condivisa case run`, shown to the referente"
    )
    gateway_users: dict[str, str] = Field(
        default_factory=dict,
        description="SCPS gateway logins (username -> password) until condivisa.auth manages them",
    )
    gateway_token_ttl_s: int = Field(3600, ge=60, description="lifetime of an SCPS gateway token")
    api_auth_required: bool = Field(
        True,
        description="guard /api/v1 with condivisa.auth tokens; off only for trials and tests "
        "(`condivisa serve --insecure-no-auth`), never on a network",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the HTTP side answers to besides localhost, 127.0.0.1, ::1 and http_host "
        '(e.g. ["energia.example.org"]; "*.example.org" for a domain, "*" for any); others get 400',
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto are believed; "
        "empty = none: the client address is the peer's",
    )
    http_tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) for HTTPS on the HTTP side; with http_tls_key_file"
    )
    http_tls_key_file: Path | None = Field(None, description="PEM private key of http_tls_cert_file")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="largest accepted HTTP body (after gunzip)"
    )
    smtp_url: str = Field(
        "",
        description="mail server for advice and event e-mails, smtp://HOST[:PORT] (STARTTLS when offered "
        "with smtp_starttls) or smtps://HOST[:PORT]; empty = no e-mail",
    )
    smtp_username: str | None = Field(None, description="login on the mail server")
    smtp_password: str | None = Field(None, description="password on the mail server")
    smtp_from: str = Field("condivisa@localhost", description="sender address of condivisa's e-mails")
    smtp_starttls: bool = Field(False, description="upgrade smtp:// with STARTTLS (required, not optional)")
    ha_publish_interval_s: int = Field(
        300,
        ge=0,
        description="how often `serve` publishes the members' Home Assistant sensors (0 = never)",
    )

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
                raise ValueError(f"mqtt_url: {value!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError(f"smtp_url: {value!r} is not smtp://HOST[:PORT] or smtps://HOST[:PORT]")
        return value

    @field_validator("mqtt_topic_root", "community")
    @classmethod
    def _check_topic_level(cls, value: str) -> str:
        if any(c in value for c in "+#/") or any(c.isspace() for c in value):
            raise ValueError(
                f"{value!r} may not contain '/', '+', '#' or spaces (it is one MQTT topic level)"
            )
        return value

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.http_tls_cert_file is None) != (self.http_tls_key_file is None):
            raise ValueError("http_tls_cert_file and http_tls_key_file go together: give both or neither")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _SETTINGS_FILE_OVERRIDE or os.environ.get(SETTINGS_FILE_ENV)
        if path:
            sources.append(_file_source(settings_cls, Path(path)))
        return tuple(sources)

    # -- derived values -------------------------------------------------------------------------------
    @property
    def embedded_broker(self) -> bool:
        """True when no external broker is configured: ``condivisa serve`` starts one in-process."""
        return not self.mqtt_url

    def broker_address(self) -> tuple[str, int, bool]:
        """(host, port, tls) of the broker the worker connects to."""
        if self.embedded_broker:
            return self.mqtt_embedded_host, self.mqtt_embedded_port, False
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls

    def http_allowed_hosts(self) -> tuple[str, ...]:
        """The ``Host`` names the HTTP side answers to: loopback, ``http_host`` and ``allowed_hosts``
        (:func:`~condivisa.transports.http.headers.allowed_host_names`)."""
        from condivisa.transports.http.headers import allowed_host_names

        return allowed_host_names(self.http_host, self.allowed_hosts)

    @property
    def http_tls(self) -> bool:
        """True when the HTTP side serves HTTPS itself (``http_tls_cert_file`` and ``http_tls_key_file``)."""
        return self.http_tls_cert_file is not None

    def strict_devices(self) -> bool:
        """Whether a DU may write only its registered POD over MQTT: ``mqtt_strict_devices`` if set, else on
        exactly when DUs must log in (the embedded broker enforces ``mqtt_embedded_acl_dir``)."""
        if self.mqtt_strict_devices is not None:
            return self.mqtt_strict_devices
        return self.embedded_broker and self.mqtt_embedded_acl_dir is not None

    def community_slug(self) -> str:
        """The community level of the topics: ``community`` if set, else the community file's name, else 'default'."""
        if self.community:
            return self.community
        if self.community_file is not None:
            try:
                import yaml

                raw = yaml.safe_load(Path(self.community_file).read_text(encoding="utf-8")) or {}
                name = str(raw.get("name", "")) if isinstance(raw, dict) else ""
            except (OSError, ValueError):
                name = ""
            if name.strip():
                return community_slug(name)
        return "default"


_SETTINGS_FILE_OVERRIDE: str | None = None


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise SettingsError(f"settings file {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    raise SettingsError(f"settings file {path}: expected a .toml, .yaml or .yml file")


def load_settings(settings_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``overrides`` > environment > ``settings_file`` > defaults.

    ``None`` overrides are ignored, so command-line options that were not given leave the other sources in
    charge.
    Raises :class:`SettingsError` naming the field and value on invalid input.
    """
    from pydantic import ValidationError

    global _SETTINGS_FILE_OVERRIDE
    given = {k: v for k, v in overrides.items() if v is not None}
    _SETTINGS_FILE_OVERRIDE = str(settings_file) if settings_file else None
    try:
        return Settings(**given)
    except ValidationError as exc:
        where = (
            f" (settings file {settings_file or os.environ.get(SETTINGS_FILE_ENV)})"
            if (settings_file or os.environ.get(SETTINGS_FILE_ENV))
            else ""
        )
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings{where}: {msgs}") from None
    finally:
        _SETTINGS_FILE_OVERRIDE = None
