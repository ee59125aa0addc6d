"""The platform's signing secret (for the dashboard's anti-CSRF tokens).

Where it comes from, first match wins:

1. ``CONDIVISA_SECRET_KEY`` in the environment (at least 32 characters; e.g. ``python -c 'import secrets;
   print(secrets.token_hex(32))'``) — set it when several platforms must share one key;
2. else a random 256-bit key kept in the database (table ``auth_secrets``, created by ``condivisa db
upgrade``):
   made on first use, then the same for every process and restart on that database;
3. else (a database not upgraded yet) a random key of this process, with a warning: forms loaded before a
   restart are then refused once (403, "reload the page").
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from condivisa.store.auth_tables import AppSecret

if TYPE_CHECKING:
    from condivisa.auth.database import Database

SECRET_ENV = "CONDIVISA_SECRET_KEY"
MIN_SECRET_CHARS = 32
log = logging.getLogger(__name__)
_process_secrets: dict[str, bytes] = {}


class SecretError(ValueError):
    """``CONDIVISA_SECRET_KEY`` is set but too short."""


def app_secret(store: Database, name: str = "csrf") -> bytes:
    """The secret ``name`` of the platform on ``store`` (a ``Store``, an ``Engine`` or a URL), as bytes."""
    from condivisa.auth.database import engine_of
    from condivisa.auth.service import AuthService

    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        if len(env) < MIN_SECRET_CHARS:
            raise SecretError(f"{SECRET_ENV} must have at least {MIN_SECRET_CHARS} characters")
        return f"{name}:{env}".encode()
    engine = engine_of(store)
    try:
        with Session(engine) as s:
            value = s.scalar(sa.select(AppSecret.value).where(AppSecret.name == name))
        if value is None:
            try:
                with Session(engine) as s, s.begin():
                    s.add(
                        AppSecret(
                            name=name, value=secrets.token_hex(32), created_at=AuthService(engine).now()
                        )
                    )
            except IntegrityError:  # another process made it first: use theirs
                pass
            with Session(engine) as s:  # ours or theirs: it is there now
                value = s.execute(sa.select(AppSecret.value).where(AppSecret.name == name)).scalar_one()
        return bytes.fromhex(value)
    except DBAPIError as exc:  # no auth_secrets table (database not upgraded)
        log.warning(
            "no secret %r in the database (%s); using a random one for this process only: "
            "run `condivisa db upgrade` or set %s",
            name,
            type(exc).__name__,
            SECRET_ENV,
        )
        return _process_secrets.setdefault(name, secrets.token_bytes(32))
