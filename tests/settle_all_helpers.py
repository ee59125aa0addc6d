"""Builders for the settle-all tests, and a task wrapper the Dask workers import (not a test module: the
workers are started with this folder on PYTHONPATH)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from condivisa.app.settle_all import settle_community
from condivisa.outputs.sources import inputs_from_files
from condivisa.store.communities import community_slug, parse_community_text, save_version
from condivisa.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
JUNE = ("2024-06",)


def community_text(k: int) -> str:
    """The example community renamed ``CER Esempio Sud <k>``, with PODs ``IT001E0k000…`` and DUs ``DU-k…``."""
    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace("name: CER Esempio Sud", f"name: CER Esempio Sud {k}")
    return text.replace("IT001E00000", f"IT001E{k:02d}000").replace("DU-0", f"DU-{k}")


def measurements(k: int) -> pd.DataFrame:
    """The example June 2024 readings on community ``k``'s PODs, withdrawal scaled by ``1 - k/10``."""
    frame = inputs_from_files(CONFIG, MEAS, PRICES).measurements.copy()
    frame["pod"] = frame["pod"].astype(str).str.replace("IT001E00000", f"IT001E{k:02d}000", regex=False)
    frame["withdrawn_kwh"] = (frame["withdrawn_kwh"] * (1 - k / 10)).round(4)
    return frame


def add_communities(store: Store, ks: list[int], *, with_data: list[int]) -> dict[int, str]:
    """Communities ``ks`` in the store, the readings of those in ``with_data`` ingested; ``{k: slug}``."""
    from condivisa.ingest.tables import ingest_frame

    slugs = {}
    for k in ks:
        text = community_text(k)
        community = parse_community_text(text)
        slugs[k] = community_slug(community.name)
        with store.engine.begin() as conn:
            save_version(conn, slugs[k], community, text, rules_sha256="x" * 64, actor="test", create=True)
    for k in with_data:
        ingest_frame(store, measurements(k), source="csv:test")
    return slugs


def kill_once(marker: str, database_url: str, slug: str, months: tuple[str, ...], **kwargs) -> dict:
    """Settle (the row is written), then, on the first call of all (``marker`` absent), kill this worker
    process before returning, writing ``slug pid`` into ``marker`` first."""
    result = settle_community(database_url, slug, months, **kwargs)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return result
    os.write(fd, f"{slug} {os.getpid()}".encode())
    os.close(fd)
    os._exit(1)
