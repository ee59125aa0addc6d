"""Rows of a store answer as JSON-able dicts: bytes as text, timestamps as ISO 8601, NaN as null."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd


def records(rows: Iterable[Mapping[str, object]]) -> list[dict[str, Any]]:
    """Rows of a store answer (:meth:`~condivisa.store.store.Store.device_last_seen`,
    :meth:`~condivisa.store.store.Store.dead_letters`) as JSON-able dicts."""
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


def _jsonable(v: object) -> object:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.isoformat()
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    return v
