"""The durable store: SQLAlchemy 2 models on :class:`Base`, :class:`Store`, Alembic migrations in
``condivisa/migrations``. See ``docs/data-store.md``."""

from condivisa.edges.store.checks import Flag
from condivisa.edges.store.models import Base, DeadLetter, Device, Measurement, MeasurementRevision, Pod
from condivisa.edges.store.store import DEFAULT_URL, Store, database_url
from condivisa.edges.store.writer import WriteOutcome

__all__ = ["Base", "DEFAULT_URL", "DeadLetter", "Device", "Flag", "Measurement", "MeasurementRevision", "Pod", "Store",
           "WriteOutcome", "database_url"]
