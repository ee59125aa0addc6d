"""Alembic migrations of condivisa's store (run by ``condivisa.edges.store.Store.upgrade()``)."""
