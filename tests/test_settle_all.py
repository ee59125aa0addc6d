"""``settle-all`` (issue #18, item 3): every community of a store settled at once — on a local process pool,
serially, or on a real Dask scheduler with two real workers (one killed mid-task) — equals, community by
community and to the cent, ``preview()`` computed here; a retried or repeated task writes no second row; a
community that cannot be settled says why and the others are written."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from condivisa.app.settle_all import SettleAllError, settle_all
from condivisa.billing.runs import preview
from condivisa.cli import app
from condivisa.engines.price_replay import replay_prices
from condivisa.formats.csv_io import read_prices
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.sources import SettlementInputs
from condivisa.store.communities import parse_community_text
from condivisa.store.community_tables import BillingPreview
from condivisa.store.previews import stored_previews
from condivisa.store.store import Store
from settle_all_helpers import JUNE, PRICES, add_communities, community_text, kill_once, measurements

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
runner = CliRunner()


def _serial_expected(ks, prices):
    """``{k: RunDraft}``: preview() of each community on its readings, computed here without the store."""
    out = {}
    for k in ks:
        community = parse_community_text(community_text(k))
        out[k] = preview(SettlementInputs(community, measurements(k), prices, False), JUNE)
    return out


def _assert_equal_to_the_cent(results, slugs, expected):
    by_slug = {r["slug"]: r for r in results}
    for k, draft in expected.items():
        r = by_slug[slugs[k]]
        assert r["error"] is None, r
        assert r["total_cents"] == draft.total_cents and r["lines"] == len(draft.lines)
        assert r["inputs_sha256"] == draft.inputs_sha256


def _rows(store):
    return {(p["community"], p["months"]): p for p in stored_previews(store.engine, JUNE)}


def _count(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(BillingPreview.__table__)).scalar()


@pytest.fixture
def store(sqlite_url):
    s = Store(sqlite_url)
    s.upgrade()
    yield s
    s.close()


def test_local_pool_equals_serial_preview_to_the_cent_and_writes_once(store):
    slugs = add_communities(store, [1, 2, 3, 4], with_data=[1, 2, 3])
    expected = _serial_expected([1, 2, 3], read_prices(PRICES))
    assert len({d.total_cents for d in expected.values()}) == 3  # three different communities

    results = settle_all(store.url, JUNE, workers=2, prices_csv=PRICES)
    _assert_equal_to_the_cent(results, slugs, expected)
    assert len({r["worker"] for r in results}) >= 1 and all(r["peak_rss_mib"] > 0 for r in results)
    rows = _rows(store)
    for k, draft in expected.items():
        row = rows[(slugs[k], "2024-06")]
        assert row["total_cents"] == draft.total_cents
        assert row["lines"] == [line.as_dict() for line in draft.lines]  # every line, to the cent
        assert sum(line["total_cents"] for line in row["lines"]) == draft.total_cents
        assert row["computed_at"].tzinfo is not None
    failed = {r["slug"]: r for r in results}[slugs[4]]
    assert not failed["written"] and "no measurements in 2024-06" in failed["error"]
    assert (slugs[4], "2024-06") not in rows
    assert [r["written"] for r in results if r["slug"] != slugs[4]] == [True] * 3

    again = settle_all(store.url, JUNE, serial=True, prices_csv=PRICES)  # same data: nothing written twice
    _assert_equal_to_the_cent(again, slugs, expected)
    assert not any(r["written"] for r in again) and _count(store) == 3


def test_missing_quarter_hours_are_named_and_filled_on_request(store):
    slugs = add_communities(store, [1, 2], with_data=[2])
    from condivisa.ingest.tables import ingest_frame

    frame = measurements(1)
    ingest_frame(store, frame[frame["start"].dt.day != 10], source="csv:test")  # a day missing
    results = {r["slug"]: r for r in settle_all(store.url, JUNE, serial=True, prices_csv=PRICES)}
    assert "missing" in results[slugs[1]]["error"] and "--fill" in results[slugs[1]]["error"]
    assert results[slugs[2]]["written"]
    filled = {r["slug"]: r for r in settle_all(store.url, JUNE, serial=True, prices_csv=PRICES, fill="zero")}
    assert filled[slugs[1]]["written"] and filled[slugs[1]]["error"] is None


def test_no_communities_is_an_error(store):
    with pytest.raises(SettleAllError, match="no communities"):
        settle_all(store.url, JUNE)


# ------------------------------------------------------------------------------------------ Dask cluster
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A real ``dask scheduler`` and two ``dask worker`` processes (tests folder on their PYTHONPATH)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    common = {"env": env, "cwd": tmp_path, "start_new_session": True}
    logs = [open(tmp_path / f"dask-{i}.log", "wb") for i in range(3)]
    procs = [
        subprocess.Popen(
            [
                BIN / "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--no-dashboard",
            ],
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            **common,
        )  # fmt: skip
    ]
    try:
        for i in (1, 2):
            worker = [BIN / "dask", "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
            worker += ["--local-directory", str(tmp_path / f"w{i}")]
            procs.append(subprocess.Popen(worker, stdout=logs[i], stderr=subprocess.STDOUT, **common))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=30)
        yield address
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
        for log in logs:
            log.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_dask_cluster_equals_serial_and_a_killed_worker_is_retried(pg_url, dask_cluster, tmp_path):
    store = Store(pg_url)
    store.upgrade()
    try:
        slugs = add_communities(store, [1, 2, 3], with_data=[1, 2, 3])
        days = (JUNE[0] + "-01", "2024-07-01")
        import datetime as dt

        gme = replay_prices(load_gme_2023(zone="SUD"), *(dt.date.fromisoformat(d) for d in days))
        assert str(gme.index.tz) == str(ROME)
        expected = _serial_expected([1, 2, 3], gme)

        results = settle_all(pg_url, JUNE, scheduler=dask_cluster)  # default prices: GME 2023, zone SUD
        _assert_equal_to_the_cent(results, slugs, expected)
        assert all(r["written"] for r in results) and _count(store) == 3
        assert len({r["worker"] for r in results}) == 2  # both workers took part

        with store.engine.begin() as conn:
            conn.execute(BillingPreview.__table__.delete())
        marker = tmp_path / "killed"
        t0 = time.monotonic()
        task = functools.partial(kill_once, str(marker))
        results = settle_all(pg_url, JUNE, scheduler=dask_cluster, task=task)
        assert time.monotonic() - t0 < 40
        victim, dead_pid = marker.read_text().split()  # a worker died after writing its row
        _assert_equal_to_the_cent(results, slugs, expected)
        retried = {r["slug"]: r for r in results}[victim]
        assert not retried["worker"].endswith(f":{dead_pid}")  # re-run by another worker process
        assert not retried["written"]  # the row of the killed attempt was kept, not written twice
        assert _count(store) == 3
        rows = _rows(store)
        assert {k: rows[(slugs[k], "2024-06")]["total_cents"] for k in expected} == {
            k: d.total_cents for k, d in expected.items()
        }
    finally:
        store.close()


def test_unreachable_scheduler_is_named(store):
    add_communities(store, [1], with_data=[])
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(SettleAllError, match=f"cannot reach the Dask scheduler at {address}"):
        settle_all(store.url, JUNE, scheduler=address)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_settles_every_community(store):
    slugs = add_communities(store, [1, 2, 3], with_data=[1, 2, 3])
    args = ["settle-all", "--month", "2024-06", "--database", store.url, "--prices", str(PRICES)]
    r = runner.invoke(app, [*args, "--workers", "2"])
    assert r.exit_code == 0, r.output
    for slug in slugs.values():
        assert slug in r.output
    assert "3 of 3 settled (3 written, 0 already stored, 0 failed)" in r.output
    again = runner.invoke(app, [*args, "--serial"])
    assert again.exit_code == 0 and again.output.count("already stored") == 4  # 3 rows + the summary


def test_cli_exit_codes(store, tmp_path):
    args = ["settle-all", "--month", "2024-06", "--database", store.url]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "error:" in r.output and "no communities" in r.output
    add_communities(store, [1, 2], with_data=[1])
    r = runner.invoke(app, [*args, "--prices", str(PRICES), "--serial"])
    assert r.exit_code == 1 and "no measurements in 2024-06" in r.output and "1 of 2 settled" in r.output
    r = runner.invoke(app, [*args, "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.output


def test_a_stored_communitys_dashboard_agrees_with_settle_all_to_the_cent(store):
    """Every number from one place: the dashboard of a community kept in the store settles it on its zone's
    GME 2023 prices, as settle-all does by default, and each payee's month is the same to the cent."""
    from condivisa.billing.run_lines import RunLine
    from condivisa.store.communities import load_current
    from condivisa.web.data import Dashboard, DashboardFiles

    slugs = add_communities(store, [1], with_data=[1])
    (result,) = settle_all(store.url, ("2024-06",), serial=True, fill="zero")
    assert result["error"] is None, result
    community = load_current(store.engine, slugs[1])
    dash = Dashboard(DashboardFiles(zonal_prices=True), store, community)
    assert not dash.prices_assumed
    lines = [RunLine.of(p, "2024-06") for p in dash.book().month("2024-06").payees()]
    (row,) = [r for (slug, _), r in _rows(store).items() if slug == slugs[1]]
    assert sum(line.total_cents for line in lines) == row["total_cents"] == result["total_cents"]
    assert [line.as_dict() for line in lines] == row["lines"]
    flat = Dashboard(DashboardFiles(), store, community)  # without zonal prices: the assumed flat price
    assert flat.prices_assumed
    assert (
        sum(RunLine.of(p, "2024-06").total_cents for p in flat.book().month("2024-06").payees())
        != row["total_cents"]
    )
