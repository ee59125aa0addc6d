"""A small platform for the dashboard tests: the example community, a few synthetic days in two months
stored through the real ingestion path, users of each role, and the real ``create_app``."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from condivisa.transports.mqtt.broker import free_port
from conftest import EXAMPLE_COMMUNITY

PASSWORD = "correct-horse-42"
USERS = {"rossi": ("member", "m1"), "bianchi": ("member", "m2"), "ref": ("referente", None)}
DAYS = (dt.date(2024, 5, 30), dt.date(2024, 5, 31), dt.date(2024, 6, 1), dt.date(2024, 6, 2))


def synthetic_measurements(community, days=DAYS, seed: int = 7) -> pd.DataFrame:
    """Quarter-hour rows for every POD: households with morning/evening peaks, plants with a PV bell."""
    from condivisa.kernel.timegrid import quarter_hours

    rng = np.random.default_rng(seed)
    idx = quarter_hours(days[0], days[-1] + dt.timedelta(days=1))
    h = np.asarray(idx.hour + idx.minute / 60.0)
    bell = np.clip(np.sin((h - 6.0) / 14.0 * np.pi), 0.0, None) ** 1.5
    frames = []
    for k, pod in enumerate(community.consumption_pods):
        base = 0.08 + 0.03 * k + 0.12 * np.exp(-((h - 8) ** 2) / 2) + 0.2 * np.exp(-((h - 20) ** 2) / 3)
        wd = np.round(base * rng.uniform(0.8, 1.2, len(idx)), 4)
        frames.append(pd.DataFrame({"pod": pod, "start": idx, "withdrawn_kwh": wd, "injected_kwh": 0.0}))
    for plant in community.plants:
        inj = np.round(plant.power_kw * 0.25 * 0.06 * bell * rng.uniform(0.7, 1.0, len(idx)), 4)
        frames.append(
            pd.DataFrame({"pod": plant.pod, "start": idx, "withdrawn_kwh": 0.0, "injected_kwh": inj})
        )
    return pd.concat(frames, ignore_index=True)


def synthetic_prices(days=DAYS) -> pd.Series:
    from condivisa.kernel.timegrid import hours

    idx = hours(days[0], days[-1] + dt.timedelta(days=1))
    return pd.Series(
        np.round(110 + 40 * np.cos((idx.hour - 20) / 24 * 2 * np.pi), 2),
        index=idx,
        name="zonal_price_eur_per_mwh",
    )


@dataclass
class Platform:
    app: object
    store: object
    community: object
    settings: object
    measurements: pd.DataFrame
    prices: pd.Series


def build_platform(
    tmp_path: Path,
    database_url: str | None = None,
    bad_messages: int = 1,
    days=DAYS,
    until: dt.datetime | None = None,
) -> Platform:
    """The platform with ``days`` of readings; with ``until``, only the quarter hours that ended by then
    (a day in progress, as devices send it)."""
    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings
    from condivisa.domain.config import load_community
    from condivisa.formats.csv_io import write_prices
    from condivisa.ingest.pipeline import ingest_payload
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    url = database_url or f"sqlite:///{tmp_path / 'condivisa.db'}"
    community = load_community(EXAMPLE_COMMUNITY)
    store = Store(url)
    store.upgrade()
    store.register_devices(community)
    frame = synthetic_measurements(community, days)
    if until is not None:
        frame = frame[frame["start"] + pd.Timedelta(minutes=15) <= pd.Timestamp(until)].reset_index(drop=True)
    if len(frame):
        ingest_frame(store, frame, source="test")
    for _ in range(bad_messages):
        ingest_payload(store, b'{"UrbanDataset": "not an object"}', source="mqtt:test", device_id="DU-0002")
    prices = synthetic_prices(days)
    write_prices(prices, tmp_path / "prices.csv")
    settings = load_settings(
        database_url=url,
        community_file=str(EXAMPLE_COMMUNITY),
        prices_file=str(tmp_path / "prices.csv"),
        allowed_hosts=["testserver"],  # TestClient's Host
    )
    app = create_app(settings, store=store, community=community)
    for username, (role, member) in USERS.items():
        app.state.auth.create_user(username, PASSWORD, role, member)
    return Platform(app, store, community, settings, frame, prices)


class ServerThread:
    """uvicorn serving ``app`` on a free port in a thread; ``stop()`` shuts it down."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
