"""Reconciliation: DU readings against the distributor's data, the money moved, the referente's to-do list;
distributor data supersede the DU readings in every settled figure."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.engines.settlement import settle
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.formats.distributor import write_portal_export
from condivisa.ingest.distributor import DistributorImportError, import_files
from condivisa.ingest.tables import ingest_frame
from condivisa.kernel.money import to_cents
from condivisa.kernel.timegrid import quarter_hours
from condivisa.outputs.reconciliation import pod_rows, reconcile_store
from condivisa.outputs.sources import stored_months
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
M3 = "IT001E00000003"
NOW = dt.datetime(2024, 7, 15, 8, 0, tzinfo=dt.UTC)


def test_pod_lines_by_hand():
    community = load_community(EXAMPLE_COMMUNITY)
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 6, 3))  # 192 quarter hours
    du = pd.DataFrame({"pod": M3, "start": idx[:190], "withdrawn_kwh": 0.103, "injected_kwh": 0.0})
    official = pd.DataFrame(
        {"pod": M3, "start": idx[2:], "withdrawn_kwh": 0.1, "injected_kwh": np.nan, "version": 1}
    )
    (line,) = pod_rows(community, du, official, "2024-06")
    assert line.member == "m3" and line.direction == "withdrawal"
    assert line.du_kwh == pytest.approx(190 * 0.103) and line.distributor_kwh == pytest.approx(19.0)
    assert line.difference_kwh == pytest.approx(190 * 0.103 - 19.0, abs=1e-3)
    assert (line.missing_du, line.missing_distributor) == (2, 2)
    # drift on the 188 common quarter hours: (0.103 - 0.1) / 0.1 = +3 % > 2 %: check the device
    assert line.drift_pct == pytest.approx(3.0) and line.check_device
    assert pod_rows(community, du, official, "2024-07") == []


@pytest.fixture
def loaded(db_store, tmp_path):
    """The example June in the store, and the distributor's withdrawal curve of m3 reading 5 % more."""
    community = load_community(EXAMPLE_COMMUNITY)
    frame = read_measurements(MEAS, known_pods=community.all_pods)
    ingest_frame(db_store, frame, source="csv:example")
    mine = frame[frame["pod"] == M3].set_index("start")["withdrawn_kwh"]
    official = (mine * 1.05).round(3)
    write_portal_export(official, tmp_path / "m3-giugno.csv")
    outcomes = import_files(
        db_store,
        [tmp_path / "m3-giugno.csv"],
        known_pods=community.all_pods,
        pod=M3,
        direction="withdrawal",
        imported_by="referente",
        now=NOW,
    )
    assert outcomes[0].new == 2880
    return db_store, community, frame, official


def test_distributor_data_supersede_the_devices_in_the_money(loaded):
    store, community, frame, official = loaded
    book = stored_months(store, community, PRICES, as_of=dt.date(2024, 7, 1))
    result = book.month("2024-06").result
    # the same month settled by the engine on a table where m3's withdrawal is the distributor's
    expected = frame.copy()
    m3 = expected["pod"] == M3
    expected.loc[m3, "withdrawn_kwh"] = official.reindex(expected.loc[m3, "start"]).to_numpy()
    engine = settle(community, expected, read_prices(PRICES), fill="zero")
    assert result.member_row("m3") == engine.member_row("m3")
    assert result.to_dict()["totals"] == engine.to_dict()["totals"]
    assert book.source_mix("2024-06") == {
        "distributor": round(100 * 2880 / (7 * 2880 * 2), 1),
        "du": round(100 * (7 * 2880 * 2 - 2880) / (7 * 2880 * 2), 1),
        "estimate": 0.0,
    }


def test_reconciliation_lists_the_device_and_the_money_it_moves(loaded):
    store, community, frame, _ = loaded
    rec = reconcile_store(store, community, "2024-06", prices_csv=PRICES, as_of=dt.date(2024, 7, 1))
    (line,) = rec.lines
    assert (
        line.pod == M3
        and line.check_device
        and line.drift_pct == pytest.approx(100 * (1 / 1.05 - 1), abs=0.01)
    )
    # the money moved is exactly best-source minus DU-only, member by member
    du_only = settle(community, frame, read_prices(PRICES), fill="zero")
    best = stored_months(store, community, PRICES, as_of=dt.date(2024, 7, 1)).month("2024-06").result
    for m in community.members:
        moved = to_cents(best.member_row(m.id)["total_eur"]) - to_cents(du_only.member_row(m.id)["total_eur"])
        assert to_cents(rec.money_moved_eur[m.id]) == moved
    assert any("m3" in item and "installatore" in item for item in rec.todo)
    assert rec.mix is not None and rec.mix["distributor"] > 0


def test_cli_import_restatement_and_reconciliation(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    run = CliRunner().invoke
    assert run(app, ["db", "register", "--config", str(EXAMPLE_COMMUNITY), "--database", db]).exit_code == 0
    assert run(app, ["db", "import-csv", str(MEAS), "--database", db]).exit_code == 0
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    write_portal_export(pd.Series(0.3, index=idx), tmp_path / "a.csv")
    args = [
        "db",
        "import-distributor",
        str(tmp_path / "a.csv"),
        "--pod",
        M3,
        "--direction",
        "withdrawal",
        "--database",
        db,
    ]
    first = run(app, args)
    assert first.exit_code == 0, first.output
    assert "2,880 new" in first.output
    again = run(app, args)
    assert "already imported" in again.output and "nothing changed" in again.output
    restated = pd.Series(0.3, index=idx)
    restated.iloc[:4] = 0.5
    write_portal_export(restated, tmp_path / "b.csv")
    third = run(app, args[:2] + [str(tmp_path / "b.csv")] + args[3:])
    assert "4 restated" in third.output and "restatement of 2024-06" in third.output
    rec = run(
        app,
        [
            "report",
            "reconciliation",
            "--config",
            str(EXAMPLE_COMMUNITY),
            "--database",
            db,
            "--prices",
            str(PRICES),
            "--month",
            "2024-06",
            "--csv",
            str(tmp_path / "rec.csv"),
        ],
    )
    assert rec.exit_code == 0, rec.output
    assert "dati del distributore" in rec.output and M3[:6] in rec.output
    lines = pd.read_csv(tmp_path / "rec.csv")
    assert lines.loc[0, "distributor_kwh"] == pytest.approx(2880 * 0.3 + 4 * 0.2)


def test_a_bad_file_among_good_ones_stores_nothing(db_store, tmp_path):
    community = load_community(EXAMPLE_COMMUNITY)
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 6, 2))
    write_portal_export(pd.Series(0.1, index=idx), tmp_path / "good.csv")
    (tmp_path / "bad.csv").write_text((tmp_path / "good.csv").read_text().replace("0,100", "0.100", 1))
    with pytest.raises(
        DistributorImportError, match=r"bad.csv, line 2, column 00:00-00:15: '0.100' has a decimal point"
    ):
        import_files(
            db_store,
            [tmp_path / "good.csv", tmp_path / "bad.csv"],
            known_pods=community.all_pods,
            pod=M3,
            direction="withdrawal",
            imported_by="r",
            now=NOW,
        )
    with pytest.raises(DistributorImportError, match="not a POD of this community"):
        import_files(
            db_store,
            [tmp_path / "good.csv"],
            known_pods=community.all_pods,
            pod="IT001E99999999",
            direction="withdrawal",
            imported_by="r",
            now=NOW,
        )
    with pytest.raises(DistributorImportError, match="pass --pod and --direction"):
        import_files(
            db_store, [tmp_path / "good.csv"], known_pods=community.all_pods, imported_by="r", now=NOW
        )
    from condivisa.store.distributor import imported_files

    with db_store.read() as conn:
        assert imported_files(conn) == []


def test_identical_exports_of_two_pods_are_two_imports_and_a_long_csv_imports_on_both_databases(
    db_store, tmp_path
):
    community = load_community(EXAMPLE_COMMUNITY)
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 6, 2))
    write_portal_export(pd.Series(0.0, index=idx), tmp_path / "zeros.csv")  # a day of zeros: same bytes
    for pod in ("IT001E00000001", "IT001E00000002"):
        (out,) = import_files(
            db_store,
            [tmp_path / "zeros.csv"],
            known_pods=community.all_pods,
            pod=pod,
            direction="injection",
            imported_by="r",
            now=NOW,
        )
        assert out.new == 96 and out.already_imported_at is None, pod
    long = pd.DataFrame(
        {"pod": M3, "start": [ts.isoformat() for ts in idx], "withdrawn_kwh": 0.2, "injected_kwh": 0.0}
    )
    long.to_csv(tmp_path / "long.csv", index=False)
    outcomes = import_files(
        db_store, [tmp_path / "long.csv"], known_pods=community.all_pods, imported_by="r", now=NOW
    )
    assert [(o.pod, o.direction, o.new) for o in outcomes] == [(M3, "withdrawal", 96), (M3, "injection", 96)]
    again = import_files(
        db_store, [tmp_path / "long.csv"], known_pods=community.all_pods, imported_by="r", now=NOW
    )
    assert all(o.already_imported_at is not None for o in again)
