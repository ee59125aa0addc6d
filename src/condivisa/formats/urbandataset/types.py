"""The UrbanDataset's reduced types: what condivisa keeps of a chain-2 user-device message, and its errors.

A :class:`Reading` is one quarter hour of one POD with aware UTC times; a :class:`ParsedDataset` is one
message; a :class:`FieldError` names a problem by its JSON path. Parsing (:mod:`.parse`) builds them,
emitting (:mod:`.emit`) writes them back.

References
----------
.. [1] ENEA, Smart City Platform Specification (SCPS), Information 2.0: UrbanDataset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from condivisa.kernel.timegrid import QUARTER

#: longest id (POD, DU, producer) accepted
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class FieldError:
    """One problem in a document: where (JSON path) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class UrbanDatasetError(ValueError):
    """The document is not a valid UrbanDataset of the profile; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(shown + more)


@dataclass(frozen=True)
class Reading:
    """One quarter hour of one POD as a user device reported it (energy in kWh, power in kW, UTC times)."""

    pod: str
    start: dt.datetime
    withdrawn_kwh: float = 0.0
    injected_kwh: float = 0.0
    du_id: str | None = None
    withdrawn_total_kwh: float | None = None
    injected_total_kwh: float | None = None
    withdrawn_kw: float | None = None
    injected_kw: float | None = None
    meter: str = "M1"
    meter_id: str | None = None
    line: int | None = field(default=None, compare=False)  # index of the line it came from

    @property
    def end(self) -> dt.datetime:
        return self.start + QUARTER


@dataclass(frozen=True)
class ParsedDataset:
    """An UrbanDataset reduced to what condivisa keeps; ``readings`` in line order."""

    profile_id: str
    producer_id: str
    timestamp: dt.datetime  # aware
    timezone: dt.timezone
    readings: tuple[Reading, ...]
    producer_scheme: str | None = None
    language: str | None = None
    latitude: float = 0.0
    longitude: float = 0.0
    ignored_properties: tuple[str, ...] = field(default=(), compare=False)
