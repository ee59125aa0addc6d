"""Alembic migrations of condivisa's store (run by ``condivisa.store.store.Store.upgrade()``)."""
