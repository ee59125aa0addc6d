"""``condivisa report community --database URL`` audits the allocation rules it settles with, as ``condivisa
serve``
and the dashboard do (``rules_recorded`` / ``rules_changed``,
:func:`condivisa.auth.rules_audit.record_rules`), and a
failure to record never fails the report."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from condivisa.auth.rules_audit import rules_history
from condivisa.cli import app
from condivisa.domain.config import load_community
from conftest import EXAMPLE_COMMUNITY, ROOT
from test_auth_rules import EXPECTED_DIFF, changed_yaml

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


@pytest.fixture
def db_url(store, sqlite_url):
    """The example community's store with June 2024's measurements in it."""
    from condivisa.formats.csv_io import read_measurements
    from condivisa.ingest.tables import ingest_frame

    community = load_community(EXAMPLE_COMMUNITY)
    ingest_frame(store, read_measurements(MEAS, known_pods=community.all_pods), source="test")
    return sqlite_url


def report(db_url, config, out):
    return CliRunner().invoke(
        app,
        ["report", "community", "-c", str(config), "--database", db_url, "-p", str(PRICES), "-o", str(out)],
    )


def test_report_records_the_rules_once_then_their_changes(db_url, store, tmp_path):
    name = load_community(EXAMPLE_COMMUNITY).name
    for _ in range(2):  # same file twice: recorded, then unchanged (nothing written)
        res = report(db_url, EXAMPLE_COMMUNITY, tmp_path / "r.html")
        assert res.exit_code == 0, res.output
    [first] = rules_history(store, name)
    assert (first["action"], first["actor"], first["source"]) == (
        "rules_recorded",
        "cli",
        str(EXAMPLE_COMMUNITY),
    )

    changed = changed_yaml(tmp_path)
    res = report(db_url, changed, tmp_path / "r2.html")
    assert res.exit_code == 0, res.output
    assert "allocation rules changed" in res.output and (tmp_path / "r2.html").exists()
    latest, _ = rules_history(store, name)
    assert (latest["action"], latest["actor"], latest["source"]) == ("rules_changed", "cli", str(changed))
    assert latest["diff"] == EXPECTED_DIFF


def test_report_without_database_records_nothing(store, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "report",
            "community",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "-m",
            str(MEAS),
            "-p",
            str(PRICES),
            "-o",
            str(tmp_path / "r.html"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert rules_history(store, load_community(EXAMPLE_COMMUNITY).name) == []


def test_a_failed_recording_does_not_fail_the_report(db_url, tmp_path, monkeypatch, caplog):
    import sqlalchemy.exc

    import condivisa.auth.rules_audit

    def broken(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("no such table: auth_community_rules"))

    monkeypatch.setattr(condivisa.auth.rules_audit, "record_rules", broken)
    with caplog.at_level(logging.WARNING, logger="condivisa.commands.report"):
        res = report(db_url, EXAMPLE_COMMUNITY, tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.html").exists()
    assert "could not record the community's allocation rules" in caplog.text
