"""The durable store: SQLAlchemy 2 tables (:mod:`.models`, :mod:`.auth_tables`), :class:`.store.Store`, the
set-based writer and the Alembic migrations in ``store/migrations``. See ``docs/data-store.md``."""
