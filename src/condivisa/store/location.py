"""Which database a command uses: one resolution for every ``condivisa`` command and for ``serve``.

Rules implemented:
- the database is the ``--database`` URL when given, else ``$CONDIVISA_DATABASE_URL``, else
  :data:`~condivisa.store.store.DEFAULT_URL` (``sqlite:///./var/condivisa.db``), the same for ``db``,
  ``users``, ``tokens``, ``mqtt-acl``, ``privacy`` and ``serve`` (whose settings default to the same URL), so
  the users and device credentials a referente creates are the ones ``serve`` reads;
- ``postgresql://`` is read as psycopg 3 (:func:`~condivisa.store.store.database_url`);
- the folder of a SQLite file is created when missing (``./var`` on a fresh checkout);
- :func:`describe_database` says where the data are in plain words (absolute path of a SQLite file, the
  server and database of PostgreSQL without the password), for the line ``serve`` prints at start.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from condivisa.store.store import database_url


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (relative to the current folder when the URL is), None for other URLs and
    for in-memory SQLite."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def resolve_database_url(url: str | None = None, *, create_folder: bool = True) -> str:
    """The database URL every command uses (see the module docstring); with ``create_folder`` the folder of
    a SQLite file is created when missing."""
    resolved = database_url(url)
    path = sqlite_file(resolved)
    if create_folder and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return resolved


def describe_database(url: str) -> str:
    """``SQLite file /abs/path/condivisa.db`` or ``postgresql+psycopg://user:***@host/db``."""
    path = sqlite_file(url)
    if path is not None:
        return f"SQLite file {path.resolve()}"
    return sa.engine.make_url(url).render_as_string(hide_password=True)
